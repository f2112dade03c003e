// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests of the hold (cgroup v2 freezer) and its guard process. They make
 * real cgroups under the cgroup2 mount, named stillfs-test-unit-*, and skip
 * when not root or when there is no cgroup2 with a freezer.
 *
 * Processes to freeze are children of the test: a loop that counts in shared
 * memory, so that "frozen" means the count stands still. A test that must see
 * stillfs die forks a child that plays stillfs and then ends without a word.
 * The test process is a child subreaper, so that the guards those children
 * leave behind become its own children and can be waited for.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "guard.h"
#include "hold.h"

#define MSEC INT64_C(1000000)
#define SEC INT64_C(1000000000)

/* Set once by the unchecked fixture, in the runner, before any test forks. */
static char cg_mount[PATH_MAX];
static char cg_base[PATH_MAX];
static const char *skip_reason;

/* Children a test started; the checked teardown kills and reaps what is left. */
static pid_t kids[16];
static size_t n_kids;
static volatile uint64_t *counter;
static char tmp_dir[PATH_MAX];

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * SEC + ts.tv_nsec;
}

static void sleep_ms(int64_t ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * MSEC };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* snprintf() that fails the test rather than cut a path short. */
static void fmt(char *buf, size_t size, const char *format, ...) _printf_(3, 4);

static void fmt(char *buf, size_t size, const char *format, ...)
{
	va_list ap;
	int n;

	va_start(ap, format);
	n = vsnprintf(buf, size, format, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size)
		ck_abort_msg("path too long for the test: %s", format);
}

#define REQUIRE_CGROUP2()                                                                          \
	do {                                                                                       \
		if (skip_reason) {                                                                 \
			printf("%s: skipped: %s\n", __func__, skip_reason);                        \
			return;                                                                    \
		}                                                                                  \
	} while (0)

static int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), r = 0;
	size_t n = strlen(s);

	if (fd < 0)
		return -errno;
	if (write(fd, s, n) != (ssize_t)n)
		r = -errno;
	close(fd);
	return r;
}

/* Reads a small file into buf (NUL-terminated); returns its length or -errno. */
static ssize_t read_file(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	if (n < 0)
		n = -errno;
	else
		buf[n] = '\0';
	close(fd);
	return n;
}

static void cg_file(char *buf, const char *cg, const char *file)
{
	int n = snprintf(buf, PATH_MAX, "%s/%s", cg, file);

	ck_assert(n > 0 && n < PATH_MAX);
}

/* Makes base/name (and its parents under base) and returns its path in buf. */
static void cg_make(char *buf, const char *name)
{
	char *p;
	int n = snprintf(buf, PATH_MAX, "%s/%s", cg_base, name);

	ck_assert(n > 0 && n < PATH_MAX);
	for (p = buf + strlen(cg_base) + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			ck_abort_msg("mkdir '%s': %s", buf, strerror(errno));
		*p = '/';
	}
	if (mkdir(buf, 0755) < 0 && errno != EEXIST)
		ck_abort_msg("mkdir '%s': %s", buf, strerror(errno));
}

/* cgroup.freeze as written last: 1 or 0. */
static int cg_freeze_value(const char *cg)
{
	char path[PATH_MAX], buf[16];

	cg_file(path, cg, "cgroup.freeze");
	ck_assert_int_gt(read_file(path, buf, sizeof(buf)), 0);
	return buf[0] == '1';
}

/* "frozen 1" in cgroup.events. */
static int cg_frozen(const char *cg)
{
	char path[PATH_MAX], buf[256];

	cg_file(path, cg, "cgroup.events");
	ck_assert_int_gt(read_file(path, buf, sizeof(buf)), 0);
	return strstr(buf, "frozen 1") != NULL;
}

static void cg_set_freeze(const char *cg, const char *v)
{
	char path[PATH_MAX];

	cg_file(path, cg, "cgroup.freeze");
	ck_assert_int_eq(write_file(path, v), 0);
}

static void cg_move(const char *cg, pid_t pid)
{
	char path[PATH_MAX], s[32];

	cg_file(path, cg, "cgroup.procs");
	fmt(s, sizeof(s), "%d", (int)pid);
	ck_assert_int_eq(write_file(path, s), 0);
}

static void track(pid_t pid)
{
	ck_assert_uint_lt(n_kids, sizeof(kids) / sizeof(kids[0]));
	kids[n_kids++] = pid;
}

/* A child that counts as fast as it can, in cgroup `cg`. */
static pid_t spawn_counter(const char *cg)
{
	pid_t pid;

	if (!counter) {
		void *m = mmap(NULL, sizeof(*counter), PROT_READ | PROT_WRITE,
			       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

		ck_assert(m != MAP_FAILED);
		counter = m;
	}
	*counter = 0;
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (;;)
			__atomic_add_fetch(counter, 1, __ATOMIC_RELAXED);
	}
	track(pid);
	cg_move(cg, pid);
	return pid;
}

static uint64_t count_now(void)
{
	return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

/* Whether the count moves within `ms`. */
static bool counting(int64_t ms)
{
	uint64_t before = count_now();
	int64_t end = now_ns() + ms * MSEC;

	while (now_ns() < end) {
		sleep_ms(5);
		if (count_now() != before)
			return true;
	}
	return false;
}

/* Waits up to `ms` for cgroup.freeze to read `want`. */
static bool wait_freeze_value(const char *cg, int want, int64_t ms)
{
	int64_t end = now_ns() + ms * MSEC;

	for (;;) {
		if (cg_freeze_value(cg) == want)
			return true;
		if (now_ns() >= end)
			return false;
		sleep_ms(5);
	}
}

/* Reaps `pid` within `ms`; returns its wait status, or -1 when it did not end. */
static int reap(pid_t pid, int64_t ms)
{
	int64_t end = now_ns() + ms * MSEC;
	int status;

	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid) {
			/* its pid may be reused now: the teardown must not kill that */
			for (size_t i = 0; i < n_kids; i++)
				if (kids[i] == pid)
					kids[i] = 0;
			return status;
		}
		if (r < 0 && errno != EINTR)
			return -1;
		if (now_ns() >= end)
			return -1;
		sleep_ms(5);
	}
}

/* The guard that `parent` started: its child named stillfs-guard; 0 when none within `ms`. */
static pid_t find_guard(pid_t parent, int64_t ms)
{
	int64_t end = now_ns() + ms * MSEC;

	do {
		DIR *d = opendir("/proc");
		struct dirent *de;
		pid_t found = 0;

		if (!d)
			return 0;
		while (!found && (de = readdir(d))) {
			char path[64], stat[512], *p;
			int ppid;

			if (de->d_name[0] < '0' || de->d_name[0] > '9')
				continue;
			fmt(path, sizeof(path), "/proc/%s/stat", de->d_name);
			if (read_file(path, stat, sizeof(stat)) <= 0)
				continue;
			p = strrchr(stat, ')');
			if (!p || sscanf(p + 2, "%*c %d", &ppid) != 1 || ppid != (int)parent)
				continue;
			if (strstr(stat, "(stillfs-guard)"))
				found = (pid_t)atoi(de->d_name);
		}
		closedir(d);
		if (found)
			return found;
		sleep_ms(5);
	} while (now_ns() < end);
	return 0;
}

/* Ends the cgroups beneath `dir` and their processes, deepest first; bounded. */
static void cg_clean_tree(const char *dir, bool remove_dir)
{
	char path[PATH_MAX + 256], buf[256];
	struct dirent *de;
	DIR *d = opendir(dir);

	if (!d)
		return;
	while ((de = readdir(d)))
		if (de->d_type == DT_DIR && strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0) {
			fmt(path, sizeof(path), "%s/%s", dir, de->d_name);
			cg_clean_tree(path, true);
		}
	closedir(d);

	fmt(path, sizeof(path), "%s/cgroup.freeze", dir);
	write_file(path, "0");
	fmt(path, sizeof(path), "%s/cgroup.kill", dir);
	if (write_file(path, "1") < 0) {
		FILE *f;
		int pid;

		fmt(path, sizeof(path), "%s/cgroup.procs", dir);
		f = fopen(path, "re");
		while (f && fscanf(f, "%d", &pid) == 1)
			kill(pid, SIGKILL);
		if (f)
			fclose(f);
	}
	fmt(path, sizeof(path), "%s/cgroup.events", dir);
	for (int i = 0; i < 400; i++) {
		if (read_file(path, buf, sizeof(buf)) <= 0 || strstr(buf, "populated 0"))
			break;
		sleep_ms(5);
	}
	if (remove_dir && rmdir(dir) < 0)
		fprintf(stderr, "cannot remove test cgroup '%s': %s\n", dir, strerror(errno));
}

static void rm_tmp_dir(void)
{
	char path[PATH_MAX + 256];
	struct dirent *de;
	DIR *d;

	if (!tmp_dir[0])
		return;
	d = opendir(tmp_dir);
	while (d && (de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		fmt(path, sizeof(path), "%s/%s", tmp_dir, de->d_name);
		unlink(path);
	}
	if (d)
		closedir(d);
	rmdir(tmp_dir);
	tmp_dir[0] = '\0';
}

/* ---- fixtures ---- */

static bool find_mount(const char *fstype, char *buf, size_t size)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[8192];
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		char *sep = strstr(line, " - "), mp[4096];
		char type[64];

		if (!sep || sscanf(sep + 3, "%63s", type) != 1 || strcmp(type, fstype) != 0)
			continue;
		/* mount points with escapes (spaces) are not what a test machine has */
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) == 1 && !strchr(mp, '\\')) {
			fmt(buf, size, "%s", mp);
			found = true;
		}
	}
	fclose(f);
	return found;
}

static void suite_setup(void)
{
	char path[PATH_MAX + 32];

	skip_reason = NULL;
	if (geteuid() != 0) {
		skip_reason = "not root";
		return;
	}
	if (!find_mount("cgroup2", cg_mount, sizeof(cg_mount))) {
		skip_reason = "no cgroup2 filesystem is mounted";
		return;
	}
	fmt(cg_base, sizeof(cg_base), "%s/stillfs-test-unit-%d", cg_mount, (int)getpid());
	if (mkdir(cg_base, 0755) < 0 && errno != EEXIST) {
		skip_reason = "cannot make a cgroup under the cgroup2 mount";
		return;
	}
	fmt(path, sizeof(path), "%s/cgroup.freeze", cg_base);
	if (access(path, W_OK) < 0) {
		skip_reason = "this kernel has no cgroup v2 freezer";
		rmdir(cg_base);
		return;
	}
	/* orphaned guards become ours, to be waited for */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
}

static void suite_teardown(void)
{
	if (!skip_reason)
		cg_clean_tree(cg_base, true);
}

static void test_setup(void)
{
	n_kids = 0;
	tmp_dir[0] = '\0';
	if (!skip_reason)
		prctl(PR_SET_CHILD_SUBREAPER, 1);
}

static void test_teardown(void)
{
	for (size_t i = 0; i < n_kids; i++)
		if (kids[i] > 0)
			kill(kids[i], SIGKILL);
	if (!skip_reason)
		cg_clean_tree(cg_base, false);
	for (size_t i = 0; i < n_kids; i++)
		if (kids[i] > 0)
			reap(kids[i], 2000);
	n_kids = 0;
	rm_tmp_dir();
}

static void make_tmp_dir(void)
{
	fmt(tmp_dir, sizeof(tmp_dir), "/tmp/stillfs-test-unit-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmp_dir));
}

/* Writes an executable script in the temp dir and returns its path in buf. */
static void make_script(char *buf, const char *name, const char *body)
{
	int fd;

	fmt(buf, PATH_MAX, "%s/%s", tmp_dir, name);
	fd = open(buf, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, body, strlen(body)), (ssize_t)strlen(body));
	close(fd);
}

/* ---- hold_resolve ---- */

static void assert_refused(const char *spec, int err, const char *in_msg)
{
	struct errbuf eb = { "" };
	char *ret = (char *)"untouched";
	int r = hold_resolve(spec, &ret, &eb);

	if (r != err)
		ck_abort_msg("hold_resolve('%s') = %d (%s), expected %d", spec, r, eb.msg, err);
	ck_assert_str_eq(ret, "untouched");
	if (!strstr(eb.msg, in_msg))
		ck_abort_msg("message for '%s' does not name '%s': %s", spec, in_msg, eb.msg);
}

START_TEST(test_resolve_refusals)
{
	char missing[PATH_MAX], file[PATH_MAX], v1[PATH_MAX], self[PATH_MAX];
	FILE *f;

	REQUIRE_CGROUP2();
	assert_refused("", -EINVAL, "no cgroup");
	fmt(missing, sizeof(missing), "%s/no-such-cgroup", cg_base);
	assert_refused(missing, -ENOENT, missing);
	assert_refused("/tmp", -EMEDIUMTYPE, "/tmp");
	cg_file(file, cg_base, "cgroup.procs");
	assert_refused(file, -ENOTDIR, file);
	assert_refused(cg_mount, -EPERM, "root cgroup");
	assert_refused(cg_mount, -EPERM, cg_mount);
	if (find_mount("cgroup", v1, sizeof(v1)))
		assert_refused(v1, -EMEDIUMTYPE, "cgroup v1");
	else
		printf("%s: no cgroup v1 hierarchy to refuse\n", __func__);

	/* where this process runs, when that is not the root */
	f = fopen("/proc/self/cgroup", "re");
	ck_assert_ptr_nonnull(f);
	while (fgets(self, sizeof(self), f))
		if (strncmp(self, "0::", 3) == 0 && strcmp(self, "0::/\n") != 0) {
			char dir[PATH_MAX + 8];

			self[strcspn(self, "\n")] = '\0';
			fmt(dir, sizeof(dir), "%s%s", cg_mount, self + 3);
			assert_refused(dir, -EDEADLK, dir);
			*strrchr(dir, '/') = '\0';
			if (strcmp(dir, cg_mount) != 0)
				assert_refused(dir, -EDEADLK, dir);
		}
	fclose(f);
}
END_TEST

/*
 * A child moved into base/self/inner checks that it may hold neither its own
 * cgroup nor an ancestor, but may hold a sibling. It answers with one byte on
 * a pipe, '0' or the number of the failed check: its exit status would not
 * do, as valgrind makes it 99 for any leak the child inherited.
 */
START_TEST(test_resolve_refuses_own_cgroup)
{
	char inner[PATH_MAX], outer[PATH_MAX], sibling[PATH_MAX], answer = '?';
	int go[2], res[2];
	struct pollfd p;
	pid_t pid;

	REQUIRE_CGROUP2();
	cg_make(inner, "self/inner");
	cg_make(outer, "self");
	cg_make(sibling, "sibling");
	ck_assert_int_eq(pipe2(go, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(res, O_CLOEXEC), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct errbuf eb = { "" };
		char *ret = NULL, c = '0';

		close(go[1]);
		close(res[0]);
		if (read(go[0], &c, 1) != 1)
			c = '9';
		else if (hold_resolve(inner, &ret, &eb) != -EDEADLK || !strstr(eb.msg, inner))
			c = '1';
		else if (hold_resolve(outer, &ret, &eb) != -EDEADLK || !strstr(eb.msg, outer))
			c = '2';
		else if (hold_resolve(cg_base, &ret, &eb) != -EDEADLK)
			c = '3';
		else if (hold_resolve(sibling, &ret, &eb) != 0 || strcmp(ret, sibling) != 0)
			c = '4';
		else
			c = '0';
		free(ret);
		if (write(res[1], &c, 1) != 1)
			_exit(1);
		_exit(0);
	}
	track(pid);
	close(go[0]);
	close(res[1]);
	cg_move(inner, pid);
	ck_assert_int_eq(write(go[1], "g", 1), 1);
	close(go[1]);
	p = (struct pollfd){ .fd = res[0], .events = POLLIN };
	ck_assert_int_eq(poll(&p, 1, 20000), 1);
	ck_assert_int_eq(read(res[0], &answer, 1), 1);
	close(res[0]);
	ck_assert_msg(answer == '0', "check %c in the child failed", answer);
	ck_assert_int_ne(reap(pid, 20000), -1);
}
END_TEST

START_TEST(test_resolve_canonical)
{
	char dir[PATH_MAX], spec[PATH_MAX + 16];
	struct errbuf eb = { "" };
	char *ret = NULL;

	REQUIRE_CGROUP2();
	cg_make(dir, "plain");
	fmt(spec, sizeof(spec), "%s/./plain/", cg_base);
	ck_assert_int_eq(hold_resolve(spec, &ret, &eb), 0);
	ck_assert_str_eq(ret, dir);
	free(ret);
}
END_TEST

static void assert_unit(const char *name, const char *expected)
{
	char spec[PATH_MAX];
	struct errbuf eb = { "" };
	char *ret = NULL;
	int r;

	fmt(spec, sizeof(spec), "unit:%s", name);
	r = hold_resolve(spec, &ret, &eb);
	if (r != 0)
		ck_abort_msg("hold_resolve('%s') = %d: %s", spec, r, eb.msg);
	ck_assert_str_eq(ret, expected);
	free(ret);
}

START_TEST(test_resolve_unit)
{
	char name[128], spec[160], found[PATH_MAX], deep[PATH_MAX], rel[256], sys[PATH_MAX];
	int pid = (int)getpid();

	REQUIRE_CGROUP2();

	/* found at any depth */
	fmt(name, sizeof(name), "stillfs-test-unit-%d-one.service", pid);
	fmt(rel, sizeof(rel), "system.slice/%s", name);
	cg_make(found, rel);
	assert_unit(name, found);

	/* the shallowest wins */
	fmt(name, sizeof(name), "stillfs-test-unit-%d-two.scope", pid);
	fmt(rel, sizeof(rel), "a/b/c/%s", name);
	cg_make(deep, rel);
	fmt(rel, sizeof(rel), "a/%s", name);
	cg_make(found, rel);
	assert_unit(name, found);

	/* two at the same depth: refused rather than guessed */
	fmt(name, sizeof(name), "stillfs-test-unit-%d-three.slice", pid);
	fmt(rel, sizeof(rel), "p/%s", name);
	cg_make(found, rel);
	fmt(rel, sizeof(rel), "q/%s", name);
	cg_make(found, rel);
	fmt(spec, sizeof(spec), "unit:%s", name);
	assert_refused(spec, -ENOTUNIQ, name);

	fmt(spec, sizeof(spec), "unit:stillfs-test-unit-%d-none.service", pid);
	assert_refused(spec, -ENOENT, spec);
	assert_refused("unit:nothing", -EINVAL, "unit:nothing");
	assert_refused("unit:a/b.service", -EINVAL, "unit:a/b.service");
	assert_refused("unit:../x.service", -EINVAL, "unit:../x.service");

	/* system.slice/NAME before any other; only where system.slice exists already */
	fmt(sys, sizeof(sys), "%s/system.slice", cg_mount);
	if (access(sys, F_OK) == 0) {
		char mine[PATH_MAX + 160];

		fmt(name, sizeof(name), "stillfs-test-unit-%d-four.service", pid);
		fmt(mine, sizeof(mine), "%s/%s", sys, name);
		if (mkdir(mine, 0755) == 0) {
			cg_make(found, name);
			assert_unit(name, mine);
			rmdir(mine);
		}
	} else {
		printf("%s: no top-level system.slice; its preference is not tested\n",
		       __func__);
	}
}
END_TEST

/* ---- the hold ---- */

START_TEST(test_hold_freezes_and_thaws)
{
	char cg[PATH_MAX];
	char *list[1] = { cg };
	struct errbuf eb = { "" };
	struct guard *g = NULL;
	struct hold *h = NULL;
	uint64_t before;
	int r;

	REQUIRE_CGROUP2();
	cg_make(cg, "hold");
	spawn_counter(cg);
	ck_assert(counting(2000));

	ck_assert_int_eq(guard_start(&g), 0);
	r = hold_begin(g, list, 1, now_ns() + 10 * SEC, &h, &eb);
	ck_assert_msg(r == 0, "hold_begin: %d %s", r, eb.msg);
	ck_assert_int_eq(cg_frozen(cg), 1);
	before = count_now();
	sleep_ms(200);
	ck_assert_uint_eq(count_now(), before);
	ck_assert_int_eq(cg_frozen(cg), 1);

	r = hold_end(h, &eb);
	ck_assert_msg(r == 0, "hold_end: %d %s", r, eb.msg);
	ck_assert_int_eq(cg_freeze_value(cg), 0);
	ck_assert(counting(2000));
	/* the guard forgot it: someone else's freeze after the hold is not undone */
	cg_set_freeze(cg, "1");
	guard_release(g);
	ck_assert_int_eq(cg_freeze_value(cg), 1);
	cg_set_freeze(cg, "0");
	ck_assert_int_eq(hold_end(NULL, &eb), 0);
}
END_TEST

START_TEST(test_hold_broken_by_someone_else)
{
	char cg[PATH_MAX];
	char *list[1] = { cg };
	struct errbuf eb = { "" };
	struct guard *g = NULL;
	struct hold *h = NULL;
	int r;

	REQUIRE_CGROUP2();
	cg_make(cg, "broken");
	spawn_counter(cg);
	ck_assert_int_eq(guard_start(&g), 0);
	r = hold_begin(g, list, 1, now_ns() + 10 * SEC, &h, &eb);
	ck_assert_msg(r == 0, "hold_begin: %d %s", r, eb.msg);
	cg_set_freeze(cg, "0");
	/* the snapshots may not show one instant: the set must fail */
	ck_assert_int_eq(hold_end(h, &eb), -ESTALE);
	ck_assert_ptr_nonnull(strstr(eb.msg, cg));
	guard_release(g);
}
END_TEST

START_TEST(test_hold_several_cgroups)
{
	char a[PATH_MAX], b[PATH_MAX];
	char *list[2] = { a, b };
	struct errbuf eb = { "" };
	struct guard *g = NULL;
	struct hold *h = NULL;
	int r;

	REQUIRE_CGROUP2();
	cg_make(a, "one");
	cg_make(b, "two"); /* empty: freezes at once */
	spawn_counter(a);
	ck_assert_int_eq(guard_start(&g), 0);
	r = hold_begin(g, list, 2, now_ns() + 10 * SEC, &h, &eb);
	ck_assert_msg(r == 0, "hold_begin: %d %s", r, eb.msg);
	ck_assert_int_eq(cg_frozen(a), 1);
	ck_assert_int_eq(cg_frozen(b), 1);
	ck_assert_int_eq(hold_end(h, &eb), 0);
	ck_assert_int_eq(cg_freeze_value(a), 0);
	ck_assert_int_eq(cg_freeze_value(b), 0);
	guard_release(g);
}
END_TEST

START_TEST(test_hold_deadline)
{
	char cg[PATH_MAX];
	char *list[1] = { cg };
	struct errbuf eb = { "" };
	struct guard *g = NULL;
	struct hold *h = NULL;
	int r;

	REQUIRE_CGROUP2();
	cg_make(cg, "deadline");
	spawn_counter(cg);
	ck_assert_int_eq(guard_start(&g), 0);
	r = hold_begin(g, list, 1, now_ns() + 300 * MSEC, &h, &eb);
	ck_assert_msg(r == 0, "hold_begin: %d %s", r, eb.msg);
	ck_assert_int_eq(cg_frozen(cg), 1);
	sleep_ms(600);
	/* stillfs did nothing; the guard thawed it */
	ck_assert_int_eq(cg_freeze_value(cg), 0);
	ck_assert(counting(2000));
	r = hold_end(h, &eb);
	ck_assert_int_eq(r, -ETIMEDOUT);
	ck_assert_ptr_nonnull(strstr(eb.msg, "deadline"));
	guard_release(g);
}
END_TEST

START_TEST(test_hold_refusals_freeze_nothing)
{
	char cg[PATH_MAX], missing[PATH_MAX];
	char *list[2] = { cg, missing };
	struct errbuf eb = { "" };
	struct guard *g = NULL;
	struct hold *h = NULL;
	pid_t gpid;

	REQUIRE_CGROUP2();
	cg_make(cg, "refuse");
	fmt(missing, sizeof(missing), "%s/no-such-cgroup", cg_base);
	ck_assert_int_eq(guard_start(&g), 0);

	ck_assert_int_eq(hold_begin(g, list, 2, now_ns() + 10 * SEC, &h, &eb), -ENOENT);
	ck_assert_ptr_nonnull(strstr(eb.msg, missing));
	ck_assert_ptr_null(h);
	ck_assert_int_eq(cg_freeze_value(cg), 0);

	ck_assert_int_eq(hold_begin(g, list, 1, now_ns() - 1, &h, &eb), -ETIMEDOUT);
	ck_assert_ptr_null(h);
	ck_assert_int_eq(cg_freeze_value(cg), 0);

	/* without a guard nothing may be frozen */
	gpid = find_guard(getpid(), 5000);
	ck_assert_int_gt(gpid, 0);
	ck_assert_int_eq(kill(gpid, SIGKILL), 0);
	ck_assert_int_ne(reap(gpid, 5000), -1);
	ck_assert_int_eq(hold_begin(g, list, 1, now_ns() + 10 * SEC, &h, &eb), -EPIPE);
	ck_assert_ptr_nonnull(strstr(eb.msg, cg));
	ck_assert_ptr_null(h);
	ck_assert_int_eq(cg_freeze_value(cg), 0);
	guard_release(g);
}
END_TEST

/* ---- the guard ---- */

START_TEST(test_guard_process)
{
	char path[64], buf[64];
	struct guard *g = NULL;
	struct dirent *de;
	struct rlimit lim;
	int n_fds = 0;
	pid_t gpid;
	DIR *d;

	REQUIRE_CGROUP2();
	ck_assert_int_eq(guard_start(&g), 0);
	gpid = find_guard(getpid(), 5000);
	ck_assert_int_gt(gpid, 0);
	ck_assert_int_eq(getsid(gpid), gpid);

	/*
	 * its pipe, and /dev/null as stdin, stdout and stderr: nothing else of
	 * ours. Valgrind keeps descriptors of its own above the limit it shows.
	 */
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &lim), 0);
	fmt(path, sizeof(path), "/proc/%d/fd", (int)gpid);
	d = opendir(path);
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' && (rlim_t)atoi(de->d_name) < lim.rlim_cur)
			n_fds++;
	closedir(d);
	ck_assert_int_eq(n_fds, 4);
	fmt(path, sizeof(path), "/proc/%d/fd/0", (int)gpid);
	ck_assert_int_gt(readlink(path, buf, sizeof(buf) - 1), 0);
	ck_assert(strncmp(buf, "/dev/null", 9) == 0);

	/* a ^C or kill aimed at stillfs's group is not for the guard */
	ck_assert_int_eq(kill(gpid, SIGTERM), 0);
	ck_assert_int_eq(kill(gpid, SIGINT), 0);
	ck_assert_int_eq(kill(gpid, SIGHUP), 0);
	sleep_ms(100);
	ck_assert_int_eq(waitpid(gpid, NULL, WNOHANG), 0);

	guard_release(g);
	/* released means reaped */
	ck_assert_int_eq(waitpid(gpid, NULL, WNOHANG), -1);
	ck_assert_int_eq(errno, ECHILD);
}
END_TEST

/* What a child that plays stillfs reports before it dies. */
struct report {
	int ok;
	pid_t guard;
};

enum abandon_how { ABANDON_EXIT, ABANDON_KILL };

/*
 * Forks a stillfs stand-in that runs `play` (a hold, a hook, ...), reports its
 * guard's pid and then dies without releasing anything. Returns the guard's
 * pid once the stand-in is gone.
 */
static pid_t abandon(bool (*play)(struct guard *g, void *userdata), void *userdata,
		     enum abandon_how how)
{
	struct report rep = { 0 };
	struct pollfd p;
	int fds[2], status;
	pid_t pid;

	ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct guard *g = NULL;

		close(fds[0]);
		rep.ok = guard_start(&g) == 0 && play(g, userdata);
		rep.guard = find_guard(getpid(), 5000);
		if (write(fds[1], &rep, sizeof(rep)) != sizeof(rep))
			_exit(2);
		if (how == ABANDON_KILL)
			raise(SIGKILL);
		_exit(0); /* no guard_release(): the guard sees only the pipe close */
	}
	track(pid);
	close(fds[1]);
	p = (struct pollfd){ .fd = fds[0], .events = POLLIN };
	ck_assert_int_eq(poll(&p, 1, 20000), 1);
	ck_assert_int_eq(read(fds[0], &rep, sizeof(rep)), sizeof(rep));
	close(fds[0]);
	ck_assert_msg(rep.ok, "the stand-in could not set up");
	ck_assert_int_gt(rep.guard, 0);
	status = reap(pid, 20000);
	ck_assert_int_ne(status, -1);
	if (how == ABANDON_KILL)
		ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	return rep.guard;
}

/* Where the stand-in keeps what it never frees, so that valgrind sees it reachable. */
static struct hold *abandoned_hold;

static bool play_hold(struct guard *g, void *userdata)
{
	char *list[1] = { userdata };
	struct errbuf eb;

	return hold_begin(g, list, 1, now_ns() + 60 * SEC, &abandoned_hold, &eb) == 0 &&
	       cg_frozen(userdata) == 1;
}

static void check_abandoned_hold(enum abandon_how how)
{
	char cg[PATH_MAX];
	pid_t gpid;

	cg_make(cg, how == ABANDON_KILL ? "abandon-kill" : "abandon-exit");
	spawn_counter(cg);
	gpid = abandon(play_hold, cg, how);
	/* the hold's deadline is a minute away: only the end of the pipe thaws it now */
	ck_assert_msg(wait_freeze_value(cg, 0, 1000), "still frozen 1 s after stillfs died");
	ck_assert(counting(2000));
	/* and the guard, its work done, is gone */
	ck_assert_int_ne(reap(gpid, 5000), -1);
}

START_TEST(test_guard_thaws_when_stillfs_exits)
{
	REQUIRE_CGROUP2();
	check_abandoned_hold(ABANDON_EXIT);
}
END_TEST

START_TEST(test_guard_thaws_when_stillfs_is_killed)
{
	REQUIRE_CGROUP2();
	check_abandoned_hold(ABANDON_KILL);
}
END_TEST

static bool play_hook(struct guard *g, void *userdata)
{
	return guard_watch_hook(g, userdata, 5 * SEC) == 0;
}

/* Waits up to `ms` for a file to exist. */
static bool wait_file(const char *path, int64_t ms)
{
	int64_t end = now_ns() + ms * MSEC;

	while (access(path, F_OK) < 0) {
		if (now_ns() >= end)
			return false;
		sleep_ms(5);
	}
	return true;
}

START_TEST(test_guard_runs_hook_thaw)
{
	char hook[PATH_MAX], out[PATH_MAX], body[2 * PATH_MAX + 256], buf[256];
	pid_t gpid;

	REQUIRE_CGROUP2();
	make_tmp_dir();
	fmt(out, sizeof(out), "%s/out", tmp_dir);
	fmt(body, sizeof(body),
		 "#!/bin/sh\n"
		 "printf '%%s %%s %%s %%s %%s\\n' \"$1\" \"$STILLFS_PHASE\" "
		 "\"$(readlink /proc/$$/fd/0)\" \"$(readlink /proc/$$/fd/1)\" "
		 "\"$(readlink /proc/$$/fd/2)\" > '%s.tmp'\n"
		 "mv '%s.tmp' '%s'\n",
		 out, out, out);
	make_script(hook, "hook", body);
	gpid = abandon(play_hook, hook, ABANDON_KILL);
	ck_assert_msg(wait_file(out, 2000), "the hook's thaw did not run");
	ck_assert_int_gt(read_file(out, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "thaw thaw /dev/null /dev/null /dev/null\n");
	ck_assert_int_ne(reap(gpid, 5000), -1);
}
END_TEST

static bool play_slow_hook(struct guard *g, void *userdata)
{
	return guard_watch_hook(g, userdata, 200 * MSEC) == 0;
}

START_TEST(test_guard_kills_hook_at_timeout)
{
	char hook[PATH_MAX], pidfile[PATH_MAX], body[PATH_MAX + 128], buf[32];
	int64_t start;
	pid_t gpid, sleeper;

	REQUIRE_CGROUP2();
	make_tmp_dir();
	fmt(pidfile, sizeof(pidfile), "%s/pid", tmp_dir);
	/* a hook that hangs, with a child of its own */
	fmt(body, sizeof(body), "#!/bin/sh\nsleep 30 &\necho $! > '%s'\nwait\n", pidfile);
	make_script(hook, "hook", body);
	gpid = abandon(play_slow_hook, hook, ABANDON_EXIT);
	start = now_ns();
	ck_assert_msg(wait_file(pidfile, 2000), "the hook did not start");
	/* killed at 200 ms, with its process group; the guard then exits */
	ck_assert_int_ne(reap(gpid, 3000), -1);
	ck_assert_int_lt(now_ns() - start, 3 * SEC);
	ck_assert_int_gt(read_file(pidfile, buf, sizeof(buf)), 0);
	sleeper = (pid_t)atoi(buf);
	ck_assert_int_gt(sleeper, 0);
	/* an orphan comes to us as subreaper: reap it, or see it gone */
	for (int i = 0; i < 400; i++) {
		if (waitpid(sleeper, NULL, WNOHANG) == sleeper ||
		    (kill(sleeper, 0) < 0 && errno == ESRCH))
			break;
		sleep_ms(5);
	}
	ck_assert_int_eq(kill(sleeper, 0), -1);
}
END_TEST

struct forget_play {
	const char *cg;
	const char *hook;
};

static bool play_watch_and_forget(struct guard *g, void *userdata)
{
	const struct forget_play *f = userdata;

	return guard_watch_cgroup(g, f->cg, now_ns() + 60 * SEC) == 0 &&
	       guard_watch_hook(g, f->hook, 5 * SEC) == 0 && guard_forget(g) == 0;
}

START_TEST(test_guard_forget)
{
	char cg[PATH_MAX], hook[PATH_MAX], out[PATH_MAX], body[PATH_MAX + 64];
	struct forget_play play = { cg, hook };
	struct guard *g = NULL;
	pid_t gpid;

	REQUIRE_CGROUP2();
	make_tmp_dir();
	fmt(out, sizeof(out), "%s/out", tmp_dir);
	fmt(body, sizeof(body), "#!/bin/sh\ntouch '%s'\n", out);
	make_script(hook, "hook", body);
	cg_make(cg, "forget");

	/* forgotten, then released: the deadline passes and nothing happens */
	ck_assert_int_eq(guard_start(&g), 0);
	ck_assert_int_eq(guard_watch_cgroup(g, cg, now_ns() + 300 * MSEC), 0);
	ck_assert_int_eq(guard_watch_hook(g, hook, 5 * SEC), 0);
	ck_assert_int_eq(guard_forget(g), 0);
	cg_set_freeze(cg, "1");
	sleep_ms(500);
	ck_assert_int_eq(cg_freeze_value(cg), 1);
	guard_release(g);
	ck_assert_int_eq(cg_freeze_value(cg), 1);
	ck_assert_int_eq(access(out, F_OK), -1);

	/* forgotten, then abandoned: nothing either */
	gpid = abandon(play_watch_and_forget, &play, ABANDON_KILL);
	ck_assert_int_ne(reap(gpid, 5000), -1);
	ck_assert_int_eq(cg_freeze_value(cg), 1);
	ck_assert_int_eq(access(out, F_OK), -1);
	cg_set_freeze(cg, "0");
}
END_TEST

static bool play_forget_cgroup(struct guard *g, void *userdata)
{
	const struct forget_play *f = userdata;

	if (guard_watch_cgroup(g, f->cg, now_ns() + 60 * SEC) < 0 ||
	    guard_watch_hook(g, f->hook, 5 * SEC) < 0 || guard_forget_cgroup(g, f->cg) < 0)
		return false;
	cg_set_freeze(f->cg, "1");
	return true;
}

START_TEST(test_guard_forget_cgroup_keeps_hooks)
{
	char a[PATH_MAX], b[PATH_MAX], hook[PATH_MAX], out[PATH_MAX], body[PATH_MAX + 64];
	struct forget_play play = { a, hook };
	struct guard *g = NULL;
	pid_t gpid;

	REQUIRE_CGROUP2();
	make_tmp_dir();
	fmt(out, sizeof(out), "%s/out", tmp_dir);
	fmt(body, sizeof(body), "#!/bin/sh\ntouch '%s'\n", out);
	make_script(hook, "hook", body);
	cg_make(a, "forget-a");
	cg_make(b, "forget-b");

	/* at the deadline: only the cgroup still watched is thawed */
	ck_assert_int_eq(guard_start(&g), 0);
	ck_assert_int_eq(guard_watch_cgroup(g, a, now_ns() + 300 * MSEC), 0);
	ck_assert_int_eq(guard_watch_cgroup(g, b, now_ns() + 300 * MSEC), 0);
	ck_assert_int_eq(guard_forget_cgroup(g, a), 0);
	cg_set_freeze(a, "1");
	cg_set_freeze(b, "1");
	ck_assert(wait_freeze_value(b, 0, 2000));
	ck_assert_int_eq(cg_freeze_value(a), 1);
	guard_release(g);
	ck_assert_int_eq(cg_freeze_value(a), 1);
	cg_set_freeze(a, "0");

	/* abandoned after hold_end(): the writers' hooks still get their thaw */
	gpid = abandon(play_forget_cgroup, &play, ABANDON_EXIT);
	ck_assert_msg(wait_file(out, 2000), "the hook's thaw did not run");
	ck_assert_int_ne(reap(gpid, 5000), -1);
	ck_assert_int_eq(cg_freeze_value(a), 1);
	cg_set_freeze(a, "0");
}
END_TEST

START_TEST(test_guard_release_thaws_what_was_not_forgotten)
{
	char cg[PATH_MAX], hook[PATH_MAX], out[PATH_MAX], body[PATH_MAX + 64];
	struct guard *g = NULL;

	REQUIRE_CGROUP2();
	make_tmp_dir();
	fmt(out, sizeof(out), "%s/out", tmp_dir);
	fmt(body, sizeof(body), "#!/bin/sh\ntouch '%s'\n", out);
	make_script(hook, "hook", body);
	cg_make(cg, "release");

	ck_assert_int_eq(guard_start(&g), 0);
	ck_assert_int_eq(guard_watch_cgroup(g, cg, now_ns() + 60 * SEC), 0);
	ck_assert_int_eq(guard_watch_hook(g, hook, 5 * SEC), 0);
	cg_set_freeze(cg, "1");
	guard_release(g);
	/* an error path that forgot hold_end() leaves nothing frozen; a living stillfs thaws its own writers */
	ck_assert_int_eq(cg_freeze_value(cg), 0);
	ck_assert_int_eq(access(out, F_OK), -1);
	guard_release(NULL);
}
END_TEST

START_TEST(test_guard_argument_checks)
{
	struct guard *g = NULL;

	REQUIRE_CGROUP2();
	ck_assert_int_eq(guard_start(&g), 0);
	ck_assert_int_eq(guard_watch_cgroup(g, "relative", now_ns()), -EINVAL);
	ck_assert_int_eq(guard_watch_cgroup(g, "/a\nb", now_ns()), -EINVAL);
	ck_assert_int_eq(guard_watch_cgroup(g, "/a", -1), -EINVAL);
	ck_assert_int_eq(guard_watch_hook(g, "/bin/true", 0), -EINVAL);
	ck_assert_int_eq(guard_watch_hook(g, "true", SEC), -EINVAL);
	guard_release(g);
}
END_TEST

Suite *hold_suite(void);

Suite *hold_suite(void)
{
	Suite *s = suite_create("hold");
	TCase *tc;

	tc = tcase_create("resolve");
	tcase_add_unchecked_fixture(tc, suite_setup, suite_teardown);
	tcase_add_checked_fixture(tc, test_setup, test_teardown);
	tcase_add_test(tc, test_resolve_refusals);
	tcase_add_test(tc, test_resolve_refuses_own_cgroup);
	tcase_add_test(tc, test_resolve_canonical);
	tcase_add_test(tc, test_resolve_unit);
	suite_add_tcase(s, tc);

	tc = tcase_create("hold");
	tcase_add_unchecked_fixture(tc, suite_setup, suite_teardown);
	tcase_add_checked_fixture(tc, test_setup, test_teardown);
	tcase_add_test(tc, test_hold_freezes_and_thaws);
	tcase_add_test(tc, test_hold_several_cgroups);
	tcase_add_test(tc, test_hold_broken_by_someone_else);
	tcase_add_test(tc, test_hold_deadline);
	tcase_add_test(tc, test_hold_refusals_freeze_nothing);
	suite_add_tcase(s, tc);

	tc = tcase_create("guard");
	tcase_add_unchecked_fixture(tc, suite_setup, suite_teardown);
	tcase_add_checked_fixture(tc, test_setup, test_teardown);
	tcase_add_test(tc, test_guard_process);
	tcase_add_test(tc, test_guard_thaws_when_stillfs_exits);
	tcase_add_test(tc, test_guard_thaws_when_stillfs_is_killed);
	tcase_add_test(tc, test_guard_runs_hook_thaw);
	tcase_add_test(tc, test_guard_kills_hook_at_timeout);
	tcase_add_test(tc, test_guard_forget);
	tcase_add_test(tc, test_guard_forget_cgroup_keeps_hooks);
	tcase_add_test(tc, test_guard_release_thaws_what_was_not_forgotten);
	tcase_add_test(tc, test_guard_argument_checks);
	suite_add_tcase(s, tc);
	return s;
}
