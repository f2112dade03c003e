// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Writers: finding them, and running hooks and sessions under deadlines.
 *
 * Every writer runs in a process group of its own, so that a deadline reaches
 * what it started (psql, a shell's commands) as well as the writer itself.
 * The group leader is reaped only after its group has been killed: until
 * waitpid() its pid, which is also the group's id, cannot be reused, so
 * kill(-pgid) never reaches a stranger. Whatever is left in the group when
 * the writer itself exits is killed too: it would hold the output pipe open
 * and escape every deadline.
 *
 * A session's stderr is stillfs's own (its stdout carries the answers, and
 * struct writer has no room for a third pipe); it is started with
 * STILLFS_PHASE=session. Children start from "/", with every signal at its
 * default and none blocked, whatever stillfs blocks or ignores, and with
 * only their stdio open.
 *
 * What the caller must provide: SIGCHLD not ignored and no one else reaping
 * our children (waitpid(-1) elsewhere) while a writer runs. SIGPIPE need not
 * be ignored: writes to a session are made with SIGPIPE blocked, and one
 * raised by them is consumed.
 */
#include <assert.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/pidfd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "writer.h"

#define NSEC_PER_SEC INT64_C(1000000000)
#define NSEC_PER_MSEC INT64_C(1000000)
/* between SIGTERM and SIGKILL, as the header promises */
#define KILL_GRACE_NS (2 * NSEC_PER_SEC)
/* after SIGKILL: only a process stuck in the kernel takes longer */
#define REAP_WAIT_NS (5 * NSEC_PER_SEC)
/* how often to look at a child when the kernel cannot tell us (no pidfd) */
#define POLL_TICK_MS 10
/* a pipe's default capacity: what a child can have written that we did not read */
#define DRAIN_MAX (64 * 1024)

static const char *const phase_names[_WRITER_PHASE_MAX] = {
	[WRITER_PREPARE] = "prepare", [WRITER_FREEZE] = "freeze", [WRITER_THAW] = "thaw",
	[WRITER_POST] = "post",	      [WRITER_ABORT] = "abort",
};

/* the catalog's spelling (catalog/run.c); "not-run" is never stored there */
static const char *const result_names[_WRITER_RESULT_MAX] = {
	[WRITER_NOT_RUN] = "not-run", [WRITER_OK] = "ok",	       [WRITER_FAILED] = "failed",
	[WRITER_VETOED] = "vetoed",   [WRITER_TIMED_OUT] = "timed-out",
};

const char *writer_phase_to_string(enum writer_phase p)
{
	if ((unsigned)p >= _WRITER_PHASE_MAX)
		return NULL;
	return phase_names[p];
}

const char *writer_result_to_string(enum writer_result r)
{
	if ((unsigned)r >= _WRITER_RESULT_MAX)
		return NULL;
	return result_names[r];
}

int writer_result_from_string(const char *s, enum writer_result *ret)
{
	for (int i = 0; s && i < _WRITER_RESULT_MAX; i++)
		if (streq(s, result_names[i])) {
			*ret = (enum writer_result)i;
			return 0;
		}
	return -EINVAL;
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
}

static int64_t deadline_after(int64_t start, int64_t timeout_ns)
{
	if (timeout_ns < 0)
		timeout_ns = 0;
	if (timeout_ns > INT64_MAX - start)
		return INT64_MAX;
	return start + timeout_ns;
}

/* Milliseconds left until deadline, rounded up so that poll() does not wake early. */
static int ms_until(int64_t deadline)
{
	int64_t left = deadline - now_ns();

	if (left <= 0)
		return 0;
	left = (left + NSEC_PER_MSEC - 1) / NSEC_PER_MSEC;
	return left > INT_MAX ? INT_MAX : (int)left;
}

static void set_message(struct writer_phase_result *res, const char *fmt, ...) _printf_(2, 3);

static void set_message(struct writer_phase_result *res, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(res->message, sizeof(res->message), fmt, ap);
	va_end(ap);
}

/*
 * Makes writer output fit for a terminal and a catalog row: control
 * characters (escape sequences included) become '?', tabs spaces, and
 * surrounding blanks go.
 */
static void clean_text(char *s)
{
	char *start = s, *end;

	for (char *p = s; *p; p++)
		if (*p == '\t')
			*p = ' ';
		else if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	while (*start == ' ')
		start++;
	end = start + strlen(start);
	while (end > start && end[-1] == ' ')
		end--;
	*end = '\0';
	memmove(s, start, (size_t)(end - start) + 1);
}

/* The text after a leading `word` and blanks, or NULL when s does not start with that word. */
static const char *after_word(const char *s, const char *word)
{
	size_t n = strlen(word);

	if (strncmp(s, word, n) != 0 || (s[n] != '\0' && s[n] != ' '))
		return NULL;
	s += n;
	while (*s == ' ')
		s++;
	return s;
}

/*
 * A writer's output, taken line by line as it arrives, in bounded memory:
 * the last non-empty line and the first "veto" line are all a result needs.
 * A line longer than the buffer keeps its beginning, where a veto says so.
 */
struct lines {
	char cur[WRITER_MESSAGE_MAX];
	size_t cur_len;
	char last[WRITER_MESSAGE_MAX];
	char veto[WRITER_MESSAGE_MAX];
	bool vetoed;
};

static void lines_end(struct lines *l)
{
	const char *rest;

	l->cur[l->cur_len] = '\0';
	l->cur_len = 0;
	clean_text(l->cur);
	if (l->cur[0] == '\0')
		return;
	memcpy(l->last, l->cur, sizeof(l->last));
	rest = after_word(l->cur, "veto");
	if (rest && !l->vetoed) {
		l->vetoed = true;
		/* rest lies within cur, which is no larger than veto */
		memcpy(l->veto, rest, strlen(rest) + 1);
	}
}

static void lines_feed(struct lines *l, const char *buf, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (buf[i] == '\n')
			lines_end(l);
		else if (l->cur_len < sizeof(l->cur) - 1)
			l->cur[l->cur_len++] = buf[i];
}

static void lines_finish(struct lines *l)
{
	if (l->cur_len > 0)
		lines_end(l);
}

/* The read end of a child's output pipe (non-blocking); lines NULL discards. */
struct output {
	int fd; /* -1 once it reached end of file */
	struct lines *lines;
};

/* Reads what is there; returns bytes read, 0 at end of file (and closes), -EAGAIN. */
static ssize_t output_read(struct output *o)
{
	char buf[4096];
	ssize_t n;

	if (o->fd < 0)
		return 0;
	n = read(o->fd, buf, sizeof(buf));
	if (n < 0)
		return errno == EINTR ? -EAGAIN : -errno;
	if (n == 0) {
		close(o->fd);
		o->fd = -1;
		return 0;
	}
	if (o->lines)
		lines_feed(o->lines, buf, (size_t)n);
	return n;
}

/* Takes what is already in the pipe, bounded in case someone still writes to it. */
static void output_drain(struct output *o)
{
	size_t total = 0;
	ssize_t n;

	while (total < DRAIN_MAX && (n = output_read(o)) > 0)
		total += (size_t)n;
}

/* A child writer: the leader of its own process group. */
struct child {
	pid_t pid;
	int pidfd; /* readable once the child has exited; -1: look with waitid() */
	bool exited;
	bool lost; /* reaped by someone else: its pid may name another process now */
};

static void child_attach(struct child *c, pid_t pid)
{
	c->pid = pid;
	c->exited = false;
	c->lost = false;
	/* an unreaped child's pid cannot be reused, so this names our child */
	c->pidfd = pidfd_open(pid, 0);
}

/* True once the child has exited; it stays a zombie (WNOWAIT) until child_reap(). */
static bool child_has_exited(struct child *c)
{
	siginfo_t si = { 0 };

	if (c->exited)
		return true;
	if (waitid(P_PID, (id_t)c->pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0)
		/* ECHILD: someone else reaped it (SIGCHLD ignored); it is gone all the same */
		c->exited = c->lost = errno == ECHILD;
	else
		c->exited = si.si_pid == c->pid;
	return c->exited;
}

/* Waits until the child exits or deadline passes, reading its output meanwhile. */
static bool child_wait(struct child *c, int64_t deadline, struct output *o)
{
	for (;;) {
		struct timespec tick = { 0, POLL_TICK_MS * NSEC_PER_MSEC };
		struct pollfd fds[2];
		nfds_t n = 0;
		int ms, out_idx = -1;

		if (child_has_exited(c))
			return true;
		ms = ms_until(deadline);
		if (ms == 0)
			return false;
		if (o && o->fd >= 0) {
			out_idx = (int)n;
			fds[n++] = (struct pollfd){ .fd = o->fd, .events = POLLIN };
		}
		if (c->pidfd >= 0)
			fds[n++] = (struct pollfd){ .fd = c->pidfd, .events = POLLIN };
		else if (ms > POLL_TICK_MS)
			ms = POLL_TICK_MS;
		if (poll(fds, n, ms) < 0) {
			if (errno == EINTR)
				continue;
			/* cannot wait for events: fall back to looking every tick */
			nanosleep(&tick, NULL);
			continue;
		}
		if (out_idx >= 0 && fds[out_idx].revents)
			output_read(o);
	}
}

static void kill_group(const struct child *c, int sig)
{
	if (c->lost)
		return;
	/* should neither setpgid() have worked, the writer itself still gets the signal */
	if (kill(-c->pid, sig) < 0 && errno == ESRCH)
		kill(c->pid, sig);
}

/*
 * Ends a child that missed its deadline: SIGTERM to its group, SIGKILL two
 * seconds later. Sets *ret_killed when SIGKILL was needed. Returns false when
 * even SIGKILL did not end it in time (stuck in the kernel).
 */
static bool child_stop(struct child *c, struct output *o, bool *ret_killed)
{
	*ret_killed = false;
	kill_group(c, SIGTERM);
	if (child_wait(c, deadline_after(now_ns(), KILL_GRACE_NS), o))
		return true;
	*ret_killed = true;
	kill_group(c, SIGKILL);
	return child_wait(c, deadline_after(now_ns(), REAP_WAIT_NS), o);
}

/*
 * Kills what is left of the group and reaps the exited leader. Returns its
 * wait status, or -1 when it did not exit (then it is left unreaped: blocking
 * on a process stuck in the kernel would hang stillfs, and the hold with it).
 */
static int child_reap(struct child *c)
{
	int status = -1;

	if (c->pidfd >= 0) {
		close(c->pidfd);
		c->pidfd = -1;
	}
	if (!child_has_exited(c) || c->lost)
		return -1;
	kill_group(c, SIGKILL);
	while (waitpid(c->pid, &status, 0) < 0)
		if (errno != EINTR) {
			status = -1;
			break;
		}
	return status;
}

/* Keeps our descriptors off 0-2, so that the child's dup2() onto its stdio cannot collide. */
static int fd_above_stdio(int fd)
{
	int nfd;

	if (fd < 0 || fd > STDERR_FILENO)
		return fd;
	nfd = fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
	if (nfd < 0)
		nfd = -errno;
	close(fd);
	return nfd;
}

/* pipe2() with both ends above stdio and close-on-exec; the parent's end is non-blocking. */
static int make_pipe(int fds[2], int parent_end)
{
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	fds[0] = fd_above_stdio(fds[0]);
	fds[1] = fd_above_stdio(fds[1]);
	if (fds[0] < 0 || fds[1] < 0 || fcntl(fds[parent_end], F_SETFL, O_NONBLOCK) < 0) {
		int r = fds[0] < 0 ? fds[0] : fds[1] < 0 ? fds[1] : -errno;

		closep(&fds[0]);
		closep(&fds[1]);
		return r;
	}
	return 0;
}

static bool is_writer_env(const char *entry)
{
	static const char *const names[] = { "STILLFS_PHASE=", "STILLFS_SET_ID=",
					     "STILLFS_SET_TOKEN=", "STILLFS_VOLUMES=" };

	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (strncmp(entry, names[i], strlen(names[i])) == 0)
			return true;
	return false;
}

static void strv_free(char **v, size_t from)
{
	if (!v)
		return;
	for (size_t i = from; v[i]; i++)
		free(v[i]);
	free(v);
}

/*
 * Our environment with the STILLFS_ variables replaced (one inherited from
 * whoever ran stillfs must not shadow ours). The first *ret_n_inherited
 * entries are borrowed from environ; free with strv_free(v, n_inherited).
 */
static int make_envp(const struct writer_env *env, const char *phase, char ***ret,
		     size_t *ret_n_inherited)
{
	size_t n = 0, k = 0;
	char **v;

	for (char **e = environ; e && *e; e++)
		n++;
	v = calloc(n + 5, sizeof(char *));
	if (!v)
		return -ENOMEM;
	for (char **e = environ; e && *e; e++)
		if (!is_writer_env(*e))
			v[k++] = *e;
	*ret_n_inherited = k;
	if (asprintf(&v[k], "STILLFS_PHASE=%s", phase) < 0 ||
	    asprintf(&v[k + 1], "STILLFS_SET_ID=%s", env && env->set_id ? env->set_id : "") < 0 ||
	    asprintf(&v[k + 2], "STILLFS_SET_TOKEN=%s", env && env->token ? env->token : "") < 0 ||
	    asprintf(&v[k + 3], "STILLFS_VOLUMES=%s", env && env->volumes ? env->volumes : "") < 0) {
		/* asprintf leaves its pointer undefined on failure */
		for (size_t i = k; i < k + 4; i++)
			v[i] = NULL;
		strv_free(v, k);
		return -ENOMEM;
	}
	*ret = v;
	return 0;
}

/* What the child of spawn() needs, made before fork(): after it, it may not allocate. */
struct spawn_args {
	const char *path;
	char **argv, **envp;
	int in_fd, out_fd, err_fd, report_fd;
	pid_t parent; /* > 0: the child dies with this process (hooks) */
};

/*
 * The child's side of spawn(), between fork() and execve(): async-signal-safe
 * calls only (stillfs may have threads). Reports why it could not exec on
 * report_fd and exits. Not inlined, so that the arguments stay in the
 * parent's frame, where valgrind finds envp when a child that could not exec
 * exits (else it reports the environment as leaked, once per such child).
 */
_noreturn_ __attribute__((noinline)) static void spawn_child(const struct spawn_args *a)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	sigset_t none;
	int e;

	setpgid(0, 0);
	/*
	 * A hook still running when stillfs dies would otherwise go on, and a
	 * freeze could finish after the guard already ran the hook's thaw.
	 * (A session notices instead: its input closes.)
	 */
	if (a->parent > 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != a->parent)
			_exit(127);
	}
	/* stillfs may ignore SIGPIPE, and create blocks SIGTERM: neither must reach the writer */
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			sigaction(sig, &dfl, NULL);
	if (dup2(a->in_fd, STDIN_FILENO) < 0 || dup2(a->out_fd, STDOUT_FILENO) < 0 ||
	    (a->err_fd >= 0 && dup2(a->err_fd, STDERR_FILENO) < 0))
		goto fail;
	/*
	 * a descriptor someone opened without O_CLOEXEC must not reach a writer
	 * either; marked rather than closed, so that report_fd lives until exec
	 */
	if (close_range(STDERR_FILENO + 1, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
		struct rlimit rl;
		int max = 65536;

		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)max)
			max = (int)rl.rlim_cur;
		for (int fd = STDERR_FILENO + 1; fd < max; fd++)
			fcntl(fd, F_SETFD, FD_CLOEXEC);
	}
	/* where stillfs was started must not change what a writer does */
	if (chdir("/") < 0)
		goto fail;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execve(a->path, a->argv, a->envp);
fail:
	e = errno;
	while (write(a->report_fd, &e, sizeof(e)) < 0 && errno == EINTR)
		;
	_exit(127);
}

/*
 * Starts `path arg` with the given stdin and stdout (and stderr, or ours when
 * err_fd < 0) in a new process group, from "/", with nothing else open.
 * Returns 0, or -errno when it could not be started (then nothing is left
 * running). Waits for the exec until deadline at most; a child that has not
 * got that far by then is returned as started, to be timed out.
 */
static int spawn(const char *path, const char *arg, const struct writer_env *env, int in_fd,
		 int out_fd, int err_fd, int64_t deadline, struct child *ret)
{
	char *argv[] = { (char *)path, (char *)arg, NULL };
	int report[2] = { -1, -1 };
	struct spawn_args a = { path, argv, NULL, in_fd, out_fd, err_fd, -1, 0 };
	size_t n_inherited = 0;
	struct pollfd p;
	ssize_t n;
	pid_t pid;
	int r, e = 0;

	r = make_envp(env, arg, &a.envp, &n_inherited);
	if (r < 0)
		return r;
	r = make_pipe(report, 0);
	if (r < 0) {
		strv_free(a.envp, n_inherited);
		return r;
	}
	a.report_fd = report[1];
	if (!streq(arg, "session"))
		a.parent = getpid();
	pid = fork();
	if (pid == 0)
		spawn_child(&a);
	r = pid < 0 ? -errno : 0;
	strv_free(a.envp, n_inherited);
	close(report[1]);
	if (r < 0) {
		close(report[0]);
		return r;
	}
	/* as the child does: whichever runs first, the group exists before we may signal it */
	setpgid(pid, pid);
	child_attach(ret, pid);

	/* the report pipe closes at exec, or carries the errno of what failed */
	p = (struct pollfd){ .fd = report[0], .events = POLLIN };
	for (;;) {
		int pr = poll(&p, 1, ms_until(deadline));

		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0)
			break;
		n = read(report[0], &e, sizeof(e));
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n != (ssize_t)sizeof(e))
			e = 0;
		break;
	}
	close(report[0]);
	if (e == 0)
		return 0;
	/* it is on its way to _exit(127) */
	child_wait(ret, deadline_after(now_ns(), REAP_WAIT_NS), NULL);
	child_reap(ret);
	return -e;
}

static void format_seconds(char *buf, size_t size, int64_t ns)
{
	snprintf(buf, size, "%g s", (double)ns / (double)NSEC_PER_SEC);
}

static void set_timed_out(struct writer_phase_result *res, int64_t timeout_ns, bool stopped,
			  bool killed, const char *last)
{
	char secs[32];

	format_seconds(secs, sizeof(secs), timeout_ns);
	res->result = WRITER_TIMED_OUT;
	set_message(res, "timed out after %s; %s%s%s", secs,
		    !stopped ? "could not be killed"
		    : killed ? "killed (it did not exit within 2 s of SIGTERM)"
			     : "terminated",
		    last && last[0] ? "; last output: " : "", last ? last : "");
}

static void hook_result(struct writer_phase_result *res, int status, const struct lines *l)
{
	if (status < 0) {
		res->result = WRITER_FAILED;
		set_message(res, "its exit status was lost (is SIGCHLD ignored?)");
	} else if (l->vetoed) {
		res->result = WRITER_VETOED;
		set_message(res, "%s", l->veto);
	} else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		res->result = WRITER_OK;
		set_message(res, "%s", l->last);
	} else if (WIFEXITED(status) && WEXITSTATUS(status) == WRITER_VETO_STATUS) {
		res->result = WRITER_VETOED;
		set_message(res, "%s", l->last);
	} else if (WIFEXITED(status)) {
		res->result = WRITER_FAILED;
		if (l->last[0])
			set_message(res, "%s", l->last);
		else
			set_message(res, "exited with status %d", WEXITSTATUS(status));
	} else {
		const char *sig = WIFSIGNALED(status) ? sigabbrev_np(WTERMSIG(status)) : NULL;

		res->result = WRITER_FAILED;
		set_message(res, "killed by SIG%s%s%s", sig ? sig : "?",
			    l->last[0] ? "; last output: " : "", l->last);
	}
}

static void hook_run(struct writer *w, enum writer_phase phase, int64_t timeout_ns,
		     const struct writer_env *env, struct writer_phase_result *res)
{
	int64_t start = now_ns(), deadline = deadline_after(start, timeout_ns);
	_cleanup_close_ int devnull = -1;
	struct lines lines = { 0 };
	struct output o = { .fd = -1, .lines = &lines };
	int out[2] = { -1, -1 };
	struct child c;
	bool stopped = true, killed = false, timed_out = false;
	int r, status;

	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (devnull < 0) {
		r = -errno;
		goto failed;
	}
	devnull = fd_above_stdio(devnull);
	if (devnull < 0) {
		r = devnull;
		goto failed;
	}
	r = make_pipe(out, 0);
	if (r < 0)
		goto failed;
	/* stderr into the same pipe: a failing hook usually says why there */
	r = spawn(w->path, writer_phase_to_string(phase), env, devnull, out[1], out[1], deadline,
		  &c);
	close(out[1]);
	o.fd = out[0];
	if (r < 0) {
		closep(&o.fd);
		goto failed;
	}

	if (!child_wait(&c, deadline, &o)) {
		timed_out = true;
		stopped = child_stop(&c, &o, &killed);
	}
	/* what the group wrote before it exits or is killed is in the pipe already */
	output_drain(&o);
	status = child_reap(&c);
	output_drain(&o);
	closep(&o.fd);
	lines_finish(&lines);
	res->duration_ns = now_ns() - start;
	if (timed_out)
		set_timed_out(res, timeout_ns, stopped, killed, lines.last);
	else
		hook_result(res, status, &lines);
	return;

failed:
	res->result = WRITER_FAILED;
	set_message(res, "cannot run '%s': %s", w->path, strerror(-r));
	res->duration_ns = now_ns() - start;
}

/*
 * Writes to a session's input without letting SIGPIPE kill stillfs when the
 * session has gone: the signal is blocked for the write and, if the write
 * raised it, consumed (unless one was pending already, which is not ours).
 */
static ssize_t write_no_sigpipe(int fd, const void *buf, size_t n)
{
	static const struct timespec zero = { 0, 0 };
	sigset_t pipe_set, old, pending;
	bool was_pending;
	ssize_t k;
	int saved;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	sigemptyset(&pending);
	sigpending(&pending);
	was_pending = sigismember(&pending, SIGPIPE) == 1;
	sigprocmask(SIG_BLOCK, &pipe_set, &old);
	do
		k = write(fd, buf, n);
	while (k < 0 && errno == EINTR);
	saved = errno;
	if (k < 0 && saved == EPIPE && !was_pending)
		while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
			;
	sigprocmask(SIG_SETMASK, &old, NULL);
	errno = saved;
	return k;
}

/*
 * Closes a session's input and waits until grace_deadline for it to exit
 * (what it writes meanwhile is read and dropped, so it cannot block on a full
 * pipe); then SIGTERM, SIGKILL. Sets *ret_stopped and *ret_killed as
 * child_stop() does.
 */
static void session_close(struct writer *w, int64_t grace_deadline, bool *ret_stopped,
			  bool *ret_killed)
{
	struct output o = { .fd = w->from_fd, .lines = NULL };
	bool stopped = true, killed = false;
	struct child c;

	closep(&w->to_fd);
	w->to_fd = -1;
	child_attach(&c, w->pid);
	if (!child_wait(&c, grace_deadline, &o))
		stopped = child_stop(&c, &o, &killed);
	child_reap(&c);
	closep(&o.fd);
	w->from_fd = -1;
	w->pid = -1;
	if (ret_stopped)
		*ret_stopped = stopped;
	if (ret_killed)
		*ret_killed = killed;
}

static int session_start(struct writer *w, const struct writer_env *env, int64_t deadline)
{
	int in[2] = { -1, -1 }, out[2] = { -1, -1 };
	struct child c;
	int r;

	r = make_pipe(in, 1);
	if (r < 0)
		return r;
	r = make_pipe(out, 0);
	if (r < 0) {
		close(in[0]);
		close(in[1]);
		return r;
	}
	/*
	 * stderr stays stillfs's own: the reply comes on stdout, and struct
	 * writer has no place for a third pipe to be drained between phases
	 */
	r = spawn(w->path, "session", env, in[0], out[1], -1, deadline, &c);
	close(in[0]);
	close(out[1]);
	if (r < 0) {
		close(in[1]);
		close(out[0]);
		return r;
	}
	if (c.pidfd >= 0)
		close(c.pidfd);
	w->pid = c.pid;
	w->to_fd = in[1];
	w->from_fd = out[0];
	return 0;
}

/*
 * Drops output left from an earlier phase, so that the next line read is the
 * answer to the question asked. Returns -EPIPE when the session closed its
 * output (it ended or is ending).
 */
static int session_discard(struct writer *w)
{
	struct output o = { .fd = w->from_fd, .lines = NULL };
	size_t total = 0;
	ssize_t n;

	while (total < DRAIN_MAX && (n = output_read(&o)) > 0)
		total += (size_t)n;
	if (o.fd < 0) {
		w->from_fd = -1; /* output_read() closed it */
		return -EPIPE;
	}
	return 0;
}

/*
 * Reads one line into buf (its beginning if too long; the rest and anything
 * after the line is dropped). Returns 0, -EPIPE at end of file with nothing
 * read, -ETIMEDOUT.
 */
static int session_read_line(struct writer *w, int64_t deadline, char *buf, size_t size)
{
	size_t len = 0;

	for (;;) {
		struct pollfd p = { .fd = w->from_fd, .events = POLLIN };
		char chunk[512];
		ssize_t n;
		int ms = ms_until(deadline);

		if (ms == 0)
			return -ETIMEDOUT;
		if (poll(&p, 1, ms) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (p.revents == 0)
			continue;
		n = read(w->from_fd, chunk, sizeof(chunk));
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		if (n == 0) {
			buf[len] = '\0';
			/* a last line without its newline is still an answer */
			return len > 0 ? 0 : -EPIPE;
		}
		for (ssize_t i = 0; i < n; i++) {
			if (chunk[i] == '\n') {
				buf[len] = '\0';
				return 0;
			}
			if (len < size - 1)
				buf[len++] = chunk[i];
		}
	}
}

static void session_reply(struct writer_phase_result *res, char *line)
{
	const char *rest;

	clean_text(line);
	if ((rest = after_word(line, "ok"))) {
		res->result = WRITER_OK;
		set_message(res, "%s", rest);
	} else if ((rest = after_word(line, "fail"))) {
		res->result = WRITER_FAILED;
		set_message(res, "%s", rest);
	} else if ((rest = after_word(line, "veto"))) {
		res->result = WRITER_VETOED;
		set_message(res, "%s", rest);
	} else {
		res->result = WRITER_FAILED;
		set_message(res, "%s", line[0] ? line : "empty reply");
	}
}

/* A session that is not running any more: say why, from what it did before. */
static void session_gone(const struct writer *w, struct writer_phase_result *res)
{
	res->result = WRITER_FAILED;
	for (int p = 0; p < _WRITER_PHASE_MAX; p++)
		if (w->results[p].result == WRITER_TIMED_OUT) {
			set_message(res, "session was killed after timing out at %s",
				    phase_names[p]);
			return;
		}
	set_message(res, "session ended");
}

static bool session_started_before(const struct writer *w, enum writer_phase phase)
{
	for (int p = 0; p < _WRITER_PHASE_MAX; p++)
		if (p != (int)phase && w->results[p].result != WRITER_NOT_RUN)
			return true;
	return false;
}

static void session_run(struct writer *w, enum writer_phase phase, int64_t timeout_ns,
			const struct writer_env *env, struct writer_phase_result *res)
{
	int64_t start = now_ns(), deadline = deadline_after(start, timeout_ns);
	const char *name = writer_phase_to_string(phase);
	char line[WRITER_MESSAGE_MAX], question[16];
	bool stopped, killed;
	int r;

	if (w->pid < 0) {
		/* it ran before and is gone: its locks went with it, so do not start another */
		if (session_started_before(w, phase)) {
			session_gone(w, res);
			return;
		}
		r = session_start(w, env, deadline);
		if (r < 0) {
			res->result = WRITER_FAILED;
			set_message(res, "cannot run '%s': %s", w->path, strerror(-r));
			res->duration_ns = now_ns() - start;
			return;
		}
	}

	r = session_discard(w);
	if (r == 0) {
		snprintf(question, sizeof(question), "%s\n", name);
		if (write_no_sigpipe(w->to_fd, question, strlen(question)) < 0)
			r = -errno;
	}
	if (r == 0)
		r = session_read_line(w, deadline, line, sizeof(line));

	if (r == 0) {
		session_reply(res, line);
	} else if (r == -ETIMEDOUT) {
		session_close(w, now_ns(), &stopped, &killed);
		set_timed_out(res, timeout_ns, stopped, killed, NULL);
	} else {
		/* it closed a pipe: give it what is left of the deadline to finish undoing */
		session_close(w, deadline, NULL, NULL);
		res->result = WRITER_FAILED;
		if (r == -EPIPE)
			set_message(res, "session ended");
		else if (r == -EAGAIN)
			set_message(res, "session does not read its input");
		else
			set_message(res, "cannot talk to the session: %s", strerror(-r));
	}
	res->duration_ns = now_ns() - start;
}

enum writer_result writer_run(struct writer *w, enum writer_phase phase, int64_t timeout_ns,
			      const struct writer_env *env)
{
	struct writer_phase_result *res;

	assert(w);
	assert((unsigned)phase < _WRITER_PHASE_MAX);
	res = &w->results[phase];
	*res = (struct writer_phase_result){ .result = WRITER_NOT_RUN };
	if (w->kind == WRITER_SESSION)
		session_run(w, phase, timeout_ns, env, res);
	else
		hook_run(w, phase, timeout_ns, env, res);
	return res->result;
}

void writer_end(struct writer *w, int64_t timeout_ns)
{
	if (!w || w->kind != WRITER_SESSION || w->pid < 0)
		return;
	session_close(w, deadline_after(now_ns(), timeout_ns), NULL, NULL);
}

void writers_free(struct writer *w, size_t n)
{
	if (!w)
		return;
	for (size_t i = 0; i < n; i++) {
		/* a session the caller forgot: it still gets its input closed and a grace */
		writer_end(&w[i], KILL_GRACE_NS);
		free(w[i].path);
		free(w[i].name);
	}
	free(w);
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && streq(s + n - m, suffix);
}

/* Dotfiles and what editors and package managers leave next to a file they changed. */
static bool ignored_name(const char *name)
{
	const char *ext = strrchr(name, '.');

	if (name[0] == '.' || ends_with(name, "~"))
		return true;
	return ext && (strncmp(ext, ".dpkg-", 6) == 0 || strncmp(ext, ".rpm", 4) == 0);
}

struct writer_list {
	struct writer *v;
	size_t n, allocated;
};

static int writer_list_add(struct writer_list *l, const char *path, const char *name)
{
	_cleanup_free_ char *canonical = realpath(path, NULL), *copy = strdup(name);
	struct writer *w;

	if (!canonical)
		return -errno;
	if (!copy)
		return -ENOMEM;
	if (l->n == l->allocated) {
		size_t want = l->allocated ? l->allocated * 2 : 8;
		struct writer *v = reallocarray(l->v, want, sizeof(*v));

		if (!v)
			return -ENOMEM;
		l->v = v;
		l->allocated = want;
	}
	w = &l->v[l->n++];
	*w = (struct writer){
		.path = TAKE_PTR(canonical),
		.name = TAKE_PTR(copy),
		.kind = ends_with(name, ".session") ? WRITER_SESSION : WRITER_HOOK,
		.pid = -1,
		.to_fd = -1,
		.from_fd = -1,
	};
	return 0;
}

static int writer_cmp(const void *a, const void *b)
{
	return strcmp(((const struct writer *)a)->name, ((const struct writer *)b)->name);
}

static void closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
}

static void note_skip(snapshot_note_fn note, void *userdata, const char *dir, const char *name,
		      const char *why)
{
	char msg[PATH_MAX + 128];

	if (!note)
		return;
	snprintf(msg, sizeof(msg), "skipping writer '%s/%s': %s", dir, name, why);
	note(userdata, -EPERM, msg);
}

static int find_in_dir(const char *dir, struct writer_list *l, snapshot_note_fn note,
		       void *userdata, struct errbuf *eb)
{
	_cleanup_(closedirp) DIR *d = NULL;
	struct dirent *de;
	int fd, r;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		return errbuf_set(eb, -errno, "cannot open writers directory '%s'", dir);
	}
	d = fdopendir(fd);
	if (!d) {
		r = -errno;
		close(fd);
		return errbuf_set(eb, r, "cannot read writers directory '%s'", dir);
	}
	for (;;) {
		_cleanup_free_ char *path = NULL;
		struct stat st;

		errno = 0;
		de = readdir(d);
		if (!de) {
			if (errno != 0)
				return errbuf_set(eb, -errno, "cannot read writers directory '%s'",
						  dir);
			break;
		}
		if (ignored_name(de->d_name))
			continue;
		/* symbolic links are followed: a writer is often linked from where it is installed */
		if (fstatat(dirfd(d), de->d_name, &st, 0) < 0) {
			note_skip(note, userdata, dir, de->d_name, strerror(errno));
			continue;
		}
		if (S_ISDIR(st.st_mode))
			continue;
		if (!S_ISREG(st.st_mode)) {
			note_skip(note, userdata, dir, de->d_name, "not a regular file");
			continue;
		}
		/* also says no for a noexec mount, where execve() would fail */
		if (faccessat(dirfd(d), de->d_name, X_OK, AT_EACCESS) < 0) {
			note_skip(note, userdata, dir, de->d_name, "not executable");
			continue;
		}
		if (asprintf(&path, "%s/%s", dir, de->d_name) < 0) {
			path = NULL;
			return -ENOMEM;
		}
		r = writer_list_add(l, path, de->d_name);
		if (r == -ENOMEM)
			return r;
		if (r < 0)
			note_skip(note, userdata, dir, de->d_name, strerror(-r));
	}
	if (l->n > 1)
		qsort(l->v, l->n, sizeof(*l->v), writer_cmp);
	return 0;
}

static int add_extra(const char *path, struct writer_list *l, struct errbuf *eb)
{
	const char *slash = strrchr(path, '/');
	const char *name = slash ? slash + 1 : path;
	struct stat st;
	int r;

	if (stat(path, &st) < 0) {
		if (errno == ENOENT)
			return errbuf_setx(eb, -ENOENT, "writer '%s' does not exist", path);
		return errbuf_set(eb, -errno, "cannot use writer '%s'", path);
	}
	if (!S_ISREG(st.st_mode))
		return errbuf_setx(eb, -EINVAL, "writer '%s' is not a regular file", path);
	if (faccessat(AT_FDCWD, path, X_OK, AT_EACCESS) < 0)
		return errbuf_setx(eb, -EACCES, "writer '%s' is not executable", path);
	if (name[0] == '\0')
		return errbuf_setx(eb, -EINVAL, "writer '%s' has no file name", path);
	r = writer_list_add(l, path, name);
	if (r < 0)
		return errbuf_set(eb, r, "cannot use writer '%s'", path);
	/* told twice, it would be frozen twice and thawed by whichever ran first */
	for (size_t i = 0; i + 1 < l->n; i++)
		if (streq(l->v[i].path, l->v[l->n - 1].path))
			return errbuf_setx(eb, -EEXIST, "writer '%s' is given twice", path);
	return 0;
}

int writers_find(const char *dir, char *const *extra, size_t n_extra, struct writer **ret,
		 size_t *ret_n, snapshot_note_fn note, void *userdata, struct errbuf *eb)
{
	struct writer_list l = { 0 };
	int r = 0;

	if (dir)
		r = find_in_dir(dir, &l, note, userdata, eb);
	for (size_t i = 0; r >= 0 && i < n_extra; i++)
		r = add_extra(extra[i], &l, eb);
	if (r < 0) {
		if (r == -ENOMEM)
			errbuf_setx(eb, r, "out of memory while looking for writers");
		writers_free(l.v, l.n);
		return r;
	}
	*ret = l.v;
	*ret_n = l.n;
	return 0;
}
