/* spawn.c: `mtask bench spawn`: what it costs to start a task that does
 * nothing and wait for its end, as a process and as a thread.
 *
 * Floors: fork()+waitpid() and pthread_create()+pthread_join(), the least
 * any library can do, each measured in a process with no other thread (the
 * harness runs every batch in a fresh child). mtask adds to the first a
 * record, a pidfd, an epoll registration and a poll on the pidfd, and to
 * the second a record, a registry and a futex; the targets say how little
 * that may cost. One more row forks plainly after one mt_process in the
 * same process, to tell what the library's mere presence (its fork hook,
 * its registry) costs every fork from mtask's own work. posix_spawn of /bin/true
 * shows what a fresh program costs, and Python's threading and
 * multiprocessing (fork and spawn start methods) are what the notes teach.
 *
 * Every operation includes freeing what it made (mt_*_free), as a program
 * that starts tasks in a loop must. The process running the raw rows links
 * mtask, so fork() runs mtask's pthread_atfork hooks there too, as it
 * would in any program that uses the library. */
#include <errno.h>
#include <pthread.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "mtask/process.h"
#include "mtask/thread.h"

/* Rounds by default; each runs one batch of every implementation. */
#define SPAWN_ROUNDS 10

extern char **environ;

enum spawn_row {
	ROW_FORK,
	ROW_MT_PROCESS,
	ROW_FORK_AFTER_MT_PROCESS,
	ROW_POSIX_SPAWN,
	ROW_PY_MP_FORK,
	ROW_PY_MP_SPAWN,
	ROW_PTHREAD,
	ROW_MT_THREAD,
	ROW_PY_THREAD,
	ROW_COUNT
};

static int task_does_nothing(void *unused)
{
	return 0;
}

static void *pthread_does_nothing(void *unused)
{
	return NULL;
}

/* The exit status a trivial child or thread must report: anything else
 * means the benchmark timed something other than it meant to. */
static int check_exitcode(int code)
{
	return code == 0 ? 0 : -EPROTO;
}

static int wait_child(pid_t pid)
{
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(status) ? check_exitcode(WEXITSTATUS(status)) : -EPROTO;
}

static int fork_and_waitpid(void)
{
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0)
		_exit(0);
	return wait_child(pid);
}

static int posix_spawn_true(void)
{
	static char *const argv[] = {"true", NULL};
	pid_t pid;
	int err = posix_spawn(&pid, "/bin/true", NULL, NULL, argv, environ);
	if (err)
		return -err;
	return wait_child(pid);
}

static int mtask_process(void)
{
	mt_process *p;
	int err = mt_process_start(&p, task_does_nothing, NULL, NULL);
	if (err)
		return err;
	err = mt_process_join(p, -1);
	if (!err)
		err = check_exitcode(mt_process_exitcode(p));
	mt_process_free(p);
	return err;
}

static int pthread_create_and_join(void)
{
	pthread_t thread;
	int err = pthread_create(&thread, NULL, pthread_does_nothing, NULL);
	if (err)
		return -err;
	return -pthread_join(thread, NULL);
}

static int mtask_thread(void)
{
	mt_thread *t;
	int err = mt_thread_start(&t, task_does_nothing, NULL, NULL);
	if (err)
		return err;
	err = mt_thread_join(t, -1);
	if (!err)
		err = check_exitcode(mt_thread_exitcode(t));
	mt_thread_free(t);
	return err;
}

#define PROCESS "process start+join"
#define THREAD "thread start+join"

/* Batches are sized so that one round of each takes 50-250 ms here:
 * fork ~0.7 ms, a thread ~50 us, Python's multiprocessing ~13 ms (fork)
 * and ~80 ms (spawn) per process. In enum spawn_row's order. */
static const struct bench_impl spawn_impls[ROW_COUNT] = {
	[ROW_FORK] = {.operation = PROCESS,
		      .implementation = "fork + waitpid (floor)",
		      .reference = true,
		      .op = fork_and_waitpid,
		      .batch = 100,
		      .quick_batch = 10},
	[ROW_MT_PROCESS] = {.operation = PROCESS,
			    .implementation = "mt_process_start + join + free",
			    .op = mtask_process,
			    .batch = 100,
			    .quick_batch = 10},
	[ROW_FORK_AFTER_MT_PROCESS] = {.operation = PROCESS,
				    .implementation = "fork + waitpid after one mt_process",
				    .setup = mtask_process,
				    .op = fork_and_waitpid,
				    .batch = 100,
				    .quick_batch = 10},
	[ROW_POSIX_SPAWN] = {.operation = PROCESS,
			     .implementation = "posix_spawn /bin/true + waitpid",
			     .op = posix_spawn_true,
			     .batch = 100,
			     .quick_batch = 10},
	[ROW_PY_MP_FORK] = {.operation = PROCESS,
			    .implementation = "Python multiprocessing (fork)",
			    .peer_script = "spawn.py",
			    .peer_kind = "mp-fork",
			    .batch = 15,
			    .quick_batch = 3},
	[ROW_PY_MP_SPAWN] = {.operation = PROCESS,
			     .implementation = "Python multiprocessing (spawn)",
			     .peer_script = "spawn.py",
			     .peer_kind = "mp-spawn",
			     .batch = 3,
			     .quick_batch = 1},
	[ROW_PTHREAD] = {.operation = THREAD,
			 .implementation = "pthread_create + join (floor)",
			 .reference = true,
			 .op = pthread_create_and_join,
			 .batch = 1000,
			 .quick_batch = 50},
	[ROW_MT_THREAD] = {.operation = THREAD,
			   .implementation = "mt_thread_start + join + free",
			   .op = mtask_thread,
			   .batch = 1000,
			   .quick_batch = 50},
	[ROW_PY_THREAD] = {.operation = THREAD,
			   .implementation = "Python threading.Thread",
			   .peer_script = "spawn.py",
			   .peer_kind = "thread",
			   .batch = 300,
			   .quick_batch = 20},
};

int bench_spawn(const struct bench_config *config, struct bench_result *result)
{
	int err = bench_run_rounds(config, result, spawn_impls, ROW_COUNT, SPAWN_ROUNDS);
	bench_add_target(result, "mtask process vs fork+waitpid", ROW_MT_PROCESS, ROW_FORK,
			 BENCH_AT_MOST, 1.2);
	bench_add_target(result, "mtask thread vs pthread_create+join", ROW_MT_THREAD, ROW_PTHREAD,
			 BENCH_AT_MOST, 1.2);
	bench_add_target(result, "Python multiprocessing (fork) vs mtask process", ROW_PY_MP_FORK,
			 ROW_MT_PROCESS, BENCH_AT_LEAST, 15);
	return err;
}
