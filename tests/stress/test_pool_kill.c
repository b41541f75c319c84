/* test_pool_kill.c: 2,000 tasks through a process pool while a killer
 * thread SIGKILLs its workers at random. Every future must resolve
 * exactly once (its done callback runs once), with its own result or with
 * -EOWNERDEAD and signal 9; no more tasks may fail than workers were
 * killed; the pool must serve new work afterwards; and terminate must
 * leave no zombie and no shared memory. */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "mtask/mtask.h"
#include "pool_tasks.h"
#include "testutil.h"

enum { TASKS = 2000, WORKERS = 3 };

static _Atomic int callbacks[TASKS];

/* x -> x * x, after ~0.3 ms, so that kills land mid-task too */
static int slow_square(const void *arg, size_t len, mt_task_out *out)
{
	struct timespec ts = {0, 300 * 1000};
	nanosleep(&ts, NULL);
	return task_square(arg, len, out);
}

static void count_callback(mt_future *f, void *arg)
{
	atomic_fetch_add(&callbacks[(intptr_t)arg], 1);
}

struct killer {
	mt_pool *pool;
	_Atomic bool stop;
	_Atomic int kills;
	int pause_ms;  /* between kills: this to five times this (ms); 0: 5 */
	int max_kills; /* then it stops killing; 0: no limit */
};

static int killer_main(void *arg)
{
	struct killer *k = arg;
	unsigned seed = 12345;
	while (!atomic_load(&k->stop) && (!k->max_kills || atomic_load(&k->kills) < k->max_kills)) {
		int ms = k->pause_ms ? k->pause_ms : 5;
		sleep_seconds((ms + rand_r(&seed) % (ms * 4)) / 1000.0);
		int pids[WORKERS];
		int n = mt_pool_worker_pids(k->pool, pids, WORKERS);
		if (n > WORKERS)
			n = WORKERS;
		if (n > 0 && kill(pids[rand_r(&seed) % n], SIGKILL) == 0)
			atomic_fetch_add(&k->kills, 1);
	}
	return 0;
}

static void every_future_resolves_once_while_workers_are_killed(void **state)
{
	int memfds = count_fds_linked_to("/memfd:");
	mt_pool_opts opts = {.workers = WORKERS};
	mt_pool *p;
	assert_int_equal(mt_pool_new(&p, MT_POOL_PROCESS, &opts), 0);
	struct killer k = {.pool = p};
	mt_thread *killer = start_thread(killer_main, &k);
	static mt_future *fs[TASKS];
	for (intptr_t i = 0; i < TASKS; i++) {
		int64_t x = i;
		assert_int_equal(mt_pool_submit(p, slow_square, &x, sizeof x, &fs[i]), 0);
		assert_int_equal(mt_future_add_done_callback(fs[i], count_callback, (void *)i), 0);
	}
	int died = 0;
	for (int i = 0; i < TASKS; i++) {
		const void *data;
		size_t len;
		int err = mt_future_result(fs[i], 60, &data, &len);
		if (err == -EOWNERDEAD) {
			assert_int_equal(mt_future_exitcode(fs[i]), -SIGKILL);
			died++;
		} else {
			assert_int_equal(err, 0);
			assert_int_equal(len, sizeof(int64_t));
			assert_int_equal(arg_i64(data), (int64_t)i * i);
		}
	}
	atomic_store(&k.stop, true);
	join_thread(killer);
	/* Callbacks run just after the wake-up of result(): let them land. */
	mt_pool_close(p);
	assert_int_equal(mt_pool_join(p, 60), 0);
	for (int i = 0; i < TASKS; i++) {
		assert_int_equal(atomic_load(&callbacks[i]), 1);
		mt_future_free(fs[i]);
	}
	int kills = atomic_load(&k.kills);
	print_message("%d kills, %d tasks died with their worker\n", kills, died);
	assert_true(kills > 0);
	assert_true(died <= kills);
	mt_pool_free(p);

	/* A new pool in the same process serves again, and terminate cleans. */
	assert_int_equal(mt_pool_new(&p, MT_POOL_PROCESS, &opts), 0);
	for (int64_t i = 0; i < 50; i++) {
		mt_future *f;
		assert_int_equal(mt_pool_submit(p, task_square, &i, sizeof i, &f), 0);
		assert_int_equal(result_i64(f), i * i);
		mt_future_free(f);
	}
	assert_int_equal(mt_pool_terminate(p), 0);
	mt_pool_free(p);
	assert_int_equal(wait_for_no_zombies(5), 0);
	assert_int_equal(count_fds_linked_to("/memfd:"), memfds);
}

/* Tiny tasks travel in batches; killed in the middle of one, a worker
 * fails only the task it ran, and every other task runs exactly once
 * (each counts its runs in memory shared with the workers). */
enum { FAST_TASKS = 4000 };

static _Atomic int *fast_runs;

/* x -> x * x after 20 us of work, counting its run */
static int counted_square(const void *arg, size_t len, mt_task_out *out)
{
	int64_t x;
	memcpy(&x, arg, sizeof x);
	atomic_fetch_add(&fast_runs[x], 1);
	double start = now_seconds();
	while (now_seconds() - start < 20e-6)
		;
	return task_square(arg, len, out);
}

static void batched_tasks_run_exactly_once_while_workers_are_killed(void **state)
{
	size_t size = FAST_TASKS * sizeof *fast_runs;
	fast_runs = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(fast_runs != MAP_FAILED);
	mt_pool_opts opts = {.workers = WORKERS};
	mt_pool *p;
	assert_int_equal(mt_pool_new(&p, MT_POOL_PROCESS, &opts), 0);
	/* Kills 20-100 ms apart: a replacement, slow to fork under the
	 * sanitizers, gets to take batches before the next kill; 20 kills. */
	struct killer k = {.pool = p, .pause_ms = 20, .max_kills = 20};
	mt_thread *killer = start_thread(killer_main, &k);
	static mt_future *fs[FAST_TASKS];
	int died = 0;
	/* Rounds until enough kills landed, within a few seconds. */
	double start = now_seconds();
	for (int round = 0;
	     round < 1 || (atomic_load(&k.kills) < k.max_kills && now_seconds() - start < 5);
	     round++) {
		memset((void *)fast_runs, 0, size);
		for (int64_t i = 0; i < FAST_TASKS; i++)
			assert_int_equal(mt_pool_submit(p, counted_square, &i, sizeof i, &fs[i]),
					 0);
		for (int i = 0; i < FAST_TASKS; i++) {
			const void *data;
			size_t len;
			int err = mt_future_result(fs[i], 60, &data, &len);
			if (err == -EOWNERDEAD) {
				assert_int_equal(mt_future_exitcode(fs[i]), -SIGKILL);
				assert_true(atomic_load(&fast_runs[i]) <= 1);
				died++;
			} else {
				assert_int_equal(err, 0);
				assert_int_equal(arg_i64(data), (int64_t)i * i);
				assert_int_equal(atomic_load(&fast_runs[i]), 1);
			}
			mt_future_free(fs[i]);
		}
	}
	atomic_store(&k.stop, true);
	join_thread(killer);
	int kills = atomic_load(&k.kills);
	print_message("%d kills, %d batched tasks died with their worker\n", kills, died);
	assert_true(kills > 0);
	assert_true(died <= kills);
	mt_pool_free(p);
	munmap((void *)fast_runs, size);
	assert_int_equal(wait_for_no_zombies(5), 0);
}

/* The same pool goes on after the killing stops. */
static void the_pool_serves_new_work_after_kills(void **state)
{
	mt_pool_opts opts = {.workers = 2};
	mt_pool *p;
	assert_int_equal(mt_pool_new(&p, MT_POOL_PROCESS, &opts), 0);
	for (int round = 0; round < 10; round++) {
		int pids[2];
		assert_true(mt_pool_worker_pids(p, pids, 2) >= 1);
		kill(pids[0], SIGKILL);
		int64_t in[100], out[100];
		for (int i = 0; i < 100; i++)
			in[i] = i;
		size_t failed;
		int err = mt_pool_map(p, task_square, in, sizeof *in, 100, 10, out, sizeof *out, 60,
				      &failed);
		assert_true(err == 0 || err == -EOWNERDEAD);
		if (!err)
			for (int i = 0; i < 100; i++)
				assert_int_equal(out[i], (int64_t)i * i);
	}
	int64_t in[100], out[100];
	for (int i = 0; i < 100; i++)
		in[i] = i;
	assert_int_equal(
		mt_pool_map(p, task_square, in, sizeof *in, 100, 10, out, sizeof *out, 60, NULL),
		0);
	mt_pool_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_future_resolves_once_while_workers_are_killed),
		cmocka_unit_test(batched_tasks_run_exactly_once_while_workers_are_killed),
		cmocka_unit_test(the_pool_serves_new_work_after_kills),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
