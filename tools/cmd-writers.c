// SPDX-License-Identifier: GPL-2.0-or-later
/* writers: the registered writers and how each last did, like `vssadmin list writers`. */
#include <getopt.h>

#include "cli.h"
#include "snapshot.h"

static const struct catalog_writer_status *status_of(const struct catalog_writer_status *st,
						     size_t n, const char *path)
{
	for (size_t i = 0; i < n; i++)
		if (streq(st[i].path, path))
			return &st[i];
	return NULL;
}

static void print_one(const char *name, const char *kind, const char *path, bool registered,
		      const struct catalog_writer_status *s, bool json, bool first)
{
	char when[ISO_TIME_MAX] = "";

	if (s)
		iso_time_format(s->when_ns, when, sizeof(when));
	if (json) {
		fputs(first ? "\n" : ",\n", stdout);
		fputs("{\"name\":", stdout);
		json_string(stdout, name);
		json_field(stdout, "kind", kind);
		json_field(stdout, "path", path);
		printf(",\"registered\":%s,\"last\":", registered ? "true" : "false");
		if (!s) {
			fputs("null}", stdout);
			return;
		}
		fputs("{\"set\":", stdout);
		json_string(stdout, s->set_id);
		json_field(stdout, "time", when);
		json_field(stdout, "phase", s->phase);
		json_field(stdout, "result", s->result);
		json_field(stdout, "message", s->message);
		fputs("}}", stdout);
		return;
	}
	printf("writer:  %s (%s)%s\n", name, kind, registered ? "" : ", named with --writer");
	printf("  path:  %s\n", path);
	if (!s) {
		printf("  last:  never run with this catalog\n");
		return;
	}
	printf("  last:  %s at %s, set %s, %s\n", s->result, s->phase, s->set_id, when);
	if (s->message)
		printf("  said:  %s\n", s->message);
}

static int run(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "writers-dir", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	const char *dir = SNAPSHOT_DEFAULT_WRITERS_DIR;
	struct snapshot_writer_info *reg = NULL;
	struct catalog_writer_status *st = NULL;
	_cleanup_catalog_ struct catalog *c = NULL;
	struct errbuf eb = { "" };
	size_t n_reg = 0, n_st = 0;
	bool json = false, first = true;
	int r, o;

	while ((o = getopt_long(argc, argv, "+d:jh", opts, NULL)) >= 0) {
		switch (o) {
		case 'd':
			dir = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			return cli_help(&command_writers, stdout);
		default:
			return cli_bad_option(&command_writers, argc, argv);
		}
	}
	if (optind < argc)
		return cli_usage_error(&command_writers, "unexpected argument '%s'", argv[optind]);
	r = cli_require_root("writers");
	if (r < 0)
		return r;
	r = snapshot_writers_list(dir, &reg, &n_reg, note_stderr, NULL, &eb);
	if (r < 0) {
		log_error("%s", eb.msg);
		return r;
	}
	/* a missing catalog only means no writer has run yet */
	r = catalog_open(cli->catalog_path, CATALOG_READONLY, &c);
	if (r == 0)
		r = catalog_writer_status_list(c, &st, &n_st);
	else if (r != -ENOENT)
		cli_open_catalog(cli, CATALOG_READONLY, &c);
	if (r < 0 && r != -ENOENT)
		goto out;
	r = 0;

	if (json)
		fputc('[', stdout);
	else if (n_reg == 0 && n_st == 0)
		printf("no writers in '%s', and none has run with this catalog\n", dir);
	for (size_t i = 0; i < n_reg; i++) {
		print_one(reg[i].name, reg[i].kind, reg[i].path, true,
			  status_of(st, n_st, reg[i].path), json, first);
		first = false;
	}
	/* writers that ran with --writer, or were removed from the directory since */
	for (size_t i = 0; i < n_st; i++) {
		bool listed = false;

		for (size_t j = 0; j < n_reg && !listed; j++)
			listed = streq(reg[j].path, st[i].path);
		if (listed)
			continue;
		print_one(st[i].name, st[i].kind, st[i].path, false, &st[i], json, first);
		first = false;
	}
	if (json)
		fputs(first ? "]\n" : "\n]\n", stdout);
out:
	snapshot_writer_infos_free(reg, n_reg);
	catalog_writer_status_free(st, n_st);
	return r;
}

const struct command command_writers = {
	.name = "writers",
	.run = run,
	.summary = "list writers and how each last did",
	.help = "Usage: stillfs writers [--writers-dir DIR] [--json]\n"
		"\n"
		"Lists the writers that 'stillfs create' runs (the executables in the writers\n"
		"directory, default " SNAPSHOT_DEFAULT_WRITERS_DIR "), and those that ran\n"
		"before from elsewhere (--writer), each with its kind (hook or session) and its\n"
		"last result recorded in the catalog: the set, the time, the phase that decided\n"
		"it (the first that did not succeed, else the last) and the writer's message.\n"
		"\n"
		"Options:\n"
		"  -d, --writers-dir DIR   the writers directory to list\n"
		"  -j, --json              print a JSON array: name, kind, path, registered,\n"
		"                          last (set, time, phase, result, message) or null\n"
		"  -h, --help              show this help\n",
};
