// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The inode map file, version 1. All integers are little-endian.
 *
 *   map     := header record{count}
 *   header  := "SFIM"       4 bytes, magic
 *              version      u32, 1
 *              count        u64, records that follow
 *              checksum     u64, XXH3-64 (seed 0) of all record bytes
 *              reserved     u64, zero
 *              (32 bytes: HEADER_SIZE)
 *   record  := copy_ino u64, ino u64, ctime_sec i64 (two's complement),
 *              ctime_nsec u32 (below 10^9), nlink u32
 *              (32 bytes: RECORD_SIZE)
 *
 * Records are sorted by copy_ino, each copy_ino once, so a lookup is a
 * binary search in the mapped file. The file is exactly header plus records:
 * its size tells a truncated map from a whole one before the checksum does.
 * Opening reads the whole map once (checksum and order), so that lookups
 * afterwards can trust every record; at 32 bytes a file this costs a few
 * milliseconds per million files.
 */
#include <endian.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/mman.h>
#include <xxhash.h>

#include "inomap.h"

#define MAGIC "SFIM"
#define VERSION 1
#define HEADER_SIZE 32
#define RECORD_SIZE 32
#define NSEC_PER_SEC 1000000000u
/* records encoded and written at a time */
#define WRITE_CHUNK 2048

struct inomap_writer {
	struct inomap_record *recs;
	size_t n, cap;
};

struct inomap {
	void *map;
	size_t size;
	uint64_t count;
	const uint8_t *recs; /* inside map, after the header */
};

/* Unaligned, endian-independent access: the mapped bytes are never cast to a struct. */
static uint32_t get_le32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return le32toh(v);
}

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, sizeof(v));
}

static void put_le64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, sizeof(v));
}

static void record_encode(const struct inomap_record *r, uint8_t *p)
{
	put_le64(p, r->copy_ino);
	put_le64(p + 8, r->ino);
	put_le64(p + 16, (uint64_t)r->ctime_sec);
	put_le32(p + 24, r->ctime_nsec);
	put_le32(p + 28, r->nlink);
}

static void record_decode(const uint8_t *p, struct inomap_record *r)
{
	r->copy_ino = get_le64(p);
	r->ino = get_le64(p + 8);
	r->ctime_sec = (int64_t)get_le64(p + 16);
	r->ctime_nsec = get_le32(p + 24);
	r->nlink = get_le32(p + 28);
}

int inomap_writer_new(struct inomap_writer **ret)
{
	struct inomap_writer *w = calloc(1, sizeof(*w));

	if (!w)
		return -ENOMEM;
	*ret = w;
	return 0;
}

void inomap_writer_free(struct inomap_writer *w)
{
	if (!w)
		return;
	free(w->recs);
	free(w);
}

uint64_t inomap_writer_count(const struct inomap_writer *w)
{
	return w->n;
}

int inomap_writer_add(struct inomap_writer *w, const struct inomap_record *r)
{
	if (r->ctime_nsec >= NSEC_PER_SEC)
		return -EINVAL;
	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 1024;
		struct inomap_record *recs;

		if (cap < w->cap)
			return -ENOMEM;
		recs = reallocarray(w->recs, cap, sizeof(*recs));
		if (!recs)
			return -ENOMEM;
		w->recs = recs;
		w->cap = cap;
	}
	w->recs[w->n++] = *r;
	return 0;
}

static int record_cmp(const void *a, const void *b)
{
	const struct inomap_record *x = a, *y = b;

	return x->copy_ino < y->copy_ino ? -1 : x->copy_ino > y->copy_ino;
}

static bool record_same(const struct inomap_record *a, const struct inomap_record *b)
{
	return a->copy_ino == b->copy_ino && a->ino == b->ino && a->ctime_sec == b->ctime_sec &&
	       a->ctime_nsec == b->ctime_nsec && a->nlink == b->nlink;
}

/*
 * Sorts and collapses the names of one inode into one record. Two names of
 * one copy inode that disagree mean the copier saw the original change
 * between them (or a bug): no single answer is right, so nothing is written.
 */
static int sort_unique(struct inomap_writer *w)
{
	size_t out = 0;

	if (w->n > 1)
		qsort(w->recs, w->n, sizeof(*w->recs), record_cmp);
	for (size_t i = 0; i < w->n; i++) {
		if (out > 0 && w->recs[out - 1].copy_ino == w->recs[i].copy_ino) {
			if (!record_same(&w->recs[out - 1], &w->recs[i]))
				return -EINVAL;
			continue;
		}
		w->recs[out++] = w->recs[i];
	}
	w->n = out;
	return 0;
}

static int pwrite_all(int fd, const uint8_t *p, size_t len, off_t off)
{
	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

/* Records after the header, then the header with their checksum. */
static int write_map(const struct inomap_writer *w, int fd)
{
	_cleanup_free_ uint8_t *buf = malloc(WRITE_CHUNK * RECORD_SIZE);
	uint8_t header[HEADER_SIZE] = { 0 };
	XXH3_state_t *state = XXH3_createState();
	off_t off = HEADER_SIZE;
	int r = 0;

	if (!buf || !state || XXH3_64bits_reset(state) != XXH_OK) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < w->n; i += WRITE_CHUNK) {
		size_t k = w->n - i < WRITE_CHUNK ? w->n - i : WRITE_CHUNK;

		for (size_t j = 0; j < k; j++)
			record_encode(&w->recs[i + j], buf + j * RECORD_SIZE);
		(void)XXH3_64bits_update(state, buf, k * RECORD_SIZE);
		r = pwrite_all(fd, buf, k * RECORD_SIZE, off);
		if (r < 0)
			goto out;
		off += (off_t)(k * RECORD_SIZE);
	}
	memcpy(header, MAGIC, 4);
	put_le32(header + 4, VERSION);
	put_le64(header + 8, w->n);
	put_le64(header + 16, XXH3_64bits_digest(state));
	r = pwrite_all(fd, header, sizeof(header), 0);
out:
	XXH3_freeState(state);
	return r;
}

int inomap_writer_commit(struct inomap_writer *w, int dirfd, const char *name)
{
	static atomic_uint counter;
	char tmp[NAME_MAX + 1];
	_cleanup_close_ int fd = -1;
	int r, n;

	r = sort_unique(w);
	if (r < 0)
		return r;
	/* a name of our own beside the target, so that a crash leaves the old map whole */
	for (unsigned tries = 0; fd < 0; tries++) {
		n = snprintf(tmp, sizeof(tmp), ".%s.%ld.%u.tmp", name, (long)getpid(),
			     atomic_fetch_add(&counter, 1));
		if (n < 0 || (size_t)n >= sizeof(tmp))
			return -ENAMETOOLONG;
		fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (fd < 0 && (errno != EEXIST || tries >= 100))
			return -errno;
	}
	r = write_map(w, fd);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (r == 0 && close(TAKE_FD(fd)) < 0)
		r = -errno;
	if (r == 0 && renameat(dirfd, tmp, dirfd, name) < 0)
		r = -errno;
	if (r < 0) {
		(void)unlinkat(dirfd, tmp, 0);
		return r;
	}
	/* the rename is durable only once the directory is */
	if (fsync(dirfd) < 0)
		return -errno;
	return 0;
}

void inomap_close(struct inomap *m)
{
	if (!m)
		return;
	if (m->map)
		munmap(m->map, m->size);
	free(m);
}

uint64_t inomap_count(const struct inomap *m)
{
	return m->count;
}

/* Everything a lookup later relies on, checked once. */
static int check_map(struct inomap *m)
{
	const uint8_t *h = m->map;
	uint64_t prev = 0;

	if (memcmp(h, MAGIC, 4) != 0 || get_le32(h + 4) != VERSION || get_le64(h + 24) != 0)
		return -EBADMSG;
	m->count = get_le64(h + 8);
	if ((m->size - HEADER_SIZE) % RECORD_SIZE != 0 ||
	    (m->size - HEADER_SIZE) / RECORD_SIZE != m->count)
		return -EBADMSG;
	m->recs = h + HEADER_SIZE;
	if (XXH3_64bits(m->recs, m->size - HEADER_SIZE) != get_le64(h + 16))
		return -EBADMSG;
	for (uint64_t i = 0; i < m->count; i++) {
		const uint8_t *p = m->recs + i * RECORD_SIZE;
		uint64_t ino = get_le64(p);

		if ((i > 0 && ino <= prev) || get_le32(p + 24) >= NSEC_PER_SEC)
			return -EBADMSG;
		prev = ino;
	}
	return 0;
}

int inomap_open(int dirfd, const char *name, struct inomap **ret)
{
	_cleanup_close_ int fd = -1;
	struct inomap *m;
	struct stat st;
	int r;

	/* O_NONBLOCK: a FIFO in its place must not hang the caller */
	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || st.st_size < HEADER_SIZE)
		return -EBADMSG;
	if ((uint64_t)st.st_size > SIZE_MAX)
		return -EFBIG;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->size = (size_t)st.st_size;
	m->map = mmap(NULL, m->size, PROT_READ, MAP_SHARED, fd, 0);
	if (m->map == MAP_FAILED) {
		r = -errno;
		m->map = NULL;
		inomap_close(m);
		return r;
	}
	r = check_map(m);
	if (r < 0) {
		inomap_close(m);
		return r;
	}
	*ret = m;
	return 0;
}

int inomap_open_beside(const char *snapshot, struct inomap **ret)
{
	const size_t tree_len = strlen(INOMAP_TREE);
	_cleanup_free_ char *dir = NULL;
	_cleanup_close_ int dfd = -1;
	size_t len = strlen(snapshot), base;

	while (len > 1 && snapshot[len - 1] == '/')
		len--;
	base = len;
	while (base > 0 && snapshot[base - 1] != '/')
		base--;
	if (len - base != tree_len || memcmp(snapshot + base, INOMAP_TREE, tree_len) != 0)
		return -EINVAL;
	/* the container: what precedes the last component ("/" and "." at the ends) */
	if (base == 0)
		dir = strdup(".");
	else
		dir = strndup(snapshot, base > 1 ? base - 1 : 1);
	if (!dir)
		return -ENOMEM;
	dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	return inomap_open(dfd, INOMAP_FILE, ret);
}

const struct inomap_record *inomap_find(const struct inomap *m, uint64_t copy_ino,
					struct inomap_record *buf)
{
	uint64_t lo = 0, hi = m->count;

	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		const uint8_t *p = m->recs + mid * RECORD_SIZE;
		uint64_t x = get_le64(p);

		if (x == copy_ino) {
			record_decode(p, buf);
			return buf;
		}
		if (x < copy_ino)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

int inomap_apply(const struct inomap *m, struct stat *st)
{
	struct inomap_record r;

	if (!inomap_find(m, (uint64_t)st->st_ino, &r))
		return -ENOENT;
	if ((uint64_t)(ino_t)r.ino != r.ino || (int64_t)(time_t)r.ctime_sec != r.ctime_sec ||
	    (uint64_t)(nlink_t)r.nlink != r.nlink)
		return -EOVERFLOW;
	st->st_ino = (ino_t)r.ino;
	st->st_ctim.tv_sec = (time_t)r.ctime_sec;
	st->st_ctim.tv_nsec = (long)r.ctime_nsec;
	st->st_nlink = (nlink_t)r.nlink;
	return 0;
}
