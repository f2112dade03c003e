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
#include "manifest.h"

#define CATALOG_SCHEMA_VERSION 6
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
	char *const *frozen_fs;  /* mount points of the filesystems frozen (--freeze-fs) */
	size_t n_frozen_fs;
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

/*
 * A file of a volume that could not be copied as of one instant (it kept
 * changing while the copy provider copied it). Strings are owned by the set
 * when read from the catalog.
 */
struct catalog_set_problem {
	unsigned volume; /* index of the volume in the set */
	char *path;      /* relative to the volume; any bytes but NUL */
	char *what;      /* why, in words */
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
	size_t n_frozen_fs;
	char **frozen_fs;         /* mount points of the filesystems frozen */
	size_t n_writers;
	struct catalog_writer *writers;
	size_t n_problems;
	struct catalog_set_problem *problems; /* in the order they were added */
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

/* The database file the catalog was opened from; owned by c. */
const char *catalog_path(const struct catalog *c);

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

/*
 * Records the filesystems set `seq` is about to freeze, before it freezes
 * them, so that gc can thaw them if the set's process and its guard both die
 * meanwhile; catalog_set_record_run() replaces the list. Returns 0 or -errno.
 */
int catalog_set_record_frozen_fs(struct catalog *c, int64_t seq, char *const *mount_points,
				 size_t n);

/*
 * Records files of set `seq` that could not be copied as of one instant,
 * after those recorded before, in one transaction; n = 0 records nothing.
 * Returns 0, -ENOENT when there is no such set, -EINVAL for a problem without
 * a path or a reason, with an absolute path, or naming a volume the set does
 * not have (nothing is recorded then), or another -errno.
 */
int catalog_set_add_problems(struct catalog *c, int64_t seq, const struct catalog_set_problem *p,
			     size_t n);

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

/* Finds a set by its sequence number: 0 or -ENOENT. */
int catalog_set_get_seq(struct catalog *c, int64_t seq, struct catalog_set **ret);

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

/*
 * Manifests stored in the catalog: one per volume of a set, written by
 * catalog_index_volume() (index.c) and read back block by block. A manifest
 * is `building` until its last block is stored; only complete ones are read.
 * Every read checks each block's checksum, the order of entries across blocks,
 * and at the end the entry and block counts and the digest of the whole, so a
 * damaged or truncated manifest is reported (-EBADMSG), never trusted.
 */
enum catalog_index_method {
	CATALOG_INDEX_FULL,       /* every file read */
	CATALOG_INDEX_STAT,       /* files whose inode, size, mtime and ctime match the base reused */
	CATALOG_INDEX_GENERATION, /* only inodes the filesystem says changed looked at again */
	_CATALOG_INDEX_METHOD_MAX,
};

const char *catalog_index_method_to_string(enum catalog_index_method m);

/* A manifest's record. */
struct catalog_manifest {
	int64_t set_seq;
	unsigned vol_idx;
	bool complete;
	enum catalog_index_method method;
	int64_t base_set_seq;     /* the set whose manifest it was built on; 0 when none */
	bool has_generation;
	uint64_t generation;      /* the provider's generation of the snapshot */
	int64_t started_ns;
	int64_t finished_ns;
	uint64_t entries;
	uint64_t blocks;
	uint64_t files;           /* regular files */
	uint64_t bytes;           /* their total size */
	uint64_t read_files;      /* files read to make it (the rest reused from the base) */
	uint64_t read_bytes;
	uint8_t digest[MANIFEST_DIGEST_LEN];
};

/* The manifest of volume `vol_idx` of set `seq`: 0, -ENOENT when there is none. */
int catalog_manifest_get(struct catalog *c, int64_t seq, unsigned vol_idx,
			 struct catalog_manifest *ret);

/*
 * The newest complete manifest of the same volume (same volume path) in a
 * complete set older than `seq`, for an incremental index: 0 or -ENOENT.
 */
int catalog_manifest_find_base(struct catalog *c, int64_t seq, unsigned vol_idx,
			       struct catalog_manifest *ret);

/* Removes a volume's manifest and any being built. 0 also when there is none. */
int catalog_manifest_remove(struct catalog *c, int64_t seq, unsigned vol_idx);

/*
 * Removes the `building` manifests whose indexing process is gone (killed or
 * crashed), for gc. Returns 0 and how many in *ret_removed, or -errno.
 */
int catalog_manifest_remove_abandoned(struct catalog *c, unsigned *ret_removed);

/*
 * Writing a manifest: _new starts a `building` manifest owned by the calling
 * process, kept apart from the volume's complete manifest, which stays
 * readable meanwhile (-EBUSY while another living process builds one for the
 * same volume). Blocks are committed as they fill, in batches, so a long index
 * does not keep other writers of the catalog waiting; _finish stores the last
 * block and the totals and, in one transaction, puts the new manifest in the
 * place of the old one. Freeing an unfinished writer removes what it stored.
 */
struct catalog_manifest_writer;
struct catalog_manifest_totals {
	uint64_t files, bytes, read_files, read_bytes;
};

int catalog_manifest_writer_new(struct catalog *c, int64_t seq, unsigned vol_idx,
				enum catalog_index_method method, int64_t base_set_seq,
				const uint64_t *generation, struct catalog_manifest_writer **ret);
int catalog_manifest_writer_add(struct catalog_manifest_writer *w, const struct manifest_entry *e);
int catalog_manifest_writer_finish(struct catalog_manifest_writer *w,
				   const struct catalog_manifest_totals *totals);
void catalog_manifest_writer_free(struct catalog_manifest_writer *w);

/*
 * Reading a complete manifest in path order. _next returns 1 with the next
 * entry (valid until the next call), 0 at the end once the counts and the
 * digest matched, or -EBADMSG (damaged: catalog_manifest_reader_damage()
 * says where), -ENOENT (no complete manifest) or another -errno.
 */
struct catalog_manifest_reader;

int catalog_manifest_reader_new(struct catalog *c, int64_t seq, unsigned vol_idx,
				struct catalog_manifest_reader **ret);
int catalog_manifest_reader_next(struct catalog_manifest_reader *r, struct manifest_entry *ret);
/* The entry's ordinal in the manifest, from 0, of the entry last returned. */
uint64_t catalog_manifest_reader_ordinal(const struct catalog_manifest_reader *r);
/* A description of the damage found ("block 12: bad checksum"), or NULL. */
const char *catalog_manifest_reader_damage(const struct catalog_manifest_reader *r);
/*
 * Finds the entry at `path`: 1 with it in *ret (and its ordinal), 0 when the
 * manifest holds no such path, or -errno. Positions the reader so that _next
 * continues after that place. For lookups in any order (reading an archive).
 */
int catalog_manifest_reader_find(struct catalog_manifest_reader *r, const char *path,
				 size_t path_len, struct manifest_entry *ret, uint64_t *ret_ordinal);
void catalog_manifest_reader_free(struct catalog_manifest_reader *r);

/* How far an index has come, for a progress display. */
struct catalog_index_progress {
	uint64_t entries;
	uint64_t files, bytes;           /* regular files seen, and their size */
	uint64_t read_files, read_bytes; /* of those, read (the rest reused) */
	uint64_t expected_bytes;         /* an estimate of the total to read; 0 when unknown */
	bool done;
};

struct catalog_index_options {
	enum catalog_index_method method;
	int64_t base_set_seq;         /* the base manifest (method stat or generation) */
	unsigned base_vol_idx;
	const struct u64set *changed; /* generation: inodes that may differ from the base */
	const uint64_t *generation;   /* the snapshot's generation, to record; may be NULL */
	uint64_t expected_bytes;      /* for the progress display; 0 when unknown */
	void (*progress)(void *userdata, const struct catalog_index_progress *p);
	void *userdata;
};

/*
 * Indexes the tree at `root` (the snapshot of volume `vol_idx` of set `seq`)
 * into a new manifest, replacing any earlier one, and returns its record in
 * *ret. Files that cannot be read fail the index (a manifest is complete or
 * absent); *eb then names the path.
 */
int catalog_index_volume(struct catalog *c, int64_t seq, unsigned vol_idx, const char *root,
			 const struct catalog_index_options *o, struct catalog_manifest *ret,
			 struct errbuf *eb);

/*
 * Comparing entries: the fields in which two entries of the same path
 * differ. Content covers a file's digest and size, a symlink's target and a
 * device's number. Links are compared for non-directories only, and only
 * when both sides know them (an archive does not).
 */
enum catalog_field {
	CATALOG_FIELD_TYPE = 1 << 0,
	CATALOG_FIELD_CONTENT = 1 << 1,
	CATALOG_FIELD_MODE = 1 << 2,
	CATALOG_FIELD_OWNER = 1 << 3,
	CATALOG_FIELD_GROUP = 1 << 4,
	CATALOG_FIELD_MTIME = 1 << 5,
	CATALOG_FIELD_XATTRS = 1 << 6,
	CATALOG_FIELD_LINKS = 1 << 7,
	_CATALOG_FIELD_ALL = (1 << 8) - 1,
};

enum catalog_compare_flags {
	/* a copy whose mtime has no fraction of a second is compared in whole seconds */
	CATALOG_COMPARE_COARSE_MTIME = 1 << 0,
};

/* The fields (enum catalog_field) in which `copy` differs from `orig`, outside `ignore`. */
unsigned catalog_entry_compare(const struct manifest_entry *orig, const struct manifest_entry *copy,
			       unsigned ignore, unsigned flags);
/* "type", "content", "mode", "owner", "group", "mtime", "xattrs", "links" */
const char *catalog_field_name(enum catalog_field f);
/* Parses a comma-separated list of field names; -EINVAL naming nothing known. */
int catalog_fields_parse(const char *list, unsigned *ret);
/* Writes the names of `fields` separated by commas into buf (at least 64 bytes). */
void catalog_fields_format(unsigned fields, char *buf, size_t size);

/* What changed between two manifests of a volume. */
enum catalog_change_kind {
	CATALOG_CHANGE_ADDED,
	CATALOG_CHANGE_REMOVED,
	CATALOG_CHANGE_MODIFIED, /* content or type (fields may add metadata) */
	CATALOG_CHANGE_METADATA, /* metadata only */
	CATALOG_CHANGE_RENAMED,  /* the same inode under a new path */
};

struct catalog_change {
	enum catalog_change_kind kind;
	const char *path; /* the path (renamed: the old one); not NUL-terminated */
	size_t path_len;
	const char *to;   /* renamed: the new path */
	size_t to_len;
	char type;        /* enum manifest_type */
	unsigned fields;  /* modified, metadata: enum catalog_field */
};

typedef int (*catalog_change_fn)(void *userdata, const struct catalog_change *ch);

/*
 * Compares the manifest of volume vol1 of set seq1 with that of vol2 of
 * seq2, both checked whole first. Reports content and metadata changes in
 * path order as they are found, then renames (an inode that left one path
 * and appeared at another; the entries beneath a renamed directory are not
 * listed again), then removals, then additions, each in path order. Memory
 * follows the number of additions and removals. Returns 0, -EBADMSG for a
 * damaged manifest (described in *eb), or -errno.
 */
int catalog_diff_volume(struct catalog *c, int64_t seq1, unsigned vol1, int64_t seq2,
			unsigned vol2, catalog_change_fn fn, void *userdata, struct errbuf *eb);

/*
 * verify: a copy (a restored directory, or an archive read as a stream)
 * compared with a set's manifests. Every volume's manifest is checked whole
 * first. Every problem is reported through `fn`, in the copy's order; the
 * return value is 0 when the comparison ran (whatever it found) or -errno
 * with *eb saying why it could not.
 */
struct catalog_verify_volume {
	unsigned vol_idx;
	const char *copy_path; /* directory copy: the copy of the volume's root */
	const char *prefix;    /* archive: the members of this volume are beneath this
				  path ("" when the archive holds this volume only) */
};

enum catalog_problem_kind {
	CATALOG_PROBLEM_MISSING,  /* in the set, not in the copy */
	CATALOG_PROBLEM_EXTRA,    /* in the copy, not in the set */
	CATALOG_PROBLEM_CONTENT,  /* content or type differ (fields may add metadata) */
	CATALOG_PROBLEM_METADATA, /* only metadata differ */
};

struct catalog_problem {
	enum catalog_problem_kind kind;
	const struct catalog_verify_volume *volume; /* NULL: an archive member outside every volume */
	const char *path; /* relative to the volume (or the archive's member name) */
	size_t path_len;
	unsigned fields;  /* content, metadata: enum catalog_field */
};

typedef int (*catalog_problem_fn)(void *userdata, const struct catalog_problem *p);

struct catalog_verify_stats {
	uint64_t checked; /* entries found on both sides and compared */
	uint64_t missing, extra, content, metadata;
};

struct catalog_verify_options {
	unsigned ignore; /* enum catalog_field: not compared */
	catalog_problem_fn fn;
	void *userdata;
};

int catalog_verify_dir(struct catalog *c, int64_t seq, const struct catalog_verify_volume *vols,
		       size_t n_vols, const struct catalog_verify_options *o,
		       struct catalog_verify_stats *ret_stats, struct errbuf *eb);
int catalog_verify_archive(struct catalog *c, int64_t seq, struct manifest_archive *a,
			   const struct catalog_verify_volume *vols, size_t n_vols,
			   const struct catalog_verify_options *o,
			   struct catalog_verify_stats *ret_stats, struct errbuf *eb);

/* Reads a whole manifest once, checking everything; 0 or -EBADMSG with *ret_damage (free()). */
int catalog_manifest_check(struct catalog *c, int64_t seq, unsigned vol_idx, char **ret_damage);

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
