// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * genwriter FILE NRECORDS --paused MARKER [--ready FILE] [--spin N]
 *
 * An application whose consistent state spans many system calls: it rewrites
 * FILE in generations, each generation one pwrite() of every one of NRECORDS
 * 4 KiB records (see record.h) in order, all carrying the generation number.
 * A copy of FILE is consistent only when every record is of one generation,
 * which no hold can promise (the hold stops the program between two calls,
 * usually in the middle of a generation); only the program itself can, which
 * is what a writer asks of it:
 *
 *  - SIGUSR1: finish the current generation, then write MARKER (atomically,
 *    "PID GENERATION\n") and wait;
 *  - SIGUSR2: remove MARKER and go on writing.
 *
 * Touches the --ready file once the first generation is complete. --spin N
 * spins N iterations between two records. Stops cleanly on SIGTERM or SIGINT
 * (also while paused, removing MARKER). gencheck verifies a copy of FILE.
 */
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "record.h"
#include "tool-util.h"

static volatile sig_atomic_t pause_wanted;

static void on_pause_signal(int sig)
{
	pause_wanted = sig == SIGUSR1;
}

/* Writes "PID GENERATION\n" to a temporary file and renames it over path. */
static int write_marker(const char *path, uint64_t generation)
{
	_cleanup_free_ char *tmp = NULL;
	_cleanup_close_ int fd = -1;

	if (asprintf(&tmp, "%s.tmp", path) < 0)
		return -ENOMEM;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (dprintf(fd, "%d %" PRIu64 "\n", (int)getpid(), generation) < 0)
		return -EIO;
	if (rename(tmp, path) < 0)
		return -errno;
	return 0;
}

/*
 * Waits, with the marker in place, until SIGUSR2 (or a stop signal). Signals
 * are blocked between the check and the wait, so that none is lost.
 */
static int pause_here(const char *marker, uint64_t generation)
{
	sigset_t block, old;
	int r;

	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigaddset(&block, SIGUSR2);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	if (sigprocmask(SIG_BLOCK, &block, &old) < 0)
		return -errno;
	r = write_marker(marker, generation);
	if (r < 0) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		return r;
	}
	while (pause_wanted && !stop_requested())
		sigsuspend(&old);
	if (unlink(marker) < 0)
		r = -errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	return r;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: genwriter FILE NRECORDS --paused MARKER [--ready FILE] [--spin N]\n"
		   "Rewrites FILE in generations of NRECORDS 4 KiB records until SIGTERM.\n"
		   "SIGUSR1: finish the generation, write MARKER, wait; SIGUSR2: go on.\n");
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{"paused", required_argument, NULL, 'p'},
		{"ready", required_argument, NULL, 'r'},
		{"spin", required_argument, NULL, 's'},
		{"help", no_argument, NULL, 'h'},
		{},
	};
	struct sigaction sa = {.sa_handler = on_pause_signal};
	_cleanup_close_ int fd = -1;
	const char *ready = NULL, *marker = NULL, *path;
	uint64_t nrecords, generation = 0, spins = 0, pauses = 0;
	int c, r;

	log_set_program("genwriter");
	while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
		switch (c) {
		case 'p':
			marker = optarg;
			break;
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
	if (argc - optind != 2 || !marker)
		usage_exit(usage, 2);
	path = argv[optind];
	r = parse_count(argv[optind + 1], 1, RECORD_COUNT_MAX, &nrecords);
	if (r < 0) {
		log_error_errno(r, "invalid record count '%s'", argv[optind + 1]);
		return 2;
	}

	if (install_stop_signals() < 0)
		return 1;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL) < 0 || sigaction(SIGUSR2, &sa, NULL) < 0) {
		log_error_errno(-errno, "cannot install signal handlers");
		return 1;
	}

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		log_error_errno(-errno, "cannot open '%s'", path);
		return 1;
	}
	if (ftruncate(fd, (off_t)(nrecords * RECORD_SIZE)) < 0) {
		log_error_errno(-errno, "cannot size '%s'", path);
		return 1;
	}

	while (!stop_requested()) {
		generation++;
		for (uint64_t i = 0; i < nrecords; i++) {
			r = record_write(fd, i, generation);
			if (r < 0) {
				log_error_errno(r, "cannot write record %" PRIu64 " of '%s'", i,
						path);
				return 1;
			}
			spin(spins);
		}
		if (generation == 1 && ready) {
			r = touch_ready(ready);
			if (r < 0) {
				log_error_errno(r, "cannot create ready file '%s'", ready);
				return 1;
			}
		}
		if (pause_wanted && !stop_requested()) {
			r = pause_here(marker, generation);
			if (r < 0) {
				log_error_errno(r, "cannot pause with marker '%s'", marker);
				return 1;
			}
			pauses++;
		}
	}
	log_info("stopped after %" PRIu64 " generations, %" PRIu64 " pauses", generation, pauses);
	return 0;
}
