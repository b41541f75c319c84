/* test_hub.c: the hub (gevent): spawn and join, sleep ordering, yield,
 * join timeouts, kill with cleanups, Timeout blocks, the deadlock error,
 * IO between greenlets over socketpairs and loopback with timeouts,
 * groups that cancel and close, hubs in other threads, and the monitor's
 * report (in a child process, checking its stderr). Lock, Event,
 * Semaphore and channels are test_hubsync.c's. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "hub_testutil.h"

/* ---- spawn, join, sleep, yield ---- */

static int note_and_return(void *arg)
{
	note(arg);
	return 7;
}

static void a_greenlet_runs_when_the_spawner_waits_and_join_gives_its_exit_code(void **state)
{
	reset_trail();
	mt_greenlet *g = spawn(note_and_return, "g");
	assert_string_equal(trail, "");
	assert_false(mt_greenlet_dead(g));
	assert_int_equal(mt_greenlet_exitcode(g), MT_NOEXIT);
	assert_int_equal(mt_greenlet_join(g, 5), 0);
	assert_string_equal(trail, "g");
	assert_true(mt_greenlet_dead(g));
	assert_false(mt_greenlet_killed(g));
	assert_int_equal(mt_greenlet_exitcode(g), 7);
	assert_int_equal(mt_greenlet_join(g, 0), 0);
	mt_greenlet_free(g);
	assert_int_equal(mt_hub_live(), 0);
}

struct sleeper {
	double seconds;
	const char *mark;
};

static int sleep_then_note(void *arg)
{
	struct sleeper *s = arg;
	assert_int_equal(mt_hub_sleep(s->seconds), 0);
	note(s->mark);
	return 0;
}

static void sleepers_wake_in_the_order_of_their_deadlines(void **state)
{
	reset_trail();
	/* 100 ms apart: a busy machine may delay a greenlet's start by tens. */
	struct sleeper s[] = {{0.3, "c"}, {0.1, "a"}, {0.2, "b"}, {0, "0"}};
	mt_greenlet *g[4];
	for (int i = 0; i < 4; i++)
		g[i] = spawn(sleep_then_note, &s[i]);
	assert_int_equal(mt_greenlet_joinall(g, 4, 5), 0);
	assert_string_equal(trail, "0abc");
	for (int i = 0; i < 4; i++)
		mt_greenlet_free(g[i]);
}

static int take_turns(void *arg)
{
	for (int i = 0; i < 3; i++) {
		note(arg);
		assert_int_equal(mt_hub_yield(), 0);
	}
	return 0;
}

static void sleep_zero_yields_to_every_ready_greenlet(void **state)
{
	reset_trail();
	mt_greenlet *g[2] = {spawn(take_turns, "a"), spawn(take_turns, "b")};
	assert_int_equal(mt_greenlet_joinall(g, 2, 5), 0);
	assert_string_equal(trail, "ababab");
	mt_greenlet_free(g[0]);
	mt_greenlet_free(g[1]);
}

static void sleeping_outside_a_greenlet_runs_the_hub(void **state)
{
	reset_trail();
	struct sleeper s = {0.01, "s"};
	mt_greenlet *g = spawn(sleep_then_note, &s);
	uint64_t t0 = (uint64_t)time(NULL);
	assert_int_equal(mt_hub_sleep(0.05), 0);
	assert_string_equal(trail, "s");
	assert_true(mt_greenlet_dead(g));
	assert_true((uint64_t)time(NULL) - t0 < 5);
	mt_greenlet_free(g);
	assert_int_equal(mt_hub_sleep(-1), -EINVAL);
}

static void spawn_later_waits_for_its_delay(void **state)
{
	reset_trail();
	mt_greenlet *later, *now;
	mt_greenlet_opts opts = {.delay = 0.03, .name = "later"};
	assert_int_equal(mt_greenlet_spawn(&later, note_and_return, "L", &opts), 0);
	now = spawn(note_and_return, "N");
	assert_int_equal(mt_greenlet_join(later, 5), 0);
	assert_string_equal(trail, "NL");
	assert_string_equal(mt_greenlet_name(later), "later");
	mt_greenlet_free(later);
	join_and_free(now);
}

static int sleep_long(void *arg)
{
	return mt_hub_sleep(10);
}

static void join_times_out_and_kill_ends_the_sleeper(void **state)
{
	mt_greenlet *g = spawn(sleep_long, NULL);
	assert_int_equal(mt_greenlet_join(g, 0.02), -ETIMEDOUT);
	assert_int_equal(mt_greenlet_join(g, 0), -ETIMEDOUT);
	assert_false(mt_greenlet_dead(g));
	assert_int_equal(mt_greenlet_kill(g, 5), 0);
	assert_true(mt_greenlet_dead(g));
	assert_true(mt_greenlet_killed(g));
	assert_int_equal(mt_greenlet_exitcode(g), -ECANCELED);
	mt_greenlet_free(g);
}

static int spawn_inner_and_join(void *arg)
{
	mt_greenlet *inner;
	int err = mt_greenlet_spawn(&inner, note_and_return, "i", NULL);
	if (!err)
		err = mt_greenlet_join(inner, 5);
	note("o");
	int code = mt_greenlet_exitcode(inner);
	mt_greenlet_free(inner);
	return err ? err : code;
}

static void a_greenlet_spawns_and_joins_another(void **state)
{
	reset_trail();
	mt_greenlet *g = spawn(spawn_inner_and_join, NULL);
	assert_int_equal(mt_greenlet_join(g, 5), 0);
	assert_string_equal(trail, "io");
	assert_int_equal(mt_greenlet_exitcode(g), 7);
	mt_greenlet_free(g);
}

static int count_and_return(void *arg)
{
	(*(int *)arg)++;
	return 0;
}

static void detached_greenlets_are_freed_by_the_hub(void **state)
{
	int ran = 0;
	for (int i = 0; i < 100; i++)
		assert_int_equal(mt_greenlet_spawn(NULL, count_and_return, &ran, NULL), 0);
	assert_int_equal(mt_hub_live(), 100);
	assert_int_equal(mt_hub_wait(5), 0);
	assert_int_equal(ran, 100);
	assert_int_equal(mt_hub_live(), 0);
}

static void bad_arguments_get_their_errors(void **state)
{
	mt_greenlet *g;
	assert_int_equal(mt_greenlet_spawn(&g, NULL, NULL, NULL), -EINVAL);
	mt_greenlet_opts nan_delay = {.delay = 0.0 / 0.0};
	assert_int_equal(mt_greenlet_spawn(&g, count_and_return, NULL, &nan_delay), -EINVAL);
	assert_int_equal(mt_greenlet_join(NULL, 1), -EINVAL);
	assert_int_equal(mt_greenlet_kill(NULL, 1), -EINVAL);
	assert_int_equal(mt_greenlet_joinall(NULL, 1, 1), -EINVAL);
	assert_int_equal(mt_greenlet_exitcode(NULL), MT_NOEXIT);
	assert_null(mt_greenlet_current());
	mt_greenlet_free(NULL);
}

/* ---- kill, cleanups, deadlock ---- */

static mt_hub_event never;

static void count_cleanup(void *arg)
{
	(*(int *)arg)++;
	/* A killed greenlet's cleanup may wait: its waits return at once. */
	assert_int_equal(mt_hub_sleep(1), -ECANCELED);
}

static int wait_for_ever_with_cleanup(void *arg)
{
	assert_int_equal(mt_coro_defer(count_cleanup, arg), 0);
	mt_hub_event_wait(&never, -1);
	note("returned"); /* a killed greenlet never gets here */
	return 0;
}

static void kill_runs_the_cleanups_of_a_waiting_greenlet(void **state)
{
	reset_trail();
	int cleaned = 0;
	mt_greenlet *g = spawn(wait_for_ever_with_cleanup, &cleaned);
	assert_int_equal(mt_hub_yield(), 0);
	assert_int_equal(cleaned, 0);
	assert_int_equal(mt_greenlet_kill(g, 5), 0);
	assert_int_equal(cleaned, 1);
	assert_string_equal(trail, "");
	assert_true(mt_greenlet_killed(g));
	assert_int_equal(mt_greenlet_kill(g, 5), 0); /* ended: nothing to do */
	mt_greenlet_free(g);
}

static void a_greenlet_killed_before_it_starts_never_runs(void **state)
{
	reset_trail();
	mt_greenlet *g = spawn(note_and_return, "never");
	assert_int_equal(mt_greenlet_kill(g, 0), 0);
	assert_int_equal(mt_greenlet_join(g, 5), 0);
	assert_string_equal(trail, "");
	assert_int_equal(mt_greenlet_exitcode(g), -ECANCELED);
	mt_greenlet_free(g);
}

static int kill_myself(void *arg)
{
	mt_greenlet_kill(mt_greenlet_current(), 0);
	note("after");
	return 0;
}

static void a_greenlet_may_kill_itself(void **state)
{
	reset_trail();
	mt_greenlet *g = spawn(kill_myself, NULL);
	assert_int_equal(mt_greenlet_join(g, 5), 0);
	assert_true(mt_greenlet_killed(g));
	assert_string_equal(trail, "");
	mt_greenlet_free(g);
}

static void freeing_a_running_greenlet_kills_it_first(void **state)
{
	int cleaned = 0;
	mt_greenlet *g = spawn(wait_for_ever_with_cleanup, &cleaned);
	assert_int_equal(mt_hub_yield(), 0);
	mt_greenlet_free(g);
	assert_int_equal(cleaned, 1);
	assert_int_equal(mt_hub_live(), 0);
}

static int wait_on_never(void *arg)
{
	return mt_hub_event_wait(&never, -1);
}

static void waiting_for_what_nothing_can_wake_is_edeadlk(void **state)
{
	mt_greenlet *g = spawn(wait_on_never, NULL);
	assert_int_equal(mt_greenlet_join(g, -1), -EDEADLK);
	assert_int_equal(mt_hub_wait(-1), -EDEADLK);
	assert_int_equal(mt_greenlet_kill(g, 5), 0);
	mt_greenlet_free(g);
	assert_int_equal(mt_hub_event_wait(&never, -1), -EDEADLK);
}

static int join_myself(void *arg)
{
	return mt_greenlet_join(mt_greenlet_current(), 1);
}

static void joining_oneself_is_edeadlk(void **state)
{
	mt_greenlet *g = spawn(join_myself, NULL);
	assert_int_equal(mt_greenlet_join(g, 5), 0);
	assert_int_equal(mt_greenlet_exitcode(g), -EDEADLK);
	mt_greenlet_free(g);
}

/* ---- Timeout blocks ---- */

static int wait_in_a_timeout_block(void *arg)
{
	mt_timeout t;
	assert_int_equal(mt_timeout_begin(&t, 0.03), 0);
	int first = mt_hub_event_wait(&never, 10);
	bool expired = mt_timeout_expired(&t);
	int second = mt_hub_sleep(1);
	mt_timeout_end(&t);
	assert_int_equal(first, -ETIMEDOUT);
	assert_true(expired);
	assert_int_equal(second, -ETIMEDOUT);
	return mt_hub_sleep(0.001); /* after the block: unbounded again */
}

static void a_timeout_block_bounds_every_wait_inside_it(void **state)
{
	mt_greenlet *g = spawn(wait_in_a_timeout_block, NULL);
	assert_int_equal(mt_greenlet_join(g, 5), 0);
	assert_int_equal(mt_greenlet_exitcode(g), 0);
	mt_greenlet_free(g);

	mt_timeout outer, inner;
	assert_int_equal(mt_timeout_begin(&outer, 10), 0);
	assert_int_equal(mt_timeout_begin(&inner, 0.02), 0);
	int fds[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	char byte;
	assert_int_equal(mt_recv(fds[0], &byte, 1, 0, -1), -ETIMEDOUT);
	assert_true(mt_timeout_expired(&inner));
	mt_timeout_end(&inner);
	assert_false(mt_timeout_expired(&outer));
	mt_timeout_end(&outer);
	assert_int_equal(mt_recv(fds[0], &byte, 1, 0, 0.01), -ETIMEDOUT);
	close(fds[0]);
	close(fds[1]);
	assert_int_equal(mt_timeout_begin(NULL, 1), -EINVAL);
}

/* ---- IO ---- */

struct pair {
	int fd;
	int rounds;
};

static int ping(void *arg)
{
	struct pair *p = arg;
	for (int i = 0; i < p->rounds; i++) {
		char out = (char)('a' + i % 26), in;
		if (mt_send(p->fd, &out, 1, 0, 5) != 1 || mt_recv(p->fd, &in, 1, 0, 5) != 1 ||
		    in != out + 1)
			return -1;
	}
	return 0;
}

static int pong(void *arg)
{
	struct pair *p = arg;
	for (int i = 0; i < p->rounds; i++) {
		char c;
		if (mt_read(p->fd, &c, 1, 5) != 1)
			return -1;
		c++;
		if (mt_write(p->fd, &c, 1, 5) != 1)
			return -1;
	}
	return 0;
}

static void greenlets_talk_over_a_socketpair_and_yield_while_waiting(void **state)
{
	int fds[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	struct pair a = {fds[0], 1000}, b = {fds[1], 1000};
	mt_greenlet *g[2] = {spawn(pong, &b), spawn(ping, &a)};
	assert_int_equal(mt_greenlet_joinall(g, 2, 10), 0);
	assert_int_equal(mt_greenlet_exitcode(g[0]), 0);
	assert_int_equal(mt_greenlet_exitcode(g[1]), 0);
	mt_greenlet_free(g[0]);
	mt_greenlet_free(g[1]);
	/* The greenlets left them non-blocking; mt_close forgets them. */
	assert_true(fcntl(fds[0], F_GETFL) & O_NONBLOCK);
	assert_int_equal(mt_close(fds[0]), 0);
	assert_int_equal(mt_close(fds[1]), 0);
}

static int recv_with_timeout(void *arg)
{
	char c;
	note("r");
	return (int)mt_recv(*(int *)arg, &c, 1, 0, 0.03);
}

static int note_while_the_other_waits(void *arg)
{
	note("w");
	return 0;
}

static void an_io_timeout_in_a_greenlet_lets_others_run_meanwhile(void **state)
{
	reset_trail();
	int fds[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	mt_greenlet *g[2] = {spawn(recv_with_timeout, &fds[0]),
			     spawn(note_while_the_other_waits, NULL)};
	assert_int_equal(mt_greenlet_joinall(g, 2, 5), 0);
	assert_int_equal(mt_greenlet_exitcode(g[0]), -ETIMEDOUT);
	assert_string_equal(trail, "rw");
	mt_greenlet_free(g[0]);
	mt_greenlet_free(g[1]);
	assert_int_equal(mt_close(fds[0]), 0);
	assert_int_equal(mt_close(fds[1]), 0);
}

static void io_outside_a_greenlet_blocks_with_its_timeout(void **state)
{
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	char c = 'x';
	assert_int_equal(mt_read(fds[0], &c, 1, 0.02), -ETIMEDOUT);
	assert_int_equal(mt_read(fds[0], &c, 1, 0), -ETIMEDOUT);
	assert_int_equal(mt_write(fds[1], "y", 1, 1), 1);
	assert_int_equal(mt_read(fds[0], &c, 1, 1), 1);
	assert_int_equal(c, 'y');
	assert_false(fcntl(fds[0], F_GETFL) & O_NONBLOCK); /* left as it was */
	assert_int_equal(mt_wait_fd(fds[1], MT_WRITABLE, 1), MT_WRITABLE);
	assert_int_equal(mt_wait_fd(fds[0], MT_READABLE, 0.01), -ETIMEDOUT);
	assert_int_equal(mt_wait_fd(fds[0], 0, 1), -EINVAL);
	assert_int_equal(mt_read(-1, &c, 1, 1), -EBADF);
	close(fds[0]);
	close(fds[1]);
}

static int listening_socket(struct sockaddr_in *addr)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	*addr = (struct sockaddr_in){.sin_family = AF_INET,
				     .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t size = sizeof *addr;
	assert_int_equal(bind(fd, (struct sockaddr *)addr, size), 0);
	assert_int_equal(listen(fd, 16), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)addr, &size), 0);
	return fd;
}

static int echo_connection(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[64];
	ssize_t n;
	while ((n = mt_recv(fd, buf, sizeof buf, 0, 5)) > 0)
		if (mt_send(fd, buf, (size_t)n, 0, 5) != n)
			break;
	mt_close(fd);
	return 0;
}

static int serve_echo(void *arg)
{
	int listener = *(int *)arg;
	for (int i = 0; i < 3; i++) {
		int fd = mt_accept(listener, NULL, NULL, 5);
		if (fd < 0)
			return fd;
		mt_greenlet_spawn(NULL, echo_connection, (void *)(intptr_t)fd, NULL);
	}
	return 0;
}

static int echo_client(void *arg)
{
	struct sockaddr_in *addr = arg;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int err = mt_connect(fd, (struct sockaddr *)addr, sizeof *addr, 5);
	char buf[16] = "";
	for (int i = 0; !err && i < 10; i++) {
		if (mt_send(fd, "hello", 5, 0, 5) != 5 || mt_recv(fd, buf, sizeof buf, 0, 5) != 5 ||
		    memcmp(buf, "hello", 5) != 0)
			err = -EPROTO;
		mt_hub_yield();
	}
	mt_close(fd);
	return err;
}

static void an_echo_server_serves_three_clients_over_loopback(void **state)
{
	struct sockaddr_in addr;
	int listener = listening_socket(&addr);
	mt_greenlet *server = spawn(serve_echo, &listener);
	mt_greenlet *clients[3];
	for (int i = 0; i < 3; i++)
		clients[i] = spawn(echo_client, &addr);
	assert_int_equal(mt_greenlet_joinall(clients, 3, 10), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(mt_greenlet_exitcode(clients[i]), 0);
		mt_greenlet_free(clients[i]);
	}
	join_and_free(server);
	assert_int_equal(mt_hub_wait(5), 0);
	/* Outside a greenlet: a blocking connect and accept with timeouts. */
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(mt_connect(fd, (struct sockaddr *)&addr, sizeof addr, 5), 0);
	int accepted = mt_accept(listener, NULL, NULL, 5);
	assert_true(accepted >= 0);
	assert_int_equal(mt_accept(listener, NULL, NULL, 0.01), -ETIMEDOUT);
	assert_int_equal(mt_send(fd, "x", 1, 0, 1), 1);
	char c;
	assert_int_equal(mt_recv(accepted, &c, 1, 0, 1), 1);
	close(fd);
	close(accepted);
	assert_int_equal(mt_close(listener), 0);
}

static int accept_with_timeout(void *arg)
{
	return mt_accept(*(int *)arg, NULL, NULL, 0.02);
}

static int connect_refused(void *arg)
{
	struct sockaddr_in *addr = arg;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int err = mt_connect(fd, (struct sockaddr *)addr, sizeof *addr, 5);
	close(fd);
	return err;
}

static void accept_times_out_and_a_refused_connect_says_so(void **state)
{
	struct sockaddr_in addr;
	int listener = listening_socket(&addr);
	mt_greenlet *g = spawn(accept_with_timeout, &listener);
	assert_int_equal(mt_greenlet_join(g, 5), 0);
	assert_int_equal(mt_greenlet_exitcode(g), -ETIMEDOUT);
	mt_greenlet_free(g);
	assert_int_equal(mt_close(listener), 0); /* now nobody listens there */
	g = spawn(connect_refused, &addr);
	assert_int_equal(mt_greenlet_join(g, 5), 0);
	assert_int_equal(mt_greenlet_exitcode(g), -ECONNREFUSED);
	mt_greenlet_free(g);
}

static int recv_forever(void *arg)
{
	char c;
	return (int)mt_recv(*(int *)arg, &c, 1, 0, -1);
}

static void udp_datagrams_and_closing_a_waited_descriptor(void **state)
{
	int fds[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	mt_greenlet *g[2] = {spawn(recv_forever, &fds[0]), spawn(recv_forever, &fds[0])};
	assert_int_equal(mt_hub_yield(), 0);
	assert_int_equal(mt_greenlet_join(g[1], 5), 0);
	assert_int_equal(mt_greenlet_exitcode(g[1]), -EBUSY); /* one reader per descriptor */
	assert_int_equal(mt_close(fds[0]), 0);
	assert_int_equal(mt_greenlet_join(g[0], 5), 0);
	assert_int_equal(mt_greenlet_exitcode(g[0]), -EBADF);
	mt_greenlet_free(g[0]);
	mt_greenlet_free(g[1]);
	close(fds[1]);

	int u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t size = sizeof addr;
	assert_int_equal(bind(u, (struct sockaddr *)&addr, size), 0);
	assert_int_equal(getsockname(u, (struct sockaddr *)&addr, &size), 0);
	assert_int_equal(mt_sendto(u, "hi", 2, 0, (struct sockaddr *)&addr, size, 1), 2);
	char buf[8];
	struct sockaddr_in from;
	socklen_t from_size = sizeof from;
	assert_int_equal(mt_recvfrom(u, buf, sizeof buf, 0, (struct sockaddr *)&from, &from_size, 1),
			 2);
	assert_int_equal(from.sin_port, addr.sin_port);
	assert_int_equal(mt_recvfrom(u, buf, sizeof buf, 0, NULL, NULL, 0.01), -ETIMEDOUT);
	assert_int_equal(mt_close(u), 0);
}

/* ---- groups ---- */

static void note_cleanup(void *arg)
{
	note(arg);
}

static int sleep_until_cancelled(void *arg)
{
	mt_coro_defer(note_cleanup, "c");
	int err = mt_hub_sleep(10);
	assert_int_equal(err, -ECANCELED);
	assert_int_equal(mt_hub_yield(), -ECANCELED); /* and every later wait */
	note("x");
	return err;
}

static void cancelling_a_group_makes_every_wait_return_ecanceled(void **state)
{
	reset_trail();
	mt_group *grp;
	assert_int_equal(mt_group_new(&grp), 0);
	mt_greenlet_opts opts = {.group = grp};
	mt_greenlet *g[3];
	for (int i = 0; i < 3; i++)
		assert_int_equal(mt_greenlet_spawn(&g[i], sleep_until_cancelled, NULL, &opts), 0);
	assert_int_equal(mt_group_size(grp), 3);
	assert_int_equal(mt_hub_yield(), 0);
	assert_int_equal(mt_group_join(grp, 0.01), -ETIMEDOUT);
	assert_int_equal(mt_group_close(grp, 5), 0);
	assert_string_equal(trail, "xcxcxc");
	for (int i = 0; i < 3; i++) {
		assert_int_equal(mt_greenlet_exitcode(g[i]), -ECANCELED);
		assert_false(mt_greenlet_killed(g[i]));
		mt_greenlet_free(g[i]);
	}
}

static void a_group_closed_without_time_kills_its_members(void **state)
{
	reset_trail();
	mt_group *grp;
	assert_int_equal(mt_group_new(&grp), 0);
	mt_greenlet_opts opts = {.group = grp};
	for (int i = 0; i < 2; i++)
		assert_int_equal(mt_greenlet_spawn(NULL, sleep_until_cancelled, NULL, &opts), 0);
	assert_int_equal(mt_hub_yield(), 0);
	assert_int_equal(mt_group_close(grp, 0), -ETIMEDOUT);
	assert_string_equal(trail, "cc"); /* killed in their waits: cleanups only */
	assert_int_equal(mt_hub_live(), 0);
}

static void a_cancelled_group_refuses_new_greenlets_and_join_waits_for_all(void **state)
{
	mt_group *grp;
	assert_int_equal(mt_group_new(&grp), 0);
	mt_greenlet_opts opts = {.group = grp};
	struct sleeper s = {0.01, ""};
	for (int i = 0; i < 3; i++)
		assert_int_equal(mt_greenlet_spawn(NULL, sleep_then_note, &s, &opts), 0);
	assert_int_equal(mt_group_join(grp, 5), 0);
	assert_int_equal(mt_group_size(grp), 0);
	assert_int_equal(mt_group_cancel(grp), 0);
	mt_greenlet *g;
	assert_int_equal(mt_greenlet_spawn(&g, count_and_return, NULL, &opts), -ECANCELED);
	assert_int_equal(mt_group_close(grp, 1), 0);
}

/* ---- threads ---- */

static mt_greenlet *main_thread_greenlet;

static void count_only(void *arg)
{
	(*(int *)arg)++;
}

/* No cmocka assertion may fail outside the main thread. */
static int wait_for_ever_counting(void *arg)
{
	mt_coro_defer(count_only, arg);
	return mt_hub_event_wait(&never, -1);
}

static int use_a_hub_in_a_thread(void *arg)
{
	if (mt_greenlet_join(main_thread_greenlet, 0) != -EPERM)
		return 1;
	static int left_behind; /* its cleanup may run at the thread's end */
	mt_greenlet *g;
	if (mt_greenlet_spawn(&g, wait_for_ever_counting, &left_behind, NULL) ||
	    mt_hub_yield())
		return 2;
	struct sleeper s = {0.01, ""};
	if (mt_greenlet_spawn(NULL, sleep_then_note, &s, NULL) || mt_hub_sleep(0.02))
		return 3;
	/* g is still waiting: the thread's end frees it; a detached one
	 * too. */
	mt_greenlet_free(NULL);
	*(mt_greenlet **)arg = g;
	return 0;
}

static void every_thread_has_its_own_hub(void **state)
{
	main_thread_greenlet = spawn(sleep_long, NULL);
	mt_greenlet *left = NULL;
	mt_thread *t;
	assert_int_equal(mt_thread_start(&t, use_a_hub_in_a_thread, &left, NULL), 0);
	assert_int_equal(mt_thread_join(t, 10), 0);
	assert_int_equal(mt_thread_exitcode(t), 0);
	mt_thread_free(t);
	assert_true(mt_greenlet_dead(left)); /* ended with its thread */
	mt_greenlet_free(left);
	assert_int_equal(mt_greenlet_kill(main_thread_greenlet, 5), 0);
	mt_greenlet_free(main_thread_greenlet);
}

/* ---- the monitor ---- */

/* The classic trap: a plain blocking C call inside a greenlet. */
static int spin_without_yielding(void *arg)
{
	return usleep(400 * 1000);
}

static int monitor_a_busy_greenlet(void *arg)
{
	mt_greenlet *g;
	mt_greenlet_opts opts = {.name = "busy-loop"};
	if (mt_hub_monitor_start(0.05) || mt_hub_monitor_start(0.05) != -EALREADY ||
	    mt_greenlet_spawn(&g, spin_without_yielding, NULL, &opts) || mt_greenlet_join(g, 10))
		return 1;
	mt_greenlet_free(g);
	return mt_hub_monitor_stop() || mt_hub_monitor_stop() != -ENOENT;
}

static void the_monitor_names_a_greenlet_that_does_not_yield(void **state)
{
	int err_pipe[2];
	assert_int_equal(pipe(err_pipe), 0);
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		/* A fresh process: a forked child must not use its parent's
		 * hub, and TSan delivers no signal in the child of a process
		 * that had threads. */
		dup2(err_pipe[1], STDERR_FILENO);
		execl("/proc/self/exe", "test_hub", "--monitor-child", (char *)NULL);
		_exit(127);
	}
	close(err_pipe[1]);
	char out[8192];
	size_t n = 0;
	ssize_t got;
	while (n < sizeof out - 1 && (got = read(err_pipe[0], out + n, sizeof out - 1 - n)) > 0)
		n += (size_t)got;
	out[n] = '\0';
	close(err_pipe[0]);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) || !strstr(out, "\"busy-loop\" has run"))
		fprintf(stderr, "the child said: %s\n", out);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_non_null(strstr(out, "greenlet \"busy-loop\" has run for"));
	assert_non_null(strstr(out, "without yielding"));
	assert_non_null(strstr(out, "backtrace"));
	assert_int_equal(mt_hub_monitor_start(0), -EINVAL);
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "--monitor-child"))
		return monitor_a_busy_greenlet(NULL);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_greenlet_runs_when_the_spawner_waits_and_join_gives_its_exit_code),
		cmocka_unit_test(sleepers_wake_in_the_order_of_their_deadlines),
		cmocka_unit_test(sleep_zero_yields_to_every_ready_greenlet),
		cmocka_unit_test(sleeping_outside_a_greenlet_runs_the_hub),
		cmocka_unit_test(spawn_later_waits_for_its_delay),
		cmocka_unit_test(join_times_out_and_kill_ends_the_sleeper),
		cmocka_unit_test(a_greenlet_spawns_and_joins_another),
		cmocka_unit_test(detached_greenlets_are_freed_by_the_hub),
		cmocka_unit_test(bad_arguments_get_their_errors),
		cmocka_unit_test(kill_runs_the_cleanups_of_a_waiting_greenlet),
		cmocka_unit_test(a_greenlet_killed_before_it_starts_never_runs),
		cmocka_unit_test(a_greenlet_may_kill_itself),
		cmocka_unit_test(freeing_a_running_greenlet_kills_it_first),
		cmocka_unit_test(waiting_for_what_nothing_can_wake_is_edeadlk),
		cmocka_unit_test(joining_oneself_is_edeadlk),
		cmocka_unit_test(a_timeout_block_bounds_every_wait_inside_it),
		cmocka_unit_test(greenlets_talk_over_a_socketpair_and_yield_while_waiting),
		cmocka_unit_test(an_io_timeout_in_a_greenlet_lets_others_run_meanwhile),
		cmocka_unit_test(io_outside_a_greenlet_blocks_with_its_timeout),
		cmocka_unit_test(an_echo_server_serves_three_clients_over_loopback),
		cmocka_unit_test(accept_times_out_and_a_refused_connect_says_so),
		cmocka_unit_test(udp_datagrams_and_closing_a_waited_descriptor),
		cmocka_unit_test(cancelling_a_group_makes_every_wait_return_ecanceled),
		cmocka_unit_test(a_group_closed_without_time_kills_its_members),
		cmocka_unit_test(a_cancelled_group_refuses_new_greenlets_and_join_waits_for_all),
		cmocka_unit_test(every_thread_has_its_own_hub),
		cmocka_unit_test(the_monitor_names_a_greenlet_that_does_not_yield),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
