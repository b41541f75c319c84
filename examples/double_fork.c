/* double_fork.c: the notes' 创建二级子进程处理僵尸 (double fork): the first
 * child forks a second-level child and exits at once, the parent reaps the
 * first child with os.wait, and the orphaned grandchild is adopted by the
 * system, which reaps it in turn: no zombie, no waiting. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, ms % 1000 * 1000000L};
	nanosleep(&ts, NULL);
}

/* The notes' fun_1 and fun_2, with 0.1 s and 0.2 s for 2 s and 4 s. */
static void write_code(void)
{
	for (int i = 0; i < 3; i++) {
		sleep_ms(100);
		printf("写代码 (writing code) in grandchild %d, parent %d\n", (int)getpid(),
		       (int)getppid());
		fflush(stdout);
	}
}

static void test_code(void)
{
	for (int i = 0; i < 2; i++) {
		sleep_ms(200);
		printf("测代码 (testing code) in parent %d\n", (int)getpid());
		fflush(stdout);
	}
}

int main(void)
{
	/* The grandchild reports its pid here and closes the pipe when it
	 * exits, so the program ends only after all of its output. */
	int link[2];
	if (pipe(link) < 0) {
		perror("pipe");
		return 1;
	}
	fflush(stdout);
	pid_t first = fork();
	if (first == 0) {
		close(link[0]);
		if (fork() == 0) {
			pid_t me = getpid();
			if (write(link[1], &me, sizeof me) != sizeof me)
				_exit(1);
			write_code();
			_exit(0);
		}
		_exit(0); /* the grandchild becomes an orphan */
	}
	close(link[1]);

	int status;
	waitpid(first, &status, 0); /* returns at once: first exits at once */
	printf("parent %d: reaped first child %d, exit status %d\n", (int)getpid(), (int)first,
	       WEXITSTATUS(status));
	pid_t grandchild = 0;
	if (read(link[0], &grandchild, sizeof grandchild) != sizeof grandchild) {
		fprintf(stderr, "no word from the grandchild\n");
		return 1;
	}
	printf("parent %d: grandchild %d is not mine to wait for\n", (int)getpid(),
	       (int)grandchild);
	fflush(stdout);

	test_code(); /* runs alongside the grandchild */

	char byte;
	while (read(link[0], &byte, 1) > 0)
		; /* EOF: the grandchild has exited */
	if (waitpid(grandchild, NULL, WNOHANG) < 0 && errno == ECHILD)
		printf("waitpid(grandchild) = ECHILD: its adoptive parent reaps "
		       "it, no zombie here\n");
	return 0;
}
