// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The manifest codec: path order, the block encoder and the block decoder.
 *
 * Block format, version 1. Fixed-width numbers are big-endian.
 *
 *   block   := header payload
 *   header  := "SFMB"          4 bytes, magic
 *              version         1 byte, 1
 *              reserved        3 bytes, zero
 *              count           u32, entries in the payload, at least 1
 *              length          u32, payload bytes, at most MANIFEST_BLOCK_MAX
 *              checksum        u64, XXH3-64 (seed 0) of the payload
 *                              (24 bytes: MANIFEST_BLOCK_HEADER)
 *   payload := entry{count}, nothing after the last one
 *   entry   := shared suffix_len suffix[suffix_len]
 *              type:byte mode uid gid size mtime_sec mtime_nsec ctime_sec ctime_nsec
 *              ino nlink rdev flags:byte
 *              [target_len target[target_len]]    iff type is 'l'
 *              [content digest, 16 bytes]         iff flags & MANIFEST_HAS_CONTENT
 *              [xattr digest, 16 bytes]           iff flags & MANIFEST_HAS_XATTRS
 *
 * Numbers without a stated width are unsigned LEB128 varints of at most 64
 * bits, in their shortest form; mtime_sec and ctime_sec are zigzag-encoded
 * first. The path is the first `shared` bytes of the previous entry's path
 * in the same block followed by the suffix; the first entry of a block has
 * shared = 0. `shared` is always the whole common prefix of the two paths, so
 * a list of entries has exactly one encoding and the manifest digest depends
 * on the entries only.
 *
 * The checksum covers the payload only; the header's fields are each checked
 * exactly, and the count against the entries the payload holds.
 */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "macro.h"
#include "manifest.h"

#define BLOCK_MAGIC "SFMB"
#define BLOCK_VERSION 1
#define NSEC_PER_SEC 1000000000u
#define VARINT_MAX 10
#define KNOWN_FLAGS ((unsigned)(MANIFEST_HAS_CONTENT | MANIFEST_HAS_XATTRS))
/* Everything in an entry besides its path and target bytes, at most. */
#define ENTRY_FIXED_MAX (16 * VARINT_MAX + 2 + 2 * MANIFEST_DIGEST_LEN)
#define ENTRY_MAX (ENTRY_FIXED_MAX + 2 * (size_t)MANIFEST_PATH_MAX)

_Static_assert(MANIFEST_BLOCK_HEADER == 24, "header layout");
/* A block is closed once it reaches the target, so it is at most one entry larger. */
_Static_assert(MANIFEST_BLOCK_TARGET - 1 + ENTRY_MAX <= MANIFEST_BLOCK_MAX,
	       "a full block must stay within MANIFEST_BLOCK_MAX");
_Static_assert(MANIFEST_BLOCK_MAX <= UINT32_MAX, "payload length is a u32");

/* --- path order --- */

/* A byte's rank in path order: '/' lowest, the others in their order. */
static inline unsigned path_rank(char c)
{
	return c == '/' ? 0 : (unsigned)(unsigned char)c + 1;
}

int manifest_path_cmp(const char *a, size_t a_len, const char *b, size_t b_len)
{
	size_t n = a_len < b_len ? a_len : b_len;

	for (size_t i = 0; i < n; i++)
		if (a[i] != b[i])
			return path_rank(a[i]) < path_rank(b[i]) ? -1 : 1;
	return a_len < b_len ? -1 : a_len > b_len;
}

bool manifest_path_is_beneath(const char *path, size_t path_len, const char *dir, size_t dir_len)
{
	if (dir_len == 0)
		return path_len > 0;
	return path_len > dir_len && memcmp(path, dir, dir_len) == 0 && path[dir_len] == '/';
}

static size_t common_prefix(const char *a, size_t a_len, const char *b, size_t b_len)
{
	size_t n = a_len < b_len ? a_len : b_len, i = 0;

	while (i < n && a[i] == b[i])
		i++;
	return i;
}

static bool component_valid(const char *c, size_t len)
{
	if (len == 0)
		return false;
	if (c[0] == '.' && (len == 1 || (len == 2 && c[1] == '.')))
		return false;
	return true;
}

/*
 * Checks path p of `len` bytes, knowing that p[0..from) is a prefix of a valid
 * path (or from is 0), so that the decoder spends time on the new suffix only,
 * not on a long shared prefix again. Components that end before `from` were
 * whole components of that valid path; the one holding `from` is checked only
 * when it is short enough to be ".", "..", or empty.
 */
static bool path_valid_from(const char *p, size_t len, size_t from)
{
	size_t s = from;

	if (len == 0)
		return true; /* the root */
	if (memchr(p + from, '\0', len - from))
		return false;
	while (s > 0 && p[s - 1] != '/' && from - s < 3)
		s--;
	for (;;) {
		const char *slash = memchr(p + s, '/', len - s);
		size_t e = slash ? (size_t)(slash - p) : len;

		if ((s == 0 || p[s - 1] == '/') && !component_valid(p + s, e - s))
			return false;
		if (!slash)
			return true;
		s = e + 1;
	}
}

/* Every field but the path's form, the same for the encoder and the decoder. */
static bool entry_fields_valid(const struct manifest_entry *e)
{
	switch (e->type) {
	case MANIFEST_REG:
	case MANIFEST_DIR:
	case MANIFEST_LNK:
	case MANIFEST_CHR:
	case MANIFEST_BLK:
	case MANIFEST_FIFO:
	case MANIFEST_SOCK:
		break;
	default:
		return false;
	}
	if (e->path_len > MANIFEST_PATH_MAX || (e->path_len > 0 && !e->path))
		return false;
	if (e->mode > 07777 || e->mtime_nsec >= NSEC_PER_SEC || e->ctime_nsec >= NSEC_PER_SEC)
		return false;
	if ((e->flags & ~KNOWN_FLAGS) ||
	    ((e->flags & MANIFEST_HAS_CONTENT) && e->type != MANIFEST_REG))
		return false;
	if (e->type == MANIFEST_LNK) {
		/* a target with a NUL could not be a symlink's, and would cut C strings short */
		if (e->target_len > MANIFEST_PATH_MAX || (e->target_len > 0 && !e->target) ||
		    (e->target_len > 0 && memchr(e->target, '\0', e->target_len)))
			return false;
	} else if (e->target || e->target_len > 0) {
		return false;
	}
	return true;
}

/* --- numbers --- */

static uint8_t *put_varint(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

static uint64_t zigzag(int64_t v)
{
	uint64_t u = (uint64_t)v;

	return (u << 1) ^ (0 - (u >> 63));
}

static int64_t unzigzag(uint64_t z)
{
	return (int64_t)((z >> 1) ^ (0 - (z & 1)));
}

static void put_be32(uint8_t *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get_be64(const uint8_t *p)
{
	return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

/* --- encoding --- */

struct manifest_encoder {
	manifest_flush_fn flush;
	void *userdata;
	uint8_t *buf; /* room for the header, then the open block's payload */
	size_t len;   /* header and payload bytes so far */
	size_t cap;
	uint32_t n_block;      /* entries in the open block */
	size_t first_path_off; /* where the open block's first path lies in buf */
	size_t first_path_len;
	char *prev; /* the last entry's path, kept across blocks for the order check */
	size_t prev_len;
	size_t prev_cap;
	bool have_prev;
	uint64_t entries;
	XXH3_state_t *digest;
	/*
	 * A failed flush loses a block, so every later call fails the same way
	 * rather than write a manifest with a hole in it.
	 */
	int error;
};

static void manifest_encoder_freep(struct manifest_encoder **enc)
{
	manifest_encoder_free(*enc);
}

int manifest_encoder_new(manifest_flush_fn flush, void *userdata, struct manifest_encoder **ret)
{
	_cleanup_(manifest_encoder_freep) struct manifest_encoder *enc = NULL;

	assert(flush);
	assert(ret);

	enc = calloc(1, sizeof(*enc));
	if (!enc)
		return -ENOMEM;
	enc->flush = flush;
	enc->userdata = userdata;
	enc->len = MANIFEST_BLOCK_HEADER;
	enc->digest = XXH3_createState();
	if (!enc->digest || XXH3_128bits_reset(enc->digest) != XXH_OK)
		return -ENOMEM;
	*ret = TAKE_PTR(enc);
	return 0;
}

void manifest_encoder_free(struct manifest_encoder *enc)
{
	if (!enc)
		return;
	XXH3_freeState(enc->digest);
	free(enc->buf);
	free(enc->prev);
	free(enc);
}

/* Returns `buf` grown to at least `need` bytes, or NULL; doubling keeps appends linear. */
static void *grow(void *buf, size_t *cap, size_t need)
{
	size_t n = *cap ? *cap : 256;
	void *p;

	if (need <= *cap)
		return buf;
	while (n < need) {
		if (n > SIZE_MAX / 2)
			return NULL;
		n *= 2;
	}
	p = realloc(buf, n);
	if (!p)
		return NULL;
	*cap = n;
	return p;
}

static int encoder_flush(struct manifest_encoder *enc)
{
	size_t payload = enc->len - MANIFEST_BLOCK_HEADER;
	struct manifest_block_info info = {
		.data = enc->buf,
		.size = enc->len,
		.n_entries = enc->n_block,
		.first_path = (const char *)enc->buf + enc->first_path_off,
		.first_path_len = enc->first_path_len,
	};
	uint8_t *h = enc->buf;
	int r;

	memcpy(h, BLOCK_MAGIC, 4);
	h[4] = BLOCK_VERSION;
	h[5] = h[6] = h[7] = 0;
	put_be32(h + 8, enc->n_block);
	put_be32(h + 12, (uint32_t)payload);
	put_be64(h + 16, XXH3_64bits(h + MANIFEST_BLOCK_HEADER, payload));

	r = enc->flush(enc->userdata, &info);
	if (r < 0) {
		enc->error = r;
		return r;
	}
	(void)XXH3_128bits_update(enc->digest, h + MANIFEST_BLOCK_HEADER, payload);
	enc->len = MANIFEST_BLOCK_HEADER;
	enc->n_block = 0;
	return 0;
}

int manifest_encoder_add(struct manifest_encoder *enc, const struct manifest_entry *e)
{
	const char *path;
	size_t common = 0, shared, need;
	uint8_t *p;
	char *prev;

	assert(enc);
	assert(e);

	if (enc->error)
		return enc->error;
	path = e->path_len > 0 ? e->path : "";
	if (!entry_fields_valid(e) || !path_valid_from(path, e->path_len, 0))
		return -EINVAL;
	if (enc->have_prev) {
		common = common_prefix(enc->prev, enc->prev_len, path, e->path_len);
		if (manifest_path_cmp(enc->prev + common, enc->prev_len - common, path + common,
				      e->path_len - common) >= 0)
			return -EINVAL;
	}
	shared = enc->n_block > 0 ? common : 0;

	/* the lengths are at most MANIFEST_PATH_MAX each, and len below the block maximum */
	need = enc->len + ENTRY_FIXED_MAX + e->path_len + e->target_len;
	p = grow(enc->buf, &enc->cap, need);
	if (!p)
		return -ENOMEM;
	enc->buf = p;
	prev = grow(enc->prev, &enc->prev_cap, e->path_len > 0 ? e->path_len : 1);
	if (!prev)
		return -ENOMEM;
	enc->prev = prev;

	p = enc->buf + enc->len;
	p = put_varint(p, shared);
	p = put_varint(p, e->path_len - shared);
	if (enc->n_block == 0) {
		enc->first_path_off = (size_t)(p - enc->buf);
		enc->first_path_len = e->path_len;
	}
	memcpy(p, path + shared, e->path_len - shared);
	p += e->path_len - shared;
	*p++ = (uint8_t)e->type;
	p = put_varint(p, e->mode);
	p = put_varint(p, e->uid);
	p = put_varint(p, e->gid);
	p = put_varint(p, e->size);
	p = put_varint(p, zigzag(e->mtime_sec));
	p = put_varint(p, e->mtime_nsec);
	p = put_varint(p, zigzag(e->ctime_sec));
	p = put_varint(p, e->ctime_nsec);
	p = put_varint(p, e->ino);
	p = put_varint(p, e->nlink);
	p = put_varint(p, e->rdev);
	*p++ = (uint8_t)e->flags;
	if (e->type == MANIFEST_LNK) {
		p = put_varint(p, e->target_len);
		if (e->target_len > 0)
			memcpy(p, e->target, e->target_len);
		p += e->target_len;
	}
	if (e->flags & MANIFEST_HAS_CONTENT) {
		memcpy(p, e->content, MANIFEST_DIGEST_LEN);
		p += MANIFEST_DIGEST_LEN;
	}
	if (e->flags & MANIFEST_HAS_XATTRS) {
		memcpy(p, e->xattrs, MANIFEST_DIGEST_LEN);
		p += MANIFEST_DIGEST_LEN;
	}
	enc->len = (size_t)(p - enc->buf);
	enc->n_block++;
	enc->entries++;

	memcpy(enc->prev + common, path + common, e->path_len - common);
	enc->prev_len = e->path_len;
	enc->have_prev = true;

	if (enc->len - MANIFEST_BLOCK_HEADER >= MANIFEST_BLOCK_TARGET)
		return encoder_flush(enc);
	return 0;
}

int manifest_encoder_finish(struct manifest_encoder *enc)
{
	assert(enc);

	if (enc->error)
		return enc->error;
	if (enc->n_block == 0)
		return 0;
	return encoder_flush(enc);
}

uint64_t manifest_encoder_entries(const struct manifest_encoder *enc)
{
	return enc->entries;
}

void manifest_encoder_digest(const struct manifest_encoder *enc, uint8_t ret[MANIFEST_DIGEST_LEN])
{
	XXH128_canonical_t c;

	XXH128_canonicalFromHash(&c, XXH3_128bits_digest(enc->digest));
	memcpy(ret, c.digest, MANIFEST_DIGEST_LEN);
}

/* --- decoding --- */

/* Checks a block's header and checksum; returns its count, payload and payload size. */
static int block_check(const void *data, size_t size, uint32_t *ret_count,
		       const uint8_t **ret_payload, size_t *ret_len)
{
	const uint8_t *h = data;
	uint32_t count, len;

	if (!data || size < MANIFEST_BLOCK_HEADER)
		return -EBADMSG;
	if (memcmp(h, BLOCK_MAGIC, 4) != 0 || h[4] != BLOCK_VERSION || h[5] || h[6] || h[7])
		return -EBADMSG;
	count = get_be32(h + 8);
	len = get_be32(h + 12);
	if (count == 0 || len > MANIFEST_BLOCK_MAX || len != size - MANIFEST_BLOCK_HEADER)
		return -EBADMSG;
	if (XXH3_64bits(h + MANIFEST_BLOCK_HEADER, len) != get_be64(h + 16))
		return -EBADMSG;
	*ret_count = count;
	*ret_payload = h + MANIFEST_BLOCK_HEADER;
	*ret_len = len;
	return 0;
}

int manifest_block_payload(const void *data, size_t size, const void **ret_payload,
			   size_t *ret_size)
{
	const uint8_t *payload;
	uint32_t count;
	size_t len;
	int r;

	r = block_check(data, size, &count, &payload, &len);
	if (r < 0)
		return r;
	*ret_payload = payload;
	*ret_size = len;
	return 0;
}

/*
 * The iterator owns nothing until the first manifest_block_next(), so a
 * failed parse needs no release, and releasing after one is harmless.
 */
int manifest_block_parse(const void *data, size_t size, struct manifest_block_iter *it)
{
	const uint8_t *payload;
	uint32_t count;
	size_t len;
	int r;

	assert(it);

	*it = (struct manifest_block_iter){ 0 };
	r = block_check(data, size, &count, &payload, &len);
	if (r < 0) {
		it->error = r; /* a next() regardless must not report an empty block */
		return r;
	}
	it->p = payload;
	it->end = payload + len;
	it->remaining = count;
	it->first = true;
	return 0;
}

void manifest_block_iter_release(struct manifest_block_iter *it)
{
	if (!it)
		return;
	free(it->path);
	it->path = NULL;
	it->path_len = it->path_cap = 0;
}

struct cursor {
	const uint8_t *p, *end;
};

/* An unsigned LEB128 number of at most 64 bits, in its shortest form. */
static int get_varint(struct cursor *c, uint64_t *ret)
{
	uint64_t v = 0;

	for (unsigned shift = 0;; shift += 7) {
		uint8_t b;

		if (c->p == c->end)
			return -EBADMSG;
		b = *c->p++;
		if (shift == 63 && b > 1)
			return -EBADMSG; /* more than 64 bits */
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			if (b == 0 && shift > 0)
				return -EBADMSG; /* overlong */
			*ret = v;
			return 0;
		}
	}
}

static int get_max(struct cursor *c, uint64_t max, uint64_t *ret)
{
	uint64_t v;
	int r = get_varint(c, &v);

	if (r < 0)
		return r;
	if (v > max)
		return -EBADMSG;
	*ret = v;
	return 0;
}

static int get_u32(struct cursor *c, uint32_t *ret)
{
	uint64_t v;
	int r = get_max(c, UINT32_MAX, &v);

	if (r < 0)
		return r;
	*ret = (uint32_t)v;
	return 0;
}

static int get_bytes(struct cursor *c, size_t n, const uint8_t **ret)
{
	if ((size_t)(c->end - c->p) < n)
		return -EBADMSG;
	*ret = c->p;
	c->p += n;
	return 0;
}

/* Decodes the path into it->path: checks its order and form against the previous one. */
static int decode_path(struct manifest_block_iter *it, struct cursor *c)
{
	const char *prev = it->path ? it->path : "";
	const uint8_t *suffix;
	uint64_t shared, suffix_len;
	size_t len;
	char *buf;
	int r;

	r = get_max(c, it->path_len, &shared);
	if (r < 0)
		return r;
	r = get_max(c, MANIFEST_PATH_MAX - shared, &suffix_len);
	if (r < 0)
		return r;
	r = get_bytes(c, suffix_len, &suffix);
	if (r < 0)
		return r;
	if (!it->first) {
		/* shared must be the whole common prefix, as the encoder writes it */
		if (shared < it->path_len && suffix_len > 0 && suffix[0] == (uint8_t)prev[shared])
			return -EBADMSG;
		if (manifest_path_cmp(prev + shared, it->path_len - shared, (const char *)suffix,
				      suffix_len) >= 0)
			return -EBADMSG;
	}
	len = shared + suffix_len;
	/* one more for a NUL, which costs nothing and helps whoever debugs */
	buf = grow(it->path, &it->path_cap, len + 1);
	if (!buf)
		return -ENOMEM;
	it->path = buf;
	memcpy(it->path + shared, suffix, suffix_len);
	it->path[len] = '\0';
	it->path_len = len;
	if (!path_valid_from(it->path, len, shared))
		return -EBADMSG;
	return 0;
}

static int decode_entry(struct manifest_block_iter *it, struct manifest_entry *ret)
{
	struct manifest_entry e = { 0 };
	struct cursor c = { it->p, it->end };
	const uint8_t *b;
	uint64_t v;
	int r;

	r = decode_path(it, &c);
	if (r < 0)
		return r;
	e.path = it->path;
	e.path_len = it->path_len;

	if ((r = get_bytes(&c, 1, &b)) < 0)
		return r;
	e.type = (char)b[0];
	if ((r = get_u32(&c, &e.mode)) < 0 || (r = get_u32(&c, &e.uid)) < 0 ||
	    (r = get_u32(&c, &e.gid)) < 0 || (r = get_varint(&c, &e.size)) < 0)
		return r;
	if ((r = get_varint(&c, &v)) < 0)
		return r;
	e.mtime_sec = unzigzag(v);
	if ((r = get_u32(&c, &e.mtime_nsec)) < 0)
		return r;
	if ((r = get_varint(&c, &v)) < 0)
		return r;
	e.ctime_sec = unzigzag(v);
	if ((r = get_u32(&c, &e.ctime_nsec)) < 0 || (r = get_varint(&c, &e.ino)) < 0 ||
	    (r = get_varint(&c, &e.nlink)) < 0 || (r = get_varint(&c, &e.rdev)) < 0)
		return r;
	if ((r = get_bytes(&c, 1, &b)) < 0)
		return r;
	e.flags = b[0];
	if (e.type == MANIFEST_LNK) {
		if ((r = get_max(&c, MANIFEST_PATH_MAX, &v)) < 0 ||
		    (r = get_bytes(&c, (size_t)v, &b)) < 0)
			return r;
		e.target = (const char *)b;
		e.target_len = (size_t)v;
	}
	if (e.flags & MANIFEST_HAS_CONTENT) {
		if ((r = get_bytes(&c, MANIFEST_DIGEST_LEN, &b)) < 0)
			return r;
		memcpy(e.content, b, MANIFEST_DIGEST_LEN);
	}
	if (e.flags & MANIFEST_HAS_XATTRS) {
		if ((r = get_bytes(&c, MANIFEST_DIGEST_LEN, &b)) < 0)
			return r;
		memcpy(e.xattrs, b, MANIFEST_DIGEST_LEN);
	}
	if (!entry_fields_valid(&e))
		return -EBADMSG;

	it->p = c.p;
	*ret = e;
	return 0;
}

int manifest_block_next(struct manifest_block_iter *it, struct manifest_entry *ret)
{
	int r;

	assert(it);
	assert(ret);

	if (it->error)
		return it->error;
	if (it->remaining == 0) {
		/* bytes left over mean the count or an entry is wrong */
		if (it->p != it->end)
			return it->error = -EBADMSG;
		return 0;
	}
	r = decode_entry(it, ret);
	if (r < 0)
		return it->error = r;
	it->remaining--;
	it->first = false;
	return 1;
}
