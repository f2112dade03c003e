// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * reccheck FILE NRECORDS
 *
 * Verifies a file written by recwriter (normally a copy taken while it ran):
 * exactly NRECORDS records, each intact (magic, index, checksum, fill
 * pattern). Reads with plain read() and takes no locks, as a backup program
 * would. Prints the first bad record and exits 1 if any record is torn; else
 * prints the lowest and highest generation seen and exits 0. Exit 2 on usage
 * errors.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "record.h"
#include "tool-util.h"

#define RECORDS_PER_READ 256

int main(int argc, char **argv)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ struct record *buf = NULL;
	uint64_t nrecords, index = 0, min_gen = UINT64_MAX, max_gen = 0;
	const char *path;
	struct stat st;
	int r;

	log_set_program("reccheck");
	r = record_check_open("reccheck", argc, argv, &nrecords, &fd, &st);
	if (r != 0)
		return r;
	path = argv[1];
	if (!S_ISREG(st.st_mode)) {
		log_error("'%s' is not a regular file", path);
		return 1;
	}
	if ((uint64_t)st.st_size != nrecords * RECORD_SIZE) {
		log_error("'%s' is %jd bytes, expected %" PRIu64 " records of %d bytes", path,
			  (intmax_t)st.st_size, nrecords, RECORD_SIZE);
		return 1;
	}

	buf = malloc(RECORDS_PER_READ * sizeof(*buf));
	if (!buf) {
		log_error("out of memory");
		return 1;
	}

	for (;;) {
		ssize_t n = read_full(fd, buf, RECORDS_PER_READ * sizeof(*buf));
		size_t got;

		if (n < 0) {
			log_error_errno((int)n, "cannot read '%s' at record %" PRIu64, path, index);
			return 1;
		}
		if (n % RECORD_SIZE != 0) {
			log_error("'%s' ends in a partial record after record %" PRIu64, path,
				  index + (uint64_t)n / RECORD_SIZE);
			return 1;
		}
		got = (size_t)n / RECORD_SIZE;
		for (size_t i = 0; i < got; i++, index++) {
			size_t word = 0;
			enum record_error e;
			uint64_t gen;

			if (index >= nrecords) {
				log_error("'%s' has more than %" PRIu64
					  " records (it grew while read)",
					  path, nrecords);
				return 1;
			}
			e = record_verify(&buf[i], index, &word);
			if (e != RECORD_OK) {
				printf("record %" PRIu64 " at offset %" PRIu64
				       " is torn: %s (magic %#" PRIx64 ", index %" PRIu64
				       ", generation %" PRIu64 ", checksum %#" PRIx64,
				       index, index * RECORD_SIZE, record_error_to_string(e),
				       le64toh(buf[i].magic), le64toh(buf[i].index),
				       le64toh(buf[i].generation), le64toh(buf[i].checksum));
				if (e == RECORD_BAD_FILL)
					printf(", first bad fill word %zu at byte %zu", word,
					       offsetof(struct record, fill) + word * 8);
				printf(")\n");
				return 1;
			}
			gen = le64toh(buf[i].generation);
			if (gen < min_gen)
				min_gen = gen;
			if (gen > max_gen)
				max_gen = gen;
		}
		if (got < RECORDS_PER_READ)
			break;
	}
	if (index != nrecords) {
		log_error("'%s' holds %" PRIu64 " records, expected %" PRIu64, path, index,
			  nrecords);
		return 1;
	}

	printf("%" PRIu64 " records intact, generation min %" PRIu64 " max %" PRIu64 "\n", nrecords,
	       min_gen, max_gen);
	return 0;
}
