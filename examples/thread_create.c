/* thread_create.c: the notes' 线程的创建: 方式1, Thread(target=func,
 * args=(1,)), and 方式2, a MyThread class with run(); then the Thread
 * methods the notes list: name, ident, is_alive, daemon, current_thread. */
#include <stdio.h>

#include "mtask/thread.h"

/* What the notes' func prints about threading.current_thread(). */
static void describe_current_thread(void)
{
	mt_thread *me = mt_thread_current();
	printf("  current thread: name %s, ident %lu, alive %s, daemon %s\n", mt_thread_name(me),
	       mt_thread_ident(me), mt_thread_is_alive(me) ? "true" : "false",
	       mt_thread_daemon(me) ? "true" : "false");
}

/* 方式1: a function and its argument. */
static int func(void *arg)
{
	int data = *(const int *)arg;
	printf("子线程运行 (child thread runs) %d\n", data);
	describe_current_thread();
	return 0;
}

/* 方式2: the class idiom, as in custom_process.c. Threads share memory, so
 * unlike a process, run() works on the caller's struct itself: it must
 * outlive the thread, and what run() stores there, the caller sees. */
struct my_thread {
	mt_thread *thread; /* the "base class" */
	int data;
	int result; /* written by run, read after join */
};

static int my_thread_run(void *arg)
{
	struct my_thread *self = arg;
	printf("子线程运行 (child thread runs) %d\n", self->data);
	describe_current_thread();
	self->result = self->data * 10;
	return 0;
}

static int my_thread_start(struct my_thread *self, int data)
{
	self->data = data;
	self->result = 0;
	return mt_thread_start(&self->thread, my_thread_run, self, NULL);
}

int main(void)
{
	describe_current_thread();

	int data = 1;
	mt_thread *th;
	const mt_thread_opts opts = {.name = "子线程1"};
	if (mt_thread_start(&th, func, &data, &opts))
		return 1;
	/* One at a time, so that the two threads' lines do not interleave. */
	mt_thread_join(th, -1);
	printf("joined %s (ident %lu), alive now: %s\n", mt_thread_name(th), mt_thread_ident(th),
	       mt_thread_is_alive(th) ? "true" : "false");
	mt_thread_free(th);

	struct my_thread mine;
	if (my_thread_start(&mine, 1))
		return 1;
	mt_thread_join(mine.thread, -1);
	printf("joined %s (ident %lu), result %d\n", mt_thread_name(mine.thread),
	       mt_thread_ident(mine.thread), mine.result);
	mt_thread_free(mine.thread);
	return 0;
}
