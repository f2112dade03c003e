/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Writers: the applications told that a snapshot is coming. Private to
 * snapshot/. A writer is an executable of one of two kinds:
 *
 *  - a hook (any name): run once per phase as `WRITER PHASE`, the convention
 *    of qemu's fsfreeze-hook.d scripts. Exit 0 means done; exit 3 (or the
 *    first line of output starting with "veto") means it vetoes the set; any
 *    other status is a failure. Its last line of output is its message.
 *  - a session (file name ending in ".session"): started once per set as
 *    `WRITER session` and kept alive from prepare to post, so that locks that
 *    live only as long as a connection (pg_backup_start, FLUSH TABLES WITH
 *    READ LOCK, BEGIN IMMEDIATE) can be held across the snapshot. stillfs
 *    writes each phase name on a line to its standard input and reads one line
 *    back: "ok [MESSAGE]", "fail MESSAGE" or "veto MESSAGE". When its standard
 *    input closes (stillfs finished, or died), a session must undo whatever it
 *    holds and exit.
 *
 * Both get the environment STILLFS_PHASE, STILLFS_SET_ID, STILLFS_SET_TOKEN
 * and STILLFS_VOLUMES (the volume paths, one per line). Phases run in the
 * order prepare, freeze, (snapshot), thaw, post; abort replaces post when the
 * set fails. Each phase has a deadline; a writer that misses it is sent
 * SIGTERM, then SIGKILL two seconds later, and recorded as timed out.
 */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include "common.h"
#include "snapshot.h"

enum writer_phase {
	WRITER_PREPARE,
	WRITER_FREEZE,
	WRITER_THAW,
	WRITER_POST,
	WRITER_ABORT,
	_WRITER_PHASE_MAX,
};

enum writer_result {
	WRITER_NOT_RUN,
	WRITER_OK,
	WRITER_FAILED,
	WRITER_VETOED,
	WRITER_TIMED_OUT,
	_WRITER_RESULT_MAX,
};

enum writer_kind {
	WRITER_HOOK,
	WRITER_SESSION,
};

#define WRITER_VETO_STATUS 3
#define WRITER_MESSAGE_MAX 1024

struct writer_phase_result {
	enum writer_result result;
	char message[WRITER_MESSAGE_MAX]; /* "" when none */
	int64_t duration_ns;
};

struct writer {
	char *path;   /* canonical path of the executable */
	char *name;   /* its file name, as shown to users */
	enum writer_kind kind;
	/* a running session: its pid and pipes; -1 when none */
	pid_t pid;
	int to_fd, from_fd;
	struct writer_phase_result results[_WRITER_PHASE_MAX];
};

/* What writers are told about the set. */
struct writer_env {
	const char *set_id;
	const char *token;
	const char *volumes; /* paths, one per line */
};

const char *writer_phase_to_string(enum writer_phase p);
const char *writer_result_to_string(enum writer_result r);
int writer_result_from_string(const char *s, enum writer_result *ret);

/*
 * Finds the writers: every executable regular file directly in `dir` (sorted
 * by name; a missing dir is no writer; `dir` may be NULL), then each of
 * `extra`. Refuses an extra path that does not exist or is not executable, and
 * a non-executable file in `dir` is skipped (the caller is told through
 * `note`). Stores a new array in *ret; free with writers_free().
 */
int writers_find(const char *dir, char *const *extra, size_t n_extra, struct writer **ret,
		 size_t *ret_n, snapshot_note_fn note, void *userdata, struct errbuf *eb);
void writers_free(struct writer *w, size_t n);

/*
 * Runs one phase of one writer within `timeout_ns` and records the outcome in
 * w->results[phase]. For a session, the first phase starts it. Returns the
 * result (never fails otherwise).
 */
enum writer_result writer_run(struct writer *w, enum writer_phase phase, int64_t timeout_ns,
			      const struct writer_env *env);

/* Ends a session: closes its input, waits up to timeout_ns, then kills it. */
void writer_end(struct writer *w, int64_t timeout_ns);
