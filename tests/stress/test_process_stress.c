/* test_process_stress.c: many short-lived children, joined and not, leave
 * no zombie and no descriptor behind. Bounded: 1,000 children. */
#include <errno.h>

#include "mtask/mtask.h"
#include "testutil.h"

#define CHILDREN 1000

static int exit_with_index(void *arg)
{
	return (int)((intptr_t)arg & 0x7f);
}

static void thousand_children_leave_no_zombies_and_no_fds(void **state)
{
	/* The first start opens the reaper's epoll set and eventfd for good;
	 * nothing else may stay open. */
	int fds_before = count_anon_inode_fds() + 2;
	mt_process *warm;
	assert_int_equal(mt_process_start(&warm, exit_with_index, NULL, NULL), 0);
	assert_int_equal(mt_process_join(warm, 30), 0);
	mt_process_free(warm);

	int wrong_codes = 0;
	for (intptr_t i = 0; i < CHILDREN; i++) {
		mt_process *p;
		int err;
		while ((err = mt_process_start(&p, exit_with_index, (void *)i, NULL)) == -EAGAIN)
			sleep_seconds(0.01); /* the system's process limit: retry */
		assert_int_equal(err, 0);
		if (i % 2 == 0) {
			assert_int_equal(mt_process_join(p, 30), 0);
			wrong_codes += mt_process_exitcode(p) != (int)(i & 0x7f);
		}
		mt_process_free(p); /* odd ones: freed while (maybe) running */
	}
	assert_int_equal(wrong_codes, 0);
	assert_int_equal(wait_for_no_zombies(30), 0);
	for (int i = 0; i < 3000 && count_anon_inode_fds() != fds_before; i++)
		sleep_seconds(0.01); /* the reaper closes freed children's pidfds */
	assert_int_equal(count_anon_inode_fds(), fds_before);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(thousand_children_leave_no_zombies_and_no_fds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
