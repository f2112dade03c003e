// SPDX-License-Identifier: GPL-2.0-or-later
/* Mounting the view, detaching the daemon, and serving until unmounted. */
#include <stdio.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "direct-read.h"
#include "view-internal.h"

/* ro: the kernel refuses writes and keeps cached attributes valid after reads.
 * allow_other with default_permissions: every user reads what the original
 * permissions allowed, and no more. */
#define MOUNT_OPTIONS "ro,nosuid,nodev,noatime,default_permissions,allow_other,fsname=stillfs,subtype=stillfs"

/* descriptors of files being read: enough for every thread and some readers'
 * files, and never more than an eighth of what the daemon may open */
#define VIEW_FDCACHE_MAX 64
#define VIEW_FDCACHE_MIN 4

/* worker threads; each reads into a buffer of the largest READ the kernel
 * sends (1 MiB with libfuse 3.14), spanning whole pages for direct I/O */
#define VIEW_MAX_THREADS 16
#define VIEW_READ_MAX (1u << 20)

static unsigned int fdcache_size(void)
{
	struct rlimit rl;
	rlim_t n = VIEW_FDCACHE_MAX;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur / 8 < n)
		n = rl.rlim_cur / 8;
	return n < VIEW_FDCACHE_MIN ? VIEW_FDCACHE_MIN : (unsigned int)n;
}

static int check_mountpoint(const char *path, struct errbuf *eb)
{
	struct stat st;
	int r;

	if (stat(path, &st) < 0)
		return errbuf_set(eb, -errno, "cannot mount on '%s'", path);
	if (!S_ISDIR(st.st_mode))
		return errbuf_setx(eb, -ENOTDIR, "cannot mount on '%s': not a directory", path);
	r = mountinfo_is_mount_point(path, NULL);
	if (r > 0)
		return errbuf_setx(eb, -EBUSY,
				   "cannot mount on '%s': something is already mounted there", path);
	return 0;
}

static int view_setup(struct view *v, const struct view_options *o, struct errbuf *eb)
{
	int r;

	v->opts = o;
	pthread_rwlock_init(&v->sets_lock, NULL);
	pthread_mutex_init(&v->refresh_lock, NULL);
	pthread_mutex_init(&v->stop_lock, NULL);
	pthread_cond_init(&v->stop_cond, NULL);
	clock_gettime(CLOCK_REALTIME, &v->mounted_at);

	r = catalog_open(o->catalog_path, CATALOG_READONLY, &v->catalog);
	if (r < 0)
		return errbuf_set(eb, r, "cannot open catalog '%s'", o->catalog_path);
	r = node_table_new(&v->nodes);
	if (r < 0)
		return r;
	r = fdcache_new(fdcache_size(), &v->files);
	if (r < 0)
		return r;
	r = bufpool_new(direct_read_span(1, VIEW_READ_MAX), VIEW_MAX_THREADS, &v->buffers);
	if (r < 0)
		return r;
	if (o->passthrough) {
		r = passthrough_new(&v->passthrough);
		if (r < 0)
			return r;
	}
	if (o->set_id) {
		_cleanup_catalog_set_ struct catalog_set *s = NULL;

		r = catalog_set_get(v->catalog, o->set_id, &s);
		if (r == -ENOENT)
			return errbuf_setx(eb, r, "no set '%s' in catalog '%s'", o->set_id,
					   o->catalog_path);
		if (r == -ENOTUNIQ)
			return errbuf_setx(eb, r, "'%s' matches several sets; give more of the id",
					   o->set_id);
		if (r < 0)
			return errbuf_set(eb, r, "cannot read set '%s'", o->set_id);
		if (s->state != CATALOG_SET_COMPLETE)
			return errbuf_setx(eb, -EINVAL, "set %s is %s, not complete", s->id,
					   catalog_set_state_to_string(s->state));
		v->single = true;
		v->single_seq = s->seq;
		v->single_volume_root = s->n_volumes == 1;
	}
	r = view_sets_refresh(v, true);
	if (r < 0)
		return errbuf_set(eb, r, "cannot read sets from catalog '%s'", o->catalog_path);
	if (v->single) {
		struct view_set *s = view_set_by_seq(v, v->single_seq);
		bool ok = s && (!v->single_volume_root || s->vols[0].fd >= 0);

		view_set_unref(s);
		if (!ok)
			return errbuf_setx(eb, -EIO, "the snapshot of set %s cannot be opened",
					   o->set_id);
	}
	return 0;
}

static void view_teardown(struct view *v)
{
	view_refresher_stop(v);
	view_sets_clear(v);
	node_table_free(v->nodes);
	fdcache_free(v->files);
	bufpool_free(v->buffers);
	statpool_free(v->stats);
	fetchahead_free(v->fetch);
	passthrough_free(v->passthrough);
	catalog_free(v->catalog);
	pthread_cond_destroy(&v->stop_cond);
	pthread_mutex_destroy(&v->stop_lock);
	pthread_mutex_destroy(&v->refresh_lock);
	pthread_rwlock_destroy(&v->sets_lock);
}

int view_run(const struct view_options *o, struct errbuf *eb)
{
	char *argv[] = { "stillfs", "-o", MOUNT_OPTIONS, o->debug ? "-d" : NULL, NULL };
	struct fuse_args args = FUSE_ARGS_INIT(o->debug ? 4 : 3, argv);
	struct fuse_loop_config *loop = NULL;
	_cleanup_free_ char *catalog = NULL;
	struct view v = { 0 };
	int r;

	r = check_mountpoint(o->mountpoint, eb);
	if (r < 0)
		return r;
	r = view_setup(&v, o, eb);
	if (r < 0)
		goto out;
	/* SQLite connections must not cross a fork: the daemon opens its own below,
	 * by absolute path, as it leaves the working directory behind */
	catalog_free(v.catalog);
	v.catalog = NULL;
	catalog = realpath(o->catalog_path, NULL);
	if (!catalog) {
		r = errbuf_set(eb, -errno, "cannot resolve catalog path '%s'", o->catalog_path);
		goto out;
	}

	v.session = fuse_session_new(&args, &view_ops, sizeof(view_ops), &v);
	if (!v.session) {
		r = errbuf_setx(eb, -EINVAL, "cannot start a FUSE session");
		goto out;
	}
	if (fuse_set_signal_handlers(v.session) < 0) {
		r = errbuf_setx(eb, -EIO, "cannot install signal handlers");
		goto out_session;
	}
	if (fuse_session_mount(v.session, o->mountpoint) < 0) {
		r = errbuf_setx(eb, -EIO, "cannot mount the view on '%s' (is /dev/fuse there?)",
				o->mountpoint);
		goto out_signals;
	}
	if (v.passthrough && passthrough_install(v.passthrough, v.session) < 0) {
		r = errbuf_setx(eb, -EIO, "cannot route the view's requests for passthrough");
		goto out_unmount;
	}
	/* the parent returns only now, with the mount ready */
	if (fuse_daemonize(o->foreground) < 0) {
		r = errbuf_setx(eb, -EIO, "cannot detach the view daemon");
		goto out_unmount;
	}
	if (!o->foreground)
		log_to_syslog();
	r = catalog_open(catalog, CATALOG_READONLY, &v.catalog);
	if (r < 0) {
		log_error_errno(r, "cannot open catalog '%s'", catalog);
		goto out_unmount;
	}
	r = view_sets_refresh(&v, true);
	if (r < 0) {
		log_error_errno(r, "cannot read sets from catalog '%s'", catalog);
		goto out_unmount;
	}
	log_info("serving %s on '%s' from catalog '%s'",
		 o->set_id ? o->set_id : "all sets", o->mountpoint, catalog);

	r = view_refresher_start(&v);
	if (r < 0) {
		log_error_errno(r, "cannot start the refresher");
		goto out_unmount;
	}
	/* (a thread: made in the daemon, after the fork) */
	r = statpool_new(&v.stats);
	if (r < 0)
		log_warning_errno(r, "cannot start a second thread for listings; they are served by one");
	r = fetchahead_new(&v.fetch);
	if (r < 0)
		log_warning_errno(r, "cannot start the thread that reads small files ahead; they are read as asked");
	atomic_store(&v.readahead_pending, true);
	loop = fuse_loop_cfg_create();
	if (!loop) {
		r = -ENOMEM;
		goto out_unmount;
	}
	fuse_loop_cfg_set_max_threads(loop, VIEW_MAX_THREADS);
	fuse_loop_cfg_set_idle_threads(loop, 4);
	r = fuse_session_loop_mt(v.session, loop);
	if (r != 0)
		log_error("the view on '%s' stopped: %s", o->mountpoint,
			  r < 0 ? strerror(-r) : "signal");
	r = r < 0 ? r : 0;
	fuse_loop_cfg_destroy(loop);
out_unmount:
	view_refresher_stop(&v);
	fuse_session_unmount(v.session);
out_signals:
	fuse_remove_signal_handlers(v.session);
out_session:
	fuse_session_destroy(v.session);
out:
	view_teardown(&v);
	fuse_opt_free_args(&args);
	return r;
}
