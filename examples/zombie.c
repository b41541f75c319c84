/* zombie.c: the notes' 僵尸进程 (zombie process): a child that ended but was
 * not waited for stays in the process table in state Z until its parent
 * collects its status with os.wait / waitpid. */
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* The state letter of a process from /proc/PID/stat, or '-' once the
 * process is gone. The command name may hold spaces and parentheses, so
 * the state is read after the last ')'. */
static char process_state(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return '-';
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *paren = strrchr(buf, ')');
	char state;
	if (!paren || sscanf(paren + 1, " %c", &state) != 1)
		return '?';
	return state;
}

int main(void)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		return 1;
	}
	if (pid == 0)
		_exit(7); /* the child ends at once */

	/* WNOWAIT waits until the child has ended but leaves it unreaped,
	 * which is exactly what a careless parent does. */
	siginfo_t info;
	waitid(P_PID, (id_t)pid, &info, WEXITED | WNOWAIT);
	printf("child %d has exited, state %c (Z = zombie: its status waits "
	       "for the parent)\n",
	       (int)pid, process_state(pid));

	/* The cure: collect the status. */
	int status;
	if (waitpid(pid, &status, 0) != pid) {
		perror("waitpid");
		return 1;
	}
	printf("waitpid(%d) collected exit status %d\n", (int)pid, WEXITSTATUS(status));
	char state = process_state(pid);
	printf("after waitpid, state %c: %s\n", state,
	       state == '-' ? "gone from the process table" : "still there?");
	return 0;
}
