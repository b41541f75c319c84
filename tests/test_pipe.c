/* test_pipe.c: Pipe (mt_pipe_new, mt_conn_*): order and boundaries,
 * big messages, -EMSGSIZE, timeouts and poll, end of file, no SIGPIPE,
 * one-way ends, signals, and a peer that breaks the framing. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include "mtask/mtask.h"
#include "testutil.h"

#define LENGTH_OF(a) (sizeof(a) / sizeof((a)[0]))

/* ---- Pipe ---- */

static void new_pipe(mt_conn **a, mt_conn **b, bool duplex)
{
	assert_int_equal(mt_pipe_new(a, b, duplex), 0);
}

/* Receives a message, failing unless it is exactly text. */
static void expect_message(mt_conn *c, const char *text)
{
	char buf[256];
	size_t len = 9999;
	assert_int_equal(mt_conn_recv(c, buf, sizeof buf, &len, 5), 0);
	assert_int_equal(len, strlen(text));
	assert_memory_equal(buf, text, len);
}

static void close_both(mt_conn *a, mt_conn *b)
{
	mt_conn_close(a);
	mt_conn_close(b);
}

static void send_text(mt_conn *c, const char *text)
{
	assert_int_equal(mt_conn_send(c, text, strlen(text)), 0);
}

static void messages_keep_order_and_boundaries_both_ways(void **state)
{
	mt_conn *a, *b;
	new_pipe(&a, &b, true);
	const char *texts[] = {"a", "bb", "", "ccc", "", "the last one"};
	for (size_t i = 0; i < LENGTH_OF(texts); i++)
		send_text(b, texts[i]);
	for (size_t i = 0; i < LENGTH_OF(texts); i++)
		expect_message(a, texts[i]);
	send_text(a, "reply");
	expect_message(b, "reply");

	void *msg = NULL;
	size_t len = 9;
	assert_int_equal(mt_conn_send(b, NULL, 0), 0);
	assert_int_equal(mt_conn_recv_alloc(a, &msg, &len, 0), 0);
	assert_int_equal(len, 0);
	assert_non_null(msg);
	free(msg);
	close_both(a, b);
}

enum { MEGABYTE = 1 << 20, BIG_EXTRA = 77 };

static unsigned char pattern(size_t i)
{
	return (unsigned char)(i * 131 + (i >> 12));
}

static void assert_the_megabyte(const unsigned char *bytes, size_t len)
{
	assert_int_equal(len, MEGABYTE + BIG_EXTRA);
	for (size_t i = 0; i < len; i++)
		if (bytes[i] != pattern(i))
			fail_msg("byte %zu differs", i);
}

/* Sends a megabyte and a bit twice, then a short message. */
static int send_a_megabyte_twice(void *arg)
{
	size_t size = MEGABYTE + BIG_EXTRA;
	unsigned char *big = malloc(size);
	if (!big)
		return 1;
	for (size_t i = 0; i < size; i++)
		big[i] = pattern(i);
	int err = mt_conn_send(arg, big, size);
	if (!err)
		err = mt_conn_send(arg, big, size);
	free(big);
	return err ? 2 : mt_conn_send(arg, "after", 5) ? 3 : 0;
}

/* A message of many records arrives whole, through mt_conn_recv_alloc,
 * and through -EMSGSIZE: the first record held by the connection and the
 * records still in the socket come together in the bigger buffer. */
static void megabytes_cross_between_processes_whole(void **state)
{
	mt_conn *a, *b;
	new_pipe(&a, &b, false);
	mt_process *p = start_child(send_a_megabyte_twice, b);
	mt_conn_close(b);
	void *msg;
	size_t len = 0;
	assert_int_equal(mt_conn_recv_alloc(a, &msg, &len, 30), 0);
	assert_the_megabyte(msg, len);
	char small[16];
	assert_int_equal(mt_conn_recv(a, small, sizeof small, &len, 30), -EMSGSIZE);
	assert_int_equal(len, MEGABYTE + BIG_EXTRA);
	assert_int_equal(mt_conn_recv(a, msg, len, &len, 0), 0);
	assert_the_megabyte(msg, len);
	free(msg);
	expect_message(a, "after");
	assert_int_equal(join_child(p), 0);
	assert_int_equal(mt_conn_recv(a, NULL, 0, &len, 5), -EPIPE);
	mt_conn_close(a);
}

static void a_too_small_buffer_gives_emsgsize_and_keeps_the_message(void **state)
{
	mt_conn *a, *b;
	new_pipe(&a, &b, true);
	char text[100], buf[100];
	for (int i = 0; i < 100; i++)
		text[i] = (char)('0' + i % 10);
	assert_int_equal(mt_conn_send(b, text, 100), 0);
	send_text(b, "next");
	size_t len = 0;
	assert_int_equal(mt_conn_recv(a, buf, 10, &len, 5), -EMSGSIZE);
	assert_int_equal(len, 100);
	len = 0;
	assert_int_equal(mt_conn_recv(a, NULL, 0, &len, 0), -EMSGSIZE);
	assert_int_equal(len, 100);
	assert_int_equal(mt_conn_poll(a, 0), 1);
	assert_int_equal(mt_conn_recv(a, buf, 99, &len, 0), -EMSGSIZE);
	assert_int_equal(mt_conn_recv(a, buf, 100, &len, 0), 0);
	assert_int_equal(len, 100);
	assert_memory_equal(buf, text, 100);
	expect_message(a, "next");
	close_both(a, b);
}

static void recv_and_poll_time_out_and_poll_sees_a_message(void **state)
{
	mt_conn *a, *b;
	new_pipe(&a, &b, true);
	char buf[8];
	size_t len;
	assert_int_equal(mt_conn_recv(a, buf, sizeof buf, &len, 0), -EAGAIN);
	double start = now_seconds();
	assert_int_equal(mt_conn_recv(a, buf, sizeof buf, &len, 0.05), -EAGAIN);
	assert_true(now_seconds() - start >= 0.045);
	assert_int_equal(mt_conn_poll(a, 0), 0);
	assert_int_equal(mt_conn_poll(a, 0.02), 0);
	assert_int_equal(mt_conn_recv(a, buf, sizeof buf, &len, NAN), -EINVAL);
	assert_int_equal(mt_conn_poll(a, NAN), -EINVAL);

	send_text(b, "ping");
	assert_int_equal(mt_conn_poll(a, 0), 1);
	struct pollfd pfd = {.fd = mt_conn_fd(a), .events = POLLIN};
	assert_int_equal(poll(&pfd, 1, 0), 1);
	assert_true(pfd.revents & POLLIN);
	expect_message(a, "ping");
	assert_int_equal(mt_conn_poll(a, 0), 0);
	assert_int_equal(poll(&pfd, 1, 0), 0);
	close_both(a, b);
}

static void the_end_of_file_is_epipe_once_every_message_was_received(void **state)
{
	mt_conn *a, *b;
	new_pipe(&a, &b, true);
	send_text(b, "one");
	send_text(b, "two");
	send_text(a, "never read"); /* b closes with it unread */
	mt_conn_close(b);
	assert_int_equal(mt_conn_poll(a, 0), 1);
	expect_message(a, "one");
	expect_message(a, "two");
	char buf[8];
	size_t len;
	assert_int_equal(mt_conn_recv(a, buf, sizeof buf, &len, 5), -EPIPE);
	assert_int_equal(mt_conn_recv(a, buf, sizeof buf, &len, -1), -EPIPE);
	assert_int_equal(mt_conn_poll(a, 5), 1);
	mt_conn_close(a);
}

struct closing_child {
	mt_conn *b;    /* the end the child writes to and closes */
	mt_conn *hold; /* the child waits here until the parent is done */
};

static int send_close_and_wait(void *arg)
{
	struct closing_child *c = arg;
	if (mt_conn_send(c->b, "bye", 3))
		return 1;
	mt_conn_close(c->b);
	char buf[8];
	size_t len;
	return mt_conn_recv(c->hold, buf, sizeof buf, &len, 30) == 0 ? 0 : 2;
}

static void a_child_closing_its_copy_gives_the_parent_eof(void **state)
{
	mt_conn *a, *b, *hold_receiver, *hold_sender;
	new_pipe(&a, &b, false);
	new_pipe(&hold_receiver, &hold_sender, false);
	struct closing_child c = {b, hold_receiver};
	mt_process *p = start_child(send_close_and_wait, &c);
	mt_conn_close(b); /* the parent's copy */
	expect_message(a, "bye");
	char buf[8];
	size_t len;
	assert_int_equal(mt_conn_recv(a, buf, sizeof buf, &len, 30), -EPIPE);
	assert_true(mt_process_is_alive(p)); /* closed, not ended */
	send_text(hold_sender, "done");
	assert_int_equal(join_child(p), 0);
	close_both(a, hold_receiver);
	mt_conn_close(hold_sender);
}

static bool sigpipe_pending(void)
{
	sigset_t pending;
	sigpending(&pending);
	return sigismember(&pending, SIGPIPE);
}

/* With SIGPIPE's default action, a signal would kill this child. */
static int send_to_the_closed_peer(void *arg)
{
	signal(SIGPIPE, SIG_DFL);
	return mt_conn_send(arg, "x", 1) == -EPIPE ? 0 : 1;
}

static void sending_to_a_closed_end_is_epipe_without_sigpipe(void **state)
{
	sigset_t pipe_only, old;
	sigemptyset(&pipe_only);
	sigaddset(&pipe_only, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_only, &old);

	mt_conn *a, *b;
	new_pipe(&a, &b, true);
	mt_conn_close(a);
	assert_int_equal(mt_conn_send(b, "x", 1), -EPIPE);
	assert_int_equal(mt_conn_send(b, "y", 1), -EPIPE);
	assert_false(sigpipe_pending());
	mt_conn_close(b);

	new_pipe(&a, &b, true);
	send_text(b, "unread"); /* a closes with it unread: ECONNRESET inside */
	mt_conn_close(a);
	assert_int_equal(mt_conn_send(b, "x", 1), -EPIPE);
	assert_false(sigpipe_pending());
	pthread_sigmask(SIG_SETMASK, &old, NULL);

	assert_int_equal(join_child(start_child(send_to_the_closed_peer, b)), 0);
	mt_conn_close(b);
}

static void a_one_way_pipe_refuses_the_wrong_direction(void **state)
{
	mt_conn *receiver, *sender;
	new_pipe(&receiver, &sender, false);
	char buf[8];
	size_t len;
	void *msg;
	assert_int_equal(mt_conn_send(receiver, "x", 1), -EBADF);
	assert_int_equal(mt_conn_recv(sender, buf, sizeof buf, &len, 0), -EBADF);
	assert_int_equal(mt_conn_recv_alloc(sender, &msg, &len, 0), -EBADF);
	assert_int_equal(mt_conn_poll(sender, 0), -EBADF);
	send_text(sender, "one way");
	expect_message(receiver, "one way");
	close_both(receiver, sender);
}

static void bad_arguments_are_einval(void **state)
{
	mt_conn *a, *b;
	assert_int_equal(mt_pipe_new(NULL, &b, true), -EINVAL);
	new_pipe(&a, &b, true);
	size_t len;
	assert_int_equal(mt_conn_send(a, NULL, 1), -EINVAL);
	assert_int_equal(mt_conn_send(a, "x", MT_CONN_MSG_MAX + 1), -EMSGSIZE);
	assert_int_equal(mt_conn_recv(a, NULL, 1, &len, 0), -EINVAL);
	assert_int_equal(mt_conn_recv(a, NULL, 0, NULL, 0), -EINVAL);
	assert_int_equal(mt_conn_recv_alloc(a, NULL, &len, 0), -EINVAL);
	close_both(a, b);
	mt_conn_close(NULL);
}

/* ---- signals ---- */

static _Atomic int signals_caught;

static void count_signal(int signo)
{
	signals_caught++;
}

struct interrupter {
	pthread_t target;
	mt_conn *send_on; /* NULL: only signal */
};

/* Signals the target twice, then sends a message unless told not to. */
static int interrupt_then_send(void *arg)
{
	struct interrupter *in = arg;
	for (int i = 0; i < 2; i++) {
		sleep_seconds(0.03);
		pthread_kill(in->target, SIGUSR1);
	}
	if (in->send_on) {
		sleep_seconds(0.03);
		return mt_conn_send(in->send_on, "late", 4);
	}
	return 0;
}

/* Four waits, each interrupted twice: a timed and an endless receive that
 * a message ends, then a receive and a poll that wait their whole timeout. */
static void a_signal_does_not_end_a_receive_or_a_poll_early(void **state)
{
	/* No SA_RESTART: the system calls really return EINTR. */
	struct sigaction sa = {.sa_handler = count_signal}, old;
	sigaction(SIGUSR1, &sa, &old);
	mt_conn *a, *b;
	new_pipe(&a, &b, true);
	char buf[8];
	size_t len;
	for (int wait = 0; wait < 4; wait++) {
		struct interrupter in = {pthread_self(), wait < 2 ? b : NULL};
		mt_thread *t = start_thread(interrupt_then_send, &in);
		double start = now_seconds();
		if (wait == 0)
			expect_message(a, "late");
		else if (wait == 1)
			assert_int_equal(mt_conn_recv(a, buf, sizeof buf, &len, -1), 0);
		else if (wait == 2)
			assert_int_equal(mt_conn_recv(a, buf, sizeof buf, &len, 0.15), -EAGAIN);
		else
			assert_int_equal(mt_conn_poll(a, 0.15), 0);
		if (wait >= 2)
			assert_true(now_seconds() - start >= 0.14);
		assert_int_equal(join_thread(t), 0);
	}
	assert_int_equal(signals_caught, 8);
	sigaction(SIGUSR1, &old, NULL);
	close_both(a, b);
}

/* ---- a peer that breaks the framing ---- */

/* Writes one raw record on b's socket, as a buggy peer would. */
static void send_raw(mt_conn *b, const void *bytes, size_t size)
{
	assert_int_equal(send(mt_conn_fd(b), bytes, size, MSG_NOSIGNAL), (ssize_t)size);
}

static void expect_broken(mt_conn *a)
{
	char buf[64];
	size_t len;
	void *msg = NULL;
	assert_int_equal(mt_conn_recv(a, buf, sizeof buf, &len, 5), -EPROTO);
	assert_int_equal(mt_conn_recv(a, buf, sizeof buf, &len, 5), -EPROTO); /* for good */
	assert_int_equal(mt_conn_recv_alloc(a, &msg, &len, 5), -EPROTO);
	assert_null(msg);
	assert_int_equal(mt_conn_poll(a, 0), 1);
}

static void a_malformed_header_is_eproto_not_a_crash(void **state)
{
	const uint32_t huge[2] = {0xfffffff0u, 0}; /* length 4 GiB, no check */
	const uint32_t garbage[4] = {0x01020304u, 0x05060708u, 7, 8};
	static char oversized[100000]; /* longer than any record */
	struct {
		const void *bytes;
		size_t size;
	} records[] = {{huge, sizeof huge},
		       {garbage, sizeof garbage},
		       {"abc", 3},
		       {oversized, sizeof oversized}};
	for (size_t i = 0; i < LENGTH_OF(records); i++) {
		mt_conn *a, *b;
		new_pipe(&a, &b, true);
		send_raw(b, records[i].bytes, records[i].size);
		expect_broken(a);
		mt_conn_close(a);
		mt_conn_close(b);
	}
}

static void no_descriptor_is_left_behind(void **state)
{
	int sockets = count_fds_linked_to("socket:");
	mt_conn *a, *b;
	new_pipe(&a, &b, true);
	assert_int_equal(count_fds_linked_to("socket:"), sockets + 2);
	assert_true(fcntl(mt_conn_fd(a), F_GETFD) & FD_CLOEXEC);
	close_both(a, b);
	assert_int_equal(count_fds_linked_to("socket:"), sockets);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(messages_keep_order_and_boundaries_both_ways),
		cmocka_unit_test(megabytes_cross_between_processes_whole),
		cmocka_unit_test(a_too_small_buffer_gives_emsgsize_and_keeps_the_message),
		cmocka_unit_test(recv_and_poll_time_out_and_poll_sees_a_message),
		cmocka_unit_test(the_end_of_file_is_epipe_once_every_message_was_received),
		cmocka_unit_test(a_child_closing_its_copy_gives_the_parent_eof),
		cmocka_unit_test(sending_to_a_closed_end_is_epipe_without_sigpipe),
		cmocka_unit_test(a_one_way_pipe_refuses_the_wrong_direction),
		cmocka_unit_test(bad_arguments_are_einval),
		cmocka_unit_test(a_signal_does_not_end_a_receive_or_a_poll_early),
		cmocka_unit_test(a_malformed_header_is_eproto_not_a_crash),
		cmocka_unit_test(no_descriptor_is_left_behind),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
