// SPDX-License-Identifier: GPL-2.0-or-later
/* exec, pin and unpin: a set as current/ of a view that stays mounted. */
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "cli.h"

#define PIN_WAIT_MS 10000

static int mkdir_p(const char *path, mode_t mode)
{
	_cleanup_free_ char *p = strdup(path);

	if (!p)
		return -ENOMEM;
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	if (mkdir(p, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/*
 * Mounts the history view at `mp` unless one is there already, with
 * --passthrough if `passthrough`; *ret is its canonical path.
 */
static int ensure_view(struct cli *cli, const char *mp, bool passthrough, char **ret)
{
	_cleanup_free_ char *path = NULL;
	struct mount_entry m;
	int r, status;
	pid_t pid;

	r = mkdir_p(mp, 0755);
	if (r < 0)
		return log_error_errno(r, "cannot make the view's mount point '%s'", mp);
	path = realpath(mp, NULL);
	if (!path)
		return log_error_errno(-errno, "cannot use '%s' for the view", mp);
	r = mountinfo_is_mount_point(path, &m);
	if (r < 0)
		return log_error_errno(r, "cannot read the mount table");
	if (r > 0 && !streq(m.fstype, "fuse.stillfs")) {
		log_error("'%s' has something else mounted on it (%s)", path, m.fstype);
		return -EBUSY;
	}
	if (r == 0) {
		/*
		 * A fresh `stillfs mount` of our own binary: a forked copy of this process
		 * would carry our SQLite connection's state into the daemon.
		 */
		pid = fork();
		if (pid < 0)
			return log_error_errno(-errno, "cannot start the view");
		if (pid == 0) {
			char *args[] = { "stillfs", "--catalog", (char *)cli->catalog_path, "mount",
					 passthrough ? "--passthrough" : path,
					 passthrough ? path : NULL, NULL };

			execv("/proc/self/exe", args);
			log_error("cannot run '/proc/self/exe': %m");
			_exit(127);
		}
		while (waitpid(pid, &status, 0) < 0)
			if (errno != EINTR)
				return log_error_errno(-errno, "cannot wait for the view");
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			log_error("cannot mount the view on '%s'", path);
			return -EIO;
		}
	}
	if (r > 0 && passthrough)
		log_info("--passthrough applies only to a view mounted now: the one on '%s' was "
			 "mounted before and reads files as it did",
			 path);
	*ret = TAKE_PTR(path);
	return 0;
}

/* Waits until current/ of the view shows the pin (its mtime is the pin time). */
static int wait_shown(const char *view, int64_t pinned_ns)
{
	_cleanup_free_ char *current = NULL;
	struct timespec pause = { 0, 20 * 1000000 };

	if (asprintf(&current, "%s/current", view) < 0)
		return -ENOMEM;
	for (int waited = 0; waited < PIN_WAIT_MS; waited += 20) {
		struct stat st;

		if (stat(current, &st) == 0 &&
		    (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec == pinned_ns)
			return 0;
		nanosleep(&pause, NULL);
	}
	log_error("the view '%s' did not show the pinned set within %d s", view,
		  PIN_WAIT_MS / 1000);
	return -ETIMEDOUT;
}

static int pin(struct catalog *c, const struct catalog_set *s, const char *view)
{
	int64_t seq = 0, pinned_ns = 0;
	int r;

	if (s->state != CATALOG_SET_COMPLETE) {
		log_error("set %s is %s; only a complete set can be pinned", s->id,
			  catalog_set_state_to_string(s->state));
		return -EINVAL;
	}
	r = catalog_pin_set(c, view, s->seq);
	if (r == 0)
		r = catalog_pin_get(c, view, &seq, &pinned_ns);
	if (r < 0)
		return log_error_errno(r, "cannot pin set %s", s->id);
	return wait_shown(view, pinned_ns);
}

/* Options of pin (`passthrough` set) and unpin (NULL). */
static int parse_view_options(const struct command *cmd, int argc, char **argv,
			      const char **view, bool *passthrough)
{
	enum { OPT_PASSTHROUGH = 0x100 };
	static const struct option opts[] = {
		{ "view", required_argument, NULL, 'v' },
		{ "passthrough", no_argument, NULL, OPT_PASSTHROUGH },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	int o;

	*view = CLI_DEFAULT_VIEW;
	while ((o = getopt_long(argc, argv, "+v:h", opts, NULL)) >= 0) {
		if (o == 'v') {
			*view = optarg;
		} else if (o == OPT_PASSTHROUGH && passthrough) {
			*passthrough = true;
		} else if (o == 'h') {
			cli_help(cmd, stdout);
			return 1;
		} else {
			return cli_bad_option(cmd, argc, argv);
		}
	}
	return 0;
}

static int run_pin(struct cli *cli, int argc, char **argv)
{
	_cleanup_catalog_ struct catalog *c = NULL;
	_cleanup_catalog_set_ struct catalog_set *s = NULL;
	_cleanup_free_ char *view = NULL;
	bool passthrough = false;
	const char *mp;
	int r;

	r = parse_view_options(&command_pin, argc, argv, &mp, &passthrough);
	if (r != 0)
		return r < 0 ? r : 0;
	if (argc - optind != 1)
		return cli_usage_error(&command_pin, "name exactly one set");
	r = cli_require_root("pin");
	if (r < 0)
		return r;
	r = cli_open_catalog(cli, 0, &c);
	if (r < 0)
		return r;
	r = cli_get_set(c, argv[optind], &s);
	if (r < 0)
		return r;
	r = ensure_view(cli, mp, passthrough, &view);
	if (r < 0)
		return r;
	return pin(c, s, view);
}

static int run_unpin(struct cli *cli, int argc, char **argv)
{
	_cleanup_catalog_ struct catalog *c = NULL;
	_cleanup_free_ char *view = NULL;
	const char *mp;
	int r;

	r = parse_view_options(&command_unpin, argc, argv, &mp, NULL);
	if (r != 0)
		return r < 0 ? r : 0;
	if (argc - optind != 0)
		return cli_usage_error(&command_unpin, "unexpected argument '%s'", argv[optind]);
	r = cli_require_root("unpin");
	if (r < 0)
		return r;
	r = cli_open_catalog(cli, 0, &c);
	if (r < 0)
		return r;
	view = realpath(mp, NULL);
	r = catalog_pin_clear(c, view ? view : mp);
	if (r < 0)
		return log_error_errno(r, "cannot unpin the view '%s'", mp);
	return 0;
}

static volatile sig_atomic_t child_pid;

static void forward_signal(int sig)
{
	if (child_pid > 0)
		kill((pid_t)child_pid, sig);
}

/* Runs the command with the set's whereabouts in its environment; returns its exit status. */
static int run_command(char **cmd, const struct catalog_set *set, const char *view)
{
	static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };
	struct sigaction sa = { .sa_handler = forward_signal };
	_cleanup_free_ char *root = NULL;
	sigset_t block, old;
	int status;
	pid_t pid;

	if (asprintf(&root, "%s/current", view) < 0)
		return -ENOMEM;
	/* from before the fork until the handlers know the child, these signals
	 * wait, so that none is lost or taken by the default action */
	sigemptyset(&block);
	for (size_t i = 0; i < ARRAY_SIZE(forwarded); i++)
		sigaddset(&block, forwarded[i]);
	sigprocmask(SIG_BLOCK, &block, &old);
	pid = fork();
	if (pid < 0) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		return log_error_errno(-errno, "cannot start '%s'", cmd[0]);
	}
	if (pid == 0) {
		sigset_t none;

		/* a backup left reading a set whose lease ended would see it collected */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() == 1)
			_exit(128 + SIGTERM);
		for (size_t i = 0; i < ARRAY_SIZE(forwarded); i++)
			signal(forwarded[i], SIG_DFL);
		signal(SIGPIPE, SIG_DFL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		setenv("STILLFS_SET", set->id, 1);
		setenv("STILLFS_ROOT", root, 1);
		execvp(cmd[0], cmd);
		log_error("cannot run '%s': %m", cmd[0]);
		_exit(errno == ENOENT ? 127 : 126);
	}
	child_pid = pid;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < ARRAY_SIZE(forwarded); i++)
		sigaction(forwarded[i], &sa, NULL);
	sigprocmask(SIG_SETMASK, &old, NULL);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return log_error_errno(-errno, "cannot wait for '%s'", cmd[0]);
	child_pid = 0;
	sa.sa_handler = SIG_DFL;
	for (size_t i = 0; i < ARRAY_SIZE(forwarded); i++)
		sigaction(forwarded[i], &sa, NULL);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

static int run_exec(struct cli *cli, int argc, char **argv)
{
	_cleanup_catalog_ struct catalog *c = NULL;
	_cleanup_catalog_set_ struct catalog_set *set = NULL;
	_cleanup_free_ char *view = NULL;
	struct process_id self;
	struct create_args a;
	int r, dashes = -1, status = 1;

	r = create_args_parse(&command_exec, argc, argv, true, &a);
	if (r != 0)
		goto out;
	for (int i = optind; i < argc; i++)
		if (streq(argv[i], "--")) {
			dashes = i;
			break;
		}
	if (dashes < 0 || dashes + 1 >= argc) {
		r = cli_usage_error(&command_exec, "give the command after '--'");
		goto out;
	}
	if (dashes == optind) {
		r = cli_usage_error(&command_exec, "name at least one volume before '--'");
		goto out;
	}
	r = cli_require_root("exec");
	if (r < 0)
		goto out;
	r = create_set(cli, &a, argv + optind, (size_t)(dashes - optind), &c, &set);
	if (r < 0)
		goto out;
	/* if we die from here on, gc removes the set: it belongs to this run only */
	r = process_id_get(getpid(), &self);
	if (r == 0 && !a.keep)
		r = catalog_lease_set(c, set->seq, &self);
	if (r < 0) {
		log_error_errno(r, "cannot lease set %s", set->id);
		goto cleanup;
	}
	if (a.index) {
		r = index_set(c, set, false, false, isatty(STDERR_FILENO) ? stderr : NULL);
		if (r < 0)
			goto cleanup;
	}
	r = ensure_view(cli, a.view, a.passthrough, &view);
	if (r < 0)
		goto cleanup;
	r = pin(c, set, view);
	if (r < 0)
		goto cleanup;
	fflush(stdout);
	status = run_command(argv + dashes + 1, set, view);
	r = status < 0 ? status : 0;
cleanup:
	if (view)
		catalog_pin_clear(c, view);
	if (!a.keep) {
		int d = snapshot_set_delete(c, set, note_stderr, NULL);

		if (d < 0)
			log_error_errno(d, "set %s was not fully deleted; 'stillfs gc' will retry",
					set->id);
	} else {
		log_info("kept set %s (%s)", set->id, set->token);
	}
out:
	create_args_release(&a);
	if (r < 0)
		return r;
	return status > 0 ? CLI_EXIT_STATUS(status & 0xff ? status & 0xff : 1) : 0;
}

const struct command command_exec = {
	.name = "exec",
	.run = run_exec,
	.summary = "run a command on a fresh set shown at a fixed path",
	.help = "Usage: stillfs exec [CREATE OPTIONS] [--keep] [--view MOUNTPOINT] [--passthrough]\n"
		"                   VOLUME... -- COMMAND [ARGS...]\n"
		"\n"
		"Makes an existing backup job consistent by prefixing it: creates a set of the\n"
		"VOLUMEs (with the writers and hold that 'stillfs create' takes), mounts the\n"
		"view at MOUNTPOINT if none is there (default " CLI_DEFAULT_VIEW "; it stays\n"
		"mounted), shows the set as MOUNTPOINT/current/, runs COMMAND with\n"
		"STILLFS_SET (the set's id) and STILLFS_ROOT (MOUNTPOINT/current) in its\n"
		"environment, then unpins and deletes the set unless --keep, and exits with\n"
		"COMMAND's status (128+N when a signal N ended it).\n"
		"\n"
		"current/ is the same path on every run, and a file that did not change looks\n"
		"the same through it from one run to the next (device, inode number, size,\n"
		"times), so restic, borg, rsync and tar --listed-incremental stay incremental.\n"
		"\n"
		"SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 sent to stillfs exec are\n"
		"passed to COMMAND. The set is leased to this process: if it dies, COMMAND gets\n"
		"SIGTERM and the next 'stillfs gc' (which every create runs) removes the set.\n"
		"\n"
		"Options: those of 'stillfs create', and\n"
		"      --keep              keep the set afterwards (and not leased)\n"
		"      --index             record the set's manifests before the command runs\n"
		"                          (with --keep, 'stillfs verify' can check the backup)\n"
		"      --view MOUNTPOINT   where the view is, or is to be mounted\n"
		"      --passthrough       if exec mounts the view, mount it with --passthrough\n"
		"                          (see 'stillfs mount --help': faster reads of large\n"
		"                          files, slower for many small ones); a view already\n"
		"                          mounted keeps the way it was mounted\n"
		"  -h, --help              show this help\n"
		"\n"
		"Example: stillfs exec /srv -- sh -c 'restic backup \"$STILLFS_ROOT/srv\"'\n",
};

const struct command command_pin = {
	.name = "pin",
	.run = run_pin,
	.summary = "show a set as current/ of a view",
	.help = "Usage: stillfs pin [--view MOUNTPOINT] [--passthrough] ID\n"
		"\n"
		"Shows the complete set ID as MOUNTPOINT/current/ (default " CLI_DEFAULT_VIEW
		"),\n"
		"mounting the view there first if needed, and returns once the view shows it.\n"
		"For backup jobs that run the steps of 'stillfs exec' themselves. A pinned set\n"
		"cannot be deleted until it is unpinned.\n"
		"\n"
		"Options:\n"
		"  -v, --view MOUNTPOINT   the view\n"
		"      --passthrough       if pin mounts the view, mount it with --passthrough\n"
		"                          (see 'stillfs mount --help'); a view already mounted\n"
		"                          keeps the way it was mounted\n"
		"  -h, --help              show this help\n",
};

const struct command command_unpin = {
	.name = "unpin",
	.run = run_unpin,
	.summary = "empty current/ of a view",
	.help = "Usage: stillfs unpin [--view MOUNTPOINT]\n"
		"\n"
		"Empties MOUNTPOINT/current/ (default " CLI_DEFAULT_VIEW "). The view stays\n"
		"mounted; 'stillfs umount' unmounts it.\n"
		"\n"
		"Options:\n"
		"  -v, --view MOUNTPOINT   the view\n"
		"  -h, --help              show this help\n",
};
