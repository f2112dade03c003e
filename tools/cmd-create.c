// SPDX-License-Identifier: GPL-2.0-or-later
#include <getopt.h>
#include <signal.h>

#include "cli.h"
#include "snapshot.h"

void note_stderr(void *userdata, int error, const char *msg)
{
	if (error < 0)
		log_warning("%s", msg);
	else
		log_info("%s", msg);
}

/* Parses seconds (fractions allowed, 0 < s <= 1 day) into nanoseconds. */
static int parse_seconds(const char *s, int64_t *ret)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(v > 0) || v > 86400)
		return -EINVAL;
	*ret = (int64_t)(v * 1e9);
	return 0;
}

static int add_arg(char ***v, size_t *n, char *arg)
{
	char **grown = reallocarray(*v, *n + 1, sizeof(**v));

	if (!grown)
		return -ENOMEM;
	*v = grown;
	(*v)[(*n)++] = arg;
	return 0;
}

/* "5%" (of the filesystem's size) or a byte count such as "2G"; "0" asks for nothing */
static int parse_min_free(const char *s, struct snapshot_min_free *ret)
{
	size_t len = strlen(s);
	char *end;
	double p;

	if (len > 1 && s[len - 1] == '%') {
		if (s[0] < '0' || s[0] > '9')
			return -EINVAL;
		errno = 0;
		p = strtod(s, &end);
		if (errno || end != s + len - 1 || !(p >= 0 && p < 100))
			return -EINVAL;
		*ret = (struct snapshot_min_free){ .percent = p };
		return 0;
	}
	*ret = (struct snapshot_min_free){ 0 };
	return bytesize_parse(s, &ret->bytes);
}

int create_args_parse(const struct command *cmd, int argc, char **argv, bool exec,
		      struct create_args *a)
{
	enum {
		OPT_WRITERS_DIR = 0x100,
		OPT_NO_WRITERS,
		OPT_REQUIRE_WRITERS,
		OPT_HOLD_TIMEOUT,
		OPT_FREEZE_TIMEOUT,
		OPT_PREPARE_TIMEOUT,
		OPT_POST_TIMEOUT,
		OPT_KEEP,
		OPT_VIEW,
		OPT_PASSTHROUGH,
		OPT_INDEX,
		OPT_PROVIDER,
		OPT_STORAGE,
		OPT_LOCK_TIMEOUT,
		OPT_STRICT,
		OPT_FREEZE_FS,
		OPT_MIN_FREE,
	};
	static const struct option opts[] = {
		{ "label", required_argument, NULL, 'l' },
		{ "writer", required_argument, NULL, 'w' },
		{ "writers-dir", required_argument, NULL, OPT_WRITERS_DIR },
		{ "no-writers", no_argument, NULL, OPT_NO_WRITERS },
		{ "require-writers", no_argument, NULL, OPT_REQUIRE_WRITERS },
		{ "hold", required_argument, NULL, 'H' },
		{ "hold-timeout", required_argument, NULL, OPT_HOLD_TIMEOUT },
		{ "freeze-timeout", required_argument, NULL, OPT_FREEZE_TIMEOUT },
		{ "prepare-timeout", required_argument, NULL, OPT_PREPARE_TIMEOUT },
		{ "post-timeout", required_argument, NULL, OPT_POST_TIMEOUT },
		{ "keep", no_argument, NULL, OPT_KEEP },
		{ "view", required_argument, NULL, OPT_VIEW },
		{ "passthrough", no_argument, NULL, OPT_PASSTHROUGH },
		{ "index", no_argument, NULL, OPT_INDEX },
		{ "provider", required_argument, NULL, OPT_PROVIDER },
		{ "storage", required_argument, NULL, OPT_STORAGE },
		{ "lock-timeout", required_argument, NULL, OPT_LOCK_TIMEOUT },
		{ "strict", no_argument, NULL, OPT_STRICT },
		{ "freeze-fs", no_argument, NULL, OPT_FREEZE_FS },
		{ "min-free", required_argument, NULL, OPT_MIN_FREE },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	int64_t *timeout;
	int o;

	memset(a, 0, sizeof(*a));
	a->so.writers_dir = SNAPSHOT_DEFAULT_WRITERS_DIR;
	a->so.note = note_stderr;
	a->so.min_free.percent = SNAPSHOT_DEFAULT_MIN_FREE_PERCENT;
	a->view = CLI_DEFAULT_VIEW;
	while ((o = getopt_long(argc, argv, "+l:w:H:h", opts, NULL)) >= 0) {
		switch (o) {
		case 'l':
			if (strlen(optarg) > 256 || strchr(optarg, '\n'))
				return cli_usage_error(cmd, "a label is one line of at most 256 bytes");
			a->so.label = optarg;
			break;
		case 'w':
			if (add_arg(&a->writers, &a->so.n_writer_paths, optarg) < 0)
				return -ENOMEM;
			break;
		case OPT_WRITERS_DIR:
			a->so.writers_dir = optarg;
			break;
		case OPT_NO_WRITERS:
			a->so.writers_dir = NULL;
			break;
		case OPT_REQUIRE_WRITERS:
			a->so.require_writers = true;
			break;
		case 'H':
			if (add_arg(&a->holds, &a->so.n_holds, optarg) < 0)
				return -ENOMEM;
			break;
		case OPT_HOLD_TIMEOUT:
		case OPT_FREEZE_TIMEOUT:
		case OPT_PREPARE_TIMEOUT:
		case OPT_POST_TIMEOUT:
		case OPT_LOCK_TIMEOUT:
			timeout = o == OPT_HOLD_TIMEOUT	     ? &a->so.hold_timeout_ns
				  : o == OPT_FREEZE_TIMEOUT  ? &a->so.freeze_timeout_ns
				  : o == OPT_PREPARE_TIMEOUT ? &a->so.prepare_timeout_ns
				  : o == OPT_LOCK_TIMEOUT    ? &a->so.lock_timeout_ns
							     : &a->so.post_timeout_ns;
			if (parse_seconds(optarg, timeout) < 0)
				return cli_usage_error(cmd,
						       "'%s' is not a number of seconds (0 < s <= 86400)",
						       optarg);
			break;
		case OPT_INDEX:
			a->index = true;
			break;
		case OPT_PROVIDER:
			if (!snapshot_provider_find(optarg))
				return cli_usage_error(cmd, "there is no provider '%s' (btrfs, copy)",
						       optarg);
			a->so.volumes.provider = optarg;
			break;
		case OPT_STORAGE:
			if (optarg[0] != '/')
				return cli_usage_error(cmd, "--storage takes an absolute path");
			a->so.volumes.storage = optarg;
			break;
		case OPT_STRICT:
			a->so.strict = true;
			break;
		case OPT_FREEZE_FS:
			a->so.freeze_fs = true;
			break;
		case OPT_MIN_FREE:
			if (parse_min_free(optarg, &a->so.min_free) < 0)
				return cli_usage_error(cmd,
						       "--min-free takes a size (512M, 2G) or a "
						       "percentage below 100 (5%%), not '%s'",
						       optarg);
			break;
		case OPT_KEEP:
		case OPT_VIEW:
		case OPT_PASSTHROUGH:
			if (!exec)
				return cli_bad_option(cmd, argc, argv);
			if (o == OPT_KEEP)
				a->keep = true;
			else if (o == OPT_VIEW)
				a->view = optarg;
			else
				a->passthrough = true;
			break;
		case 'h':
			cli_help(cmd, stdout);
			return 1;
		default:
			return cli_bad_option(cmd, argc, argv);
		}
	}
	a->so.writer_paths = a->writers;
	a->so.holds = a->holds;
	return 0;
}

void create_args_release(struct create_args *a)
{
	free(a->writers);
	free(a->holds);
}

int create_set(struct cli *cli, struct create_args *a, char *const *volumes, size_t n,
	       struct catalog **ret_catalog, struct catalog_set **ret_set)
{
	_cleanup_catalog_ struct catalog *c = NULL;
	struct snapshot_plan *plan = NULL;
	struct errbuf eb = { "" };
	int r;

	/* refuse bad volumes, writers and cgroups before anything is made, the catalog included */
	r = snapshot_plan_new(volumes, n, &a->so, &plan, &eb);
	if (r < 0) {
		log_error("%s", eb.msg);
		return r;
	}
	r = cli_open_catalog(cli, CATALOG_CREATE, &c);
	if (r < 0)
		goto out;
	/* finish what an earlier crash left before adding more */
	r = snapshot_gc(c, note_stderr, NULL, NULL);
	if (r < 0)
		log_warning_errno(r, "cleaning up earlier sets did not finish");

	/* a session writer that dies must not kill us with SIGPIPE */
	signal(SIGPIPE, SIG_IGN);
	r = snapshot_set_create(c, plan, ret_set, &eb);
	if (r < 0) {
		log_error("cannot create the set: %s", eb.msg);
		goto out;
	}
	if ((*ret_set)->consistency && streq((*ret_set)->consistency, "crash") &&
	    (*ret_set)->n_writers > 0)
		log_warning("set %s is crash-consistent only: not every writer froze "
			    "(see 'stillfs show %s')",
			    (*ret_set)->id, (*ret_set)->id);
	*ret_catalog = TAKE_PTR(c);
out:
	snapshot_plan_free(plan);
	return r;
}

static int run(struct cli *cli, int argc, char **argv)
{
	_cleanup_catalog_ struct catalog *c = NULL;
	_cleanup_catalog_set_ struct catalog_set *set = NULL;
	struct create_args a;
	int r;

	r = create_args_parse(&command_create, argc, argv, false, &a);
	if (r != 0)
		goto out;
	if (optind >= argc) {
		r = cli_usage_error(&command_create, "name at least one volume");
		goto out;
	}
	r = cli_require_root("create");
	if (r < 0)
		goto out;
	r = create_set(cli, &a, argv + optind, (size_t)(argc - optind), &c, &set);
	if (r < 0)
		goto out;
	printf("%s\n", set->id);
	fflush(stdout);
	if (isatty(STDERR_FILENO))
		log_info("set %s (%s) of %zu volume%s is complete, %s-consistent", set->id,
			 set->token, set->n_volumes, set->n_volumes == 1 ? "" : "s",
			 set->consistency ? set->consistency : "crash");
	if (a.index) {
		r = index_set(c, set, false, false, isatty(STDERR_FILENO) ? stderr : NULL);
		if (r < 0)
			log_error("set %s is complete but its manifests were not all recorded; "
				  "'stillfs index %s' retries",
				  set->id, set->id);
	}
out:
	create_args_release(&a);
	return r < 0 ? r : 0;
}

const struct command command_create = {
	.name = "create",
	.run = run,
	.summary = "take a snapshot set of one or more volumes",
	.help = "Usage: stillfs create [OPTIONS] VOLUME...\n"
		"\n"
		"Takes a snapshot set: a point-in-time copy of each VOLUME (a directory tree),\n"
		"all of one instant, recorded in the catalog as one set. A provider makes each\n"
		"volume's copy:\n"
		"  btrfs  for a btrfs subvolume: a read-only snapshot, instant and atomic, kept\n"
		"         on the volume's own filesystem in the root-only directory\n"
		"         <mount point>/.stillfs/<catalog id>/, never shown in the view\n"
		"  copy   for any other directory (ext4, XFS, ...): a file-level copy in the\n"
		"         storage directory (--storage), each file as of one instant: copied\n"
		"         until it did not change while copied, else once more under a shared\n"
		"         lock of both kinds (fcntl and flock) that lock-respecting programs\n"
		"         such as SQLite wait for; a file that still changed is reported. Files\n"
		"         are cloned where the storage shares the volume's filesystem and it\n"
		"         has reflinks, hard links of the previous set's copy where they did not\n"
		"         change since (inode, size, mtime and ctime), copied otherwise. Nothing\n"
		"         outside the volume is ever read: no symlink is followed and no other\n"
		"         mount is entered (a mount point is copied as an empty directory). The\n"
		"         view shows original inode numbers, times, owners and link counts\n"
		"\n"
		"The sequence, each step bounded by a deadline:\n"
		"  1. the set is recorded as 'creating' (sets left half-made by a crash are\n"
		"     cleaned up first, as 'stillfs gc' does)\n"
		"  2. writers: 'prepare' (slow work: checkpoints, flushes), then 'freeze'\n"
		"  3. the hold: the processes of each --hold cgroup are frozen with the cgroup v2\n"
		"     freezer, the volumes' filesystems are synced, every snapshot is taken, the\n"
		"     cgroups are thawed; no write of a held process is in flight meanwhile, so\n"
		"     every volume shows the same instant; with --freeze-fs the volumes'\n"
		"     filesystems are then frozen too (FIFREEZE), and thawed before the cgroups.\n"
		"     With either, copies are made before the hold and refreshed inside it (what\n"
		"     changed since is copied again), so the hold stays short\n"
		"  4. writers: 'thaw' (always, for every writer whose freeze started), then\n"
		"     'post', or 'abort' when the set fails\n"
		"  5. the set is marked 'complete', 'application'-consistent when every writer\n"
		"     froze, else 'crash'-consistent\n"
		"A guard process outlives stillfs: if stillfs dies or the hold overruns its\n"
		"deadline, it thaws the filesystems and the cgroups and runs the thaw of hook\n"
		"writers; should both stillfs and its guard be killed, the next 'stillfs gc'\n"
		"(which every create runs first) thaws the filesystems the set recorded before\n"
		"freezing them, as 'fsfreeze --unfreeze MOUNTPOINT' would. Nothing is\n"
		"written to the catalog or logs while processes are held. On failure the\n"
		"snapshots already taken are removed and the set is kept as 'failed' with the\n"
		"reason.\n"
		"\n"
		"Writers are executables in the writers directory (default\n"
		SNAPSHOT_DEFAULT_WRITERS_DIR ") and those named with --writer. A hook is run\n"
		"once per phase as 'WRITER PHASE' (exit 0: done, 3: veto, other: failure; its\n"
		"last line of output is its message). A writer whose file name ends in\n"
		"'.session' is started once as 'WRITER session' and kept alive from prepare to\n"
		"post: it reads each phase name on a line and answers 'ok [MESSAGE]', 'fail\n"
		"MESSAGE' or 'veto MESSAGE'; when its input closes it must release what it\n"
		"holds. Writers get STILLFS_PHASE, STILLFS_SET_ID, STILLFS_SET_TOKEN and\n"
		"STILLFS_VOLUMES (one path per line). A writer that misses a deadline gets\n"
		"SIGTERM, then SIGKILL 2 s later, and is recorded as timed out.\n"
		"\n"
		"Each set is named by its UTC time, @GMT-YYYY.MM.DD-HH.MM.SS; a set created in\n"
		"the same second as another waits for the next second.\n"
		"\n"
		"Options:\n"
		"  -l, --label LABEL        a note kept with the set (one line, up to 256 bytes)\n"
		"  -w, --writer PATH        also run this writer (repeatable)\n"
		"      --writers-dir DIR    the writers directory\n"
		"      --no-writers         use no writers directory\n"
		"      --require-writers    fail the set when any writer fails, vetoes or times out\n"
		"                           (default: keep it, recorded as crash-consistent)\n"
		"  -H, --hold CGROUP        hold this cgroup v2 directory, or unit:NAME.service\n"
		"                           for a systemd unit's cgroup (repeatable)\n"
		"      --hold-timeout S     longest hold, in seconds (default 10)\n"
		"      --freeze-timeout S   deadline of each writer's freeze (default 60)\n"
		"      --prepare-timeout S  deadline of each writer's prepare (default 600)\n"
		"      --post-timeout S     deadline of thaw, post and abort (default 60)\n"
		"      --provider NAME      use this provider for every volume (btrfs, copy)\n"
		"                           instead of the first that accepts it\n"
		"      --storage DIR        where the copy provider keeps its copies (default\n"
		"                           " SNAPSHOT_COPY_DEFAULT_STORAGE "); made root-only;\n"
		"                           refused inside a volume\n"
		"      --lock-timeout S     copy: how long to wait for a shared lock on a file\n"
		"                           that keeps changing (default 10)\n"
		"      --strict             copy: fail the set when a file could not be copied\n"
		"                           as of one instant (default: keep it and warn)\n"
		"      --freeze-fs          copy: freeze each volume's filesystem (FIFREEZE) for\n"
		"                           the refresh in the hold, so that no process at all\n"
		"                           writes to it, held or not; the storage must be on\n"
		"                           another filesystem, and the filesystems of /, the\n"
		"                           catalog and the stillfs program are refused. Every\n"
		"                           process that writes to a frozen filesystem waits;\n"
		"                           the freeze ends within --hold-timeout\n"
		"      --min-free SIZE      refuse to start when the filesystem where a volume's\n"
		"                           snapshots go (btrfs: the volume's; copy: the\n"
		"                           storage's) has less free space than SIZE: a share\n"
		"                           of its size (5%) or bytes (512M, 2G); 0 checks\n"
		"                           nothing (default 5%)\n"
		"      --index              then record the set's manifests, as 'stillfs index'\n"
		"                           does (the id is printed first; a failure to index\n"
		"                           leaves the set complete and exits 1)\n"
		"  -h, --help               show this help\n"
		"\n"
		"SIGINT and SIGTERM wait until the set is finished or rolled back. Prints the\n"
		"new set's id on standard output. Exit status: 0 when the set is complete\n"
		"(whatever its consistency), 1 otherwise, 2 for a usage error.\n",
};
