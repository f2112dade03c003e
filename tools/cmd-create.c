// SPDX-License-Identifier: GPL-2.0-or-later
#include <getopt.h>

#include "cli.h"
#include "snapshot.h"

static void note_stderr(void *userdata, int error, const char *msg)
{
	if (error < 0)
		log_warning("%s", msg);
	else
		log_info("%s", msg);
}

static int run(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "label", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	_cleanup_catalog_ struct catalog *c = NULL;
	_cleanup_catalog_set_ struct catalog_set *set = NULL;
	struct snapshot_volume *vols = NULL;
	const char *label = NULL;
	struct errbuf eb = { "" };
	size_t n;
	int r, o;

	while ((o = getopt_long(argc, argv, "+l:h", opts, NULL)) >= 0) {
		switch (o) {
		case 'l':
			if (strlen(optarg) > 256 || strchr(optarg, '\n'))
				return cli_usage_error(&command_create,
						       "a label is one line of at most 256 bytes");
			label = optarg;
			break;
		case 'h':
			return cli_help(&command_create, stdout);
		default:
			return cli_bad_option(&command_create, argc, argv);
		}
	}
	if (optind >= argc)
		return cli_usage_error(&command_create, "name at least one volume");
	r = cli_require_root("create");
	if (r < 0)
		return r;
	/* refuse bad volumes before anything is made, the catalog included */
	n = (size_t)(argc - optind);
	r = snapshot_volumes_resolve(argv + optind, n, &vols, &eb);
	if (r < 0) {
		log_error("%s", eb.msg);
		return r;
	}
	r = cli_open_catalog(cli, CATALOG_CREATE, &c);
	if (r < 0) {
		snapshot_volumes_free(vols, n);
		return r;
	}
	/* finish what an earlier crash left before adding more */
	r = snapshot_gc(c, note_stderr, NULL, NULL);
	if (r < 0)
		log_warning_errno(r, "cleaning up earlier sets did not finish");

	r = snapshot_set_create(c, vols, n, label, &set, &eb);
	snapshot_volumes_free(vols, n);
	if (r < 0) {
		log_error("cannot create the set: %s", eb.msg);
		return r;
	}
	printf("%s\n", set->id);
	if (isatty(STDERR_FILENO))
		log_info("set %s (%s) of %zu volume%s is complete", set->id, set->token,
			 set->n_volumes, set->n_volumes == 1 ? "" : "s");
	return 0;
}

const struct command command_create = {
	.name = "create",
	.run = run,
	.summary = "take a snapshot set of one or more volumes",
	.help = "Usage: stillfs create [--label LABEL] VOLUME...\n"
		"\n"
		"Takes a snapshot set: one read-only btrfs snapshot of each VOLUME, recorded in\n"
		"the catalog as one set. A VOLUME is the path of a btrfs subvolume. Snapshots are\n"
		"stored on the volume's own filesystem in the root-only directory\n"
		"<mount point>/.stillfs/<catalog id>/ and are never shown in the view.\n"
		"\n"
		"The set is written to the catalog as 'creating' before any snapshot exists and\n"
		"marked 'complete' once all exist; if anything fails, the snapshots already\n"
		"taken are removed and the set is kept as 'failed' with the reason. Sets left\n"
		"half-made by a crash are cleaned up first (see 'stillfs gc').\n"
		"\n"
		"Each set is named in the view by its UTC time, @GMT-YYYY.MM.DD-HH.MM.SS; a set\n"
		"created in the same second as another waits for the next second, so that\n"
		"every name stands for one instant.\n"
		"\n"
		"Options:\n"
		"  -l, --label LABEL   a note kept with the set (one line, up to 256 bytes)\n"
		"  -h, --help          show this help\n"
		"\n"
		"Prints the new set's id on standard output. Exit status: 0 when the set is\n"
		"complete, 1 otherwise.\n",
};
