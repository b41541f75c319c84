/* A program built against an installed mtask: starts a process and a
 * thread and prints their exit codes. */
#include <mtask/mtask.h>
#include <stdio.h>

static int answer(void *arg)
{
	return 42;
}

int main(void)
{
	mt_process *p;
	mt_thread *t;
	if (mt_process_start(&p, answer, NULL, NULL) || mt_thread_start(&t, answer, NULL, NULL))
		return 1;
	mt_process_join(p, -1);
	mt_thread_join(t, -1);
	printf("process %d thread %d\n", mt_process_exitcode(p), mt_thread_exitcode(t));
	mt_process_free(p);
	mt_thread_free(t);
	return 0;
}
