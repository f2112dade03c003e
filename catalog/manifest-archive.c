// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Archives read as manifest entries, through libarchive: the adapter that
 * keeps libarchive's conventions (status codes, ACL entries, types) out of
 * the rest of the tree.
 */
#include <archive.h>
#include <archive_entry.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/sysmacros.h>
#include <xxhash.h>

#include "macro.h"
#include "manifest.h"

#define READ_BLOCK_SIZE (1024 * 1024)
#define ZEROS_SIZE (64 * 1024)

#define XATTR_ACL_ACCESS "system.posix_acl_access"
#define XATTR_ACL_DEFAULT "system.posix_acl_default"

/* The binary form of a POSIX ACL in Linux's xattrs (<linux/posix_acl_xattr.h>). */
#define ACL_XATTR_VERSION 2
#define ACL_XATTR_HEADER 4
#define ACL_XATTR_ENTRY 8
#define ACL_TAG_USER_OBJ 0x01
#define ACL_TAG_USER 0x02
#define ACL_TAG_GROUP_OBJ 0x04
#define ACL_TAG_GROUP 0x08
#define ACL_TAG_MASK 0x10
#define ACL_TAG_OTHER 0x20
#define ACL_UNDEFINED_ID UINT32_MAX

struct acl_entry {
	uint16_t tag;
	uint16_t perm;
	uint32_t id;
};

/* A growing byte buffer, reused from member to member. */
struct bytes {
	uint8_t *data;
	size_t size;
	size_t cap;
};

struct manifest_archive {
	struct archive *ar;
	XXH3_state_t *state;
	uint8_t *zeros;
	struct manifest_xattr *xattrs;
	size_t xattrs_cap;
	struct acl_entry *acl;
	size_t acl_cap;
	struct bytes acl_access, acl_default;
	int failure;     /* sticky: every call after an error returns it */
	bool end;        /* libarchive takes a call after the end for an error */
	char msg[512];   /* our own reason for failure[], else libarchive's */
};

static int bytes_reserve(struct bytes *b, size_t size)
{
	uint8_t *p;

	if (size <= b->cap)
		return 0;
	p = realloc(b->data, size);
	if (!p)
		return -ENOMEM;
	b->data = p;
	b->cap = size;
	return 0;
}

static int fail(struct manifest_archive *a, int r, const char *fmt, ...) _printf_(3, 4);
static int fail(struct manifest_archive *a, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(a->msg, sizeof(a->msg), fmt, ap);
	va_end(ap);
	return a->failure = r;
}

/*
 * libarchive reports both system errors (a failed read) and its own verdicts
 * on the data (ARCHIVE_ERRNO_FILE_FORMAT, ARCHIVE_ERRNO_MISC, ...) through
 * archive_errno(); only the former keep their meaning outside.
 */
static int archive_errno_map(struct archive *ar)
{
	int e = archive_errno(ar);

	switch (e) {
	case EIO:
	case ENOMEM:
	case ENOENT:
	case EACCES:
	case EPERM:
	case EISDIR:
	case ENOTDIR:
	case ELOOP:
	case ENAMETOOLONG:
	case ENXIO:
	case ENODEV:
		return -e;
	default:
		return -EBADMSG;
	}
}

static int fail_archive(struct manifest_archive *a)
{
	a->msg[0] = '\0';
	return a->failure = archive_errno_map(a->ar);
}

int manifest_archive_open(const char *path, struct manifest_archive **ret)
{
	struct manifest_archive *a;
	int r;

	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->ar = archive_read_new();
	a->state = XXH3_createState();
	a->zeros = calloc(1, ZEROS_SIZE);
	if (!a->ar || !a->state || !a->zeros) {
		manifest_archive_free(a);
		return -ENOMEM;
	}
	/*
	 * Only the compressions libarchive decodes itself: the others would make
	 * it start an external program on data that may come from anywhere.
	 * ARCHIVE_WARN means "through a program", so it is refused as well.
	 */
	if (archive_read_support_filter_gzip(a->ar) != ARCHIVE_OK ||
	    archive_read_support_filter_bzip2(a->ar) != ARCHIVE_OK ||
	    archive_read_support_filter_xz(a->ar) != ARCHIVE_OK ||
	    archive_read_support_filter_lzma(a->ar) != ARCHIVE_OK ||
	    archive_read_support_filter_lzip(a->ar) != ARCHIVE_OK ||
	    archive_read_support_filter_zstd(a->ar) != ARCHIVE_OK ||
	    archive_read_support_filter_lz4(a->ar) != ARCHIVE_OK ||
	    archive_read_support_filter_compress(a->ar) != ARCHIVE_OK ||
	    archive_read_support_format_all(a->ar) != ARCHIVE_OK) {
		manifest_archive_free(a);
		return -ENOMEM;
	}
	/* libarchive reads standard input for a NULL name */
	r = archive_read_open_filename(a->ar, streq(path, "-") ? NULL : path, READ_BLOCK_SIZE);
	if (r < ARCHIVE_WARN) {
		r = archive_errno_map(a->ar);
		manifest_archive_free(a);
		return r;
	}
	*ret = a;
	return 0;
}

void manifest_archive_free(struct manifest_archive *a)
{
	if (!a)
		return;
	if (a->ar)
		archive_read_free(a->ar);
	if (a->state)
		XXH3_freeState(a->state);
	free(a->zeros);
	free(a->xattrs);
	free(a->acl);
	free(a->acl_access.data);
	free(a->acl_default.data);
	free(a);
}

const char *manifest_archive_error(const struct manifest_archive *a)
{
	if (a->msg[0])
		return a->msg;
	/* archive_error_string() takes a non-const handle but only reads it */
	return archive_error_string(((struct manifest_archive *)a)->ar);
}

/* See manifest.h for what is dropped and what is refused. */
static int member_name(struct manifest_archive *a, const char *what, const char *name,
		       const char **ret, size_t *ret_len)
{
	const char *p = name;
	bool dot = false;
	size_t len;

	if (!name)
		return fail(a, -EBADMSG, "%s without a name", what);
	len = strlen(p);
	while (len > 0 && p[len - 1] == '/')
		len--;
	for (;;) {
		if (len > 0 && p[0] == '/') {
			p++;
			len--;
		} else if (len >= 2 && p[0] == '.' && p[1] == '/') {
			p += 2;
			len -= 2;
			dot = true;
		} else
			break;
	}
	if (len == 1 && p[0] == '.') {
		len = 0;
		dot = true;
	}
	if (len == 0 && !dot)
		return fail(a, -EBADMSG, "%s with an empty name '%s'", what, name);
	if (len > MANIFEST_PATH_MAX)
		return fail(a, -EBADMSG, "%s with a name longer than %d bytes", what,
			    MANIFEST_PATH_MAX);
	for (size_t i = 0; i < len;) {
		size_t j = i;

		while (j < len && p[j] != '/')
			j++;
		if (j - i == 2 && p[i] == '.' && p[i + 1] == '.')
			return fail(a, -EBADMSG, "%s '%s' leaves the archive's root", what, name);
		i = j + 1;
	}
	*ret = p;
	*ret_len = len;
	return 0;
}

static int member_type(unsigned filetype, bool hardlink, char *ret)
{
	switch (filetype) {
	case AE_IFREG:
		*ret = MANIFEST_REG;
		return 0;
	case AE_IFDIR:
		*ret = MANIFEST_DIR;
		return 0;
	case AE_IFLNK:
		*ret = MANIFEST_LNK;
		return 0;
	case AE_IFCHR:
		*ret = MANIFEST_CHR;
		return 0;
	case AE_IFBLK:
		*ret = MANIFEST_BLK;
		return 0;
	case AE_IFIFO:
		*ret = MANIFEST_FIFO;
		return 0;
	case AE_IFSOCK:
		*ret = MANIFEST_SOCK;
		return 0;
	case 0:
		/* tar does not say what a hard link links to; its target does */
		if (hardlink) {
			*ret = MANIFEST_REG;
			return 0;
		}
		return -EBADMSG;
	default:
		return -EBADMSG;
	}
}

static void hash_zeros(struct manifest_archive *a, uint64_t n)
{
	while (n > 0) {
		size_t chunk = n < ZEROS_SIZE ? (size_t)n : ZEROS_SIZE;

		XXH3_128bits_update(a->state, a->zeros, chunk);
		n -= chunk;
	}
}

/*
 * Digests the member's data. A sparse member comes in blocks at increasing
 * offsets; the gaps and the tail up to the member's size are holes, which a
 * reader of the file sees as zeros.
 */
static int member_content(struct manifest_archive *a, struct archive_entry *e, const char *name,
			  uint8_t ret[MANIFEST_DIGEST_LEN], uint64_t *ret_size)
{
	XXH128_canonical_t c;
	uint64_t pos = 0;

	if (XXH3_128bits_reset(a->state) != XXH_OK)
		return fail(a, -ENOMEM, "cannot reset the digest");
	for (;;) {
		const void *buf;
		size_t size;
		la_int64_t off;
		int r;

		r = archive_read_data_block(a->ar, &buf, &size, &off);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN)
			return fail_archive(a);
		if (off < 0 || (uint64_t)off < pos || size > INT64_MAX - (uint64_t)off)
			return fail(a, -EBADMSG, "member '%s': data blocks out of order", name);
		hash_zeros(a, (uint64_t)off - pos);
		if (size > 0)
			XXH3_128bits_update(a->state, buf, size);
		pos = (uint64_t)off + size;
	}
	if (archive_entry_size_is_set(e)) {
		la_int64_t size = archive_entry_size(e);

		if (size < 0 || pos > (uint64_t)size)
			return fail(a, -EBADMSG, "member '%s': more data than its size", name);
		hash_zeros(a, (uint64_t)size - pos);
		pos = (uint64_t)size;
	}
	XXH128_canonicalFromHash(&c, XXH3_128bits_digest(a->state));
	memcpy(ret, c.digest, MANIFEST_DIGEST_LEN);
	*ret_size = pos;
	return 0;
}

static int acl_entry_cmp(const void *x, const void *y)
{
	const struct acl_entry *a = x, *b = y;

	if (a->tag != b->tag)
		return a->tag < b->tag ? -1 : 1;
	if (a->id != b->id)
		return a->id < b->id ? -1 : 1;
	return 0;
}

/*
 * An ACL entry stored by name only: what tar would do on extraction is look
 * the name up here, so do the same.
 */
static int acl_resolve(struct manifest_archive *a, const char *what, bool user, const char *name,
		       uint32_t *ret)
{
	_cleanup_free_ char *buf = NULL;
	size_t size = 1024;
	int r;

	if (!name || !name[0])
		return fail(a, -EBADMSG, "%s: ACL entry with neither id nor name", what);
	for (;;) {
		struct passwd pw, *pwp = NULL;
		struct group gr, *grp = NULL;
		char *p = realloc(buf, size);

		if (!p)
			return -ENOMEM;
		buf = p;
		if (user)
			r = getpwnam_r(name, &pw, buf, size, &pwp);
		else
			r = getgrnam_r(name, &gr, buf, size, &grp);
		if (r == ERANGE && size < 1024 * 1024) {
			size *= 2;
			continue;
		}
		if (r != 0)
			return fail(a, -r, "%s: cannot look up ACL %s '%s'", what,
				    user ? "user" : "group", name);
		if (user ? !pwp : !grp)
			return fail(a, -ENOENT, "%s: ACL names %s '%s', unknown here", what,
				    user ? "user" : "group", name);
		*ret = user ? pwp->pw_uid : grp->gr_gid;
		return 0;
	}
}

/*
 * Turns the member's ACL of `type` (access or default) into the value of the
 * xattr Linux reports for it, in *out (size 0: the file has no such xattr).
 * *ret_mask is the access ACL's mask entry (-1 when there is none), which
 * stat reports as the mode's group bits. With `want_value` false only the
 * mask is looked for: the archive holds the value raw.
 */
static int acl_build(struct manifest_archive *a, struct archive_entry *e, const char *what,
		     int type, bool want_value, struct bytes *out, int *ret_mask)
{
	int count, mask = -1, r;
	size_t n = 0;

	out->size = 0;
	/* for access ACLs, libarchive adds user::, group:: and other:: from the mode */
	count = archive_entry_acl_reset(e, type);
	if (count <= (type == ARCHIVE_ENTRY_ACL_TYPE_ACCESS ? 3 : 0)) {
		*ret_mask = -1;
		return 0;
	}
	if ((size_t)count > a->acl_cap) {
		struct acl_entry *p = reallocarray(a->acl, (size_t)count, sizeof(*p));

		if (!p)
			return -ENOMEM;
		a->acl = p;
		a->acl_cap = (size_t)count;
	}

	for (;;) {
		int etype, perm, tag, qual;
		const char *name;
		struct acl_entry x;

		r = archive_entry_acl_next(e, type, &etype, &perm, &tag, &qual, &name);
		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK || n >= (size_t)count)
			return fail(a, -EBADMSG, "%s: unreadable ACL", what);

		x.perm = (uint16_t)(perm & 07);
		x.id = ACL_UNDEFINED_ID;
		switch (tag) {
		case ARCHIVE_ENTRY_ACL_USER_OBJ:
			x.tag = ACL_TAG_USER_OBJ;
			break;
		case ARCHIVE_ENTRY_ACL_GROUP_OBJ:
			x.tag = ACL_TAG_GROUP_OBJ;
			break;
		case ARCHIVE_ENTRY_ACL_MASK:
			x.tag = ACL_TAG_MASK;
			mask = x.perm;
			break;
		case ARCHIVE_ENTRY_ACL_OTHER:
			x.tag = ACL_TAG_OTHER;
			break;
		case ARCHIVE_ENTRY_ACL_USER:
		case ARCHIVE_ENTRY_ACL_GROUP:
			x.tag = tag == ARCHIVE_ENTRY_ACL_USER ? ACL_TAG_USER : ACL_TAG_GROUP;
			if (!want_value)
				break;
			if (qual >= 0)
				x.id = (uint32_t)qual;
			else {
				r = acl_resolve(a, what, tag == ARCHIVE_ENTRY_ACL_USER, name,
						&x.id);
				if (r < 0)
					return r;
			}
			break;
		default:
			return fail(a, -EBADMSG, "%s: ACL entry of unknown kind %d", what, tag);
		}
		a->acl[n++] = x;
	}
	*ret_mask = mask;
	if (!want_value)
		return 0;

	qsort(a->acl, n, sizeof(*a->acl), acl_entry_cmp);
	for (size_t i = 1; i < n; i++)
		if (acl_entry_cmp(&a->acl[i - 1], &a->acl[i]) == 0)
			return fail(a, -EBADMSG, "%s: ACL with two entries for one id", what);

	r = bytes_reserve(out, ACL_XATTR_HEADER + n * ACL_XATTR_ENTRY);
	if (r < 0)
		return r;
	{
		uint8_t *p = out->data;
		uint32_t v = ACL_XATTR_VERSION;

		/* little-endian, whatever the machine, as the kernel writes it */
		*p++ = (uint8_t)v;
		*p++ = (uint8_t)(v >> 8);
		*p++ = (uint8_t)(v >> 16);
		*p++ = (uint8_t)(v >> 24);
		for (size_t i = 0; i < n; i++) {
			*p++ = (uint8_t)a->acl[i].tag;
			*p++ = (uint8_t)(a->acl[i].tag >> 8);
			*p++ = (uint8_t)a->acl[i].perm;
			*p++ = (uint8_t)(a->acl[i].perm >> 8);
			*p++ = (uint8_t)a->acl[i].id;
			*p++ = (uint8_t)(a->acl[i].id >> 8);
			*p++ = (uint8_t)(a->acl[i].id >> 16);
			*p++ = (uint8_t)(a->acl[i].id >> 24);
		}
		out->size = (size_t)(p - out->data);
	}
	return 0;
}

static int xattr_name_cmp(const void *x, const void *y)
{
	const struct manifest_xattr *a = x, *b = y;

	return strcmp(a->name, b->name);
}

static int xattrs_push(struct manifest_archive *a, size_t *n, const char *name, const void *value,
		       size_t size)
{
	if (*n == a->xattrs_cap) {
		size_t cap = a->xattrs_cap ? 2 * a->xattrs_cap : 16;
		struct manifest_xattr *p = reallocarray(a->xattrs, cap, sizeof(*p));

		if (!p)
			return -ENOMEM;
		a->xattrs = p;
		a->xattrs_cap = cap;
	}
	a->xattrs[(*n)++] = (struct manifest_xattr){name, value, size};
	return 0;
}

/*
 * The member's xattrs and ACLs, digested (when `digest`) into ret (1: there
 * is at least one, 0: none), and its ACL mask in *ret_mask (-1: none).
 */
static int member_xattrs(struct manifest_archive *a, struct archive_entry *e, const char *what,
			 bool digest, uint8_t ret[MANIFEST_DIGEST_LEN], int *ret_mask)
{
	bool raw_access = false, raw_default = false;
	int mask, unused, r;
	const char *name;
	const void *value;
	size_t size, n = 0, kept;

	if (digest) {
		archive_entry_xattr_reset(e);
		while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
			if (!name)
				return fail(a, -EBADMSG, "%s: xattr without a name", what);
			if (size > UINT32_MAX)
				return fail(a, -EBADMSG, "%s: xattr '%s' longer than 4 GiB", what,
					    name);
			raw_access = raw_access || streq(name, XATTR_ACL_ACCESS);
			raw_default = raw_default || streq(name, XATTR_ACL_DEFAULT);
			r = xattrs_push(a, &n, name, value, size);
			if (r < 0)
				return r;
		}
	}

	r = acl_build(a, e, what, ARCHIVE_ENTRY_ACL_TYPE_ACCESS, digest && !raw_access,
		      &a->acl_access, &mask);
	if (r < 0)
		return r;
	if (!digest) {
		*ret_mask = mask;
		return 0;
	}
	r = acl_build(a, e, what, ARCHIVE_ENTRY_ACL_TYPE_DEFAULT, !raw_default, &a->acl_default,
		      &unused);
	if (r < 0)
		return r;
	if (a->acl_access.size > 0) {
		r = xattrs_push(a, &n, XATTR_ACL_ACCESS, a->acl_access.data, a->acl_access.size);
		if (r < 0)
			return r;
	}
	if (a->acl_default.size > 0) {
		r = xattrs_push(a, &n, XATTR_ACL_DEFAULT, a->acl_default.data,
				a->acl_default.size);
		if (r < 0)
			return r;
	}

	/*
	 * bsdtar stores each xattr twice (LIBARCHIVE.xattr and SCHILY.xattr),
	 * and libarchive returns both: keep one of each name.
	 */
	if (n > 1)
		qsort(a->xattrs, n, sizeof(*a->xattrs), xattr_name_cmp);
	kept = 0;
	for (size_t i = 0; i < n; i++) {
		const struct manifest_xattr *x = &a->xattrs[i];

		if (kept > 0 && streq(a->xattrs[kept - 1].name, x->name)) {
			const struct manifest_xattr *prev = &a->xattrs[kept - 1];

			if (prev->size != x->size ||
			    (x->size > 0 && memcmp(prev->value, x->value, x->size) != 0))
				return fail(a, -EBADMSG, "%s: two different values of xattr '%s'",
					    what, x->name);
			continue;
		}
		a->xattrs[kept++] = *x;
	}

	*ret_mask = mask;
	if (kept == 0)
		return 0;
	manifest_xattr_digest(a->xattrs, kept, ret);
	return 1;
}

static int next_member(struct manifest_archive *a, struct manifest_entry *ret,
		       const char **ret_hardlink, size_t *ret_hardlink_len)
{
	struct manifest_entry m = {0};
	struct archive_entry *e;
	const char *name, *hardlink = NULL;
	size_t hardlink_len = 0;
	la_int64_t uid, gid;
	int mask = -1, r;

	r = archive_read_next_header(a->ar, &e);
	if (r == ARCHIVE_EOF) {
		a->end = true;
		return 0;
	}
	/* ARCHIVE_RETRY too: a damaged header that bsdtar would skip */
	if (r < ARCHIVE_WARN)
		return fail_archive(a);

	name = archive_entry_pathname(e);
	r = member_name(a, "member", name, &m.path, &m.path_len);
	if (r < 0)
		return r;
	if (archive_entry_hardlink(e)) {
		r = member_name(a, "hard link target", archive_entry_hardlink(e), &hardlink,
				&hardlink_len);
		if (r < 0)
			return r;
	}
	if (member_type(archive_entry_filetype(e), hardlink != NULL, &m.type) < 0)
		return fail(a, -EBADMSG, "member '%s' of unknown type %#o", name,
			    (unsigned)archive_entry_filetype(e));

	uid = archive_entry_uid(e);
	gid = archive_entry_gid(e);
	if (uid < 0 || uid > UINT32_MAX || gid < 0 || gid > UINT32_MAX)
		return fail(a, -EBADMSG, "member '%s': owner out of range", name);
	m.uid = (uint32_t)uid;
	m.gid = (uint32_t)gid;
	if (archive_entry_mtime_is_set(e)) {
		m.mtime_sec = archive_entry_mtime(e);
		m.mtime_nsec = (uint32_t)archive_entry_mtime_nsec(e);
	}
	if (archive_entry_ctime_is_set(e)) {
		m.ctime_sec = archive_entry_ctime(e);
		m.ctime_nsec = (uint32_t)archive_entry_ctime_nsec(e);
	}
	if (m.mtime_nsec >= 1000000000 || m.ctime_nsec >= 1000000000)
		return fail(a, -EBADMSG, "member '%s': time out of range", name);

	if (m.type == MANIFEST_CHR || m.type == MANIFEST_BLK)
		m.rdev = makedev(archive_entry_rdevmajor(e), archive_entry_rdevminor(e));

	if (m.type == MANIFEST_LNK) {
		m.target = archive_entry_symlink(e);
		if (!m.target)
			return fail(a, -EBADMSG, "symlink '%s' without a target", name);
		m.target_len = strlen(m.target);
		if (m.target_len > MANIFEST_PATH_MAX)
			return fail(a, -EBADMSG, "symlink '%s': target longer than %d bytes", name,
				    MANIFEST_PATH_MAX);
		m.size = m.target_len;
	}

	/* a hard link's xattrs are its target's: GNU tar does not repeat them */
	r = member_xattrs(a, e, name, !hardlink, m.xattrs, &mask);
	if (r < 0)
		return r;
	if (r > 0)
		m.flags |= MANIFEST_HAS_XATTRS;

	/*
	 * libarchive folds the ACL's group:: entry into the mode it reports;
	 * stat reports the mask there.
	 */
	m.mode = archive_entry_mode(e) & 07777;
	if (mask >= 0)
		m.mode = (m.mode & ~(uint32_t)070) | (uint32_t)mask << 3;

	if (m.type == MANIFEST_REG && !hardlink) {
		r = member_content(a, e, name, m.content, &m.size);
		if (r < 0)
			return r;
		m.flags |= MANIFEST_HAS_CONTENT;
	}

	*ret = m;
	if (ret_hardlink)
		*ret_hardlink = hardlink;
	if (ret_hardlink_len)
		*ret_hardlink_len = hardlink_len;
	return 1;
}

int manifest_archive_next(struct manifest_archive *a, struct manifest_entry *ret,
			  const char **ret_hardlink, size_t *ret_hardlink_len)
{
	int r;

	if (a->failure < 0)
		return a->failure;
	if (a->end)
		return 0;
	r = next_member(a, ret, ret_hardlink, ret_hardlink_len);
	if (r < 0)
		a->failure = r;
	return r;
}
