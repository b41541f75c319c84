/* coro_echo_server.c: the notes' coroutine socket server (协程实现socket
 * server并发): one greenlet accepts, and each connection gets a greenlet
 * of its own that echoes what it reads, all on one thread:
 *
 *     from gevent import monkey; monkey.patch_all()
 *     import socket, gevent
 *     def talk(conn):
 *         while True:
 *             data = conn.recv(1024)
 *             if not data: break
 *             conn.send(data.upper())
 *         conn.close()
 *     server = socket.socket(); server.bind(('127.0.0.1', 8080))
 *     server.listen(5)
 *     while True:
 *         conn, addr = server.accept()
 *         gevent.spawn(talk, conn)
 *
 * To stay bounded, the program also runs its clients, as greenlets of the
 * same hub: CLIENTS connections, each sending ROUNDS lines and checking
 * the answers. The server listens on a port the kernel picks, on
 * loopback; its greenlets live in a group, which is cancelled and closed
 * once the clients are done: the accept loop and any talk still waiting
 * get -ECANCELED and end. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "mtask/hub.h"

#define CLIENTS 10
#define ROUNDS 5

static mt_group *servers;

static int talk(void *arg)
{
	int conn = (int)(intptr_t)arg;
	char data[1024];
	ssize_t n;
	while ((n = mt_recv(conn, data, sizeof data, 0, -1)) > 0) {
		for (ssize_t i = 0; i < n; i++)
			data[i] = (char)toupper((unsigned char)data[i]);
		if (mt_send(conn, data, (size_t)n, 0, -1) != n)
			break;
	}
	mt_close(conn);
	return 0;
}

static int accept_loop(void *arg)
{
	int server = *(int *)arg;
	mt_greenlet_opts in_group = {.group = servers};
	for (;;) {
		int conn = mt_accept(server, NULL, NULL, -1);
		if (conn == -ECANCELED)
			return 0;
		if (conn >= 0 && mt_greenlet_spawn(NULL, talk, (void *)(intptr_t)conn, &in_group))
			mt_close(conn);
	}
}

static int client(void *arg)
{
	const struct sockaddr_in *addr = arg;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int bad = mt_connect(fd, (const struct sockaddr *)addr, sizeof *addr, 5) != 0;
	for (int i = 0; !bad && i < ROUNDS; i++) {
		char line[32], answer[32] = "";
		int n = snprintf(line, sizeof line, "hello %d", i);
		bad = mt_send(fd, line, (size_t)n, 0, 5) != n ||
		      mt_recv(fd, answer, sizeof answer - 1, 0, 5) != n;
		for (int k = 0; k < n; k++)
			line[k] = (char)toupper((unsigned char)line[k]);
		bad = bad || strcmp(answer, line) != 0;
	}
	mt_close(fd);
	return bad;
}

int main(void)
{
	int server = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t size = sizeof addr;
	if (bind(server, (struct sockaddr *)&addr, size) || listen(server, 64) ||
	    getsockname(server, (struct sockaddr *)&addr, &size) || mt_group_new(&servers))
		return 1;
	mt_greenlet_opts in_group = {.group = servers};
	mt_greenlet_spawn(NULL, accept_loop, &server, &in_group);

	mt_greenlet *clients[CLIENTS];
	for (int i = 0; i < CLIENTS; i++)
		mt_greenlet_spawn(&clients[i], client, &addr, NULL);
	mt_greenlet_joinall(clients, CLIENTS, 10);
	int ok = 0;
	for (int i = 0; i < CLIENTS; i++) {
		ok += mt_greenlet_exitcode(clients[i]) == 0;
		mt_greenlet_free(clients[i]);
	}
	printf("%d clients, %d lines each, echoed in upper case: %d ok\n", CLIENTS, ROUNDS, ok);
	int err = mt_group_close(servers, 1);
	printf("group closed: %s; greenlets left %zu\n", mt_strerror(err), mt_hub_live());
	mt_close(server);
	return ok == CLIENTS ? 0 : 1;
}
