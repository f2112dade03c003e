// SPDX-License-Identifier: GPL-2.0-or-later
/* mount and umount: the view. */
#include <getopt.h>
#include <limits.h>
#include <sys/mount.h>

#include "cli.h"
#include "view.h"

static int run_mount(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "set", required_argument, NULL, 's' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "debug", no_argument, NULL, 'd' },
		{ "passthrough", no_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	struct view_options vo = { .catalog_path = cli->catalog_path };
	_cleanup_free_ char *mp = NULL;
	struct errbuf eb = { "" };
	int r, o;

	while ((o = getopt_long(argc, argv, "+s:fdph", opts, NULL)) >= 0) {
		switch (o) {
		case 's':
			vo.set_id = optarg;
			break;
		case 'f':
			vo.foreground = true;
			break;
		case 'd':
			vo.debug = true;
			vo.foreground = true;
			break;
		case 'p':
			vo.passthrough = true;
			break;
		case 'h':
			return cli_help(&command_mount, stdout);
		default:
			return cli_bad_option(&command_mount, argc, argv);
		}
	}
	if (argc - optind != 1)
		return cli_usage_error(&command_mount, "name exactly one mount point");
	r = cli_require_root("mount");
	if (r < 0)
		return r;
	mp = realpath(argv[optind], NULL);
	if (!mp)
		return log_error_errno(-errno, "cannot mount on '%s'", argv[optind]);
	vo.mountpoint = mp;
	r = view_run(&vo, &eb);
	if (r < 0 && eb.msg[0])
		log_error("%s", eb.msg);
	return r;
}

static int run_umount(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "lazy", no_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	_cleanup_free_ char *mp = NULL;
	struct mount_entry m;
	bool lazy = false;
	int r, o;

	while ((o = getopt_long(argc, argv, "+lh", opts, NULL)) >= 0) {
		switch (o) {
		case 'l':
			lazy = true;
			break;
		case 'h':
			return cli_help(&command_umount, stdout);
		default:
			return cli_bad_option(&command_umount, argc, argv);
		}
	}
	if (argc - optind != 1)
		return cli_usage_error(&command_umount, "name exactly one mount point");
	r = cli_require_root("umount");
	if (r < 0)
		return r;
	mp = realpath(argv[optind], NULL);
	if (!mp)
		return log_error_errno(-errno, "cannot unmount '%s'", argv[optind]);
	r = mountinfo_is_mount_point(mp, &m);
	if (r < 0)
		return log_error_errno(r, "cannot read the mount table");
	if (r == 0 || !streq(m.fstype, "fuse.stillfs")) {
		log_error("'%s' is not a stillfs view", mp);
		return -EINVAL;
	}
	if (umount2(mp, lazy ? MNT_DETACH : 0) < 0) {
		if (errno == EBUSY) {
			log_error("'%s' is busy: a process is using the view (see 'fuser -vm %s'), "
				  "or use --lazy",
				  mp, mp);
			return -EBUSY;
		}
		return log_error_errno(-errno, "cannot unmount '%s'", mp);
	}
	return 0;
}

const struct command command_mount = {
	.name = "mount",
	.run = run_mount,
	.summary = "show sets as a read-only filesystem",
	.help = "Usage: stillfs mount [--set ID] [--passthrough] [--foreground] MOUNTPOINT\n"
		"\n"
		"Mounts the view, a read-only FUSE filesystem, on MOUNTPOINT (an existing\n"
		"directory on which nothing is mounted) and returns once it is ready, the\n"
		"daemon serving it in the background (messages go to syslog). Without --set it\n"
		"shows every complete set of the catalog:\n"
		"\n"
		"  MOUNTPOINT/@GMT-YYYY.MM.DD-HH.MM.SS/VOLUME/...   one directory per set, one\n"
		"                                                 directory per volume inside\n"
		"  MOUNTPOINT/latest -> @GMT-...                  the newest complete set\n"
		"  MOUNTPOINT/current/VOLUME/...                  the set pinned for this view\n"
		"                                                 ('stillfs pin', 'stillfs exec')\n"
		"\n"
		"VOLUME is the volume's path with '/' turned into '-' (/srv is 'srv',\n"
		"/var/lib/postgresql is 'var-lib-postgresql'). Sets created or deleted while\n"
		"mounted appear and disappear within a second.\n"
		"\n"
		"Files show exactly as they were in the snapshot: content, holes of sparse\n"
		"files, mode, owner, times with nanoseconds, extended attributes and ACLs, hard\n"
		"links. Inode numbers are built from the set, the volume and the original inode\n"
		"number, so they are the same after a remount and two versions of a file never\n"
		"look like hard links of each other; in current/ they leave out the set, so an\n"
		"unchanged file looks the same from one pinned set to the next. The mount is\n"
		"ro,nosuid,nodev with allow_other and default_permissions: every user reads what\n"
		"the original permissions allowed, and no more. Every change fails with EROFS.\n"
		"\n"
		"Options:\n"
		"  -s, --set ID       show that set alone: its volume at the root when it has\n"
		"                     one, else one directory per volume\n"
		"  -p, --passthrough  let the kernel read open files straight from their\n"
		"                     snapshot (FUSE passthrough, Linux 6.9 or later): a large\n"
		"                     file reads nearly as fast as the snapshot itself and is\n"
		"                     cached once, but every open of a file costs a request to\n"
		"                     the daemon, so trees of many small files read slower than\n"
		"                     without it. A read that fails underneath fails with EIO,\n"
		"                     but the view never sees it and cannot log it. On a\n"
		"                     kernel without passthrough the view logs so and serves\n"
		"                     as without the option\n"
		"  -f, --foreground   serve in the foreground, logging to standard error\n"
		"  -d, --debug        serve in the foreground and log every request\n"
		"  -h, --help         show this help\n"
		"\n"
		"Unmount with 'stillfs umount MOUNTPOINT'.\n",
};

const struct command command_umount = {
	.name = "umount",
	.run = run_umount,
	.summary = "unmount a view",
	.help = "Usage: stillfs umount [--lazy] MOUNTPOINT\n"
		"\n"
		"Unmounts a view mounted by 'stillfs mount'; its daemon then exits. Refuses\n"
		"anything that is not a stillfs view.\n"
		"\n"
		"Options:\n"
		"  -l, --lazy   detach now even if busy; the view goes when no longer used\n"
		"  -h, --help   show this help\n",
};
