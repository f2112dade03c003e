/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Stopping a long-running program cleanly: SIGTERM and SIGINT set a flag that
 * its main loop polls, instead of killing it halfway through a write.
 */
#pragma once

#include <stdbool.h>

/* Installs the handlers. Returns 0 or -errno. */
int stop_signals_install(void);

/* Whether SIGTERM or SIGINT has arrived since stop_signals_install(). */
bool stop_requested(void);
