// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "statpool.h"

struct job {
	struct stat_batch *b;
	atomic_size_t next; /* the first name nobody has taken */
};

struct statpool {
	pthread_mutex_t lock;
	pthread_cond_t wake; /* a job is offered, or stop */
	pthread_cond_t idle; /* the helper let go of its job */
	struct job *offered; /* not yet taken by the helper */
	struct job *active;  /* the helper's */
	bool stop;
	pthread_t thread;
};

/* Takes names from the job until none are left. */
static void work(struct job *j)
{
	struct stat_batch *b = j->b;
	size_t i;

	while ((i = atomic_fetch_add(&j->next, 1)) < b->n)
		b->err[i] = fstatat(b->dirfd, b->names[i], &b->st[i], AT_SYMLINK_NOFOLLOW) < 0
				    ? errno
				    : 0;
}

static void *helper_main(void *arg)
{
	struct statpool *p = arg;

	pthread_mutex_lock(&p->lock);
	while (!p->stop) {
		if (!p->offered) {
			pthread_cond_wait(&p->wake, &p->lock);
			continue;
		}
		p->active = p->offered;
		p->offered = NULL;
		pthread_mutex_unlock(&p->lock);
		work(p->active);
		pthread_mutex_lock(&p->lock);
		p->active = NULL;
		pthread_cond_broadcast(&p->idle);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

int statpool_new(struct statpool **ret)
{
	struct statpool *p = calloc(1, sizeof(*p));
	int r;

	if (!p)
		return -ENOMEM;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->wake, NULL);
	pthread_cond_init(&p->idle, NULL);
	r = pthread_create(&p->thread, NULL, helper_main, p);
	if (r != 0) {
		pthread_cond_destroy(&p->idle);
		pthread_cond_destroy(&p->wake);
		pthread_mutex_destroy(&p->lock);
		free(p);
		return -r;
	}
	*ret = p;
	return 0;
}

void statpool_free(struct statpool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_signal(&p->wake);
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->thread, NULL);
	pthread_cond_destroy(&p->idle);
	pthread_cond_destroy(&p->wake);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

void statpool_run(struct statpool *p, struct stat_batch *b)
{
	struct job j = { .b = b };
	bool offered = false;

	atomic_init(&j.next, 0);
	if (p && b->n > 1) {
		pthread_mutex_lock(&p->lock);
		if (!p->offered && !p->active) {
			p->offered = &j;
			offered = true;
			pthread_cond_signal(&p->wake);
		}
		pthread_mutex_unlock(&p->lock);
	}
	work(&j);
	if (!offered)
		return;
	/* the job lives on this stack: the helper must be done with it */
	pthread_mutex_lock(&p->lock);
	if (p->offered == &j)
		p->offered = NULL;
	while (p->active == &j)
		pthread_cond_wait(&p->idle, &p->lock);
	pthread_mutex_unlock(&p->lock);
}
