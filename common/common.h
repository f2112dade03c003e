/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * common: helpers every stillfs module may use. Depends on libc, and on
 * xxHash for the inode map's checksum (inside inomap.c only).
 */
#pragma once

#include "bytesize.h"
#include "errbuf.h"
#include "failpoint.h"
#include "inomap.h"
#include "log.h"
#include "macro.h"
#include "mountinfo.h"
#include "process.h"
#include "stop.h"
#include "timefmt.h"
#include "u64set.h"
