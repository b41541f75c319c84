/* tour_hub.c: the tour's gevent scene: the notes' eat and sleep greenlets
 * waiting at the same time on one thread, a wait that is a socket read,
 * and the price of a spawn + join. */
#include <stdio.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "mtask/hub.h"
#include "tour.h"

static double seconds_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int nap(void *what)
{
	printf("  %s start\n", (const char *)what);
	mt_hub_sleep(0.2);
	printf("  %s end\n", (const char *)what);
	return 0;
}

static int read_one_line(void *arg)
{
	char line[32] = "";
	ssize_t n = mt_recv(*(int *)arg, line, sizeof line - 1, 0, 1);
	printf("  the reader got \"%s\" (it waited in mt_recv; the hub ran others)\n",
	       n > 0 ? line : "nothing");
	return 0;
}

static int write_one_line(void *arg)
{
	printf("  the writer runs while the reader waits, and sends\n");
	mt_send(*(int *)arg, "hello", 5, 0, 1);
	return 0;
}

static int return_at_once(void *arg)
{
	return 0;
}

/* Nanoseconds per spawn + join + free, over 2,000: few, because the
 * sanitizer builds run the tour too, and under TSan a spawn costs ms. */
static double spawn_join_cost(void)
{
	enum { ROUNDS = 2000 };
	double t0 = seconds_now();
	for (int i = 0; i < ROUNDS; i++) {
		mt_greenlet *g;
		if (mt_greenlet_spawn(&g, return_at_once, NULL, NULL))
			return 0;
		mt_greenlet_join(g, -1);
		mt_greenlet_free(g);
	}
	return (seconds_now() - t0) * 1e9 / ROUNDS;
}

void tour_gevent(void)
{
	mt_greenlet *g[2];
	double t0 = seconds_now();
	if (mt_greenlet_spawn(&g[0], nap, "eat", NULL) ||
	    mt_greenlet_spawn(&g[1], nap, "sleep", NULL))
		return;
	mt_greenlet_joinall(g, 2, -1);
	printf("  two sleeps of 0.2 s took %.1f s together: gevent.sleep yields\n",
	       seconds_now() - t0);
	mt_greenlet_free(g[0]);
	mt_greenlet_free(g[1]);
	int fds[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds))
		return;
	if (mt_greenlet_spawn(&g[0], read_one_line, &fds[0], NULL) ||
	    mt_greenlet_spawn(&g[1], write_one_line, &fds[1], NULL))
		return;
	mt_greenlet_joinall(g, 2, -1);
	mt_greenlet_free(g[0]);
	mt_greenlet_free(g[1]);
	mt_close(fds[0]);
	mt_close(fds[1]);
	printf("  a greenlet's spawn + join costs about %.0f ns here\n", spawn_join_cost());
}
