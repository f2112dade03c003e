// SPDX-License-Identifier: GPL-2.0-or-later
/* Turning the volume paths a user typed into checked, canonical volumes. */
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>

#include "snapshot-internal.h"

#define NAME_MAX_KEEP 200

void snapshot_volumes_free(struct snapshot_volume *v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++) {
		free(v[i].path);
		free(v[i].name);
		free(v[i].storage_root);
		free(v[i].origin_uuid);
	}
	free(v);
}

/* "/var/lib/postgresql" -> "var-lib-postgresql"; "/" -> "root". */
static char *view_name(const char *path)
{
	char *name;

	if (streq(path, "/"))
		return strdup("root");
	name = strndup(path + 1, NAME_MAX_KEEP);
	if (!name)
		return NULL;
	for (char *p = name; *p; p++)
		if (*p == '/')
			*p = '-';
	return name;
}

static bool name_taken(const struct snapshot_volume *v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (streq(v[i].name, name))
			return true;
	return false;
}

/* Gives v[i] a name no earlier volume has, adding "~2", "~3"... where needed. */
static int assign_name(struct snapshot_volume *v, size_t i)
{
	_cleanup_free_ char *base = view_name(v[i].path);

	if (!base)
		return -ENOMEM;
	for (unsigned k = 1; k < 1000; k++) {
		char *name;

		if (k == 1)
			name = strdup(base);
		else if (asprintf(&name, "%s~%u", base, k) < 0)
			name = NULL;
		if (!name)
			return -ENOMEM;
		if (!name_taken(v, i, name)) {
			v[i].name = name;
			return 0;
		}
		free(name);
	}
	return -EEXIST;
}

int snapshot_volumes_resolve(char *const *paths, size_t n, const struct snapshot_volume_options *o,
			     struct snapshot_volume **ret, struct errbuf *eb)
{
	struct snapshot_volume *v;
	int r = 0;

	if (n == 0)
		return errbuf_setx(eb, -EINVAL, "no volume given");
	v = calloc(n, sizeof(*v));
	if (!v)
		return -ENOMEM;

	for (size_t i = 0; i < n; i++) {
		struct stat st;

		v[i].path = realpath(paths[i], NULL);
		if (!v[i].path) {
			r = errbuf_set(eb, -errno, "cannot protect '%s'", paths[i]);
			goto fail;
		}
		if (stat(v[i].path, &st) < 0) {
			r = errbuf_set(eb, -errno, "cannot protect '%s'", paths[i]);
			goto fail;
		}
		if (!S_ISDIR(st.st_mode)) {
			r = errbuf_setx(eb, -ENOTDIR,
					"cannot protect '%s': not a directory (a volume is a "
					"directory tree)",
					paths[i]);
			goto fail;
		}
		for (size_t j = 0; j < i; j++)
			if (streq(v[j].path, v[i].path)) {
				r = errbuf_setx(eb, -EEXIST,
						"volume '%s' is given twice ('%s' and '%s')",
						v[i].path, paths[j], paths[i]);
				goto fail;
			}
		r = snapshot_provider_probe(v[i].path, o, &v[i], eb);
		if (r < 0) {
			struct errbuf why = eb ? *eb : (struct errbuf){ "not supported" };

			r = errbuf_setx(eb, r, "%s%s", why.msg,
					r == -EMEDIUMTYPE && o && o->provider ?
						" (leave out --provider to have one chosen)" : "");
			goto fail;
		}
		r = assign_name(v, i);
		if (r < 0)
			goto fail;
	}
	*ret = v;
	return 0;
fail:
	snapshot_volumes_free(v, n);
	return r;
}
