// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests of snapshot/: writers (test-snapshot-writer.c), the hold and
 * its guard (test-snapshot-hold.c), and the copy provider's parts
 * (test-snapshot-copy.c). */
#include <check.h>
#include <stdlib.h>

Suite *writer_suite(void);
Suite *hold_suite(void);
Suite *copy_suite(void);

int main(void)
{
	SRunner *sr = srunner_create(writer_suite());
	int failed;

	srunner_add_suite(sr, hold_suite());
	srunner_add_suite(sr, copy_suite());
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
