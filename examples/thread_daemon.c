/* thread_daemon.c: the notes' 守护线程: a daemon thread still sleeping when
 * the main thread ends dies with the process; a non-daemon thread holds up
 * the program's exit; join waits for either kind.
 *
 * Usage: thread_daemon [daemon | nondaemon | join]. Each case ends with the
 * program's exit, so with no argument the program runs itself once per
 * case. */
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "mtask/thread.h"

extern char **environ;

/* static: the sleeping thread reads it after main has returned. */
static double sleep_seconds;

static int func(void *arg)
{
	double seconds = *(const double *)arg;
	struct timespec ts = {(time_t)seconds, (long)((seconds - (time_t)seconds) * 1e9)};
	nanosleep(&ts, NULL);
	printf("子线程执行代码 (child thread done after %.1f s)\n", seconds);
	return 0;
}

/* Starts the thread, then returns from main: the exit is the lesson. */
static int run_case(const char *mode)
{
	bool daemon = strcmp(mode, "nondaemon") != 0;
	/* The notes sleep 2 s. A daemon that is not waited for costs nothing
	 * however long it sleeps; the others are waited for: 0.2 s. */
	sleep_seconds = strcmp(mode, "daemon") == 0 ? 2.0 : 0.2;
	const mt_thread_opts opts = {.name = "子线程1", .daemon = daemon};
	mt_thread *th;
	if (mt_thread_start(&th, func, &sleep_seconds, &opts))
		return 1;
	if (strcmp(mode, "join") == 0)
		mt_thread_join(th, -1);
	mt_thread_free(th);
	printf("主线程执行代码 (main thread done)\n");
	return 0; /* exit waits for non-daemon threads only */
}

static int run_all_cases(void)
{
	char *modes[] = {"daemon", "nondaemon", "join"};
	for (int i = 0; i < 3; i++) {
		printf("== thread_daemon %s\n", modes[i]);
		fflush(stdout);
		char *argv[] = {"thread_daemon", modes[i], NULL};
		pid_t pid;
		int status;
		if (posix_spawn(&pid, "/proc/self/exe", NULL, NULL, argv, environ) ||
		    waitpid(pid, &status, 0) != pid || status != 0)
			return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return run_all_cases();
	if (strcmp(argv[1], "daemon") && strcmp(argv[1], "nondaemon") && strcmp(argv[1], "join")) {
		fprintf(stderr, "usage: %s [daemon | nondaemon | join]\n", argv[0]);
		return 2;
	}
	return run_case(argv[1]);
}
