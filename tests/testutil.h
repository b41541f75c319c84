/* testutil.h: what several test files need: cmocka, and facts read from
 * /proc about this process (its zombies, its open descriptors). */
#ifndef MTASK_TESTUTIL_H
#define MTASK_TESTUTIL_H

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "mtask/process.h"
#include "mtask/thread.h"

/* Reads /proc/PID/stat: the state letter and the parent's PID. comm may
 * hold spaces and parentheses, so parse after the last ')'. */
static inline int proc_stat(pid_t pid, char *state, pid_t *ppid)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *close_paren = strrchr(buf, ')');
	int parent;
	if (!close_paren || sscanf(close_paren + 1, " %c %d", state, &parent) != 2)
		return -1;
	*ppid = parent;
	return 0;
}

/* The number of this process's children that are zombies now. */
static inline int count_my_zombies(void)
{
	DIR *dir = opendir("/proc");
	int zombies = 0;
	struct dirent *e;
	while (dir && (e = readdir(dir))) {
		char state;
		pid_t ppid;
		pid_t pid = (pid_t)atoi(e->d_name);
		if (pid > 0 && proc_stat(pid, &state, &ppid) == 0 &&
		    ppid == getpid() && state == 'Z')
			zombies++;
	}
	if (dir)
		closedir(dir);
	return zombies;
}

/* Looks at count() every 10 ms for up to `seconds` until it is at most
 * `most`, for cleanup that another thread (the reaper) finishes a moment
 * later; returns the last count. */
static inline int wait_for_count_at_most(int (*count)(void), int most, double seconds)
{
	struct timespec pause = {0, 10 * 1000 * 1000};
	int n = count();
	for (int i = 0; n > most && i < seconds * 100; i++) {
		nanosleep(&pause, NULL);
		n = count();
	}
	return n;
}

/* Waits up to `seconds` for this process to have no zombie children
 * (reaping is asynchronous), and returns how many are left. */
static inline int wait_for_no_zombies(double seconds)
{
	return wait_for_count_at_most(count_my_zombies, 0, seconds);
}

/* The number of open file descriptors of this process. */
static inline int count_open_fds(void)
{
	DIR *dir = opendir("/proc/self/fd");
	int n = 0;
	while (dir && readdir(dir))
		n++;
	if (dir)
		closedir(dir);
	return n - 3; /* ".", ".." and the directory's own descriptor */
}

/* The number of this process's descriptors of the kinds the library opens
 * (pidfd, epoll, eventfd: all "anon_inode:"). Sanitizer runtimes open and
 * close files of their own at any time, so counting every descriptor would
 * make the leak check flaky under them. */
static inline int count_anon_inode_fds(void)
{
	DIR *dir = opendir("/proc/self/fd");
	int n = 0;
	struct dirent *e;
	while (dir && (e = readdir(dir))) {
		char path[300], target[64];
		snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
		ssize_t len = readlink(path, target, sizeof target - 1);
		n += len > 0 && strncmp(target, "anon_inode:", 11) == 0;
	}
	if (dir)
		closedir(dir);
	return n;
}

/* CLOCK_MONOTONIC in seconds. */
static inline double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A thread running fn(arg) with default options; fails the test if it
 * cannot start. */
static inline mt_thread *start_thread(mt_fn fn, void *arg)
{
	mt_thread *t;
	assert_int_equal(mt_thread_start(&t, fn, arg, NULL), 0);
	return t;
}

/* Joins t (failing the test after 30 s), frees it, returns its exit code. */
static inline int join_thread(mt_thread *t)
{
	assert_int_equal(mt_thread_join(t, 30), 0);
	int code = mt_thread_exitcode(t);
	mt_thread_free(t);
	return code;
}

/* How many of this process's descriptors link to a name starting with
 * prefix ("/memfd:NAME", "socket:"). Sanitizer runtimes open files of
 * their own, so counting every descriptor would be flaky. */
static inline int count_fds_linked_to(const char *prefix)
{
	DIR *dir = opendir("/proc/self/fd");
	int n = 0;
	struct dirent *e;
	while (dir && (e = readdir(dir))) {
		char path[300], target[256];
		snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
		ssize_t len = readlink(path, target, sizeof target - 1);
		if (len > 0) {
			target[len] = '\0';
			n += strncmp(target, prefix, strlen(prefix)) == 0;
		}
	}
	if (dir)
		closedir(dir);
	return n;
}

/* A child process running fn(arg) with default options; fails the test if
 * it cannot start. */
static inline mt_process *start_child(mt_fn fn, void *arg)
{
	mt_process *p;
	assert_int_equal(mt_process_start(&p, fn, arg, NULL), 0);
	return p;
}

/* Joins p (failing the test after 30 s), frees it, returns its exit code. */
static inline int join_child(mt_process *p)
{
	assert_int_equal(mt_process_join(p, 30), 0);
	int code = mt_process_exitcode(p);
	mt_process_free(p);
	return code;
}

/* Memory that parent and children share, as multiprocessing's Value:
 * one zero-filled page, inherited by the processes started after. */
static inline void *shared_page(void)
{
	void *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(page != MAP_FAILED);
	return page;
}

static inline void sleep_seconds(double s)
{
	struct timespec ts = {(time_t)s, (long)((s - (time_t)s) * 1e9)};
	while (nanosleep(&ts, &ts) < 0)
		;
}

#endif
