// SPDX-License-Identifier: GPL-2.0-or-later
/* diff: what changed between two sets, from their manifests. */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"

static const char *const kind_names[] = {
	[CATALOG_CHANGE_ADDED] = "added",
	[CATALOG_CHANGE_REMOVED] = "removed",
	[CATALOG_CHANGE_MODIFIED] = "modified",
	[CATALOG_CHANGE_METADATA] = "metadata",
	[CATALOG_CHANGE_RENAMED] = "renamed",
};

struct diff_out {
	bool json;
	bool first;
	const char *old_prefix;
	const char *new_prefix;
	uint64_t n;
};

static void json_fields(FILE *f, unsigned fields)
{
	bool first = true;

	fputs(",\"fields\":[", f);
	for (unsigned b = 1; b <= _CATALOG_FIELD_ALL; b <<= 1)
		if (fields & b) {
			fprintf(f, "%s\"%s\"", first ? "" : ",", catalog_field_name(b));
			first = false;
		}
	fputc(']', f);
}

static int print_change(void *userdata, const struct catalog_change *ch)
{
	struct diff_out *o = userdata;
	const char *prefix = ch->kind == CATALOG_CHANGE_REMOVED || ch->kind == CATALOG_CHANGE_RENAMED
				     ? o->old_prefix
				     : o->new_prefix;
	char fields[96];

	o->n++;
	if (o->json) {
		fputs(o->first ? "\n" : ",\n", stdout);
		o->first = false;
		printf("{\"change\":\"%s\",\"type\":\"%c\",\"path\":", kind_names[ch->kind], ch->type);
		cli_json_path(stdout, prefix, ch->path, ch->path_len);
		if (ch->kind == CATALOG_CHANGE_RENAMED) {
			fputs(",\"to\":", stdout);
			cli_json_path(stdout, o->new_prefix, ch->to, ch->to_len);
		}
		if (ch->kind == CATALOG_CHANGE_MODIFIED || ch->kind == CATALOG_CHANGE_METADATA)
			json_fields(stdout, ch->fields);
		fputc('}', stdout);
		return 0;
	}
	printf("%s\t", kind_names[ch->kind]);
	cli_print_path(stdout, prefix, ch->path, ch->path_len);
	if (ch->kind == CATALOG_CHANGE_RENAMED) {
		fputc('\t', stdout);
		cli_print_path(stdout, o->new_prefix, ch->to, ch->to_len);
	}
	if (ch->kind == CATALOG_CHANGE_MODIFIED || ch->kind == CATALOG_CHANGE_METADATA) {
		catalog_fields_format(ch->fields, fields, sizeof(fields));
		printf("\t%s", fields);
	}
	fputc('\n', stdout);
	return ferror(stdout) ? -EIO : 0;
}

static const struct catalog_volume *volume_by_path(const struct catalog_set *s, const char *path)
{
	for (size_t i = 0; i < s->n_volumes; i++)
		if (streq(s->volumes[i].path, path))
			return &s->volumes[i];
	return NULL;
}

static int need_manifest(struct catalog *c, const struct catalog_set *s,
			 const struct catalog_volume *v)
{
	struct catalog_manifest m;
	int r = catalog_manifest_get(c, s->seq, v->index, &m);

	if (r == -ENOENT || (r == 0 && !m.complete)) {
		log_error("set %s has no manifest of volume '%s'; run 'stillfs index %s' first",
			  s->id, v->name, s->id);
		return -ENOENT;
	}
	if (r < 0)
		return log_error_errno(r, "cannot read the manifests of set %s", s->id);
	return 0;
}

static int whole_volume(struct diff_out *o, enum catalog_change_kind kind,
			const struct catalog_volume *v)
{
	struct catalog_change ch = { .kind = kind, .path = "", .type = MANIFEST_DIR };

	o->old_prefix = o->new_prefix = v->name;
	return print_change(o, &ch);
}

static int run(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	_cleanup_catalog_ struct catalog *c = NULL;
	_cleanup_catalog_set_ struct catalog_set *s1 = NULL, *s2 = NULL;
	struct diff_out out = { .first = true };
	int o, r;

	while ((o = getopt_long(argc, argv, "+jh", opts, NULL)) >= 0) {
		switch (o) {
		case 'j':
			out.json = true;
			break;
		case 'h':
			return cli_help(&command_diff, stdout);
		default:
			return cli_bad_option(&command_diff, argc, argv);
		}
	}
	if (argc - optind != 2)
		return cli_usage_error(&command_diff, "name two sets");
	r = cli_open_catalog(cli, CATALOG_READONLY, &c);
	if (r < 0)
		return r;
	r = cli_get_set(c, argv[optind], &s1);
	if (r < 0)
		return r;
	r = cli_get_set(c, argv[optind + 1], &s2);
	if (r < 0)
		return r;
	for (size_t i = 0; i < s1->n_volumes; i++) {
		const struct catalog_volume *v2 = volume_by_path(s2, s1->volumes[i].path);

		r = need_manifest(c, s1, &s1->volumes[i]);
		if (r >= 0 && v2)
			r = need_manifest(c, s2, v2);
		if (r < 0)
			return r;
	}
	if (out.json)
		fputc('[', stdout);
	for (size_t i = 0; i < s2->n_volumes && r >= 0; i++) {
		const struct catalog_volume *v2 = &s2->volumes[i];
		const struct catalog_volume *v1 = volume_by_path(s1, v2->path);
		struct errbuf eb = { 0 };

		if (!v1) {
			r = whole_volume(&out, CATALOG_CHANGE_ADDED, v2);
			continue;
		}
		out.old_prefix = v1->name;
		out.new_prefix = v2->name;
		r = catalog_diff_volume(c, s1->seq, v1->index, s2->seq, v2->index, print_change,
					&out, &eb);
		if (r < 0)
			log_error("cannot compare volume '%s' of sets %s and %s: %s", v2->name, s1->id,
				  s2->id, eb.msg[0] ? eb.msg : strerror(-r));
	}
	for (size_t i = 0; i < s1->n_volumes && r >= 0; i++)
		if (!volume_by_path(s2, s1->volumes[i].path))
			r = whole_volume(&out, CATALOG_CHANGE_REMOVED, &s1->volumes[i]);
	if (out.json)
		fputs(out.first ? "]\n" : "\n]\n", stdout);
	return r;
}

const struct command command_diff = {
	.name = "diff",
	.run = run,
	.summary = "list what changed between two sets",
	.help = "Usage: stillfs diff [--json] ID1 ID2\n"
		"\n"
		"Lists what changed from set ID1 to set ID2, from their manifests (see 'stillfs\n"
		"index'; both sets need one of every volume they share). Volumes are matched by\n"
		"their path. One line per change, tab-separated:\n"
		"  modified  PATH  FIELDS    content (or type) changed, and maybe metadata\n"
		"  metadata  PATH  FIELDS    only metadata changed\n"
		"  renamed   OLD   NEW       the same inode at a new path (what lies beneath a\n"
		"                            renamed directory is not listed again)\n"
		"  removed   PATH\n"
		"  added     PATH\n"
		"FIELDS is a comma-separated list of: type, content, mode, owner, group, mtime,\n"
		"xattrs (extended attributes and ACLs), links. A directory whose entries\n"
		"changed shows its new mtime. ctime and atime are not compared. Content and\n"
		"metadata changes come first in path order, then renames, removals and\n"
		"additions. PATH starts with the volume's name, as in the view; a backslash,\n"
		"control characters and DEL in names are written as \\ooo octal escapes.\n"
		"\n"
		"A manifest found damaged is reported and not used.\n"
		"\n"
		"Options:\n"
		"  -j, --json   one JSON array of objects with change, type, path, to, fields\n"
		"  -h, --help   show this help\n"
		"\n"
		"Exit status: 0 when the sets could be compared (whatever changed), 1 otherwise.\n",
};
