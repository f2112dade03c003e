// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * stillfs-bench-tree: makes the fixtures of tools/bench-view, fast. Content
 * comes from a seeded splitmix64 generator (incompressible, and much faster
 * than /dev/urandom); files are made with openat() relative to the held
 * directory descriptor, so each entry costs one name lookup, not a path walk.
 *
 *   stillfs-bench-tree big PATH SIZE             one file of SIZE bytes
 *   stillfs-bench-tree small DIR COUNT MIN MAX   COUNT files of MIN..MAX bytes
 *                                                (uniform), 1000 per directory
 *   stillfs-bench-tree walk DIR COUNT            COUNT entries, 1000 per
 *                                                directory: mostly empty files,
 *                                                every 10th 1-64 bytes, every
 *                                                100th a symlink
 *
 * SIZE, MIN and MAX take a K, M or G suffix (powers of 1024). DIR must not
 * exist yet. Exit 0 on success, 1 on failure (one line on stderr), 2 on usage.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"

#define PER_DIR 1000
#define BUFFER_SIZE (1024 * 1024)

/* splitmix64 (Vigna): one add and a few multiplies per 8 bytes. */
struct rng {
	uint64_t state;
};

/* Seeds from the name made, so that files of one size still differ (FNV-1a). */
static struct rng rng_seeded(const char *name)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325);

	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		h = (h ^ *p) * UINT64_C(0x100000001b3);
	return (struct rng){.state = h};
}

static uint64_t rng_next(struct rng *g)
{
	uint64_t z = (g->state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* Fills buf with n random bytes (n rounded up to whole words; buf must hold that). */
static void rng_fill(struct rng *g, void *buf, size_t n)
{
	uint64_t *w = buf;

	for (size_t i = 0; i < (n + 7) / 8; i++)
		w[i] = rng_next(g);
}

/* A number in [lo, hi]; the tiny bias of the modulo does not matter for sizes. */
static uint64_t rng_range(struct rng *g, uint64_t lo, uint64_t hi)
{
	return lo + rng_next(g) % (hi - lo + 1);
}

static int write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n > 0) {
		ssize_t k = write(fd, p, n);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* Writes size random bytes to a new file name in dir_fd. */
static int make_file(int dir_fd, const char *name, uint64_t size, struct rng *g, void *buf)
{
	_cleanup_close_ int fd = -1;

	fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	while (size > 0) {
		size_t n = size < BUFFER_SIZE ? (size_t)size : BUFFER_SIZE;
		int r;

		rng_fill(g, buf, n);
		r = write_all(fd, buf, n);
		if (r < 0)
			return r;
		size -= n;
	}
	return 0;
}

/* Makes path (must not exist) and returns a descriptor of it. */
static int make_dir(int at_fd, const char *path)
{
	int fd;

	if (mkdirat(at_fd, path, 0755) < 0)
		return -errno;
	fd = openat(at_fd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/*
 * The leaf directory for entry i of a tree under top_fd: a new one every
 * PER_DIR entries, named d000000, d000001, ... *leaf_fd is replaced.
 */
static int leaf_for(int top_fd, uint64_t i, int *leaf_fd)
{
	char name[32];
	int fd;

	if (i % PER_DIR != 0)
		return 0;
	snprintf(name, sizeof(name), "d%06" PRIu64, i / PER_DIR);
	fd = make_dir(top_fd, name);
	if (fd < 0)
		return fd;
	closep(leaf_fd);
	*leaf_fd = fd;
	return 0;
}

static int cmd_big(const char *path, uint64_t size)
{
	_cleanup_free_ void *buf = NULL;
	struct rng g = rng_seeded(path);
	int r;

	buf = malloc(BUFFER_SIZE);
	if (!buf)
		return log_error_errno(-ENOMEM, "cannot allocate a buffer");
	r = make_file(AT_FDCWD, path, size, &g, buf);
	if (r < 0)
		return log_error_errno(r, "cannot write '%s'", path);
	return 0;
}

static int cmd_small(const char *dir, uint64_t count, uint64_t min, uint64_t max)
{
	_cleanup_free_ void *buf = NULL;
	_cleanup_close_ int top_fd = -1, leaf_fd = -1;
	struct rng g = rng_seeded(dir);
	int r;

	buf = malloc(BUFFER_SIZE);
	if (!buf)
		return log_error_errno(-ENOMEM, "cannot allocate a buffer");
	top_fd = make_dir(AT_FDCWD, dir);
	if (top_fd < 0)
		return log_error_errno(top_fd, "cannot make directory '%s'", dir);
	for (uint64_t i = 0; i < count; i++) {
		char name[32];

		r = leaf_for(top_fd, i, &leaf_fd);
		if (r < 0)
			return log_error_errno(r, "cannot make a directory in '%s'", dir);
		snprintf(name, sizeof(name), "f%03" PRIu64, i % PER_DIR);
		r = make_file(leaf_fd, name, rng_range(&g, min, max), &g, buf);
		if (r < 0)
			return log_error_errno(r, "cannot write file %" PRIu64 " in '%s'", i, dir);
	}
	return 0;
}

static int cmd_walk(const char *dir, uint64_t count)
{
	_cleanup_close_ int top_fd = -1, leaf_fd = -1;
	struct rng g = rng_seeded(dir);
	uint64_t buf[8];
	int r;

	top_fd = make_dir(AT_FDCWD, dir);
	if (top_fd < 0)
		return log_error_errno(top_fd, "cannot make directory '%s'", dir);
	for (uint64_t i = 0; i < count; i++) {
		char name[32];

		r = leaf_for(top_fd, i, &leaf_fd);
		if (r < 0)
			return log_error_errno(r, "cannot make a directory in '%s'", dir);
		snprintf(name, sizeof(name), "e%03" PRIu64, i % PER_DIR);
		if (i % 100 == 99) {
			/* a relative link to the first entry of its directory */
			r = symlinkat("e000", leaf_fd, name) < 0 ? -errno : 0;
		} else {
			r = make_file(leaf_fd, name,
				      i % 10 == 0 ? rng_range(&g, 1, sizeof(buf)) : 0, &g, buf);
		}
		if (r < 0)
			return log_error_errno(r, "cannot make entry %" PRIu64 " in '%s'", i, dir);
	}
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: stillfs-bench-tree big PATH SIZE\n"
		   "       stillfs-bench-tree small DIR COUNT MIN MAX\n"
		   "       stillfs-bench-tree walk DIR COUNT\n");
}

int main(int argc, char **argv)
{
	uint64_t a = 0, b = 0, c = 0;
	bool ok;
	int r;

	log_set_program("stillfs-bench-tree");
	if (argc == 2 && (streq(argv[1], "-h") || streq(argv[1], "--help"))) {
		usage(stdout);
		return 0;
	}
	if (argc == 4 && streq(argv[1], "big"))
		ok = bytesize_parse(argv[3], &a) >= 0;
	else if (argc == 6 && streq(argv[1], "small"))
		ok = bytesize_parse(argv[3], &a) >= 0 && bytesize_parse(argv[4], &b) >= 0 &&
		     bytesize_parse(argv[5], &c) >= 0 && b <= c && c < UINT64_MAX;
	else if (argc == 4 && streq(argv[1], "walk"))
		ok = bytesize_parse(argv[3], &a) >= 0;
	else
		ok = false;
	if (!ok) {
		usage(stderr);
		return 2;
	}

	if (streq(argv[1], "big"))
		r = cmd_big(argv[2], a);
	else if (streq(argv[1], "small"))
		r = cmd_small(argv[2], a, b, c);
	else
		r = cmd_walk(argv[2], a);
	return r < 0 ? 1 : 0;
}
