/* test_pool_process.c: what only a process pool does: a worker that dies
 * (signal, exit) fails only the task it ran, with its exit code, and is
 * replaced; a task past task_timeout has its worker killed; workers are
 * replaced after max_tasks_per_worker; terminate leaves no zombie and no
 * shared memory; a parent ended by Ctrl-C or SIGKILL leaves no worker. */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "mtask/mtask.h"
#include "pool_tasks.h"
#include "testutil.h"

static mt_pool *new_process_pool(int workers, const mt_pool_opts *more)
{
	mt_pool_opts opts = more ? *more : (mt_pool_opts){0};
	opts.workers = workers;
	mt_pool *p;
	assert_int_equal(mt_pool_new(&p, MT_POOL_PROCESS, &opts), 0);
	return p;
}

static mt_future *submit_i64(mt_pool *p, mt_task_fn fn, int64_t x)
{
	mt_future *f;
	assert_int_equal(mt_pool_submit(p, fn, &x, sizeof x, &f), 0);
	return f;
}

/* Submits n squares and checks every result. */
static void check_squares(mt_pool *p, int n)
{
	for (int i = 0; i < n; i++) {
		mt_future *f = submit_i64(p, task_square, i);
		assert_int_equal(result_i64(f), (int64_t)i * i);
		mt_future_free(f);
	}
}

static void a_killed_worker_fails_only_its_task_and_is_replaced(void **state)
{
	mt_pool *p = new_process_pool(2, NULL);
	mt_future *before[10], *after[10];
	for (int i = 0; i < 10; i++)
		before[i] = submit_i64(p, task_square, i);
	mt_future *doomed = submit_i64(p, task_raise, SIGKILL);
	for (int i = 0; i < 10; i++)
		after[i] = submit_i64(p, task_square, 100 + i);
	assert_int_equal(mt_future_result(doomed, 30, NULL, NULL), -EOWNERDEAD);
	assert_int_equal(mt_future_exitcode(doomed), -SIGKILL);
	char text[128];
	assert_string_equal(mt_future_describe(doomed, text, sizeof text),
			    "worker died: killed by signal 9 (SIGKILL)");
	for (int i = 0; i < 10; i++) {
		assert_int_equal(result_i64(before[i]), (int64_t)i * i);
		assert_int_equal(result_i64(after[i]), (int64_t)(100 + i) * (100 + i));
		mt_future_free(before[i]);
		mt_future_free(after[i]);
	}
	mt_future_free(doomed);
	int pids[4];
	assert_int_equal(mt_pool_worker_pids(p, pids, 4), 2);
	check_squares(p, 20);
	mt_pool_free(p);
	assert_int_equal(wait_for_no_zombies(5), 0);
}

/* ---- batches: a dying worker's batch, max_tasks_per_worker ---- */

enum { BATCH_TASKS = 300, DOOMED = 150 };

struct counted {
	int64_t index;
	int64_t die; /* a signal to kill the worker with, or 0 */
};

static _Atomic int *runs; /* shared with the workers: how often each task ran */

/* Counts its run, then squares its index (or kills its worker). */
static int task_counted(const void *arg, size_t len, mt_task_out *out)
{
	struct counted c;
	memcpy(&c, arg, sizeof c);
	atomic_fetch_add(&runs[c.index], 1);
	if (c.die)
		raise((int)c.die);
	int64_t square = c.index * c.index;
	return mt_task_return(out, &square, sizeof square);
}

static mt_future *submit_counted(mt_pool *p, int64_t index, int64_t die)
{
	struct counted c = {index, die};
	mt_future *f;
	assert_int_equal(mt_pool_submit(p, task_counted, &c, sizeof c, &f), 0);
	return f;
}

/* Tiny tasks travel several to a message; a worker that dies in the
 * middle of one fails only the task it ran: the rest of its batch, never
 * begun, runs on its successor, once. */
static void a_worker_dying_mid_batch_fails_only_its_task(void **state)
{
	runs = shared_page();
	mt_pool *p = new_process_pool(1, NULL);
	for (int round = 0; round < 3; round++) {
		memset(runs, 0, BATCH_TASKS * sizeof *runs);
		mt_future *fs[BATCH_TASKS];
		for (int i = 0; i < BATCH_TASKS; i++)
			fs[i] = submit_counted(p, i, i == DOOMED ? SIGKILL : 0);
		for (int i = 0; i < BATCH_TASKS; i++) {
			if (i == DOOMED) {
				assert_int_equal(mt_future_result(fs[i], 30, NULL, NULL),
						 -EOWNERDEAD);
				assert_int_equal(mt_future_exitcode(fs[i]), -SIGKILL);
			} else {
				assert_int_equal(result_i64(fs[i]), (int64_t)i * i);
			}
			assert_int_equal(atomic_load(&runs[i]), 1);
			mt_future_free(fs[i]);
		}
	}
	mt_pool_free(p);
	munmap((void *)runs, 4096);
	assert_int_equal(wait_for_no_zombies(5), 0);
}

/* A batch never holds more tasks than a worker may still run. */
static void max_tasks_per_worker_bounds_batches(void **state)
{
	mt_pool_opts opts = {.max_tasks_per_worker = 3};
	mt_pool *p = new_process_pool(2, &opts);
	check_squares(p, 10); /* tiny tasks: the pool batches them */
	mt_future *fs[60];
	for (int i = 0; i < 60; i++)
		fs[i] = submit_i64(p, task_pid, 0);
	int64_t pids[60];
	for (int i = 0; i < 60; i++) {
		pids[i] = result_i64(fs[i]);
		assert_true(pids[i] > 0);
		mt_future_free(fs[i]);
	}
	for (int i = 0; i < 60; i++) {
		int same = 0;
		for (int j = 0; j < 60; j++)
			same += pids[j] == pids[i];
		assert_true(same <= 3);
	}
	mt_pool_free(p);
	assert_int_equal(wait_for_no_zombies(5), 0);
}

static void a_worker_that_exits_or_is_terminated_names_its_exit_code(void **state)
{
	mt_pool *p = new_process_pool(1, NULL);
	mt_future *exits = submit_i64(p, task_exit, 3);
	assert_int_equal(mt_future_result(exits, 30, NULL, NULL), -EOWNERDEAD);
	assert_int_equal(mt_future_exitcode(exits), 3);
	char text[128];
	assert_string_equal(mt_future_describe(exits, text, sizeof text),
			    "worker died: exited with code 3");
	mt_future *termed = submit_i64(p, task_raise, SIGTERM);
	assert_int_equal(mt_future_result(termed, 30, NULL, NULL), -EOWNERDEAD);
	assert_int_equal(mt_future_exitcode(termed), -SIGTERM);
	check_squares(p, 5);
	mt_future_free(exits);
	mt_future_free(termed);
	mt_pool_free(p);
}

static void a_task_past_its_timeout_has_its_worker_killed(void **state)
{
	mt_pool_opts opts = {.task_timeout = 0.2};
	mt_pool *p = new_process_pool(1, &opts);
	mt_future *first = submit_i64(p, task_pid, 0);
	int64_t pid = result_i64(first);
	double start = now_seconds();
	mt_future *stuck = submit_i64(p, task_sleep_ms, 20000);
	assert_int_equal(mt_future_result(stuck, 30, NULL, NULL), -ETIMEDOUT);
	assert_true(now_seconds() - start < 10);
	mt_future *next = submit_i64(p, task_pid, 0);
	int64_t replacement = result_i64(next);
	assert_true(replacement > 0 && replacement != pid);
	mt_future_free(first);
	mt_future_free(stuck);
	mt_future_free(next);
	mt_pool_opts bad = {.task_timeout = 1};
	assert_int_equal(mt_pool_new(&p, MT_POOL_THREAD, &bad), -EINVAL);
	mt_pool_free(new_process_pool(1, &opts));
}

static void workers_are_replaced_after_max_tasks(void **state)
{
	mt_pool_opts opts = {.max_tasks_per_worker = 2};
	mt_pool *p = new_process_pool(1, &opts);
	int64_t pids[6];
	for (int i = 0; i < 6; i++) {
		mt_future *f = submit_i64(p, task_pid, 0);
		pids[i] = result_i64(f);
		assert_int_equal(mt_future_error(f), 0);
		mt_future_free(f);
	}
	for (int i = 0; i < 6; i += 2) {
		assert_int_equal(pids[i], pids[i + 1]);
		if (i)
			assert_true(pids[i] != pids[i - 1]);
	}
	mt_pool_free(p);
	assert_int_equal(wait_for_no_zombies(5), 0);
}

static void a_too_long_argument_or_result_is_emsgsize(void **state)
{
	mt_pool_opts opts = {.max_message = 64};
	mt_pool *p = new_process_pool(1, &opts);
	char big[65] = {0};
	assert_int_equal(mt_pool_submit(p, task_square, big, sizeof big, NULL), -EMSGSIZE);
	mt_pool_free(p);
}

static void terminate_leaves_no_zombie_and_no_shared_memory(void **state)
{
	int memfds = count_fds_linked_to("/memfd:");
	int anon = count_anon_inode_fds();
	mt_pool *p = new_process_pool(3, NULL);
	mt_future *fs[20];
	for (int i = 0; i < 20; i++)
		fs[i] = submit_i64(p, task_sleep_ms, 30);
	assert_int_equal(mt_future_wait(fs[0], 30), 0);
	int pids[3];
	assert_int_equal(mt_pool_worker_pids(p, pids, 3), 3);
	assert_int_equal(mt_pool_terminate(p), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(kill(pids[i], 0), -1); /* gone, and reaped */
	for (int i = 0; i < 20; i++) {
		assert_true(mt_future_done(fs[i]));
		mt_future_free(fs[i]);
	}
	mt_pool_free(p);
	assert_int_equal(count_my_zombies(), 0);
	assert_int_equal(count_fds_linked_to("/memfd:"), memfds);
	/* The reaper's epoll set may stay. A reaper thread, if an earlier test
	 * started one, owns the workers' registrations and closes their
	 * pidfds when it takes their exit events, a moment after the free. */
	assert_true(wait_for_count_at_most(count_anon_inode_fds, anon + 1, 5) <= anon + 1);
}

/* ---- the parent dies: Ctrl-C, SIGKILL ---- */

struct parent_report {
	_Atomic int ready;
	int pids[2];
};

static _Noreturn int pool_parent(void *arg)
{
	struct parent_report *r = arg;
	mt_pool *p = new_process_pool(2, NULL);
	mt_future *f = submit_i64(p, task_sleep_ms, 60000);
	(void)f;
	mt_pool_worker_pids(p, r->pids, 2);
	atomic_store(&r->ready, 1);
	for (;;)
		pause();
}

/* Waits up to 10 s for orphan pid (reparented to us, the subreaper) to
 * end; returns its wait status, or -1. */
static int reap_orphan(pid_t pid)
{
	for (int i = 0; i < 1000; i++) {
		int status;
		if (waitpid(pid, &status, WNOHANG) == pid)
			return status;
		sleep_seconds(0.01);
	}
	return -1;
}

static void the_parents_death_ends_every_worker(void **state)
{
	int signals[] = {SIGINT, SIGKILL};
	assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	for (int s = 0; s < 2; s++) {
		struct parent_report *r = shared_page();
		mt_process *parent = start_child(pool_parent, r);
		for (int i = 0; i < 3000 && !atomic_load(&r->ready); i++)
			sleep_seconds(0.01);
		assert_true(atomic_load(&r->ready));
		assert_int_equal(mt_process_signal(parent, signals[s]), 0);
		assert_int_equal(join_child(parent), -signals[s]);
		for (int i = 0; i < 2; i++) {
			int status = reap_orphan(r->pids[i]);
			assert_true(status != -1 && WIFSIGNALED(status));
		}
		munmap(r, 4096);
	}
	prctl(PR_SET_CHILD_SUBREAPER, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_killed_worker_fails_only_its_task_and_is_replaced),
		cmocka_unit_test(a_worker_dying_mid_batch_fails_only_its_task),
		cmocka_unit_test(max_tasks_per_worker_bounds_batches),
		cmocka_unit_test(a_worker_that_exits_or_is_terminated_names_its_exit_code),
		cmocka_unit_test(a_task_past_its_timeout_has_its_worker_killed),
		cmocka_unit_test(workers_are_replaced_after_max_tasks),
		cmocka_unit_test(a_too_long_argument_or_result_is_emsgsize),
		cmocka_unit_test(terminate_leaves_no_zombie_and_no_shared_memory),
		cmocka_unit_test(the_parents_death_ends_every_worker),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
