// SPDX-License-Identifier: GPL-2.0-or-later
/* Everything a create needs, resolved and checked before anything is made. */
#include "snapshot-internal.h"

void snapshot_plan_free(struct snapshot_plan *p)
{
	if (!p)
		return;
	snapshot_volumes_free(p->volumes, p->n_volumes);
	writers_free(p->writers, p->n_writers);
	for (size_t i = 0; i < p->n_holds; i++)
		free(p->holds[i]);
	free(p->holds);
	free(p);
}

static int64_t or_default(int64_t v, int64_t def)
{
	return v > 0 ? v : def;
}


int snapshot_plan_new(char *const *volumes, size_t n_volumes,
		      const struct snapshot_create_options *o, struct snapshot_plan **ret,
		      struct errbuf *eb)
{
	struct snapshot_plan *p = calloc(1, sizeof(*p));
	int r;

	if (!p)
		return -ENOMEM;
	p->label = o->label;
	p->require_writers = o->require_writers;
	p->prepare_timeout_ns = or_default(o->prepare_timeout_ns, SNAPSHOT_DEFAULT_PREPARE_TIMEOUT_NS);
	p->freeze_timeout_ns = or_default(o->freeze_timeout_ns, SNAPSHOT_DEFAULT_FREEZE_TIMEOUT_NS);
	p->hold_timeout_ns = or_default(o->hold_timeout_ns, SNAPSHOT_DEFAULT_HOLD_TIMEOUT_NS);
	p->post_timeout_ns = or_default(o->post_timeout_ns, SNAPSHOT_DEFAULT_POST_TIMEOUT_NS);

	p->lock_timeout_ns = or_default(o->lock_timeout_ns, SNAPSHOT_DEFAULT_LOCK_TIMEOUT_NS);
	p->strict = o->strict;
	p->freeze_fs = o->freeze_fs;
	p->note = o->note;
	p->userdata = o->userdata;
	r = snapshot_volumes_resolve(volumes, n_volumes, &o->volumes, &p->volumes, eb);
	if (r < 0)
		goto fail;
	p->n_volumes = n_volumes;
	r = snapshot_space_check(p->volumes, p->n_volumes, &o->min_free, eb);
	if (r < 0)
		goto fail;

	r = writers_find(o->writers_dir, o->writer_paths, o->n_writer_paths, &p->writers,
			 &p->n_writers, o->note, o->userdata, eb);
	if (r < 0)
		goto fail;

	if (o->n_holds > 0) {
		p->holds = calloc(o->n_holds, sizeof(*p->holds));
		if (!p->holds) {
			r = -ENOMEM;
			goto fail;
		}
	}
	for (size_t i = 0; i < o->n_holds; i++) {
		r = hold_resolve(o->holds[i], &p->holds[p->n_holds], eb);
		if (r < 0)
			goto fail;
		for (size_t j = 0; j < p->n_holds; j++)
			if (streq(p->holds[j], p->holds[p->n_holds])) {
				r = errbuf_setx(eb, -EEXIST, "cgroup '%s' is held twice",
						p->holds[p->n_holds]);
				p->n_holds++;
				goto fail;
			}
		p->n_holds++;
	}
	*ret = p;
	return 0;
fail:
	snapshot_plan_free(p);
	return r;
}

int snapshot_writers_list(const char *dir, struct snapshot_writer_info **ret, size_t *ret_n,
			  snapshot_note_fn note, void *userdata, struct errbuf *eb)
{
	struct snapshot_writer_info *v;
	struct writer *ws = NULL;
	size_t n = 0;
	int r;

	r = writers_find(dir, NULL, 0, &ws, &n, note, userdata, eb);
	if (r < 0)
		return r;
	v = calloc(n ? n : 1, sizeof(*v));
	if (!v) {
		writers_free(ws, n);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		v[i].path = TAKE_PTR(ws[i].path);
		v[i].name = TAKE_PTR(ws[i].name);
		v[i].kind = ws[i].kind == WRITER_SESSION ? "session" : "hook";
	}
	writers_free(ws, n);
	*ret = v;
	*ret_n = n;
	return 0;
}

void snapshot_writer_infos_free(struct snapshot_writer_info *w, size_t n)
{
	for (size_t i = 0; w && i < n; i++) {
		free(w[i].path);
		free(w[i].name);
	}
	free(w);
}
