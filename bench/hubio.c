/* hubio.c: `mtask bench hubio`: the hub's IO on its two readiness
 * backends, epoll (the default, the reference row) and io_uring
 * (MTASK_HUB_BACKEND=uring), in the same run.
 *
 * - Round trip: two greenlets of one hub ping-pong one byte over a
 *   socketpair. Every receive finds nothing, waits, and the hub polls to
 *   wake the other side: a round trip is two sends, two receives that
 *   fail, two receives that succeed and two polls (epoll_pwait2, or
 *   io_uring_enter). The descriptors are registered once, before timing.
 * - Connection: a listening greenlet accepts, a client greenlet connects
 *   over loopback TCP, one byte goes each way, both close with mt_close.
 *   Each side's socket is registered when it first waits and removed at
 *   its close: epoll_ctl calls with epoll; with io_uring the arming rides
 *   on the next wait's io_uring_enter, the removal is one enter.
 *
 * Each batch runs in a fresh child (bench.h), whose setup names the
 * backend before the child's hub is made. Without io_uring (liburing
 * missing at build time, an old kernel, io_uring turned off) the uring
 * rows say skipped. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "mtask/hub.h"

#define HUBIO_ROUNDS 10
#define TRIPS_PER_SAMPLE 100
#define URING_MISSING "no io_uring: liburing missing at build time, Linux < 5.13, or turned off"

/* ---- the backend of the batch's hub ---- */

static int use_backend(const char *name)
{
	setenv("MTASK_HUB_BACKEND", name, 1);
	return strcmp(mt_hub_backend(), name) ? -ENOTSUP : 0;
}

/* In a child, so that the harness's process makes no hub of its own. */
static bool uring_available(void)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0)
		_exit(use_backend("uring") ? 1 : 0);
	return pid > 0 && bench_wait_exit_status(pid) == 0;
}

/* ---- round trips between two greenlets ---- */

static int pair[2];

static int echo_forever(void *arg)
{
	char c;
	while (mt_recv(pair[1], &c, 1, 0, -1) == 1 && mt_send(pair[1], &c, 1, 0, -1) == 1)
		;
	return 0;
}

static int ping_many(void *arg)
{
	char c = 'x';
	for (int i = 0; i < TRIPS_PER_SAMPLE; i++)
		if (mt_send(pair[0], &c, 1, 0, -1) != 1 || mt_recv(pair[0], &c, 1, 0, -1) != 1)
			return -EIO;
	return 0;
}

static int run_in_greenlet(mt_fn fn)
{
	mt_greenlet *g;
	int err = mt_greenlet_spawn(&g, fn, NULL, NULL);
	if (!err)
		err = mt_greenlet_join(g, 10);
	if (!err)
		err = mt_greenlet_exitcode(g);
	mt_greenlet_free(g);
	return err;
}

static int setup_trips(const char *backend)
{
	int err = use_backend(backend);
	if (!err && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
		err = -errno;
	if (!err)
		err = mt_greenlet_spawn(NULL, echo_forever, NULL, NULL);
	return err ? err : run_in_greenlet(ping_many); /* registers both, untimed */
}

static int setup_trips_epoll(void)
{
	return setup_trips("epoll");
}

static int setup_trips_uring(void)
{
	return setup_trips("uring");
}

static int round_trips(void)
{
	return run_in_greenlet(ping_many);
}

/* ---- a connection's life ---- */

static int listener = -1;
static struct sockaddr_in address;

static int setup_connections(const char *backend)
{
	int err = use_backend(backend);
	listener = err ? -1 : socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (listener < 0)
		return err ? err : -errno;
	address = (struct sockaddr_in){.sin_family = AF_INET,
				       .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t size = sizeof address;
	if (bind(listener, (struct sockaddr *)&address, size) < 0 || listen(listener, 64) < 0 ||
	    getsockname(listener, (struct sockaddr *)&address, &size) < 0)
		return -errno;
	return 0;
}

static int setup_connections_epoll(void)
{
	return setup_connections("epoll");
}

static int setup_connections_uring(void)
{
	return setup_connections("uring");
}

static int serve_one(void *arg)
{
	char c;
	int fd = mt_accept(listener, NULL, NULL, 10);
	if (fd < 0)
		return fd;
	int err = mt_recv(fd, &c, 1, 0, 10) == 1 && mt_send(fd, &c, 1, 0, 10) == 1 ? 0 : -EIO;
	mt_close(fd);
	return err;
}

static int connect_once(void *arg)
{
	char c = 'x';
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int err = mt_connect(fd, (struct sockaddr *)&address, sizeof address, 10);
	if (!err)
		err = mt_send(fd, &c, 1, 0, 10) == 1 && mt_recv(fd, &c, 1, 0, 10) == 1 ? 0 : -EIO;
	mt_close(fd);
	return err;
}

static int one_connection(void)
{
	mt_greenlet *g[2];
	int err = mt_greenlet_spawn(&g[0], serve_one, NULL, NULL);
	if (!err && (err = mt_greenlet_spawn(&g[1], connect_once, NULL, NULL)))
		mt_greenlet_free(g[0]);
	if (err)
		return err;
	err = mt_greenlet_joinall(g, 2, 10);
	for (int i = 0; i < 2; i++) {
		if (!err)
			err = mt_greenlet_exitcode(g[i]);
		mt_greenlet_free(g[i]);
	}
	return err;
}

/* ---- the table ---- */

#define TRIP_OP "greenlet round trip over a socketpair, per 100"
#define CONNECTION_OP "loopback TCP connection: accept, connect, 1 byte each way, close"

static const struct bench_impl hubio_impls[] = {
	{.operation = TRIP_OP,
	 .implementation = "epoll (default)",
	 .reference = true,
	 .setup = setup_trips_epoll,
	 .op = round_trips,
	 .batch = 200,
	 .quick_batch = 10},
	{.operation = TRIP_OP,
	 .implementation = "io_uring multishot poll",
	 .setup = setup_trips_uring,
	 .op = round_trips,
	 .batch = 200,
	 .quick_batch = 10},
	{.operation = CONNECTION_OP,
	 .implementation = "epoll (default)",
	 .reference = true,
	 .setup = setup_connections_epoll,
	 .op = one_connection,
	 .batch = 500,
	 .quick_batch = 20},
	{.operation = CONNECTION_OP,
	 .implementation = "io_uring multishot poll",
	 .setup = setup_connections_uring,
	 .op = one_connection,
	 .batch = 500,
	 .quick_batch = 20},
};

static void add_skipped(struct bench_result *result, const struct bench_impl *impl)
{
	if (result->row_count == BENCH_ROWS_MAX)
		return;
	struct bench_row *row = &result->rows[result->row_count++];
	*row = (struct bench_row){.operation = impl->operation,
				  .implementation = impl->implementation};
	snprintf(row->skipped, sizeof row->skipped, "%s", URING_MISSING);
}

int bench_hubio(const struct bench_config *config, struct bench_result *result)
{
	bool uring = uring_available();
	int err = 0;
	for (int i = 0; !err && i < 4; i += 2) {
		err = bench_run_rounds(config, result, &hubio_impls[i], uring ? 2 : 1,
				       HUBIO_ROUNDS);
		if (!err && !uring)
			add_skipped(result, &hubio_impls[i + 1]);
	}
	return err;
}
