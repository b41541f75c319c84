/* test_ipc.c: shared memory, Value and Array between processes:
 * what a child sees, descriptors passed on, nothing left behind in
 * /dev/shm or in the descriptor table, exact counts under a Value's lock,
 * and a dead lock holder. (Pipe: test_pipe.c; the queue between
 * processes: test_ipcq.c.) */
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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
