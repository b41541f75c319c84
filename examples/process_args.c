/* process_args.c: the notes' first multiprocessing example,
 * Process(target=f, args=('bob',)): start, join, exitcode. */
#include <stdio.h>
#include <unistd.h>

#include "mtask/process.h"

/* Python packs positional arguments in a tuple; C passes one pointer, so
 * the arguments travel in a struct. The child gets a copy of the parent's
 * memory at the fork, so the struct may live on the parent's stack as long
 * as the parent keeps it until start returns. */
struct greeting {
	const char *name;
	int age;
};

static int f(void *arg)
{
	const struct greeting *g = arg;
	printf("hello %s (age %d)\n", g->name, g->age);
	printf("我是子进程 (I am the child): pid %d, ppid %d\n", (int)getpid(), (int)getppid());
	return 0; /* the exit code the parent reads */
}

int main(void)
{
	struct greeting args = {.name = "bob", .age = 18};
	mt_process *p;
	mt_process_opts opts = {.name = "greeter"};

	printf("主进程 (main process): pid %d\n", (int)getpid());
	int err = mt_process_start(&p, f, &args, &opts);
	if (err) {
		fprintf(stderr, "mt_process_start: %s\n", mt_strerror(err));
		return 1;
	}
	printf("started %s, pid %d\n", mt_process_name(p), (int)mt_process_pid(p));

	/* Without the join the next line could come before the child's. */
	mt_process_join(p, -1);
	printf("执行主进程的内容了 (the main process goes on after join)\n");
	printf("%s exitcode %d\n", mt_process_name(p), mt_process_exitcode(p));
	mt_process_free(p);
	return 0;
}
