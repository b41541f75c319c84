/* test_ipc.c: shared memory, Value and Array, and Pipe between processes:
 * what a child sees, descriptors passed on, nothing left behind in
 * /dev/shm or in the descriptor table, exact counts under a Value's lock,
 * a dead lock holder, message boundaries and sizes, timeouts, end of file,
 * no SIGPIPE, signals during a wait, and a peer that breaks the framing.
 * (The queue between processes has tests of its own.) */
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

/* ---- helpers ---- */

#define LENGTH_OF(a) (sizeof(a) / sizeof((a)[0]))

/* How many of this process's descriptors link to a name starting with
 * prefix ("/memfd:NAME", "socket:"). Sanitizer runtimes open files of
 * their own, so counting every descriptor would be flaky. */
static int count_fds_linked_to(const char *prefix)
{
	DIR *dir = opendir("/proc/self/fd");
	int n = 0;
	struct dirent *e;
	while (dir && (e = readdir(dir))) {
		char path[300], target[256];
		snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
		ssize_t len = readlink(path, target, sizeof target - 1);
		if (len > 0) {
			target[len] = '\0';
			n += strncmp(target, prefix, strlen(prefix)) == 0;
		}
	}
	if (dir)
		closedir(dir);
	return n;
}

/* How many lines of /proc/self/maps contain needle. */
static int count_mappings_of(const char *needle)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int n = 0;
	while (f && fgets(line, sizeof line, f))
		n += strstr(line, needle) != NULL;
	if (f)
		fclose(f);
	return n;
}

/* The names in /dev/shm that say "mtask", one string ("a/b/c/"): other
 * programs (Python's semaphores, say) may add theirs at any time. */
static void list_dev_shm(char *out, size_t size)
{
	DIR *dir = opendir("/dev/shm");
	struct dirent *e;
	size_t used = 0;
	out[0] = '\0';
	while (dir && (e = readdir(dir)) && used < size)
		if (strstr(e->d_name, "mtask"))
			used += (size_t)snprintf(out + used, size - used, "%s/", e->d_name);
	if (dir)
		closedir(dir);
}

/* A one-byte message with room for one descriptor (SCM_RIGHTS). */
struct fd_message {
	char byte;
	struct iovec iov;
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} control;
	struct msghdr m;
};

static struct msghdr *fd_message_init(struct fd_message *f)
{
	memset(f, 0, sizeof *f);
	f->iov = (struct iovec){&f->byte, 1};
	f->m = (struct msghdr){.msg_iov = &f->iov,
			       .msg_iovlen = 1,
			       .msg_control = f->control.buf,
			       .msg_controllen = sizeof f->control.buf};
	return &f->m;
}

static int send_fd(int sock, int fd)
{
	struct fd_message f;
	struct msghdr *m = fd_message_init(&f);
	struct cmsghdr *c = CMSG_FIRSTHDR(m);
	*c = (struct cmsghdr){.cmsg_len = CMSG_LEN(sizeof(int)),
			      .cmsg_level = SOL_SOCKET,
			      .cmsg_type = SCM_RIGHTS};
	memcpy(CMSG_DATA(c), &fd, sizeof fd);
	return sendmsg(sock, m, 0) == 1 ? 0 : -1;
}

static int receive_fd(int sock)
{
	struct fd_message f;
	struct msghdr *m = fd_message_init(&f);
	if (recvmsg(sock, m, MSG_CMSG_CLOEXEC) != 1)
		return -1;
	struct cmsghdr *c = CMSG_FIRSTHDR(m);
	int fd = -1;
	if (c && c->cmsg_type == SCM_RIGHTS)
		memcpy(&fd, CMSG_DATA(c), sizeof fd);
	return fd;
}

/* ---- shared memory ---- */

static int write_greeting(void *arg)
{
	strcpy(mt_shm_addr(arg), "written by the child");
	return 0;
}

static void a_segment_starts_zeroed_and_a_child_writes_into_it(void **state)
{
	mt_shm *s;
	assert_int_equal(mt_shm_new(&s, 10000, "mtask-test"), 0);
	assert_int_equal(mt_shm_size(s), 10000);
	const unsigned char *bytes = mt_shm_addr(s);
	for (size_t i = 0; i < 10000; i++)
		assert_int_equal(bytes[i], 0);
	assert_int_equal(join_child(start_child(write_greeting, s)), 0);
	assert_string_equal(mt_shm_addr(s), "written by the child");
	assert_true(fcntl(mt_shm_fd(s), F_GETFD) & FD_CLOEXEC);
	mt_shm_free(s);
}

/* The child makes a segment of its own after the fork, so the parent can
 * reach it only through the descriptor the child sends. */
static int make_and_send_segment(void *arg)
{
	int sock = *(int *)arg;
	mt_shm *s;
	if (mt_shm_new(&s, 4096, NULL))
		return 1;
	strcpy(mt_shm_addr(s), "made in the child");
	int failed = send_fd(sock, mt_shm_fd(s));
	mt_shm_free(s); /* the parent's descriptor keeps the memory */
	return failed ? 2 : 0;
}

static void a_segment_is_attached_through_a_descriptor_from_another_process(void **state)
{
	int pair[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
	assert_int_equal(join_child(start_child(make_and_send_segment, &pair[1])), 0);
	int fd = receive_fd(pair[0]);
	assert_true(fd >= 0);
	mt_shm *s;
	assert_int_equal(mt_shm_attach(&s, fd), 0);
	assert_int_equal(mt_shm_size(s), 4096);
	assert_string_equal(mt_shm_addr(s), "made in the child");
	assert_int_not_equal(mt_shm_fd(s), fd); /* a duplicate, its own */
	close(fd);
	strcpy(mt_shm_addr(s), "still mapped");
	assert_string_equal(mt_shm_addr(s), "still mapped");
	mt_shm_free(s);
	close(pair[0]);
	close(pair[1]);
}

static void attach_refuses_bad_and_named_descriptors(void **state)
{
	mt_shm *s;
	assert_int_equal(mt_shm_attach(&s, -1), -EBADF);
	int closed = dup(0);
	close(closed);
	assert_int_equal(mt_shm_attach(&s, closed), -EBADF);

	int pipefd[2];
	assert_int_equal(pipe(pipefd), 0);
	assert_int_equal(mt_shm_attach(&s, pipefd[0]), -EINVAL);
	close(pipefd[0]);
	close(pipefd[1]);

	char path[] = "/tmp/mtask-test-ipc-XXXXXX";
	int file = mkstemp(path);
	assert_true(file >= 0);
	assert_int_equal(ftruncate(file, 4096), 0);
	assert_int_equal(mt_shm_attach(&s, file), -EINVAL); /* has a name */
	unlink(path);
	close(file);
	file = open("/dev/null", O_RDWR | O_CLOEXEC);
	assert_int_equal(mt_shm_attach(&s, file), -EINVAL);
	close(file);

	int empty = memfd_create("mtask-test-empty", MFD_CLOEXEC);
	assert_int_equal(mt_shm_attach(&s, empty), -EINVAL); /* size 0 */
	close(empty);
	assert_int_equal(mt_shm_new(&s, 0, NULL), -EINVAL);
}

static void nothing_is_left_in_dev_shm_or_in_the_descriptor_table(void **state)
{
	static char before[8192], during[8192], after[8192];
	int fds = count_fds_linked_to("/memfd:mtask-test-leak");
	int maps = count_mappings_of("mtask-test-leak");
	int anonymous_maps = count_mappings_of("/dev/zero");
	list_dev_shm(before, sizeof before);

	mt_shm *s;
	mt_array *a;
	mt_value *v;
	assert_int_equal(mt_shm_new(&s, 1 << 20, "mtask-test-leak"), 0);
	assert_int_equal(mt_array_new(&a, sizeof(int), 1000, 0), 0);
	assert_int_equal(mt_value_new(&v, sizeof(double), 0), 0);
	list_dev_shm(during, sizeof during);
	assert_string_equal(before, during);
	assert_int_equal(count_fds_linked_to("/dev/shm/"), 0);
	assert_int_equal(count_mappings_of("/dev/shm/"), 0);
	assert_int_equal(count_fds_linked_to("/memfd:mtask-test-leak"), fds + 1);
	assert_int_equal(count_mappings_of("mtask-test-leak"), maps + 1);
	assert_int_equal(count_mappings_of("/dev/zero"), anonymous_maps + 2);

	mt_shm_free(s);
	mt_array_free(a);
	mt_value_free(v);
	list_dev_shm(after, sizeof after);
	assert_string_equal(before, after);
	assert_int_equal(count_fds_linked_to("/memfd:mtask-test-leak"), fds);
	assert_int_equal(count_mappings_of("mtask-test-leak"), maps);
	assert_int_equal(count_mappings_of("/dev/zero"), anonymous_maps);
}

/* ---- Value and Array ---- */

enum { COUNTERS = 4, INCREMENTS = 2000 };

static int increment_under_the_lock(void *arg)
{
	mt_value *v = arg;
	for (int i = 0; i < INCREMENTS; i++) {
		if (mt_lock_acquire(mt_value_lock(v), 30))
			return 1;
		++*(long *)mt_value_ptr(v);
		mt_lock_release(mt_value_lock(v));
	}
	return 0;
}

static void a_value_counted_by_several_processes_under_its_lock_is_exact(void **state)
{
	mt_value *v;
	assert_int_equal(mt_value_new(&v, sizeof(long), 0), 0);
	assert_non_null(mt_value_lock(v));
	mt_process *p[COUNTERS];
	for (int i = 0; i < COUNTERS; i++)
		p[i] = start_child(increment_under_the_lock, v);
	assert_int_equal(increment_under_the_lock(v), 0);
	for (int i = 0; i < COUNTERS; i++)
		assert_int_equal(join_child(p[i]), 0);
	long total = 0;
	assert_int_equal(mt_value_get(v, &total), 0);
	assert_int_equal(total, (COUNTERS + 1) * INCREMENTS);
	mt_value_free(v);
}

struct fill {
	mt_array *a;
	int first; /* fills first, first + 2, ... */
};

static int fill_every_other(void *arg)
{
	struct fill *f = arg;
	for (int i = f->first; i < (int)mt_array_length(f->a); i += 2) {
		int square = i * i;
		if (mt_array_set(f->a, (size_t)i, &square))
			return 1;
	}
	return 0;
}

static void an_array_is_filled_by_children_and_checks_its_bounds(void **state)
{
	mt_array *a;
	assert_int_equal(mt_array_new(&a, sizeof(int), 10, 0), 0);
	assert_int_equal(mt_array_length(a), 10);
	assert_int_equal(mt_array_elem_size(a), sizeof(int));
	assert_int_equal((uintptr_t)mt_array_data(a) % 64, 0);
	struct fill even = {a, 0}, odd = {a, 1};
	mt_process *p = start_child(fill_every_other, &even);
	mt_process *q = start_child(fill_every_other, &odd);
	assert_int_equal(join_child(p), 0);
	assert_int_equal(join_child(q), 0);
	for (int i = 0; i < 10; i++) {
		int got = -1;
		assert_int_equal(mt_array_get(a, (size_t)i, &got), 0);
		assert_int_equal(got, i * i);
		assert_int_equal(((int *)mt_array_data(a))[i], i * i);
	}
	int x = 7;
	assert_int_equal(mt_array_get(a, 10, &x), -ERANGE);
	assert_int_equal(mt_array_set(a, SIZE_MAX, &x), -ERANGE);
	assert_int_equal(x, 7);
	assert_false(mt_lock_locked(mt_array_lock(a)));
	mt_array_free(a);
}

static void raw_values_and_arrays_have_no_lock(void **state)
{
	mt_value *v;
	mt_array *a;
	assert_int_equal(mt_value_new(&v, sizeof(double), MT_IPC_RAW), 0);
	assert_int_equal(mt_array_new(&a, 3, 5, MT_IPC_RAW), 0);
	assert_null(mt_value_lock(v));
	assert_null(mt_array_lock(a));
	double d = 2.5, back = 0;
	assert_int_equal(mt_value_set(v, &d), 0);
	assert_int_equal(mt_value_get(v, &back), 0);
	assert_true(back == 2.5);
	assert_true(*(double *)mt_value_ptr(v) == 2.5);
	assert_int_equal(mt_array_set(a, 4, "xyz"), 0);
	char three[3];
	assert_int_equal(mt_array_get(a, 4, three), 0);
	assert_memory_equal(three, "xyz", 3);
	mt_value_free(v);
	mt_array_free(a);
}

static void bad_sizes_and_flags_are_einval(void **state)
{
	mt_array *a;
	mt_value *v;
	assert_int_equal(mt_array_new(&a, 0, 10, 0), -EINVAL);
	assert_int_equal(mt_array_new(&a, 4, 0, 0), -EINVAL);
	assert_int_equal(mt_array_new(&a, 4, 10, 2), -EINVAL);
	assert_int_equal(mt_array_new(&a, SIZE_MAX / 2 + 1, 2, 0), -EINVAL);
	assert_int_equal(mt_array_new(&a, 1, SIZE_MAX - 8, 0), -EINVAL);
	assert_int_equal(mt_array_new(NULL, 1, 1, 0), -EINVAL);
	assert_int_equal(mt_value_new(&v, 0, 0), -EINVAL);
	assert_int_equal(mt_value_new(&v, SIZE_MAX, MT_IPC_RAW), -EINVAL);
	assert_int_equal(mt_value_new(&v, 8, -1), -EINVAL);
	/* Fits in a size_t, not in memory. */
	assert_int_equal(mt_array_new(&a, (size_t)1 << 40, (size_t)1 << 20, 0), -ENOMEM);
}

struct holder {
	mt_value *v;	/* the value whose lock the child dies holding */
	mt_value *flag; /* raw, holds an mt_event: "the lock is held" */
};

static int die_holding_the_lock(void *arg)
{
	struct holder *h = arg;
	if (mt_lock_acquire(mt_value_lock(h->v), 30))
		return 1;
	*(long *)mt_value_ptr(h->v) = 41; /* half an update */
	mt_event_set(mt_value_ptr(h->flag));
	for (;;)
		pause();
}

static void get_after_a_holder_died_copies_and_reports_eownerdead(void **state)
{
	struct holder h;
	assert_int_equal(mt_value_new(&h.v, sizeof(long), 0), 0);
	assert_int_equal(mt_value_new(&h.flag, sizeof(mt_event), MT_IPC_RAW), 0);
	assert_int_equal(mt_event_init(mt_value_ptr(h.flag), MT_PSHARED), 0);
	mt_process *p = start_child(die_holding_the_lock, &h);
	assert_int_equal(mt_event_wait(mt_value_ptr(h.flag), 30), 0);
	assert_int_equal(mt_process_kill(p), 0);
	assert_int_equal(join_child(p), -SIGKILL);

	long got = 0;
	assert_int_equal(mt_value_get(h.v, &got), -EOWNERDEAD);
	/* Copied all the same, and the lock is ours, to repair. */
	assert_int_equal(got, 41);
	assert_true(mt_lock_locked(mt_value_lock(h.v)));
	*(long *)mt_value_ptr(h.v) = 42;
	assert_int_equal(mt_lock_consistent(mt_value_lock(h.v)), 0);
	assert_int_equal(mt_lock_release(mt_value_lock(h.v)), 0);
	long next = 43;
	assert_int_equal(mt_value_set(h.v, &next), 0);
	assert_int_equal(mt_value_get(h.v, &got), 0);
	assert_int_equal(got, 43);
	mt_value_free(h.v);
	mt_value_free(h.flag);
}

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
		cmocka_unit_test(a_segment_starts_zeroed_and_a_child_writes_into_it),
		cmocka_unit_test(a_segment_is_attached_through_a_descriptor_from_another_process),
		cmocka_unit_test(attach_refuses_bad_and_named_descriptors),
		cmocka_unit_test(nothing_is_left_in_dev_shm_or_in_the_descriptor_table),
		cmocka_unit_test(a_value_counted_by_several_processes_under_its_lock_is_exact),
		cmocka_unit_test(an_array_is_filled_by_children_and_checks_its_bounds),
		cmocka_unit_test(raw_values_and_arrays_have_no_lock),
		cmocka_unit_test(bad_sizes_and_flags_are_einval),
		cmocka_unit_test(get_after_a_holder_died_copies_and_reports_eownerdead),
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
