// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests for the manifest codec (catalog/manifest-codec.c): path order,
 * encoding and decoding blocks, and what the decoder makes of damaged ones.
 *
 * Blocks are also written and checked here byte by byte with a small writer
 * of the test's own, after the format described in manifest-codec.c, so that
 * a change to the format shows up as a failing test rather than as an
 * encoder and a decoder that still agree with each other.
 */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "fast-assert.h"
#include "macro.h"
#include "manifest.h"

#define HDR 24 /* the header size the format describes */

static int sign(int v)
{
	return (v > 0) - (v < 0);
}

/* Deterministic, so that a failure repeats. */
static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t x = rng_state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * UINT64_C(0x2545F4914F6CDD1D);
}

static void be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) << 32 | get32(p + 4);
}

/* --- a sink for flushed blocks --- */

struct block {
	uint8_t *data;
	size_t size;
	uint32_t n;
	char *first;
	size_t first_len;
};

struct sink {
	struct block *b;
	size_t n, cap;
	int fail; /* returned by every flush when set */
	unsigned calls;
};

static int sink_flush(void *userdata, const struct manifest_block_info *info)
{
	struct sink *s = userdata;
	struct block *b;

	s->calls++;
	if (s->fail)
		return s->fail;
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 16;
		s->b = realloc(s->b, s->cap * sizeof(*s->b));
		ck_assert_ptr_nonnull(s->b);
	}
	b = &s->b[s->n++];
	b->data = malloc(info->size);
	b->first = malloc(info->first_path_len + 1);
	ck_assert_ptr_nonnull(b->data);
	ck_assert_ptr_nonnull(b->first);
	memcpy(b->data, info->data, info->size);
	memcpy(b->first, info->first_path, info->first_path_len);
	b->size = info->size;
	b->n = info->n_entries;
	b->first_len = info->first_path_len;
	return 0;
}

static void sink_release(struct sink *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->b[i].data);
		free(s->b[i].first);
	}
	free(s->b);
	*s = (struct sink){ 0 };
}

static struct manifest_entry entry(const char *path, char type)
{
	struct manifest_entry e = {
		.path = path,
		.path_len = strlen(path),
		.type = type,
		.mode = 0644,
		.uid = 1000,
		.gid = 100,
		.size = 4096,
		.mtime_sec = 1700000000,
		.mtime_nsec = 5,
		.ctime_sec = 1700000001,
		.ctime_nsec = 6,
		.ino = 257,
		.nlink = 1,
	};

	if (type == MANIFEST_LNK) {
		e.target = "target";
		e.target_len = 6;
	}
	return e;
}

static void assert_entry_eq(const struct manifest_entry *got, const struct manifest_entry *want)
{
	fast_assert_uint_eq(got->path_len, want->path_len);
	ck_assert_ptr_nonnull(got->path);
	if (want->path_len > 0 && memcmp(got->path, want->path, want->path_len) != 0)
		ck_abort_msg("path differs: '%.80s' for '%.80s'", got->path, want->path);
	fast_assert_int_eq(got->type, want->type);
	fast_assert_uint_eq(got->mode, want->mode);
	fast_assert_uint_eq(got->uid, want->uid);
	fast_assert_uint_eq(got->gid, want->gid);
	fast_assert_uint_eq(got->size, want->size);
	fast_assert_int_eq(got->mtime_sec, want->mtime_sec);
	fast_assert_uint_eq(got->mtime_nsec, want->mtime_nsec);
	fast_assert_int_eq(got->ctime_sec, want->ctime_sec);
	fast_assert_uint_eq(got->ctime_nsec, want->ctime_nsec);
	fast_assert_uint_eq(got->ino, want->ino);
	fast_assert_uint_eq(got->nlink, want->nlink);
	fast_assert_uint_eq(got->rdev, want->rdev);
	fast_assert_uint_eq(got->flags, want->flags);
	fast_assert_uint_eq(got->target_len, want->target_len);
	if (want->type == MANIFEST_LNK) {
		ck_assert_ptr_nonnull(got->target);
		if (want->target_len > 0)
			fast_assert_mem_eq(got->target, want->target, want->target_len);
	} else {
		ck_assert_ptr_null(got->target);
	}
	/* the inputs hold zeros where no digest is flagged, as a decoded entry must */
	fast_assert_mem_eq(got->content, want->content, MANIFEST_DIGEST_LEN);
	fast_assert_mem_eq(got->xattrs, want->xattrs, MANIFEST_DIGEST_LEN);
}

/* Decodes a whole block: the number of entries, or the error that ended it. */
static int decode_all(const void *data, size_t size)
{
	struct manifest_block_iter it;
	struct manifest_entry e;
	int r, n = 0;

	r = manifest_block_parse(data, size, &it);
	if (r < 0)
		return r;
	while ((r = manifest_block_next(&it, &e)) > 0)
		n++;
	manifest_block_iter_release(&it);
	return r < 0 ? r : n;
}

/* --- path order --- */

START_TEST(test_path_order)
{
	/* in path order: a depth-first walk with each directory's names sorted */
	static const char *const ordered[] = {
		"",   "a",	"a/b",	"a/b/c",  "a/b/c/d",  "a/b-c", "a/bc",
		"a!", "a-",	"a.b",	"a.b/c",  "a0",	      "aa",    "b",
		"b/", "\x7f", "\x80", "\x80/x", "\x80\x30", "\xff",
	};

	for (size_t i = 0; i < ARRAY_SIZE(ordered); i++)
		for (size_t j = 0; j < ARRAY_SIZE(ordered); j++) {
			int want = i < j ? -1 : i > j;
			int got = manifest_path_cmp(ordered[i], strlen(ordered[i]), ordered[j],
						    strlen(ordered[j]));

			ck_assert_msg(sign(got) == want, "cmp('%s', '%s') = %d, want %d",
				      ordered[i], ordered[j], got, want);
		}
	ck_assert_int_lt(manifest_path_cmp("a", 1, "a/b", 3), 0);
	ck_assert_int_lt(manifest_path_cmp("a/b", 3, "a.b", 3), 0);
	ck_assert_int_lt(manifest_path_cmp("a.b", 3, "a0", 2), 0);
	ck_assert_int_lt(manifest_path_cmp("", 0, "a", 1), 0);
	ck_assert_int_gt(manifest_path_cmp("a", 1, "", 0), 0);
	ck_assert_int_eq(manifest_path_cmp(NULL, 0, NULL, 0), 0);
	ck_assert_int_eq(manifest_path_cmp("a/b", 3, "a/b", 3), 0);
	/* bytes above 0x7f compare unsigned, and a proper prefix comes first */
	ck_assert_int_lt(manifest_path_cmp("a/\xff", 3, "a!", 2), 0);
	/* only the given lengths count */
	ck_assert_int_eq(manifest_path_cmp("abc", 2, "abd", 2), 0);
}
END_TEST

/*
 * The order the header promises, computed another way: paths compared as
 * lists of components, each component by its bytes, a prefix first.
 */
static int component_cmp(const char *a, size_t a_len, const char *b, size_t b_len)
{
	size_t i = 0, j = 0;

	/* the empty path has no components at all */
	if (a_len == 0 || b_len == 0)
		return (a_len > 0) - (b_len > 0);
	for (;;) {
		size_t ie = i, je = j, n;
		bool a_done, b_done;
		int c;

		while (ie < a_len && a[ie] != '/')
			ie++;
		while (je < b_len && b[je] != '/')
			je++;
		n = ie - i < je - j ? ie - i : je - j;
		c = memcmp(a + i, b + j, n);
		if (c != 0)
			return sign(c);
		if (ie - i != je - j)
			return ie - i < je - j ? -1 : 1;
		a_done = ie == a_len;
		b_done = je == b_len;
		if (a_done || b_done)
			return a_done && b_done ? 0 : a_done ? -1 : 1;
		i = ie + 1;
		j = je + 1;
	}
}

START_TEST(test_path_order_components)
{
	static const char alphabet[] = "ab/.-0!\x80\xff";
	char a[10], b[10];

	rng_state = 0x9e3779b97f4a7c15;
	for (int k = 0; k < 200000; k++) {
		size_t a_len = rnd() % 9, b_len = rnd() % 9;

		for (size_t i = 0; i < a_len; i++)
			a[i] = alphabet[rnd() % (sizeof(alphabet) - 1)];
		/* many shared prefixes, or the interesting cases would be rare */
		for (size_t i = 0; i < b_len; i++)
			b[i] = i < a_len && rnd() % 4 ? a[i]
						      : alphabet[rnd() % (sizeof(alphabet) - 1)];
		fast_assert_int_eq(sign(manifest_path_cmp(a, a_len, b, b_len)),
				   component_cmp(a, a_len, b, b_len));
		fast_assert_int_eq(sign(manifest_path_cmp(b, b_len, a, a_len)),
				   -component_cmp(a, a_len, b, b_len));
	}
}
END_TEST

START_TEST(test_is_beneath)
{
	static const struct {
		const char *path, *dir;
		bool want;
	} cases[] = {
		{ "a", "", true },	      { "a/b/c", "", true },   { "", "", false },
		{ "a/b", "a", true },	      { "a/b/c", "a", true },  { "a/b/c", "a/b", true },
		{ "a", "a", false },	      { "ab", "a", false },    { "a.b/c", "a", false },
		{ "a", "a/b", false },	      { "a/b", "a/b", false }, { "a/bc/d", "a/b", false },
		{ "b/a", "a", false },	      { "", "a", false },      { "a/", "a", true },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		ck_assert_msg(manifest_path_is_beneath(cases[i].path, strlen(cases[i].path),
						       cases[i].dir,
						       strlen(cases[i].dir)) == cases[i].want,
			      "is_beneath('%s', '%s') is not %d", cases[i].path, cases[i].dir,
			      cases[i].want);
	/* only the given lengths count */
	ck_assert(manifest_path_is_beneath("a/bX", 3, "a", 1));
	ck_assert(!manifest_path_is_beneath("a/b", 3, "a/bX", 3));
}
END_TEST

/* --- round trip --- */

struct pool {
	struct manifest_entry *e;
	size_t n, cap;
};

static struct manifest_entry *pool_add(struct pool *p, char *path, size_t len, char type)
{
	struct manifest_entry *e;

	if (p->n == p->cap) {
		p->cap = p->cap ? 2 * p->cap : 1024;
		p->e = realloc(p->e, p->cap * sizeof(*p->e));
		ck_assert_ptr_nonnull(p->e);
	}
	e = &p->e[p->n++];
	*e = entry("", type);
	e->path = path;
	e->path_len = len;
	e->target = NULL;
	e->target_len = 0;
	return e;
}

static void pool_release(struct pool *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free((char *)p->e[i].path);
		free((char *)p->e[i].target);
	}
	free(p->e);
	*p = (struct pool){ 0 };
}

static int entry_order(const void *a, const void *b)
{
	const struct manifest_entry *x = a, *y = b;

	return manifest_path_cmp(x->path, x->path_len, y->path, y->path_len);
}

static void pool_sort_unique(struct pool *p)
{
	size_t out = 0;

	qsort(p->e, p->n, sizeof(*p->e), entry_order);
	for (size_t i = 0; i < p->n; i++) {
		if (out > 0 && entry_order(&p->e[out - 1], &p->e[i]) == 0) {
			free((char *)p->e[i].path);
			free((char *)p->e[i].target);
			continue;
		}
		p->e[out++] = p->e[i];
	}
	p->n = out;
}

/* A valid path of exactly `len` bytes: `head`, then components of 199 `fill` bytes. */
static char *long_path(const char *head, size_t len, char fill)
{
	size_t h = strlen(head);
	char *p = malloc(len + 1);

	ck_assert_ptr_nonnull(p);
	ck_assert_uint_le(h, len);
	memcpy(p, head, h);
	for (size_t i = h; i < len; i++)
		p[i] = (i - h) % 200 == 199 && i + 1 < len ? '/' : fill;
	p[len] = '\0';
	return p;
}

static char *random_component_path(size_t *ret_len)
{
	static const char alphabet[] = "abcdefghijklmnopqrstuvwxyzAZ0189.-_~ !#\x7f\x80\xfe\xff";
	size_t depth = 1 + rnd() % 5, len = 0;
	char *p = malloc(depth * 14 + 1);

	ck_assert_ptr_nonnull(p);
	for (size_t d = 0; d < depth; d++) {
		size_t n = 1 + rnd() % 12, start;

		if (d > 0)
			p[len++] = '/';
		start = len;
		for (size_t i = 0; i < n; i++)
			p[len++] = alphabet[rnd() % (sizeof(alphabet) - 1)];
		if (p[start] == '.' && (n == 1 || (n == 2 && p[start + 1] == '.')))
			p[len++] = 'x';
	}
	p[len] = '\0';
	*ret_len = len;
	return p;
}

static uint64_t pick_u64(void)
{
	static const uint64_t v[] = { 0, 1, 127, 128, 16383, 16384, UINT32_MAX, UINT64_MAX - 1,
				      UINT64_MAX };

	return rnd() % 3 ? v[rnd() % ARRAY_SIZE(v)] : rnd() >> (rnd() % 64);
}

static int64_t pick_time(void)
{
	static const int64_t v[] = { 0, -1, 1, -64, 63, 64, INT64_MIN, INT64_MAX, INT64_MIN + 1,
				     -2208988800, 1700000000 };

	return rnd() % 3 ? v[rnd() % ARRAY_SIZE(v)] : (int64_t)rnd();
}

static uint32_t pick_nsec(void)
{
	static const uint32_t v[] = { 0, 1, 999999999, 500000000 };

	return rnd() % 2 ? v[rnd() % ARRAY_SIZE(v)] : (uint32_t)(rnd() % 1000000000);
}

static void fill_random(struct manifest_entry *e)
{
	static const char types[] = "fdlcbps";

	if (!e->type)
		e->type = types[rnd() % 7];
	e->mode = (uint32_t)(rnd() & 07777);
	e->uid = rnd() % 2 ? (uint32_t)rnd() : (rnd() % 2 ? UINT32_MAX : 0);
	e->gid = rnd() % 2 ? (uint32_t)rnd() : (rnd() % 2 ? UINT32_MAX : 0);
	e->size = pick_u64();
	e->mtime_sec = pick_time();
	e->mtime_nsec = pick_nsec();
	e->ctime_sec = pick_time();
	e->ctime_nsec = pick_nsec();
	e->ino = pick_u64();
	e->nlink = pick_u64();
	e->rdev = e->type == MANIFEST_CHR || e->type == MANIFEST_BLK ? pick_u64() : 0;
	e->flags = 0;
	memset(e->content, 0, sizeof(e->content));
	memset(e->xattrs, 0, sizeof(e->xattrs));
	if (e->type == MANIFEST_REG && rnd() % 4) {
		e->flags |= MANIFEST_HAS_CONTENT;
		for (size_t i = 0; i < MANIFEST_DIGEST_LEN; i++)
			e->content[i] = (uint8_t)rnd();
	}
	if (rnd() % 3 == 0) {
		e->flags |= MANIFEST_HAS_XATTRS;
		for (size_t i = 0; i < MANIFEST_DIGEST_LEN; i++)
			e->xattrs[i] = (uint8_t)rnd();
	}
	if (e->type == MANIFEST_LNK && !e->target) {
		size_t n = rnd() % 3 == 0 ? 0 : 1 + rnd() % 300;
		char *t = malloc(n + 1);

		ck_assert_ptr_nonnull(t);
		for (size_t i = 0; i < n; i++)
			t[i] = (char)(1 + rnd() % 255); /* any byte but NUL */
		e->target = t;
		e->target_len = n;
	}
}

static void make_pool(struct pool *p)
{
	struct manifest_entry *e;
	char *s;
	size_t len;

	rng_state = 0x243f6a8885a308d3;
	pool_add(p, strdup(""), 0, MANIFEST_DIR);
	for (int i = 0; i < 6000; i++) {
		s = random_component_path(&len);
		pool_add(p, s, len, 0);
	}
	/* long paths, many of them larger than a block, so that blocks end anywhere */
	for (int i = 0; i < 150; i++) {
		char head[32];

		snprintf(head, sizeof(head), "med%d/", (int)(rnd() % 40));
		len = 1000 + rnd() % 40000;
		pool_add(p, long_path(head, len, (char)('a' + rnd() % 26)), len, 0);
	}
	/* the longest paths, sharing all but their last byte */
	for (char last = 'q'; last <= 's'; last++) {
		s = long_path("long/", MANIFEST_PATH_MAX, 'q');
		s[MANIFEST_PATH_MAX - 1] = last;
		pool_add(p, s, MANIFEST_PATH_MAX, MANIFEST_REG);
	}
	e = pool_add(p, strdup("long-link"), 9, MANIFEST_LNK);
	e->target = long_path("/target/", MANIFEST_PATH_MAX, 't');
	e->target_len = MANIFEST_PATH_MAX;
	for (size_t i = 0; i < p->n; i++) {
		ck_assert_ptr_nonnull(p->e[i].path);
		fill_random(&p->e[i]);
	}
	pool_sort_unique(p);
}

static void canonical128(const void *data, size_t size, uint8_t ret[16])
{
	XXH128_hash_t h = XXH3_128bits(data, size);

	for (int i = 0; i < 8; i++) {
		ret[i] = (uint8_t)(h.high64 >> (56 - 8 * i));
		ret[8 + i] = (uint8_t)(h.low64 >> (56 - 8 * i));
	}
}

START_TEST(test_round_trip)
{
	struct pool p = { 0 };
	struct sink s = { 0 };
	struct manifest_encoder *enc = NULL;
	uint8_t digest[MANIFEST_DIGEST_LEN], want[MANIFEST_DIGEST_LEN];
	uint8_t *all = NULL;
	size_t all_len = 0, next = 0;

	make_pool(&p);
	ck_assert_uint_gt(p.n, 6000);

	ck_assert_int_eq(manifest_encoder_new(sink_flush, &s, &enc), 0);
	for (size_t i = 0; i < p.n; i++)
		fast_assert_int_eq(manifest_encoder_add(enc, &p.e[i]), 0);
	ck_assert_int_eq(manifest_encoder_finish(enc), 0);
	ck_assert_uint_eq(manifest_encoder_entries(enc), p.n);
	ck_assert_uint_gt(s.n, 10);

	for (size_t k = 0; k < s.n; k++) {
		const struct block *b = &s.b[k];
		struct manifest_block_iter it;
		struct manifest_entry e;
		const void *payload;
		size_t payload_size, last_start = 0;
		uint32_t n = 0;
		int r;

		/* the header, read after the format rather than through the codec */
		ck_assert_uint_ge(b->size, HDR);
		ck_assert_mem_eq(b->data, "SFMB\x01\0\0\0", 8);
		ck_assert_uint_eq(get32(b->data + 8), b->n);
		ck_assert_uint_eq(get32(b->data + 12), b->size - HDR);
		ck_assert_uint_eq(get64(b->data + 16), XXH3_64bits(b->data + HDR, b->size - HDR));
		ck_assert_int_eq(MANIFEST_BLOCK_HEADER, HDR);

		ck_assert_int_eq(manifest_block_payload(b->data, b->size, &payload, &payload_size),
				 0);
		ck_assert_ptr_eq(payload, b->data + HDR);
		ck_assert_uint_eq(payload_size, b->size - HDR);
		all = realloc(all, all_len + payload_size);
		ck_assert_ptr_nonnull(all);
		memcpy(all + all_len, payload, payload_size);
		all_len += payload_size;

		/* each block decodes on its own */
		ck_assert_int_eq(manifest_block_parse(b->data, b->size, &it), 0);
		for (;;) {
			size_t start = (size_t)(it.p - (b->data + HDR));

			r = manifest_block_next(&it, &e);
			if (r <= 0)
				break;
			ck_assert_uint_lt(next, p.n);
			if (n == 0) {
				fast_assert_uint_eq(e.path_len, b->first_len);
				fast_assert_mem_eq(e.path, b->first, b->first_len);
			}
			assert_entry_eq(&e, &p.e[next]);
			last_start = start;
			next++;
			n++;
		}
		ck_assert_int_eq(r, 0);
		ck_assert_int_eq(manifest_block_next(&it, &e), 0);
		manifest_block_iter_release(&it);
		ck_assert_uint_eq(n, b->n);
		ck_assert_uint_gt(n, 0);
		/* closed as soon as the target is reached, and not before */
		if (k + 1 < s.n)
			ck_assert_uint_ge(payload_size, MANIFEST_BLOCK_TARGET);
		ck_assert_uint_lt(last_start, MANIFEST_BLOCK_TARGET);
		ck_assert_uint_le(payload_size, MANIFEST_BLOCK_MAX);
	}
	ck_assert_uint_eq(next, p.n);

	manifest_encoder_digest(enc, digest);
	canonical128(all, all_len, want);
	ck_assert_mem_eq(digest, want, MANIFEST_DIGEST_LEN);

	free(all);
	manifest_encoder_free(enc);
	sink_release(&s);
	pool_release(&p);
}
END_TEST

START_TEST(test_empty_encoder)
{
	struct sink s = { 0 };
	struct manifest_encoder *enc = NULL;
	uint8_t digest[MANIFEST_DIGEST_LEN], want[MANIFEST_DIGEST_LEN];

	ck_assert_int_eq(manifest_encoder_new(sink_flush, &s, &enc), 0);
	ck_assert_int_eq(manifest_encoder_finish(enc), 0);
	ck_assert_uint_eq(s.calls, 0);
	ck_assert_uint_eq(manifest_encoder_entries(enc), 0);
	manifest_encoder_digest(enc, digest);
	canonical128("", 0, want);
	ck_assert_mem_eq(digest, want, MANIFEST_DIGEST_LEN);
	manifest_encoder_free(enc);
	manifest_encoder_free(NULL);
}
END_TEST

/* The root alone, and the digest after each of two finishes. */
START_TEST(test_root_only)
{
	struct sink s = { 0 };
	struct manifest_encoder *enc = NULL;
	struct manifest_entry root = entry("", MANIFEST_DIR);
	struct manifest_block_iter it;
	struct manifest_entry e;

	ck_assert_int_eq(manifest_encoder_new(sink_flush, &s, &enc), 0);
	ck_assert_int_eq(manifest_encoder_add(enc, &root), 0);
	ck_assert_uint_eq(s.calls, 0);
	ck_assert_int_eq(manifest_encoder_finish(enc), 0);
	ck_assert_uint_eq(s.n, 1);
	ck_assert_uint_eq(s.b[0].first_len, 0);
	ck_assert_uint_eq(s.b[0].n, 1);
	/* finishing again has no block to flush */
	ck_assert_int_eq(manifest_encoder_finish(enc), 0);
	ck_assert_uint_eq(s.n, 1);

	ck_assert_int_eq(manifest_block_parse(s.b[0].data, s.b[0].size, &it), 0);
	ck_assert_int_eq(manifest_block_next(&it, &e), 1);
	ck_assert_ptr_nonnull(e.path);
	assert_entry_eq(&e, &root);
	ck_assert_int_eq(manifest_block_next(&it, &e), 0);
	manifest_block_iter_release(&it);
	manifest_block_iter_release(&it);
	manifest_encoder_free(enc);
	sink_release(&s);
}
END_TEST

/* --- encoder refusals --- */

static void assert_refused(const struct manifest_entry *e, const char *what)
{
	struct sink s = { 0 };
	struct manifest_encoder *enc = NULL;
	struct manifest_entry ok = entry("ok", MANIFEST_REG);

	ck_assert_int_eq(manifest_encoder_new(sink_flush, &s, &enc), 0);
	ck_assert_msg(manifest_encoder_add(enc, e) == -EINVAL, "%s was not refused", what);
	ck_assert_uint_eq(manifest_encoder_entries(enc), 0);
	/* a refusal leaves the encoder as it was */
	ck_assert_int_eq(manifest_encoder_add(enc, &ok), 0);
	ck_assert_int_eq(manifest_encoder_finish(enc), 0);
	ck_assert_uint_eq(s.n, 1);
	ck_assert_int_eq(decode_all(s.b[0].data, s.b[0].size), 1);
	manifest_encoder_free(enc);
	sink_release(&s);
}

static void assert_accepted(const struct manifest_entry *e, const char *what)
{
	struct sink s = { 0 };
	struct manifest_encoder *enc = NULL;
	struct manifest_block_iter it;
	struct manifest_entry got;

	ck_assert_int_eq(manifest_encoder_new(sink_flush, &s, &enc), 0);
	ck_assert_msg(manifest_encoder_add(enc, e) == 0, "%s was refused", what);
	ck_assert_int_eq(manifest_encoder_finish(enc), 0);
	ck_assert_int_eq(manifest_block_parse(s.b[0].data, s.b[0].size, &it), 0);
	ck_assert_int_eq(manifest_block_next(&it, &got), 1);
	assert_entry_eq(&got, e);
	ck_assert_int_eq(manifest_block_next(&it, &got), 0);
	manifest_block_iter_release(&it);
	manifest_encoder_free(enc);
	sink_release(&s);
}

START_TEST(test_encoder_path_forms)
{
	static const char *const bad[] = {
		"/",	"/a", "a/",	"a//b", "//",	    ".",      "..",	"./a",
		"../a", "a/.", "a/..", "a/./b", "a/../b", "a/b/", "a/b//c", "/a/b",
	};
	static const char *const good[] = {
		"...", ".a", "a.", "..a", "a..", "a/.b", "a/..b", "a/b.", "\xff", " ", "a b/c", "-",
	};
	struct manifest_entry e;
	char *huge;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		e = entry(bad[i], MANIFEST_DIR);
		assert_refused(&e, bad[i]);
	}
	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		e = entry(good[i], MANIFEST_DIR);
		assert_accepted(&e, good[i]);
	}
	e = entry("a", MANIFEST_DIR);
	e.path = "a\0b";
	e.path_len = 3;
	assert_refused(&e, "a NUL in a path");
	e.path = NULL;
	assert_refused(&e, "a NULL path with a length");

	huge = long_path("h/", MANIFEST_PATH_MAX + 1, 'h');
	e = entry("", MANIFEST_REG);
	e.path = huge;
	e.path_len = MANIFEST_PATH_MAX + 1;
	assert_refused(&e, "a path longer than MANIFEST_PATH_MAX");
	e.path_len = MANIFEST_PATH_MAX;
	assert_accepted(&e, "a path of MANIFEST_PATH_MAX bytes");
	free(huge);
}
END_TEST

START_TEST(test_encoder_fields)
{
	struct manifest_entry e;
	char *huge;

	e = entry("x", 'x');
	assert_refused(&e, "type 'x'");
	e = entry("x", 0);
	assert_refused(&e, "type 0");
	e = entry("x", 'F');
	assert_refused(&e, "type 'F'");
	e = entry("x", MANIFEST_REG);
	e.mode = 010000;
	assert_refused(&e, "mode 010000");
	e = entry("x", MANIFEST_REG);
	e.mtime_nsec = 1000000000;
	assert_refused(&e, "mtime_nsec 1e9");
	e = entry("x", MANIFEST_REG);
	e.ctime_nsec = 1000000000;
	assert_refused(&e, "ctime_nsec 1e9");
	e = entry("x", MANIFEST_REG);
	e.flags = 1 << 2;
	assert_refused(&e, "an unknown flag");
	e = entry("x", MANIFEST_DIR);
	e.flags = MANIFEST_HAS_CONTENT;
	assert_refused(&e, "a content digest on a directory");
	e = entry("x", MANIFEST_LNK);
	e.flags = MANIFEST_HAS_CONTENT;
	assert_refused(&e, "a content digest on a symlink");
	e = entry("x", MANIFEST_REG);
	e.target = "t";
	e.target_len = 1;
	assert_refused(&e, "a target on a regular file");
	e = entry("x", MANIFEST_DIR);
	e.target = "";
	assert_refused(&e, "an empty target on a directory");
	e = entry("x", MANIFEST_CHR);
	e.target_len = 1;
	assert_refused(&e, "a target length on a device");
	e = entry("x", MANIFEST_LNK);
	e.target = NULL;
	e.target_len = 3;
	assert_refused(&e, "a NULL target with a length");
	e = entry("x", MANIFEST_LNK);
	e.target = "a\0b";
	e.target_len = 3;
	assert_refused(&e, "a NUL in a target");

	huge = long_path("/", MANIFEST_PATH_MAX + 1, 't');
	e = entry("x", MANIFEST_LNK);
	e.target = huge;
	e.target_len = MANIFEST_PATH_MAX + 1;
	assert_refused(&e, "a target longer than MANIFEST_PATH_MAX");
	e.target_len = MANIFEST_PATH_MAX;
	assert_accepted(&e, "a target of MANIFEST_PATH_MAX bytes");
	free(huge);

	/* the extremes every field can hold */
	e = entry("x", MANIFEST_BLK);
	e.mode = 07777;
	e.uid = e.gid = UINT32_MAX;
	e.size = e.ino = e.nlink = e.rdev = UINT64_MAX;
	e.mtime_sec = INT64_MIN;
	e.ctime_sec = INT64_MAX;
	e.mtime_nsec = e.ctime_nsec = 999999999;
	e.flags = MANIFEST_HAS_XATTRS;
	memset(e.xattrs, 0xff, sizeof(e.xattrs));
	assert_accepted(&e, "the largest numbers");
	e = entry("x", MANIFEST_LNK);
	e.target = NULL;
	e.target_len = 0;
	assert_accepted(&e, "a symlink with an empty target");
	e = entry("x", MANIFEST_REG);
	e.flags = MANIFEST_HAS_CONTENT | MANIFEST_HAS_XATTRS;
	memset(e.content, 0xc3, sizeof(e.content));
	memset(e.xattrs, 0x3c, sizeof(e.xattrs));
	assert_accepted(&e, "a file with both digests");
}
END_TEST

START_TEST(test_encoder_order)
{
	struct sink s = { 0 };
	struct manifest_encoder *enc = NULL;
	struct manifest_entry e;
	uint64_t added = 0;
	char name[64];

	ck_assert_int_eq(manifest_encoder_new(sink_flush, &s, &enc), 0);
	e = entry("b", MANIFEST_DIR);
	ck_assert_int_eq(manifest_encoder_add(enc, &e), 0);
	e = entry("a", MANIFEST_DIR);
	ck_assert_int_eq(manifest_encoder_add(enc, &e), -EINVAL);
	e = entry("b", MANIFEST_DIR);
	ck_assert_int_eq(manifest_encoder_add(enc, &e), -EINVAL);
	e = entry("", MANIFEST_DIR);
	ck_assert_int_eq(manifest_encoder_add(enc, &e), -EINVAL);
	e = entry("b.c", MANIFEST_DIR);
	ck_assert_int_eq(manifest_encoder_add(enc, &e), 0);
	e = entry("b/c", MANIFEST_DIR);
	ck_assert_int_eq(manifest_encoder_add(enc, &e), -EINVAL);
	added = 2;

	/* fill blocks; the order holds across their boundaries too */
	while (s.n < 2) {
		snprintf(name, sizeof(name), "c/%08" PRIu64, added);
		e = entry(name, MANIFEST_REG);
		ck_assert_int_eq(manifest_encoder_add(enc, &e), 0);
		added++;
	}
	ck_assert_uint_eq(s.n, 2);
	/* the last entry added ended a block: the next block's first must still follow it */
	snprintf(name, sizeof(name), "c/%08" PRIu64, added - 1);
	e = entry(name, MANIFEST_REG);
	ck_assert_int_eq(manifest_encoder_add(enc, &e), -EINVAL);
	e = entry("c", MANIFEST_REG);
	ck_assert_int_eq(manifest_encoder_add(enc, &e), -EINVAL);
	ck_assert_uint_eq(manifest_encoder_entries(enc), added);
	e = entry("d", MANIFEST_REG);
	ck_assert_int_eq(manifest_encoder_add(enc, &e), 0);
	added++;
	ck_assert_int_eq(manifest_encoder_finish(enc), 0);
	ck_assert_uint_eq(s.n, 3);
	ck_assert_uint_eq(s.b[2].n, 1);
	ck_assert_uint_eq(s.b[2].first_len, 1);
	ck_assert_mem_eq(s.b[2].first, "d", 1);
	ck_assert_int_eq(decode_all(s.b[0].data, s.b[0].size) +
				 decode_all(s.b[1].data, s.b[1].size) +
				 decode_all(s.b[2].data, s.b[2].size),
			 added);
	manifest_encoder_free(enc);
	sink_release(&s);
}
END_TEST

START_TEST(test_flush_error)
{
	struct sink s = { .fail = -ENOSPC };
	struct manifest_encoder *enc = NULL;
	struct manifest_entry e;
	uint8_t digest[MANIFEST_DIGEST_LEN], want[MANIFEST_DIGEST_LEN];
	char name[64];
	int r = 0, i;

	ck_assert_int_eq(manifest_encoder_new(sink_flush, &s, &enc), 0);
	for (i = 0; i < 100000 && r == 0; i++) {
		snprintf(name, sizeof(name), "%08d", i);
		e = entry(name, MANIFEST_REG);
		r = manifest_encoder_add(enc, &e);
	}
	ck_assert_int_eq(r, -ENOSPC);
	ck_assert_uint_eq(s.calls, 1);
	/* a lost block fails everything after it */
	snprintf(name, sizeof(name), "%08d", i);
	e = entry(name, MANIFEST_REG);
	ck_assert_int_eq(manifest_encoder_add(enc, &e), -ENOSPC);
	ck_assert_int_eq(manifest_encoder_finish(enc), -ENOSPC);
	ck_assert_uint_eq(s.calls, 1);
	/* and the digest covers only what was flushed: nothing */
	manifest_encoder_digest(enc, digest);
	canonical128("", 0, want);
	ck_assert_mem_eq(digest, want, MANIFEST_DIGEST_LEN);
	manifest_encoder_free(enc);

	/* the error of the flush at finish */
	s = (struct sink){ .fail = -EIO };
	ck_assert_int_eq(manifest_encoder_new(sink_flush, &s, &enc), 0);
	e = entry("a", MANIFEST_REG);
	ck_assert_int_eq(manifest_encoder_add(enc, &e), 0);
	ck_assert_int_eq(manifest_encoder_finish(enc), -EIO);
	ck_assert_int_eq(manifest_encoder_finish(enc), -EIO);
	manifest_encoder_free(enc);
	sink_release(&s);
}
END_TEST

/* --- blocks written by hand, after the format --- */

struct wbuf {
	uint8_t b[4096];
	size_t n;
};

static void w_byte(struct wbuf *w, uint8_t v)
{
	ck_assert_uint_lt(w->n, sizeof(w->b));
	w->b[w->n++] = v;
}

static void w_bytes(struct wbuf *w, const void *p, size_t n)
{
	ck_assert_uint_le(n, sizeof(w->b) - w->n);
	memcpy(w->b + w->n, p, n);
	w->n += n;
}

static void w_var(struct wbuf *w, uint64_t v)
{
	while (v >= 0x80) {
		w_byte(w, (uint8_t)(v | 0x80));
		v >>= 7;
	}
	w_byte(w, (uint8_t)v);
}

/* An entry's fields as stored: signed times already zigzagged. */
struct raw {
	uint64_t shared;
	const char *suffix;
	size_t suffix_len;
	uint8_t type;
	/* mode uid gid size mtime_sec mtime_nsec ctime_sec ctime_nsec ino nlink rdev */
	uint64_t num[11];
	uint8_t flags;
	const char *target;
	size_t target_len;
	/* when set, these bytes stand for num[raw_field - 1] */
	int raw_field;
	const char *raw_bytes;
	size_t raw_len;
};

enum {
	F_MODE = 1,
	F_UID,
	F_GID,
	F_SIZE,
	F_MTIME,
	F_MNSEC,
	F_CTIME,
	F_CNSEC,
	F_INO,
	F_NLINK,
	F_RDEV,
};

static struct raw raw(uint64_t shared, const char *suffix, uint8_t type)
{
	struct raw r = {
		.shared = shared,
		.suffix = suffix,
		.suffix_len = strlen(suffix),
		.type = type,
		.num = { 0755, 1000, 100, 4096, 3400000000u, 7, 3400000002u, 8, 256, 2, 0 },
	};

	if (type == 'l') {
		r.target = "../x";
		r.target_len = 4;
	}
	return r;
}

static void w_entry(struct wbuf *w, const struct raw *r)
{
	w_var(w, r->shared);
	w_var(w, r->suffix_len);
	w_bytes(w, r->suffix, r->suffix_len);
	w_byte(w, r->type);
	for (int i = 0; i < 11; i++) {
		if (r->raw_field == i + 1)
			w_bytes(w, r->raw_bytes, r->raw_len);
		else
			w_var(w, r->num[i]);
	}
	w_byte(w, r->flags);
	if (r->type == 'l') {
		w_var(w, r->target_len);
		w_bytes(w, r->target, r->target_len);
	}
	for (int i = 0; i < 2; i++)
		if (r->flags & (1u << i))
			for (int j = 0; j < MANIFEST_DIGEST_LEN; j++)
				w_byte(w, (uint8_t)(0xa0 + 16 * i + j));
}

/* A block around a payload, with a correct checksum: malloc'ed, exactly sized. */
static uint8_t *make_block(const void *payload, size_t len, uint32_t count, size_t *ret_size)
{
	uint8_t *b = malloc(HDR + len);
	uint64_t sum = XXH3_64bits(payload, len);

	ck_assert_ptr_nonnull(b);
	memcpy(b, "SFMB\x01\0\0\0", 8);
	be32(b + 8, count);
	be32(b + 12, (uint32_t)len);
	be32(b + 16, (uint32_t)(sum >> 32));
	be32(b + 20, (uint32_t)sum);
	if (len > 0)
		memcpy(b + HDR, payload, len);
	*ret_size = HDR + len;
	return b;
}

/* Five entries of every kind, written by hand. */
static uint32_t hand_payload(struct wbuf *w)
{
	struct raw r;

	r = raw(0, "", 'd');
	w_entry(w, &r);
	r = raw(0, "a", 'f');
	r.flags = MANIFEST_HAS_CONTENT | MANIFEST_HAS_XATTRS;
	r.num[F_SIZE - 1] = UINT64_MAX;
	r.num[F_MTIME - 1] = 1; /* -1 */
	r.num[F_CTIME - 1] = UINT64_MAX; /* INT64_MIN */
	w_entry(w, &r);
	r = raw(1, "/b", 'l');
	w_entry(w, &r);
	r = raw(2, "c", 'c');
	r.num[F_RDEV - 1] = 0x10305;
	r.num[F_MNSEC - 1] = 999999999;
	w_entry(w, &r);
	r = raw(0, "b", 'p');
	r.flags = MANIFEST_HAS_XATTRS;
	r.num[F_UID - 1] = UINT32_MAX;
	r.num[F_CTIME - 1] = UINT64_MAX - 1; /* INT64_MAX */
	w_entry(w, &r);
	r = raw(1, "/s", 's');
	w_entry(w, &r);
	return 6;
}

START_TEST(test_hand_written_block)
{
	struct wbuf w = { .n = 0 };
	struct manifest_block_iter it;
	struct manifest_entry e, want[6];
	struct sink s = { 0 };
	struct manifest_encoder *enc = NULL;
	uint32_t count = hand_payload(&w);
	size_t size;
	uint8_t *block = make_block(w.b, w.n, count, &size);

	want[0] = entry("", 'd');
	want[1] = entry("a", 'f');
	want[2] = entry("a/b", 'l');
	want[3] = entry("a/c", 'c');
	want[4] = entry("b", 'p');
	want[5] = entry("b/s", 's');
	for (int i = 0; i < 6; i++) {
		want[i].mode = 0755;
		want[i].gid = 100;
		want[i].mtime_sec = 1700000000;
		want[i].mtime_nsec = 7;
		want[i].ctime_sec = 1700000001;
		want[i].ctime_nsec = 8;
		want[i].ino = 256;
		want[i].nlink = 2;
	}
	want[1].flags = MANIFEST_HAS_CONTENT | MANIFEST_HAS_XATTRS;
	for (int j = 0; j < MANIFEST_DIGEST_LEN; j++) {
		want[1].content[j] = (uint8_t)(0xa0 + j);
		want[1].xattrs[j] = want[4].xattrs[j] = (uint8_t)(0xb0 + j);
	}
	want[1].size = UINT64_MAX;
	want[1].mtime_sec = -1;
	want[1].ctime_sec = INT64_MIN;
	want[2].target = "../x";
	want[2].target_len = 4;
	want[3].rdev = 0x10305;
	want[3].mtime_nsec = 999999999;
	want[4].flags = MANIFEST_HAS_XATTRS;
	want[4].uid = UINT32_MAX;
	want[4].ctime_sec = INT64_MAX;

	ck_assert_int_eq(manifest_block_parse(block, size, &it), 0);
	for (int i = 0; i < 6; i++) {
		ck_assert_int_eq(manifest_block_next(&it, &e), 1);
		assert_entry_eq(&e, &want[i]);
	}
	ck_assert_int_eq(manifest_block_next(&it, &e), 0);
	manifest_block_iter_release(&it);

	/* the encoder writes exactly these bytes */
	ck_assert_int_eq(manifest_encoder_new(sink_flush, &s, &enc), 0);
	for (int i = 0; i < 6; i++)
		ck_assert_int_eq(manifest_encoder_add(enc, &want[i]), 0);
	ck_assert_int_eq(manifest_encoder_finish(enc), 0);
	ck_assert_uint_eq(s.n, 1);
	ck_assert_uint_eq(s.b[0].size, size);
	ck_assert_mem_eq(s.b[0].data, block, size);
	manifest_encoder_free(enc);
	sink_release(&s);
	free(block);
}
END_TEST

/* --- damage --- */

/* Rejected by the parse (header, checksum) or by the entry decoder. */
static int rejection(const uint8_t *data, size_t size)
{
	struct manifest_block_iter it;
	struct manifest_entry e;
	int r;

	r = manifest_block_parse(data, size, &it);
	if (r < 0)
		return r == -EBADMSG ? 1 : r;
	while ((r = manifest_block_next(&it, &e)) > 0)
		;
	manifest_block_iter_release(&it);
	return r == -EBADMSG ? 2 : r;
}

START_TEST(test_every_byte_flip)
{
	struct wbuf w = { .n = 0 };
	uint32_t count = hand_payload(&w);
	size_t size;
	uint8_t *block = make_block(w.b, w.n, count, &size);
	static const uint8_t masks[] = { 0x01, 0x02, 0x04, 0x08, 0x10,
					 0x20, 0x40, 0x80, 0xff, 0x5a };

	ck_assert_int_eq(decode_all(block, size), 6);
	for (size_t i = 0; i < size; i++)
		for (size_t m = 0; m < ARRAY_SIZE(masks); m++) {
			int r;

			block[i] ^= masks[m];
			r = rejection(block, size);
			block[i] ^= masks[m];
			if (r != 1 && r != 2)
				ck_abort_msg("flip 0x%02x at %zu: not rejected (%d)", masks[m], i,
					     r);
			/* the checksum covers the payload; the count is checked against it */
			if (r == 2 && !(i >= 8 && i < 12))
				ck_abort_msg("flip 0x%02x at %zu: passed the checksum", masks[m],
					     i);
		}
	free(block);
}
END_TEST

START_TEST(test_truncated)
{
	struct wbuf w = { .n = 0 };
	uint32_t count = hand_payload(&w);
	size_t size;
	uint8_t *block = make_block(w.b, w.n, count, &size);
	uint8_t *copy;

	/* cut short, in exactly sized copies so that an overread is caught */
	for (size_t n = 0; n < size; n++) {
		copy = malloc(n ? n : 1);
		memcpy(copy, block, n);
		fast_assert_int_eq(decode_all(copy, n), -EBADMSG);
		free(copy);
	}
	copy = malloc(size + 1);
	memcpy(copy, block, size);
	copy[size] = 0;
	fast_assert_int_eq(decode_all(copy, size + 1), -EBADMSG);
	free(copy);
	fast_assert_int_eq(decode_all(NULL, 0), -EBADMSG);

	/* a payload cut short under a header made for it: the decoder finds it */
	for (size_t n = 0; n < w.n; n++) {
		size_t bsize;
		uint8_t *b = make_block(w.b, n, count, &bsize);

		fast_assert_int_eq(rejection(b, bsize), 2);
		free(b);
	}
	free(block);
}
END_TEST

START_TEST(test_bad_header)
{
	struct wbuf w = { .n = 0 };
	uint32_t count = hand_payload(&w);
	size_t size, big_size;
	uint8_t *block = make_block(w.b, w.n, count, &size);
	uint8_t *big;
	const void *payload = NULL;
	size_t payload_size = 7;

	ck_assert_int_eq(rejection(block, size), 0);
	for (int i = 0; i < 8; i++) {
		/* magic, version 1, reserved zero: any other value is refused */
		uint8_t saved = block[i];

		for (int v = 0; v < 256; v++) {
			block[i] = (uint8_t)v;
			if (v != saved)
				fast_assert_int_eq(rejection(block, size), 1);
		}
		block[i] = saved;
	}
	be32(block + 8, 0);
	ck_assert_int_eq(rejection(block, size), 1);
	be32(block + 8, count);
	be32(block + 12, (uint32_t)w.n - 1);
	ck_assert_int_eq(rejection(block, size), 1);
	be32(block + 12, (uint32_t)w.n);
	ck_assert_int_eq(rejection(block, size), 0);

	ck_assert_int_eq(manifest_block_payload(block, size - 1, &payload, &payload_size),
			 -EBADMSG);
	ck_assert_ptr_null(payload);
	ck_assert_uint_eq(payload_size, 7);
	block[size - 1] ^= 1;
	ck_assert_int_eq(manifest_block_payload(block, size, &payload, &payload_size), -EBADMSG);
	ck_assert_ptr_null(payload);

	/* a payload larger than any block may be is refused, checksum or not */
	big_size = HDR + (size_t)MANIFEST_BLOCK_MAX + 1;
	big = calloc(1, big_size);
	ck_assert_ptr_nonnull(big);
	memcpy(big, block, HDR);
	be32(big + 12, MANIFEST_BLOCK_MAX + 1);
	{
		uint64_t sum = XXH3_64bits(big + HDR, MANIFEST_BLOCK_MAX + 1);

		be32(big + 16, (uint32_t)(sum >> 32));
		be32(big + 20, (uint32_t)sum);
	}
	ck_assert_int_eq(rejection(big, big_size), 1);
	free(big);
	free(block);
}
END_TEST

/* The iterator keeps its error, and its end. */
START_TEST(test_iterator_ends)
{
	struct wbuf w = { .n = 0 };
	struct manifest_block_iter it;
	struct manifest_entry e;
	uint8_t before[sizeof(e)];
	uint32_t count = hand_payload(&w);
	size_t size;
	uint8_t *block = make_block(w.b, w.n, count + 1, &size);

	ck_assert_int_eq(manifest_block_parse(block, size, &it), 0);
	for (uint32_t i = 0; i < count; i++)
		ck_assert_int_eq(manifest_block_next(&it, &e), 1);
	memset(&e, 0x5a, sizeof(e));
	memset(before, 0x5a, sizeof(before));
	ck_assert_int_eq(manifest_block_next(&it, &e), -EBADMSG);
	ck_assert_int_eq(manifest_block_next(&it, &e), -EBADMSG);
	/* nothing written on failure */
	ck_assert_mem_eq(&e, before, sizeof(e));
	manifest_block_iter_release(&it);
	free(block);

	/* a failed parse leaves nothing to release, and no entries to read */
	block = make_block(w.b, w.n, count, &size);
	block[HDR] ^= 1;
	ck_assert_int_eq(manifest_block_parse(block, size, &it), -EBADMSG);
	ck_assert_int_eq(manifest_block_next(&it, &e), -EBADMSG);
	manifest_block_iter_release(&it);
	free(block);
}
END_TEST

/* Payloads with a correct checksum that the entry decoder must refuse. */
struct semantic_case {
	const char *what;
	uint32_t (*build)(struct wbuf *w);
};

#define ONE(name, ...)                                                                             \
	static uint32_t name(struct wbuf *w)                                                       \
	{                                                                                          \
		__VA_ARGS__;                                                                       \
		return 1;                                                                          \
	}

static uint32_t two(struct wbuf *w, struct raw a, struct raw b)
{
	w_entry(w, &a);
	w_entry(w, &b);
	return 2;
}

static uint32_t out_of_order(struct wbuf *w)
{
	return two(w, raw(0, "b", 'f'), raw(0, "a", 'f'));
}

static uint32_t duplicate(struct wbuf *w)
{
	return two(w, raw(0, "a", 'f'), raw(1, "", 'f'));
}

static uint32_t slash_sorts_first(struct wbuf *w)
{
	return two(w, raw(0, "a.b", 'd'), raw(1, "/b", 'f'));
}

static uint32_t prefix_after(struct wbuf *w)
{
	return two(w, raw(0, "a/b", 'd'), raw(1, "", 'd'));
}

static uint32_t root_after(struct wbuf *w)
{
	return two(w, raw(0, "a", 'd'), raw(0, "", 'd'));
}

static uint32_t shared_too_long(struct wbuf *w)
{
	return two(w, raw(0, "ab", 'd'), raw(3, "c", 'd'));
}

static uint32_t shared_not_whole(struct wbuf *w)
{
	return two(w, raw(0, "ab", 'd'), raw(0, "ac", 'd'));
}

static uint32_t dotdot_across_prefix(struct wbuf *w)
{
	return two(w, raw(0, "a/.-", 'd'), raw(3, ".", 'd'));
}

static uint32_t dot_across_prefix(struct wbuf *w)
{
	return two(w, raw(0, "a/-", 'd'), raw(2, ".", 'd'));
}

static uint32_t double_slash_across_prefix(struct wbuf *w)
{
	return two(w, raw(0, "a", 'd'), raw(1, "//b", 'd'));
}

static uint32_t trailing_slash_across_prefix(struct wbuf *w)
{
	return two(w, raw(0, "a", 'd'), raw(1, "/", 'd'));
}

static uint32_t count_too_large(struct wbuf *w)
{
	two(w, raw(0, "a", 'f'), raw(0, "b", 'f'));
	return 3;
}

static uint32_t count_too_small(struct wbuf *w)
{
	two(w, raw(0, "a", 'f'), raw(0, "b", 'f'));
	return 1;
}

static uint32_t trailing_garbage(struct wbuf *w)
{
	struct raw r = raw(0, "a", 'f');

	w_entry(w, &r);
	w_byte(w, 0);
	return 1;
}

static uint32_t cut_entry(struct wbuf *w)
{
	struct raw r = raw(0, "a", 'f');

	r.flags = MANIFEST_HAS_XATTRS;
	w_entry(w, &r);
	w->n -= 1;
	return 1;
}

ONE(first_shared, struct raw r = raw(1, "a", 'f'); w_entry(w, &r))
ONE(bad_type, struct raw r = raw(0, "a", 'x'); w_entry(w, &r))
ONE(type_zero, struct raw r = raw(0, "a", 0); w_entry(w, &r))
ONE(mode_too_large, struct raw r = raw(0, "a", 'f'); r.num[F_MODE - 1] = 010000; w_entry(w, &r))
ONE(mtime_nsec, struct raw r = raw(0, "a", 'f'); r.num[F_MNSEC - 1] = 1000000000; w_entry(w, &r))
ONE(ctime_nsec, struct raw r = raw(0, "a", 'f'); r.num[F_CNSEC - 1] = 1000000000; w_entry(w, &r))
ONE(nsec_over_u32, struct raw r = raw(0, "a", 'f'); r.num[F_CNSEC - 1] = 1ull << 32; w_entry(w, &r))
ONE(uid_over_u32, struct raw r = raw(0, "a", 'f'); r.num[F_UID - 1] = 1ull << 32; w_entry(w, &r))
ONE(gid_over_u32, struct raw r = raw(0, "a", 'f'); r.num[F_GID - 1] = UINT64_MAX; w_entry(w, &r))
ONE(unknown_flag, struct raw r = raw(0, "a", 'f'); r.flags = 4; w_entry(w, &r))
ONE(high_flag, struct raw r = raw(0, "a", 'f'); r.flags = 0x80; w_entry(w, &r))
ONE(content_on_dir, struct raw r = raw(0, "a", 'd'); r.flags = MANIFEST_HAS_CONTENT; w_entry(w, &r))
ONE(content_on_link, struct raw r = raw(0, "a", 'l'); r.flags = MANIFEST_HAS_CONTENT;
    w_entry(w, &r))
ONE(overlong_mode, struct raw r = raw(0, "a", 'f'); r.raw_field = F_MODE; r.raw_bytes = "\x80\x00";
    r.raw_len = 2; w_entry(w, &r))
ONE(overlong_size, struct raw r = raw(0, "a", 'f'); r.raw_field = F_SIZE;
    r.raw_bytes = "\xff\x80\x00"; r.raw_len = 3; w_entry(w, &r))
ONE(size_over_64_bits, struct raw r = raw(0, "a", 'f'); r.raw_field = F_SIZE;
    r.raw_bytes = "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02"; r.raw_len = 10; w_entry(w, &r))
ONE(varint_11_bytes, struct raw r = raw(0, "a", 'f'); r.raw_field = F_INO;
    r.raw_bytes = "\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01"; r.raw_len = 11; w_entry(w, &r))
ONE(path_leading_slash, struct raw r = raw(0, "/a", 'f'); w_entry(w, &r))
ONE(path_trailing_slash, struct raw r = raw(0, "a/", 'd'); w_entry(w, &r))
ONE(path_double_slash, struct raw r = raw(0, "a//b", 'f'); w_entry(w, &r))
ONE(path_dot, struct raw r = raw(0, ".", 'd'); w_entry(w, &r))
ONE(path_dotdot, struct raw r = raw(0, "a/../b", 'f'); w_entry(w, &r))
ONE(path_ends_dotdot, struct raw r = raw(0, "a/..", 'f'); w_entry(w, &r))
ONE(path_nul, struct raw r = raw(0, "a", 'f'); r.suffix = "a\0b"; r.suffix_len = 3; w_entry(w, &r))
ONE(target_nul, struct raw r = raw(0, "a", 'l'); r.target = "x\0y"; r.target_len = 3;
    w_entry(w, &r))
ONE(path_too_long, w_var(w, 0); w_var(w, MANIFEST_PATH_MAX + 1))
ONE(target_too_long, struct raw r = raw(0, "a", 'l'); r.target_len = 0; w_entry(w, &r);
    w->n -= 1; w_var(w, MANIFEST_PATH_MAX + 1))
ONE(target_past_end, struct raw r = raw(0, "a", 'l'); r.target_len = 0; w_entry(w, &r);
    w->n -= 1; w_var(w, 100); w_bytes(w, "xyz", 3))
ONE(suffix_past_end, w_var(w, 0); w_var(w, 100); w_bytes(w, "abc", 3))

static const struct semantic_case semantic_cases[] = {
	{ "entries out of order", out_of_order },
	{ "a duplicate entry", duplicate },
	{ "'/' sorting above '.'", slash_sorts_first },
	{ "a proper prefix after its extension", prefix_after },
	{ "the root after another entry", root_after },
	{ "a shared prefix longer than the previous path", shared_too_long },
	{ "a shared prefix shorter than the common one", shared_not_whole },
	{ "'..' made of prefix and suffix", dotdot_across_prefix },
	{ "'.' made of prefix and suffix", dot_across_prefix },
	{ "'//' made of prefix and suffix", double_slash_across_prefix },
	{ "a trailing '/' after the prefix", trailing_slash_across_prefix },
	{ "a count larger than the entries", count_too_large },
	{ "a count smaller than the entries", count_too_small },
	{ "trailing garbage", trailing_garbage },
	{ "an entry cut short", cut_entry },
	{ "a shared prefix on a block's first entry", first_shared },
	{ "type 'x'", bad_type },
	{ "type 0", type_zero },
	{ "mode 010000", mode_too_large },
	{ "mtime_nsec 1e9", mtime_nsec },
	{ "ctime_nsec 1e9", ctime_nsec },
	{ "nsec beyond 32 bits", nsec_over_u32 },
	{ "uid beyond 32 bits", uid_over_u32 },
	{ "gid beyond 32 bits", gid_over_u32 },
	{ "an unknown flag", unknown_flag },
	{ "flag 0x80", high_flag },
	{ "a content digest on a directory", content_on_dir },
	{ "a content digest on a symlink", content_on_link },
	{ "an overlong varint", overlong_mode },
	{ "an overlong varint of three bytes", overlong_size },
	{ "a varint beyond 64 bits", size_over_64_bits },
	{ "a varint of 11 bytes", varint_11_bytes },
	{ "a leading '/'", path_leading_slash },
	{ "a trailing '/'", path_trailing_slash },
	{ "'//' in a path", path_double_slash },
	{ "path '.'", path_dot },
	{ "'..' in a path", path_dotdot },
	{ "a path ending in '..'", path_ends_dotdot },
	{ "a NUL in a path", path_nul },
	{ "a NUL in a target", target_nul },
	{ "a path longer than MANIFEST_PATH_MAX", path_too_long },
	{ "a target longer than MANIFEST_PATH_MAX", target_too_long },
	{ "a target past the payload's end", target_past_end },
	{ "a path past the payload's end", suffix_past_end },
};

START_TEST(test_semantic_damage)
{
	const struct semantic_case *c = &semantic_cases[_i];
	struct wbuf w = { .n = 0 };
	uint32_t count = c->build(&w);
	size_t size;
	uint8_t *block = make_block(w.b, w.n, count, &size);
	int r = rejection(block, size);

	if (r == 0)
		ck_abort_msg("%s: accepted", c->what);
	if (r == 1)
		ck_abort_msg("%s: refused by the parse, not by the entry decoder", c->what);
	ck_assert_msg(r == 2, "%s: failed with %d", c->what, r);
	free(block);
}
END_TEST

/* The writer used for the damage makes valid blocks when nothing is wrong. */
START_TEST(test_semantic_control)
{
	struct wbuf w = { .n = 0 };
	uint32_t count = two(&w, raw(0, "a", 'f'), raw(1, "/b", 'l'));
	size_t size;
	uint8_t *block = make_block(w.b, w.n, count, &size);

	ck_assert_int_eq(rejection(block, size), 0);
	ck_assert_int_eq(decode_all(block, size), 2);
	free(block);

	/* a name that starts with a dot across the prefix is fine */
	w.n = 0;
	count = two(&w, raw(0, "a/-", 'd'), raw(2, ".x", 'd'));
	block = make_block(w.b, w.n, count, &size);
	ck_assert_int_eq(rejection(block, size), 0);
	free(block);
}
END_TEST

Suite *manifest_suite(void);

Suite *manifest_suite(void)
{
	Suite *s = suite_create("manifest");
	TCase *tc;

	tc = tcase_create("path");
	tcase_add_test(tc, test_path_order);
	tcase_add_test(tc, test_path_order_components);
	tcase_add_test(tc, test_is_beneath);
	suite_add_tcase(s, tc);

	tc = tcase_create("codec");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_empty_encoder);
	tcase_add_test(tc, test_root_only);
	tcase_add_test(tc, test_encoder_path_forms);
	tcase_add_test(tc, test_encoder_fields);
	tcase_add_test(tc, test_encoder_order);
	tcase_add_test(tc, test_flush_error);
	tcase_add_test(tc, test_hand_written_block);
	suite_add_tcase(s, tc);

	tc = tcase_create("damage");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_every_byte_flip);
	tcase_add_test(tc, test_truncated);
	tcase_add_test(tc, test_bad_header);
	tcase_add_test(tc, test_iterator_ends);
	tcase_add_test(tc, test_semantic_control);
	tcase_add_loop_test(tc, test_semantic_damage, 0, (int)ARRAY_SIZE(semantic_cases));
	suite_add_tcase(s, tc);
	return s;
}
