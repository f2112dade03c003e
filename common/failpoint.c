// SPDX-License-Identifier: GPL-2.0-or-later
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "failpoint.h"

void failpoint(const char *name)
{
	const char *want = getenv("STILLFS_FAILPOINT");

	if (want && strcmp(want, name) == 0)
		raise(SIGKILL);
}
