/* test_error.c: mt_strerror and the error conventions. */
#include <errno.h>
#include <limits.h>

#include "mtask/mtask.h"
#include "testutil.h"

static void negative_and_positive_codes_name_the_same_error(void **state)
{
	assert_string_equal(mt_strerror(-ETIMEDOUT), mt_strerror(ETIMEDOUT));
	assert_non_null(strstr(mt_strerror(-ETIMEDOUT), "ETIMEDOUT"));
	assert_non_null(strstr(mt_strerror(-EAGAIN), "EAGAIN"));
	assert_non_null(strstr(mt_strerror(-EPIPE), "EPIPE"));
	assert_non_null(strstr(mt_strerror(-EOWNERDEAD), "EOWNERDEAD"));
	assert_non_null(strstr(mt_strerror(-ENOTRECOVERABLE), "ENOTRECOVERABLE"));
}

static void zero_is_success(void **state)
{
	assert_string_equal(mt_strerror(0), "success");
}

static void codes_outside_the_api_fall_back_to_the_system_text(void **state)
{
	assert_string_equal(mt_strerror(-ENOTDIR), "Not a directory");
}

static void unknown_codes_never_give_null(void **state)
{
	assert_string_equal(mt_strerror(999999), "unknown error");
	assert_string_equal(mt_strerror(INT_MIN), "unknown error");
}

static void version_matches_the_header(void **state)
{
	assert_string_equal(mt_version(), MT_VERSION_STRING);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(negative_and_positive_codes_name_the_same_error),
		cmocka_unit_test(zero_is_success),
		cmocka_unit_test(codes_outside_the_api_fall_back_to_the_system_text),
		cmocka_unit_test(unknown_codes_never_give_null),
		cmocka_unit_test(version_matches_the_header),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
