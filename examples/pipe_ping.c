/* pipe_ping.c: the notes' 管道 (Pipe): `parent_conn, child_conn = Pipe()`
 * gives two connected ends, each with send() and recv(). The parent sends
 * three pings down its end; the child answers each on the other end, then
 * sends the notes' [42, None, 'hello'] and closes its end, so the
 * parent's next recv is the end of file.
 *
 * Messages are bytes, not pickled objects: a text here. Each process
 * closes the end it does not use, as in Python: the end of file comes only
 * when every copy of the child's end is closed, the parent's included. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "mtask/ipc.h"
#include "mtask/process.h"

struct ends {
	mt_conn *parent_conn, *child_conn;
};

/* Receives a text message into buf (NUL-terminated); returns 0 or the
 * error of mt_conn_recv. */
static int recv_text(mt_conn *c, char *buf, size_t size)
{
	size_t len;
	int err = mt_conn_recv(c, buf, size - 1, &len, -1);
	buf[err ? 0 : len] = '\0';
	return err;
}

static int send_text(mt_conn *c, const char *text)
{
	return mt_conn_send(c, text, strlen(text));
}

static int child(void *arg)
{
	struct ends *e = arg;
	mt_conn *conn = e->child_conn;
	mt_conn_close(e->parent_conn); /* the child's copy of the other end */
	char ping[64], pong[64];
	for (int i = 0; i < 3; i++) {
		if (recv_text(conn, ping, sizeof ping))
			return 1;
		snprintf(pong, sizeof pong, "pong %d", i + 1);
		printf("child %d: got \"%s\", answers \"%s\"\n", getpid(), ping, pong);
		if (send_text(conn, pong))
			return 1;
	}
	printf("child: sends [42, None, 'hello'] and closes its end\n");
	int err = send_text(conn, "[42, None, 'hello']");
	mt_conn_close(conn);
	return err ? 1 : 0;
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0); /* the two processes' lines in order */
	struct ends e;
	if (mt_pipe_new(&e.parent_conn, &e.child_conn, true))
		return 1;
	mt_process *p;
	if (mt_process_start(&p, child, &e, NULL))
		return 1;
	mt_conn_close(e.child_conn); /* the parent's copy of the child's end */

	char ping[64], reply[64];
	for (int i = 0; i < 3; i++) {
		snprintf(ping, sizeof ping, "ping %d", i + 1);
		printf("parent %d: sends \"%s\"\n", getpid(), ping);
		if (send_text(e.parent_conn, ping) || recv_text(e.parent_conn, reply, sizeof reply))
			return 1;
		printf("parent: got \"%s\"\n", reply);
	}
	if (recv_text(e.parent_conn, reply, sizeof reply))
		return 1;
	printf("parent: got \"%s\"\n", reply);
	int err = recv_text(e.parent_conn, reply, sizeof reply);
	printf("parent: next recv: %s: the child closed its end\n", mt_strerror(err));

	mt_process_join(p, -1);
	printf("child exitcode %d\n", mt_process_exitcode(p));
	mt_process_free(p);
	mt_conn_close(e.parent_conn);
	return err == -EPIPE ? 0 : 1;
}
