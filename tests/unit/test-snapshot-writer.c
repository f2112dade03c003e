// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests of snapshot/writer.c: hooks and sessions run as real processes
 * (small shell scripts in a private temp directory) under short deadlines,
 * and the search of the writers directory.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "writer.h"

#define MS INT64_C(1000000)
#define SEC INT64_C(1000000000)

static char tmp[256];

/*
 * This test program doubles as a writer that reports the signal state it was
 * started with (a shell would reset it before any script line could look).
 */
__attribute__((constructor)) static void signal_report_writer(void)
{
	sigset_t mask;
	int blocked = 0, ignored = 0;

	if (!getenv("STILLFS_TEST_SIGNAL_REPORT"))
		return;
	sigprocmask(SIG_BLOCK, NULL, &mask);
	for (int sig = 1; sig < SIGRTMIN; sig++) {
		struct sigaction sa;

		if (sigismember(&mask, sig) == 1)
			blocked++;
		if (sigaction(sig, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN)
			ignored++;
	}
	printf("blocked %d, ignored %d\n", blocked, ignored);
	fflush(stdout);
	_exit(0);
}

static const struct writer_env test_env = {
	.set_id = "0f5e2c1a-set",
	.token = "@GMT-2026.11.22-02.00.00",
	.volumes = "/srv\n/var/lib/postgresql\n",
};

static void setup(void)
{
	const char *base = getenv("TMPDIR");

	snprintf(tmp, sizeof(tmp), "%s/stillfs-writer-XXXXXX", base && *base ? base : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(tmp));
}

static void teardown(void)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	ck_assert_int_eq(system(cmd), 0);
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * SEC + ts.tv_nsec;
}

/* tmp/name, in one of four static buffers used in turn */
static const char *at(const char *name)
{
	static char buf[4][PATH_MAX];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", tmp, name);
	return buf[i];
}

/* Writes a /bin/sh script; "@" in body stands for the temp directory. */
static const char *script(const char *name, mode_t mode, const char *body)
{
	const char *path = at(name);
	FILE *f = fopen(path, "we");

	ck_assert_ptr_nonnull(f);
	fputs("#!/bin/sh\n", f);
	for (const char *p = body; *p; p++)
		if (*p == '@')
			fputs(tmp, f);
		else
			fputc(*p, f);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(chmod(path, mode), 0);
	return path;
}

static struct writer *one_writer(const char *path)
{
	char *extra[] = { (char *)path };
	struct writer *w = NULL;
	struct errbuf eb = { "" };
	size_t n = 0;
	int r = writers_find(NULL, extra, 1, &w, &n, NULL, NULL, &eb);

	ck_assert_msg(r == 0, "writers_find: %d %s", r, eb.msg);
	ck_assert_uint_eq(n, 1);
	return w;
}

static struct writer *hook(const char *name, const char *body)
{
	return one_writer(script(name, 0755, body));
}

/* Contents of tmp/name, or "" when it does not exist; static buffer. */
static const char *slurp(const char *name)
{
	static char buf[4096];
	int fd = open(at(name), O_RDONLY | O_CLOEXEC);
	ssize_t n = 0;

	buf[0] = '\0';
	if (fd < 0)
		return buf;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static pid_t pid_from(const char *name)
{
	const char *s = slurp(name);

	ck_assert_msg(s[0] != '\0', "no pid in %s", name);
	return (pid_t)atoi(s);
}

/* The process is gone, or dead and waiting for init to reap it. */
static bool process_gone(pid_t pid)
{
	for (int i = 0; i < 200; i++) {
		char path[64], stat[512];
		const char *p;
		ssize_t n;
		int fd;

		snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return true;
		n = read(fd, stat, sizeof(stat) - 1);
		close(fd);
		if (n <= 0)
			return true;
		stat[n] = '\0';
		p = strrchr(stat, ')');
		if (p && (p[2] == 'Z' || p[2] == 'X'))
			return true;
		usleep(10000);
	}
	return false;
}

/* No child of ours is left, running or zombie. */
static void assert_no_children(void)
{
	int status;
	pid_t p = waitpid(-1, &status, WNOHANG);

	ck_assert_msg(p < 0 && errno == ECHILD, "a child is left behind: waitpid() = %d",
		      (int)p);
}

static int count_fds(void)
{
	char path[64];
	int n = 0;

	for (int fd = 0; fd < 1024; fd++) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		if (access(path, F_OK) == 0)
			n++;
	}
	return n;
}

static enum writer_result run(struct writer *w, enum writer_phase ph, int64_t timeout)
{
	return writer_run(w, ph, timeout, &test_env);
}

#define assert_result(w, ph, res, msg)                                                             \
	do {                                                                                       \
		ck_assert_str_eq(writer_result_to_string((w)->results[ph].result),                 \
				 writer_result_to_string(res));                                    \
		ck_assert_str_eq((w)->results[ph].message, (msg));                                 \
	} while (0)

START_TEST(test_strings)
{
	enum writer_result r = WRITER_OK;

	ck_assert_str_eq(writer_phase_to_string(WRITER_PREPARE), "prepare");
	ck_assert_str_eq(writer_phase_to_string(WRITER_FREEZE), "freeze");
	ck_assert_str_eq(writer_phase_to_string(WRITER_THAW), "thaw");
	ck_assert_str_eq(writer_phase_to_string(WRITER_POST), "post");
	ck_assert_str_eq(writer_phase_to_string(WRITER_ABORT), "abort");
	ck_assert_ptr_null(writer_phase_to_string(_WRITER_PHASE_MAX));
	for (int i = 0; i < _WRITER_RESULT_MAX; i++) {
		const char *s = writer_result_to_string((enum writer_result)i);

		ck_assert_ptr_nonnull(s);
		ck_assert_int_eq(writer_result_from_string(s, &r), 0);
		ck_assert_int_eq(r, i);
	}
	ck_assert_str_eq(writer_result_to_string(WRITER_TIMED_OUT), "timed-out");
	r = WRITER_OK;
	ck_assert_int_eq(writer_result_from_string("timed out", &r), -EINVAL);
	ck_assert_int_eq(writer_result_from_string(NULL, &r), -EINVAL);
	ck_assert_int_eq(r, WRITER_OK);
}
END_TEST

START_TEST(test_hook_ok)
{
	struct writer *w = hook("ok", "echo starting\n"
				      "printf 'flushed\\t3 tables\\033[31m\\n\\n'\n");

	ck_assert_int_eq(w->kind, WRITER_HOOK);
	ck_assert_int_eq(run(w, WRITER_PREPARE, 5 * SEC), WRITER_OK);
	/* the last non-empty line, with the terminal escape defused */
	assert_result(w, WRITER_PREPARE, WRITER_OK, "flushed 3 tables?[31m");
	ck_assert_int_gt(w->results[WRITER_PREPARE].duration_ns, 0);
	ck_assert_int_lt(w->results[WRITER_PREPARE].duration_ns, 2 * SEC);
	ck_assert_int_eq(w->results[WRITER_FREEZE].result, WRITER_NOT_RUN);
	assert_no_children();
	writers_free(w, 1);
}
END_TEST

START_TEST(test_hook_failed)
{
	struct writer *w = hook("fail", "echo working\necho 'disk full' >&2\nexit 1\n");
	struct writer *silent = hook("silent", "exit 2\n");
	struct writer *crash = hook("crash", "echo about to crash\nkill -SEGV $$\n");

	ck_assert_int_eq(run(w, WRITER_FREEZE, 5 * SEC), WRITER_FAILED);
	/* stderr is captured with stdout */
	assert_result(w, WRITER_FREEZE, WRITER_FAILED, "disk full");
	ck_assert_int_eq(run(silent, WRITER_FREEZE, 5 * SEC), WRITER_FAILED);
	assert_result(silent, WRITER_FREEZE, WRITER_FAILED, "exited with status 2");
	ck_assert_int_eq(run(crash, WRITER_FREEZE, 5 * SEC), WRITER_FAILED);
	assert_result(crash, WRITER_FREEZE, WRITER_FAILED,
		      "killed by SIGSEGV; last output: about to crash");
	assert_no_children();
	writers_free(w, 1);
	writers_free(silent, 1);
	writers_free(crash, 1);
}
END_TEST

START_TEST(test_hook_veto)
{
	struct writer *by_status = hook("veto-status", "echo checking\necho 'replica lags'\n"
						       "exit 3\n");
	struct writer *by_line = hook("veto-line", "echo checking\n"
						   "echo 'veto  backup window closed'\n"
						   "echo 'veto second'\necho later\nexit 0\n");
	struct writer *not_veto = hook("vetoing", "echo vetoing is a word\n");

	ck_assert_int_eq(run(by_status, WRITER_PREPARE, 5 * SEC), WRITER_VETOED);
	assert_result(by_status, WRITER_PREPARE, WRITER_VETOED, "replica lags");
	ck_assert_int_eq(run(by_line, WRITER_PREPARE, 5 * SEC), WRITER_VETOED);
	assert_result(by_line, WRITER_PREPARE, WRITER_VETOED, "backup window closed");
	ck_assert_int_eq(run(not_veto, WRITER_PREPARE, 5 * SEC), WRITER_OK);
	assert_result(not_veto, WRITER_PREPARE, WRITER_OK, "vetoing is a word");
	writers_free(by_status, 1);
	writers_free(by_line, 1);
	writers_free(not_veto, 1);
}
END_TEST

START_TEST(test_hook_timeout)
{
	struct writer *w = hook("slow", "echo $$ > @/pid\necho waiting for checkpoint\n"
					"sleep 10\necho never\n");
	sigset_t block, old;
	int64_t d;

	/* create runs writers with these blocked; the hook must still get its SIGTERM */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	sigprocmask(SIG_BLOCK, &block, &old);
	ck_assert_int_eq(run(w, WRITER_FREEZE, 300 * MS), WRITER_TIMED_OUT);
	sigprocmask(SIG_SETMASK, &old, NULL);
	d = w->results[WRITER_FREEZE].duration_ns;
	ck_assert_int_ge(d, 300 * MS);
	ck_assert_int_lt(d, 2 * SEC);
	assert_result(w, WRITER_FREEZE, WRITER_TIMED_OUT,
		      "timed out after 0.3 s; terminated; last output: waiting for checkpoint");
	ck_assert(process_gone(pid_from("pid")));
	assert_no_children();
	writers_free(w, 1);
}
END_TEST

START_TEST(test_hook_ignores_sigterm)
{
	/* the trap is inherited by sleep: nothing in the group dies of SIGTERM */
	struct writer *w = hook("stubborn", "trap '' TERM\necho $$ > @/pid\n"
					    "sleep 10 & echo $! > @/gpid\necho holding\nwait\n"
					    "sleep 10\n");
	int64_t d;

	ck_assert_int_eq(run(w, WRITER_FREEZE, 300 * MS), WRITER_TIMED_OUT);
	d = w->results[WRITER_FREEZE].duration_ns;
	ck_assert_int_ge(d, 2300 * MS);
	ck_assert_int_lt(d, 5 * SEC);
	assert_result(w, WRITER_FREEZE, WRITER_TIMED_OUT,
		      "timed out after 0.3 s; killed (it did not exit within 2 s of SIGTERM); "
		      "last output: holding");
	ck_assert(process_gone(pid_from("pid")));
	ck_assert(process_gone(pid_from("gpid")));
	assert_no_children();
	writers_free(w, 1);
}
END_TEST

START_TEST(test_hook_grandchild_timeout)
{
	struct writer *w = hook("forks", "echo $$ > @/pid\nsleep 10 & echo $! > @/gpid\nwait\n");

	ck_assert_int_eq(run(w, WRITER_PREPARE, 300 * MS), WRITER_TIMED_OUT);
	ck_assert_int_lt(w->results[WRITER_PREPARE].duration_ns, 2 * SEC);
	ck_assert(process_gone(pid_from("pid")));
	ck_assert(process_gone(pid_from("gpid")));
	assert_no_children();
	writers_free(w, 1);
}
END_TEST

START_TEST(test_hook_leaves_background)
{
	/* the background sleep keeps the output pipe open: the hook's exit must end the wait */
	struct writer *w = hook("bg", "sleep 10 & echo $! > @/gpid\necho started it\n");

	ck_assert_int_eq(run(w, WRITER_POST, 5 * SEC), WRITER_OK);
	assert_result(w, WRITER_POST, WRITER_OK, "started it");
	ck_assert_int_lt(w->results[WRITER_POST].duration_ns, 3 * SEC);
	ck_assert(process_gone(pid_from("gpid")));
	assert_no_children();
	writers_free(w, 1);
}
END_TEST

START_TEST(test_hook_env)
{
	struct writer *w = hook("env", "{\n"
				       "printf 'argc=%s arg1=%s\\n' \"$#\" \"$1\"\n"
				       "printf 'phase=%s\\n' \"$STILLFS_PHASE\"\n"
				       "printf 'id=%s\\n' \"$STILLFS_SET_ID\"\n"
				       "printf 'token=%s\\n' \"$STILLFS_SET_TOKEN\"\n"
				       "printf 'cwd=%s\\n' \"$(pwd)\"\n"
				       "if read x; then echo stdin=data; else echo stdin=eof; fi\n"
				       "if [ -e /proc/$$/fd/57 ]; then echo fd57=open; "
				       "else echo fd57=closed; fi\n"
				       "env | grep -c '^STILLFS_PHASE=' | sed 's/^/n=/'\n"
				       "} > @/out\n"
				       "printf '%s' \"$STILLFS_VOLUMES\" > @/vols\n");
	int leak = open("/dev/null", O_RDONLY); /* no O_CLOEXEC on purpose */

	ck_assert_int_ge(leak, 0);
	ck_assert_int_eq(dup2(leak, 57), 57);
	ck_assert_int_eq(setenv("STILLFS_PHASE", "stale", 1), 0);
	ck_assert_int_eq(run(w, WRITER_THAW, 5 * SEC), WRITER_OK);
	unsetenv("STILLFS_PHASE");
	close(57);
	close(leak);
	assert_result(w, WRITER_THAW, WRITER_OK, "");
	ck_assert_str_eq(slurp("out"), "argc=1 arg1=thaw\n"
				       "phase=thaw\n"
				       "id=0f5e2c1a-set\n"
				       "token=@GMT-2026.11.22-02.00.00\n"
				       "cwd=/\n"
				       "stdin=eof\n"
				       "fd57=closed\n"
				       "n=1\n");
	ck_assert_str_eq(slurp("vols"), "/srv\n/var/lib/postgresql\n");
	writers_free(w, 1);
}
END_TEST

START_TEST(test_hook_signals)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	struct sigaction ign = { .sa_handler = SIG_IGN }, old_pipe;
	sigset_t block, old;
	struct writer *w;

	ck_assert_int_gt(n, 0);
	self[n] = '\0';
	ck_assert_int_eq(symlink(self, at("signals")), 0);
	w = one_writer(at("signals"));
	/* what create and a stillfs that ignores SIGPIPE leave to a writer */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	sigprocmask(SIG_BLOCK, &block, &old);
	sigaction(SIGPIPE, &ign, &old_pipe);
	setenv("STILLFS_TEST_SIGNAL_REPORT", "1", 1);
	ck_assert_int_eq(run(w, WRITER_FREEZE, 5 * SEC), WRITER_OK);
	unsetenv("STILLFS_TEST_SIGNAL_REPORT");
	sigaction(SIGPIPE, &old_pipe, NULL);
	sigprocmask(SIG_SETMASK, &old, NULL);
	assert_result(w, WRITER_FREEZE, WRITER_OK, "blocked 0, ignored 0");
	writers_free(w, 1);
}
END_TEST

START_TEST(test_hook_dies_with_stillfs)
{
	/* exec: the hook is this very process, so no sleep outlives the test */
	struct writer *w = hook("orphan", "echo $$ > @/pid\nexec sleep 10\n");
	pid_t runner, hook_pid;
	int status;

	runner = fork();
	ck_assert_int_ge(runner, 0);
	if (runner == 0) {
		writer_run(w, WRITER_FREEZE, 20 * SEC, &test_env);
		_exit(0);
	}
	for (int i = 0; i < 500 && !slurp("pid")[0]; i++)
		usleep(10000);
	hook_pid = pid_from("pid");
	/* stillfs killed in the middle of a freeze */
	ck_assert_int_eq(kill(runner, SIGKILL), 0);
	ck_assert_int_eq(waitpid(runner, &status, 0), runner);
	ck_assert(WIFSIGNALED(status));
	/* a freeze that went on would finish after the guard's thaw */
	ck_assert(process_gone(hook_pid));
	assert_no_children();
	writers_free(w, 1);
}
END_TEST

START_TEST(test_hook_cannot_run)
{
	const char *path = at("no-shebang");
	FILE *f = fopen(path, "we");
	struct writer *w, *gone;
	char expected[PATH_MAX + 64];

	ck_assert_ptr_nonnull(f);
	fputs("echo no interpreter line\n", f);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(chmod(path, 0755), 0);
	w = one_writer(path);
	ck_assert_int_eq(run(w, WRITER_PREPARE, 5 * SEC), WRITER_FAILED);
	snprintf(expected, sizeof(expected), "cannot run '%s': %s", w->path, strerror(ENOEXEC));
	assert_result(w, WRITER_PREPARE, WRITER_FAILED, expected);

	gone = hook("gone", "exit 0\n");
	ck_assert_int_eq(unlink(gone->path), 0);
	ck_assert_int_eq(run(gone, WRITER_PREPARE, 5 * SEC), WRITER_FAILED);
	snprintf(expected, sizeof(expected), "cannot run '%s': %s", gone->path, strerror(ENOENT));
	assert_result(gone, WRITER_PREPARE, WRITER_FAILED, expected);
	assert_no_children();
	writers_free(w, 1);
	writers_free(gone, 1);
}
END_TEST

static struct writer *session(const char *name, const char *body)
{
	struct writer *w = hook(name, body);

	ck_assert_int_eq(w->kind, WRITER_SESSION);
	ck_assert_int_eq(w->pid, -1);
	return w;
}

START_TEST(test_session_ok)
{
	struct writer *w = session("db.session",
				   "echo \"start $# $1 $STILLFS_PHASE $STILLFS_SET_ID\" > @/log\n"
				   "while read phase; do\n"
				   "  echo \"$phase\" >> @/log\n"
				   "  echo \"ok done $phase\"\n"
				   "done\n"
				   "echo closed >> @/log\n");
	static const enum writer_phase phases[] = { WRITER_PREPARE, WRITER_FREEZE, WRITER_THAW,
						    WRITER_POST };
	int fds = count_fds();
	pid_t pid = -1;
	int64_t t;

	for (size_t i = 0; i < sizeof(phases) / sizeof(phases[0]); i++) {
		char msg[64];

		ck_assert_int_eq(run(w, phases[i], 5 * SEC), WRITER_OK);
		snprintf(msg, sizeof(msg), "done %s", writer_phase_to_string(phases[i]));
		assert_result(w, phases[i], WRITER_OK, msg);
		/* one process from prepare to post: its locks live that long */
		if (i == 0)
			pid = w->pid;
		ck_assert_int_gt(w->pid, 0);
		ck_assert_int_eq(w->pid, pid);
	}
	t = now_ns();
	writer_end(w, 5 * SEC);
	ck_assert_int_lt(now_ns() - t, 2 * SEC);
	ck_assert_int_eq(w->pid, -1);
	ck_assert_int_eq(w->to_fd, -1);
	ck_assert_int_eq(w->from_fd, -1);
	ck_assert_str_eq(slurp("log"), "start 1 session session 0f5e2c1a-set\n"
				       "prepare\nfreeze\nthaw\npost\nclosed\n");
	ck_assert(process_gone(pid));
	assert_no_children();
	ck_assert_int_eq(count_fds(), fds);
	writer_end(w, 5 * SEC); /* twice is fine */
	writers_free(w, 1);
}
END_TEST

START_TEST(test_session_replies)
{
	struct writer *w = session("replies.session", "while read p; do case $p in\n"
						      "prepare) echo 'fail  no replication slot';;\n"
						      "freeze) echo 'veto busy';;\n"
						      "thaw) echo 'what?';;\n"
						      "post) echo ok;;\n"
						      "abort) echo;;\n"
						      "esac; done\n");

	ck_assert_int_eq(run(w, WRITER_PREPARE, 5 * SEC), WRITER_FAILED);
	assert_result(w, WRITER_PREPARE, WRITER_FAILED, "no replication slot");
	ck_assert_int_eq(run(w, WRITER_FREEZE, 5 * SEC), WRITER_VETOED);
	assert_result(w, WRITER_FREEZE, WRITER_VETOED, "busy");
	ck_assert_int_eq(run(w, WRITER_THAW, 5 * SEC), WRITER_FAILED);
	assert_result(w, WRITER_THAW, WRITER_FAILED, "what?");
	ck_assert_int_eq(run(w, WRITER_POST, 5 * SEC), WRITER_OK);
	assert_result(w, WRITER_POST, WRITER_OK, "");
	ck_assert_int_eq(run(w, WRITER_ABORT, 5 * SEC), WRITER_FAILED);
	assert_result(w, WRITER_ABORT, WRITER_FAILED, "empty reply");
	/* answers, even unwelcome ones, keep the session */
	ck_assert_int_gt(w->pid, 0);
	writer_end(w, 5 * SEC);
	ck_assert_int_eq(w->pid, -1);
	assert_no_children();
	writers_free(w, 1);
}
END_TEST

START_TEST(test_session_timeout)
{
	struct writer *w = session("mute.session", "echo $$ > @/pid\n"
						   "while read p; do case $p in\n"
						   "prepare) echo ok;;\n"
						   "*) sleep 10 & echo $! > @/gpid; wait;;\n"
						   "esac; done\n");

	ck_assert_int_eq(run(w, WRITER_PREPARE, 5 * SEC), WRITER_OK);
	ck_assert_int_eq(run(w, WRITER_FREEZE, 300 * MS), WRITER_TIMED_OUT);
	assert_result(w, WRITER_FREEZE, WRITER_TIMED_OUT, "timed out after 0.3 s; terminated");
	ck_assert_int_lt(w->results[WRITER_FREEZE].duration_ns, 2 * SEC);
	ck_assert_int_eq(w->pid, -1);
	ck_assert(process_gone(pid_from("pid")));
	ck_assert(process_gone(pid_from("gpid")));
	/* not run again: a new session would not hold what the killed one held */
	ck_assert_int_eq(run(w, WRITER_THAW, 5 * SEC), WRITER_FAILED);
	assert_result(w, WRITER_THAW, WRITER_FAILED,
		      "session was killed after timing out at freeze");
	ck_assert_int_eq(w->results[WRITER_THAW].duration_ns, 0);
	ck_assert_int_eq(w->pid, -1);
	writer_end(w, 5 * SEC);
	assert_no_children();
	writers_free(w, 1);
}
END_TEST

START_TEST(test_session_exits_early)
{
	struct writer *w = session("quits.session", "read p\nexit 0\n");

	ck_assert_int_eq(run(w, WRITER_PREPARE, 5 * SEC), WRITER_FAILED);
	assert_result(w, WRITER_PREPARE, WRITER_FAILED, "session ended");
	ck_assert_int_lt(w->results[WRITER_PREPARE].duration_ns, 1 * SEC);
	ck_assert_int_eq(w->pid, -1);
	assert_no_children();
	ck_assert_int_eq(run(w, WRITER_ABORT, 5 * SEC), WRITER_FAILED);
	assert_result(w, WRITER_ABORT, WRITER_FAILED, "session ended");
	writers_free(w, 1);
}
END_TEST

START_TEST(test_session_closed_input)
{
	/* answers prepare, then nobody reads its input: the next write raises SIGPIPE */
	struct writer *w = session("deaf.session", "read p\nexec 0<&-\necho \"ok $p\"\n"
						   "exec sleep 10\n");
	sigset_t pending;

	ck_assert_int_eq(run(w, WRITER_PREPARE, 5 * SEC), WRITER_OK);
	ck_assert_int_eq(run(w, WRITER_FREEZE, 300 * MS), WRITER_FAILED);
	assert_result(w, WRITER_FREEZE, WRITER_FAILED, "session ended");
	ck_assert_int_lt(w->results[WRITER_FREEZE].duration_ns, 2 * SEC);
	ck_assert_int_eq(w->pid, -1);
	sigemptyset(&pending);
	ck_assert_int_eq(sigpending(&pending), 0);
	ck_assert(!sigismember(&pending, SIGPIPE));
	assert_no_children();
	writers_free(w, 1);
}
END_TEST

START_TEST(test_session_freed_without_end)
{
	struct writer *w = session("idle.session", "echo $$ > @/pid\n"
						   "while read p; do echo ok; done\n");

	ck_assert_int_eq(run(w, WRITER_PREPARE, 5 * SEC), WRITER_OK);
	writers_free(w, 1);
	ck_assert(process_gone(pid_from("pid")));
	assert_no_children();
}
END_TEST

static char notes[8][PATH_MAX + 128];
static size_t n_notes;

static void note(void *userdata, int error, const char *msg)
{
	if (n_notes < 8)
		snprintf(notes[n_notes], sizeof(notes[0]), "%s", msg);
	n_notes++;
}

START_TEST(test_find_dir)
{
	static const char *const executable[] = { "20-b", "10-a", "30-c.session", ".hidden",
						  "40-d~", "50-e.dpkg-old", "60-f.rpmnew" };
	char dir[PATH_MAX], real_tmp[PATH_MAX], expected[PATH_MAX + 64];
	char *extra[1];
	struct writer *w = NULL;
	struct errbuf eb = { "" };
	size_t n = 0;

	snprintf(dir, sizeof(dir), "%s", at("writers.d"));
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	ck_assert_int_eq(mkdir(at("writers.d/80-sub"), 0755), 0);
	for (size_t i = 0; i < sizeof(executable) / sizeof(executable[0]); i++) {
		char name[64];

		snprintf(name, sizeof(name), "writers.d/%s", executable[i]);
		script(name, 0755, "exit 0\n");
	}
	script("writers.d/70-g", 0644, "exit 0\n");
	script("installed", 0755, "exit 0\n");
	ck_assert_int_eq(symlink("../installed", at("writers.d/90-link")), 0);
	extra[0] = (char *)script("zz-extra.session", 0700, "exit 0\n");

	n_notes = 0;
	ck_assert_int_eq(writers_find(dir, extra, 1, &w, &n, note, NULL, &eb), 0);
	ck_assert_uint_eq(n, 5);
	ck_assert_str_eq(w[0].name, "10-a");
	ck_assert_str_eq(w[1].name, "20-b");
	ck_assert_str_eq(w[2].name, "30-c.session");
	ck_assert_str_eq(w[3].name, "90-link");
	ck_assert_str_eq(w[4].name, "zz-extra.session");
	ck_assert_int_eq(w[0].kind, WRITER_HOOK);
	ck_assert_int_eq(w[2].kind, WRITER_SESSION);
	ck_assert_int_eq(w[3].kind, WRITER_HOOK);
	ck_assert_int_eq(w[4].kind, WRITER_SESSION);
	ck_assert_ptr_nonnull(realpath(tmp, real_tmp));
	snprintf(expected, sizeof(expected), "%s/writers.d/10-a", real_tmp);
	ck_assert_str_eq(w[0].path, expected);
	/* canonical: the link's target, under the name the user sees */
	snprintf(expected, sizeof(expected), "%s/installed", real_tmp);
	ck_assert_str_eq(w[3].path, expected);
	for (size_t i = 0; i < n; i++) {
		ck_assert_int_eq(w[i].pid, -1);
		ck_assert_int_eq(w[i].to_fd, -1);
		ck_assert_int_eq(w[i].from_fd, -1);
		for (int p = 0; p < _WRITER_PHASE_MAX; p++)
			ck_assert_int_eq(w[i].results[p].result, WRITER_NOT_RUN);
	}
	/* only the file that looks like a writer but cannot run is worth a word */
	ck_assert_uint_eq(n_notes, 1);
	snprintf(expected, sizeof(expected), "skipping writer '%s/70-g': not executable", dir);
	ck_assert_str_eq(notes[0], expected);
	writers_free(w, n);
}
END_TEST

START_TEST(test_find_none)
{
	struct writer *w = (struct writer *)&w;
	struct errbuf eb = { "" };
	size_t n = 99;

	ck_assert_int_eq(writers_find(at("missing.d"), NULL, 0, &w, &n, note, NULL, &eb), 0);
	ck_assert_uint_eq(n, 0);
	writers_free(w, n);
	n = 99;
	ck_assert_int_eq(writers_find(NULL, NULL, 0, &w, &n, NULL, NULL, &eb), 0);
	ck_assert_uint_eq(n, 0);
	writers_free(w, n);
	/* a file where the directory should be is a mistake, not "no writers" */
	script("not-a-dir", 0644, "");
	ck_assert_int_eq(writers_find(at("not-a-dir"), NULL, 0, &w, &n, NULL, NULL, &eb), -ENOTDIR);
}
END_TEST

static void assert_refused(char *path, int expected_r, const char *why)
{
	struct writer *sentinel = (struct writer *)&sentinel, *w = sentinel;
	char *extra[] = { path, path };
	struct errbuf eb = { "" };
	char expected[PATH_MAX + 64];
	size_t n = 99;

	ck_assert_int_eq(writers_find(NULL, extra, expected_r == -EEXIST ? 2 : 1, &w, &n, NULL, NULL,
				      &eb),
			 expected_r);
	snprintf(expected, sizeof(expected), "writer '%s' %s", path, why);
	ck_assert_str_eq(eb.msg, expected);
	/* output parameters are written only on success */
	ck_assert_ptr_eq(w, sentinel);
	ck_assert_uint_eq(n, 99);
}

START_TEST(test_find_refusals)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s", script("plain", 0644, "exit 0\n"));
	assert_refused(path, -EACCES, "is not executable");
	snprintf(path, sizeof(path), "%s", at("nowhere"));
	assert_refused(path, -ENOENT, "does not exist");
	snprintf(path, sizeof(path), "%s", tmp);
	assert_refused(path, -EINVAL, "is not a regular file");
	snprintf(path, sizeof(path), "%s", script("twice", 0755, "exit 0\n"));
	assert_refused(path, -EEXIST, "is given twice");
}
END_TEST

Suite *writer_suite(void);

Suite *writer_suite(void)
{
	Suite *s = suite_create("writer");
	TCase *tc;

	tc = tcase_create("hook");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_strings);
	tcase_add_test(tc, test_hook_ok);
	tcase_add_test(tc, test_hook_failed);
	tcase_add_test(tc, test_hook_veto);
	tcase_add_test(tc, test_hook_timeout);
	tcase_add_test(tc, test_hook_ignores_sigterm);
	tcase_add_test(tc, test_hook_grandchild_timeout);
	tcase_add_test(tc, test_hook_leaves_background);
	tcase_add_test(tc, test_hook_env);
	tcase_add_test(tc, test_hook_signals);
	tcase_add_test(tc, test_hook_dies_with_stillfs);
	tcase_add_test(tc, test_hook_cannot_run);
	suite_add_tcase(s, tc);

	tc = tcase_create("session");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_session_ok);
	tcase_add_test(tc, test_session_replies);
	tcase_add_test(tc, test_session_timeout);
	tcase_add_test(tc, test_session_exits_early);
	tcase_add_test(tc, test_session_closed_input);
	tcase_add_test(tc, test_session_freed_without_end);
	suite_add_tcase(s, tc);

	tc = tcase_create("find");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_find_dir);
	tcase_add_test(tc, test_find_none);
	tcase_add_test(tc, test_find_refusals);
	suite_add_tcase(s, tc);
	return s;
}
