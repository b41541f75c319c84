/* exit_status.c: the notes' 进程相关函数: os._exit(status) against
 * sys.exit(status), and the status a parent reads back with os.wait(). */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void say_goodbye(void)
{
	printf("  atexit handler ran in pid %d\n", (int)getpid());
}

/* Forks a child that prints a line, which stays in stdio's buffer, then
 * leaves with _exit (use_exit false) or exit (use_exit true). Returns the
 * child's pid. */
static pid_t start_child(int status, int use_exit)
{
	fflush(stdout); /* nothing buffered may be inherited */
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	printf("  child %d: unflushed text from %s(%d)\n", (int)getpid(),
	       use_exit ? "exit" : "_exit", status);
	if (use_exit)
		exit(status); /* runs atexit handlers, flushes stdio */
	_exit(status);	      /* straight to the kernel: both are lost */
}

static void reap(pid_t pid)
{
	int status;
	if (waitpid(pid, &status, 0) != pid) {
		perror("waitpid");
		exit(1);
	}
	if (WIFEXITED(status))
		printf("parent: child %d exited, WEXITSTATUS = %d\n", (int)pid,
		       WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		printf("parent: child %d killed by signal %d\n", (int)pid, WTERMSIG(status));
}

int main(void)
{
	/* Registered before the forks, so both children inherit it. */
	atexit(say_goodbye);
	/* Full buffering even on a terminal, so that the lesson does not
	 * depend on where stdout goes. */
	setvbuf(stdout, NULL, _IOFBF, BUFSIZ);

	printf("_exit(3): no atexit handlers, stdio buffers dropped\n");
	reap(start_child(3, 0));

	printf("exit(4): atexit handlers run, stdio buffers flushed\n");
	reap(start_child(4, 1));

	/* Only the low 8 bits of a status reach the parent. */
	printf("_exit(404): the parent sees 404 & 0xff\n");
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0)
		_exit(404);
	reap(pid);

	/* The parent's own exit runs say_goodbye once more. */
	return 0;
}
