/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Byte counts as people write and read them: 512, 64K, 1.5 GiB (powers of 1024). */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Room for any count bytesize_format() writes. */
#define BYTESIZE_MAX 32

/* Writes "N B" below 1 KiB, else one decimal and a unit: "1.5 GiB". */
void bytesize_format(uint64_t bytes, char *buf, size_t size);

/*
 * Parses digits with an optional K, M, G or T suffix (KiB, MiB, GiB, TiB; "KiB"
 * and the like are accepted too). Returns 0, -EINVAL for anything else, or
 * -ERANGE past 2^64 - 1.
 */
int bytesize_parse(const char *s, uint64_t *ret);
