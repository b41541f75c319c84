/* three_processes.c: the notes' 多进程 example: 吃饭, 睡觉 and 打豆豆 in
 * three processes that sleep 3, 4 and 5 s (here 0.3, 0.4 and 0.5 s), each
 * printing ppid -- pid; join all, then "finished". */
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "mtask/process.h"

struct chore {
	const char *text;
	long sleep_ms;
};

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int do_chore(void *arg)
{
	const struct chore *c = arg;
	struct timespec ts = {c->sleep_ms / 1000, c->sleep_ms % 1000 * 1000000L};
	nanosleep(&ts, NULL);
	printf("%s\n", c->text);
	printf("%d -- %d\n", (int)getppid(), (int)getpid());
	return 0;
}

int main(void)
{
	static const struct chore things[] = {
		{"吃饭 (eat)", 300},
		{"睡觉 (sleep)", 400},
		{"打豆豆 (beat Doudou)", 500},
	};
	enum { N = sizeof things / sizeof things[0] };
	mt_process *jobs[N];

	printf("main process %d\n", (int)getpid());
	double start = now_seconds();
	for (int i = 0; i < N; i++) {
		int err = mt_process_start(&jobs[i], do_chore, (void *)&things[i], NULL);
		if (err) {
			fprintf(stderr, "start: %s\n", mt_strerror(err));
			return 1;
		}
	}
	for (int i = 0; i < N; i++) {
		mt_process_join(jobs[i], -1);
		mt_process_free(jobs[i]);
	}
	/* All three ran at once: about 0.5 s, where one after another would
	 * take 0.3 + 0.4 + 0.5 = 1.2 s. */
	printf("finished after %.2f s\n", now_seconds() - start);
	return 0;
}
