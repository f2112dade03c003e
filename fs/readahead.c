// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The kernel's readahead for the view. A FUSE connection starts with the
 * default 128 KiB window, and the daemon can only lower it through FUSE_INIT;
 * root can raise it afterwards through the connection's backing device info.
 * A larger window turns a sequential read into fewer, larger READ requests,
 * and with several in flight the daemon reads the snapshot in parallel.
 */
#include <stdio.h>

#include "view-internal.h"

/* four READs of 1 MiB (the largest libfuse accepts) in flight */
#define VIEW_READAHEAD_KB 4096

static int raise_readahead(const char *mountpoint, unsigned int kb)
{
	struct mount_entry m;
	char path[128], buf[32];
	_cleanup_close_ int fd = -1;
	ssize_t n;
	int r;

	r = mountinfo_is_mount_point(mountpoint, &m);
	if (r <= 0)
		return r < 0 ? r : -ENOENT;
	snprintf(path, sizeof(path), "/sys/class/bdi/%u:%u/read_ahead_kb", m.major, m.minor);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	if (strtoul(buf, NULL, 10) >= kb)
		return 0;
	n = snprintf(buf, sizeof(buf), "%u\n", kb);
	if (pwrite(fd, buf, (size_t)n, 0) != n)
		return -errno;
	return 0;
}

void view_readahead_once(struct view *v)
{
	int r;

	if (!atomic_load_explicit(&v->readahead_pending, memory_order_relaxed) ||
	    !atomic_exchange(&v->readahead_pending, false))
		return;
	r = raise_readahead(v->opts->mountpoint, VIEW_READAHEAD_KB);
	if (r < 0)
		log_info("readahead on '%s' stays at the kernel's default: %s",
			 v->opts->mountpoint, strerror(-r));
}
