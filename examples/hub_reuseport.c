/* hub_reuseport.c: gevent on every core. The notes point out that
 * coroutines run on one thread, so one process uses one CPU (协程的本质是
 * 单线程下，无法利用多核), and suggest processes or threads each running
 * coroutines. With mtask that is one hub per thread: each server thread
 * has its own listening socket on the same port (SO_REUSEPORT), the
 * kernel spreads the connections over them, and the hubs share nothing.
 *
 * HUBS server threads each accept in a greenlet and answer every
 * connection, in a greenlet of its own, with their hub's number; the main
 * thread's hub runs CLIENTS client greenlets. Servers stop when main sets
 * a flag (their accept waits time out every 50 ms to look at it). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/socket.h>

#include "mtask/hub.h"
#include "mtask/thread.h"

#define HUBS 2
#define CLIENTS 20

static _Atomic bool stopping;
static struct sockaddr_in addr = {.sin_family = AF_INET};

static int listen_shared(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), on = 1;
	socklen_t size = sizeof addr;
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) ||
	    bind(fd, (struct sockaddr *)&addr, size) || listen(fd, 64) ||
	    getsockname(fd, (struct sockaddr *)&addr, &size))
		return -1;
	return fd;
}

struct server {
	int fd, number;
};

static int serve(void *arg)
{
	struct server *s = arg;
	while (!atomic_load(&stopping)) {
		int conn = mt_accept(s->fd, NULL, NULL, 0.05);
		if (conn >= 0) {
			char reply = (char)('0' + s->number);
			mt_send(conn, &reply, 1, 0, 1);
			mt_close(conn);
		}
	}
	return 0;
}

/* A server thread: its own hub, runs serve in a greenlet. */
static int server_thread(void *arg)
{
	mt_greenlet *g;
	if (mt_greenlet_spawn(&g, serve, arg, NULL) || mt_greenlet_join(g, -1))
		return 1;
	mt_greenlet_free(g);
	return 0;
}

static int served_by[HUBS];

static int client(void *arg)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	char reply = 0;
	int bad = mt_connect(fd, (struct sockaddr *)&addr, sizeof addr, 5) ||
		  mt_recv(fd, &reply, 1, 0, 5) != 1 || reply < '0' || reply >= '0' + HUBS;
	if (!bad)
		served_by[reply - '0']++;
	mt_close(fd);
	return bad;
}

int main(void)
{
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	struct server servers[HUBS];
	mt_thread *threads[HUBS];
	for (int i = 0; i < HUBS; i++) {
		servers[i] = (struct server){listen_shared(), i};
		if (servers[i].fd < 0 || mt_thread_start(&threads[i], server_thread, &servers[i], NULL))
			return 1;
	}
	mt_greenlet *clients[CLIENTS];
	for (int i = 0; i < CLIENTS; i++)
		mt_greenlet_spawn(&clients[i], client, NULL, NULL);
	mt_greenlet_joinall(clients, CLIENTS, 10);
	int ok = 0;
	for (int i = 0; i < CLIENTS; i++) {
		ok += mt_greenlet_exitcode(clients[i]) == 0;
		mt_greenlet_free(clients[i]);
	}
	atomic_store(&stopping, true);
	for (int i = 0; i < HUBS; i++) {
		mt_thread_join(threads[i], -1);
		mt_thread_free(threads[i]);
		mt_close(servers[i].fd);
	}
	printf("%d hubs on %d threads answered %d of %d connections\n", HUBS, HUBS, ok, CLIENTS);
	for (int i = 0; i < HUBS; i++)
		fprintf(stderr, "hub %d answered %d\n", i, served_by[i]);
	return ok == CLIENTS ? 0 : 1;
}
