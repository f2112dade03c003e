// SPDX-License-Identifier: GPL-2.0-or-later
/* Digests of file content and extended attributes; entry metadata from stat. */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/xattr.h>

/* for a state on the stack where a digest cannot report a failed allocation */
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "macro.h"
#include "manifest.h"

/* Attempts at reading a list or value that keeps changing size under us. */
#define XATTR_ATTEMPTS 16

static void digest_store(XXH128_hash_t h, uint8_t ret[MANIFEST_DIGEST_LEN])
{
	XXH128_canonical_t c;

	XXH128_canonicalFromHash(&c, h);
	memcpy(ret, c.digest, MANIFEST_DIGEST_LEN);
}

int manifest_content_digest_fd(int fd, uint8_t ret[MANIFEST_DIGEST_LEN], uint64_t *ret_bytes)
{
	struct manifest_hasher *h = NULL;
	int r = manifest_hasher_new(&h);

	if (r < 0)
		return r;
	r = manifest_hasher_fd(h, fd, ret, ret_bytes);
	manifest_hasher_free(h);
	return r;
}

static int xattr_cmp(const void *a, const void *b)
{
	const struct manifest_xattr *x = a, *y = b;

	/* strcmp() compares as unsigned char: the order of the name bytes */
	return strcmp(x->name, y->name);
}

void manifest_xattr_digest(struct manifest_xattr *items, size_t n,
			   uint8_t ret[MANIFEST_DIGEST_LEN])
{
	XXH3_state_t state;

	if (n > 1)
		qsort(items, n, sizeof(*items), xattr_cmp);

	XXH3_INITSTATE(&state);
	XXH3_128bits_reset(&state);
	for (size_t i = 0; i < n; i++) {
		/*
		 * Values longer than 4 GiB cannot come from Linux (64 KiB at
		 * most); the archive reader refuses them before they get here.
		 */
		uint32_t len = (uint32_t)items[i].size;
		uint8_t be[4] = {len >> 24, len >> 16, len >> 8, len};

		XXH3_128bits_update(&state, items[i].name, strlen(items[i].name) + 1);
		XXH3_128bits_update(&state, be, sizeof(be));
		if (items[i].size > 0)
			XXH3_128bits_update(&state, items[i].value, items[i].size);
	}
	digest_store(XXH3_128bits_digest(&state), ret);
}

static ssize_t xattr_call(const char *path, const char *name, void *buf, size_t size)
{
	return name ? lgetxattr(path, name, buf, size) : llistxattr(path, buf, size);
}

/*
 * Reads the attribute list of `path` (name NULL) or one value into a new
 * buffer with a NUL after its `*ret_size` bytes. Another process may change
 * the size between asking for it and reading, which the second call reports
 * as ERANGE: ask again, with room for at least twice as much.
 */
static int xattr_read(const char *path, const char *name, char **ret, size_t *ret_size)
{
	_cleanup_free_ char *buf = NULL;
	size_t want = 0;

	for (unsigned attempt = 0; attempt < XATTR_ATTEMPTS; attempt++) {
		size_t size;
		ssize_t n;
		char *p;

		n = xattr_call(path, name, NULL, 0);
		if (n < 0)
			return -errno;
		size = (size_t)n > want ? (size_t)n : want;
		p = realloc(buf, size + 1);
		if (!p)
			return -ENOMEM;
		buf = p;
		/* size 0: an empty list or value, nothing to read */
		n = size > 0 ? xattr_call(path, name, buf, size) : 0;
		if (n >= 0) {
			buf[n] = '\0';
			*ret = TAKE_PTR(buf);
			*ret_size = (size_t)n;
			return 0;
		}
		if (errno != ERANGE)
			return -errno;
		want = size * 2;
	}
	return -EAGAIN;
}

struct xattr_set {
	struct manifest_xattr *items;
	size_t n;
};

static void xattr_set_release(struct xattr_set *s)
{
	for (size_t i = 0; i < s->n; i++)
		free((void *)s->items[i].value);
	free(s->items);
}

static int xattr_path(int dirfd, const char *name, char **ret)
{
	bool self = name[0] == '\0' || streq(name, ".");
	char *p;

	if (dirfd == AT_FDCWD)
		p = strdup(self ? "." : name);
	else if (dirfd < 0)
		return -EBADF;
	/*
	 * The path through /proc names the entry without opening it (opening a
	 * fifo could block, a device could act on it) and works for a dirfd
	 * opened with O_PATH, which the f*xattr() calls refuse. A trailing "."
	 * makes the l*xattr() calls resolve the magic link to the directory.
	 */
	else if (asprintf(&p, "/proc/self/fd/%d/%s", dirfd, self ? "." : name) < 0)
		p = NULL;
	if (!p)
		return -ENOMEM;
	*ret = p;
	return 0;
}

int manifest_xattr_digest_at(int dirfd, const char *name, uint8_t ret[MANIFEST_DIGEST_LEN])
{
	_cleanup_(xattr_set_release) struct xattr_set set = {0};
	_cleanup_free_ char *path = NULL, *list = NULL;
	size_t list_size, count = 0;
	int r;

	r = xattr_path(dirfd, name, &path);
	if (r < 0)
		return r;
	r = xattr_read(path, NULL, &list, &list_size);
	if (r == -ENOTSUP || r == -ENODATA)
		list_size = 0;
	else if (r < 0)
		return r;

	for (size_t off = 0; off < list_size; off += strlen(list + off) + 1)
		count++;
	if (count > 0) {
		set.items = calloc(count, sizeof(*set.items));
		if (!set.items)
			return -ENOMEM;
	}

	for (size_t off = 0; off < list_size; off += strlen(list + off) + 1) {
		const char *n = list + off;
		char *value;
		size_t size;

		if (n[0] == '\0')
			continue;
		r = xattr_read(path, n, &value, &size);
		/* removed since the list was read */
		if (r == -ENODATA)
			continue;
		if (r < 0)
			return r;
		set.items[set.n++] = (struct manifest_xattr){n, value, size};
	}

	if (set.n == 0) {
		memset(ret, 0, MANIFEST_DIGEST_LEN);
		return 0;
	}
	manifest_xattr_digest(set.items, set.n, ret);
	return 1;
}

int manifest_entry_from_stat(const struct stat *st, struct manifest_entry *ret)
{
	bool device = false, sized = false;
	char type;

	switch (st->st_mode & S_IFMT) {
	case S_IFREG:
		type = MANIFEST_REG;
		sized = true;
		break;
	case S_IFLNK:
		type = MANIFEST_LNK;
		sized = true;
		break;
	case S_IFDIR:
		type = MANIFEST_DIR;
		break;
	case S_IFCHR:
		type = MANIFEST_CHR;
		device = true;
		break;
	case S_IFBLK:
		type = MANIFEST_BLK;
		device = true;
		break;
	case S_IFIFO:
		type = MANIFEST_FIFO;
		break;
	case S_IFSOCK:
		type = MANIFEST_SOCK;
		break;
	default:
		return -EINVAL;
	}

	ret->type = type;
	ret->mode = st->st_mode & 07777;
	ret->uid = st->st_uid;
	ret->gid = st->st_gid;
	/*
	 * A directory's size is the filesystem's business (btrfs counts name
	 * bytes, ext4 blocks): it would make equal trees differ. Other
	 * non-files have none to speak of.
	 */
	ret->size = sized ? (uint64_t)st->st_size : 0;
	ret->mtime_sec = st->st_mtim.tv_sec;
	ret->mtime_nsec = (uint32_t)st->st_mtim.tv_nsec;
	ret->ctime_sec = st->st_ctim.tv_sec;
	ret->ctime_nsec = (uint32_t)st->st_ctim.tv_nsec;
	ret->ino = st->st_ino;
	ret->nlink = st->st_nlink;
	ret->rdev = device ? st->st_rdev : 0;
	return 0;
}

void manifest_digest_hex(const uint8_t d[MANIFEST_DIGEST_LEN], char ret[2 * MANIFEST_DIGEST_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < MANIFEST_DIGEST_LEN; i++) {
		ret[2 * i] = hex[d[i] >> 4];
		ret[2 * i + 1] = hex[d[i] & 0xf];
	}
	ret[2 * MANIFEST_DIGEST_LEN] = '\0';
}
