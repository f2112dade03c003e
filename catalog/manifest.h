/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Manifests: what one volume of a set holds, entry by entry.
 *
 * A manifest is a stream of entries in path order, packed into blocks of about
 * MANIFEST_BLOCK_TARGET bytes. Each block carries its entry count, the length
 * of its payload and an XXH3-64 checksum of the payload, and decodes on its
 * own (paths are prefix-compressed against the previous entry of the same
 * block only), so a reader can start at any block and a damaged block is
 * detected, never trusted.
 *
 * Paths are relative to the volume's root, without a leading slash; the root
 * itself is the empty path. Path order compares bytes with '/' below every
 * other byte, which is the order of a depth-first walk that visits each
 * directory's names sorted by their bytes.
 *
 * Digests are XXH3-128 in canonical (big-endian) form:
 *   content: the bytes of a regular file (holes read as zeros);
 *   xattrs:  every extended attribute (ACLs included), sorted by name bytes,
 *            each as its name, a NUL, its value's length as a 4-byte
 *            big-endian number, and the value.
 *
 * Depends on common/ and xxHash. Errors are negative errno values; -EBADMSG
 * means damaged or malformed data.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MANIFEST_DIGEST_LEN 16
/* A block is closed once its payload reaches this size. */
#define MANIFEST_BLOCK_TARGET (64 * 1024)
/* No block payload is larger; a reader refuses one that claims to be. */
#define MANIFEST_BLOCK_MAX (16 * 1024 * 1024)
/* Bytes before a block's payload. */
#define MANIFEST_BLOCK_HEADER 24
/* Longest path or symlink target an entry may hold. */
#define MANIFEST_PATH_MAX (1024 * 1024)

/* The file types, as the letters find -printf %y uses. */
enum manifest_type {
	MANIFEST_REG = 'f',
	MANIFEST_DIR = 'd',
	MANIFEST_LNK = 'l',
	MANIFEST_CHR = 'c',
	MANIFEST_BLK = 'b',
	MANIFEST_FIFO = 'p',
	MANIFEST_SOCK = 's',
};

enum manifest_entry_flags {
	MANIFEST_HAS_CONTENT = 1 << 0, /* content[] holds a digest (regular files) */
	MANIFEST_HAS_XATTRS = 1 << 1,  /* xattrs[] holds a digest (at least one xattr) */
};

/*
 * One entry. The strings are not NUL-terminated in general and not owned:
 * they point into the buffer of whoever produced the entry and stay valid
 * until its next call.
 */
struct manifest_entry {
	const char *path;
	size_t path_len;
	char type;       /* enum manifest_type */
	uint32_t mode;   /* permission bits with set-id and sticky bits (07777) */
	uint32_t uid;
	uint32_t gid;
	uint64_t size;
	int64_t mtime_sec;
	uint32_t mtime_nsec;
	int64_t ctime_sec;
	uint32_t ctime_nsec;
	uint64_t ino;    /* the inode number in the snapshot */
	uint64_t nlink;
	uint64_t rdev;   /* devices only, else 0 */
	const char *target; /* symlinks only, else NULL */
	size_t target_len;
	unsigned flags;  /* enum manifest_entry_flags */
	uint8_t content[MANIFEST_DIGEST_LEN];
	uint8_t xattrs[MANIFEST_DIGEST_LEN];
};

/* Path order: <0, 0 or >0 as memcmp, with '/' below every other byte. */
int manifest_path_cmp(const char *a, size_t a_len, const char *b, size_t b_len);

/* Whether `path` lies strictly beneath directory `dir` ("" is the root). */
bool manifest_path_is_beneath(const char *path, size_t path_len, const char *dir,
			      size_t dir_len);

/*
 * Encoding: entries go in in strictly increasing path order; whenever a block
 * fills, the encoder hands it to `flush`, which returns 0 or -errno (that error
 * is then returned by manifest_encoder_add() or manifest_encoder_finish()).
 * The block passed to flush is valid only during the call.
 */
struct manifest_block_info {
	const void *data;      /* header and payload, `size` bytes */
	size_t size;
	uint32_t n_entries;
	const char *first_path; /* path of the block's first entry */
	size_t first_path_len;
};

typedef int (*manifest_flush_fn)(void *userdata, const struct manifest_block_info *block);

struct manifest_encoder;

/* Returns 0 and a new encoder in *ret (free with manifest_encoder_free()). */
int manifest_encoder_new(manifest_flush_fn flush, void *userdata, struct manifest_encoder **ret);
/*
 * Appends an entry. Returns 0, -EINVAL for an entry out of path order or with
 * an invalid field (unknown type, path or target too long, a target on a
 * non-symlink), or the flush callback's error.
 */
int manifest_encoder_add(struct manifest_encoder *enc, const struct manifest_entry *e);
/* Flushes the last, partly filled block, if any. Returns 0 or the flush error. */
int manifest_encoder_finish(struct manifest_encoder *enc);
/* Entries added so far, and the XXH3-128 of every payload flushed so far, in order. */
uint64_t manifest_encoder_entries(const struct manifest_encoder *enc);
void manifest_encoder_digest(const struct manifest_encoder *enc,
			     uint8_t ret[MANIFEST_DIGEST_LEN]);
void manifest_encoder_free(struct manifest_encoder *enc);

/*
 * Decoding one block. manifest_block_parse() checks the header and the
 * payload's checksum of a block of `size` bytes at `data` (which must stay
 * valid while the iterator is used) and prepares the iterator; -EBADMSG when
 * anything is wrong. manifest_block_next() returns 1 with the next entry (its
 * strings valid until the next call), 0 at the end of the block, or -EBADMSG
 * for a malformed entry or entries out of path order.
 */
struct manifest_block_iter {
	const uint8_t *p, *end;
	uint32_t remaining;
	char *path;       /* the previous entry's path, owned */
	size_t path_len;
	size_t path_cap;
	bool first;
	int error;        /* 0, or what ended the iteration: every later call returns it */
};

int manifest_block_parse(const void *data, size_t size, struct manifest_block_iter *it);
int manifest_block_next(struct manifest_block_iter *it, struct manifest_entry *ret);
void manifest_block_iter_release(struct manifest_block_iter *it);
/* The payload of a parsed block, for a running digest of the whole manifest. */
int manifest_block_payload(const void *data, size_t size, const void **ret_payload,
			   size_t *ret_size);

/*
 * Digests. manifest_content_digest_fd() reads `fd` from its current offset to
 * the end and returns 0 with the digest and the number of bytes read.
 */
struct manifest_xattr {
	const char *name;  /* NUL-terminated */
	const void *value;
	size_t size;
};

int manifest_content_digest_fd(int fd, uint8_t ret[MANIFEST_DIGEST_LEN], uint64_t *ret_bytes);
/*
 * The same with a reusable buffer and state, for digesting many files:
 * manifest_hasher_new() returns 0 or -ENOMEM; free with manifest_hasher_free().
 */
struct manifest_hasher;
int manifest_hasher_new(struct manifest_hasher **ret);
int manifest_hasher_fd(struct manifest_hasher *h, int fd, uint8_t ret[MANIFEST_DIGEST_LEN],
		       uint64_t *ret_bytes);
void manifest_hasher_free(struct manifest_hasher *h);
/* Sorts `items` by name and digests them. */
void manifest_xattr_digest(struct manifest_xattr *items, size_t n,
			   uint8_t ret[MANIFEST_DIGEST_LEN]);
/*
 * Reads every xattr of `name` in directory `dirfd` (without following a
 * symlink) and returns 1 with their digest, 0 when it has none (ret is then
 * zeroed), or -errno.
 */
int manifest_xattr_digest_at(int dirfd, const char *name, uint8_t ret[MANIFEST_DIGEST_LEN]);

/* Fills the metadata fields of `ret` (not path, target or digests) from stat. */
struct stat;
int manifest_entry_from_stat(const struct stat *st, struct manifest_entry *ret);

/* Digest as 32 lowercase hex digits and a NUL. */
void manifest_digest_hex(const uint8_t d[MANIFEST_DIGEST_LEN], char ret[2 * MANIFEST_DIGEST_LEN + 1]);

/*
 * Reading an archive (tar in any format libarchive reads, compressed or not)
 * as manifest entries, in archive order, to compare a tar made from a
 * snapshot, or from what was restored, with the snapshot's manifest.
 *
 * Member paths are made relative: a leading "./" or "/" is dropped, a
 * trailing "/" too, and "." becomes the root "". Nothing else is collapsed; a
 * name with a ".." component, or one that is empty without having been ".",
 * is refused.
 *
 * Fields are filled as manifest_entry_from_stat() fills them for the file
 * the member was made from: the size is 0 for anything but regular files and
 * symlinks (the target's length), the mode's group bits are the ACL mask
 * when the member has an access ACL (as stat reports them; libarchive
 * reports the ACL's group:: entry there). ino and nlink are always 0 (an
 * archive's inode numbers are not the snapshot's), ctime is 0 unless the
 * archive holds it, and mtime_nsec is 0 where the archive holds whole
 * seconds (GNU-format tar always; bsdtar for members it writes no pax
 * header for).
 *
 * The xattr digest is that of the member's extended attributes and POSIX
 * ACLs, the latter as the binary system.posix_acl_access and
 * system.posix_acl_default values Linux reports (an archive that holds these
 * values raw, as GNU tar --xattrs does, is taken at its word). ACL entries
 * stored by user or group name only (GNU tar --acls without --xattrs) are
 * resolved through this machine's user database.
 */
struct manifest_archive;

/*
 * Opens `path` ("-" for standard input) and recognizes its compression and
 * format. Returns 0 and the reader in *ret (free with manifest_archive_free()),
 * or -errno: that of opening or reading the file, -EBADMSG for data no format
 * recognizes.
 */
int manifest_archive_open(const char *path, struct manifest_archive **ret);

/*
 * Returns 1 with the next member in *ret, 0 at the end, or -errno: -EBADMSG
 * for a damaged archive or a member refused (see above), -ENOENT for an ACL
 * entry naming a user or group unknown here, -EIO and the like when reading
 * fails. After an error every further call returns it again.
 *
 * A regular file's content digest is computed from its data, holes read as
 * zeros. For a hard link member, *ret_hardlink is the relative path of the
 * member it links to (else NULL): its type (reported as regular when the
 * archive does not say), size, content and xattrs belong to that member, so
 * the entry has neither digest and size 0, and the caller takes them from it.
 *
 * The strings (path, target, hard link; not NUL-terminated) point into the
 * reader and stay valid until the next call or manifest_archive_free().
 * Note that a tar cut exactly between two members reads as complete (many
 * writers omit the end marker, and libarchive accepts that).
 */
int manifest_archive_next(struct manifest_archive *a, struct manifest_entry *ret,
			  const char **ret_hardlink, size_t *ret_hardlink_len);

/* Why the last call failed: the reader's or libarchive's message, or NULL. */
const char *manifest_archive_error(const struct manifest_archive *a);

/* Closes the archive; accepts NULL. */
void manifest_archive_free(struct manifest_archive *a);
