// SPDX-License-Identifier: GPL-2.0-or-later
/* Direct reads of a snapshot's files: see direct-read.h. */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "direct-read.h"

bool direct_read_enable(int fd)
{
	int flags = fcntl(fd, F_GETFL);

	return flags >= 0 && fcntl(fd, F_SETFL, flags | O_DIRECT) == 0;
}

/* Whether `fd` read directly and now no longer does. */
static bool direct_read_disable(int fd)
{
	int flags = fcntl(fd, F_GETFL);

	return flags >= 0 && (flags & O_DIRECT) && fcntl(fd, F_SETFL, flags & ~O_DIRECT) == 0;
}

int direct_read(int fd, char *buf, size_t size, off_t off, size_t *skip, size_t *len)
{
	size_t head = (size_t)off % DIRECT_READ_ALIGN;
	size_t want = direct_read_span(off, size);
	off_t start = off - (off_t)head;
	size_t done = 0;

	while (done < want) {
		ssize_t n = pread(fd, buf + done, want - done, start + (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		/* (an unusual block size, or an unaligned buffer) */
		if (n < 0 && errno == EINVAL && direct_read_disable(fd))
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		done += (size_t)n;
		/* a read may stop short only at the end of the file, and only
		 * there off the alignment: no need to ask again to hear 0 */
		if (done < want && done % DIRECT_READ_ALIGN != 0)
			break;
	}
	*skip = head;
	*len = done <= head ? 0 : done - head < size ? done - head : size;
	return 0;
}
