/* process_isolation.c: the notes' 进程之间的数据隔离问题: the child sets the
 * global n to 0, and the parent's n stays 100. */
#include <stdio.h>

#include "mtask/process.h"

static int n = 100;

static int work(void *arg)
{
	(void)arg;
	n = 0; /* writes the child's own copy of the page, not the parent's */
	printf("子进程内 (in the child): n = %d, &n = %p\n", n, (void *)&n);
	return 0;
}

int main(void)
{
	mt_process *p;
	int err = mt_process_start(&p, work, NULL, NULL);
	if (err) {
		fprintf(stderr, "start: %s\n", mt_strerror(err));
		return 1;
	}
	/* The notes print at once; joining first shows that the child has
	 * already set its n to 0 when the parent still reads 100. */
	mt_process_join(p, -1);
	mt_process_free(p);
	/* The same address in both: each process has its own memory behind
	 * the same virtual addresses. */
	printf("主进程内 (in the parent): n = %d, &n = %p\n", n, (void *)&n);
	return 0;
}
