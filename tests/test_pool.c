/* test_pool.c: pools and futures on both backends: submit and result,
 * task errors, timeouts, map order and errors, cancel, callbacks,
 * close/join/terminate and shutdown, futures' descriptors. Every test runs
 * on a thread pool and on a process pool (the cmocka state says which).
 * Process-only behaviour (dead workers, task timeouts, what terminate
 * leaves behind): test_pool_process.c. */
#include <errno.h>
#include <poll.h>
#include <stdatomic.h>

#include "mtask/mtask.h"
#include "pool_tasks.h"
#include "testutil.h"

static int kind_thread = MT_POOL_THREAD, kind_process = MT_POOL_PROCESS;

static int kind_of(void **state)
{
	return **(int **)state;
}

static mt_pool *new_pool(void **state, int workers)
{
	mt_pool *p;
	mt_pool_opts opts = {.workers = workers};
	assert_int_equal(mt_pool_new(&p, kind_of(state), &opts), 0);
	return p;
}

static mt_future *submit_i64(mt_pool *p, mt_task_fn fn, int64_t x)
{
	mt_future *f;
	assert_int_equal(mt_pool_submit(p, fn, &x, sizeof x, &f), 0);
	return f;
}

/* ---- submit and result ---- */

static void submit_gives_the_result_bytes(void **state)
{
	mt_pool *p = new_pool(state, 2);
	mt_future *fs[20];
	for (int i = 0; i < 20; i++)
		fs[i] = submit_i64(p, task_square, i);
	for (int i = 0; i < 20; i++) {
		assert_int_equal(result_i64(fs[i]), (int64_t)i * i);
		assert_true(mt_future_done(fs[i]));
		assert_false(mt_future_cancelled(fs[i]));
		assert_int_equal(mt_future_error(fs[i]), 0);
		mt_future_free(fs[i]);
	}
	mt_pool_free(p);
}

static void a_task_error_is_the_futures_error(void **state)
{
	mt_pool *p = new_pool(state, 1);
	mt_future *f = submit_i64(p, task_echo_or_fail, -EDOM);
	const void *data = &data;
	assert_int_equal(mt_future_result(f, 30, &data, NULL), -EDOM);
	assert_null(data);
	assert_int_equal(mt_future_error(f), -EDOM);
	assert_int_equal(mt_future_exitcode(f), MT_NOEXIT);
	char text[128];
	assert_non_null(strstr(mt_future_describe(f, text, sizeof text), "task error"));
	mt_future_free(f);
	mt_pool_free(p);
}

static void result_times_out_while_the_task_runs(void **state)
{
	mt_pool *p = new_pool(state, 1);
	mt_future *f = submit_i64(p, task_sleep_ms, 300);
	assert_int_equal(mt_future_result(f, 0.02, NULL, NULL), -ETIMEDOUT);
	assert_false(mt_future_done(f));
	assert_int_equal(mt_future_wait(f, 0), -ETIMEDOUT);
	assert_int_equal(mt_future_wait(f, 30), 0);
	assert_true(result_i64(f) > 0);
	mt_future_free(f);
	mt_pool_free(p);
}

static void bad_arguments_are_einval(void **state)
{
	mt_pool *p;
	mt_pool_opts bad = {.workers = -1};
	assert_int_equal(mt_pool_new(&p, kind_of(state), &bad), -EINVAL);
	assert_int_equal(mt_pool_new(&p, 7, NULL), -EINVAL);
	p = new_pool(state, 1);
	assert_int_equal(mt_pool_submit(p, NULL, NULL, 0, NULL), -EINVAL);
	assert_int_equal(mt_pool_resize(p, 0), -EINVAL);
	assert_int_equal(mt_future_wait(NULL, 0), -EINVAL);
	mt_pool_free(p);
}

/* ---- map ---- */

static void map_keeps_item_order_in_any_chunking(void **state)
{
	mt_pool *p = new_pool(state, 2);
	enum { N = 1000 };
	static int64_t in[N], out[N];
	for (int i = 0; i < N; i++)
		in[i] = i;
	size_t chunks[] = {0, 1, 7, 1000};
	for (size_t c = 0; c < sizeof chunks / sizeof *chunks; c++) {
		memset(out, 0xff, sizeof out);
		assert_int_equal(mt_pool_map(p, task_square, in, sizeof *in, N, chunks[c], out,
					     sizeof *out, 30, NULL),
				 0);
		for (int i = 0; i < N; i++)
			assert_int_equal(out[i], (int64_t)i * i);
	}
	mt_pool_free(p);
}

static void map_reports_the_first_failing_item(void **state)
{
	mt_pool *p = new_pool(state, 2);
	int64_t in[50], out[50];
	for (int i = 0; i < 50; i++)
		in[i] = i;
	in[31] = -ERANGE;
	in[40] = -EDOM;
	size_t failed = 0;
	assert_int_equal(mt_pool_map(p, task_echo_or_fail, in, sizeof *in, 50, 3, out, sizeof *out,
				     30, &failed),
			 -ERANGE);
	assert_int_equal(failed, 31);
	/* A result longer than result_size is an error too. */
	int32_t small[50];
	assert_int_equal(mt_pool_map(p, task_square, in, sizeof *in, 5, 0, small, sizeof *small,
				     30, &failed),
			 -EMSGSIZE);
	mt_pool_free(p);
}

static void map_times_out(void **state)
{
	mt_pool *p = new_pool(state, 1);
	int64_t ms[3] = {200, 200, 200}, out[3];
	assert_int_equal(mt_pool_map(p, task_sleep_ms, ms, sizeof *ms, 3, 1, out, sizeof *out,
				     0.05, NULL),
			 -ETIMEDOUT);
	mt_pool_free(p);
}

/* ---- imap, imap_unordered ---- */

static void imap_yields_in_order_and_unordered_yields_each_once(void **state)
{
	mt_pool *p = new_pool(state, 2);
	enum { N = 100 };
	int64_t in[N];
	for (int i = 0; i < N; i++)
		in[i] = i % 7 ? i : -ENOTSUP; /* every 7th item fails */
	for (int ordered = 1; ordered >= 0; ordered--) {
		mt_imap *it;
		assert_int_equal(mt_pool_imap(p, task_echo_or_fail, in, sizeof *in, N, 3, ordered,
					      &it),
				 0);
		bool seen[N] = {false};
		for (int k = 0; k < N; k++) {
			int64_t out;
			size_t len, index;
			int got = mt_imap_next(it, &out, sizeof out, &len, &index, 30);
			assert_true(index < N && !seen[index]);
			seen[index] = true;
			if (ordered)
				assert_int_equal(index, k);
			if (index % 7 == 0) {
				assert_int_equal(got, -ENOTSUP);
			} else {
				assert_int_equal(got, 1);
				assert_int_equal(len, sizeof out);
				assert_int_equal(out, (int64_t)index);
			}
		}
		assert_int_equal(mt_imap_next(it, NULL, 0, NULL, NULL, 30), 0);
		mt_imap_free(it);
	}
	mt_pool_free(p);
}

static void imap_keeps_a_result_too_long_for_the_buffer(void **state)
{
	mt_pool *p = new_pool(state, 1);
	int64_t in[2] = {5, 6};
	mt_imap *it;
	assert_int_equal(mt_pool_imap(p, task_square, in, sizeof *in, 2, 0, true, &it), 0);
	char small[4];
	size_t len = 0;
	assert_int_equal(mt_imap_next(it, small, sizeof small, &len, NULL, 30), -EMSGSIZE);
	assert_int_equal(len, sizeof(int64_t));
	int64_t out;
	assert_int_equal(mt_imap_next(it, &out, sizeof out, &len, NULL, 30), 1);
	assert_int_equal(out, 25);
	mt_imap_free(it); /* before the end: the rest is dropped */
	mt_pool_free(p);
}

/* ---- initializer, resize ---- */

static _Thread_local int64_t initialized; /* per worker thread or process */

static int init_worker(void *arg)
{
	initialized = *(int64_t *)arg;
	return 0;
}

static int task_initialized(const void *arg, size_t len, mt_task_out *out)
{
	return mt_task_return(out, &initialized, sizeof initialized);
}

static void each_worker_runs_the_initializer(void **state)
{
	static int64_t token = 4242;
	mt_pool_opts opts = {.workers = 3, .initializer = init_worker, .initarg = &token};
	mt_pool *p;
	assert_int_equal(mt_pool_new(&p, kind_of(state), &opts), 0);
	mt_future *fs[12];
	for (int i = 0; i < 12; i++)
		fs[i] = submit_i64(p, task_initialized, 0);
	for (int i = 0; i < 12; i++) {
		assert_int_equal(result_i64(fs[i]), 4242);
		mt_future_free(fs[i]);
	}
	mt_pool_free(p);
}

static void resize_grows_and_shrinks_a_working_pool(void **state)
{
	mt_pool *p = new_pool(state, 1);
	assert_int_equal(mt_pool_workers(p), 1);
	assert_int_equal(mt_pool_resize(p, 4), 0);
	assert_int_equal(mt_pool_workers(p), 4);
	mt_future *fs[4];
	for (int i = 0; i < 4; i++)
		fs[i] = submit_i64(p, task_sleep_ms, 200);
	for (int i = 0; i < 4; i++) {
		assert_true(result_i64(fs[i]) > 0);
		mt_future_free(fs[i]);
	}
	assert_int_equal(mt_pool_resize(p, 1), 0);
	assert_int_equal(mt_pool_workers(p), 1);
	for (int i = 0; i < 20 && kind_of(state) == MT_POOL_PROCESS &&
			mt_pool_worker_pids(p, NULL, 0) > 1;
	     i++)
		sleep_seconds(0.05);
	if (kind_of(state) == MT_POOL_PROCESS)
		assert_int_equal(mt_pool_worker_pids(p, NULL, 0), 1);
	mt_future *f = submit_i64(p, task_square, 12);
	assert_int_equal(result_i64(f), 144);
	mt_future_free(f);
	mt_pool_close(p);
	assert_int_equal(mt_pool_resize(p, 2), -EPIPE);
	mt_pool_free(p);
}

/* ---- cancel ---- */

static void a_queued_task_cancels_and_a_running_one_does_not(void **state)
{
	mt_pool *p = new_pool(state, 1);
	mt_future *slow = submit_i64(p, task_sleep_ms, 200);
	/* Process pools queue ahead (prefetch): fill the worker's queue so
	 * that the last task surely waits in the parent. */
	mt_future *fill[20];
	for (int i = 0; i < 20; i++)
		fill[i] = submit_i64(p, task_square, i);
	mt_future *queued = submit_i64(p, task_square, 7);
	assert_int_equal(mt_future_wait(slow, 0.05), -ETIMEDOUT);
	assert_true(mt_future_running(slow));
	assert_int_equal(mt_future_cancel(slow), -EALREADY);
	assert_int_equal(mt_future_cancel(queued), 0);
	assert_int_equal(mt_future_cancel(queued), 0); /* again: still cancelled */
	assert_true(mt_future_cancelled(queued));
	assert_true(mt_future_done(queued));
	assert_int_equal(mt_future_result(queued, 0, NULL, NULL), -ECANCELED);
	assert_true(result_i64(slow) > 0);
	for (int i = 0; i < 20; i++) {
		assert_int_equal(result_i64(fill[i]), (int64_t)i * i);
		mt_future_free(fill[i]);
	}
	assert_int_equal(mt_future_cancel(slow), -EALREADY);
	mt_future_free(slow);
	mt_future_free(queued);
	mt_pool_free(p);
}

/* ---- callbacks ---- */

struct seen {
	_Atomic int calls;
	_Atomic int64_t value;
	_Atomic int error;
};

static void count_done(mt_future *f, void *arg)
{
	struct seen *s = arg;
	atomic_store(&s->error, mt_future_error(f));
	atomic_fetch_add(&s->calls, 1);
}

static void done_callbacks_run_once_and_at_once_when_done(void **state)
{
	mt_pool *p = new_pool(state, 1);
	struct seen a = {0}, b = {0};
	mt_future *f = submit_i64(p, task_sleep_ms, 50);
	assert_int_equal(mt_future_add_done_callback(f, count_done, &a), 0);
	assert_int_equal(mt_future_wait(f, 30), 0);
	for (int i = 0; i < 1000 && atomic_load(&a.calls) == 0; i++)
		sleep_seconds(0.001); /* the callback runs just after the wake */
	assert_int_equal(atomic_load(&a.calls), 1);
	assert_int_equal(mt_future_add_done_callback(f, count_done, &b), 0);
	assert_int_equal(atomic_load(&b.calls), 1); /* at once, here */
	mt_future_free(f);
	mt_pool_free(p);
	assert_int_equal(atomic_load(&a.calls), 1);
}

static void on_result(const void *data, size_t len, void *arg)
{
	struct seen *s = arg;
	atomic_store(&s->value, arg_i64(data));
	atomic_fetch_add(&s->calls, 1);
}

static void on_error(int error, void *arg)
{
	struct seen *s = arg;
	atomic_store(&s->error, error);
	atomic_fetch_add(&s->calls, 1);
}

static void apply_async_calls_the_callback_or_the_error_callback(void **state)
{
	mt_pool *p = new_pool(state, 2);
	struct seen good = {0}, bad = {0};
	int64_t x = 9, y = -EILSEQ;
	assert_int_equal(mt_pool_apply_async(p, task_square, &x, sizeof x, on_result, on_error,
					     &good, NULL),
			 0);
	assert_int_equal(mt_pool_apply_async(p, task_echo_or_fail, &y, sizeof y, on_result,
					     on_error, &bad, NULL),
			 0);
	mt_pool_close(p);
	assert_int_equal(mt_pool_join(p, 30), 0);
	assert_int_equal(atomic_load(&good.calls), 1);
	assert_int_equal(atomic_load(&good.value), 81);
	assert_int_equal(atomic_load(&bad.calls), 1);
	assert_int_equal(atomic_load(&bad.error), -EILSEQ);
	mt_pool_free(p);
}

/* ---- waiting on many, descriptors ---- */

static void futures_wait_first_and_all_completed(void **state)
{
	mt_pool *p = new_pool(state, 2);
	mt_future *fs[2] = {submit_i64(p, task_sleep_ms, 400), submit_i64(p, task_sleep_ms, 1)};
	assert_int_equal(mt_futures_wait(fs, 2, MT_FIRST_COMPLETED, 30), 1);
	assert_true(mt_future_done(fs[1]));
	assert_int_equal(mt_futures_wait(fs, 2, MT_ALL_COMPLETED, 0.01), -ETIMEDOUT);
	assert_int_equal(mt_futures_wait(fs, 2, MT_ALL_COMPLETED, 30), 2);
	assert_int_equal(mt_futures_wait(fs, 2, 99, 0), -EINVAL);
	mt_future *bad[2] = {submit_i64(p, task_echo_or_fail, -EIO),
			     submit_i64(p, task_sleep_ms, 400)};
	assert_true(mt_futures_wait(bad, 2, MT_FIRST_EXCEPTION, 30) >= 1);
	assert_int_equal(mt_future_error(bad[0]), -EIO);
	for (int i = 0; i < 2; i++) {
		mt_future_free(fs[i]);
		mt_future_free(bad[i]);
	}
	mt_pool_free(p);
}

/* The read end of a pipe a task blocks on until the test writes a byte:
 * made before the pool, so a process pool's workers inherit it. */
static int gate[2] = {-1, -1};

static int task_wait_for_gate(const void *arg, size_t len, mt_task_out *out)
{
	char byte;
	return read(gate[0], &byte, 1) == 1 ? 0 : -EIO;
}

/* Completion order without timing: the first task is held until the
 * other three are done, so it must come out of as_completed last. */
static void as_completed_gives_each_future_once_in_completion_order(void **state)
{
	assert_int_equal(pipe(gate), 0);
	mt_pool *p = new_pool(state, 2);
	mt_future *fs[4];
	fs[0] = submit_i64(p, task_wait_for_gate, 0);
	for (int i = 1; i < 4; i++)
		fs[i] = submit_i64(p, task_sleep_ms, 2 * i);
	for (int i = 1; i < 4; i++)
		assert_int_equal(mt_future_wait(fs[i], 30), 0);
	mt_as_completed *ac;
	assert_int_equal(mt_as_completed_new(&ac, fs, 4), 0);
	mt_future *got[4];
	for (int i = 0; i < 3; i++)
		assert_int_equal(mt_as_completed_next(ac, &got[i], 30), 1);
	assert_int_equal(mt_as_completed_next(ac, &got[3], 0), -ETIMEDOUT); /* held */
	assert_int_equal(write(gate[1], "x", 1), 1);
	assert_int_equal(mt_as_completed_next(ac, &got[3], 30), 1);
	mt_future *none;
	assert_int_equal(mt_as_completed_next(ac, &none, 0), 0);
	assert_ptr_equal(got[3], fs[0]); /* the held one comes last */
	for (int i = 0; i < 4; i++)
		for (int j = i + 1; j < 4; j++)
			assert_ptr_not_equal(got[i], got[j]);
	close(gate[0]);
	close(gate[1]);
	mt_as_completed_free(ac);
	for (int i = 0; i < 4; i++)
		mt_future_free(fs[i]);
	mt_pool_free(p);
}

static void a_futures_descriptor_polls_readable_once_done(void **state)
{
	mt_pool *p = new_pool(state, 1);
	mt_future *f = submit_i64(p, task_sleep_ms, 100);
	int fd = mt_future_fd(f);
	assert_true(fd >= 0);
	assert_int_equal(mt_future_fd(f), fd);
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	assert_int_equal(poll(&pfd, 1, 0), 0);
	assert_int_equal(poll(&pfd, 1, 30000), 1);
	assert_true(mt_future_done(f));
	mt_future *g = submit_i64(p, task_square, 2);
	assert_int_equal(mt_future_wait(g, 30), 0);
	pfd.fd = mt_future_fd(g); /* made after it was done: readable at once */
	assert_int_equal(poll(&pfd, 1, 0), 1);
	mt_future_free(f);
	mt_future_free(g);
	mt_pool_free(p);
}

/* ---- stopping ---- */

static void close_refuses_submits_and_join_waits_for_queued_work(void **state)
{
	mt_pool *p = new_pool(state, 2);
	assert_int_equal(mt_pool_join(p, 0), -EINVAL); /* still open */
	mt_future *fs[10];
	for (int i = 0; i < 10; i++)
		fs[i] = submit_i64(p, task_sleep_ms, 10);
	mt_pool_close(p);
	int64_t x = 1;
	assert_int_equal(mt_pool_submit(p, task_square, &x, sizeof x, NULL), -EPIPE);
	assert_int_equal(mt_pool_join(p, 30), 0);
	for (int i = 0; i < 10; i++) {
		assert_true(mt_future_done(fs[i]));
		assert_int_equal(mt_future_error(fs[i]), 0);
		mt_future_free(fs[i]);
	}
	mt_pool_free(p);
}

static void shutdown_cancel_futures_cancels_what_has_not_started(void **state)
{
	mt_pool *p = new_pool(state, 1);
	mt_future *fs[40];
	fs[0] = submit_i64(p, task_sleep_ms, 100);
	for (int i = 1; i < 40; i++)
		fs[i] = submit_i64(p, task_square, i);
	assert_int_equal(mt_future_wait(fs[0], 0.02), -ETIMEDOUT);
	assert_int_equal(mt_pool_shutdown(p, true, true), 0);
	int cancelled = 0;
	for (int i = 0; i < 40; i++) {
		assert_true(mt_future_done(fs[i]));
		cancelled += mt_future_cancelled(fs[i]);
		if (!mt_future_cancelled(fs[i]))
			assert_int_equal(mt_future_error(fs[i]), 0);
		mt_future_free(fs[i]);
	}
	assert_true(cancelled >= 40 - 1 - 17); /* all but what a worker had */
	mt_pool_free(p);
}

static void terminate_resolves_every_future(void **state)
{
	mt_pool *p = new_pool(state, 2);
	mt_future *fs[30];
	for (int i = 0; i < 30; i++)
		fs[i] = submit_i64(p, task_sleep_ms, 50);
	assert_int_equal(mt_future_wait(fs[0], 30), 0);
	assert_int_equal(mt_pool_terminate(p), 0);
	int64_t x = 1;
	assert_int_equal(mt_pool_submit(p, task_square, &x, sizeof x, NULL), -EPIPE);
	assert_int_equal(mt_pool_join(p, 30), 0);
	for (int i = 0; i < 30; i++) {
		assert_true(mt_future_done(fs[i]));
		int err = mt_future_error(fs[i]);
		assert_true(err == 0 || err == -ECANCELED);
		mt_future_free(fs[i]);
	}
	mt_pool_free(p);
}

static void free_without_close_runs_the_queued_tasks(void **state)
{
	mt_pool *p = new_pool(state, 2);
	mt_future *f = submit_i64(p, task_sleep_ms, 50);
	mt_pool_free(p);
	assert_true(mt_future_done(f));
	assert_int_equal(mt_future_error(f), 0);
	mt_future_free(f);
}

/* ---- named tasks (MT_TASK_REGISTER), which MPI pools send by name ---- */

MT_TASK_REGISTER(task_square)
MT_TASK_REGISTER_AS(task_pid, "test_pool.pid")

static int twin_a(const void *arg, size_t len, mt_task_out *out)
{
	return 1;
}

static int twin_b(const void *arg, size_t len, mt_task_out *out)
{
	return 2;
}

static void registered_tasks_are_found_by_name(void **state)
{
	assert_ptr_equal(mt_task_lookup("task_square"), task_square);
	assert_ptr_equal(mt_task_lookup("test_pool.pid"), task_pid);
	assert_null(mt_task_lookup("task_pid")); /* registered under another name */
	assert_null(mt_task_lookup("no_such_task"));
	assert_null(mt_task_lookup(NULL));
	static mt_task_entry again = {"task_square", task_square, 0, 0, 0};
	assert_int_equal(mt_task_register(&again), 0); /* the same: harmless */
	assert_ptr_equal(mt_task_lookup("task_square"), task_square);
	static mt_task_entry nameless = {NULL, task_square, 0, 0, 0};
	assert_int_equal(mt_task_register(&nameless), -EINVAL);
	assert_int_equal(mt_task_register(NULL), -EINVAL);
}

static void a_name_claimed_twice_resolves_to_neither(void **state)
{
	static mt_task_entry a = {"twin", twin_a, 0, 0, 0}, b = {"twin", twin_b, 0, 0, 0};
	assert_int_equal(mt_task_register(&a), 0);
	assert_ptr_equal(mt_task_lookup("twin"), twin_a);
	assert_int_equal(mt_task_register(&b), -ENOTUNIQ);
	assert_null(mt_task_lookup("twin"));
}

static void mpi_pools_need_libmtask_mpi(void **state)
{
	mt_pool *p = (mt_pool *)&p;
	assert_int_equal(mt_pool_new(&p, MT_POOL_MPI, NULL), -ENOTSUP);
	assert_null(p);
	assert_int_equal(mt_pool_new(&p, MT_POOL_MPI + 1, NULL), -EINVAL);
}

#define BOTH(test)                                                                                 \
	cmocka_unit_test_prestate(test, &kind_thread),                                             \
		cmocka_unit_test_prestate(test, &kind_process)

int main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(submit_gives_the_result_bytes),
		BOTH(a_task_error_is_the_futures_error),
		BOTH(result_times_out_while_the_task_runs),
		BOTH(bad_arguments_are_einval),
		BOTH(map_keeps_item_order_in_any_chunking),
		BOTH(map_reports_the_first_failing_item),
		BOTH(map_times_out),
		BOTH(imap_yields_in_order_and_unordered_yields_each_once),
		BOTH(imap_keeps_a_result_too_long_for_the_buffer),
		BOTH(each_worker_runs_the_initializer),
		BOTH(resize_grows_and_shrinks_a_working_pool),
		BOTH(a_queued_task_cancels_and_a_running_one_does_not),
		BOTH(done_callbacks_run_once_and_at_once_when_done),
		BOTH(apply_async_calls_the_callback_or_the_error_callback),
		BOTH(futures_wait_first_and_all_completed),
		BOTH(as_completed_gives_each_future_once_in_completion_order),
		BOTH(a_futures_descriptor_polls_readable_once_done),
		BOTH(close_refuses_submits_and_join_waits_for_queued_work),
		BOTH(shutdown_cancel_futures_cancels_what_has_not_started),
		BOTH(terminate_resolves_every_future),
		BOTH(free_without_close_runs_the_queued_tasks),
		cmocka_unit_test(registered_tasks_are_found_by_name),
		cmocka_unit_test(a_name_claimed_twice_resolves_to_neither),
		cmocka_unit_test(mpi_pools_need_libmtask_mpi),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
