/* fork_basics.c: the notes' fork demo (基于fork的多进程编程): os.fork's two
 * return values, os.getpid / os.getppid, and "finished" printed by both. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
	printf("before fork: one process, pid %d\n", (int)getpid());
	/* Anything still buffered would be copied into the child and printed
	 * twice, once by each process. */
	fflush(stdout);

	pid_t pid = fork();
	if (pid < 0) {
		perror("fork failed");
		return 1;
	} else if (pid == 0) {
		/* The child starts life here, on the return from fork. */
		printf("new (子进程 child): fork returned 0, pid %d, ppid %d\n", (int)getpid(),
		       (int)getppid());
	} else {
		printf("old (父进程 parent): fork returned %d, pid %d\n", (int)pid, (int)getpid());
	}
	printf("finished (pid %d)\n", (int)getpid());

	/* The notes' version stops here. The parent also waits, so that the
	 * child's lines are out before the program returns and the child does
	 * not linger as a zombie (see zombie.c). */
	if (pid > 0)
		waitpid(pid, NULL, 0);
	return 0;
}
