// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * recwriter FILE NRECORDS [--ready FILE] [--sequential]
 *
 * Puts live load on a file the way a database does: creates FILE with NRECORDS
 * page-aligned 4 KiB records (see record.h), holds an flock() and an fcntl()
 * write lock on all of it, and rewrites records in place forever, one pwrite()
 * of a whole record at a time, each write with a new generation. Touches the
 * --ready file once every record has been written once. Stops cleanly on
 * SIGTERM or SIGINT. reccheck verifies a copy of FILE.
 */
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "record.h"
#include "tool-util.h"

/* Both kinds of lock, so that whichever one a reader respects, it is held. */
static int lock_whole_file(int fd)
{
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};

	if (flock(fd, LOCK_EX | LOCK_NB) < 0)
		return -errno;
	if (fcntl(fd, F_SETLK, &fl) < 0)
		return -errno;
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: recwriter FILE NRECORDS [--ready FILE] [--sequential]\n"
		   "Rewrites NRECORDS 4 KiB records of FILE in place until SIGTERM,\n"
		   "holding flock() and fcntl() write locks on the whole file.\n");
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{"ready", required_argument, NULL, 'r'},
		{"sequential", no_argument, NULL, 's'},
		{"help", no_argument, NULL, 'h'},
		{},
	};
	_cleanup_close_ int fd = -1;
	const char *ready = NULL, *path;
	bool sequential = false;
	uint64_t nrecords, generation = 0, writes = 0, rng;
	int c, r;

	log_set_program("recwriter");
	while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
		switch (c) {
		case 'r':
			ready = optarg;
			break;
		case 's':
			sequential = true;
			break;
		case 'h':
			usage_exit(usage, 0);
		default:
			usage_exit(usage, 2);
		}
	}
	if (argc - optind != 2)
		usage_exit(usage, 2);
	path = argv[optind];
	r = parse_count(argv[optind + 1], 1, RECORD_COUNT_MAX, &nrecords);
	if (r < 0) {
		log_error_errno(r, "invalid record count '%s'", argv[optind + 1]);
		return 2;
	}

	if (install_stop_signals() < 0)
		return 1;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		log_error_errno(-errno, "cannot open '%s'", path);
		return 1;
	}
	r = lock_whole_file(fd);
	if (r < 0) {
		log_error_errno(r, "cannot lock '%s'", path);
		return 1;
	}
	if (ftruncate(fd, (off_t)(nrecords * RECORD_SIZE)) < 0) {
		log_error_errno(-errno, "cannot size '%s'", path);
		return 1;
	}

	for (uint64_t i = 0; i < nrecords && !stop_requested(); i++) {
		r = record_write(fd, i, ++generation);
		if (r < 0) {
			log_error_errno(r, "cannot write record %" PRIu64 " of '%s'", i, path);
			return 1;
		}
		writes++;
	}
	if (ready && !stop_requested()) {
		r = touch_ready(ready);
		if (r < 0) {
			log_error_errno(r, "cannot create ready file '%s'", ready);
			return 1;
		}
	}

	rng = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	while (!stop_requested()) {
		uint64_t i = sequential ? writes % nrecords : record_splitmix64(&rng) % nrecords;

		r = record_write(fd, i, ++generation);
		if (r < 0) {
			log_error_errno(r, "cannot write record %" PRIu64 " of '%s'", i, path);
			return 1;
		}
		writes++;
	}

	log_info("stopped after %" PRIu64 " writes, last generation %" PRIu64, writes, generation);
	return 0;
}
