// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Linear probing over a power-of-two table. A slot holding 0 is empty, so the
 * member 0 is kept outside the table in a flag; every other value, UINT64_MAX
 * included, lives in the table.
 */
#include <errno.h>
#include <stdlib.h>

#include "u64set.h"

#define U64SET_MIN_CAPACITY 16

struct u64set {
	uint64_t *slots; /* NULL until the first nonzero member */
	size_t capacity; /* a power of two, or 0 */
	size_t used;	 /* nonzero members in slots */
	bool has_zero;
};

/*
 * The splitmix64 finalizer: inode numbers are dense and sequential, and a
 * weak hash would cluster them into long probe runs.
 */
static uint64_t mix(uint64_t x)
{
	x ^= x >> 30;
	x *= UINT64_C(0xbf58476d1ce4e5b9);
	x ^= x >> 27;
	x *= UINT64_C(0x94d049bb133111eb);
	x ^= x >> 31;
	return x;
}

/* The slot that holds x, or the empty slot where it belongs. */
static size_t find_slot(const uint64_t *slots, size_t capacity, uint64_t x)
{
	size_t mask = capacity - 1, i = (size_t)mix(x) & mask;

	while (slots[i] != 0 && slots[i] != x)
		i = (i + 1) & mask;
	return i;
}

/* Whether one more member keeps the table at most 70% full. */
static bool fits(size_t used, size_t capacity)
{
	return used + 1 <= capacity / 10 * 7 + capacity % 10 * 7 / 10;
}

static int grow(struct u64set *s)
{
	size_t capacity = s->capacity ? s->capacity * 2 : U64SET_MIN_CAPACITY;
	uint64_t *slots;

	if (capacity < s->capacity || capacity > SIZE_MAX / sizeof(uint64_t))
		return -ENOMEM;
	slots = calloc(capacity, sizeof(uint64_t));
	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < s->capacity; i++)
		if (s->slots[i] != 0)
			slots[find_slot(slots, capacity, s->slots[i])] = s->slots[i];
	free(s->slots);
	s->slots = slots;
	s->capacity = capacity;
	return 0;
}

struct u64set *u64set_new(void)
{
	return calloc(1, sizeof(struct u64set));
}

void u64set_free(struct u64set *s)
{
	if (!s)
		return;
	free(s->slots);
	free(s);
}

int u64set_add(struct u64set *s, uint64_t x)
{
	size_t i;
	int r;

	if (x == 0) {
		if (s->has_zero)
			return 0;
		s->has_zero = true;
		return 1;
	}
	if (s->capacity > 0) {
		i = find_slot(s->slots, s->capacity, x);
		if (s->slots[i] == x)
			return 0;
		if (fits(s->used, s->capacity)) {
			s->slots[i] = x;
			s->used++;
			return 1;
		}
	}
	r = grow(s);
	if (r < 0)
		return r;
	s->slots[find_slot(s->slots, s->capacity, x)] = x;
	s->used++;
	return 1;
}

bool u64set_contains(const struct u64set *s, uint64_t x)
{
	if (x == 0)
		return s->has_zero;
	if (s->capacity == 0)
		return false;
	return s->slots[find_slot(s->slots, s->capacity, x)] == x;
}

size_t u64set_size(const struct u64set *s)
{
	return s->used + (s->has_zero ? 1 : 0);
}
