/* serve.c: the connection handler of `mtask serve`, shared by its four
 * models: echo, or HTTP/1.1 with keep-alive and pipelining, over the read
 * and write calls the model passes in (serve.h's serve_io), and the two
 * pairs of such calls.
 *
 * HTTP: bytes are read into a buffer; every whole request in it is
 * answered, in order, into an output buffer that goes out in one send per
 * read (so a pipelined batch costs one write); a body announced by
 * Content-Length is read and dropped. A client has o->timeout seconds
 * from the previous answer (or from connecting) to send a whole request
 * head, however it spreads the bytes: a slow or idle client is dropped
 * then. A malformed request is answered with its status and the
 * connection closes. */
#include "serve.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "mtask/hub.h"

/* The input holds one head of the largest size allowed and then some,
 * so that a pipelined batch is answered from one read. */
#define SERVE_IN_SIZE (2 * HTTP_HEAD_MAX_DEFAULT)
#define SERVE_OUT_SIZE 8192
/* A closing server reads what the client still sends for this long, so
 * that its unread bytes do not make the kernel reset the connection
 * before the client has read the last answer. */
#define SERVE_LINGER_SECONDS 1.0

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the two pairs of IO calls ---- */

/* Waits until fd has events or the stop pipe is readable. Returns 0,
 * -ETIMEDOUT, -ECANCELED (stopping), or poll's negative errno. */
static int poll_ready(const struct serve_io *io, int fd, short events, double timeout)
{
	double deadline = now() + timeout;
	struct pollfd p[2] = {{.fd = fd, .events = events}, {.fd = io->stop_fd, .events = POLLIN}};
	for (;;) {
		double left = deadline - now();
		int ms = timeout < 0 ? -1 : left <= 0 ? 0 : (int)ceil(left * 1000);
		int n = poll(p, 2, ms);
		if (n < 0 && errno != EINTR)
			return -errno;
		if (p[1].revents)
			return -ECANCELED;
		if (n > 0)
			return 0;
		if (n == 0 && ms >= 0 && left <= 0)
			return -ETIMEDOUT;
	}
}

static ssize_t poll_recv(const struct serve_io *io, int fd, void *buf, size_t len, double timeout)
{
	for (;;) {
		int err = poll_ready(io, fd, POLLIN, timeout);
		if (err)
			return err;
		ssize_t n = recv(fd, buf, len, MSG_DONTWAIT);
		if (n >= 0 || (errno != EAGAIN && errno != EINTR))
			return n >= 0 ? n : -errno;
	}
}

static ssize_t poll_send(const struct serve_io *io, int fd, const void *buf, size_t len,
			 double timeout)
{
	for (;;) {
		int err = poll_ready(io, fd, POLLOUT, timeout);
		if (err)
			return err;
		ssize_t n = send(fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n >= 0 || (errno != EAGAIN && errno != EINTR))
			return n >= 0 ? n : -errno;
	}
}

const struct serve_io serve_io_poll_template = {poll_recv, poll_send, -1};

static ssize_t hub_recv(const struct serve_io *io, int fd, void *buf, size_t len, double timeout)
{
	(void)io;
	return mt_recv(fd, buf, len, 0, timeout);
}

static ssize_t hub_send(const struct serve_io *io, int fd, const void *buf, size_t len,
			double timeout)
{
	(void)io;
	return mt_send(fd, buf, len, MSG_NOSIGNAL, timeout);
}

const struct serve_io serve_io_hub = {hub_recv, hub_send, -1};

/* Sends all of buf, each write waiting at most timeout. 0 or -errno. */
static int send_all(const struct serve_io *io, int fd, const char *buf, size_t len, double timeout)
{
	while (len > 0) {
		ssize_t n = io->send(io, fd, buf, len, timeout);
		if (n <= 0)
			return n < 0 ? (int)n : -EPIPE;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Ends our side, then reads and drops what the client still sends, until
 * it closes or SERVE_LINGER_SECONDS have passed (nginx's lingering close). */
static void close_gracefully(const struct serve_io *io, int fd)
{
	char sink[4096];
	double deadline = now() + SERVE_LINGER_SECONDS;
	shutdown(fd, SHUT_WR);
	while (now() < deadline && io->recv(io, fd, sink, sizeof sink, deadline - now()) > 0)
		;
}

/* ---- echo ---- */

static void serve_echo(int fd, const struct serve_io *io, const struct serve_options *o)
{
	char buf[16384];
	ssize_t n;
	while ((n = io->recv(io, fd, buf, sizeof buf, o->timeout)) > 0)
		if (send_all(io, fd, buf, (size_t)n, o->timeout))
			return;
}

/* ---- HTTP ---- */

struct http_conn {
	int fd;
	const struct serve_io *io;
	const struct serve_options *o;
	size_t have;   /* bytes in in[] */
	uint64_t skip; /* body bytes still to read and drop */
	size_t out_len;
	char in[SERVE_IN_SIZE];
	char out[SERVE_OUT_SIZE];
};

/* What answering the buffered requests leaves to do. */
enum http_step { HTTP_READ_MORE, HTTP_CLOSE, HTTP_CLOSE_GRACEFULLY };

static int flush(struct http_conn *c)
{
	int err = send_all(c->io, c->fd, c->out, c->out_len, c->o->timeout);
	c->out_len = 0;
	return err;
}

/* Queues one answer: status with SERVE_HELLO_BODY (200) or the reason as
 * its body; no body for HEAD. Flushes first when out[] is full. */
static int queue_answer(struct http_conn *c, int status, int minor, bool keep_alive, bool head)
{
	static const char hello[] = SERVE_HELLO_BODY;
	char reason_body[64];
	const char *body = hello;
	if (status != 200)
		body = (snprintf(reason_body, sizeof reason_body, "%s\n", http_reason(status)),
			reason_body);
	const char *connection = !keep_alive  ? "Connection: close\r\n"
				 : minor == 0 ? "Connection: keep-alive\r\n"
					      : "";
	for (int attempt = 0; attempt < 2; attempt++) {
		size_t room = sizeof c->out - c->out_len;
		int n = snprintf(c->out + c->out_len, room,
				 "HTTP/1.1 %d %s\r\nServer: mtask\r\nContent-Type: text/plain\r\n"
				 "Content-Length: %zu\r\n%s\r\n%s",
				 status, http_reason(status), strlen(body), connection,
				 head ? "" : body);
		if (n > 0 && (size_t)n < room) {
			c->out_len += (size_t)n;
			return 0;
		}
		int err = flush(c);
		if (err)
			return err;
	}
	return -ENOBUFS;
}

static void consume(struct http_conn *c, size_t n)
{
	memmove(c->in, c->in + n, c->have - n);
	c->have -= n;
}

static void drop_body_bytes(struct http_conn *c)
{
	size_t n = c->skip < c->have ? (size_t)c->skip : c->have;
	consume(c, n);
	c->skip -= n;
}

/* Answers every whole request in in[], in order; *answered counts them. */
static enum http_step answer_buffered(struct http_conn *c, int *answered)
{
	for (;;) {
		drop_body_bytes(c);
		if (c->skip || c->have == 0)
			return HTTP_READ_MORE;
		struct http_request req;
		enum http_result r = http_parse_request(c->in, c->have, &c->o->limits, &req);
		if (r == HTTP_INCOMPLETE)
			return HTTP_READ_MORE;
		if (r != HTTP_PARSED)
			return queue_answer(c, (int)r, 1, false, false) ? HTTP_CLOSE
									: HTTP_CLOSE_GRACEFULLY;
		bool head = req.method_len == 4 && !memcmp(req.method, "HEAD", 4);
		if (queue_answer(c, 200, req.minor_version, req.keep_alive, head))
			return HTTP_CLOSE;
		consume(c, req.head_len);
		c->skip = req.content_length;
		++*answered;
		if (!req.keep_alive)
			return HTTP_CLOSE_GRACEFULLY;
	}
}

static void serve_http(struct http_conn *c)
{
	double deadline = now() + c->o->timeout;
	for (;;) {
		int answered = 0;
		enum http_step step = answer_buffered(c, &answered);
		if (c->out_len && flush(c))
			return;
		if (step == HTTP_CLOSE_GRACEFULLY)
			close_gracefully(c->io, c->fd);
		if (step != HTTP_READ_MORE)
			return;
		/* The clock for the next head starts at the last answer; a body
		 * being read gets a fresh timeout for each read. */
		if (answered || c->skip)
			deadline = now() + c->o->timeout;
		double left = deadline - now();
		if (left <= 0)
			return;
		ssize_t n =
			c->io->recv(c->io, c->fd, c->in + c->have, sizeof c->in - c->have, left);
		if (n <= 0)
			return;
		c->have += (size_t)n;
	}
}

void serve_connection(int fd, const struct serve_io *io, const struct serve_options *o)
{
	if (o->proto == SERVE_ECHO) {
		serve_echo(fd, io, o);
		return;
	}
	struct http_conn c;
	c.fd = fd;
	c.io = io;
	c.o = o;
	c.have = 0;
	c.skip = 0;
	c.out_len = 0;
	serve_http(&c);
}
