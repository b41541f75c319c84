/* serve.h: `mtask serve`, the notes' concurrent TCP server in four models
 * (fork, thread, pool, coro), answering echo or minimal HTTP/1.1. One
 * connection handler (serve.c) serves every model; the models
 * (serve_models.c) differ only in who runs it and with which read and
 * write calls. docs/serve.md describes the models and the rules. */
#ifndef MTASK_SERVE_H
#define MTASK_SERVE_H

#include <netinet/in.h>
#include <stddef.h>
#include <sys/types.h>

#include "http_parse.h"

#define SERVE_DEFAULT_PORT 8080
#define SERVE_DEFAULT_TIMEOUT 10.0
#define SERVE_DEFAULT_POOL_WORKERS 8
/* The fixed answer to every good HTTP request. */
#define SERVE_HELLO_BODY "Hello, world!\n"

enum serve_model { SERVE_FORK, SERVE_THREAD, SERVE_POOL, SERVE_CORO };
enum serve_proto { SERVE_ECHO, SERVE_HTTP };

struct serve_options {
	enum serve_model model;
	enum serve_proto proto;
	int workers;		 /* pool threads, or coro hubs (threads) */
	struct sockaddr_in addr; /* where to listen; port 0: any free one */
	double timeout;		 /* seconds: idle, and to send one request head */
	struct http_limits limits;
};

/* How a model reads and writes a connection: the calls of hub.h inside a
 * greenlet, plain poll(2) and recv/send elsewhere. Each returns what
 * recv(2)/send(2) return, or a negative errno: -ETIMEDOUT when fd was not
 * ready in time, -ECANCELED once the server is stopping. */
struct serve_io {
	ssize_t (*recv)(const struct serve_io *io, int fd, void *buf, size_t len, double timeout);
	ssize_t (*send)(const struct serve_io *io, int fd, const void *buf, size_t len,
			double timeout);
	int stop_fd; /* readable once the server stops (for the poll pair) */
};

/* The poll pair: waits on fd and io->stop_fd; for threads and processes. */
extern const struct serve_io serve_io_poll_template;
/* The hub pair: mt_recv and mt_send, which yield inside a greenlet. */
extern const struct serve_io serve_io_hub;

/* serve_connection - serve fd until the peer closes it, a timeout, an
 * error, a request that asks to close, or the server's stop; fd is left
 * open for the caller to close. Echo sends back every byte read; HTTP
 * answers each request in order with SERVE_HELLO_BODY, or with its error
 * status and then closes. Thread-safe: all its state is on the stack. */
void serve_connection(int fd, const struct serve_io *io, const struct serve_options *o);

/* serve_run - listen, print the address, serve with o->model until SIGINT
 * or SIGTERM, then stop accepting, end the connections and return 0; 1
 * after a message when the server cannot start (serve_models.c). */
int serve_run(const struct serve_options *o);

#endif
