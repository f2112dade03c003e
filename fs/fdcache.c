// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A handful of slots searched linearly under one mutex: a lookup compares a
 * few dozen integers, far less than the open it saves.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "fdcache.h"

struct slot {
	uint64_t id;
	int fd;               /* -1: free */
	unsigned int users;   /* requests reading from it now */
	uint64_t last_ns;     /* when last handed back */
};

struct fdcache {
	pthread_mutex_t lock;
	unsigned int size;
	struct slot slots[];
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int fdcache_new(unsigned int size, struct fdcache **ret)
{
	struct fdcache *c = calloc(1, sizeof(*c) + size * sizeof(struct slot));

	if (!c)
		return -ENOMEM;
	pthread_mutex_init(&c->lock, NULL);
	c->size = size;
	for (unsigned int i = 0; i < size; i++)
		c->slots[i].fd = -1;
	*ret = c;
	return 0;
}

void fdcache_free(struct fdcache *c)
{
	if (!c)
		return;
	for (unsigned int i = 0; i < c->size; i++)
		if (c->slots[i].fd >= 0)
			close(c->slots[i].fd);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static struct slot *find(struct fdcache *c, uint64_t id)
{
	for (unsigned int i = 0; i < c->size; i++)
		if (c->slots[i].fd >= 0 && c->slots[i].id == id)
			return &c->slots[i];
	return NULL;
}

/* A free slot, else the idle one used longest ago (its descriptor closed); NULL if all busy. */
static struct slot *make_room(struct fdcache *c)
{
	struct slot *victim = NULL;

	for (unsigned int i = 0; i < c->size; i++) {
		struct slot *s = &c->slots[i];

		if (s->fd < 0)
			return s;
		if (s->users == 0 && (!victim || s->last_ns < victim->last_ns))
			victim = s;
	}
	if (victim) {
		close(victim->fd);
		victim->fd = -1;
	}
	return victim;
}

int fdcache_get(struct fdcache *c, uint64_t id, int (*open_fn)(void *userdata), void *userdata)
{
	struct slot *s;
	int fd;

	pthread_mutex_lock(&c->lock);
	s = find(c, id);
	if (s) {
		s->users++;
		pthread_mutex_unlock(&c->lock);
		return s->fd;
	}
	pthread_mutex_unlock(&c->lock);

	/* opened outside the lock: it may wait for the disk */
	fd = open_fn(userdata);
	if (fd == -EMFILE || fd == -ENFILE) {
		/* out of descriptors: what is idle here goes first */
		fdcache_expire(c, 0);
		fd = open_fn(userdata);
	}
	if (fd < 0)
		return fd;
	pthread_mutex_lock(&c->lock);
	s = find(c, id);
	if (s) {
		/* another request opened it meanwhile */
		s->users++;
		pthread_mutex_unlock(&c->lock);
		close(fd);
		return s->fd;
	}
	s = make_room(c);
	if (s) {
		*s = (struct slot){ .id = id, .fd = fd, .users = 1, .last_ns = now_ns() };
	}
	pthread_mutex_unlock(&c->lock);
	return fd;
}

void fdcache_put(struct fdcache *c, uint64_t id, int fd)
{
	struct slot *s;

	pthread_mutex_lock(&c->lock);
	s = find(c, id);
	if (s && s->fd == fd) {
		s->users--;
		s->last_ns = now_ns();
		fd = -1;
	}
	pthread_mutex_unlock(&c->lock);
	if (fd >= 0)
		close(fd);
}

void fdcache_expire(struct fdcache *c, unsigned int idle_ms)
{
	uint64_t limit = now_ns() + 1 - (uint64_t)idle_ms * 1000000u;

	pthread_mutex_lock(&c->lock);
	for (unsigned int i = 0; i < c->size; i++) {
		struct slot *s = &c->slots[i];

		if (s->fd >= 0 && s->users == 0 && s->last_ns < limit) {
			close(s->fd);
			s->fd = -1;
		}
	}
	pthread_mutex_unlock(&c->lock);
}

unsigned int fdcache_count(struct fdcache *c)
{
	unsigned int n = 0;

	pthread_mutex_lock(&c->lock);
	for (unsigned int i = 0; i < c->size; i++)
		n += c->slots[i].fd >= 0;
	pthread_mutex_unlock(&c->lock);
	return n;
}
