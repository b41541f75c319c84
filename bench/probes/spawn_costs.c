/* spawn_costs.c: where the time of a process or thread start+join goes.
 *
 * Not a benchmark of `mtask bench` but the probe behind the analysis in
 * docs/benchmarks.md: each mode adds one ingredient of mt_process_start +
 * join (or mt_thread_start + join) to the raw floor, so that differences
 * between modes price the ingredients. Built twice: spawn_costs never
 * links mtask (the true floor, without mtask's pthread_atfork hooks), and
 * spawn_costs_mtask links it and has the mtask modes too. One mode per
 * run, so that a thread started for one mode never changes another's
 * figures:
 *
 *     spawn_costs MODE [COUNT]   prints "MODE MEDIAN_US P10_US MOVED_%"
 *
 * bench/probes/spawn_costs.sh runs every mode in rotating rounds. */
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifdef WITH_MTASK
#include "mtask/process.h"
#include "mtask/thread.h"
#endif

static int epfd = -1;
static _Atomic uint32_t finished;

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void futex_wake(_Atomic uint32_t *word)
{
	syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* ---- processes ---- */

static void *idle_thread(void *unused)
{
	for (;;)
		pause();
	return NULL;
}

/* The least a reaper thread does: wait on every child's pidfd, reap. */
static void *minimal_reaper(void *unused)
{
	struct epoll_event events[16];
	for (;;) {
		int n = epoll_wait(epfd, events, 16, -1);
		for (int i = 0; i < n; i++) {
			siginfo_t info;
			waitid(P_PIDFD, (id_t)events[i].data.fd, &info, WEXITED | WNOHANG);
		}
	}
	return NULL;
}

static void fork_waitpid(void)
{
	pid_t pid = fork();
	if (pid == 0)
		_exit(0);
	waitpid(pid, NULL, 0);
}

/* fork, then what mt_process_join does: poll the pidfd, reap through it. */
static void fork_pidfd(bool watched_by_reaper)
{
	pid_t pid = fork();
	if (pid == 0)
		_exit(0);
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (watched_by_reaper) {
		struct epoll_event ev = {.events = EPOLLIN | EPOLLONESHOT, .data.fd = fd};
		epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
	}
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	ppoll(&pfd, 1, NULL, NULL);
	siginfo_t info;
	waitid(P_PIDFD, (id_t)fd, &info, WEXITED | WNOHANG);
	close(fd);
}

static void fork_pidfd_alone(void)
{
	fork_pidfd(false);
}

static void fork_pidfd_reaper(void)
{
	fork_pidfd(true);
}

/* ---- threads ---- */

static void *thread_plain(void *unused)
{
	return NULL;
}

/* The system calls mt_thread's start adds in the new thread: its kernel
 * ID, its kernel name, and the wakes of `started` and `finished`. */
static void *thread_syscalls(void *unused)
{
	syscall(SYS_gettid);
	prctl(PR_SET_NAME, "Thread-1");
	futex_wake(&finished);
	futex_wake(&finished);
	return NULL;
}

static void *thread_flag(void *syscalls)
{
	if (syscalls) {
		syscall(SYS_gettid);
		prctl(PR_SET_NAME, "Thread-1");
		futex_wake(&finished);
	}
	atomic_store(&finished, 1);
	futex_wake(&finished);
	return NULL;
}

static void pthread_plain(void)
{
	pthread_t t;
	pthread_create(&t, NULL, thread_plain, NULL);
	pthread_join(t, NULL);
}

static void pthread_syscalls(void)
{
	pthread_t t;
	pthread_create(&t, NULL, thread_syscalls, NULL);
	pthread_join(t, NULL);
}

/* As mt_thread_join: sleep on a futex word until the thread says it is
 * done, then sleep again in pthread_join until the kernel says so. */
static void join_twice(void *syscalls)
{
	pthread_t t;
	atomic_store(&finished, 0);
	pthread_create(&t, NULL, thread_flag, syscalls);
	while (!atomic_load(&finished))
		syscall(SYS_futex, &finished, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
	pthread_join(t, NULL);
}

static void pthread_join_twice(void)
{
	join_twice(NULL);
}

static void pthread_both(void)
{
	join_twice(&finished);
}

#ifdef WITH_MTASK
static int does_nothing(void *unused)
{
	return 0;
}

static void mtask_process(void)
{
	mt_process *p;
	if (mt_process_start(&p, does_nothing, NULL, NULL) == 0) {
		mt_process_join(p, -1);
		mt_process_free(p);
	}
}

static void mtask_thread(void)
{
	mt_thread *t;
	if (mt_thread_start(&t, does_nothing, NULL, NULL) == 0) {
		mt_thread_join(t, -1);
		mt_thread_free(t);
	}
}
#endif

struct mode {
	const char *name;
	void (*op)(void);
	void *(*helper)(void *); /* a thread started first, or NULL */
	void (*setup)(void);	 /* run once first, or NULL */
};

static const struct mode modes[] = {
	{"fork", fork_waitpid, NULL, NULL},
	{"fork+idle-thread", fork_waitpid, idle_thread, NULL},
	{"fork+pidfd", fork_pidfd_alone, NULL, NULL},
	{"fork+pidfd+reaper", fork_pidfd_reaper, minimal_reaper, NULL},
	{"pthread", pthread_plain, NULL, NULL},
	{"pthread+syscalls", pthread_syscalls, NULL, NULL},
	{"pthread+join-twice", pthread_join_twice, NULL, NULL},
	{"pthread+both", pthread_both, NULL, NULL},
#ifdef WITH_MTASK
	{"mtask-linked-fork", fork_waitpid, NULL, NULL},
	{"mtask-reaper-idle-fork", fork_waitpid, NULL, mtask_process},
	{"mt_process", mtask_process, NULL, NULL},
	{"mt_thread", mtask_thread, NULL, NULL},
#endif
};

static int compare_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* Prints the median and 10th percentile, and how often the caller ended
 * the operation on another CPU than it began on: a wake-up that pulls the
 * joiner across CPUs changes thread start+join times a lot on this VM. */
static int run(const struct mode *m, int count)
{
	uint64_t *ns = malloc((size_t)count * sizeof *ns);
	pthread_t helper;
	int moved = 0;
	if (!ns || (m->helper && pthread_create(&helper, NULL, m->helper, NULL)))
		return 1;
	if (m->setup)
		m->setup();
	m->op(); /* warm-up: lazy binding, first-use allocations */
	for (int i = 0; i < count; i++) {
		int cpu = sched_getcpu();
		uint64_t start = now_ns();
		m->op();
		ns[i] = now_ns() - start;
		moved += sched_getcpu() != cpu;
	}
	qsort(ns, (size_t)count, sizeof *ns, compare_u64);
	printf("%s %.1f %.1f %.0f\n", m->name, (double)ns[count / 2] / 1e3,
	       (double)ns[count / 10] / 1e3, 100.0 * moved / count);
	free(ns);
	return 0;
}

int main(int argc, char **argv)
{
	int count = argc > 2 ? atoi(argv[2]) : 500;
	epfd = epoll_create1(EPOLL_CLOEXEC);
	for (size_t i = 0; argc > 1 && count > 0 && i < sizeof modes / sizeof modes[0]; i++)
		if (!strcmp(argv[1], modes[i].name))
			return run(&modes[i], count);
	fprintf(stderr, "usage: %s MODE [COUNT]; modes:", argv[0]);
	for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
		fprintf(stderr, " %s", modes[i].name);
	fprintf(stderr, "\n");
	return 2;
}
