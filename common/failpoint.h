/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Named crash points for testing recovery. When the environment variable
 * STILLFS_FAILPOINT equals a point's name, the process kills itself with
 * SIGKILL there, exactly as an administrator's `kill -9` or a power cut would
 * stop it. Unset, a failpoint costs one getenv().
 */
#pragma once

void failpoint(const char *name);
