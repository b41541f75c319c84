/* sigchld_ignore.c: the notes' 通过信号处理子进程退出: with
 * signal(SIGCHLD, SIG_IGN) the kernel reaps every child itself, so no
 * zombie is left and there is no status for wait() to collect. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
	/* Before the children exist, as the notes say: children that end
	 * while SIGCHLD is ignored are discarded at once. */
	signal(SIGCHLD, SIG_IGN);

	for (int i = 1; i <= 3; i++) {
		fflush(stdout);
		pid_t pid = fork();
		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (pid == 0) {
			printf("子进程 child %d: exiting with status %d\n", (int)getpid(), i);
			fflush(stdout);
			_exit(i);
		}
	}

	/* Linux makes wait() block until every child has ended, then fail:
	 * the kernel has already thrown their statuses away. */
	int status;
	pid_t pid = wait(&status);
	if (pid < 0 && errno == ECHILD)
		printf("wait() = -1, errno ECHILD (%s): the kernel reaped all "
		       "three children\n",
		       strerror(errno));
	else
		printf("wait() = %d: a status was kept after all?\n", (int)pid);
	return 0;
}
