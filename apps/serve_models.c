/* serve_models.c: the four models of `mtask serve`, the notes' ways of
 * serving many TCP clients at once, each running serve_connection:
 *  - fork: a child process per connection (mt_process_start); the parent
 *    frees the handle at once and the library reaps the child when it
 *    ends, so no zombie is left;
 *  - thread: a thread per connection (mt_thread_start, detached);
 *  - pool: K threads taking accepted sockets from an mt_queue;
 *  - coro: K threads, each a hub with its own SO_REUSEPORT listener, a
 *    greenlet per connection (hub.h).
 * Stopping: SIGINT and SIGTERM write a byte into a pipe that nobody reads,
 * so it stays readable for everyone: every accept loop, every connection
 * waiting in poll (threads, and forked children, which share the pipe)
 * and a greenlet per hub that cancels its hub's group see it. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mtask/hub.h"
#include "mtask/process.h"
#include "mtask/queue.h"
#include "mtask/thread.h"
#include "serve.h"

#define LOG_PREFIX "mtask serve: "
#define BACKLOG 4096

static int stop_pipe[2] = {-1, -1};

static void on_stop(int sig)
{
	(void)sig;
	int saved = errno;
	ssize_t n = write(stop_pipe[1], "", 1);
	(void)n;
	errno = saved;
}

static int catch_stop_signals(void)
{
	if (pipe2(stop_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	struct sigaction sa = {.sa_handler = on_stop, .sa_flags = SA_RESTART};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

static int open_listener(struct sockaddr_in *addr, bool reuseport)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), on = 1;
	socklen_t size = sizeof *addr;
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) ||
	    (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on)) ||
	    bind(fd, (struct sockaddr *)addr, size) || listen(fd, BACKLOG) ||
	    getsockname(fd, (struct sockaddr *)addr, &size)) {
		int err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

/* An accept error that says nothing about the next accept: a client that
 * gave up, a signal. Others (out of descriptors or memory, a broken
 * listener) would repeat at once, so the loops pause before retrying. */
static bool accept_error_passes(int err)
{
	return err == EAGAIN || err == EWOULDBLOCK || err == EINTR || err == ECONNABORTED ||
	       err == ETIMEDOUT;
}

static void set_nodelay(int fd)
{
	int on = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

/* ---- one accept loop for fork, thread and pool ---- */

/* Hands each accepted connection to take (which owns it on 0) until the
 * stop. After a lasting error it pauses a little rather than spin. */
static void accept_until_stop(int listen_fd, int (*take)(int conn, void *ctx), void *ctx)
{
	struct pollfd p[2] = {{.fd = listen_fd, .events = POLLIN},
			      {.fd = stop_pipe[0], .events = POLLIN}};
	for (;;) {
		int n = poll(p, 2, -1);
		if (p[1].revents || (n < 0 && errno != EINTR))
			return;
		if (n <= 0)
			continue;
		int conn = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (conn < 0 && !accept_error_passes(errno))
			poll(&p[1], 1, 100);
		if (conn < 0)
			continue;
		set_nodelay(conn);
		if (take(conn, ctx))
			close(conn);
	}
}

/* The job of one connection, for fork and thread. */
struct job {
	int conn, listen_fd;
	const struct serve_options *o;
};

static void serve_blocking(int conn, const struct serve_options *o)
{
	struct serve_io io = serve_io_poll_template;
	io.stop_fd = stop_pipe[0];
	serve_connection(conn, &io, o);
	close(conn);
}

/* ---- fork: a process per connection ---- */

static int child_main(void *arg)
{
	const struct job *job = arg; /* the parent's stack, copied by fork */
	close(job->listen_fd);
	serve_blocking(job->conn, job->o);
	return 0;
}

static int fork_take(int conn, void *ctx)
{
	struct job job = *(const struct job *)ctx;
	mt_process *p;
	job.conn = conn;
	int err = mt_process_start(&p, child_main, &job, &(mt_process_opts){.name = "serve"});
	if (err) {
		fprintf(stderr, LOG_PREFIX "fork: %s\n", strerror(-err));
		return err;
	}
	mt_process_free(p); /* the library reaps it when it ends */
	close(conn);
	return 0;
}

/* ---- thread: a thread per connection ---- */

static int thread_main(void *arg)
{
	struct job *job = arg;
	serve_blocking(job->conn, job->o);
	free(job);
	return 0;
}

static int thread_take(int conn, void *ctx)
{
	struct job *job = malloc(sizeof *job);
	mt_thread *t;
	if (!job)
		return -ENOMEM;
	*job = *(const struct job *)ctx;
	job->conn = conn;
	int err = mt_thread_start(&t, thread_main, job, &(mt_thread_opts){.name = "serve"});
	if (err) {
		fprintf(stderr, LOG_PREFIX "thread: %s\n", strerror(-err));
		free(job);
		return err;
	}
	mt_thread_free(t); /* detached; waited for at exit */
	return 0;
}

/* ---- pool: K threads on a queue of accepted sockets ---- */

struct pool {
	mt_queue *conns; /* items: descriptor + 1, so that none is NULL */
	const struct serve_options *o;
};

static int pool_worker(void *arg)
{
	struct pool *pool = arg;
	void *item;
	while (mt_queue_get(pool->conns, &item, -1) == 0)
		serve_blocking((int)(intptr_t)item - 1, pool->o);
	return 0;
}

static int pool_take(int conn, void *ctx)
{
	struct pool *pool = ctx;
	return mt_queue_put(pool->conns, (void *)(intptr_t)(conn + 1), 0);
}

static int run_pool(int listen_fd, const struct serve_options *o)
{
	struct pool pool = {.o = o};
	mt_thread **workers = calloc((size_t)o->workers, sizeof *workers);
	int started = 0, err = workers ? mt_queue_new(&pool.conns, MT_FIFO, 0) : -ENOMEM;
	while (!err && started < o->workers) {
		err = mt_thread_start(&workers[started], pool_worker, &pool, NULL);
		started += !err;
	}
	if (!err)
		accept_until_stop(listen_fd, pool_take, &pool);
	else
		fprintf(stderr, LOG_PREFIX "cannot start the pool: %s\n", strerror(-err));
	if (pool.conns)
		mt_queue_close(pool.conns); /* queued ones are served, see the stop, close */
	for (int i = 0; i < started; i++) {
		mt_thread_join(workers[i], -1);
		mt_thread_free(workers[i]);
	}
	mt_queue_free(pool.conns);
	free(workers);
	return err ? 1 : 0;
}

/* ---- coro: a hub per thread, a greenlet per connection ---- */

struct hub_server {
	int listen_fd;
	const struct serve_options *o;
	mt_group *group;
	mt_thread *thread;
};

static const struct serve_options *hub_options; /* the same for every hub */

static int serve_greenlet(void *arg)
{
	int conn = (int)(intptr_t)arg;
	serve_connection(conn, &serve_io_hub, hub_options);
	mt_close(conn);
	return 0;
}

static int accept_greenlet(void *arg)
{
	struct hub_server *s = arg;
	mt_greenlet_opts in_group = {.group = s->group};
	for (;;) {
		int conn = mt_accept(s->listen_fd, NULL, NULL, -1);
		if (conn == -ECANCELED)
			return 0;
		if (conn < 0 && !accept_error_passes(-conn))
			mt_hub_sleep(0.1);
		if (conn < 0)
			continue;
		set_nodelay(conn);
		if (mt_greenlet_spawn(NULL, serve_greenlet, (void *)(intptr_t)conn, &in_group))
			mt_close(conn);
	}
}

/* Waits for the stop, then cancels the hub's group: the accept loop and
 * every connection's waiting call return -ECANCELED. */
static int stop_greenlet(void *arg)
{
	struct hub_server *s = arg;
	mt_wait_fd(stop_pipe[0], MT_READABLE, -1);
	mt_group_cancel(s->group);
	return 0;
}

static int hub_thread(void *arg)
{
	struct hub_server *s = arg;
	mt_greenlet *watcher;
	int err = mt_group_new(&s->group);
	if (!err)
		err = mt_greenlet_spawn(NULL, accept_greenlet, s,
					&(mt_greenlet_opts){.group = s->group});
	if (!err)
		err = mt_greenlet_spawn(&watcher, stop_greenlet, s, NULL);
	if (err) {
		fprintf(stderr, LOG_PREFIX "cannot start a hub: %s\n", strerror(-err));
		return 1;
	}
	mt_greenlet_join(watcher, -1);
	mt_greenlet_free(watcher);
	mt_group_close(s->group, 2.0);
	return 0;
}

static int run_coro(struct hub_server *hubs, const struct serve_options *o)
{
	int started = 0, err = 0;
	hub_options = o;
	while (!err && started < o->workers) {
		err = mt_thread_start(&hubs[started].thread, hub_thread, &hubs[started], NULL);
		started += !err;
	}
	if (err)
		on_stop(0);
	for (int i = 0; i < started; i++) {
		mt_thread_join(hubs[i].thread, -1);
		mt_thread_free(hubs[i].thread);
	}
	return err ? 1 : 0;
}

/* ---- serve_run ---- */

static const char *const model_names[] = {"fork", "thread", "pool", "coro"};

/* K listeners on one port for coro (the first picks it when port is 0),
 * one for the others. Returns how many, or a negative errno. */
static int open_listeners(const struct serve_options *o, struct sockaddr_in *addr,
			  struct hub_server *hubs)
{
	int count = o->model == SERVE_CORO ? o->workers : 1;
	*addr = o->addr;
	for (int i = 0; i < count; i++) {
		int fd = open_listener(addr, o->model == SERVE_CORO);
		if (fd < 0) {
			while (i-- > 0)
				close(hubs[i].listen_fd);
			return fd;
		}
		hubs[i] = (struct hub_server){.listen_fd = fd, .o = o};
	}
	return count;
}

static int run_model(struct hub_server *hubs, const struct serve_options *o)
{
	struct job job = {.listen_fd = hubs[0].listen_fd, .o = o};
	switch (o->model) {
	case SERVE_FORK:
		accept_until_stop(job.listen_fd, fork_take, &job);
		return 0;
	case SERVE_THREAD:
		accept_until_stop(job.listen_fd, thread_take, &job);
		return 0;
	case SERVE_POOL:
		return run_pool(job.listen_fd, o);
	default:
		return run_coro(hubs, o);
	}
}

int serve_run(const struct serve_options *o)
{
	struct hub_server *hubs = calloc((size_t)o->workers, sizeof *hubs);
	struct sockaddr_in addr;
	char where[INET_ADDRSTRLEN];
	int err = hubs ? catch_stop_signals() : -ENOMEM;
	int count = err ? err : open_listeners(o, &addr, hubs);
	if (count < 0) {
		fprintf(stderr, LOG_PREFIX "cannot listen on %s:%d: %s\n",
			inet_ntop(AF_INET, &o->addr.sin_addr, where, sizeof where),
			ntohs(o->addr.sin_port), strerror(-count));
		free(hubs);
		return 1;
	}
	printf(LOG_PREFIX "%s model, %s, listening on %s:%d", model_names[o->model],
	       o->proto == SERVE_HTTP ? "http" : "echo",
	       inet_ntop(AF_INET, &addr.sin_addr, where, sizeof where), ntohs(addr.sin_port));
	if (o->model == SERVE_POOL || o->model == SERVE_CORO)
		printf(" (%d %s)", o->workers,
		       o->model == SERVE_POOL ? "threads"
		       : o->workers == 1      ? "hub"
					      : "hubs");
	printf("\n");
	fflush(stdout);
	int status = run_model(hubs, o);
	for (int i = 0; i < count; i++)
		close(hubs[i].listen_fd);
	free(hubs);
	printf(LOG_PREFIX "stopped\n");
	return status;
}
