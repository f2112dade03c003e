// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * twovol [--ready FILE] [--spin N] FILE_A FILE_B
 *
 * The smallest application whose state spans two volumes: it counts forever,
 * and for each n writes n (fixed-width decimal, one pwrite() at offset 0) to
 * FILE_A, then to FILE_B, in two separate system calls, optionally spinning N
 * iterations between them. So at any instant A is B or B + 1; snapshots of the
 * two volumes taken while its cgroup is held show exactly that, snapshots
 * taken one after the other without a hold do not. Touches the --ready file
 * after the first round. Stops cleanly on SIGTERM or SIGINT, printing the last
 * n on stderr.
 */
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "tool-util.h"

/* "%020" PRIu64 "\n": wide enough for any uint64_t, so every write covers the last. */
#define COUNTER_WIDTH 21

static int write_counter(int fd, uint64_t n)
{
	char buf[COUNTER_WIDTH + 1];
	ssize_t w;

	snprintf(buf, sizeof(buf), "%020" PRIu64 "\n", n);
	w = pwrite(fd, buf, COUNTER_WIDTH, 0);
	if (w < 0)
		return -errno;
	if (w != COUNTER_WIDTH)
		return -EIO;
	return 0;
}

static int open_counter(const char *path)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, COUNTER_WIDTH) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	return fd;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: twovol [--ready FILE] [--spin N] FILE_A FILE_B\n"
		"Counts forever, writing each count to FILE_A, then to FILE_B, until SIGTERM.\n");
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{"ready", required_argument, NULL, 'r'},
		{"spin", required_argument, NULL, 's'},
		{"help", no_argument, NULL, 'h'},
		{},
	};
	_cleanup_close_ int fa = -1, fb = -1;
	const char *ready = NULL;
	uint64_t n = 0, spins = 0;
	int c, r;

	log_set_program("twovol");
	while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
		switch (c) {
		case 'r':
			ready = optarg;
			break;
		case 's':
			spins = parse_spin(optarg);
			break;
		case 'h':
			usage_exit(usage, 0);
		default:
			usage_exit(usage, 2);
		}
	}
	if (argc - optind != 2)
		usage_exit(usage, 2);

	if (install_stop_signals() < 0)
		return 1;
	fa = open_counter(argv[optind]);
	if (fa < 0) {
		log_error_errno(fa, "cannot open '%s'", argv[optind]);
		return 1;
	}
	fb = open_counter(argv[optind + 1]);
	if (fb < 0) {
		log_error_errno(fb, "cannot open '%s'", argv[optind + 1]);
		return 1;
	}

	while (!stop_requested()) {
		n++;
		r = write_counter(fa, n);
		if (r < 0) {
			log_error_errno(r, "cannot write '%s'", argv[optind]);
			return 1;
		}
		spin(spins);
		r = write_counter(fb, n);
		if (r < 0) {
			log_error_errno(r, "cannot write '%s'", argv[optind + 1]);
			return 1;
		}
		if (n == 1 && ready) {
			r = touch_ready(ready);
			if (r < 0) {
				log_error_errno(r, "cannot create ready file '%s'", ready);
				return 1;
			}
		}
	}
	log_info("stopped at %" PRIu64, n);
	return 0;
}
