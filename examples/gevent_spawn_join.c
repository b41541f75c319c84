/* gevent_spawn_join.c: the notes' gevent lesson (gevent模块): two
 * greenlets that each wait one second finish together after one second,
 * because a wait in the hub lets the other run:
 *
 *     import gevent
 *     def eat():
 *         print('eat start')
 *         gevent.sleep(1)
 *         print('eat end')
 *     def sleep():
 *         print('start sleep')
 *         gevent.sleep(1)
 *         print('end sleep')
 *     g1 = gevent.spawn(eat)
 *     g2 = gevent.spawn(sleep)
 *     gevent.joinall([g1, g2])
 *
 * Then the monkey-patched version of the lesson, where the waits are IO:
 * with monkey.patch_all() gevent switches on a socket read too. mtask
 * needs no patching: mt_recv yields inside a greenlet. Two "downloads"
 * wait for replies that a third greenlet, the server, sends late; the
 * downloads' waits overlap, so both take about the time of one. */
#include <stdio.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "mtask/hub.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int eat(void *arg)
{
	printf("eat start\n");
	mt_hub_sleep(1);
	printf("eat end\n");
	return 0;
}

static int sleep_task(void *arg)
{
	printf("start sleep\n");
	mt_hub_sleep(1);
	printf("end sleep\n");
	return 0;
}

struct download {
	const char *name;
	int fd;
};

/* A download: ask the server, wait (in mt_recv) for its answer. */
static int download(void *arg)
{
	struct download *d = arg;
	char reply[32] = "";
	printf("download %s: request sent, waiting\n", d->name);
	mt_send(d->fd, "GET", 3, 0, 5);
	ssize_t n = mt_recv(d->fd, reply, sizeof reply - 1, 0, 5);
	printf("download %s: got \"%s\"\n", d->name, n > 0 ? reply : "nothing");
	return n > 0 ? 0 : 1;
}

/* The server answers each request 0.5 s after it came. */
static int slow_server(void *arg)
{
	int *fds = arg;
	char request[8];
	for (int i = 0; i < 2; i++)
		mt_recv(fds[i], request, sizeof request, 0, 5);
	mt_hub_sleep(0.5);
	for (int i = 0; i < 2; i++)
		mt_send(fds[i], "page", 4, 0, 5);
	return 0;
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	double t0 = now();
	mt_greenlet *g[2];
	mt_greenlet_spawn(&g[0], eat, NULL, NULL);
	mt_greenlet_spawn(&g[1], sleep_task, NULL, NULL);
	mt_greenlet_joinall(g, 2, -1); /* g1.join() + g2.join() */
	printf("both slept 1 s, together in %.1f s\n", now() - t0);
	mt_greenlet_free(g[0]);
	mt_greenlet_free(g[1]);

	int a[2], b[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, a) || socketpair(AF_UNIX, SOCK_STREAM, 0, b))
		return 1;
	struct download downloads[2] = {{"a", a[0]}, {"b", b[0]}};
	int server_ends[2] = {a[1], b[1]};
	t0 = now();
	mt_greenlet *d[3];
	mt_greenlet_spawn(&d[0], download, &downloads[0], NULL);
	mt_greenlet_spawn(&d[1], download, &downloads[1], NULL);
	mt_greenlet_spawn(&d[2], slow_server, server_ends, NULL);
	mt_greenlet_joinall(d, 3, -1);
	printf("two 0.5 s downloads, together in %.1f s\n", now() - t0);
	int failed = 0;
	for (int i = 0; i < 3; i++) {
		failed |= mt_greenlet_exitcode(d[i]);
		mt_greenlet_free(d[i]);
	}
	for (int i = 0; i < 2; i++) {
		mt_close(downloads[i].fd);
		mt_close(server_ends[i]);
	}
	return failed;
}
