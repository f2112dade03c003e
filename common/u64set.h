/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A set of 64-bit numbers (inode numbers), open addressing, growing as needed.
 * Memory is proportional to the number of members.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct u64set;

/* Returns a new empty set, or NULL when out of memory. Free with u64set_free(). */
struct u64set *u64set_new(void);
void u64set_free(struct u64set *s);
/* Adds x. Returns 1 when added, 0 when already a member, -ENOMEM. */
int u64set_add(struct u64set *s, uint64_t x);
bool u64set_contains(const struct u64set *s, uint64_t x);
size_t u64set_size(const struct u64set *s);
