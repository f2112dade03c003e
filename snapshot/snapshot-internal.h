/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Private to snapshot/. */
#pragma once

#include "snapshot.h"

extern const struct snapshot_provider snapshot_provider_btrfs;

/* Finds the provider that protects `path` and lets it fill `v`. */
int snapshot_provider_probe(const char *path, struct snapshot_volume *v, struct errbuf *eb);

#include "hold.h"
#include "writer.h"

struct snapshot_plan {
	struct snapshot_volume *volumes;
	size_t n_volumes;
	struct writer *writers;
	size_t n_writers;
	char **holds; /* canonical cgroup directories */
	size_t n_holds;
	const char *label;
	bool require_writers;
	int64_t prepare_timeout_ns;
	int64_t freeze_timeout_ns;
	int64_t hold_timeout_ns;
	int64_t post_timeout_ns;
};
