// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * readstress [--threads N] [--seconds S] [--same] [--min-ops N] [--stall S]
 *            [--seed N] VIEWDIR NATIVEDIR
 *
 * Many concurrent readers through the view. Lists the regular files under
 * NATIVEDIR (recursively), then N threads (default 16) read them for S
 * seconds (default 20) through VIEWDIR at the same relative paths, and every
 * byte read is compared with the same range read from NATIVEDIR with pread().
 * Each thread works on its own files (thread i takes files i, i + N, ...; with
 * fewer files than threads, file i mod the count), or with --same every thread
 * reads the largest file. A thread picks one of its files again and again and
 * reads it one of these ways:
 *
 *   - whole file, sequentially with read(), a buffer of 4 KiB to 1 MiB;
 *   - a burst of pread()s of random sizes (0 to 1 MiB) at random offsets:
 *     0, inside, across the end of file, at exactly the end and past it;
 *   - mmap() of a random page-aligned range, read in random pieces, the tail
 *     of the last page past the end of file included (it must read zeros);
 *   - lseek() SEEK_DATA and SEEK_HOLE at random offsets, which must give what
 *     they give on NATIVEDIR (the same file when NATIVEDIR is the snapshot).
 *
 * The view file is sometimes opened anew and sometimes kept open from one
 * access to the next. Every difference (content, a short or long read, a
 * size, an error, a SIGBUS from a mapping) is printed on stdout with the
 * path, offset and length, and counted.
 *
 * A watchdog thread ends the process with status 1 when a thread makes no
 * progress for --stall seconds (default 30), naming the thread and the call
 * into the view it is blocked in (file, offset); a guard does the same while
 * VIEWDIR is opened. _exit() frees threads whose requests the daemon has not
 * taken yet; one the daemon took and never answers keeps its thread (and so
 * the process) until the daemon dies, whatever signal is sent: a caller that
 * must not hang kills the daemon past a deadline (view-stress.sh does).
 *
 * At the end, per-thread and total counts of operations, bytes checked and
 * calls into the view that took 100 ms or more, with the slowest, go to
 * stderr. Exits 0 when nothing differed and every thread completed at least
 * --min-ops operations (default 10: no reader starved), 1 otherwise, 2 on
 * usage errors. SIGTERM or SIGINT stops early and reports.
 */
#include <dirent.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "tool-util.h"

#define BUF_SIZE (1u << 20)
/* The largest range mapped at once. */
#define MAP_MAX (16u << 20)
/* A call into the view this long is counted as slow. */
#define SLOW_NS (100 * UINT64_C(1000000))
/* Problems printed in full; the rest are only counted. */
#define PROBLEMS_SHOWN 50

struct file {
	char *path; /* relative to both roots */
	off_t size;
};

/* The calls into the view, as the watchdog and the report name them. */
enum op {
	OP_NONE,
	OP_OPEN,
	OP_FSTAT,
	OP_CLOSE,
	OP_READ,
	OP_PREAD,
	OP_MMAP,
	OP_MMAP_READ,
	OP_MUNMAP,
	OP_SEEK,
	_OP_MAX,
};

static const char *const op_names[_OP_MAX] = {
	[OP_NONE] = "no call",
	[OP_OPEN] = "open",
	[OP_FSTAT] = "fstat",
	[OP_CLOSE] = "close",
	[OP_READ] = "read",
	[OP_PREAD] = "pread",
	[OP_MMAP] = "mmap",
	[OP_MMAP_READ] = "read of a mapping",
	[OP_MUNMAP] = "munmap",
	[OP_SEEK] = "lseek SEEK_DATA/SEEK_HOLE",
};

struct worker {
	unsigned idx;
	pthread_t thread;
	uint64_t rng;
	size_t first, step; /* its files: first, first + step, ... */
	unsigned char *vbuf, *nbuf;

	/* the file kept open from one access to the next, if any */
	size_t open_file;
	int vfd, nfd;

	uint64_t ops, bytes, opens, n_seq, n_pread, n_mmap, n_seek, problems;
	/* the slowest call into the view, and how many took SLOW_NS or more */
	uint64_t max_ns, n_slow;
	int max_op;
	size_t max_file;
	off_t max_off;

	/* read by the watchdog */
	atomic_uint_fast64_t progress;
	atomic_int what;
	atomic_size_t cur_file;
	atomic_int_fast64_t cur_off;
	atomic_bool done;
};

static struct file *files;
static size_t n_files;
static int view_dfd = -1, native_dfd = -1;
static long page_size;
static atomic_bool stopping;
static atomic_uint_fast64_t n_problems;
static pthread_mutex_t print_lock = PTHREAD_MUTEX_INITIALIZER;
static __thread sigjmp_buf *bus_jmp;

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p) {
		log_error("out of memory");
		exit(1);
	}
	return p;
}

static uint64_t rnd(struct worker *w)
{
	uint64_t z = (w->rng += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* A random number in [0, n); 0 when n is 0. */
static uint64_t rnd_below(struct worker *w, uint64_t n)
{
	return n ? rnd(w) % n : 0;
}

/* A random length in [1, min(max, BUF_SIZE)], as often short as long (log-uniform). */
static size_t rnd_len(struct worker *w, size_t max)
{
	uint64_t bits = rnd_below(w, 21);
	size_t len = 1 + (size_t)rnd_below(w, UINT64_C(1) << bits);

	if (max > BUF_SIZE)
		max = BUF_SIZE;
	return len < max ? len : max;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec;
}

/* Notes a call into the view that starts, for the watchdog; returns its start time. */
static uint64_t call_begin(struct worker *w, enum op what, size_t file, off_t off)
{
	atomic_store(&w->cur_file, file);
	atomic_store(&w->cur_off, off);
	atomic_store(&w->what, what);
	return now_ns();
}

/* Notes that the call that started at t0 returned: progress, and how long it took. */
static void call_end(struct worker *w, uint64_t t0)
{
	uint64_t ns = now_ns() - t0;

	atomic_fetch_add(&w->progress, 1);
	if (ns >= SLOW_NS)
		w->n_slow++;
	if (ns > w->max_ns) {
		w->max_ns = ns;
		w->max_op = atomic_load(&w->what);
		w->max_file = atomic_load(&w->cur_file);
		w->max_off = atomic_load(&w->cur_off);
	}
	atomic_store(&w->what, OP_NONE);
}

_printf_(5, 6) static void problem(struct worker *w, size_t file, off_t off, size_t len,
				   const char *fmt, ...)
{
	uint64_t n = atomic_fetch_add(&n_problems, 1) + 1;
	va_list ap;

	w->problems++;
	if (n > PROBLEMS_SHOWN)
		return;
	pthread_mutex_lock(&print_lock);
	printf("thread %u: '%s' offset %jd length %zu: ", w->idx, files[file].path, (intmax_t)off,
	       len);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	if (n == PROBLEMS_SHOWN)
		printf("(further problems are only counted)\n");
	fflush(stdout);
	pthread_mutex_unlock(&print_lock);
}

/* Reads up to len bytes at off, stopping early only at end of file. */
static ssize_t pread_full(int fd, void *buf, size_t len, off_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, off + (off_t)done);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

/* Compares len bytes read through the view at off with the native ones. */
static bool same_bytes(struct worker *w, size_t file, off_t off, size_t len, const char *how,
		       const unsigned char *v, const unsigned char *n)
{
	size_t first, ndiff = 0;

	if (memcmp(v, n, len) == 0) {
		w->bytes += len;
		return true;
	}
	for (first = 0; v[first] == n[first]; first++)
		;
	for (size_t i = first; i < len; i++)
		ndiff += v[i] != n[i];
	problem(w, file, off, len,
		"%s: content differs from offset %jd: view 0x%02x, native 0x%02x (%zu bytes "
		"differ)",
		how, (intmax_t)(off + (off_t)first), v[first], n[first], ndiff);
	return false;
}

/* Compares a read through the view (vn bytes or -errno) with the native read. */
static bool same_read(struct worker *w, size_t file, off_t off, size_t len, const char *how,
		      ssize_t vn, ssize_t nn)
{
	if (nn < 0) {
		problem(w, file, off, len, "%s: native read failed: %s", how, strerror((int)-nn));
		return false;
	}
	if (vn < 0) {
		problem(w, file, off, len, "%s: read through the view failed: %s", how,
			strerror((int)-vn));
		return false;
	}
	if (vn != nn) {
		problem(w, file, off, len, "%s: %s read: view gave %zd bytes, native %zd", how,
			vn < nn ? "short" : "long", vn, nn);
		if (vn > nn)
			return false;
	}
	return same_bytes(w, file, off, (size_t)vn, how, w->vbuf, w->nbuf);
}

static void close_file(struct worker *w)
{
	if (w->vfd >= 0) {
		uint64_t t0 = call_begin(w, OP_CLOSE, w->open_file, 0);

		close(w->vfd);
		call_end(w, t0);
	}
	if (w->nfd >= 0)
		close(w->nfd);
	w->vfd = w->nfd = -1;
}

/* Opens file in both trees (or keeps what is open); returns 0 or -1. */
static int open_file(struct worker *w, size_t file)
{
	const char *path = files[file].path;
	struct stat vst, nst;
	uint64_t t0;
	int r, err;

	if (w->vfd >= 0 && w->open_file == file && rnd_below(w, 4) != 0)
		return 0;
	close_file(w);
	w->nfd = openat(native_dfd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (w->nfd < 0) {
		problem(w, file, 0, 0, "cannot open natively: %s", strerror(errno));
		return -1;
	}
	t0 = call_begin(w, OP_OPEN, file, 0);
	w->vfd = openat(view_dfd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	err = errno;
	call_end(w, t0);
	if (w->vfd < 0) {
		problem(w, file, 0, 0, "cannot open through the view: %s", strerror(err));
		close_file(w);
		return -1;
	}
	w->open_file = file;
	w->opens++;
	t0 = call_begin(w, OP_FSTAT, file, 0);
	r = fstat(w->vfd, &vst);
	err = errno;
	call_end(w, t0);
	if (r < 0 || fstat(w->nfd, &nst) < 0) {
		problem(w, file, 0, 0, "cannot fstat: %s", strerror(r < 0 ? err : errno));
		close_file(w);
		return -1;
	}
	if (!S_ISREG(vst.st_mode) || vst.st_size != nst.st_size) {
		problem(w, file, 0, 0, "view has mode %o size %jd, native mode %o size %jd",
			(unsigned)vst.st_mode, (intmax_t)vst.st_size, (unsigned)nst.st_mode,
			(intmax_t)nst.st_size);
		close_file(w);
		return -1;
	}
	return 0;
}

/* The whole file with read(), from offset 0 to end of file. */
static void do_seq(struct worker *w, size_t file)
{
	static const size_t sizes[] = {4096, 8192, 16384, 65536, 65537, 131072, 300000, BUF_SIZE};
	size_t bs = sizes[rnd_below(w, ARRAY_SIZE(sizes))];
	off_t off = 0;

	w->n_seq++;
	w->ops++;
	if (lseek(w->vfd, 0, SEEK_SET) != 0) {
		problem(w, file, 0, bs, "sequential: lseek to 0 failed: %s", strerror(errno));
		return;
	}
	while (!atomic_load(&stopping)) {
		uint64_t t0 = call_begin(w, OP_READ, file, off);
		ssize_t vn = read(w->vfd, w->vbuf, bs), nn;

		if (vn < 0)
			vn = -errno;
		call_end(w, t0);
		if (vn == -EINTR)
			continue;
		nn = pread_full(w->nfd, w->nbuf, bs, off);
		if (!same_read(w, file, off, bs, "sequential read", vn, nn) || vn == 0)
			return;
		off += vn;
	}
}

/* A burst of pread()s, many of them at or around the end of file. */
static void do_pread(struct worker *w, size_t file)
{
	off_t size = files[file].size;
	uint64_t count = 1 + rnd_below(w, 32);

	for (uint64_t i = 0; i < count && !atomic_load(&stopping); i++) {
		size_t len = rnd_below(w, 32) == 0 ? 0 : rnd_len(w, BUF_SIZE);
		off_t off;
		ssize_t vn, nn;
		uint64_t t0;

		switch (rnd_below(w, 8)) {
		case 0: /* exactly at end of file */
			off = size;
			break;
		case 1: /* across end of file */
			off = size - (off_t)rnd_below(w, (uint64_t)(size < 8192 ? size : 8192) + 1);
			len = (size_t)(size - off) + 1 + (size_t)rnd_below(w, 8192);
			break;
		case 2: /* past end of file */
			off = size + 1 + (off_t)rnd_below(w, 1 << 20);
			break;
		case 3:
			off = 0;
			break;
		default:
			off = (off_t)rnd_below(w, (uint64_t)size);
			break;
		}
		if (len > BUF_SIZE)
			len = BUF_SIZE;
		t0 = call_begin(w, OP_PREAD, file, off);
		do
			vn = pread(w->vfd, w->vbuf, len, off);
		while (vn < 0 && errno == EINTR);
		if (vn < 0)
			vn = -errno;
		call_end(w, t0);
		nn = pread_full(w->nfd, w->nbuf, len, off);
		w->n_pread++;
		w->ops++;
		if (!same_read(w, file, off, len, "pread", vn, nn))
			return;
	}
}

static void on_sigbus(int sig, siginfo_t *si, void *ctx)
{
	if (bus_jmp)
		siglongjmp(*bus_jmp, 1);
	signal(SIGBUS, SIG_DFL);
	raise(SIGBUS);
}

/* Copies from a mapping; returns 0, or -EIO when reading it raised SIGBUS. */
static int copy_from_map(void *dst, const void *src, size_t n)
{
	sigjmp_buf jb;

	if (sigsetjmp(jb, 1)) {
		bus_jmp = NULL;
		return -EIO;
	}
	bus_jmp = &jb;
	memcpy(dst, src, n);
	bus_jmp = NULL;
	return 0;
}

/*
 * Maps a page-aligned range (up to the end of the last page), reads random
 * pieces of it and compares them; the bytes past end of file must be zeros.
 */
static void do_mmap(struct worker *w, size_t file)
{
	off_t size = files[file].size;
	off_t pages = (size + page_size - 1) / page_size;
	off_t map_off = (off_t)rnd_below(w, (uint64_t)pages) * page_size;
	size_t map_len = (size_t)(pages * page_size - map_off);
	uint64_t pieces = 1 + rnd_below(w, 8);
	unsigned char *map;
	uint64_t t0;
	int err;

	if (size == 0)
		return;
	if (map_len > MAP_MAX)
		map_len =
			(size_t)page_size * (size_t)(1 + rnd_below(w, MAP_MAX / (size_t)page_size));
	t0 = call_begin(w, OP_MMAP, file, map_off);
	map = mmap(NULL, map_len, PROT_READ, MAP_SHARED, w->vfd, map_off);
	err = errno;
	call_end(w, t0);
	if (map == MAP_FAILED) {
		problem(w, file, map_off, map_len, "mmap of the view file failed: %s",
			strerror(err));
		return;
	}
	if (rnd_below(w, 2) == 0)
		madvise(map, map_len, rnd_below(w, 2) ? MADV_RANDOM : MADV_SEQUENTIAL);
	for (uint64_t i = 0; i < pieces && !atomic_load(&stopping); i++) {
		size_t at = (size_t)rnd_below(w, map_len);
		size_t len = rnd_len(w, map_len - at);
		off_t off = map_off + (off_t)at;
		size_t in_file = off >= size ? 0 : (size_t)(size - off);
		ssize_t nn;
		int r;

		if (rnd_below(w, 4) == 0) { /* the last bytes of the mapping */
			len = rnd_len(w, map_len < 65536 ? map_len : 65536);
			at = map_len - len;
			off = map_off + (off_t)at;
			in_file = off >= size ? 0 : (size_t)(size - off);
		}
		if (in_file > len)
			in_file = len;
		w->n_mmap++;
		w->ops++;
		t0 = call_begin(w, OP_MMAP_READ, file, off);
		r = copy_from_map(w->vbuf, map + at, len);
		call_end(w, t0);
		if (r < 0) {
			problem(w, file, off, len, "mmap read: SIGBUS reading the mapping");
			break;
		}
		nn = pread_full(w->nfd, w->nbuf, in_file, off);
		if (nn != (ssize_t)in_file) {
			problem(w, file, off, in_file, "mmap read: native pread gave %zd", nn);
			break;
		}
		memset(w->nbuf + in_file, 0, len - in_file);
		if (!same_bytes(w, file, off, len, "mmap read", w->vbuf, w->nbuf))
			break;
	}
	t0 = call_begin(w, OP_MUNMAP, file, map_off);
	munmap(map, map_len);
	call_end(w, t0);
}

static off_t lseek_or_errno(int fd, off_t off, int whence)
{
	off_t r = lseek(fd, off, whence);

	return r < 0 ? -errno : r;
}

/* SEEK_DATA and SEEK_HOLE through the view give what they give natively. */
static void do_seek(struct worker *w, size_t file)
{
	off_t size = files[file].size;
	uint64_t count = 1 + rnd_below(w, 8);

	for (uint64_t i = 0; i < count && !atomic_load(&stopping); i++) {
		off_t off = (off_t)rnd_below(w, (uint64_t)size + 65536);
		int whence = rnd_below(w, 2) ? SEEK_DATA : SEEK_HOLE;
		off_t v, n;
		uint64_t t0;

		if (rnd_below(w, 8) == 0)
			off = rnd_below(w, 2) ? 0 : size;
		t0 = call_begin(w, OP_SEEK, file, off);
		v = lseek_or_errno(w->vfd, off, whence);
		call_end(w, t0);
		n = lseek_or_errno(w->nfd, off, whence);
		w->n_seek++;
		w->ops++;
		if (v != n) {
			problem(w, file, off, 0,
				"lseek %s: view gives %jd, native %jd (negative: -errno)",
				whence == SEEK_DATA ? "SEEK_DATA" : "SEEK_HOLE", (intmax_t)v,
				(intmax_t)n);
			return;
		}
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	size_t n_mine = w->first < n_files ? (n_files - w->first + w->step - 1) / w->step : 0;

	while (!atomic_load(&stopping) && n_mine > 0) {
		size_t file = w->first + w->step * (size_t)rnd_below(w, n_mine);
		uint64_t kind = rnd_below(w, 10);

		if (open_file(w, file) < 0) {
			/* an error opens no file: do not spin on it */
			w->ops++;
			usleep(10000);
			continue;
		}
		if (kind < 3)
			do_seq(w, file);
		else if (kind < 7)
			do_pread(w, file);
		else if (kind < 9)
			do_mmap(w, file);
		else
			do_seek(w, file);
		if (rnd_below(w, 2) == 0)
			close_file(w);
	}
	close_file(w);
	atomic_store(&w->done, true);
	return NULL;
}

static pthread_mutex_t guard_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t guard_cond = PTHREAD_COND_INITIALIZER;
static bool guard_done;

/*
 * Ends the process when opening the view takes longer than *arg seconds.
 * _exit() from another thread is what frees a thread blocked in a request the
 * daemon has not taken yet: a signal handler would never run.
 */
static void *guard_main(void *arg)
{
	unsigned stall = *(unsigned *)arg;
	struct timespec ts;
	bool done;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += stall;
	pthread_mutex_lock(&guard_lock);
	while (!guard_done)
		if (pthread_cond_timedwait(&guard_cond, &guard_lock, &ts) == ETIMEDOUT)
			break;
	done = guard_done;
	pthread_mutex_unlock(&guard_lock);
	if (!done) {
		log_error("the view did not answer for %u s while starting: giving up", stall);
		_exit(1);
	}
	return NULL;
}

struct watchdog {
	struct worker *workers;
	unsigned n;
	unsigned stall;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Ends the process when a thread makes no progress for w->stall seconds. */
static void *watchdog_main(void *arg)
{
	struct watchdog *wd = arg;
	uint64_t *last = xmalloc(wd->n * sizeof(*last));
	double *since = xmalloc(wd->n * sizeof(*since));

	for (unsigned i = 0; i < wd->n; i++) {
		last[i] = atomic_load(&wd->workers[i].progress);
		since[i] = now_s();
	}
	for (;;) {
		bool all_done = true;

		usleep(250000);
		for (unsigned i = 0; i < wd->n; i++) {
			struct worker *w = &wd->workers[i];
			uint64_t p = atomic_load(&w->progress);
			double t = now_s();

			if (atomic_load(&w->done))
				continue;
			all_done = false;
			if (p != last[i]) {
				last[i] = p;
				since[i] = t;
			} else if (t - since[i] >= wd->stall) {
				int what = atomic_load(&w->what);

				flockfile(stdout);
				if (what == OP_NONE)
					printf("thread %u made no progress for %u s, outside the "
					       "view\n",
					       i, wd->stall);
				else
					printf("thread %u made no progress for %u s: in %s of '%s' "
					       "at offset %jd\n",
					       i, wd->stall, op_names[what],
					       files[atomic_load(&w->cur_file)].path,
					       (intmax_t)atomic_load(&w->cur_off));
				fflush(stdout);
				funlockfile(stdout);
				log_error("a reader hung: giving up");
				_exit(1);
			}
		}
		if (all_done)
			break;
	}
	free(last);
	free(since);
	return NULL;
}

static int add_file(const char *rel, off_t size, size_t *cap)
{
	if (n_files == *cap) {
		struct file *f;

		*cap = *cap ? *cap * 2 : 256;
		f = realloc(files, *cap * sizeof(*files));
		if (!f)
			return -ENOMEM;
		files = f;
	}
	files[n_files].path = strdup(rel);
	if (!files[n_files].path)
		return -ENOMEM;
	files[n_files++].size = size;
	return 0;
}

/* Lists the regular files under the directory dfd (taken) as rel/... */
static int list_files(int dfd, const char *rel, size_t *cap)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;
	int r = 0;

	if (!d) {
		r = -errno;
		close(dfd);
		return log_error_errno(r, "cannot list '%s'", *rel ? rel : ".");
	}
	while ((errno = 0, de = readdir(d))) {
		_cleanup_free_ char *child = NULL;
		struct stat st;

		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		if (asprintf(&child, "%s%s%s", rel, *rel ? "/" : "", de->d_name) < 0) {
			child = NULL;
			r = -ENOMEM;
			break;
		}
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			r = log_error_errno(-errno, "cannot stat '%s'", child);
			break;
		}
		if (S_ISDIR(st.st_mode)) {
			int cfd = openat(dirfd(d), de->d_name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (cfd < 0) {
				r = log_error_errno(-errno, "cannot open '%s'", child);
				break;
			}
			r = list_files(cfd, child, cap);
		} else if (S_ISREG(st.st_mode)) {
			r = add_file(child, st.st_size, cap);
		}
		if (r < 0)
			break;
	}
	if (r == 0 && errno != 0)
		r = log_error_errno(-errno, "cannot list '%s'", *rel ? rel : ".");
	closedir(d);
	return r;
}

static int file_cmp(const void *a, const void *b)
{
	return strcmp(((const struct file *)a)->path, ((const struct file *)b)->path);
}

/* Parses the count of an option; exits 2 if it is not one from min to max. */
static uint64_t parse_option(const char *name, const char *arg, uint64_t min, uint64_t max)
{
	uint64_t v;

	if (parse_count(arg, min, max, &v) < 0) {
		log_error("invalid %s '%s': not a number from %" PRIu64 " to %" PRIu64, name, arg,
			  min, max);
		exit(2);
	}
	return v;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: readstress [--threads N] [--seconds S] [--same] [--min-ops N] [--stall S]\n"
		"                  [--seed N] VIEWDIR NATIVEDIR\n"
		"Reads the files of NATIVEDIR through VIEWDIR from N threads for S seconds\n"
		"(sequential reads, preads, mmap, SEEK_DATA/SEEK_HOLE) and compares every byte.\n");
}

static void report(const struct worker *w, unsigned n, double secs, bool same)
{
	uint64_t ops = 0, bytes = 0, opens = 0, seq = 0, prd = 0, mm = 0, sk = 0, slow = 0;
	uint64_t min_ops = 0, max_ops = 0;
	unsigned slowest = 0;

	for (unsigned i = 0; i < n; i++) {
		log_info("thread %2u: %" PRIu64 " ops (%" PRIu64 " whole-file reads, %" PRIu64
			 " preads, %" PRIu64 " mmap reads, %" PRIu64 " seeks), %" PRIu64
			 " opens, %.1f MiB checked, %" PRIu64 " problems; %" PRIu64
			 " calls >= 100 ms, slowest %.1f ms (%s of '%s' at %jd)",
			 i, w[i].ops, w[i].n_seq, w[i].n_pread, w[i].n_mmap, w[i].n_seek,
			 w[i].opens, (double)w[i].bytes / (1 << 20), w[i].problems, w[i].n_slow,
			 (double)w[i].max_ns / 1e6, op_names[w[i].max_op],
			 files[w[i].max_file].path, (intmax_t)w[i].max_off);
		if (w[i].max_ns > w[slowest].max_ns)
			slowest = i;
		slow += w[i].n_slow;
		min_ops = i == 0 || w[i].ops < min_ops ? w[i].ops : min_ops;
		max_ops = w[i].ops > max_ops ? w[i].ops : max_ops;
		ops += w[i].ops;
		bytes += w[i].bytes;
		opens += w[i].opens;
		seq += w[i].n_seq;
		prd += w[i].n_pread;
		mm += w[i].n_mmap;
		sk += w[i].n_seek;
	}
	log_info("total: %u threads%s, %.1f s: %" PRIu64 " ops (%" PRIu64
		 " whole-file reads, %" PRIu64 " preads, %" PRIu64 " mmap reads, %" PRIu64
		 " seeks), %" PRIu64 " opens, %.1f MiB checked (%.1f MiB/s), %" PRIu64
		 " problems; ops per thread %" PRIu64 "..%" PRIu64 ", %" PRIu64
		 " view calls >= 100 ms, slowest %.1f ms",
		 n, same ? " on one file" : "", secs, ops, seq, prd, mm, sk, opens,
		 (double)bytes / (1 << 20), (double)bytes / (1 << 20) / secs,
		 (uint64_t)atomic_load(&n_problems), min_ops, max_ops, slow,
		 (double)w[slowest].max_ns / 1e6);
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{"threads", required_argument, NULL, 't'},
		{"seconds", required_argument, NULL, 's'},
		{"same", no_argument, NULL, 'S'},
		{"min-ops", required_argument, NULL, 'm'},
		{"stall", required_argument, NULL, 'w'},
		{"seed", required_argument, NULL, 'r'},
		{"help", no_argument, NULL, 'h'},
		{},
	};
	uint64_t threads = 16, seconds = 20, min_ops = 10, stall = 30, seed = 0;
	bool same = false, seeded = false, starved = false;
	_cleanup_free_ struct worker *workers = NULL;
	struct watchdog wd;
	pthread_t watchdog, guard;
	unsigned guard_stall;
	struct sigaction sa = {.sa_sigaction = on_sigbus, .sa_flags = SA_SIGINFO};
	sigset_t stop_set;
	size_t cap = 0, largest = 0;
	uint64_t total = 0;
	double start, deadline;
	int c, r, dfd;

	log_set_program("readstress");
	while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
		switch (c) {
		case 't':
			threads = parse_option("--threads", optarg, 1, 256);
			break;
		case 's':
			seconds = parse_option("--seconds", optarg, 1, 86400);
			break;
		case 'S':
			same = true;
			break;
		case 'm':
			min_ops = parse_option("--min-ops", optarg, 0, UINT64_MAX);
			break;
		case 'w':
			stall = parse_option("--stall", optarg, 1, 86400);
			break;
		case 'r':
			seed = parse_option("--seed", optarg, 0, UINT64_MAX);
			seeded = true;
			break;
		case 'h':
			usage_exit(usage, 0);
		default:
			usage_exit(usage, 2);
		}
	}
	if (argc - optind != 2)
		usage_exit(usage, 2);

	page_size = sysconf(_SC_PAGESIZE);
	native_dfd = open(argv[optind + 1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (native_dfd < 0) {
		log_error_errno(-errno, "cannot open '%s'", argv[optind + 1]);
		return 1;
	}
	dfd = dup(native_dfd);
	if (dfd < 0 || list_files(dfd, "", &cap) < 0)
		return 1;
	if (n_files == 0) {
		log_error("no regular files under '%s'", argv[optind + 1]);
		return 1;
	}
	qsort(files, n_files, sizeof(*files), file_cmp);
	for (size_t i = 0; i < n_files; i++) {
		total += (uint64_t)files[i].size;
		if (files[i].size > files[largest].size)
			largest = i;
	}
	/* the watchdog starts with the readers: until then a guard watches the view */
	guard_stall = (unsigned)stall;
	r = pthread_create(&guard, NULL, guard_main, &guard_stall);
	if (r != 0) {
		log_error_errno(-r, "cannot start the guard thread");
		return 1;
	}
	view_dfd = open(argv[optind], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (view_dfd < 0) {
		log_error_errno(-errno, "cannot open '%s'", argv[optind]);
		return 1;
	}
	pthread_mutex_lock(&guard_lock);
	guard_done = true;
	pthread_cond_signal(&guard_cond);
	pthread_mutex_unlock(&guard_lock);
	pthread_join(guard, NULL);
	if (!seeded)
		seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	log_info("%zu files (%.1f MiB) under '%s', %" PRIu64 " threads for %" PRIu64
		 " s, seed %" PRIu64 "%s%s%s",
		 n_files, (double)total / (1 << 20), argv[optind + 1], threads, seconds, seed,
		 same ? ", all on '" : "", same ? files[largest].path : "", same ? "'" : "");

	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, NULL) < 0 || install_stop_signals() < 0)
		return 1;
	/* the stop signals reach the main thread only: readers never see EINTR */
	sigemptyset(&stop_set);
	sigaddset(&stop_set, SIGTERM);
	sigaddset(&stop_set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop_set, NULL);

	workers = calloc(threads, sizeof(*workers));
	if (!workers) {
		log_error("out of memory");
		return 1;
	}
	for (unsigned i = 0; i < threads; i++) {
		struct worker *w = &workers[i];

		w->idx = i;
		w->rng = seed + i * UINT64_C(0x632be59bd9b4e019);
		w->vfd = w->nfd = -1;
		w->vbuf = xmalloc(BUF_SIZE);
		w->nbuf = xmalloc(BUF_SIZE);
		if (same) {
			w->first = largest;
			w->step = n_files;
		} else if (n_files >= threads) {
			w->first = i;
			w->step = threads;
		} else {
			w->first = i % n_files;
			w->step = n_files;
		}
	}
	start = now_s();
	deadline = start + (double)seconds;
	for (unsigned i = 0; i < threads; i++) {
		r = pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]);
		if (r != 0) {
			log_error_errno(-r, "cannot start thread %u", i);
			_exit(1);
		}
	}
	wd = (struct watchdog){
		.workers = workers, .n = (unsigned)threads, .stall = (unsigned)stall};
	r = pthread_create(&watchdog, NULL, watchdog_main, &wd);
	if (r != 0) {
		log_error_errno(-r, "cannot start the watchdog");
		_exit(1);
	}
	pthread_sigmask(SIG_UNBLOCK, &stop_set, NULL);

	while (!stop_requested()) {
		double left = deadline - now_s();

		if (left <= 0)
			break;
		usleep(left > 0.2 ? 200000 : (useconds_t)(left * 1e6));
	}
	atomic_store(&stopping, true);
	for (unsigned i = 0; i < threads; i++)
		pthread_join(workers[i].thread, NULL);
	pthread_join(watchdog, NULL);

	report(workers, (unsigned)threads, now_s() - start, same);
	for (unsigned i = 0; i < threads; i++) {
		if (workers[i].ops < min_ops) {
			log_error("thread %u completed only %" PRIu64
				  " operations (fewer than %" PRIu64 ": starved)",
				  i, workers[i].ops, min_ops);
			starved = true;
		}
		free(workers[i].vbuf);
		free(workers[i].nbuf);
	}
	for (size_t i = 0; i < n_files; i++)
		free(files[i].path);
	free(files);
	if (atomic_load(&n_problems) > 0) {
		log_error("%" PRIu64 " problems", (uint64_t)atomic_load(&n_problems));
		return 1;
	}
	return starved ? 1 : 0;
}
