/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * snapshot: making and removing snapshot sets.
 *
 * A provider makes a point-in-time copy of one volume (btrfs: a read-only
 * subvolume snapshot; copy: a file-level copy in a storage directory). The flows here tie providers to the catalog: create
 * records intent before any snapshot exists and commits after all exist;
 * delete marks the set `deleting` before removing anything; gc finishes
 * whatever a crash left. Only what the catalog proves is ours is removed, and
 * only after its identity (the snapshot's UUID or its origin) is checked.
 *
 * libbtrfsutil lives behind this header. Depends on catalog/ and common/.
 */
#pragma once

#include "catalog.h"
#include "common.h"

/* Name of the storage directory made at the root of a filesystem's mount. */
#define SNAPSHOT_STORAGE_DIR ".stillfs"

/* Notes from long or multi-item work (gc, delete): one line each, for the caller to show. */
typedef void (*snapshot_note_fn)(void *userdata, int error, const char *msg);

/* A volume as the user named it, resolved and checked. */
struct snapshot_volume {
	char *path;          /* canonical absolute path */
	char *name;          /* directory name in the view, unique within the set */
	const struct snapshot_provider *provider;
	char *storage_root;  /* where snapshots of this filesystem go; each catalog
				uses its own directory beneath, named by its uuid */
	char *origin_uuid;   /* the provider's identity of the volume; may be NULL */
};

/* How one snapshot is to be taken, as create decides for each set and pass. */
struct snapshot_take {
	const char *base;        /* copy: an earlier copy of the volume to share unchanged
				    files with; NULL: none */
	int64_t lock_timeout_ns; /* copy: wait for a shared lock on a changing file; 0: not */
	int64_t deadline_ns;     /* CLOCK_MONOTONIC time the snapshot must end by; 0: none */
	bool strict;             /* copy: a file that kept changing fails the volume */
	bool refresh;            /* dest holds a snapshot of the volume that take() made
				    earlier: bring it up to date (providers that refreshes) */
	/* told of each file that could not be copied as of one instant; may be NULL */
	void (*problem)(void *data, const struct snapshot_volume *v, const char *path,
			const char *what);
	void *problem_data;
};

/* What the user asked of the volumes: a provider by name, and where copies go. */
struct snapshot_volume_options {
	const char *provider; /* NULL: the first that accepts the volume */
	const char *storage;  /* copy provider's storage; NULL: the default */
};

#define SNAPSHOT_COPY_DEFAULT_STORAGE "/var/lib/stillfs/copies"

/* What a volume's snapshot takes up where it is stored. */
struct snapshot_space {
	uint64_t exclusive;  /* held by this snapshot alone: what deleting it gives back */
	uint64_t referenced; /* all it refers to, shared with the volume or other sets or not */
};

/* A provider: one const table of operations, registered by name. */
struct snapshot_provider {
	const char *name;
	/*
	 * What follows a snapshot's name in storage to make the path recorded as
	 * the snapshot (copy: "/tree", inside the snapshot's container); NULL:
	 * nothing.
	 */
	const char *snapshot_suffix;
	/*
	 * Takes its snapshot without writing to the volume's filesystem, so
	 * that --freeze-fs may freeze that filesystem while it does.
	 */
	bool freezable;
	/*
	 * take() can bring its own earlier snapshot at dest up to date
	 * (snapshot_take.refresh), so that a hold needs only a refresh of a
	 * snapshot taken before it.
	 */
	bool refreshes;
	/*
	 * Checks that `path` (canonical) can be protected and fills the volume's
	 * storage root and origin identity. Returns 0, -EMEDIUMTYPE when this
	 * provider does not handle the path, or -errno.
	 */
	int (*probe)(const char *path, const struct snapshot_volume_options *o,
		     struct snapshot_volume *v, struct errbuf *eb);
	/* Makes the storage directory (root-only) if missing. */
	int (*prepare_storage)(const char *storage, struct errbuf *eb);
	/*
	 * Inside the hold, before take: makes what held processes wrote durable
	 * for the snapshot (`fd` is the volume's directory). NULL when take
	 * does that itself.
	 */
	int (*sync)(const struct snapshot_volume *v, int fd);
	/* Takes the snapshot of `v` at `dest`; returns its identity in *ret_uuid (free()). */
	int (*take)(const struct snapshot_volume *v, const struct snapshot_take *t,
		    const char *dest, char **ret_uuid,
		    struct errbuf *eb);
	/*
	 * Removes the snapshot of a catalog volume after checking it is the one
	 * recorded. Returns 0 also when it no longer exists.
	 */
	int (*remove)(const struct catalog_volume *v, struct errbuf *eb);
	/*
	 * Removes a leftover at `path` inside this catalog's storage that no set
	 * owns, if it is a snapshot this provider made. Returns 0, or -EPERM when
	 * the entry is not recognised as ours (then it is left alone).
	 */
	int (*remove_orphan)(const char *path, struct errbuf *eb);
	/*
	 * What the filesystem knows of change, so that indexing a set costs what
	 * changed since an earlier set of the same volume. Both NULL when the
	 * provider cannot tell.
	 *
	 * generation: the snapshot's point in the volume's history (btrfs: the
	 * transaction in which it was made), recorded with its manifest.
	 *
	 * changed_inodes: the inode numbers of `snapshot` whose inode may differ
	 * from a snapshot of the same origin made at generation `since`: every
	 * inode created, modified (data, size, times, mode, owner, xattrs, link
	 * count) or whose directory entries changed since then. Errs on the side
	 * of listing too many. Stores a new set in *ret (free with u64set_free()).
	 */
	int (*generation)(const char *snapshot, uint64_t *ret);
	int (*changed_inodes)(const char *snapshot, uint64_t since, struct u64set **ret);
	/*
	 * The space of the snapshot at `snapshot`, as its filesystem counts it
	 * now (it grows as the volume moves away from it). Returns 0,
	 * -ENODATA when the filesystem keeps no count (btrfs with quotas off),
	 * -ESTALE when the count is being rebuilt (a quota rescan), or -errno.
	 */
	int (*space)(const char *snapshot, struct snapshot_space *ret);
};

/* Providers by name, or NULL. */
const struct snapshot_provider *snapshot_provider_find(const char *name);

/*
 * The space of a catalog volume's snapshot (the provider's `space`); also
 * -ENOENT when its snapshot is gone or -EMEDIUMTYPE when its provider is
 * unknown.
 */
int snapshot_space(const struct catalog_volume *v, struct snapshot_space *ret);

/*
 * Resolves the volumes the user named: canonical paths, a provider for each,
 * unique view names; refuses what cannot be protected or is given twice.
 * Stores a new array in *ret (free with snapshot_volumes_free()).
 */
int snapshot_volumes_resolve(char *const *paths, size_t n, const struct snapshot_volume_options *o,
			     struct snapshot_volume **ret, struct errbuf *eb);
void snapshot_volumes_free(struct snapshot_volume *v, size_t n);


/* The free space a create asks for where each volume's snapshots go (--min-free). */
struct snapshot_min_free {
	uint64_t bytes; /* at least this many bytes free, */
	double percent; /* or, when above 0, this percent of the filesystem's size */
};

/* What the stillfs command asks for unless told otherwise. */
#define SNAPSHOT_DEFAULT_MIN_FREE_PERCENT 5.0

/*
 * Refuses (-ENOSPC, with what is free and what was asked) when the filesystem
 * where a volume's snapshots go has less free space than `m` asks for. All
 * zero: no check.
 */
int snapshot_space_check(const struct snapshot_volume *volumes, size_t n,
			 const struct snapshot_min_free *m, struct errbuf *eb);

/* How to make a set, as the user asked. Timeouts of 0 take the defaults. */
struct snapshot_create_options {
	const char *label;
	const char *writers_dir;      /* NULL: no directory */
	char *const *writer_paths;    /* --writer */
	size_t n_writer_paths;
	bool require_writers;         /* any writer failure fails the set */
	char *const *holds;           /* --hold: cgroup directories or unit:NAME */
	size_t n_holds;
	int64_t prepare_timeout_ns;   /* default 10 minutes */
	int64_t freeze_timeout_ns;    /* default 60 s, as VSS */
	int64_t hold_timeout_ns;      /* default 10 s, as VSS */
	int64_t post_timeout_ns;      /* default 60 s (thaw, post and abort) */
	struct snapshot_volume_options volumes;
	int64_t lock_timeout_ns;      /* copy: wait for a changing file's lock; default 10 s */
	bool strict;                  /* copy: fail when a file kept changing */
	bool freeze_fs;               /* copy: freeze the volumes' filesystems for the
					 refresh inside the hold (FIFREEZE) */
	struct snapshot_min_free min_free; /* zero: no check */
	snapshot_note_fn note;        /* told of skipped writers and the like; may be NULL */
	void *userdata;
};

#define SNAPSHOT_DEFAULT_WRITERS_DIR "/etc/stillfs/writers.d"
#define SNAPSHOT_DEFAULT_PREPARE_TIMEOUT_NS (600 * INT64_C(1000000000))
#define SNAPSHOT_DEFAULT_FREEZE_TIMEOUT_NS (60 * INT64_C(1000000000))
#define SNAPSHOT_DEFAULT_HOLD_TIMEOUT_NS (10 * INT64_C(1000000000))
#define SNAPSHOT_DEFAULT_POST_TIMEOUT_NS (60 * INT64_C(1000000000))
#define SNAPSHOT_DEFAULT_LOCK_TIMEOUT_NS (10 * INT64_C(1000000000))

/* A registered writer, as `stillfs writers` lists it. */
struct snapshot_writer_info {
	char *path;
	char *name;
	const char *kind; /* "hook" or "session" (static) */
};

/*
 * The writers in `dir` (NULL: none), as create would run them; non-executable
 * files are reported through `note` and left out. Free with
 * snapshot_writer_infos_free().
 */
int snapshot_writers_list(const char *dir, struct snapshot_writer_info **ret, size_t *ret_n,
			  snapshot_note_fn note, void *userdata, struct errbuf *eb);
void snapshot_writer_infos_free(struct snapshot_writer_info *w, size_t n);

/* Volumes, writers and held cgroups, resolved and checked before anything is made. */
struct snapshot_plan;

/*
 * Checks everything the user asked for: the volumes (as
 * snapshot_volumes_resolve()), the free space where their snapshots go
 * (snapshot_space_check()), the writers (executable), the cgroups to hold
 * (cgroup v2, not the root, not containing stillfs). Refusals are described
 * in *eb. Free the plan with snapshot_plan_free().
 */
int snapshot_plan_new(char *const *volumes, size_t n_volumes,
		      const struct snapshot_create_options *o, struct snapshot_plan **ret,
		      struct errbuf *eb);
void snapshot_plan_free(struct snapshot_plan *p);

/*
 * Creates a set: intent in the catalog, writers' prepare and freeze, the
 * hold, the snapshots, thaw, post, commit. On success *ret holds the set
 * (complete; its consistency says whether every writer froze). On failure
 * every snapshot taken is removed, writers are told to abort, and the set, if
 * it was recorded, is marked failed with the reason.
 */
int snapshot_set_create(struct catalog *c, struct snapshot_plan *p, struct catalog_set **ret,
			struct errbuf *eb);

/*
 * Deletes a set: marks it deleting, removes each snapshot (going on after a
 * failure), then the record. A set whose snapshots could not all be removed
 * stays `deleting` for gc to retry. Returns 0 or the first error; -ESTALE
 * when the set left the state it was read in (another process acted on it).
 */
int snapshot_set_delete(struct catalog *c, const struct catalog_set *set, snapshot_note_fn note,
			void *userdata);

/*
 * Finishes what crashes left: sets stuck in `creating` whose creator is gone,
 * sets stuck in `deleting`, sets leased to a run (stillfs exec) that is gone
 * (unpinned first), and snapshots in this catalog's storage that no set owns. Goes on item by item; returns 0 or the first error, and the number of
 * items cleaned in *ret_cleaned.
 */
int snapshot_gc(struct catalog *c, snapshot_note_fn note, void *userdata, unsigned *ret_cleaned);
