// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The guard process and the stillfs side of its pipe.
 *
 * stillfs writes one command per line; the guard never answers. What makes it
 * useful is the end of the pipe: the write end lives only in stillfs (it is
 * O_CLOEXEC, so writers and hooks that stillfs runs never hold it), so
 * end-of-file without "done" means stillfs is gone, however it died.
 *
 *   cgroup DEADLINE_NS PATH    thaw PATH at DEADLINE_NS (CLOCK_MONOTONIC)
 *   fs DEADLINE_NS PATH        FITHAW the filesystem mounted at PATH at DEADLINE_NS
 *   hook TIMEOUT_NS PATH       on abandonment run `PATH thaw`, for TIMEOUT_NS
 *   forget-cgroup PATH         stillfs thawed PATH itself
 *   forget-fs PATH             stillfs thawed the filesystem at PATH itself
 *   forget                     stillfs thawed everything itself
 *   done                       stillfs ends normally
 *
 * The guard is a fork of stillfs and so runs in stillfs's cgroup. That is what
 * keeps it out of every hold: hold_resolve() refuses a cgroup that contains
 * stillfs, so it can never freeze the guard that is to thaw it.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/fs.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "fsfreeze.h"
#include "guard.h"

#define NSEC_PER_MSEC INT64_C(1000000)
#define NSEC_PER_SEC INT64_C(1000000000)

/* A command line with a path of PATH_MAX bytes fits. */
#define GUARD_LINE_MAX (PATH_MAX + 64)
/* How long stillfs waits for the guard: to take a command, and to exit. */
#define GUARD_SEND_TIMEOUT_NS (1 * NSEC_PER_SEC)
#define GUARD_EXIT_TIMEOUT_NS (5 * NSEC_PER_SEC)
/* How long a hook killed at its timeout may take to be reaped. */
#define GUARD_REAP_GRACE_NS (1 * NSEC_PER_SEC)

/* The guard keeps its pipe here, above stdin, stdout and stderr. */
#define GUARD_PIPE_FD 3

struct guard {
	pid_t pid;
	int fd; /* write end of the pipe, non-blocking */
};

/* Milliseconds for poll() until `deadline_ns`, rounded up so that we never wake early. */
static int ms_until(int64_t deadline_ns, int64_t now_ns)
{
	int64_t ms;

	if (deadline_ns <= now_ns)
		return 0;
	ms = (deadline_ns - now_ns + NSEC_PER_MSEC - 1) / NSEC_PER_MSEC;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

/* The rest of `s` after `prefix`, or NULL. */
static const char *startswith(const char *s, const char *prefix)
{
	size_t n = strlen(prefix);

	return strncmp(s, prefix, n) == 0 ? s + n : NULL;
}

static void sleep_ns(int64_t ns)
{
	struct timespec ts = { .tv_sec = ns / NSEC_PER_SEC, .tv_nsec = ns % NSEC_PER_SEC };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- the guard process ---- */

struct watch {
	char *path;
	int64_t ns;   /* cgroup, fs: deadline; hook: timeout */
	bool expired; /* cgroup, fs: thawed at its deadline already */
	int fd;       /* fs: its mount point, opened before it froze; else -1 */
};

struct watch_list {
	struct watch *items;
	size_t n, cap;
};

struct guard_state {
	int fd;
	struct watch_list cgroups, filesystems, hooks;
	char line[GUARD_LINE_MAX];
	size_t len;
	bool skipping; /* dropping the rest of an overlong line */
};

static void watch_free(struct watch *w)
{
	free(w->path);
	if (w->fd >= 0)
		close(w->fd);
}

static void watch_list_clear(struct watch_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		watch_free(&l->items[i]);
	l->n = 0;
}

static void watch_list_free(struct watch_list *l)
{
	watch_list_clear(l);
	free(l->items);
	l->items = NULL;
	l->cap = 0;
}

static int watch_list_add(struct watch_list *l, const char *path, int64_t ns, int fd)
{
	char *copy;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		struct watch *items;

		if (cap > SIZE_MAX / sizeof(*items))
			return -ENOMEM;
		items = realloc(l->items, cap * sizeof(*items));
		if (!items)
			return -ENOMEM;
		l->items = items;
		l->cap = cap;
	}
	copy = strdup(path);
	if (!copy)
		return -ENOMEM;
	l->items[l->n++] = (struct watch){ .path = copy, .ns = ns, .fd = fd };
	return 0;
}

/* Drops every watch of `path`. */
static void watch_list_forget(struct watch_list *l, const char *path)
{
	for (size_t i = 0; i < l->n;)
		if (streq(l->items[i].path, path)) {
			watch_free(&l->items[i]);
			l->items[i] = l->items[--l->n];
		} else {
			i++;
		}
}

static int thaw_cgroup(const char *dir)
{
	char path[PATH_MAX + 32];
	_cleanup_close_ int fd = -1;

	if ((size_t)snprintf(path, sizeof(path), "%s/cgroup.freeze", dir) >= sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	if (write(fd, "0", 1) != 1)
		return -errno;
	return 0;
}

/*
 * FITHAW through the descriptor opened when stillfs named the filesystem, or
 * through its path if that open failed: looking a path up reads, and reading
 * works on a frozen filesystem.
 */
static int thaw_fs(const struct watch *w)
{
	if (w->fd < 0)
		return fsfreeze_thaw_path(w->path);
	/* EINVAL: it was not frozen (any more) */
	if (ioctl(w->fd, FITHAW, 0) < 0)
		return -errno;
	return 0;
}

/*
 * A cgroup or filesystem whose deadline passed is thawed but kept: should
 * stillfs have frozen it again in a race with the deadline, the end of the
 * pipe still thaws it. Only a forget drops it.
 */
static void thaw_due_in(struct watch_list *l, int (*thaw)(const struct watch *w), int64_t now)
{
	for (size_t i = 0; i < l->n; i++) {
		struct watch *w = &l->items[i];

		if (!w->expired && w->ns <= now) {
			thaw(w);
			w->expired = true;
		}
	}
}

static int thaw_cgroup_watch(const struct watch *w)
{
	return thaw_cgroup(w->path);
}

/* Filesystems first: they froze after the cgroups, and thaw in the reverse order. */
static void thaw_due(struct guard_state *s, int64_t now)
{
	thaw_due_in(&s->filesystems, thaw_fs, now);
	thaw_due_in(&s->cgroups, thaw_cgroup_watch, now);
}

static void thaw_all(struct guard_state *s)
{
	for (size_t i = 0; i < s->filesystems.n; i++)
		thaw_fs(&s->filesystems.items[i]);
	for (size_t i = 0; i < s->cgroups.n; i++)
		thaw_cgroup(s->cgroups.items[i].path);
}

static int64_t next_deadline_in(const struct watch_list *l, int64_t next)
{
	for (size_t i = 0; i < l->n; i++)
		if (!l->items[i].expired && l->items[i].ns < next)
			next = l->items[i].ns;
	return next;
}

static int next_deadline_ms(const struct guard_state *s, int64_t now)
{
	int64_t next = next_deadline_in(&s->filesystems, next_deadline_in(&s->cgroups, INT64_MAX));

	return next == INT64_MAX ? -1 : ms_until(next, now);
}

_noreturn_ static void hook_exec(const char *path)
{
	static const int defaults[] = { SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGCHLD };
	sigset_t none;

	/* ignored signals and the mask survive exec; a hook gets the usual ones */
	for (size_t i = 0; i < ARRAY_SIZE(defaults); i++)
		signal(defaults[i], SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* its own group, so that the kill at its timeout reaches what it started */
	setpgid(0, 0);
	setenv("STILLFS_PHASE", "thaw", 1);
	execl(path, path, "thaw", (char *)NULL);
	_exit(127);
}

struct hook_run {
	pid_t pid;
	int64_t deadline_ns;
	bool killed;
};

/*
 * Runs every hook's thaw at once, so that one slow hook does not keep the
 * others' applications held; each is killed (with its process group) at its
 * own timeout. SIGCHLD is blocked and waited for, so nothing spins.
 */
static void run_hooks(struct guard_state *s)
{
	_cleanup_free_ struct hook_run *runs = NULL;
	size_t running = 0;
	sigset_t chld;

	if (s->hooks.n == 0)
		return;
	runs = calloc(s->hooks.n, sizeof(*runs));
	if (!runs)
		return;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);

	for (size_t i = 0; i < s->hooks.n; i++) {
		pid_t pid = fork();

		if (pid == 0)
			hook_exec(s->hooks.items[i].path);
		runs[i].pid = pid;
		if (pid < 0)
			continue;
		setpgid(pid, pid); /* also here: the kill must not race the child's own call */
		runs[i].deadline_ns = time_mono_ns() + s->hooks.items[i].ns;
		running++;
	}

	while (running > 0) {
		int64_t now = time_mono_ns(), next = INT64_MAX;
		struct timespec ts;
		pid_t pid;

		while ((pid = waitpid(-1, NULL, WNOHANG)) > 0)
			for (size_t i = 0; i < s->hooks.n; i++)
				if (runs[i].pid == pid) {
					runs[i].pid = -1;
					running--;
				}
		if (pid < 0 && errno == ECHILD)
			break;

		for (size_t i = 0; i < s->hooks.n; i++) {
			if (runs[i].pid <= 0)
				continue;
			if (!runs[i].killed && now >= runs[i].deadline_ns) {
				kill(-runs[i].pid, SIGKILL);
				kill(runs[i].pid, SIGKILL);
				runs[i].killed = true;
				runs[i].deadline_ns = now + GUARD_REAP_GRACE_NS;
			} else if (runs[i].killed && now >= runs[i].deadline_ns) {
				/* stuck in the kernel even after SIGKILL: give up on it */
				runs[i].pid = -1;
				running--;
				continue;
			}
			if (runs[i].deadline_ns < next)
				next = runs[i].deadline_ns;
		}
		if (running == 0 || next == INT64_MAX)
			break;
		next -= now;
		if (next < 0)
			next = 0;
		ts = (struct timespec){ .tv_sec = next / NSEC_PER_SEC, .tv_nsec = next % NSEC_PER_SEC };
		sigtimedwait(&chld, NULL, &ts);
	}
}

_noreturn_ static void guard_exit(struct guard_state *s, int status)
{
	watch_list_free(&s->cgroups);
	watch_list_free(&s->filesystems);
	watch_list_free(&s->hooks);
	/* never exit(): that would run stillfs's atexit handlers and flush its stdio */
	_exit(status);
}

/* stillfs is gone without saying done: undo everything it may have left. */
_noreturn_ static void guard_abandoned(struct guard_state *s)
{
	thaw_all(s);
	run_hooks(s);
	guard_exit(s, 0);
}

static int parse_ns(const char *s, int64_t *ret, const char **ret_rest)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != ' ' || v < 0)
		return -EINVAL;
	*ret = (int64_t)v;
	*ret_rest = end + 1;
	return 0;
}

static void handle_line(struct guard_state *s, char *line)
{
	const char *arg, *path;
	int64_t ns;

	if (streq(line, "done")) {
		/*
		 * stillfs ends normally. It forgets each cgroup it thawed; one it
		 * did not forget was left frozen by an error path, so thaw it.
		 * Hooks are not run: a living stillfs runs the writers' thaw itself.
		 */
		thaw_all(s);
		guard_exit(s, 0);
	} else if (streq(line, "forget")) {
		watch_list_clear(&s->cgroups);
		watch_list_clear(&s->filesystems);
		watch_list_clear(&s->hooks);
	} else if ((arg = startswith(line, "forget-cgroup ")) && arg[0] == '/') {
		watch_list_forget(&s->cgroups, arg);
	} else if ((arg = startswith(line, "forget-fs ")) && arg[0] == '/') {
		watch_list_forget(&s->filesystems, arg);
	} else if ((arg = startswith(line, "cgroup ")) && parse_ns(arg, &ns, &path) == 0 &&
		   path[0] == '/') {
		watch_list_add(&s->cgroups, path, ns, -1);
	} else if ((arg = startswith(line, "fs ")) && parse_ns(arg, &ns, &path) == 0 &&
		   path[0] == '/') {
		/* opened now, while stillfs has not frozen it yet (or only just) */
		int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOCTTY);

		if (watch_list_add(&s->filesystems, path, ns, fd) < 0 && fd >= 0)
			close(fd);
	} else if ((arg = startswith(line, "hook ")) && parse_ns(arg, &ns, &path) == 0 &&
		   path[0] == '/') {
		watch_list_add(&s->hooks, path, ns, -1);
	}
	/* anything else is a bug in stillfs; ignoring it is safer than dying */
}

/* Reads what is in the pipe; false at its end. */
static bool read_commands(struct guard_state *s)
{
	ssize_t n = read(s->fd, s->line + s->len, sizeof(s->line) - s->len);
	char *nl;

	if (n < 0)
		return errno == EINTR || errno == EAGAIN;
	if (n == 0)
		return false;
	s->len += (size_t)n;
	while ((nl = memchr(s->line, '\n', s->len))) {
		size_t used = (size_t)(nl - s->line) + 1;

		*nl = '\0';
		if (!s->skipping)
			handle_line(s, s->line);
		s->skipping = false;
		memmove(s->line, s->line + used, s->len - used);
		s->len -= used;
	}
	if (s->len == sizeof(s->line)) {
		s->len = 0;
		s->skipping = true;
	}
	return true;
}

static void close_other_fds(void)
{
	if (syscall(SYS_close_range, GUARD_PIPE_FD + 1, ~0U, 0) == 0)
		return;
	for (int fd = GUARD_PIPE_FD + 1, max = (int)sysconf(_SC_OPEN_MAX); fd < max && fd < 65536;
	     fd++)
		close(fd);
}

/*
 * The descriptors the guard keeps: /dev/null as stdin, stdout and stderr (a
 * hook's thaw writes nowhere, and a pipe that stillfs's caller reads must see
 * its end when stillfs ends) and the command pipe; nothing else of stillfs's.
 */
static int setup_fds(int fd)
{
	int null_fd;

	fd = fcntl(fd, F_DUPFD_CLOEXEC, GUARD_PIPE_FD + 1);
	if (fd < 0)
		return -errno;
	null_fd = open("/dev/null", O_RDWR | O_CLOEXEC | O_NOCTTY);
	for (int i = 0; i <= 2; i++)
		if (null_fd < 0 || dup2(null_fd, i) < 0)
			close(i);
	/* dup2() onto itself keeps O_CLOEXEC, and hooks must inherit these three */
	for (int i = 0; i <= 2; i++)
		fcntl(i, F_SETFD, 0);
	if (dup3(fd, GUARD_PIPE_FD, O_CLOEXEC) < 0)
		return -errno;
	close_other_fds();
	return GUARD_PIPE_FD;
}

_noreturn_ static void guard_main(int fd)
{
	static const int ignored[] = { SIGINT, SIGTERM, SIGHUP, SIGPIPE };
	struct guard_state s = { .fd = -1 };
	sigset_t none;
	int oom_fd;

	/* out of stillfs's session and process group: a ^C or a hangup there is not ours */
	setsid();
	s.fd = setup_fds(fd);
	if (s.fd < 0)
		_exit(1); /* stillfs sees the pipe closed and fails before freezing */
	for (size_t i = 0; i < ARRAY_SIZE(ignored); i++)
		signal(ignored[i], SIG_IGN);
	/* stillfs may ignore SIGCHLD; the guard must reap its hooks */
	signal(SIGCHLD, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* hold no volume busy */
	if (chdir("/") < 0) {
		/* harmless: the guard opens nothing relative to its directory */
	}
	/* best effort: the OOM killer should pick anything before the watchdog */
	oom_fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
	if (oom_fd >= 0) {
		if (write(oom_fd, "-1000", 5) < 0) {
			/* not privileged: keep the inherited score */
		}
		close(oom_fd);
	}

	/* last, so that a guard known by its name has its final descriptors and signals */
	prctl(PR_SET_NAME, "stillfs-guard", 0, 0, 0);

	for (;;) {
		int64_t now = time_mono_ns();
		struct pollfd p = { .fd = s.fd, .events = POLLIN };
		int r;

		thaw_due(&s, now);
		r = poll(&p, 1, next_deadline_ms(&s, now));
		if (r < 0) {
			if (errno != EINTR)
				sleep_ns(10 * NSEC_PER_MSEC); /* ENOMEM: try again soon */
			continue;
		}
		if (r > 0 && !read_commands(&s))
			guard_abandoned(&s);
	}
}

/* ---- the stillfs side ---- */

int guard_start(struct guard **ret)
{
	_cleanup_free_ struct guard *g = calloc(1, sizeof(*g));
	int fds[2], r;
	pid_t pid;

	if (!g)
		return -ENOMEM;
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	/* only stillfs's end: a guard that stops reading must not block stillfs */
	if (fcntl(fds[1], F_SETFL, O_NONBLOCK) < 0) {
		r = -errno;
		goto fail;
	}
	pid = fork();
	if (pid < 0) {
		r = -errno;
		goto fail;
	}
	if (pid == 0) {
		/* the handle is stillfs's; the guard keeps nothing of it */
		free(TAKE_PTR(g));
		close(fds[1]);
		guard_main(fds[0]);
	}
	close(fds[0]);
	g->pid = pid;
	g->fd = fds[1];
	*ret = TAKE_PTR(g);
	return 0;
fail:
	close(fds[0]);
	close(fds[1]);
	return r;
}

/*
 * Writes one line within GUARD_SEND_TIMEOUT_NS. A dead guard gives -EPIPE, not
 * a SIGPIPE that would kill stillfs: the signal is blocked for the write and a
 * SIGPIPE it raised is taken off the pending set again.
 */
static int guard_send(struct guard *g, const char *line, size_t len)
{
	int64_t deadline = time_mono_ns() + GUARD_SEND_TIMEOUT_NS;
	sigset_t pipe_set, old, pending;
	bool was_pending;
	int r = 0;

	if (g->fd < 0)
		return -EPIPE;
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	sigpending(&pending);
	was_pending = sigismember(&pending, SIGPIPE) == 1;
	sigprocmask(SIG_BLOCK, &pipe_set, &old);

	while (len > 0) {
		ssize_t n = write(g->fd, line, len);

		if (n >= 0) {
			line += n;
			len -= (size_t)n;
			continue;
		}
		if (errno == EAGAIN) {
			struct pollfd p = { .fd = g->fd, .events = POLLOUT };
			int64_t now = time_mono_ns();

			if (now >= deadline) {
				r = -ETIMEDOUT;
				break;
			}
			poll(&p, 1, ms_until(deadline, now));
			continue;
		}
		if (errno == EINTR)
			continue;
		r = -errno;
		break;
	}

	if (r == -EPIPE && !was_pending) {
		struct timespec zero = { 0 };

		sigtimedwait(&pipe_set, NULL, &zero);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	return r;
}

static int guard_sendf(struct guard *g, const char *fmt, ...) _printf_(2, 3);

static int guard_sendf(struct guard *g, const char *fmt, ...)
{
	char line[GUARD_LINE_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n >= sizeof(line))
		return -ENAMETOOLONG;
	return guard_send(g, line, (size_t)n);
}

/* The guard reads a path up to the end of its line, and only an absolute one. */
static int check_path(const char *path)
{
	if (!path || path[0] != '/' || strchr(path, '\n'))
		return -EINVAL;
	if (strlen(path) >= PATH_MAX)
		return -ENAMETOOLONG;
	return 0;
}

int guard_watch_cgroup(struct guard *g, const char *cgroup_dir, int64_t deadline_ns)
{
	int r;

	if (!g || deadline_ns < 0)
		return -EINVAL;
	r = check_path(cgroup_dir);
	if (r < 0)
		return r;
	return guard_sendf(g, "cgroup %" PRId64 " %s\n", deadline_ns, cgroup_dir);
}

int guard_watch_fs(struct guard *g, const char *mount_point, int64_t deadline_ns)
{
	int r;

	if (!g || deadline_ns < 0)
		return -EINVAL;
	r = check_path(mount_point);
	if (r < 0)
		return r;
	return guard_sendf(g, "fs %" PRId64 " %s\n", deadline_ns, mount_point);
}

int guard_forget_fs(struct guard *g, const char *mount_point)
{
	int r;

	if (!g)
		return -EINVAL;
	r = check_path(mount_point);
	if (r < 0)
		return r;
	return guard_sendf(g, "forget-fs %s\n", mount_point);
}

int guard_watch_hook(struct guard *g, const char *hook_path, int64_t timeout_ns)
{
	int r;

	if (!g || timeout_ns <= 0)
		return -EINVAL;
	r = check_path(hook_path);
	if (r < 0)
		return r;
	return guard_sendf(g, "hook %" PRId64 " %s\n", timeout_ns, hook_path);
}

int guard_forget_cgroup(struct guard *g, const char *cgroup_dir)
{
	int r;

	if (!g)
		return -EINVAL;
	r = check_path(cgroup_dir);
	if (r < 0)
		return r;
	return guard_sendf(g, "forget-cgroup %s\n", cgroup_dir);
}

int guard_forget(struct guard *g)
{
	if (!g)
		return -EINVAL;
	return guard_sendf(g, "forget\n");
}

/* Waits for the guard to exit until `deadline_ns`; true when it was reaped. */
static bool reap_until(pid_t pid, int64_t deadline_ns)
{
	int64_t step = NSEC_PER_MSEC;

	for (;;) {
		pid_t r = waitpid(pid, NULL, WNOHANG);

		if (r == pid || (r < 0 && errno != EINTR))
			return true; /* reaped, or not ours to reap any more */
		if (time_mono_ns() >= deadline_ns)
			return false;
		sleep_ns(step);
		if (step < 50 * NSEC_PER_MSEC)
			step *= 2;
	}
}

void guard_release(struct guard *g)
{
	if (!g)
		return;
	if (g->fd >= 0) {
		guard_sendf(g, "done\n");
		close(g->fd);
		g->fd = -1;
	}
	if (g->pid > 0 && !reap_until(g->pid, time_mono_ns() + GUARD_EXIT_TIMEOUT_NS)) {
		kill(g->pid, SIGKILL);
		reap_until(g->pid, time_mono_ns() + GUARD_EXIT_TIMEOUT_NS);
	}
	free(g);
}
