// SPDX-License-Identifier: GPL-2.0-or-later
#include <stdio.h>

#include "macro.h"
#include "mountinfo.h"

/* Undoes the octal escapes (\040 for space and so on) the kernel writes. */
static void unescape(char *s)
{
	char *w = s;

	for (char *r = s; *r; r++) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
		    r[3] >= '0' && r[3] <= '7') {
			*w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
			r += 3;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
}

static bool path_is_under(const char *path, const char *mp)
{
	size_t n = strlen(mp);

	if (streq(mp, "/"))
		return true;
	return strncmp(path, mp, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

static int parse_line(char *line, struct mount_entry *e)
{
	char *save = NULL, *tok, *sep;
	int field = 0;

	sep = strstr(line, " - ");
	if (!sep)
		return -EINVAL;
	*sep = '\0';
	for (tok = strtok_r(line, " ", &save); tok; tok = strtok_r(NULL, " ", &save), field++) {
		if (field == 2 && sscanf(tok, "%u:%u", &e->major, &e->minor) != 2)
			return -EINVAL;
		else if (field == 3)
			snprintf(e->root, sizeof(e->root), "%s", tok);
		else if (field == 4)
			snprintf(e->mount_point, sizeof(e->mount_point), "%s", tok);
	}
	if (field < 5)
		return -EINVAL;
	save = NULL;
	tok = strtok_r(sep + 3, " \n", &save);
	if (!tok)
		return -EINVAL;
	snprintf(e->fstype, sizeof(e->fstype), "%s", tok);
	tok = strtok_r(NULL, " \n", &save);
	snprintf(e->source, sizeof(e->source), "%s", tok ? tok : "");
	unescape(e->root);
	unescape(e->mount_point);
	unescape(e->source);
	return 0;
}

static int scan(const char *path, bool exact, struct mount_entry *ret)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	_cleanup_free_ char *line = NULL;
	size_t cap = 0, best = 0;
	bool found = false;
	struct mount_entry e;

	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		size_t len;

		if (parse_line(line, &e) < 0)
			continue;
		if (exact ? !streq(e.mount_point, path) : !path_is_under(path, e.mount_point))
			continue;
		len = strlen(e.mount_point);
		/* later lines are mounted on top of earlier ones at the same point */
		if (!found || len >= best) {
			best = len;
			if (ret)
				*ret = e;
			found = true;
		}
	}
	fclose(f);
	return found ? 1 : 0;
}

int mountinfo_find(const char *path, struct mount_entry *ret)
{
	int r = scan(path, false, ret);

	return r < 0 ? r : r == 0 ? -ENOENT : 0;
}

int mountinfo_is_mount_point(const char *path, struct mount_entry *ret)
{
	return scan(path, true, ret);
}
