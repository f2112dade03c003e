// SPDX-License-Identifier: GPL-2.0-or-later
#include <getopt.h>
#include <stdarg.h>

#include "cli.h"

int cli_open_catalog(struct cli *cli, unsigned flags, struct catalog **ret)
{
	const char *p = cli->catalog_path;
	int r = catalog_open(p, flags, ret);

	if (r == -ENOENT)
		log_error("no catalog at '%s' (no set was ever created with it; "
			  "'stillfs create' makes one)",
			  p);
	else if (r == -EBADMSG)
		log_error("catalog '%s' is corrupt or not an SQLite database; left untouched", p);
	else if (r == -EMEDIUMTYPE)
		log_error("'%s' is not a stillfs catalog; left untouched", p);
	else if (r == -EPROTONOSUPPORT)
		log_error("catalog '%s' was written by a newer stillfs (schema newer than "
			  "version %d); left untouched",
			  p, CATALOG_SCHEMA_VERSION);
	else if (r == -EISDIR)
		log_error("catalog '%s' is a directory; give the path of a file", p);
	else if (r < 0)
		log_error_errno(r, "cannot open catalog '%s'", p);
	return r;
}

int cli_get_set(struct catalog *c, const char *id, struct catalog_set **ret)
{
	int r = catalog_set_get(c, id, ret);

	if (r == -ENOENT)
		log_error("no set '%s' (see 'stillfs list')", id);
	else if (r == -ENOTUNIQ)
		log_error("'%s' matches several sets; give more of the id", id);
	else if (r == -EBADMSG)
		log_error("set '%s': the catalog record is corrupt", id);
	else if (r < 0)
		log_error_errno(r, "cannot read set '%s'", id);
	return r;
}

int cli_require_root(const char *command)
{
	if (geteuid() == 0)
		return 0;
	log_error("'stillfs %s' must run as root: it takes and removes btrfs snapshots and "
		  "mounts FUSE views (try: sudo stillfs %s ...)",
		  command, command);
	return -EPERM;
}

int cli_help(const struct command *cmd, FILE *f)
{
	fputs(cmd->help, f);
	return 0;
}

int cli_usage_error(const struct command *cmd, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_error("%s: %s (see 'stillfs %s --help')", cmd->name, msg, cmd->name);
	return CLI_USAGE_ERROR;
}

int cli_bad_option(const struct command *cmd, int argc, char **argv)
{
	/* getopt has just stepped past the word it could not use */
	const char *word = optind > 0 && optind <= argc ? argv[optind - 1] : "";

	return cli_usage_error(cmd, "unknown option, or option without its value: '%s'", word);
}

static void put_escaped(FILE *f, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '\\')
			fputs("\\\\", f);
		else if (ch < 0x20 || ch == 0x7f)
			fprintf(f, "\\%03o", ch);
		else
			fputc(ch, f);
	}
}

void cli_print_path(FILE *f, const char *prefix, const char *path, size_t len)
{
	size_t pl = strlen(prefix);

	put_escaped(f, prefix, pl);
	if (pl && len)
		fputc('/', f);
	put_escaped(f, path, len);
	if (!pl && !len)
		fputc('.', f);
}

void cli_json_path(FILE *f, const char *prefix, const char *path, size_t len)
{
	size_t pl = strlen(prefix);
	_cleanup_free_ char *joined = malloc(pl + 1 + len + 2);

	if (!joined) {
		json_string_n(f, path, len);
		return;
	}
	memcpy(joined, prefix, pl);
	if (pl && len)
		joined[pl++] = '/';
	memcpy(joined + pl, path, len);
	pl += len;
	if (pl == 0)
		joined[pl++] = '.';
	json_string_n(f, joined, pl);
}
