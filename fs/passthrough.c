// SPDX-License-Identifier: GPL-2.0-or-later
/* FUSE passthrough for libfuse 3.14: see passthrough.h. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include "passthrough-wire.h"
#include "passthrough.h"
#include "view-internal.h"

/* The registration shared by the opens of one node. */
struct backing {
	uint64_t ino;
	int32_t id;
	uint32_t opens;
};

struct passthrough {
	int dev_fd; /* the session's /dev/fuse descriptor */
	atomic_bool offered;
	atomic_bool refusal_logged;
	pthread_mutex_t lock;
	struct backing *open; /* the nodes open through passthrough: few at a time */
	size_t n_open, cap_open;
};

/*
 * What the reply this thread sends next must say. libfuse answers INIT and
 * OPEN from the handler, in the thread that read the request, so the
 * handler leaves the amendment here and the writer below applies it.
 */
static _Thread_local struct {
	bool init;
	int32_t backing_id; /* 0: none */
} pending;

int passthrough_new(struct passthrough **ret)
{
	struct passthrough *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->dev_fd = -1;
	pthread_mutex_init(&p->lock, NULL);
	*ret = p;
	return 0;
}

void passthrough_free(struct passthrough *p)
{
	if (!p)
		return;
	pthread_mutex_destroy(&p->lock);
	free(p->open);
	free(p);
}

/* (the custom I/O gets the session's userdata: the view) */
static ssize_t pt_read(int fd, void *buf, size_t len, void *userdata)
{
	struct passthrough *p = ((struct view *)userdata)->passthrough;
	ssize_t n = read(fd, buf, len);

	if (n > 0 && !atomic_load(&p->offered) && pt_wire_init_offers(buf, (size_t)n))
		atomic_store(&p->offered, true);
	return n;
}

static ssize_t pt_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	union {
		struct fuse_init_out init;
		struct fuse_open_out open;
	} copy;

	/* iov[0] is the reply's header, iov[1] its argument; the argument is libfuse's own */
	if (pending.init && count >= 2 && iov[1].iov_len == sizeof(copy.init)) {
		memcpy(&copy.init, iov[1].iov_base, sizeof(copy.init));
		pt_wire_amend_init(&copy.init);
		iov[1].iov_base = &copy.init;
	} else if (pending.backing_id > 0 && count >= 2 &&
		   iov[1].iov_len == sizeof(copy.open)) {
		memcpy(&copy.open, iov[1].iov_base, sizeof(copy.open));
		pt_wire_amend_open(&copy.open, pending.backing_id);
		iov[1].iov_base = &copy.open;
	}
	pending.init = false;
	pending.backing_id = 0;
	return writev(fd, iov, count);
}

int passthrough_install(struct passthrough *p, struct fuse_session *se)
{
	static const struct fuse_custom_io io = {
		.read = pt_read,
		.writev = pt_writev,
	};
	int fd = fuse_session_fd(se);

	if (fd < 0)
		return -EBADF;
	p->dev_fd = fd;
	/* the same descriptor: libfuse keeps closing it as before */
	return fuse_session_custom_io(se, &io, fd) < 0 ? -EINVAL : 0;
}

bool passthrough_init(struct passthrough *p)
{
	if (!atomic_load(&p->offered))
		return false;
	pending.init = true;
	return true;
}

static struct backing *backing_find(struct passthrough *p, uint64_t ino)
{
	for (size_t i = 0; i < p->n_open; i++)
		if (p->open[i].ino == ino)
			return &p->open[i];
	return NULL;
}

static void refusal(struct passthrough *p, int err)
{
	if (!atomic_exchange(&p->refusal_logged, true))
		log_info("the kernel refused passthrough (%s): files are read through the "
			 "daemon instead", strerror(err));
}

bool passthrough_open(struct passthrough *p, fuse_ino_t ino, int fd)
{
	struct pt_backing_map map = { .fd = fd };
	struct backing *b;
	int id = 0;

	pthread_mutex_lock(&p->lock);
	b = backing_find(p, ino);
	if (!b && p->n_open == p->cap_open) {
		size_t cap = p->cap_open ? 2 * p->cap_open : 16;
		struct backing *grown = reallocarray(p->open, cap, sizeof(*grown));

		if (grown) {
			p->open = grown;
			p->cap_open = cap;
		}
	}
	if (!b && p->n_open < p->cap_open) {
		id = ioctl(p->dev_fd, PT_DEV_IOC_BACKING_OPEN, &map);
		if (id > 0) {
			b = &p->open[p->n_open++];
			*b = (struct backing){ .ino = ino, .id = id };
		} else {
			refusal(p, id < 0 ? errno : EINVAL);
		}
	}
	if (b) {
		b->opens++;
		pending.backing_id = b->id;
	}
	pthread_mutex_unlock(&p->lock);
	return b != NULL;
}

void passthrough_release(struct passthrough *p, fuse_ino_t ino)
{
	struct backing *b;

	pthread_mutex_lock(&p->lock);
	b = backing_find(p, ino);
	if (b && --b->opens == 0) {
		uint32_t id = (uint32_t)b->id;

		/* the kernel keeps its own reference while the inode is open */
		if (ioctl(p->dev_fd, PT_DEV_IOC_BACKING_CLOSE, &id) < 0)
			log_error("cannot drop the backing file of inode %#jx: %s", (uintmax_t)ino,
				  strerror(errno));
		*b = p->open[--p->n_open];
	}
	pthread_mutex_unlock(&p->lock);
}
