/* coro_kill_cleanup.c: ending a coroutine from outside, greenlet's
 * throw() and gevent's kill(), with cleanups that run however it ends.
 *
 * A downloader coroutine opens a connection and a file, registering a
 * cleanup for each (mt_coro_defer, Python's try/finally or `with`), then
 * hands each chunk it "downloads" to main. Main stops it halfway:
 *
 *     g.throw(Cancelled("enough"))      ->  mt_coro_throw(g, "enough")
 *     g.kill()                          ->  mt_coro_kill(g)
 *
 * The coroutine resumes inside its pending switch, runs its cleanups
 * newest first (the file closes before the connection), and ends: the
 * thrown value is its result, which goes to its parent (main). A second
 * downloader is killed before it ever ran: its function never runs and
 * there is nothing to clean up. */
#include <stdio.h>

#include "mtask/coro.h"

struct download {
	const char *name;
	int chunks;
};

static void close_connection(void *name)
{
	printf("  cleanup: connection for %s closed\n", (char *)name);
}

static void close_file(void *name)
{
	printf("  cleanup: %s.part closed and removed\n", (char *)name);
}

static void *downloader(void *arg)
{
	struct download *d = arg;
	mt_coro *main_coro = mt_coro_parent(mt_coro_current());
	printf("  %s: connect, open %s.part\n", d->name, d->name);
	mt_coro_defer(close_connection, (void *)d->name);
	mt_coro_defer(close_file, (void *)d->name);
	for (int chunk = 1; chunk <= d->chunks; chunk++)
		mt_coro_switch(main_coro, &chunk); /* "here is a chunk" */
	printf("  %s: complete\n", d->name);
	return "done"; /* the cleanups run after this too */
}

/* Takes chunks from g until it has `wanted` or g ends. */
static void take_chunks(mt_coro *g, struct download *d, int wanted)
{
	for (int got = 0; got < wanted; got++) {
		int *chunk = mt_coro_switch(g, d);
		if (mt_coro_dead(g))
			return;
		printf("main: got chunk %d of %s\n", *chunk, d->name);
	}
}

int main(void)
{
	struct download a = {"a.iso", 10}, b = {"b.iso", 3};
	mt_coro *ga, *gb, *gc;
	if (mt_coro_new(&ga, downloader, 0) || mt_coro_new(&gb, downloader, 0) ||
	    mt_coro_new(&gc, downloader, 0))
		return 1;

	printf("throw into a.iso after 3 chunks:\n");
	take_chunks(ga, &a, 3);
	char *result = mt_coro_throw(ga, "enough");
	printf("main: a.iso ended with \"%s\", dead %d, thrown %d\n", result, mt_coro_dead(ga),
	       mt_coro_thrown(ga));

	printf("let b.iso finish:\n");
	take_chunks(gb, &b, 100);
	printf("main: b.iso dead %d, thrown %d\n", mt_coro_dead(gb), mt_coro_thrown(gb));

	printf("kill c.iso before it starts:\n");
	int err = mt_coro_kill(gc);
	printf("main: kill returned %d; c.iso started %d, dead %d\n", err, mt_coro_started(gc),
	       mt_coro_dead(gc));

	mt_coro_free(ga);
	mt_coro_free(gb);
	mt_coro_free(gc);
	return 0;
}
