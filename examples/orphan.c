/* orphan.c: the notes' 孤儿进程 (orphan process): the parent exits first and
 * the system adopts the child, whose getppid() changes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The name of a process, from /proc/PID/comm, for the adoptive parent. */
static void process_name(pid_t pid, char *buf, size_t size)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f || !fgets(buf, (int)size, f))
		snprintf(buf, size, "?");
	buf[strcspn(buf, "\n")] = '\0';
	if (f)
		fclose(f);
}

/* The child: reports its parent, tells it to go, and watches getppid()
 * change. */
static void orphan_main(int parent_may_exit)
{
	pid_t first_parent = getppid();
	printf("子进程 child %d: my parent is %d\n", (int)getpid(), (int)first_parent);
	fflush(stdout);
	close(parent_may_exit);

	/* Adoption follows the parent's exit at once; give up after a
	 * second rather than hang. */
	struct timespec pause = {0, 1000 * 1000};
	for (int i = 0; i < 1000 && getppid() == first_parent; i++)
		nanosleep(&pause, NULL);

	char name[64];
	pid_t adopter = getppid();
	process_name(adopter, name, sizeof name);
	printf("孤儿进程 orphan %d: parent %d is gone, adopted by %d (%s)\n", (int)getpid(),
	       (int)first_parent, (int)adopter, name);
	fflush(stdout);
}

/* The parent of the lesson: forks the child, and exits as soon as the
 * child has seen it, so that the child's first getppid() is still ours. */
static void parent_main(int orphan_done[2])
{
	int seen[2];
	if (pipe(seen) < 0)
		_exit(1);
	pid_t child = fork();
	if (child == 0) {
		close(orphan_done[0]);
		close(seen[0]);
		orphan_main(seen[1]);
		_exit(0); /* orphan_done[1] closes with us */
	}
	close(seen[1]);
	char byte;
	while (read(seen[0], &byte, 1) > 0)
		;
	printf("父进程 parent %d: exiting before my child %d\n", (int)getpid(), (int)child);
	fflush(stdout);
	_exit(0);
}

int main(void)
{
	/* The lesson needs a parent that dies first, but this program should
	 * only end once the orphan is done, so that its lines are part of the
	 * program's output. So main forks the parent of the lesson, and waits
	 * for the orphan through a pipe that closes when the orphan exits. */
	int orphan_done[2];
	if (pipe(orphan_done) < 0) {
		perror("pipe");
		return 1;
	}
	fflush(stdout);
	pid_t parent = fork();
	if (parent == 0)
		parent_main(orphan_done);
	close(orphan_done[1]);
	waitpid(parent, NULL, 0);

	char byte;
	while (read(orphan_done[0], &byte, 1) > 0)
		; /* EOF: the orphan has exited */
	close(orphan_done[0]);
	printf("main: the orphan has finished; its adoptive parent reaps it\n");
	return 0;
}
