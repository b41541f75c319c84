/* plain_sockets.c: a program written with plain libc socket calls
 * (accept, connect, read, write, send, recv, close) inside greenlets,
 * unaware of mt_recv and the others. Alone, its server greenlet's accept
 * blocks the thread and the clients never run (the alarm ends it); with
 * LD_PRELOAD=libmtask_preload.so the calls wait in the hub and it serves
 * every client. Then, outside greenlets, a plain accept on the listening
 * socket (which the library made non-blocking) must still block until a
 * thread connects. Prints "served N clients, blocking accept ok". */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mtask/hub.h"

#define CLIENTS 3

static int listener;
static struct sockaddr_in address;
static int served;

static int serve(void *arg)
{
	for (int i = 0; i < CLIENTS; i++) {
		int fd = accept(listener, NULL, NULL);
		char buf[16];
		ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf);
		if (n <= 0 || write(fd, buf, (size_t)n) != n)
			return 1;
		close(fd);
		served++;
	}
	return 0;
}

static int client(void *arg)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	char buf[16] = "";
	if (connect(fd, (struct sockaddr *)&address, sizeof address) < 0 ||
	    send(fd, "hello", 5, 0) != 5 || recv(fd, buf, sizeof buf, 0) != 5 ||
	    memcmp(buf, "hello", 5) != 0)
		return 1;
	close(fd);
	return 0;
}

static void *connect_later(void *arg)
{
	usleep(50 * 1000);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	connect(fd, (struct sockaddr *)&address, sizeof address);
	return (void *)(intptr_t)fd;
}

int main(void)
{
	alarm(20); /* without the library, the first accept never returns */
	listener = socket(AF_INET, SOCK_STREAM, 0);
	address = (struct sockaddr_in){.sin_family = AF_INET,
				       .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t size = sizeof address;
	if (bind(listener, (struct sockaddr *)&address, size) < 0 || listen(listener, 8) < 0 ||
	    getsockname(listener, (struct sockaddr *)&address, &size) < 0)
		return 2;
	mt_greenlet *g[CLIENTS + 1];
	mt_greenlet_spawn(&g[0], serve, NULL, NULL);
	for (int i = 1; i <= CLIENTS; i++)
		mt_greenlet_spawn(&g[i], client, NULL, NULL);
	if (mt_greenlet_joinall(g, CLIENTS + 1, 10))
		return 3;
	for (int i = 0; i <= CLIENTS; i++)
		if (mt_greenlet_exitcode(g[i]) != 0)
			return 4;
	pthread_t t;
	pthread_create(&t, NULL, connect_later, NULL);
	int fd = accept(listener, NULL, NULL); /* outside greenlets: blocks */
	void *other;
	pthread_join(t, &other);
	if (fd < 0)
		return 5;
	close(fd);
	close((int)(intptr_t)other);
	close(listener);
	printf("served %d clients, blocking accept ok\n", served);
	return 0;
}
