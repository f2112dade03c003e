/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Identity of a process across time: pid, its start time and the boot it ran
 * in, so that a record left by a process can be judged abandoned only when that
 * very process is gone (pids are reused).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define BOOT_ID_LEN 37

struct process_id {
	pid_t pid;
	uint64_t start_time; /* clock ticks since boot, /proc/PID/stat field 22 */
	char boot_id[BOOT_ID_LEN];
};

/* Fills *ret with the identity of process `pid`. Returns 0, -ESRCH or -errno. */
int process_id_get(pid_t pid, struct process_id *ret);

/* True while the process described by `id` still runs. */
bool process_id_alive(const struct process_id *id);
