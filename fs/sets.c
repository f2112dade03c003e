// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The view's list of sets, reloaded from the catalog when it changes. Each set
 * keeps a descriptor on the root of each of its snapshots: handles are opened
 * relative to it, and it pins nothing but the directory. A copy's volume also
 * keeps its inode map (inomap.h), opened once here. Sets are referenced
 * while a request uses them, so a reload never closes a descriptor under a
 * running request.
 */
#include <stdio.h>
#include <time.h>

#include "view-internal.h"

static void set_free(struct view_set *s)
{
	for (size_t i = 0; i < s->n_vols; i++) {
		free(s->vols[i].name);
		if (s->vols[i].fd >= 0)
			close(s->vols[i].fd);
		inomap_close(s->vols[i].inomap);
	}
	free(s->vols);
	free(s);
}

void view_set_unref(struct view_set *s)
{
	if (s && atomic_fetch_sub(&s->refs, 1) == 1)
		set_free(s);
}

static struct view_set *set_ref(struct view_set *s)
{
	if (s)
		atomic_fetch_add(&s->refs, 1);
	return s;
}

/* The storage subvolume's placeholder sits at the root when the volume is the mount. */
static bool holds_storage(const struct catalog_volume *cv)
{
	size_t n = strlen(cv->path);
	const char *rest;

	if (streq(cv->path, "/"))
		n = 0;
	if (strncmp(cv->storage, cv->path, n) != 0)
		return false;
	rest = cv->storage + n;
	if (strncmp(rest, "/.stillfs/", 10) != 0)
		return false;
	return !strchr(rest + 10, '/');
}

static int set_open(const struct catalog_set *cs, struct view_set **ret)
{
	struct view_set *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	atomic_init(&s->refs, 1);
	s->seq = cs->seq;
	memcpy(s->id, cs->id, sizeof(s->id));
	memcpy(s->token, cs->token, sizeof(s->token));
	s->created_ns = cs->created_ns;
	s->vols = calloc(cs->n_volumes, sizeof(*s->vols));
	if (!s->vols) {
		free(s);
		return -ENOMEM;
	}
	s->n_vols = cs->n_volumes;
	for (size_t i = 0; i < cs->n_volumes; i++) {
		const struct catalog_volume *cv = &cs->volumes[i];
		struct view_volume *vv = &s->vols[i];
		struct stat st;
		int r;

		vv->fd = -1;
		vv->name = strdup(cv->name);
		if (!vv->name) {
			set_free(s);
			return -ENOMEM;
		}
		vv->hide_storage = holds_storage(cv);
		vv->volume_key = cv->volume_key > 0 ? (uint64_t)cv->volume_key : 0;
		if (!cv->snapshot)
			continue;
		vv->fd = open(cv->snapshot, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (vv->fd < 0) {
			log_warning("set %s: cannot open snapshot '%s': %m", cs->id, cv->snapshot);
			continue;
		}
		r = fstat(vv->fd, &st) < 0 ? -errno : node_handle_at(vv->fd, "", &vv->root_handle);
		if (r < 0) {
			log_warning_errno(r, "set %s: cannot use snapshot '%s'", cs->id,
					  cv->snapshot);
			close(vv->fd);
			vv->fd = -1;
			continue;
		}
		/*
		 * Without its map a copy could only show the storage's inode
		 * numbers, which change from set to set: it answers EIO instead.
		 */
		if (streq(cv->provider, "copy")) {
			r = inomap_open_beside(cv->snapshot, &vv->inomap);
			if (r < 0)
				log_warning_errno(r, "set %s: cannot use the inode map of '%s'",
						  cs->id, cv->snapshot);
			else if ((r = inomap_apply(vv->inomap, &st)) < 0)
				log_warning("set %s: the inode map of '%s' lacks its root", cs->id,
					    cv->snapshot);
			if (r < 0) {
				inomap_close(vv->inomap);
				vv->inomap = NULL;
				close(vv->fd);
				vv->fd = -1;
				continue;
			}
		}
		vv->root_ino = (uint64_t)st.st_ino;
	}
	*ret = s;
	return 0;
}

static struct view_set *find_locked(struct view *v, int64_t seq)
{
	for (size_t i = 0; i < v->n_sets; i++)
		if (v->sets[i]->seq == seq)
			return v->sets[i];
	return NULL;
}

int view_sets_refresh(struct view *v, bool force)
{
	struct catalog_set **cs = NULL;
	struct view_set **fresh = NULL, **old;
	size_t n_cs = 0, n_fresh = 0, n_old;
	int64_t version, current = 0, pinned_ns = 0;
	int r;

	pthread_mutex_lock(&v->refresh_lock);
	r = catalog_data_version(v->catalog, &version);
	if (r < 0)
		goto out;
	if (v->loaded && !force && version == v->data_version)
		goto out;
	r = catalog_set_list(v->catalog, 1u << CATALOG_SET_COMPLETE, &cs, &n_cs);
	if (r < 0)
		goto out;
	fresh = calloc(n_cs ? n_cs : 1, sizeof(*fresh));
	if (!fresh) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n_cs; i++) {
		struct view_set *s;

		if (v->single && cs[i]->seq != v->single_seq)
			continue;
		if (cs[i]->seq > (int64_t)INO_SET_MAX) {
			log_warning("set %s: numbered beyond what the view can show", cs[i]->id);
			continue;
		}
		pthread_rwlock_rdlock(&v->sets_lock);
		s = set_ref(find_locked(v, cs[i]->seq));
		pthread_rwlock_unlock(&v->sets_lock);
		if (!s) {
			r = set_open(cs[i], &s);
			if (r < 0)
				goto out;
		}
		fresh[n_fresh++] = s;
	}

	/* what this view shows as current/ (only the history view has one) */
	if (!v->single) {
		r = catalog_pin_get(v->catalog, v->opts->mountpoint, &current, &pinned_ns);
		if (r == -ENOENT) {
			current = 0;
			r = 0;
		} else if (r < 0) {
			goto out;
		}
	}
	pthread_rwlock_wrlock(&v->sets_lock);
	v->current_seq = current;
	v->current_pinned_ns = pinned_ns;
	old = v->sets;
	n_old = v->n_sets;
	v->sets = TAKE_PTR(fresh);
	v->n_sets = n_fresh;
	n_fresh = 0;
	pthread_rwlock_unlock(&v->sets_lock);
	view_sets_release(old, n_old);
	v->data_version = version;
	v->loaded = true;
out:
	view_sets_release(fresh, n_fresh);
	catalog_sets_free(cs, n_cs);
	pthread_mutex_unlock(&v->refresh_lock);
	return r;
}

struct view_set *view_set_by_seq(struct view *v, int64_t seq)
{
	struct view_set *s;

	pthread_rwlock_rdlock(&v->sets_lock);
	s = set_ref(find_locked(v, seq));
	pthread_rwlock_unlock(&v->sets_lock);
	return s;
}

struct view_set *view_set_by_token(struct view *v, const char *token)
{
	struct view_set *s = NULL;

	pthread_rwlock_rdlock(&v->sets_lock);
	for (size_t i = 0; i < v->n_sets; i++)
		if (streq(v->sets[i]->token, token)) {
			s = set_ref(v->sets[i]);
			break;
		}
	pthread_rwlock_unlock(&v->sets_lock);
	return s;
}

struct view_set *view_set_current(struct view *v)
{
	struct view_set *s;

	pthread_rwlock_rdlock(&v->sets_lock);
	s = v->current_seq > 0 ? set_ref(find_locked(v, v->current_seq)) : NULL;
	pthread_rwlock_unlock(&v->sets_lock);
	return s;
}

struct view_set *view_set_latest(struct view *v)
{
	struct view_set *s = NULL;

	pthread_rwlock_rdlock(&v->sets_lock);
	if (v->n_sets > 0)
		s = set_ref(v->sets[v->n_sets - 1]);
	pthread_rwlock_unlock(&v->sets_lock);
	return s;
}

int view_sets_snapshot(struct view *v, struct view_set ***ret, size_t *ret_n)
{
	struct view_set **copy;

	pthread_rwlock_rdlock(&v->sets_lock);
	copy = calloc(v->n_sets ? v->n_sets : 1, sizeof(*copy));
	if (!copy) {
		pthread_rwlock_unlock(&v->sets_lock);
		return -ENOMEM;
	}
	for (size_t i = 0; i < v->n_sets; i++)
		copy[i] = set_ref(v->sets[i]);
	*ret_n = v->n_sets;
	pthread_rwlock_unlock(&v->sets_lock);
	*ret = copy;
	return 0;
}

void view_sets_release(struct view_set **sets, size_t n)
{
	if (!sets)
		return;
	for (size_t i = 0; i < n; i++)
		view_set_unref(sets[i]);
	free(sets);
}

void view_sets_clear(struct view *v)
{
	pthread_rwlock_wrlock(&v->sets_lock);
	view_sets_release(v->sets, v->n_sets);
	v->sets = NULL;
	v->n_sets = 0;
	pthread_rwlock_unlock(&v->sets_lock);
}
