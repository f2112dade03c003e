/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The guard: a watchdog process that outlives stillfs and makes sure nothing
 * stays frozen. Private to snapshot/.
 *
 * guard_start() forks a process in its own session, connected to stillfs by a
 * pipe. stillfs tells it what it froze and until when:
 *   - a cgroup: the guard thaws it at its deadline, whatever stillfs does;
 *   - a filesystem (--freeze-fs): the same, with FITHAW;
 *   - a hook writer whose freeze started: if stillfs dies before it says the
 *     thaw is done, the guard runs `HOOK thaw` (killed at its deadline).
 * If the pipe closes without guard_release() (stillfs was killed), the guard
 * thaws every filesystem and cgroup at once and runs the hooks' thaw, then
 * exits. It writes to nothing but cgroup.freeze files and never writes to a
 * held filesystem.
 */
#pragma once

#include <stdint.h>

#include "common.h"

struct guard;

/* Forks the watchdog. Returns 0 and a handle, or -errno. */
int guard_start(struct guard **ret);

/*
 * Tells the guard to thaw this cgroup directory at the CLOCK_MONOTONIC time
 * deadline_ns. Returns 0, -EPIPE when the guard is gone (then freeze nothing),
 * or -errno.
 */
int guard_watch_cgroup(struct guard *g, const char *cgroup_dir, int64_t deadline_ns);

/*
 * Tells the guard to thaw the filesystem mounted at mount_point (FITHAW) at
 * deadline_ns; the guard opens it at once, so call this before freezing it.
 */
int guard_watch_fs(struct guard *g, const char *mount_point, int64_t deadline_ns);

/* stillfs thawed this filesystem itself: the guard forgets it. */
int guard_forget_fs(struct guard *g, const char *mount_point);

/* Tells the guard to run `hook thaw` (for at most timeout_ns) if stillfs dies. */
int guard_watch_hook(struct guard *g, const char *hook_path, int64_t timeout_ns);

/*
 * stillfs thawed this cgroup itself: the guard forgets it (at its deadline and
 * at the end of the pipe) but keeps the hooks, whose thaw is still to come.
 */
int guard_forget_cgroup(struct guard *g, const char *cgroup_dir);

/* stillfs thawed everything itself: the guard forgets all it watches. */
int guard_forget(struct guard *g);

/*
 * Ends the guard normally and waits for it to exit (at most 5 s, then kills
 * it); a cgroup not forgotten is thawed, no hook is run. NULL is fine.
 */
void guard_release(struct guard *g);
