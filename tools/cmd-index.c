// SPDX-License-Identifier: GPL-2.0-or-later
/* index: a manifest of every volume of a set, incremental where possible. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

struct progress {
	const char *volume;
	bool tty;
	int64_t start_ns;
	bool shown;
};

static void show_progress(void *userdata, const struct catalog_index_progress *p)
{
	struct progress *pr = userdata;
	double secs = (double)(time_mono_ns() - pr->start_ns) / 1e9;
	double rate = secs > 0 ? (double)p->read_bytes / secs : 0;
	char done[32], total[48], speed[32], left[48] = "";

	if (!pr->tty)
		return;
	bytesize_format(p->read_bytes, done, sizeof(done));
	bytesize_format((uint64_t)rate, speed, sizeof(speed));
	total[0] = 0;
	if (p->expected_bytes > p->read_bytes && !p->done) {
		char t[32];

		bytesize_format(p->expected_bytes, t, sizeof(t));
		snprintf(total, sizeof(total), " of about %s", t);
		if (rate > 0) {
			uint64_t s = (uint64_t)((double)(p->expected_bytes - p->read_bytes) / rate);

			snprintf(left, sizeof(left), ", about %" PRIu64 ":%02" PRIu64 " left",
				 s / 60, s % 60);
		}
	}
	fprintf(stderr, "\r\033[Kindexing %s: %" PRIu64 " entries, %" PRIu64 " files read (%s%s), %s/s%s",
		pr->volume, p->entries, p->read_files, done, total, speed, left);
	if (p->done)
		fputc('\n', stderr);
	pr->shown = !p->done;
	fflush(stderr);
}

/* A deep tree keeps one directory open per level. */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* How the volume can be indexed: which method, on which base, with what the filesystem knows. */
static int choose_method(struct catalog *c, const struct catalog_set *s, const struct catalog_volume *v,
			 const struct snapshot_provider *prov, bool full, bool has_gen, uint64_t gen,
			 struct catalog_index_options *o, struct catalog_manifest *base,
			 struct u64set **ret_changed)
{
	_cleanup_catalog_set_ struct catalog_set *bs = NULL;
	int r;

	o->method = CATALOG_INDEX_FULL;
	if (full)
		return 0;
	r = catalog_manifest_find_base(c, s->seq, v->index, base);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	o->method = CATALOG_INDEX_STAT;
	o->base_set_seq = base->set_seq;
	o->base_vol_idx = base->vol_idx;
	o->expected_bytes = base->bytes;
	/*
	 * The filesystem's list of changes holds only between snapshots of the
	 * same origin, taken in that order.
	 */
	if (!has_gen || !base->has_generation || base->generation >= gen || !prov->changed_inodes)
		return 0;
	r = catalog_set_get_seq(c, base->set_seq, &bs);
	if (r < 0 || base->vol_idx >= bs->n_volumes)
		return 0;
	if (!v->origin_uuid || !bs->volumes[base->vol_idx].origin_uuid ||
	    !streq(v->origin_uuid, bs->volumes[base->vol_idx].origin_uuid) ||
	    !streq(bs->volumes[base->vol_idx].provider, v->provider))
		return 0;
	r = prov->changed_inodes(v->snapshot, base->generation, ret_changed);
	if (r < 0) {
		log_warning_errno(r, "cannot ask the filesystem what changed in '%s'; comparing "
				     "every entry instead",
				  v->snapshot);
		return 0;
	}
	o->method = CATALOG_INDEX_GENERATION;
	o->changed = *ret_changed;
	return 0;
}

static int index_volume(struct catalog *c, const struct catalog_set *s,
			const struct catalog_volume *v, bool full, bool quiet, FILE *out)
{
	const struct snapshot_provider *prov = snapshot_provider_find(v->provider);
	struct catalog_index_options o = { 0 };
	struct catalog_manifest base = { 0 }, m;
	struct u64set *changed = NULL;
	struct progress pr = { .volume = v->name, .tty = !quiet && isatty(STDERR_FILENO) };
	struct errbuf eb = { 0 };
	uint64_t gen = 0;
	bool has_gen = false;
	char bytes[32], read[32];
	int r;

	if (!v->snapshot) {
		log_error("set %s: volume '%s' has no snapshot", s->id, v->name);
		return -ENOENT;
	}
	if (!prov) {
		log_error("set %s: volume '%s' was made by an unknown provider '%s'", s->id,
			  v->name, v->provider);
		return -EPROTONOSUPPORT;
	}
	if (prov->generation) {
		r = prov->generation(v->snapshot, &gen);
		if (r < 0)
			return log_error_errno(r, "cannot read the snapshot '%s'", v->snapshot);
		has_gen = true;
	}
	r = choose_method(c, s, v, prov, full, has_gen, gen, &o, &base, &changed);
	if (r < 0) {
		u64set_free(changed);
		return log_error_errno(r, "cannot read the catalog's manifests");
	}
	if (o.method == CATALOG_INDEX_FULL) {
		struct statvfs sv;

		if (statvfs(v->snapshot, &sv) == 0)
			o.expected_bytes = (uint64_t)(sv.f_blocks - sv.f_bfree) * sv.f_frsize;
	}
	o.generation = has_gen ? &gen : NULL;
	o.progress = show_progress;
	o.userdata = &pr;
	pr.start_ns = time_mono_ns();
	r = catalog_index_volume(c, s->seq, v->index, v->snapshot, &o, &m, &eb);
	if (pr.shown)
		fputc('\n', stderr);
	if (r == -EBADMSG && o.method != CATALOG_INDEX_FULL) {
		/* a damaged base is never trusted: every file is read instead */
		log_warning("set %s: volume '%s': %s; reading every file instead", s->id, v->name,
			    eb.msg);
		o.method = CATALOG_INDEX_FULL;
		o.changed = NULL;
		o.base_set_seq = 0;
		pr.start_ns = time_mono_ns();
		eb.msg[0] = 0;
		r = catalog_index_volume(c, s->seq, v->index, v->snapshot, &o, &m, &eb);
		if (pr.shown)
			fputc('\n', stderr);
	}
	u64set_free(changed);
	if (r < 0) {
		log_error("set %s: volume '%s' not indexed: %s", s->id, v->name, eb.msg);
		return r;
	}
	bytesize_format(m.bytes, bytes, sizeof(bytes));
	bytesize_format(m.read_bytes, read, sizeof(read));
	if (!out)
		return 0;
	fprintf(out, "%s\t%s\t%s\t%" PRIu64 " entries\t%" PRIu64 " files\t%s\tread %" PRIu64
	       " files\t%s\t%.2f s\n",
	       s->id, v->name, catalog_index_method_to_string(m.method), m.entries, m.files, bytes,
	       m.read_files, read, (double)(m.finished_ns - m.started_ns) / 1e9);
	return 0;
}

int index_set(struct catalog *c, const struct catalog_set *s, bool full, bool quiet, FILE *out)
{
	int first = 0;

	if (s->state != CATALOG_SET_COMPLETE) {
		log_error("set %s is %s; only a complete set can be indexed", s->id,
			  catalog_set_state_to_string(s->state));
		return -EINVAL;
	}
	raise_nofile();
	for (size_t i = 0; i < s->n_volumes; i++) {
		int r = index_volume(c, s, &s->volumes[i], full, quiet, out);

		if (r < 0 && first == 0)
			first = r;
	}
	return first;
}

static int run(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "full", no_argument, NULL, 'f' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	_cleanup_catalog_ struct catalog *c = NULL;
	bool full = false, quiet = false;
	int o, r, first = 0;

	while ((o = getopt_long(argc, argv, "+fqh", opts, NULL)) >= 0) {
		switch (o) {
		case 'f':
			full = true;
			break;
		case 'q':
			quiet = true;
			break;
		case 'h':
			return cli_help(&command_index, stdout);
		default:
			return cli_bad_option(&command_index, argc, argv);
		}
	}
	if (optind >= argc)
		return cli_usage_error(&command_index, "name at least one set");
	r = cli_require_root("index");
	if (r < 0)
		return r;
	r = cli_open_catalog(cli, 0, &c);
	if (r < 0)
		return r;
	for (int i = optind; i < argc; i++) {
		_cleanup_catalog_set_ struct catalog_set *s = NULL;

		r = cli_get_set(c, argv[i], &s);
		if (r == 0)
			r = index_set(c, s, full, quiet, stdout);
		if (r < 0 && first == 0)
			first = r;
	}
	return first;
}

const struct command command_index = {
	.name = "index",
	.run = run,
	.summary = "record a manifest of every file of a set",
	.help = "Usage: stillfs index [OPTIONS] ID...\n"
		"\n"
		"Records in the catalog a manifest of every volume of each set: for every entry\n"
		"its path, type, mode, owner, group, size, mtime, ctime, inode number, link\n"
		"count, symlink target, a digest of its extended attributes (ACLs included) and,\n"
		"for regular files, the XXH3-128 digest of the content. 'stillfs diff' and\n"
		"'stillfs verify' work from manifests. Indexing a set again replaces its\n"
		"manifests once the new ones are complete; until then the old ones are used.\n"
		"\n"
		"Indexing is incremental when an earlier set of the same volume has a manifest:\n"
		"  generation  (btrfs) the filesystem lists the inodes changed since the earlier\n"
		"              snapshot; nothing else is looked at, so the cost follows the\n"
		"              amount of change, and a file rewritten with its size and mtime\n"
		"              put back is still read again\n"
		"  stat        (otherwise) every entry is looked at; a file whose inode, size,\n"
		"              mtime and ctime are unchanged is not read again\n"
		"  full        no earlier manifest, or --full: every file is read\n"
		"A file that cannot be read fails the volume's manifest (it is then absent, never\n"
		"partial).\n"
		"\n"
		"On a terminal, progress is shown on standard error. Prints one line per volume\n"
		"on standard output, tab-separated: set, volume, method, entries, files, their\n"
		"size, files read, bytes read, seconds.\n"
		"\n"
		"Options:\n"
		"  -f, --full    read every file again, whatever earlier manifests say\n"
		"  -q, --quiet   no progress display\n"
		"  -h, --help    show this help\n"
		"\n"
		"Exit status: 0 when every volume of every set was indexed, 1 otherwise.\n",
};
