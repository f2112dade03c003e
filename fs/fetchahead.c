// SPDX-License-Identifier: GPL-2.0-or-later
/* Small files fetched ahead of a backup: see fetchahead.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "fetchahead.h"
#include "timefmt.h"

/* directories fetched from at once (a backup reads one, a few readers more) */
#define STREAMS 4
/* how far ahead of its reader a directory is fetched: files, and bytes */
#define AHEAD 32
#define AHEAD_BYTES (4u << 20)
/* entries looked through for a file the reader asks for out of turn */
#define SEEK_MAX 4096
/*
 * A reader that passes fetched files without reading them (an incremental
 * backup reads only what changed) stops the fetching: once it has passed
 * more than this, and twice as many as it read.
 */
#define WASTE_MIN (AHEAD / 4)
/* a directory nobody reads from for this long is let go */
#define IDLE_NS (2 * INT64_C(1000000000))
#define QUEUE 64
#define LISTBUF 32768

struct note {
	uint64_t dir_id;
	int fd; /* a new descriptor of the directory, or -1 when its stream was running */
	struct ino_parts p;
	char name[NAME_MAX + 1];
};

/* a regular file of the listing, in order, between the reader and the fetching */
struct ahead {
	uint64_t file;
	uint32_t bytes;
	bool fetched; /* false: too large or empty, left to the kernel's readahead */
};

struct stream {
	uint64_t dir_id; /* 0: free */
	uint64_t set, vol;
	bool dead;       /* the reader left the listing's order: nothing more is fetched */
	int64_t used_ns;
	/* the rest is the thread's alone */
	unsigned int used, passed; /* fetched files read, and passed unread */
	int fd;
	bool eof;
	size_t pos, len;
	char *buf;
	/* under the lock: read by fetchahead_has() */
	struct ahead ring[AHEAD];
	unsigned int first, n;
	size_t bytes;
};

struct fetchahead {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stop;
	struct note queue[QUEUE];
	unsigned int q_first, q_n;
	struct stream streams[STREAMS];
	atomic_uint_fast64_t handled, fetched;
	pthread_t thread;
};

static struct stream *stream_find(struct fetchahead *f, uint64_t dir_id)
{
	for (size_t i = 0; i < STREAMS; i++)
		if (f->streams[i].dir_id == dir_id)
			return &f->streams[i];
	return NULL;
}

/* Lets go of a stream; under the lock. */
static void stream_end(struct stream *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	s->dir_id = 0;
	s->dead = false;
	s->used = s->passed = 0;
	s->n = s->first = 0;
	s->bytes = 0;
}

/* The next entry of the stream's listing, or NULL at its end (or on an error). */
static struct dirent64 *stream_next(struct stream *s)
{
	struct dirent64 *d;

	if (s->pos >= s->len) {
		ssize_t got = s->eof ? 0 : getdents64(s->fd, s->buf, LISTBUF);

		if (got <= 0) {
			s->eof = true;
			return NULL;
		}
		s->pos = 0;
		s->len = (size_t)got;
	}
	d = (struct dirent64 *)(s->buf + s->pos);
	s->pos += d->d_reclen;
	return d;
}

static bool dot_or_dotdot(const char *name)
{
	return name[0] == '.' && (!name[1] || (name[1] == '.' && !name[2]));
}

/* Whether entry d of the stream's directory is a regular file (symlinks not followed). */
static bool regular(struct stream *s, const struct dirent64 *d)
{
	struct stat st;

	if (d->d_type != DT_UNKNOWN)
		return d->d_type == DT_REG;
	return fstatat(s->fd, d->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
}

/* Starts reading a small regular file into the snapshot's page cache. */
static void fetch(int dirfd, const char *name, struct ahead *a)
{
	struct stat st;
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);

	if (fd < 0)
		return;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
	    st.st_size <= FETCHAHEAD_FILE_MAX &&
	    posix_fadvise(fd, 0, st.st_size, POSIX_FADV_WILLNEED) == 0) {
		a->fetched = true;
		a->bytes = (uint32_t)st.st_size;
	}
	close(fd);
}

/* Fetches the listing's next regular files until the stream is far enough ahead. */
static void stream_fill(struct fetchahead *f, struct stream *s)
{
	struct dirent64 *d;

	pthread_mutex_lock(&f->lock);
	while (s->n < AHEAD && s->bytes < AHEAD_BYTES) {
		struct ahead a = { 0 };

		pthread_mutex_unlock(&f->lock);
		d = stream_next(s);
		if (d && !dot_or_dotdot(d->d_name) && regular(s, d)) {
			a.file = d->d_ino;
			fetch(s->fd, d->d_name, &a);
			if (a.fetched)
				atomic_fetch_add(&f->fetched, 1);
		}
		pthread_mutex_lock(&f->lock);
		if (!d)
			break;
		if (a.file == 0)
			continue;
		s->ring[(s->first + s->n) % AHEAD] = a;
		s->n++;
		s->bytes += a.bytes;
	}
	pthread_mutex_unlock(&f->lock);
}

/* Drops the ring's first `count` files, counting the fetched ones as passed
 * unread, and `last` more (the one the reader reached) as read; under the lock. */
static void stream_drop(struct stream *s, unsigned int count, bool last)
{
	for (unsigned int k = 0; k < count + last; k++) {
		const struct ahead *a = &s->ring[(s->first + k) % AHEAD];

		s->bytes -= a->bytes;
		if (a->fetched && k < count)
			s->passed++;
		else if (a->fetched)
			s->used++;
	}
	s->first = (s->first + count + last) % AHEAD;
	s->n -= count + last;
}

/* Drops the ring's files up to `file`, which the reader reached; false if it holds no such file. */
static bool stream_pass(struct fetchahead *f, struct stream *s, uint64_t file)
{
	bool found = false;
	unsigned int i;

	pthread_mutex_lock(&f->lock);
	for (i = 0; i < s->n && !found; i++)
		found = s->ring[(s->first + i) % AHEAD].file == file;
	if (found)
		stream_drop(s, i - 1, true);
	pthread_mutex_unlock(&f->lock);
	return found;
}

/* Looks further down the listing for the file the reader asked for. */
static bool stream_seek(struct fetchahead *f, struct stream *s, const char *name)
{
	struct dirent64 *d;

	pthread_mutex_lock(&f->lock);
	stream_drop(s, s->n, false);
	pthread_mutex_unlock(&f->lock);
	for (unsigned int i = 0; i < SEEK_MAX && (d = stream_next(s)); i++)
		if (strcmp(d->d_name, name) == 0)
			return true;
	return false;
}

/* A free stream, or the one idle longest; under the lock. */
static struct stream *stream_slot(struct fetchahead *f)
{
	struct stream *best = &f->streams[0];

	for (size_t i = 0; i < STREAMS; i++) {
		struct stream *s = &f->streams[i];

		if (!s->dir_id)
			return s;
		if (s->used_ns < best->used_ns)
			best = s;
	}
	stream_end(best);
	return best;
}

static void handle(struct fetchahead *f, struct note *n)
{
	struct stream *s;
	bool fresh = false, lost;

	pthread_mutex_lock(&f->lock);
	s = stream_find(f, n->dir_id);
	if (!s && n->fd >= 0) {
		s = stream_slot(f);
		s->dir_id = n->dir_id;
		s->set = n->p.set;
		s->vol = n->p.vol;
		s->fd = n->fd;
		s->eof = false;
		s->pos = s->len = 0;
		n->fd = -1;
		fresh = true;
	}
	if (s)
		s->used_ns = time_mono_ns();
	if (!s || s->dead) {
		pthread_mutex_unlock(&f->lock);
		return;
	}
	pthread_mutex_unlock(&f->lock);
	lost = (fresh || !stream_pass(f, s, n->p.file)) && !stream_seek(f, s, n->name);
	if (lost || (s->passed > WASTE_MIN && s->passed > 2 * s->used)) {
		pthread_mutex_lock(&f->lock);
		s->dead = true;
		stream_drop(s, s->n, false);
		pthread_mutex_unlock(&f->lock);
		return;
	}
	stream_fill(f, s);
}

static void expire(struct fetchahead *f)
{
	int64_t now = time_mono_ns();

	for (size_t i = 0; i < STREAMS; i++) {
		struct stream *s = &f->streams[i];

		if (s->dir_id && now - s->used_ns > IDLE_NS)
			stream_end(s);
	}
}

static void *thread_main(void *arg)
{
	struct fetchahead *f = arg;

	pthread_mutex_lock(&f->lock);
	while (!f->stop) {
		struct note n;

		if (!f->q_n) {
			struct timespec until;

			expire(f);
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += 1;
			pthread_cond_timedwait(&f->wake, &f->lock, &until);
			continue;
		}
		n = f->queue[f->q_first];
		f->q_first = (f->q_first + 1) % QUEUE;
		f->q_n--;
		pthread_mutex_unlock(&f->lock);
		handle(f, &n);
		if (n.fd >= 0)
			close(n.fd);
		atomic_fetch_add(&f->handled, 1);
		pthread_mutex_lock(&f->lock);
	}
	pthread_mutex_unlock(&f->lock);
	return NULL;
}

int fetchahead_new(struct fetchahead **ret)
{
	struct fetchahead *f = calloc(1, sizeof(*f));
	int r = -ENOMEM;

	if (!f)
		return -ENOMEM;
	for (size_t i = 0; i < STREAMS; i++) {
		f->streams[i].fd = -1;
		f->streams[i].buf = malloc(LISTBUF);
		if (!f->streams[i].buf)
			goto fail;
	}
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->wake, NULL);
	r = -pthread_create(&f->thread, NULL, thread_main, f);
	if (r == 0) {
		*ret = f;
		return 0;
	}
	pthread_cond_destroy(&f->wake);
	pthread_mutex_destroy(&f->lock);
fail:
	for (size_t i = 0; i < STREAMS; i++)
		free(f->streams[i].buf);
	free(f);
	return r;
}

void fetchahead_free(struct fetchahead *f)
{
	if (!f)
		return;
	pthread_mutex_lock(&f->lock);
	f->stop = true;
	pthread_cond_signal(&f->wake);
	pthread_mutex_unlock(&f->lock);
	pthread_join(f->thread, NULL);
	for (; f->q_n; f->q_n--, f->q_first = (f->q_first + 1) % QUEUE)
		if (f->queue[f->q_first].fd >= 0)
			close(f->queue[f->q_first].fd);
	for (size_t i = 0; i < STREAMS; i++) {
		stream_end(&f->streams[i]);
		free(f->streams[i].buf);
	}
	pthread_cond_destroy(&f->wake);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

void fetchahead_note(struct fetchahead *f, uint64_t dir_id, int dirfd, const char *name,
		     const struct ino_parts *p)
{
	struct stream *s;
	struct note *n;
	int fd = -1;

	if (strlen(name) > NAME_MAX) {
		atomic_fetch_add(&f->handled, 1);
		return;
	}
	pthread_mutex_lock(&f->lock);
	s = stream_find(f, dir_id);
	if (s && s->dead) {
		s->used_ns = time_mono_ns();
		goto drop;
	}
	if (!s) {
		/* (a descriptor that lists: dirfd may be O_PATH) */
		pthread_mutex_unlock(&f->lock);
		fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		pthread_mutex_lock(&f->lock);
		if (fd < 0)
			goto drop;
	}
	if (f->q_n == QUEUE)
		goto drop;
	n = &f->queue[(f->q_first + f->q_n) % QUEUE];
	f->q_n++;
	n->dir_id = dir_id;
	n->fd = fd;
	n->p = *p;
	strcpy(n->name, name);
	pthread_cond_signal(&f->wake);
	pthread_mutex_unlock(&f->lock);
	return;
drop:
	pthread_mutex_unlock(&f->lock);
	if (fd >= 0)
		close(fd);
	atomic_fetch_add(&f->handled, 1);
}

bool fetchahead_has(struct fetchahead *f, const struct ino_parts *p)
{
	bool found = false;

	pthread_mutex_lock(&f->lock);
	for (size_t i = 0; i < STREAMS && !found; i++) {
		struct stream *s = &f->streams[i];

		if (!s->dir_id || s->set != p->set || s->vol != p->vol)
			continue;
		for (unsigned int k = 0; k < s->n && !found; k++) {
			const struct ahead *a = &s->ring[(s->first + k) % AHEAD];

			found = a->file == p->file && a->fetched;
		}
	}
	pthread_mutex_unlock(&f->lock);
	return found;
}

uint64_t fetchahead_handled(struct fetchahead *f)
{
	return atomic_load(&f->handled);
}

uint64_t fetchahead_fetched(struct fetchahead *f)
{
	return atomic_load(&f->fetched);
}
