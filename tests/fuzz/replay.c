// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Runs a fuzz target over saved inputs without libFuzzer: each argument is a
 * file, or a directory whose regular files are all run. Exits non-zero when
 * an input cannot be read or no input was found; a failing input aborts.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
	struct stat st;
	uint8_t *buf;
	size_t len = 0;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "replay: cannot open '%s': %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	/* an exactly sized buffer, as libFuzzer gives, so that overreads are caught */
	buf = malloc(st.st_size > 0 ? (size_t)st.st_size : 1);
	if (!buf) {
		close(fd);
		return -1;
	}
	while (len < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + len, (size_t)st.st_size - len);

		if (n < 0) {
			fprintf(stderr, "replay: cannot read '%s': %s\n", path, strerror(errno));
			free(buf);
			close(fd);
			return -1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_dir(const char *path, unsigned *ran)
{
	struct dirent **names = NULL;
	int n, r = 0;

	n = scandir(path, &names, NULL, NULL);
	if (n < 0) {
		fprintf(stderr, "replay: cannot list '%s': %s\n", path, strerror(errno));
		return -1;
	}
	qsort(names, (size_t)n, sizeof(*names), cmp_names);
	for (int i = 0; i < n; i++) {
		char file[PATH_MAX];
		struct stat st;

		snprintf(file, sizeof(file), "%s/%s", path, names[i]->d_name);
		if (r == 0 && stat(file, &st) == 0 && S_ISREG(st.st_mode)) {
			r = run_file(file);
			if (r == 0)
				(*ran)++;
		}
		free(names[i]);
	}
	free(names);
	return r;
}

int main(int argc, char **argv)
{
	unsigned ran = 0;

	for (int i = 1; i < argc; i++) {
		struct stat st;

		if (stat(argv[i], &st) < 0) {
			fprintf(stderr, "replay: cannot access '%s': %s\n", argv[i],
				strerror(errno));
			return EXIT_FAILURE;
		}
		if (S_ISDIR(st.st_mode)) {
			if (run_dir(argv[i], &ran) < 0)
				return EXIT_FAILURE;
		} else {
			if (run_file(argv[i]) < 0)
				return EXIT_FAILURE;
			ran++;
		}
	}
	if (ran == 0) {
		fprintf(stderr, "replay: no inputs\n");
		return EXIT_FAILURE;
	}
	printf("replay: %u inputs passed\n", ran);
	return EXIT_SUCCESS;
}
