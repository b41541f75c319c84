/* test_hubbackend.c: what the hub's readiness backends (src/backend/:
 * epoll, io_uring) must get right beyond the IO tests of test_hub.c,
 * which CTest runs under both (MTASK_HUB_BACKEND): the backend chosen,
 * descriptors that cannot be polled, a close that really closes, many
 * descriptors at once, and a descriptor number reused after a plain
 * close. */
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "hub_testutil.h"

/* io_uring can be missing from the build or turned off for the whole
 * system; then the hub falls back to epoll, which the test accepts. */
static bool io_uring_allowed(void)
{
#ifndef MTASK_HAVE_LIBURING
	return false;
#endif
	FILE *f = fopen("/proc/sys/kernel/io_uring_disabled", "r");
	int disabled = 0;
	if (f) {
		if (fscanf(f, "%d", &disabled) != 1)
			disabled = 0;
		fclose(f);
	}
	return disabled == 0;
}

static void the_hub_uses_the_backend_the_environment_names(void **state)
{
	const char *want = getenv("MTASK_HUB_BACKEND");
	const char *got = mt_hub_backend();
	print_message("hub backend: %s\n", got);
	if (want && !strcmp(want, "uring") && io_uring_allowed())
		assert_string_equal(got, "uring");
	else if (!want || !strcmp(want, "epoll"))
		assert_string_equal(got, "epoll");
	else
		assert_true(!strcmp(got, "epoll") || !strcmp(got, "uring"));
}

static int wait_on_a_file_twice(void *arg)
{
	int fd = *(int *)arg;
	int first = mt_wait_fd(fd, MT_READABLE | MT_WRITABLE, 1);
	int second = mt_wait_fd(fd, MT_READABLE, 1);
	char c;
	ssize_t n = mt_read(fd, &c, 1, 1);
	/* Ready both ways, whatever was asked for. */
	bool ready = first == (MT_READABLE | MT_WRITABLE) && (second & MT_READABLE);
	return ready && n == 1 ? 0 : -1;
}

static void a_regular_file_is_always_ready(void **state)
{
	int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	mt_greenlet *g = spawn(wait_on_a_file_twice, &fd);
	assert_int_equal(mt_greenlet_join(g, 5), 0);
	assert_int_equal(mt_greenlet_exitcode(g), 0);
	mt_greenlet_free(g);
	assert_int_equal(mt_close(fd), 0);
}

static int read_with_timeout(void *arg)
{
	char c;
	return (int)mt_recv(*(int *)arg, &c, 1, 0, 0.01);
}

/* io_uring's poll holds the file: mt_close must end it, or the socket
 * would stay open and its peer would never see the end. */
static void mt_close_closes_a_waited_socket_for_its_peer(void **state)
{
	int fds[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
	mt_greenlet *g = spawn(read_with_timeout, &fds[0]);
	assert_int_equal(mt_greenlet_join(g, 5), 0);
	assert_int_equal(mt_greenlet_exitcode(g), -ETIMEDOUT);
	mt_greenlet_free(g);
	assert_int_equal(mt_close(fds[0]), 0);
	char c;
	assert_int_equal(mt_recv(fds[1], &c, 1, 0, 2), 0); /* end of file, not a timeout */
	close(fds[1]);
}

#define PAIRS 100 /* 200 descriptors: past both tables' first 64 slots and one poll's 64 events */

struct relay {
	int fd;
	char expect;
};

static int read_one_byte(void *arg)
{
	struct relay *r = arg;
	char c;
	if (mt_recv(r->fd, &c, 1, 0, 5) != 1 || c != r->expect)
		return -1;
	return mt_send(r->fd, &c, 1, 0, 5) == 1 ? 0 : -1;
}

/* More descriptors than one batch of events, and than the tables'
 * first size: every one registered while waiting, all woken. */
static void many_descriptors_wait_and_wake_together(void **state)
{
	static int fds[PAIRS][2];
	static struct relay relays[PAIRS];
	static mt_greenlet *g[PAIRS];
	for (int i = 0; i < PAIRS; i++) {
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds[i]), 0);
		relays[i] = (struct relay){fds[i][0], (char)('A' + i % 26)};
		g[i] = spawn(read_one_byte, &relays[i]);
	}
	assert_int_equal(mt_hub_yield(), 0); /* all wait now */
	for (int i = 0; i < PAIRS; i++)
		assert_int_equal(write(fds[i][1], &relays[i].expect, 1), 1);
	assert_int_equal(mt_greenlet_joinall(g, PAIRS, 10), 0);
	for (int i = 0; i < PAIRS; i++) {
		char c;
		assert_int_equal(mt_greenlet_exitcode(g[i]), 0);
		assert_int_equal(mt_recv(fds[i][1], &c, 1, 0, 1), 1);
		mt_greenlet_free(g[i]);
		assert_int_equal(mt_close(fds[i][0]), 0);
		close(fds[i][1]);
	}
}

static int accept_one(void *arg)
{
	return mt_accept(*(int *)arg, NULL, NULL, 5);
}

static int read_and_answer(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char c;
	if (mt_recv(fd, &c, 1, 0, 5) != 1)
		return -1;
	return mt_send(fd, &c, 1, 0, 5) == 1 ? 0 : -1;
}

/* A descriptor a greenlet waited on, closed with plain close(2), and its
 * number handed out again by mt_accept: the new socket must be watched,
 * not the old one. */
static void a_number_reused_after_a_plain_close_is_watched_afresh(void **state)
{
	int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(listener >= 0);
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	snprintf(addr.sun_path, sizeof addr.sun_path, "/tmp/mtask-hubbackend-%d", (int)getpid());
	unlink(addr.sun_path);
	assert_int_equal(bind(listener, (struct sockaddr *)&addr, sizeof addr), 0);
	assert_int_equal(listen(listener, 4), 0);

	int fds[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
	mt_greenlet *g = spawn(read_with_timeout, &fds[0]);
	assert_int_equal(mt_greenlet_join(g, 5), 0);
	mt_greenlet_free(g);
	int client = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int old = fds[0];
	close(fds[0]); /* plain close: the hub still believes it registered */
	assert_int_equal(connect(client, (struct sockaddr *)&addr, sizeof addr), 0);
	g = spawn(accept_one, &listener);
	assert_int_equal(mt_greenlet_join(g, 5), 0);
	int accepted = mt_greenlet_exitcode(g);
	mt_greenlet_free(g);
	assert_int_equal(accepted, old); /* the lowest free number */
	g = spawn(read_and_answer, (void *)(intptr_t)accepted);
	assert_int_equal(mt_hub_yield(), 0); /* it waits on the new socket */
	assert_int_equal(write(client, "x", 1), 1);
	assert_int_equal(mt_greenlet_join(g, 5), 0);
	assert_int_equal(mt_greenlet_exitcode(g), 0);
	mt_greenlet_free(g);
	assert_int_equal(mt_close(accepted), 0);
	close(client);
	close(fds[1]);
	assert_int_equal(mt_close(listener), 0);
	unlink(addr.sun_path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(the_hub_uses_the_backend_the_environment_names),
		cmocka_unit_test(a_regular_file_is_always_ready),
		cmocka_unit_test(mt_close_closes_a_waited_socket_for_its_peer),
		cmocka_unit_test(many_descriptors_wait_and_wake_together),
		cmocka_unit_test(a_number_reused_after_a_plain_close_is_watched_afresh),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
