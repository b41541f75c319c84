/* test_examples_pool.c: the pool and futures programs of examples/, run
 * and checked as test_examples.c does the others. */
#include "example_run.h"

static void pool_apply_async_sums_the_squares_and_maps_in_order(void **state)
{
	static struct run r;
	run_example(&r, "pool_apply_async", NULL);
	assert_string_equal(r.out, "apply_async x8, then close and join: sum of squares 140\n"
				   "map: 0 1 4 9 16 25 36 49\n"
				   "imap: 0 1 4 9 16 25 36 49\n");
}

static void futures_executor_reports_results_callbacks_and_the_failure(void **state)
{
	static struct run r;
	run_example(&r, "futures_executor", NULL);
	assert_int_equal(count_of(&r, "callback: seed"), 4);
	/* Seeds 3, 1 and 2 start; 0 starts when 1 is done, and fails. */
	assert_in_order(&r, "as_completed:", "result 100");
	assert_in_order(&r, "result 100", "failed: task error");
	assert_in_order(&r, "failed: task error", "result 200");
	assert_in_order(&r, "result 200", "result 300");
	assert_in_order(&r, "result 300", "executor.map: 300 100 200\n");
}

/* Below 30000, so that it stays quick under the sanitizers (without an
 * argument it sums below the notes' 100000: 454396537). */
static void primes_pool_sums_to_the_same_answer_with_1_and_4_workers(void **state)
{
	static struct run r;
	run_example(&r, "primes_pool", "30000");
	assert_string_equal(r.out, "sum of primes below 30000: 45675864 (1 worker), "
				   "45675864 (4 workers)\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(pool_apply_async_sums_the_squares_and_maps_in_order),
		cmocka_unit_test(futures_executor_reports_results_callbacks_and_the_failure),
		cmocka_unit_test(primes_pool_sums_to_the_same_answer_with_1_and_4_workers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
