// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * gencheck FILE NRECORDS
 *
 * Verifies a copy of a file written by genwriter: exactly NRECORDS records,
 * each intact (see record.h), and all of one single generation. Prints
 * "NRECORDS records, all of generation G" and exits 0; otherwise says what is
 * wrong and exits 1: a torn record, or the runs of records of each generation
 * ("records 0-117 generation 52, records 118-255 generation 51"), which is a
 * copy taken in the middle of a generation. Exit 2 on usage errors.
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

/* At most this many runs are printed for a mixed copy. */
#define RUNS_SHOWN 8

int main(int argc, char **argv)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ uint64_t *gens = NULL;
	uint64_t nrecords, runs = 1, shown = 0, start = 0;
	struct record rec;
	const char *path;
	struct stat st;
	int r;

	log_set_program("gencheck");
	r = record_check_open("gencheck", argc, argv, &nrecords, &fd, &st);
	if (r != 0)
		return r;
	path = argv[1];
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != nrecords * RECORD_SIZE) {
		printf("'%s' is not a regular file of %" PRIu64 " records (%jd bytes)\n", path,
		       nrecords, (intmax_t)st.st_size);
		return 1;
	}
	gens = calloc(nrecords, sizeof(*gens));
	if (!gens) {
		log_error("out of memory");
		return 1;
	}

	for (uint64_t i = 0; i < nrecords; i++) {
		ssize_t n = read_full(fd, &rec, sizeof(rec));
		enum record_error e;
		size_t word = 0;

		if (n < 0) {
			log_error_errno((int)n, "cannot read record %" PRIu64 " of '%s'", i, path);
			return 1;
		}
		if ((size_t)n != sizeof(rec)) {
			printf("'%s' ends at record %" PRIu64 " (it shrank while read)\n", path, i);
			return 1;
		}
		e = record_verify(&rec, i, &word);
		if (e != RECORD_OK) {
			printf("record %" PRIu64 " is torn: %s (generation field %" PRIu64 ")\n", i,
			       record_error_to_string(e), le64toh(rec.generation));
			return 1;
		}
		gens[i] = le64toh(rec.generation);
		if (i > 0 && gens[i] != gens[i - 1])
			runs++;
	}

	if (runs == 1) {
		printf("%" PRIu64 " records, all of generation %" PRIu64 "\n", nrecords, gens[0]);
		return 0;
	}
	printf("'%s' mixes generations in %" PRIu64 " runs:", path, runs);
	for (uint64_t i = 1; i <= nrecords; i++) {
		if (i < nrecords && gens[i] == gens[start])
			continue;
		if (shown++ == RUNS_SHOWN) {
			printf(" ...");
			break;
		}
		printf("%s records %" PRIu64 "-%" PRIu64 " generation %" PRIu64,
		       shown > 1 ? "," : "", start, i - 1, gens[start]);
		start = i;
	}
	printf("\n");
	return 1;
}
