// SPDX-License-Identifier: GPL-2.0-or-later
/* verify: a backup compared with a set's manifests. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>

#include "cli.h"

struct verify_out {
	bool archive;
	size_t n_vols;
};

static const char *const kind_names[] = {
	[CATALOG_PROBLEM_MISSING] = "missing",
	[CATALOG_PROBLEM_EXTRA] = "extra",
	[CATALOG_PROBLEM_CONTENT] = "content",
	[CATALOG_PROBLEM_METADATA] = "metadata",
};

static int print_problem(void *userdata, const struct catalog_problem *p)
{
	const char *prefix = "";
	char fields[96];

	if (p->volume)
		prefix = p->volume->prefix;
	printf("%s\t", kind_names[p->kind]);
	cli_print_path(stdout, prefix, p->path, p->path_len);
	if (p->kind == CATALOG_PROBLEM_CONTENT || p->kind == CATALOG_PROBLEM_METADATA) {
		catalog_fields_format(p->fields, fields, sizeof(fields));
		printf("\t%s", fields);
	}
	fputc('\n', stdout);
	return ferror(stdout) ? -EIO : 0;
}

static int run(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "tar", required_argument, NULL, 't' },
		{ "archive", required_argument, NULL, 't' },
		{ "ignore", required_argument, NULL, 'i' },
		{ "volume", required_argument, NULL, 'v' },
		{ "prefix", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	_cleanup_catalog_ struct catalog *c = NULL;
	_cleanup_catalog_set_ struct catalog_set *s = NULL;
	_cleanup_free_ struct catalog_verify_volume *vols = NULL;
	_cleanup_free_ char **paths = NULL;
	const char *archive = NULL, *volume = NULL, *prefix = NULL, *copy = NULL;
	struct catalog_verify_options vo = { .fn = print_problem };
	struct catalog_verify_stats st = { 0 };
	struct errbuf eb = { 0 };
	size_t n = 0;
	int o, r;

	while ((o = getopt_long(argc, argv, "t:i:v:p:h", opts, NULL)) >= 0) {
		switch (o) {
		case 't':
			archive = optarg;
			break;
		case 'i':
			if (catalog_fields_parse(optarg, &vo.ignore) < 0)
				return cli_usage_error(&command_verify,
						       "--ignore takes a comma-separated list of: type, "
						       "content, mode, owner, group, mtime, xattrs, links");
			break;
		case 'v':
			volume = optarg;
			break;
		case 'p':
			prefix = optarg;
			break;
		case 'h':
			return cli_help(&command_verify, stdout);
		default:
			return cli_bad_option(&command_verify, argc, argv);
		}
	}
	if (argc - optind != (archive ? 1 : 2))
		return cli_usage_error(&command_verify, archive ? "name a set, and the archive with --tar"
								: "name a set and the copy's directory");
	if (!archive)
		copy = argv[optind + 1];
	if (prefix && !archive)
		return cli_usage_error(&command_verify, "--prefix is for archives");
	r = cli_open_catalog(cli, CATALOG_READONLY, &c);
	if (r < 0)
		return r;
	r = cli_get_set(c, argv[optind], &s);
	if (r < 0)
		return r;
	vols = calloc(s->n_volumes, sizeof(*vols));
	paths = calloc(s->n_volumes, sizeof(*paths));
	if (!vols || !paths)
		{ log_error("out of memory"); return -ENOMEM; }
	for (size_t i = 0; i < s->n_volumes; i++) {
		const struct catalog_volume *v = &s->volumes[i];
		bool alone = volume || s->n_volumes == 1;

		if (volume && !streq(volume, v->name))
			continue;
		vols[n].vol_idx = v->index;
		if (archive) {
			vols[n].prefix = prefix ? prefix : alone ? "" : v->name;
		} else if (alone) {
			vols[n].copy_path = copy;
			vols[n].prefix = "";
		} else {
			if (asprintf(&paths[n], "%s/%s", copy, v->name) < 0)
				{ log_error("out of memory"); return -ENOMEM; }
			vols[n].copy_path = paths[n];
			vols[n].prefix = v->name;
		}
		n++;
	}
	if (n == 0) {
		log_error("set %s has no volume '%s'", s->id, volume);
		r = -ENOENT;
		goto out;
	}
	if (archive) {
		struct manifest_archive *a = NULL;

		r = manifest_archive_open(archive, &a);
		if (r < 0) {
			log_error_errno(r, "cannot open the archive '%s'", archive);
			goto out;
		}
		r = catalog_verify_archive(c, s->seq, a, vols, n, &vo, &st, &eb);
		manifest_archive_free(a);
	} else {
		r = catalog_verify_dir(c, s->seq, vols, n, &vo, &st, &eb);
	}
	if (r < 0) {
		log_error("cannot verify against set %s: %s", s->id, eb.msg[0] ? eb.msg : strerror(-r));
		goto out;
	}
	fflush(stdout);
	if (st.missing + st.extra + st.content + st.metadata == 0) {
		log_info("verify: %" PRIu64 " entries compared: the copy matches set %s", st.checked,
			 s->id);
		r = 0;
	} else {
		log_error("verify: %" PRIu64 " entries compared; %" PRIu64 " missing, %" PRIu64
			  " extra, %" PRIu64 " with different content, %" PRIu64
			  " with different metadata: the copy does not match set %s",
			  st.checked, st.missing, st.extra, st.content, st.metadata, s->id);
		r = -EBADE;
	}
out:
	for (size_t i = 0; i < s->n_volumes; i++)
		free(paths[i]);
	return r;
}

const struct command command_verify = {
	.name = "verify",
	.run = run,
	.summary = "check a backup against a set's manifest",
	.help = "Usage: stillfs verify [OPTIONS] ID DIRECTORY\n"
		"       stillfs verify [OPTIONS] ID --tar ARCHIVE\n"
		"\n"
		"Compares a copy of set ID with the set's manifests (see 'stillfs index'): a\n"
		"directory (a restored backup), or an archive read as a stream (tar in any\n"
		"format libarchive reads, compressed or not; '-' is standard input). For a set of\n"
		"one volume (or with --volume) the copy holds that volume's files; for several,\n"
		"one directory per volume, named as in the view. Each manifest is checked whole\n"
		"first; a damaged one is reported and not used.\n"
		"\n"
		"Reports every problem, one line each, tab-separated, on standard output:\n"
		"  missing   PATH          in the set, not in the copy\n"
		"  extra     PATH          in the copy, not in the set\n"
		"  content   PATH  FIELDS  content or type differ (and maybe metadata)\n"
		"  metadata  PATH  FIELDS  only metadata differ\n"
		"FIELDS: type, content, mode, owner, group, mtime, xattrs (extended attributes\n"
		"and ACLs), links (a file's link count; not known from archives). A copy whose\n"
		"mtime has no fraction of a second (as GNU tar's default format stores it) is\n"
		"compared in whole seconds. Inode numbers, ctime and atime are not compared.\n"
		"PATH is relative to the copy; control characters are written as \\ooo. A\n"
		"summary follows on standard error.\n"
		"\n"
		"Options:\n"
		"  -t, --tar ARCHIVE     read the copy from an archive\n"
		"  -i, --ignore FIELDS   do not compare these (for example owner,group for a\n"
		"                        copy restored by a user who is not root, or xattrs for\n"
		"                        an archive made without them)\n"
		"  -v, --volume NAME     compare only this volume of the set\n"
		"  -p, --prefix PATH     the archive holds the copy beneath this member path\n"
		"                        (for example the volume's name, when it was made from\n"
		"                        the view's history directory)\n"
		"  -h, --help            show this help\n"
		"\n"
		"Exit status: 0 when the copy matches, 1 when it does not or cannot be read,\n"
		"2 for a usage error.\n",
};
