// SPDX-License-Identifier: GPL-2.0-or-later
/* The stillfs command: global options, then one subcommand. */
#include <getopt.h>
#include <stdlib.h>

#include "cli.h"

static const struct command *const commands[] = {
	&command_create, &command_list, &command_show,   &command_delete,
	&command_gc,     &command_mount, &command_umount, &command_writers, &command_exec,
	&command_pin,    &command_unpin, &command_index, &command_diff, &command_verify,
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: stillfs [--catalog PATH] COMMAND [OPTIONS] [ARGS]\n"
		   "\n"
		   "stillfs takes consistent snapshot sets of live btrfs volumes, records them in a\n"
		   "catalog and shows them through a read-only FUSE view, so that any backup\n"
		   "program copies open, busy and locked files exactly as they were at one instant.\n"
		   "\n"
		   "Commands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(f, "  %-8s %s\n", commands[i]->name, commands[i]->summary);
	fprintf(f, "\n"
		   "Options:\n"
		   "  --catalog PATH   the catalog database (default: $STILLFS_CATALOG, else\n"
		   "                   " CATALOG_DEFAULT_PATH ")\n"
		   "  -h, --help       show this help; 'stillfs COMMAND --help' for a command\n"
		   "  -V, --version    show the version\n"
		   "\n"
		   "Typical use, as root:\n"
		   "  stillfs create /srv            take a set; prints its id\n"
		   "  stillfs mount /mnt/stillfs     show every set\n"
		   "  tar -cf backup.tar -C /mnt/stillfs/latest srv\n"
		   "  stillfs umount /mnt/stillfs\n"
		   "\n"
		   "Exit status: 0 on success, 1 on failure (one line on standard error says why),\n"
		   "2 for a usage error.\n");
}

/* Takes --catalog PATH / --catalog=PATH out of argv wherever it stands before "--". */
static int take_catalog_option(int *argc, char **argv, const char **ret)
{
	int w = 1;

	for (int i = 1; i < *argc; i++) {
		if (streq(argv[i], "--")) {
			while (i < *argc)
				argv[w++] = argv[i++];
			break;
		}
		if (streq(argv[i], "--catalog")) {
			if (i + 1 >= *argc)
				return -EINVAL;
			*ret = argv[++i];
			continue;
		}
		if (strncmp(argv[i], "--catalog=", 10) == 0) {
			*ret = argv[i] + 10;
			continue;
		}
		argv[w++] = argv[i];
	}
	*argc = w;
	argv[w] = NULL;
	return 0;
}

int main(int argc, char **argv)
{
	struct cli cli = { .catalog_path = getenv("STILLFS_CATALOG") };
	const char *name;
	int r;

	/* commands report bad options themselves, in one line */
	opterr = 0;
	if (!cli.catalog_path || !cli.catalog_path[0])
		cli.catalog_path = CATALOG_DEFAULT_PATH;
	if (take_catalog_option(&argc, argv, &cli.catalog_path) < 0) {
		log_error("--catalog needs a path");
		return 2;
	}
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	name = argv[1];
	if (streq(name, "-h") || streq(name, "--help") || streq(name, "help")) {
		usage(stdout);
		return 0;
	}
	if (streq(name, "-V") || streq(name, "--version")) {
		printf("stillfs %s\n", STILLFS_VERSION);
		return 0;
	}
	if (!cli.catalog_path[0]) {
		log_error("--catalog needs a path");
		return 2;
	}
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
		if (!streq(commands[i]->name, name))
			continue;
		optind = 1;
		r = commands[i]->run(&cli, argc - 1, argv + 1);
		if (fflush(stdout) != 0 && r == 0) {
			log_error("cannot write output: %m");
			r = -EIO;
		}
		if (r <= CLI_EXIT_STATUS(1) && r >= CLI_EXIT_STATUS(255))
			return CLI_EXIT_STATUS(0) - r;
		return r == CLI_USAGE_ERROR ? 2 : r < 0 ? 1 : 0;
	}
	log_error("unknown command '%s' (see 'stillfs --help')", name);
	return 2;
}
