/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * common: helpers every stillfs module may use. Depends on libc only.
 */
#pragma once

#include "errbuf.h"
#include "failpoint.h"
#include "log.h"
#include "macro.h"
#include "mountinfo.h"
#include "process.h"
#include "stop.h"
#include "timefmt.h"
#include "u64set.h"
