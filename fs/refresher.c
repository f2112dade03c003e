// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Sets come and go while the view is mounted. Once a second this thread asks
 * the catalog whether anything changed and, if so, reloads the sets and tells
 * the kernel to forget the names at the root that appeared, vanished or moved
 * (`latest`), so that no stale entry outlives a change by more than that.
 * Notifications are sent from here, never from a request handler, which could
 * deadlock on the directory the kernel holds locked for that request.
 */
#include <malloc.h>
#include <time.h>

#include "view-internal.h"

#define REFRESH_INTERVAL_MS 1000
/* a file descriptor of the view idle this long is closed (see fdcache.h) */
#define FILE_IDLE_MS 2000

struct names {
	char (*tokens)[GMT_TOKEN_LEN];
	size_t n;
	char latest[GMT_TOKEN_LEN];
	int64_t current; /* the set current/ shows */
};

static void names_take(struct view *v, struct names *ret)
{
	struct view_set **sets;
	size_t n;

	free(ret->tokens);
	memset(ret, 0, sizeof(*ret));
	if (view_sets_snapshot(v, &sets, &n) < 0)
		return;
	ret->tokens = calloc(n ? n : 1, sizeof(*ret->tokens));
	if (ret->tokens) {
		for (size_t i = 0; i < n; i++)
			memcpy(ret->tokens[i], sets[i]->token, GMT_TOKEN_LEN);
		ret->n = n;
		if (n > 0)
			memcpy(ret->latest, sets[n - 1]->token, GMT_TOKEN_LEN);
	}
	view_sets_release(sets, n);
	pthread_rwlock_rdlock(&v->sets_lock);
	ret->current = v->current_seq;
	pthread_rwlock_unlock(&v->sets_lock);
}

static bool names_has(const struct names *ns, const char *token)
{
	for (size_t i = 0; i < ns->n; i++)
		if (streq(ns->tokens[i], token))
			return true;
	return false;
}

static void inval(struct view *v, const char *name)
{
	int r = fuse_lowlevel_notify_inval_entry(v->session, FUSE_ROOT_ID, name, strlen(name));

	if (r < 0 && r != -ENOENT)
		log_debug("cannot invalidate '%s': %s", name, strerror(-r));
}

static void notify_changes(struct view *v, const struct names *before, const struct names *after)
{
	if (v->single)
		return;
	for (size_t i = 0; i < before->n; i++)
		if (!names_has(after, before->tokens[i]))
			inval(v, before->tokens[i]);
	for (size_t i = 0; i < after->n; i++)
		if (!names_has(before, after->tokens[i]))
			inval(v, after->tokens[i]);
	if (!streq(before->latest, after->latest))
		inval(v, "latest");
	/*
	 * current/ of another set is another inode: the kernel must look it up
	 * again, unless it already did since the pin changed (a lookup loads the
	 * sets itself). Dropping an entry the kernel has just been given makes a
	 * process that entered it a moment ago (smbd connecting a share on
	 * current/) fail to find what is inside.
	 */
	if (before->current != after->current &&
	    __atomic_load_n(&v->current_told, __ATOMIC_ACQUIRE) != after->current)
		inval(v, "current");
	fuse_lowlevel_notify_inval_inode(v->session, FUSE_ROOT_ID, 0, 0);
}

static bool wait_stop(struct view *v)
{
	struct timespec ts;
	bool stop;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += (long)REFRESH_INTERVAL_MS * 1000000;
	ts.tv_sec += ts.tv_nsec / 1000000000;
	ts.tv_nsec %= 1000000000;
	pthread_mutex_lock(&v->stop_lock);
	while (!v->stopping)
		if (pthread_cond_timedwait(&v->stop_cond, &v->stop_lock, &ts) == ETIMEDOUT)
			break;
	stop = v->stopping;
	pthread_mutex_unlock(&v->stop_lock);
	return stop;
}

/*
 * When the kernel has forgotten most of the inodes it held, give the freed
 * node memory back to the system instead of keeping it for a walk that may
 * never come again.
 */
static void trim_memory(struct view *v, uint64_t *peak)
{
	uint64_t n = node_table_size(v->nodes);

	if (n > *peak)
		*peak = n;
	if (*peak >= 10000 && n < *peak / 2) {
		malloc_trim(0);
		*peak = n;
	}
}

static void *refresher_main(void *arg)
{
	struct view *v = arg;
	struct names before = { 0 }, after = { 0 };
	uint64_t peak = 0;

	names_take(v, &before);
	while (!wait_stop(v)) {
		int r;

		trim_memory(v, &peak);
		fdcache_expire(v->files, FILE_IDLE_MS);
		r = view_sets_refresh(v, false);

		if (r < 0) {
			log_warning_errno(r, "cannot reload sets from the catalog");
			continue;
		}
		names_take(v, &after);
		bool changed = after.n != before.n || !streq(after.latest, before.latest) ||
			       after.current != before.current;

		for (size_t i = 0; !changed && i < after.n; i++)
			changed = !streq(after.tokens[i], before.tokens[i]);
		if (changed)
			notify_changes(v, &before, &after);
		free(before.tokens);
		before = after;
		memset(&after, 0, sizeof(after));
	}
	free(before.tokens);
	return NULL;
}

int view_refresher_start(struct view *v)
{
	int r = pthread_create(&v->refresher, NULL, refresher_main, v);

	if (r != 0)
		return -r;
	v->refresher_started = true;
	return 0;
}

void view_refresher_stop(struct view *v)
{
	if (!v->refresher_started)
		return;
	pthread_mutex_lock(&v->stop_lock);
	v->stopping = true;
	pthread_cond_signal(&v->stop_cond);
	pthread_mutex_unlock(&v->stop_lock);
	pthread_join(v->refresher, NULL);
	v->refresher_started = false;
}
