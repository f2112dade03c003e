// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Fuzz target for manifest blocks as read back from the catalog: the decoder
 * must never read past its input nor accept what the encoder would refuse,
 * and a block it accepts whole must be exactly what the encoder writes for
 * those entries (the format has one encoding per list of entries).
 *
 * Each input is tried twice: as a whole block, and, because random bytes
 * almost never carry a valid checksum, as a count (its first byte) and a
 * payload (the rest) put into a valid header, so that the entry decoder is
 * reached.
 *
 * Built with libFuzzer when the compiler is clang; replay.c runs the saved
 * corpus through the same function as an ordinary test.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, int r)
{
	fprintf(stderr, "fuzz-manifest: %s (%d)\n", what, r);
	abort();
}

/* The encoder's output: the first block kept, the others only counted. */
struct out {
	uint8_t *block;
	size_t size;
	unsigned blocks;
};

static int keep_first(void *userdata, const struct manifest_block_info *b)
{
	struct out *o = userdata;

	if (o->blocks++ > 0)
		return 0;
	o->block = malloc(b->size);
	if (!o->block)
		return -ENOMEM;
	memcpy(o->block, b->data, b->size);
	o->size = b->size;
	return 0;
}

static void decode(const uint8_t *data, size_t size)
{
	struct manifest_block_iter it;
	struct manifest_encoder *enc = NULL;
	struct manifest_entry e;
	struct out o = { 0 };
	const void *payload;
	size_t payload_size;
	int r;

	r = manifest_block_parse(data, size, &it);
	if (r != 0 && r != -EBADMSG)
		fail("parse failed other than with EBADMSG", r);
	if (manifest_block_payload(data, size, &payload, &payload_size) != r)
		fail("parse and payload disagree", r);
	if (r < 0) {
		manifest_block_iter_release(&it);
		return;
	}
	if (payload != data + MANIFEST_BLOCK_HEADER || payload_size != size - MANIFEST_BLOCK_HEADER)
		fail("payload elsewhere than after the header", 0);

	if (manifest_encoder_new(keep_first, &o, &enc) < 0)
		goto out;
	while ((r = manifest_block_next(&it, &e)) > 0) {
		r = manifest_encoder_add(enc, &e);
		if (r == -ENOMEM)
			goto out;
		if (r < 0)
			fail("the encoder refuses an entry the decoder accepted", r);
	}
	if (r != 0 && r != -EBADMSG && r != -ENOMEM)
		fail("next failed other than with EBADMSG or ENOMEM", r);
	if (r != 0)
		goto out;
	if (manifest_block_next(&it, &e) != 0)
		fail("the end of a block is not lasting", 0);
	r = manifest_encoder_finish(enc);
	if (r < 0)
		goto out;
	/* the encoder splits blocks that reach the target: compare single ones */
	if (o.blocks == 1 && (o.size != size || memcmp(o.block, data, size) != 0))
		fail("a block accepted whole encodes differently", 0);
out:
	manifest_block_iter_release(&it);
	manifest_encoder_free(enc);
	free(o.block);
}

static void put_be(uint8_t *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *block;
	size_t payload;

	decode(data, size);

	if (size < 1 || size - 1 > MANIFEST_BLOCK_MAX)
		return 0;
	payload = size - 1;
	/* an exactly sized block, so that a read past the end is caught */
	block = malloc(MANIFEST_BLOCK_HEADER + payload);
	if (!block)
		return 0;
	memcpy(block, "SFMB\x01\0\0\0", 8);
	put_be(block + 8, data[0], 4);
	put_be(block + 12, payload, 4);
	put_be(block + 16, XXH3_64bits(data + 1, payload), 8);
	memcpy(block + MANIFEST_BLOCK_HEADER, data + 1, payload);
	decode(block, MANIFEST_BLOCK_HEADER + payload);
	free(block);
	return 0;
}
