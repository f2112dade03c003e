/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Named crash points for testing recovery. When the environment variable
 * STILLFS_FAILPOINT equals a point's name, the process kills itself with
 * SIGKILL there, exactly as an administrator's `kill -9` or a power cut would
 * stop it. When it equals the name followed by ":stop", the process stops
 * itself with SIGSTOP instead, as a process stuck or paused would be, until
 * it gets SIGCONT. Unset, a failpoint costs one getenv().
 */
#pragma once

void failpoint(const char *name);
