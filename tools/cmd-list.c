// SPDX-License-Identifier: GPL-2.0-or-later
/* list and show: what the catalog holds. */
#include <getopt.h>
#include <inttypes.h>

#include "cli.h"

static void json_manifest(FILE *f, struct catalog *c, const struct catalog_set *s, unsigned idx)
{
	struct catalog_manifest m;
	char hex[2 * MANIFEST_DIGEST_LEN + 1];

	if (catalog_manifest_get(c, s->seq, idx, &m) < 0 || !m.complete) {
		fputs(",\"manifest\":null", f);
		return;
	}
	manifest_digest_hex(m.digest, hex);
	fprintf(f,
		",\"manifest\":{\"method\":\"%s\",\"entries\":%" PRIu64 ",\"files\":%" PRIu64
		",\"bytes\":%" PRIu64 ",\"read_files\":%" PRIu64 ",\"read_bytes\":%" PRIu64
		",\"seconds\":%.3f,\"digest\":\"%s\"}",
		catalog_index_method_to_string(m.method), m.entries, m.files, m.bytes, m.read_files,
		m.read_bytes, (double)(m.finished_ns - m.started_ns) / 1e9, hex);
}

/* The files of volume `idx` that kept changing while copied, as a JSON array. */
static void json_problems(FILE *f, const struct catalog_set *s, unsigned idx)
{
	bool first = true;

	fputs(",\"inconsistent\":[", f);
	for (size_t i = 0; i < s->n_problems; i++) {
		const struct catalog_set_problem *p = &s->problems[i];

		if (p->volume != idx)
			continue;
		fputs(first ? "{\"path\":" : ",{\"path\":", f);
		json_string_n(f, p->path, strlen(p->path));
		json_field(f, "what", p->what);
		fputc('}', f);
		first = false;
	}
	fputc(']', f);
}

/* Text: how many files of volume `idx` kept changing while copied, and each. */
static void print_problems(const struct catalog_set *s, unsigned idx)
{
	size_t n = 0;

	for (size_t i = 0; i < s->n_problems; i++)
		n += s->problems[i].volume == idx;
	if (n == 0)
		return;
	printf("  inconsistent: %zu file%s kept changing while copied\n", n, n == 1 ? "" : "s");
	for (size_t i = 0; i < s->n_problems; i++) {
		const struct catalog_set_problem *p = &s->problems[i];

		if (p->volume != idx)
			continue;
		fputs("    ", stdout);
		cli_print_path(stdout, "", p->path, strlen(p->path));
		printf(": %s\n", p->what);
	}
}

/* The space of a volume's snapshot as show prints it (snapshot_space()'s result in `r`). */
static void print_space(const struct catalog_volume *v, int r, const struct snapshot_space *sp)
{
	char excl[BYTESIZE_MAX], refd[BYTESIZE_MAX];

	if (r == 0) {
		bytesize_format(sp->exclusive, excl, sizeof(excl));
		bytesize_format(sp->referenced, refd, sizeof(refd));
		printf("  space:    %s its own (what deleting the set gives back), %s in all\n",
		       excl, refd);
	} else if (r == -ENODATA) {
		printf("  space:    not counted: btrfs quotas are off on this filesystem "
		       "('btrfs quota enable %s' counts from then on)\n", v->path);
	} else if (r == -ESTALE) {
		printf("  space:    not counted now: btrfs quotas are being rescanned or need it "
		       "('btrfs quota rescan -w %s')\n", v->path);
	} else if (r == -ENOENT) {
		printf("  space:    none: the snapshot is gone\n");
	} else {
		printf("  space:    unknown: %s\n", strerror(-r));
	}
}

static void json_space(FILE *f, const struct catalog_volume *v)
{
	struct snapshot_space sp;

	fprintf(f, ",\"space\":");
	if (snapshot_space(v, &sp) == 0)
		fprintf(f, "{\"exclusive\":%" PRIu64 ",\"referenced\":%" PRIu64 "}", sp.exclusive,
			sp.referenced);
	else
		fputs("null", f);
}

static void json_set(FILE *f, struct catalog *c, const struct catalog_set *s, bool space)
{
	char created[ISO_TIME_MAX], completed[ISO_TIME_MAX];

	iso_time_format(s->created_ns, created, sizeof(created));
	fprintf(f, "{\"id\":");
	json_string(f, s->id);
	fprintf(f, ",\"seq\":%jd,\"token\":", (intmax_t)s->seq);
	json_string(f, s->token);
	json_field(f, "created", created);
	fprintf(f, ",\"completed\":");
	if (s->completed_ns > 0 && iso_time_format(s->completed_ns, completed,
						   sizeof(completed)) == 0)
		json_string(f, completed);
	else
		fputs("null", f);
	json_field(f, "state", catalog_set_state_to_string(s->state));
	json_field(f, "label", s->label);
	json_field(f, "reason", s->reason);
	fprintf(f, ",\"volumes\":[");
	for (size_t i = 0; i < s->n_volumes; i++) {
		const struct catalog_volume *v = &s->volumes[i];

		fprintf(f, "%s{\"index\":%u,\"path\":", i ? "," : "", v->index);
		json_string(f, v->path);
		json_field(f, "name", v->name);
		json_field(f, "provider", v->provider);
		json_field(f, "storage", v->storage);
		json_field(f, "snapshot", v->snapshot);
		json_field(f, "origin_uuid", v->origin_uuid);
		json_field(f, "snapshot_uuid", v->snapshot_uuid);
		json_manifest(f, c, s, v->index);
		json_problems(f, s, v->index);
		if (space)
			json_space(f, v);
		fputc('}', f);
	}
	fprintf(f, "],\"consistency\":");
	json_string(f, s->consistency);
	fprintf(f, ",\"hold_ns\":");
	if (s->hold_ns >= 0)
		fprintf(f, "%jd", (intmax_t)s->hold_ns);
	else
		fputs("null", f);
	fprintf(f, ",\"holds\":");
	json_strings(f, s->holds, s->n_holds);
	fprintf(f, ",\"frozen_filesystems\":");
	json_strings(f, s->frozen_fs, s->n_frozen_fs);
	fprintf(f, ",\"writers\":[");
	for (size_t i = 0; i < s->n_writers; i++) {
		const struct catalog_writer *w = &s->writers[i];

		fprintf(f, "%s{\"name\":", i ? "," : "");
		json_string(f, w->name);
		json_field(f, "path", w->path);
		json_field(f, "kind", w->kind);
		fprintf(f, ",\"phases\":{");
		for (size_t j = 0; j < w->n_phases; j++) {
			const struct catalog_writer_phase *p = &w->phases[j];

			fputs(j ? "," : "", f);
			json_string(f, p->phase);
			fprintf(f, ":{\"result\":");
			json_string(f, p->result);
			json_field(f, "message", p->message);
			fprintf(f, ",\"duration_ns\":%jd}", (intmax_t)p->duration_ns);
		}
		fprintf(f, "}}");
	}
	fprintf(f, "]}");
}

static int parse_common(const struct command *cmd, int argc, char **argv, bool *json)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	int o;

	while ((o = getopt_long(argc, argv, "+jh", opts, NULL)) >= 0) {
		switch (o) {
		case 'j':
			*json = true;
			break;
		case 'h':
			cli_help(cmd, stdout);
			return 1;
		default:
			return cli_bad_option(cmd, argc, argv);
		}
	}
	return 0;
}

static int run_list(struct cli *cli, int argc, char **argv)
{
	_cleanup_catalog_ struct catalog *c = NULL;
	struct catalog_set **sets = NULL;
	bool json = false;
	size_t n = 0;
	int r;

	r = parse_common(&command_list, argc, argv, &json);
	if (r != 0)
		return r < 0 ? r : 0;
	if (optind < argc)
		return cli_usage_error(&command_list, "unexpected argument '%s'", argv[optind]);
	r = cli_require_root("list");
	if (r < 0)
		return r;
	r = cli_open_catalog(cli, CATALOG_READONLY, &c);
	if (r < 0)
		return r;
	r = catalog_set_list(c, ~0u, &sets, &n);
	if (r < 0)
		return log_error_errno(r, "cannot list sets in '%s'", cli->catalog_path);

	if (json) {
		fputc('[', stdout);
		for (size_t i = 0; i < n; i++) {
			fputs(i ? ",\n" : "\n", stdout);
			json_set(stdout, c, sets[i], false);
		}
		fputs(n ? "\n]\n" : "]\n", stdout);
	} else {
		printf("%-8s  %-24s  %-8s  %-30s  %s\n", "ID", "NAME", "STATE", "VOLUMES",
		       "LABEL");
		for (size_t i = 0; i < n; i++) {
			const struct catalog_set *s = sets[i];

			printf("%-8s  %-24s  %-8s  ", s->id, s->token,
			       catalog_set_state_to_string(s->state));
			for (size_t j = 0; j < s->n_volumes; j++)
				printf("%s%s", j ? "," : "", s->volumes[j].path);
			printf("  %s\n", s->label ? s->label : "");
		}
	}
	catalog_sets_free(sets, n);
	return fflush(stdout) == 0 ? 0 : -EIO;
}

static int run_show(struct cli *cli, int argc, char **argv)
{
	_cleanup_catalog_ struct catalog *c = NULL;
	_cleanup_catalog_set_ struct catalog_set *s = NULL;
	char created[ISO_TIME_MAX], completed[ISO_TIME_MAX];
	struct catalog_manifest m;
	struct snapshot_space sp;
	bool json = false;
	int r;

	r = parse_common(&command_show, argc, argv, &json);
	if (r != 0)
		return r < 0 ? r : 0;
	if (argc - optind != 1)
		return cli_usage_error(&command_show, "name exactly one set");
	r = cli_require_root("show");
	if (r < 0)
		return r;
	r = cli_open_catalog(cli, CATALOG_READONLY, &c);
	if (r < 0)
		return r;
	r = cli_get_set(c, argv[optind], &s);
	if (r < 0)
		return r;
	if (json) {
		json_set(stdout, c, s, true);
		fputc('\n', stdout);
		return fflush(stdout) == 0 ? 0 : -EIO;
	}
	iso_time_format(s->created_ns, created, sizeof(created));
	printf("set:        %s\n", s->id);
	printf("name:       %s\n", s->token);
	printf("created:    %s\n", created);
	if (s->completed_ns > 0 &&
	    iso_time_format(s->completed_ns, completed, sizeof(completed)) == 0)
		printf("finished:   %s\n", completed);
	printf("state:      %s\n", catalog_set_state_to_string(s->state));
	if (s->label)
		printf("label:      %s\n", s->label);
	if (s->reason)
		printf("reason:     %s\n", s->reason);
	printf("consistency: %s\n", s->consistency ? s->consistency : "(not recorded)");
	if (s->hold_ns >= 0) {
		printf("hold:       %.1f ms", (double)s->hold_ns / 1e6);
		for (size_t i = 0; i < s->n_holds; i++)
			printf("%s %s", i ? "" : " of", s->holds[i]);
		for (size_t i = 0; i < s->n_frozen_fs; i++)
			printf("%s %s", i ? "" : s->n_holds ? "; filesystems frozen:" : ", filesystems frozen:",
			       s->frozen_fs[i]);
		printf("\n");
	}
	for (size_t i = 0; i < s->n_writers; i++) {
		const struct catalog_writer *w = &s->writers[i];

		printf("writer:     %s (%s, %s)\n", w->name, w->kind, w->path);
		for (size_t j = 0; j < w->n_phases; j++) {
			const struct catalog_writer_phase *p = &w->phases[j];

			printf("  %-8s  %-9s %8.1f ms%s%s\n", p->phase, p->result,
			       (double)p->duration_ns / 1e6, p->message ? "  " : "",
			       p->message ? p->message : "");
		}
	}
	for (size_t i = 0; i < s->n_volumes; i++) {
		const struct catalog_volume *v = &s->volumes[i];

		printf("volume %u:   %s\n", v->index, v->path);
		printf("  name:     %s\n", v->name);
		printf("  provider: %s\n", v->provider);
		printf("  snapshot: %s\n", v->snapshot ? v->snapshot : "(none)");
		if (v->snapshot_uuid)
			printf("  uuid:     %s\n", v->snapshot_uuid);
		r = snapshot_space(v, &sp);
		print_space(v, r, &sp);
		if (catalog_manifest_get(c, s->seq, v->index, &m) == 0 && m.complete) {
			char hex[2 * MANIFEST_DIGEST_LEN + 1];

			manifest_digest_hex(m.digest, hex);
			printf("  manifest: %" PRIu64 " entries, %" PRIu64 " files of %" PRIu64
			       " bytes (%s index, %" PRIu64 " files read, %.2f s)\n",
			       m.entries, m.files, m.bytes, catalog_index_method_to_string(m.method),
			       m.read_files, (double)(m.finished_ns - m.started_ns) / 1e9);
			printf("  digest:   %s\n", hex);
		} else {
			printf("  manifest: (none; see 'stillfs index')\n");
		}
		print_problems(s, v->index);
	}
	return fflush(stdout) == 0 ? 0 : -EIO;
}

const struct command command_list = {
	.name = "list",
	.run = run_list,
	.summary = "list the sets in the catalog",
	.help = "Usage: stillfs list [--json]\n"
		"\n"
		"Lists every set in the catalog, oldest first: its id, its name in the view\n"
		"(@GMT-...), its state (creating, complete, failed, deleting), its volumes and\n"
		"its label.\n"
		"\n"
		"Options:\n"
		"  -j, --json   print a JSON array of sets, as 'stillfs show --json' prints each\n"
		"               but without the space of each volume\n"
		"  -h, --help   show this help\n",
};

const struct command command_show = {
	.name = "show",
	.run = run_show,
	.summary = "show one set in detail",
	.help = "Usage: stillfs show [--json] ID\n"
		"\n"
		"Shows a set: id, name, creation and completion times (UTC), state, label, the\n"
		"reason it failed if it did, its consistency (application or crash), the hold's\n"
		"duration and cgroups, each writer's result, message and duration per phase,\n"
		"and for each volume its path, its name in the view, its provider and where its\n"
		"snapshot is stored, the space its snapshot takes now (its own: what deleting\n"
		"the set gives back; in all: everything it refers to; btrfs counts these only\n"
		"with quotas on, 'btrfs quota enable PATH'; a copy is measured by a walk of its\n"
		"tree), its manifest if it has one (see 'stillfs index'), and every\n"
		"file the copy provider could not copy as of one instant because it kept\n"
		"changing while copied ('inconsistent', with the path relative to the volume\n"
		"and the reason). ID is a set's id, a unique prefix of it (at least 4\n"
		"characters), or its @GMT-... name.\n"
		"\n"
		"Options:\n"
		"  -j, --json   print one JSON object: id, seq, token, created, completed, state,\n"
		"               label, reason, volumes[] (index, path, name, provider, storage,\n"
		"               snapshot, origin_uuid, snapshot_uuid, manifest: null or method,\n"
		"               entries, files, bytes, read_files, read_bytes, seconds, digest;\n"
		"               inconsistent[] (path, what), empty when none; space: null\n"
		"               or exclusive, referenced in bytes),\n"
		"               consistency, hold_ns,\n"
		"               holds[] (cgroups), frozen_filesystems[] (mount points),\n"
		"               writers[] (name, path, kind, phases{PHASE: result,\n"
		"               message, duration_ns})\n"
		"  -h, --help   show this help\n",
};
