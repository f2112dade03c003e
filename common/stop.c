// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>
#include <signal.h>

#include "stop.h"

static volatile sig_atomic_t stop_flag;

static void on_stop_signal(int sig)
{
	stop_flag = 1;
}

int stop_signals_install(void)
{
	struct sigaction sa = { .sa_handler = on_stop_signal };

	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0)
		return -errno;
	return 0;
}

bool stop_requested(void)
{
	return stop_flag != 0;
}
