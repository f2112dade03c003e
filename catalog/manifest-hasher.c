// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Content digests of many files with one buffer and one hash state. A file
 * larger than one buffer is read by a second thread into a ring of buffers
 * while this one hashes, so that reading and hashing overlap: on one thread
 * the hash's time adds to the read's (measured on a cold 2 GiB read, the
 * index then ran at 0.62-0.86 of cat's speed).
 */
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "macro.h"
#include "manifest.h"

#define CHUNK_SIZE (1024 * 1024)
#define SLOTS 4

struct slot {
	void *buf;
	ssize_t n; /* bytes, 0 at the end, or -errno */
};

struct manifest_hasher {
	XXH3_state_t *state;
	void *buf;

	/* the reading thread, started with the first large file */
	pthread_t thread;
	bool started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct slot slots[SLOTS];
	unsigned head, tail, filled; /* the reader fills head, the hasher empties tail */
	int fd;
	bool job;  /* the reader has a file to read */
	bool stop; /* the hasher gave up on the file */
	bool quit;
};

static void *reader_main(void *userdata)
{
	struct manifest_hasher *h = userdata;

	pthread_mutex_lock(&h->lock);
	for (;;) {
		while (!h->quit && !h->job)
			pthread_cond_wait(&h->cond, &h->lock);
		if (h->quit)
			break;
		while (!h->stop) {
			unsigned i;
			ssize_t n;

			while (h->filled == SLOTS && !h->stop)
				pthread_cond_wait(&h->cond, &h->lock);
			if (h->stop)
				break;
			i = h->head;
			pthread_mutex_unlock(&h->lock);
			do
				n = read(h->fd, h->slots[i].buf, CHUNK_SIZE);
			while (n < 0 && errno == EINTR);
			if (n < 0)
				n = -errno;
			pthread_mutex_lock(&h->lock);
			h->slots[i].n = n;
			h->head = (i + 1) % SLOTS;
			h->filled++;
			pthread_cond_broadcast(&h->cond);
			if (n <= 0)
				break;
		}
		h->job = false;
		pthread_cond_broadcast(&h->cond);
	}
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

int manifest_hasher_new(struct manifest_hasher **ret)
{
	struct manifest_hasher *h = calloc(1, sizeof(*h));

	if (!h)
		return -ENOMEM;
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->cond, NULL);
	h->buf = malloc(CHUNK_SIZE);
	h->state = XXH3_createState();
	if (!h->buf || !h->state) {
		manifest_hasher_free(h);
		return -ENOMEM;
	}
	*ret = h;
	return 0;
}

void manifest_hasher_free(struct manifest_hasher *h)
{
	if (!h)
		return;
	if (h->started) {
		pthread_mutex_lock(&h->lock);
		h->quit = true;
		pthread_cond_broadcast(&h->cond);
		pthread_mutex_unlock(&h->lock);
		pthread_join(h->thread, NULL);
	}
	for (unsigned i = 0; i < SLOTS; i++)
		free(h->slots[i].buf);
	pthread_cond_destroy(&h->cond);
	pthread_mutex_destroy(&h->lock);
	if (h->state)
		XXH3_freeState(h->state);
	free(h->buf);
	free(h);
}

static int start_reader(struct manifest_hasher *h)
{
	int r;

	for (unsigned i = 0; i < SLOTS; i++) {
		h->slots[i].buf = malloc(CHUNK_SIZE);
		if (!h->slots[i].buf)
			return -ENOMEM;
	}
	r = pthread_create(&h->thread, NULL, reader_main, h);
	if (r != 0)
		return -r;
	h->started = true;
	return 0;
}

/* The rest of a large file, read by the other thread; returns bytes hashed or -errno. */
static int64_t hash_pipelined(struct manifest_hasher *h, int fd)
{
	int64_t total = 0;
	int r = 0;

	pthread_mutex_lock(&h->lock);
	h->fd = fd;
	h->head = h->tail = h->filled = 0;
	h->stop = false;
	h->job = true;
	pthread_cond_broadcast(&h->cond);
	for (;;) {
		struct slot *s;

		while (h->filled == 0)
			pthread_cond_wait(&h->cond, &h->lock);
		s = &h->slots[h->tail];
		if (s->n <= 0) {
			r = (int)s->n;
			break;
		}
		pthread_mutex_unlock(&h->lock);
		XXH3_128bits_update(h->state, s->buf, (size_t)s->n);
		total += s->n;
		pthread_mutex_lock(&h->lock);
		h->tail = (h->tail + 1) % SLOTS;
		h->filled--;
		pthread_cond_broadcast(&h->cond);
	}
	/* the reader stops at the end or the error; wait until it let go of fd */
	h->stop = true;
	pthread_cond_broadcast(&h->cond);
	while (h->job)
		pthread_cond_wait(&h->cond, &h->lock);
	pthread_mutex_unlock(&h->lock);
	return r < 0 ? r : total;
}

int manifest_hasher_fd(struct manifest_hasher *h, int fd, uint8_t ret[MANIFEST_DIGEST_LEN],
		       uint64_t *ret_bytes)
{
	XXH128_canonical_t c;
	uint64_t total = 0;
	ssize_t n;

	if (XXH3_128bits_reset(h->state) != XXH_OK)
		return -ENOMEM;
	/* Only advice: a pipe refuses it and is read all the same. */
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);

	do
		n = read(fd, h->buf, CHUNK_SIZE);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	XXH3_128bits_update(h->state, h->buf, (size_t)n);
	total = (uint64_t)n;
	/* a full first buffer: there is probably more, worth a second thread */
	if (n == CHUNK_SIZE && (h->started || start_reader(h) >= 0)) {
		int64_t k = hash_pipelined(h, fd);

		if (k < 0)
			return (int)k;
		total += (uint64_t)k;
	} else {
		while (n > 0) {
			do
				n = read(fd, h->buf, CHUNK_SIZE);
			while (n < 0 && errno == EINTR);
			if (n < 0)
				return -errno;
			XXH3_128bits_update(h->state, h->buf, (size_t)n);
			total += (uint64_t)n;
		}
	}
	XXH128_canonicalFromHash(&c, XXH3_128bits_digest(h->state));
	memcpy(ret, c.digest, MANIFEST_DIGEST_LEN);
	if (ret_bytes)
		*ret_bytes = total;
	return 0;
}
