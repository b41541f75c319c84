/* test_pool_mpi.c: the MPI pool (MT_POOL_MPI), run under mpirun by CTest:
 * every rank runs this program; rank 0 gets the pool and runs the cmocka
 * tests on it, the others serve inside mt_pool_new and return.
 *
 *   test_pool_mpi          the pool's behaviour (one pool for every test;
 *                          terminate last)
 *   test_pool_mpi die      a task kills its rank: with mpirun's defaults
 *                          the job ends, and rank 0 must not print "done"
 *   test_pool_mpi lost     (mpirun --enable-recovery) a task kills its
 *                          rank: with a task_timeout its future fails with
 *                          -ETIMEDOUT and the other rank runs the rest;
 *                          then MPI_Abort ends the job (MPI_Finalize
 *                          could wait for the dead rank) */
#include <errno.h>
#include <mpi.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "mtask/mtask.h"
#include "pool_tasks.h"
#include "testutil.h"

MT_TASK_REGISTER(task_square)
MT_TASK_REGISTER(task_echo_or_fail)
MT_TASK_REGISTER(task_sleep_ms)
MT_TASK_REGISTER(task_pid)
MT_TASK_REGISTER(task_raise)

/* x -> len bytes of x's low byte: results of any size */
static int task_bytes(const void *arg, size_t len, mt_task_out *out)
{
	int64_t n = arg_i64(arg);
	unsigned char *at = mt_task_result_buffer(out, (size_t)n);
	if (!at)
		return -EMSGSIZE;
	memset(at, (int)(n & 0xff), (size_t)n);
	return 0;
}
MT_TASK_REGISTER(task_bytes)

/* the initializer's mark, read by a task: each rank ran it */
static int64_t initialized;
static int mark_initialized(void *arg)
{
	initialized = *(const int64_t *)arg;
	return 0;
}

static int task_read_mark(const void *arg, size_t len, mt_task_out *out)
{
	return mt_task_return(out, &initialized, sizeof initialized);
}
MT_TASK_REGISTER(task_read_mark)

static int task_unregistered(const void *arg, size_t len, mt_task_out *out)
{
	return 0;
}

/* registered on rank 0 only, after the pool started: the ranks do not
 * know its name */
static int task_known_here_only(const void *arg, size_t len, mt_task_out *out)
{
	return 0;
}

static mt_pool *pool;
static int64_t mark = 42;

static mt_future *submit_i64(mt_task_fn fn, int64_t x)
{
	mt_future *f;
	assert_int_equal(mt_pool_submit(pool, fn, &x, sizeof x, &f), 0);
	return f;
}

static void tasks_run_on_the_other_ranks(void **state)
{
	assert_int_equal(mt_pool_workers(pool), 2);
	mt_future *fs[8];
	for (int i = 0; i < 8; i++)
		fs[i] = submit_i64(task_sleep_ms, 20);
	int64_t first = result_i64(fs[0]);
	bool two = false;
	for (int i = 0; i < 8; i++) {
		int64_t pid = result_i64(fs[i]);
		assert_true(pid > 0 && pid != getpid());
		two |= pid != first;
		mt_future_free(fs[i]);
	}
	assert_true(two); /* 20 ms tasks: both ranks took some */
}

static void many_small_tasks_give_every_result(void **state)
{
	enum { N = 20000 };
	static mt_future *fs[N];
	for (int i = 0; i < N; i++)
		fs[i] = submit_i64(task_square, i);
	for (int i = 0; i < N; i++) {
		assert_int_equal(result_i64(fs[i]), (int64_t)i * i);
		mt_future_free(fs[i]);
	}
}

static void a_task_error_is_the_futures_error(void **state)
{
	mt_future *f = submit_i64(task_echo_or_fail, -EDOM);
	assert_int_equal(mt_future_result(f, 30, NULL, NULL), -EDOM);
	assert_int_equal(mt_future_error(f), -EDOM);
	mt_future_free(f);
}

static void a_task_must_be_registered_on_every_rank(void **state)
{
	int64_t x = 1;
	assert_int_equal(mt_pool_submit(pool, task_unregistered, &x, sizeof x, NULL), -ENOSYS);
	static mt_task_entry late = {"task_known_here_only", task_known_here_only, 0, 0, 0};
	assert_int_equal(mt_task_register(&late), 0);
	mt_future *f = submit_i64(task_known_here_only, 1);
	assert_int_equal(mt_future_result(f, 30, NULL, NULL), -ENOSYS);
	mt_future_free(f);
}

static void arguments_and_results_up_to_max_message(void **state)
{
	static unsigned char big[64 * 1024 + 1];
	assert_int_equal(mt_pool_submit(pool, task_bytes, big, sizeof big, NULL), -EMSGSIZE);
	int64_t sizes[] = {0, 1, 1000, 64 * 1024, 64 * 1024 + 1};
	mt_future *fs[5];
	for (int i = 0; i < 5; i++)
		fs[i] = submit_i64(task_bytes, sizes[i]);
	for (int i = 0; i < 4; i++) {
		const unsigned char *data;
		size_t len;
		assert_int_equal(mt_future_result(fs[i], 30, (const void **)&data, &len), 0);
		assert_int_equal(len, sizes[i]);
		for (size_t k = 0; k < len; k++)
			assert_int_equal(data[k], sizes[i] & 0xff);
	}
	assert_int_equal(mt_future_result(fs[4], 30, NULL, NULL), -EMSGSIZE);
	for (int i = 0; i < 5; i++)
		mt_future_free(fs[i]);
}

static void map_and_imap_run_by_name(void **state)
{
	enum { N = 5000 };
	static int64_t items[N], results[N];
	for (int i = 0; i < N; i++)
		items[i] = i;
	assert_int_equal(mt_pool_map(pool, task_square, items, sizeof *items, N, 0, results,
				     sizeof *results, 60, NULL),
			 0);
	for (int i = 0; i < N; i++)
		assert_int_equal(results[i], (int64_t)i * i);
	items[77] = -EDOM;
	size_t failed = 0;
	assert_int_equal(mt_pool_map(pool, task_echo_or_fail, items, sizeof *items, N, 10, results,
				     sizeof *results, 60, &failed),
			 -EDOM);
	assert_int_equal(failed, 77);
	mt_imap *it;
	assert_int_equal(mt_pool_imap(pool, task_square, items, sizeof *items, 100, 7, true, &it),
			 0);
	int64_t v;
	size_t index, len;
	for (size_t i = 0; i < 100; i++) {
		assert_int_equal(mt_imap_next(it, &v, sizeof v, &len, &index, 30), 1);
		assert_int_equal(index, i);
		assert_int_equal(v, items[i] * items[i]);
	}
	assert_int_equal(mt_imap_next(it, &v, sizeof v, &len, &index, 30), 0);
	mt_imap_free(it);
}

static void each_rank_ran_the_initializer(void **state)
{
	mt_future *f = submit_i64(task_read_mark, 0);
	assert_int_equal(result_i64(f), mark);
	mt_future_free(f);
}

static atomic_int callbacks;
static void count_done(mt_future *f, void *arg)
{
	atomic_fetch_add(&callbacks, 1);
}

static void futures_wait_and_callbacks_work_as_in_other_pools(void **state)
{
	mt_future *fs[3] = {submit_i64(task_sleep_ms, 1), submit_i64(task_square, 3),
			    submit_i64(task_echo_or_fail, -EPERM)};
	for (int i = 0; i < 3; i++)
		assert_int_equal(mt_future_add_done_callback(fs[i], count_done, NULL), 0);
	assert_int_equal(mt_futures_wait(fs, 3, MT_ALL_COMPLETED, 30), 3);
	assert_int_equal(mt_future_error(fs[2]), -EPERM);
	for (int i = 0; i < 3; i++)
		mt_future_free(fs[i]);
	assert_int_equal(atomic_load(&callbacks), 3);
}

static void resize_is_not_supported(void **state)
{
	assert_int_equal(mt_pool_resize(pool, 5), -ENOTSUP);
	assert_int_equal(mt_pool_worker_pids(pool, NULL, 0), 0);
}

/* Last: the pool is unusable afterwards. */
static void terminate_cancels_what_the_ranks_hold(void **state)
{
	mt_future *fs[6];
	for (int i = 0; i < 6; i++)
		fs[i] = submit_i64(task_sleep_ms, 300);
	assert_int_equal(mt_pool_terminate(pool), 0);
	for (int i = 0; i < 6; i++) {
		assert_int_equal(mt_future_result(fs[i], 0, NULL, NULL), -ECANCELED);
		assert_true(mt_future_cancelled(fs[i]));
		mt_future_free(fs[i]);
	}
	assert_int_equal(mt_pool_submit(pool, task_square, &mark, sizeof mark, NULL), -EPIPE);
}

static int run_behaviour_tests(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(tasks_run_on_the_other_ranks),
		cmocka_unit_test(many_small_tasks_give_every_result),
		cmocka_unit_test(a_task_error_is_the_futures_error),
		cmocka_unit_test(a_task_must_be_registered_on_every_rank),
		cmocka_unit_test(arguments_and_results_up_to_max_message),
		cmocka_unit_test(map_and_imap_run_by_name),
		cmocka_unit_test(each_rank_ran_the_initializer),
		cmocka_unit_test(futures_wait_and_callbacks_work_as_in_other_pools),
		cmocka_unit_test(resize_is_not_supported),
		cmocka_unit_test(terminate_cancels_what_the_ranks_hold),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* A task kills its rank. Without recovery the job ends here; with it
 * (lost), the future fails after task_timeout and the rest still run. */
static int run_death(bool lost)
{
	mt_future *doomed = submit_i64(task_raise, SIGKILL), *after[20];
	for (int i = 0; i < 20; i++)
		after[i] = submit_i64(task_square, i);
	int err = mt_future_result(doomed, 30, NULL, NULL);
	printf("doomed task: %s%s\n", mt_strerror(err), mt_future_done(doomed) ? "" : ", not done");
	int wrong = lost ? err != -ETIMEDOUT || !mt_future_done(doomed) : 1;
	for (int i = 0; i < 20; i++) {
		wrong |= result_i64(after[i]) != (int64_t)i * i;
		mt_future_free(after[i]);
	}
	mt_future_free(doomed);
	mt_pool_free(pool);
	printf("%s\n", wrong ? "wrong" : "done: the pool went on without the dead rank");
	/* Open MPI 4.1's MPI_Finalize waits for every rank, the dead one too,
	 * now and then for ever even with --enable-recovery: end the job. */
	fflush(stdout);
	MPI_Abort(MPI_COMM_WORLD, wrong);
	return wrong;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	mt_pool_opts opts = {.initializer = mark_initialized, .initarg = &mark};
	if (!strcmp(mode, "lost"))
		opts.task_timeout = 2;
	int err = mt_pool_new(&pool, MT_POOL_MPI, &opts);
	if (err == MT_POOL_SERVED)
		return 0; /* a worker rank: it served the tests */
	if (err) {
		fprintf(stderr, "test_pool_mpi: mt_pool_new: %s\n", mt_strerror(err));
		return 1;
	}
	if (*mode)
		return run_death(!strcmp(mode, "lost"));
	int failed = run_behaviour_tests();
	mt_pool_free(pool);
	return failed;
}
