// SPDX-License-Identifier: GPL-2.0-or-later
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "macro.h"
#include "process.h"

static int read_boot_id(char buf[BOOT_ID_LEN])
{
	_cleanup_close_ int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, BOOT_ID_LEN - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

int process_id_get(pid_t pid, struct process_id *ret)
{
	char path[64], stat[1024];
	_cleanup_close_ int fd = -1;
	unsigned long long start;
	const char *p;
	ssize_t n;
	int r;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	n = read(fd, stat, sizeof(stat) - 1);
	if (n < 0)
		return -errno;
	stat[n] = '\0';
	/* the command name may hold spaces and parentheses: fields start after the last ')' */
	p = strrchr(stat, ')');
	if (!p)
		return -EINVAL;
	/* after ')' come fields 3..; start time is field 22 */
	if (sscanf(p + 2,
		   "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
		   &start) != 1)
		return -EINVAL;
	r = read_boot_id(ret->boot_id);
	if (r < 0)
		return r;
	ret->pid = pid;
	ret->start_time = start;
	return 0;
}

bool process_id_alive(const struct process_id *id)
{
	struct process_id now;

	if (process_id_get(id->pid, &now) < 0)
		return false;
	return streq(now.boot_id, id->boot_id) && now.start_time == id->start_time;
}
