/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The hold: freezing the processes of some cgroups (cgroup v2 freezer) while
 * the snapshots are taken, so that every volume of a set shows one instant.
 * Private to snapshot/.
 */
#pragma once

#include <stdint.h>

#include "common.h"
#include "guard.h"

/*
 * Resolves what the user gave for --hold: a cgroup v2 directory, or
 * "unit:NAME.service" (and .scope, .slice) for a systemd unit's cgroup, found
 * under the cgroup2 mount (read from /proc/self/mountinfo). Refuses a path
 * that does not exist, is not on cgroup2, is the root cgroup, or contains this
 * process. Stores the canonical directory in *ret (free()).
 */
int hold_resolve(const char *spec, char **ret, struct errbuf *eb);

struct hold;

/*
 * Freezes each cgroup (cgroup.freeze = 1) after telling the guard to thaw it
 * at deadline_ns (CLOCK_MONOTONIC), and waits until each reports "frozen 1" in
 * cgroup.events. On failure or when the deadline passes, thaws what it froze
 * and returns -ETIMEDOUT or -errno with *eb saying which cgroup.
 */
int hold_begin(struct guard *g, char *const *cgroups, size_t n, int64_t deadline_ns,
	       struct hold **ret, struct errbuf *eb);

/*
 * Thaws every cgroup of the hold and frees it. Returns -ETIMEDOUT when the
 * deadline had passed before (the guard may have thawed them already), else 0
 * or -errno. NULL is fine.
 */
int hold_end(struct hold *h, struct errbuf *eb);
