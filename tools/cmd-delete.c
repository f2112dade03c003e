// SPDX-License-Identifier: GPL-2.0-or-later
/* delete and gc: removing sets and what crashes left. */
#include <getopt.h>

#include "cli.h"
#include "snapshot.h"

static int parse_help_only(const struct command *cmd, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	int o;

	while ((o = getopt_long(argc, argv, "+h", opts, NULL)) >= 0) {
		if (o == 'h') {
			cli_help(cmd, stdout);
			return 1;
		}
		return cli_bad_option(cmd, argc, argv);
	}
	return 0;
}

static int run_delete(struct cli *cli, int argc, char **argv)
{
	_cleanup_catalog_ struct catalog *c = NULL;
	int r, first = 0;

	r = parse_help_only(&command_delete, argc, argv);
	if (r != 0)
		return r < 0 ? r : 0;
	if (optind >= argc)
		return cli_usage_error(&command_delete, "name at least one set");
	r = cli_require_root("delete");
	if (r < 0)
		return r;
	r = cli_open_catalog(cli, 0, &c);
	if (r < 0)
		return r;
	/* every set named is tried, whatever happened to the one before */
	for (int i = optind; i < argc; i++) {
		_cleanup_catalog_set_ struct catalog_set *s = NULL;

		r = cli_get_set(c, argv[i], &s);
		if (r == 0) {
			char **views = NULL;

			if (catalog_pin_views(c, s->seq, &views) == 0 && views[0]) {
				log_error("set %s is pinned as current/ of the view '%s'; 'stillfs "
					  "unpin --view %s' first",
					  s->id, views[0], views[0]);
				r = -EBUSY;
			} else if (s->state == CATALOG_SET_CREATING &&
				   process_id_alive(&s->owner)) {
				log_error("set %s is being created by process %d; not deleted",
					  s->id, (int)s->owner.pid);
				r = -EBUSY;
			} else {
				r = snapshot_set_delete(c, s, note_stderr, NULL);
				if (r == -ESTALE)
					log_error("set %s changed meanwhile (another process is "
						  "deleting it?); not deleted",
						  s->id);
				else if (r < 0)
					log_error("set %s was not fully deleted; 'stillfs gc' "
						  "will retry",
						  s->id);
			}
			for (char **v = views; v && *v; v++)
				free(*v);
			free(views);
		}
		if (r < 0 && first == 0)
			first = r;
	}
	return first;
}

static int run_gc(struct cli *cli, int argc, char **argv)
{
	_cleanup_catalog_ struct catalog *c = NULL;
	unsigned cleaned = 0;
	int r;

	r = parse_help_only(&command_gc, argc, argv);
	if (r != 0)
		return r < 0 ? r : 0;
	if (optind < argc)
		return cli_usage_error(&command_gc, "unexpected argument '%s'", argv[optind]);
	r = cli_require_root("gc");
	if (r < 0)
		return r;
	r = cli_open_catalog(cli, 0, &c);
	if (r < 0)
		return r;
	r = snapshot_gc(c, note_stderr, NULL, &cleaned);
	if (r < 0)
		log_error("gc did not finish everything (%u item%s cleaned)", cleaned,
			  cleaned == 1 ? "" : "s");
	else
		log_info("gc: %u item%s cleaned", cleaned, cleaned == 1 ? "" : "s");
	return r;
}

const struct command command_delete = {
	.name = "delete",
	.run = run_delete,
	.summary = "delete sets and their snapshots",
	.help = "Usage: stillfs delete ID...\n"
		"\n"
		"Deletes each set: marks it 'deleting' in the catalog, removes each of its\n"
		"snapshots after checking that it is the very snapshot the set took, then\n"
		"removes the record. A set whose snapshots cannot all be removed stays\n"
		"'deleting' and 'stillfs gc' retries it. A view showing the set drops it within\n"
		"a second; a file already open in it may go on reading or return errors. ID is\n"
		"an id, a unique prefix of one (at least 4 characters), or an @GMT-... name.\n"
		"\n"
		"Options:\n"
		"  -h, --help   show this help\n"
		"\n"
		"Exit status: 0 when every set was deleted, 1 otherwise.\n",
};

const struct command command_gc = {
	.name = "gc",
	.run = run_gc,
	.summary = "clean up what interrupted runs left behind",
	.help = "Usage: stillfs gc\n"
		"\n"
		"Finishes what crashed or killed runs left: sets stuck in 'creating' whose\n"
		"creator is gone (their snapshots are removed, then the record), sets stuck in\n"
		"'deleting', snapshots in this catalog's storage directories that no set\n"
		"owns, and manifests left unfinished by an interrupted 'stillfs index'. Only snapshots whose identity shows they were taken by stillfs are\n"
		"removed. Goes on item by item and reports each. 'stillfs create' runs it first.\n"
		"\n"
		"Options:\n"
		"  -h, --help   show this help\n",
};
