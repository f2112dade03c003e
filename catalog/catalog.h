/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * catalog: the durable record of snapshot sets, in an SQLite database.
 *
 * A set is written as `creating` before any snapshot exists (intent) and
 * marked `complete` only after every snapshot exists (commit), so that a crash
 * at any point leaves a record that `gc` can finish. The database runs in WAL
 * mode so that the command and the view daemon read it at the same time.
 *
 * SQLite lives behind this header. Depends on common/ only.
 *
 * Errors are negative errno values:
 *   -ENOENT           no catalog at the path (and CATALOG_CREATE not given),
 *                     or no set with the given id
 *   -EACCES           the file cannot be read or written
 *   -EBADMSG          the file is not an SQLite database, or it is corrupt
 *   -EMEDIUMTYPE      an SQLite database that is not a stillfs catalog
 *   -EPROTONOSUPPORT  a catalog written by a newer stillfs (schema too new)
 *   -ENOTUNIQ         an id prefix that matches several sets
 *   -EBUSY            the database stayed locked by another writer
 * A catalog that fails to open is never modified.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "common.h"

#define CATALOG_SCHEMA_VERSION 3
#define CATALOG_ID_LEN 9 /* 8 lowercase hex digits and NUL */
#define CATALOG_DEFAULT_PATH "/var/lib/stillfs/catalog.db"

struct catalog;

enum catalog_open_flags {
	/* create the database (and its directory, mode 0700) when the file is missing */
	CATALOG_CREATE = 1 << 0,
	/* open for reading only; the view daemon does so */
	CATALOG_READONLY = 1 << 1,
};

enum catalog_set_state {
	CATALOG_SET_CREATING,
	CATALOG_SET_COMPLETE,
	CATALOG_SET_FAILED,
	CATALOG_SET_DELETING,
	_CATALOG_SET_STATE_MAX,
};

/* One volume of a set. Strings are owned by the set and freed with it. */
struct catalog_volume {
	unsigned index;      /* position in the set, from 0 */
	int64_t volume_key;  /* stable number of this volume path within the catalog */
	char *path;          /* absolute path of the live volume */
	char *name;          /* the volume's directory name in the view */
	char *provider;      /* provider name, "btrfs" */
	char *storage;       /* directory that holds the provider's snapshots */
	char *snapshot;      /* absolute path of the snapshot; NULL until chosen */
	char *origin_uuid;   /* provider identity of the live volume; may be NULL */
	char *snapshot_uuid; /* provider identity of the snapshot; NULL until taken */
};

/* What one writer did in one phase. */
struct catalog_writer_phase {
	char *phase;   /* "prepare", "freeze", "thaw", "post", "abort" */
	char *result;  /* "ok", "failed", "vetoed", "timed-out" */
	char *message; /* may be NULL */
	int64_t duration_ns;
};

/* A writer of a set and its phases, in the order they ran. */
struct catalog_writer {
	char *name;
	char *path;
	char *kind; /* "hook" or "session" */
	size_t n_phases;
	struct catalog_writer_phase *phases;
};

/* How a set was made: recorded once, when it is finished. */
struct catalog_run {
	const char *consistency; /* "application" or "crash" */
	int64_t hold_ns;         /* how long the hold lasted; -1 without a hold */
	char *const *holds;      /* the cgroups held */
	size_t n_holds;
	const struct catalog_writer *writers;
	size_t n_writers;
};

/* A writer's latest result across sets, for `stillfs writers`. */
struct catalog_writer_status {
	char *path;
	char *name;
	char *kind;
	char *phase;   /* the last phase it ran */
	char *result;
	char *message; /* may be NULL */
	int64_t when_ns;
	char set_id[CATALOG_ID_LEN];
};

/* A snapshot set. Free with catalog_set_free(). */
struct catalog_set {
	int64_t seq;              /* never reused within a catalog, from 1 */
	char id[CATALOG_ID_LEN];  /* short id for the command line */
	int64_t created_ns;       /* UTC, nanoseconds since the epoch */
	char token[GMT_TOKEN_LEN];
	char *label;              /* NULL when none */
	enum catalog_set_state state;
	char *reason;             /* why it failed; NULL when none */
	struct process_id owner;  /* the process that created it */
	int64_t completed_ns;     /* 0 until complete or failed */
	size_t n_volumes;
	struct catalog_volume *volumes;
	char *consistency;        /* "application", "crash"; NULL until recorded */
	int64_t hold_ns;          /* -1 when there was no hold (or not yet recorded) */
	size_t n_holds;
	char **holds;             /* cgroups held */
	size_t n_writers;
	struct catalog_writer *writers;
};

/* What catalog_set_begin() needs to know of each volume. */
struct catalog_volume_spec {
	const char *path;
	const char *name;
	const char *provider;
	const char *storage;
	const char *origin_uuid; /* may be NULL */
};

/*
 * Opens the catalog at `path`, checking its schema version and migrating an
 * older one. On success stores a new handle in *ret (free with catalog_free()).
 */
int catalog_open(const char *path, unsigned flags, struct catalog **ret);
void catalog_free(struct catalog *c);

/* The catalog's own random identity (36-character UUID text); owned by c. */
const char *catalog_uuid(const struct catalog *c);

/*
 * A number that changes whenever another connection commits a change; the
 * view polls it to notice new and deleted sets. Returns 0 or -errno.
 */
int catalog_data_version(struct catalog *c, int64_t *ret);

const char *catalog_set_state_to_string(enum catalog_set_state state);
/* Returns 0 and the state, or -EINVAL for an unknown name. */
int catalog_set_state_from_string(const char *s, enum catalog_set_state *ret);

/*
 * Records a new set in state `creating` with its volumes, durably, and returns
 * it in *ret. The set gets a fresh id and the current time; when another set
 * already holds this second's token, waits for the next second so that every
 * token names one instant.
 */
int catalog_set_begin(struct catalog *c, const char *label,
		      const struct catalog_volume_spec *vols, size_t n_vols,
		      const struct process_id *owner, struct catalog_set **ret);

/* Records the snapshot path (before it is taken) and later its identity. */
int catalog_volume_set_snapshot(struct catalog *c, int64_t seq, unsigned index,
				const char *snapshot, const char *snapshot_uuid);

/*
 * Moves a set to `state`, with a reason (may be NULL). Moving to complete or
 * failed also records the completion time.
 */
int catalog_set_update_state(struct catalog *c, int64_t seq, enum catalog_set_state state,
			     const char *reason);

/*
 * Moves a set from state `from` to `to` only if it is still in `from`, so that
 * of two processes racing to act on a set exactly one wins. Returns 0,
 * -ESTALE when the set is in another state, or -ENOENT when it is gone.
 */
int catalog_set_transition(struct catalog *c, int64_t seq, enum catalog_set_state from,
			   enum catalog_set_state to, const char *reason);

/* Whether any set records a snapshot at `path`, read fresh. Returns 0 or -errno. */
int catalog_snapshot_owned(struct catalog *c, const char *path, bool *ret);

/*
 * Records how the set was made (writers and their phases, the hold, the
 * consistency level), replacing what was recorded before, and updates each
 * writer's latest status. One transaction. Returns 0 or -errno.
 */
int catalog_set_record_run(struct catalog *c, int64_t seq, const struct catalog_run *run);

/* Every writer ever recorded, by path, with its latest result. Free with catalog_writer_status_free(). */
int catalog_writer_status_list(struct catalog *c, struct catalog_writer_status **ret,
			       size_t *ret_n);
void catalog_writer_status_free(struct catalog_writer_status *s, size_t n);

/*
 * Pins: which set a view shows as current/. `view` is the view's canonical
 * mount point. Setting replaces an earlier pin (pinning the same set again
 * keeps its pin time); clearing a view with none is fine. catalog_pin_get() returns -ENOENT when nothing is pinned there.
 */
int catalog_pin_set(struct catalog *c, const char *view, int64_t seq);
int catalog_pin_clear(struct catalog *c, const char *view);
int catalog_pin_get(struct catalog *c, const char *view, int64_t *ret_seq,
		    int64_t *ret_pinned_ns);
/* The views a set is pinned at, NULL-terminated; free each and the array. */
int catalog_pin_views(struct catalog *c, int64_t seq, char ***ret);

/*
 * Leases: a set made for one run (stillfs exec) belongs to that process; when
 * it is gone, gc deletes the set. catalog_lease_get() returns -ENOENT for a
 * set without a lease.
 */
int catalog_lease_set(struct catalog *c, int64_t seq, const struct process_id *owner);
int catalog_lease_clear(struct catalog *c, int64_t seq);
int catalog_lease_get(struct catalog *c, int64_t seq, struct process_id *ret);

/* Removes the set's record. Returns 0 or -ENOENT. */
int catalog_set_remove(struct catalog *c, int64_t seq);

/*
 * Finds a set by its id, a unique prefix of it (at least 4 characters), or its
 * @GMT token. Returns 0 and the set in *ret, -ENOENT or -ENOTUNIQ.
 */
int catalog_set_get(struct catalog *c, const char *id, struct catalog_set **ret);

/*
 * All sets whose state bit (1 << state) is in `state_mask`, oldest first.
 * Stores an array of *ret_n pointers in *ret_sets; free with catalog_sets_free().
 */
int catalog_set_list(struct catalog *c, unsigned state_mask, struct catalog_set ***ret_sets,
		     size_t *ret_n);

void catalog_set_free(struct catalog_set *set);
void catalog_sets_free(struct catalog_set **sets, size_t n);

/* Storage directories that hold this catalog's snapshots, for the orphan sweep. */
int catalog_storage_add(struct catalog *c, const char *path, const char *provider);
/* NULL-terminated array of paths in *ret; free each and the array. */
int catalog_storage_list(struct catalog *c, char ***ret);

static inline void catalog_freep(struct catalog **c)
{
	catalog_free(*c);
}
static inline void catalog_set_freep(struct catalog_set **s)
{
	catalog_set_free(*s);
}
#define _cleanup_catalog_ _cleanup_(catalog_freep)
#define _cleanup_catalog_set_ _cleanup_(catalog_set_freep)
