/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Shared by the stillfs command's subcommands. */
#pragma once

#include <stdio.h>

#include "catalog.h"
#include "common.h"
#include "snapshot.h"

struct cli {
	const char *catalog_path;
};

struct command {
	const char *name;
	int (*run)(struct cli *cli, int argc, char **argv);
	const char *summary;
	const char *help; /* usage and description, printed by --help */
};

/* Opens the catalog, saying clearly on stderr why it cannot be. */
int cli_open_catalog(struct cli *cli, unsigned flags, struct catalog **ret);
/* Finds a set by id, prefix or token, saying clearly on stderr why it cannot. */
int cli_get_set(struct catalog *c, const char *id, struct catalog_set **ret);
/* Refuses to go on unless running as root. */
int cli_require_root(const char *command);
/* Prints a command's help; returns 0. */
int cli_help(const struct command *cmd, FILE *f);
/* What a command returns for a usage error; the command exits with status 2. */
#define CLI_USAGE_ERROR (-1000)
/* What a command returns to exit with status n (1..255), as exec does with its command's. */
#define CLI_EXIT_STATUS(n) (-2000 - (n))

/* A bad option or argument count: prints one line and returns CLI_USAGE_ERROR. */
int cli_usage_error(const struct command *cmd, const char *fmt, ...) _printf_(2, 3);
/* For getopt's '?': names the option that was not understood. */
int cli_bad_option(const struct command *cmd, int argc, char **argv);

/* Where stillfs exec and pin find (or mount) the view by default. */
#define CLI_DEFAULT_VIEW "/run/stillfs/view"

/* create's options, shared with exec (which adds --keep and --view). */
struct create_args {
	struct snapshot_create_options so;
	char **writers;
	char **holds;
	bool keep;
	bool index; /* --index: record the set's manifests once it is complete */
	const char *view;
	bool passthrough; /* exec --passthrough: a view that exec mounts reads by passthrough */
};

/* Parses options up to the volumes; 1 after --help, 0, or a negative error. */
int create_args_parse(const struct command *cmd, int argc, char **argv, bool exec,
		      struct create_args *a);
void create_args_release(struct create_args *a);
/* Plans, opens the catalog, runs gc and creates the set, saying why on failure. */
int create_set(struct cli *cli, struct create_args *a, char *const *volumes, size_t n,
	       struct catalog **ret_catalog, struct catalog_set **ret_set);
/* Shows snapshot notes on standard error. */
void note_stderr(void *userdata, int error, const char *msg);

/* Minimal JSON output. */
void json_string(FILE *f, const char *s);
/* The same for `len` bytes that need not end in NUL. */
void json_string_n(FILE *f, const char *s, size_t len);
/* A JSON array of strings. */
void json_strings(FILE *f, char *const *list, size_t n);
/* Writes ,"name":"value" (value may be NULL: null). */
void json_field(FILE *f, const char *name, const char *value);

/*
 * Writes a path for line-oriented output: `prefix` and `path` joined by '/'
 * (either may be empty), with backslash, control bytes and DEL written as
 * \ooo octal escapes, so that every path is one line without tabs.
 */
void cli_print_path(FILE *f, const char *prefix, const char *path, size_t len);
/* The same path, joined, as a JSON string. */
void cli_json_path(FILE *f, const char *prefix, const char *path, size_t len);

/*
 * Indexes every volume of a complete set (stillfs index, create --index),
 * writing one summary line per volume to `out` (may be NULL).
 */
int index_set(struct catalog *c, const struct catalog_set *s, bool full, bool quiet, FILE *out);

extern const struct command command_index, command_diff, command_verify;
extern const struct command command_create, command_list, command_show, command_delete,
	command_gc, command_mount, command_umount, command_writers, command_exec, command_pin,
	command_unpin;
