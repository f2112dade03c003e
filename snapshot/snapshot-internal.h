/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Private to snapshot/. */
#pragma once

#include "snapshot.h"

extern const struct snapshot_provider snapshot_provider_btrfs;

/* Finds the provider that protects `path` and lets it fill `v`. */
int snapshot_provider_probe(const char *path, struct snapshot_volume *v, struct errbuf *eb);
