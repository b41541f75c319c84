/* custom_process.c: the notes' 自定义进程类: class MyProcess(Process) with
 * its own attribute (value), steps f1 and f2, and a run() that start()
 * calls in the child.
 *
 * The C idiom for a Process subclass: a struct of your own that holds the
 * mt_process handle beside its attributes, plus a run function that takes
 * the struct as its argument. "start" hands the struct itself to
 * mt_process_start, so run(self) sees every attribute, as Python's run(self)
 * does. The child works on its copy of the struct: what run changes stays
 * in the child. */
#include <stdio.h>
#include <unistd.h>

#include "mtask/process.h"

struct my_process {
	mt_process *proc; /* the "base class": NULL until started */
	int value;	  /* MyProcess's own attribute */
};

static void my_process_init(struct my_process *self, int value)
{
	self->proc = NULL;
	self->value = value;
}

static void my_process_f1(struct my_process *self)
{
	printf("步骤1 (step 1): value %d, pid %d\n", self->value, (int)getpid());
}

static void my_process_f2(struct my_process *self)
{
	printf("步骤2 (step 2): value %d, pid %d\n", self->value, (int)getpid());
}

/* run(self): the body of the child. */
static int my_process_run(void *arg)
{
	struct my_process *self = arg;
	my_process_f1(self);
	my_process_f2(self);
	return 0;
}

/* start(): fork a child that calls run(self). */
static int my_process_start(struct my_process *self)
{
	const mt_process_opts opts = {.name = "MyProcess"};
	return mt_process_start(&self->proc, my_process_run, self, &opts);
}

static int my_process_join(struct my_process *self)
{
	return mt_process_join(self->proc, -1);
}

/* Like a destructor: releases the handle, never leaves a zombie. */
static void my_process_destroy(struct my_process *self)
{
	mt_process_free(self->proc);
	self->proc = NULL;
}

int main(void)
{
	struct my_process p;
	my_process_init(&p, 2); /* p = MyProcess(2) */

	printf("主进程 (main process) %d\n", (int)getpid());
	int err = my_process_start(&p); /* p.start() runs run() in a child */
	if (err) {
		fprintf(stderr, "start: %s\n", mt_strerror(err));
		return 1;
	}
	my_process_join(&p); /* p.join() */
	printf("%s (pid %d) exitcode %d\n", mt_process_name(p.proc), (int)mt_process_pid(p.proc),
	       mt_process_exitcode(p.proc));
	my_process_destroy(&p);
	return 0;
}
