/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The record file shared by recwriter (which rewrites it under load) and
 * reccheck (which proves a copy of it is not torn). A record is one 4 KiB
 * page at offset index * RECORD_SIZE: magic, index, generation, a fill
 * pattern that is a function of (index, generation), and a checksum over all
 * of that. Integers are stored little-endian. Also what the writers and
 * checkers of such files share: writing a record, and the start of a checker.
 * Test helper only; libc, common and tool-util.h only.
 */
#pragma once

#include <endian.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tool-util.h"

#define RECORD_SIZE 4096
#define RECORD_MAGIC UINT64_C(0x3143455254534c53) /* "SLSTREC1" little-endian */
/* The most records a file may hold: its size must fit in an off_t. */
#define RECORD_COUNT_MAX ((uint64_t)INT64_MAX / RECORD_SIZE)

struct record {
	uint64_t magic;
	uint64_t index;
	uint64_t generation;
	uint64_t fill[RECORD_SIZE / 8 - 4];
	uint64_t checksum;
};

_Static_assert(sizeof(struct record) == RECORD_SIZE, "a record is one page");

enum record_error {
	RECORD_OK,
	RECORD_BAD_MAGIC,
	RECORD_BAD_INDEX,
	RECORD_BAD_CHECKSUM,
	RECORD_BAD_FILL,
};

static inline uint64_t record_splitmix64(uint64_t *state)
{
	uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* 64-bit FNV-1a over everything in the record before the checksum field. */
static inline uint64_t record_checksum(const struct record *r)
{
	const unsigned char *p = (const unsigned char *)r;
	uint64_t h = UINT64_C(0xcbf29ce484222325);

	for (size_t i = 0; i < offsetof(struct record, checksum); i++) {
		h ^= p[i];
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

static inline uint64_t record_fill_seed(uint64_t index, uint64_t generation)
{
	return (index * UINT64_C(0xd6e8feb86659fd93)) ^ generation;
}

/* Fills r completely for record index at generation. */
static inline void record_make(struct record *r, uint64_t index, uint64_t generation)
{
	uint64_t s = record_fill_seed(index, generation);

	r->magic = htole64(RECORD_MAGIC);
	r->index = htole64(index);
	r->generation = htole64(generation);
	for (size_t i = 0; i < sizeof(r->fill) / sizeof(r->fill[0]); i++)
		r->fill[i] = htole64(record_splitmix64(&s));
	r->checksum = htole64(record_checksum(r));
}

/*
 * Checks that r is an intact record number index. Returns RECORD_OK, or which
 * part is wrong; on RECORD_BAD_FILL, *ret_word is the first wrong fill word.
 */
static inline enum record_error record_verify(const struct record *r, uint64_t index,
					      size_t *ret_word)
{
	uint64_t s;

	if (le64toh(r->magic) != RECORD_MAGIC)
		return RECORD_BAD_MAGIC;
	if (le64toh(r->index) != index)
		return RECORD_BAD_INDEX;
	if (le64toh(r->checksum) != record_checksum(r))
		return RECORD_BAD_CHECKSUM;
	s = record_fill_seed(index, le64toh(r->generation));
	for (size_t i = 0; i < sizeof(r->fill) / sizeof(r->fill[0]); i++)
		if (le64toh(r->fill[i]) != record_splitmix64(&s)) {
			*ret_word = i;
			return RECORD_BAD_FILL;
		}
	return RECORD_OK;
}

static inline const char *record_error_to_string(enum record_error e)
{
	switch (e) {
	case RECORD_OK:
		return "intact";
	case RECORD_BAD_MAGIC:
		return "bad magic";
	case RECORD_BAD_INDEX:
		return "wrong index";
	case RECORD_BAD_CHECKSUM:
		return "checksum mismatch";
	case RECORD_BAD_FILL:
		return "fill pattern does not match its generation";
	}
	return "unknown error";
}

/* Writes record index at generation to fd, in place, with one pwrite(). */
static inline int record_write(int fd, uint64_t index, uint64_t generation)
{
	struct record r;
	ssize_t n;

	record_make(&r, index, generation);
	n = pwrite(fd, &r, sizeof(r), (off_t)(index * RECORD_SIZE));
	if (n < 0)
		return -errno;
	if ((size_t)n != sizeof(r))
		return -EIO; /* a short write to a regular file means the disk is full */
	return 0;
}

/*
 * The start of a checker run as "PROGRAM FILE NRECORDS": parses NRECORDS and
 * opens FILE read-only, without locks, and stats it. Returns 0, or the exit
 * status after logging what is wrong: 2 for a usage error, 1 for another.
 */
static inline int record_check_open(const char *program, int argc, char **argv,
				    uint64_t *ret_nrecords, int *ret_fd, struct stat *ret_st)
{
	_cleanup_close_ int fd = -1;
	int r;

	if (argc != 3) {
		fprintf(stderr, "usage: %s FILE NRECORDS\n", program);
		return 2;
	}
	r = parse_count(argv[2], 1, RECORD_COUNT_MAX, ret_nrecords);
	if (r < 0) {
		log_error_errno(r, "invalid record count '%s'", argv[2]);
		return 2;
	}
	fd = open(argv[1], O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		log_error_errno(-errno, "cannot open '%s'", argv[1]);
		return 1;
	}
	if (fstat(fd, ret_st) < 0) {
		log_error_errno(-errno, "cannot stat '%s'", argv[1]);
		return 1;
	}
	*ret_fd = TAKE_FD(fd);
	return 0;
}
