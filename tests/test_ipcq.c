/* test_ipcq.c: the queue between processes (mt_ipc_queue): order and
 * boundaries across processes, sizes, Full and Empty, timeouts, blocking
 * woken from another process, close, task_done/join, many producer and
 * consumer processes and threads, processes killed holding a lock or
 * woken and stopped, a scribbled frame, and nothing left behind by free. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <poll.h>
#include <stdatomic.h>
#include <sys/mman.h>

#include "ipcq.h" /* the recovery count, from src/ */
#include "ipcq_message.h"
#include "mtask/mtask.h"
#include "testutil.h"

static mt_ipc_queue *new_queue(size_t maxsize, size_t max_message)
{
	mt_ipc_queue *q;
	assert_int_equal(mt_ipc_queue_new(&q, maxsize, max_message), 0);
	return q;
}

static void *shared_zeroed(size_t size)
{
	void *at = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(at != MAP_FAILED);
	return at;
}

/* Waits until process pid sleeps in the kernel (state S), where a blocked
 * put or get is once it has stopped spinning. */
static void wait_until_asleep(pid_t pid)
{
	for (int i = 0; i < 10000; i++) {
		char state;
		pid_t ppid;
		if (proc_stat(pid, &state, &ppid) == 0 && state == 'S')
			return;
		usleep(1000);
	}
	fail_msg("process %d never went to sleep", (int)pid);
}

static void put_message(mt_ipc_queue *q, uint32_t producer, uint32_t seq)
{
	unsigned char buf[TEST_MESSAGE_MAX];
	size_t len = test_message_make(buf, producer, seq);
	assert_int_equal(mt_ipc_queue_put(q, buf, len, 30), 0);
}

/* Gets the next message and checks that it is (producer, seq), whole. */
static void get_message(mt_ipc_queue *q, uint32_t producer, uint32_t seq)
{
	unsigned char buf[TEST_MESSAGE_MAX];
	size_t len = 0;
	assert_int_equal(mt_ipc_queue_get(q, buf, sizeof buf, &len, 30), 0);
	assert_true(test_message_check(buf, len));
	const struct test_message *m = (const void *)buf;
	assert_int_equal(m->producer, producer);
	assert_int_equal(m->seq, seq);
}

/* ---- order, sizes, boundaries ---- */

enum { ORDERED = 2000 };

static int put_in_order(void *arg)
{
	for (uint32_t seq = 0; seq < ORDERED; seq++)
		put_message(arg, 7, seq);
	return 0;
}

/* A small queue, so the ring wraps many times with frames of every size. */
static void messages_cross_processes_in_order_with_their_boundaries(void **state)
{
	mt_ipc_queue *q = new_queue(8, TEST_MESSAGE_MAX);
	mt_process *p = start_child(put_in_order, q);
	for (uint32_t seq = 0; seq < ORDERED; seq++)
		get_message(q, 7, seq);
	assert_int_equal(join_child(p), 0);
	assert_true(mt_ipc_queue_empty(q));
	mt_ipc_queue_free(q);
}

static void zero_length_and_longest_messages_pass_whole(void **state)
{
	enum { MAX = 1000 };
	mt_ipc_queue *q = new_queue(2, MAX);
	static unsigned char big[MAX], out[MAX + 1];
	for (int i = 0; i < MAX; i++)
		big[i] = (unsigned char)(i * 31 + 7);
	size_t len = 99;
	for (int round = 0; round < 5; round++) { /* wrap the ring's two frames */
		assert_int_equal(mt_ipc_queue_put(q, NULL, 0, 0), 0);
		assert_int_equal(mt_ipc_queue_put(q, big, MAX, 0), 0);
		assert_int_equal(mt_ipc_queue_get(q, NULL, 0, &len, 0), 0);
		assert_int_equal(len, 0);
		assert_int_equal(mt_ipc_queue_get(q, out, sizeof out, &len, 0), 0);
		assert_int_equal(len, MAX);
		assert_memory_equal(out, big, MAX);
	}
	assert_int_equal(mt_ipc_queue_put(q, big, MAX + 1, 0), -EMSGSIZE);
	assert_int_equal(mt_ipc_queue_qsize(q), 0);
	mt_ipc_queue_free(q);
}

static void a_short_buffer_is_emsgsize_and_the_message_stays(void **state)
{
	mt_ipc_queue *q = new_queue(4, 64);
	assert_int_equal(mt_ipc_queue_put(q, "hello, world", 12, 0), 0);
	char buf[64];
	size_t len = 0;
	assert_int_equal(mt_ipc_queue_get(q, buf, 5, &len, 0), -EMSGSIZE);
	assert_int_equal(len, 12);
	assert_int_equal(mt_ipc_queue_get(q, NULL, 0, &len, 0), -EMSGSIZE);
	assert_int_equal(mt_ipc_queue_qsize(q), 1);
	assert_int_equal(mt_ipc_queue_get(q, buf, 12, &len, 0), 0);
	assert_int_equal(len, 12);
	assert_memory_equal(buf, "hello, world", 12);
	mt_ipc_queue_free(q);
}

static void bad_arguments_are_einval(void **state)
{
	mt_ipc_queue *q;
	size_t len;
	char buf[8];
	assert_int_equal(mt_ipc_queue_new(NULL, 1, 1), -EINVAL);
	assert_int_equal(mt_ipc_queue_new(&q, (size_t)1 << 40, 1), -EINVAL);
	assert_int_equal(mt_ipc_queue_new(&q, 1, SIZE_MAX), -EINVAL);
	q = new_queue(0, 0); /* the defaults: 1024 messages of 64 KiB */
	assert_int_equal(mt_ipc_queue_put(NULL, buf, 1, 0), -EINVAL);
	assert_int_equal(mt_ipc_queue_put(q, NULL, 1, 0), -EINVAL);
	assert_int_equal(mt_ipc_queue_put(q, buf, 1, NAN), -EINVAL);
	assert_int_equal(mt_ipc_queue_put(q, buf, 64 * 1024 + 1, 0), -EMSGSIZE);
	assert_int_equal(mt_ipc_queue_get(q, buf, sizeof buf, NULL, 0), -EINVAL);
	assert_int_equal(mt_ipc_queue_get(q, NULL, 1, &len, 0), -EINVAL);
	assert_int_equal(mt_ipc_queue_get(q, buf, sizeof buf, &len, NAN), -EINVAL);
	assert_int_equal(mt_ipc_queue_join(q, NAN), -EINVAL);
	assert_int_equal(mt_ipc_queue_task_done(NULL), -EINVAL);
	for (int i = 0; i < 1024; i++)
		assert_int_equal(mt_ipc_queue_put(q, buf, 0, 0), 0);
	assert_true(mt_ipc_queue_full(q));
	assert_int_equal(mt_ipc_queue_put(q, buf, 0, 0), -EAGAIN);
	mt_ipc_queue_free(q);
	mt_ipc_queue_free(NULL);
}

/* ---- Full, Empty, timeouts ---- */

/* The notes' Queue(5): five puts, put_nowait is Full, five gets in order,
 * get_nowait is Empty; sizes along the way. */
static void nowait_is_eagain_when_full_or_empty(void **state)
{
	mt_ipc_queue *q = new_queue(5, 16);
	assert_true(mt_ipc_queue_empty(q));
	assert_false(mt_ipc_queue_full(q));
	for (char i = 1; i <= 5; i++)
		assert_int_equal(mt_ipc_queue_put(q, &i, 1, 0), 0);
	assert_int_equal(mt_ipc_queue_qsize(q), 5);
	assert_true(mt_ipc_queue_full(q));
	char c = 6;
	assert_int_equal(mt_ipc_queue_put(q, &c, 1, 0), -EAGAIN);
	size_t len;
	for (char i = 1; i <= 5; i++) {
		assert_int_equal(mt_ipc_queue_get(q, &c, 1, &len, 0), 0);
		assert_int_equal(c, i);
	}
	assert_int_equal(mt_ipc_queue_get(q, &c, 1, &len, 0), -EAGAIN);
	assert_true(mt_ipc_queue_empty(q));
	mt_ipc_queue_free(q);
}

static void a_timeout_that_expires_is_eagain(void **state)
{
	mt_ipc_queue *q = new_queue(1, 16);
	char c = 0;
	size_t len;
	double start = now_seconds();
	assert_int_equal(mt_ipc_queue_get(q, &c, 1, &len, 0.05), -EAGAIN);
	assert_true(now_seconds() - start >= 0.05);
	assert_int_equal(mt_ipc_queue_put(q, &c, 1, 0), 0);
	start = now_seconds();
	assert_int_equal(mt_ipc_queue_put(q, &c, 1, 0.05), -EAGAIN);
	assert_true(now_seconds() - start >= 0.05);
	assert_int_equal(mt_ipc_queue_qsize(q), 1);
	mt_ipc_queue_free(q);
}

/* ---- blocking across processes ---- */

static int get_two_later(void *arg)
{
	usleep(50 * 1000);
	get_message(arg, 1, 0);
	get_message(arg, 1, 1);
	return 0;
}

static void a_blocked_put_is_woken_by_a_get_in_another_process(void **state)
{
	mt_ipc_queue *q = new_queue(1, TEST_MESSAGE_MAX);
	put_message(q, 1, 0);
	mt_process *p = start_child(get_two_later, q);
	put_message(q, 1, 1); /* blocks until the child's first get */
	assert_int_equal(join_child(p), 0);
	assert_true(mt_ipc_queue_empty(q));
	mt_ipc_queue_free(q);
}

static int put_one_later(void *arg)
{
	usleep(50 * 1000);
	put_message(arg, 2, 0);
	return 0;
}

static void a_blocked_get_is_woken_by_a_put_in_another_process(void **state)
{
	mt_ipc_queue *q = new_queue(1, TEST_MESSAGE_MAX);
	mt_process *p = start_child(put_one_later, q);
	get_message(q, 2, 0);
	assert_int_equal(join_child(p), 0);
	mt_ipc_queue_free(q);
}

/* ---- close ---- */

static int get_until_closed(void *arg)
{
	char c;
	size_t len;
	return -mt_ipc_queue_get(arg, &c, 1, &len, 30);
}

static int put_until_closed(void *arg)
{
	return -mt_ipc_queue_put(arg, "x", 1, 30);
}

static void close_wakes_blocked_gets_and_puts_in_other_processes(void **state)
{
	mt_ipc_queue *empty = new_queue(1, 1), *full = new_queue(1, 1);
	assert_int_equal(mt_ipc_queue_put(full, "x", 1, 0), 0);
	mt_process *getter = start_child(get_until_closed, empty);
	mt_process *putter = start_child(put_until_closed, full);
	wait_until_asleep(mt_process_pid(getter));
	wait_until_asleep(mt_process_pid(putter));
	mt_ipc_queue_close(empty);
	mt_ipc_queue_close(full);
	assert_int_equal(join_child(getter), EPIPE);
	assert_int_equal(join_child(putter), EPIPE);
	assert_int_equal(mt_ipc_queue_qsize(full), 1);
	mt_ipc_queue_free(empty);
	mt_ipc_queue_free(full);
}

static void a_closed_queue_refuses_puts_and_drains_then_epipe(void **state)
{
	mt_ipc_queue *q = new_queue(4, 4);
	assert_int_equal(mt_ipc_queue_put(q, "a", 1, 0), 0);
	assert_int_equal(mt_ipc_queue_put(q, "b", 1, 0), 0);
	assert_false(mt_ipc_queue_closed(q));
	mt_ipc_queue_close(q);
	mt_ipc_queue_close(q); /* idempotent */
	assert_true(mt_ipc_queue_closed(q));
	assert_int_equal(mt_ipc_queue_put(q, "c", 1, -1), -EPIPE);
	char c;
	size_t len;
	assert_int_equal(mt_ipc_queue_get(q, &c, 1, &len, -1), 0);
	assert_int_equal(c, 'a');
	assert_int_equal(mt_ipc_queue_get(q, &c, 1, &len, -1), 0);
	assert_int_equal(c, 'b');
	assert_int_equal(mt_ipc_queue_get(q, &c, 1, &len, -1), -EPIPE);
	assert_int_equal(mt_ipc_queue_get(q, &c, 1, &len, 0), -EPIPE);
	/* Closing does not end a join: the two messages owe their task_done. */
	assert_int_equal(mt_ipc_queue_join(q, 0), -ETIMEDOUT);
	assert_int_equal(mt_ipc_queue_task_done(q), 0);
	assert_int_equal(mt_ipc_queue_task_done(q), 0);
	assert_int_equal(mt_ipc_queue_join(q, 0), 0);
	mt_ipc_queue_free(q);
}

/* ---- task_done and join ---- */

static int consume_and_mark_done(void *arg)
{
	mt_ipc_queue *q = arg;
	char c;
	size_t len;
	int err;
	while ((err = mt_ipc_queue_get(q, &c, 1, &len, 30)) == 0) {
		usleep(1000);
		if (mt_ipc_queue_task_done(q))
			return 1;
	}
	return err == -EPIPE ? 0 : 2;
}

static void join_waits_until_every_message_is_done(void **state)
{
	mt_ipc_queue *q = new_queue(3, 1);
	assert_int_equal(mt_ipc_queue_task_done(q), -EINVAL);
	assert_int_equal(mt_ipc_queue_join(q, 0), 0); /* nothing owed */
	for (int i = 0; i < 3; i++)
		assert_int_equal(mt_ipc_queue_put(q, "t", 1, 0), 0);
	double start = now_seconds();
	assert_int_equal(mt_ipc_queue_join(q, 0.02), -ETIMEDOUT);
	assert_true(now_seconds() - start >= 0.02);
	mt_process *p = start_child(consume_and_mark_done, q);
	for (int i = 0; i < 7; i++)
		assert_int_equal(mt_ipc_queue_put(q, "t", 1, 30), 0);
	assert_int_equal(mt_ipc_queue_join(q, 30), 0);
	mt_ipc_queue_close(q);
	assert_int_equal(join_child(p), 0);
	assert_int_equal(mt_ipc_queue_task_done(q), -EINVAL); /* one too many */
	mt_ipc_queue_free(q);
}

/* ---- many producers and consumers ---- */

enum { PRODUCERS = 3, PER_PRODUCER = 3000, CONSUMER_PROCESSES = 2 };

struct traffic {
	mt_ipc_queue *q;
	_Atomic unsigned char seen[PRODUCERS][PER_PRODUCER];
	_Atomic int torn, duplicates;
};

struct producer {
	struct traffic *traffic;
	uint32_t me;
};

static int produce(void *arg)
{
	const struct producer *p = arg;
	unsigned char buf[TEST_MESSAGE_MAX];
	for (uint32_t seq = 0; seq < PER_PRODUCER; seq++) {
		size_t len = test_message_make(buf, p->me, seq);
		if (mt_ipc_queue_put(p->traffic->q, buf, len, 30))
			return 1;
	}
	return 0;
}

/* Takes messages until a zero-length one, the sentinel. */
static int consume(void *arg)
{
	struct traffic *t = arg;
	unsigned char buf[TEST_MESSAGE_MAX];
	size_t len;
	while (mt_ipc_queue_get(t->q, buf, sizeof buf, &len, 30) == 0) {
		if (len == 0)
			return 0;
		const struct test_message *m = (const void *)buf;
		if (!test_message_check(buf, len) || m->producer >= PRODUCERS ||
		    m->seq >= PER_PRODUCER)
			atomic_fetch_add(&t->torn, 1);
		else if (atomic_exchange(&t->seen[m->producer][m->seq], 1))
			atomic_fetch_add(&t->duplicates, 1);
	}
	return 1;
}

/* Three producer processes, two consumer processes and a consumer
 * thread. */
static void many_producers_and_consumers_lose_and_duplicate_nothing(void **state)
{
	struct traffic *t = shared_zeroed(sizeof *t);
	t->q = new_queue(16, TEST_MESSAGE_MAX);
	mt_process *consumers[CONSUMER_PROCESSES], *producers[PRODUCERS];
	struct producer roles[PRODUCERS];
	for (int i = 0; i < CONSUMER_PROCESSES; i++)
		consumers[i] = start_child(consume, t);
	mt_thread *consumer_thread = start_thread(consume, t);
	for (int i = 0; i < PRODUCERS; i++) {
		roles[i] = (struct producer){t, (uint32_t)i};
		producers[i] = start_child(produce, &roles[i]);
	}
	for (int i = 0; i < PRODUCERS; i++)
		assert_int_equal(join_child(producers[i]), 0);
	for (int i = 0; i < CONSUMER_PROCESSES + 1; i++)
		assert_int_equal(mt_ipc_queue_put(t->q, NULL, 0, 30), 0);
	for (int i = 0; i < CONSUMER_PROCESSES; i++)
		assert_int_equal(join_child(consumers[i]), 0);
	assert_int_equal(join_thread(consumer_thread), 0);
	assert_int_equal(t->torn, 0);
	assert_int_equal(t->duplicates, 0);
	for (int p = 0; p < PRODUCERS; p++)
		for (int s = 0; s < PER_PRODUCER; s++)
			assert_int_equal(t->seen[p][s], 1);
	mt_ipc_queue_free(t->q);
	munmap(t, sizeof *t);
}

/* ---- processes that die ---- */

static void kill_myself(int sig)
{
	kill(getpid(), SIGKILL);
}

/* A buffer of len bytes whose last bytes, from good on, are on a page
 * that faults: a copy through it stops half-way. */
static unsigned char *buffer_that_faults_after(size_t good)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	unsigned char *map = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (map == MAP_FAILED || mprotect(map + page, page, PROT_NONE))
		return NULL;
	memset(map, 'h', page);
	return map + page - good;
}

/* In a child: the copy into or out of the queue faults half-way, and
 * the fault's handler SIGKILLs the process: it dies holding the lock. */
static void die_on_fault(void)
{
	struct sigaction sa = {.sa_handler = kill_myself};
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
}

static int put_and_die_half_way(void *arg)
{
	die_on_fault();
	unsigned char *msg = buffer_that_faults_after(100);
	return msg ? mt_ipc_queue_put(arg, msg, 500, 30) == 0 : 2;
}

static int get_and_die_half_way(void *arg)
{
	die_on_fault();
	unsigned char *buf = buffer_that_faults_after(100);
	size_t len;
	return buf ? mt_ipc_queue_get(arg, buf, 500, &len, 30) == 0 : 2;
}

static void a_put_killed_holding_the_lock_leaves_no_half_message(void **state)
{
	mt_ipc_queue *q = new_queue(4, TEST_MESSAGE_MAX);
	put_message(q, 3, 0);
	assert_int_equal(join_child(start_child(put_and_die_half_way, q)), -SIGKILL);
	assert_int_equal(mt_ipc_queue_qsize(q), 1);
	get_message(q, 3, 0);
	unsigned char buf[TEST_MESSAGE_MAX];
	size_t len;
	assert_int_equal(mt_ipc_queue_get(q, buf, sizeof buf, &len, 0), -EAGAIN);
	assert_int_equal(mt__ipcq_recoveries(q), 0);
	for (uint32_t seq = 1; seq <= 10; seq++) { /* and it goes on working */
		put_message(q, 3, seq);
		get_message(q, 3, seq);
	}
	assert_int_equal(mt__ipcq_recoveries(q), 1); /* the first put took over */
	/* Eleven puts returned 0: the dead one owes no task_done. */
	for (int i = 0; i < 11; i++)
		assert_int_equal(mt_ipc_queue_task_done(q), 0);
	assert_int_equal(mt_ipc_queue_join(q, 0), 0);
	assert_int_equal(mt_ipc_queue_task_done(q), -EINVAL);
	mt_ipc_queue_free(q);
}

/* The first message number of producer whose length is in [low, high]. */
static uint32_t seq_of_length_between(uint32_t producer, size_t low, size_t high)
{
	unsigned char buf[TEST_MESSAGE_MAX];
	uint32_t seq = 0;
	for (size_t len; (len = test_message_make(buf, producer, seq)) < low || len > high;)
		seq++;
	return seq;
}

static void a_get_killed_holding_the_lock_leaves_the_message(void **state)
{
	mt_ipc_queue *q = new_queue(4, TEST_MESSAGE_MAX);
	uint32_t seq = seq_of_length_between(4, 200, 500); /* faults, fits */
	put_message(q, 4, seq);
	assert_int_equal(join_child(start_child(get_and_die_half_way, q)), -SIGKILL);
	assert_int_equal(mt_ipc_queue_qsize(q), 1);
	get_message(q, 4, seq); /* takes over the lock */
	assert_int_equal(mt__ipcq_recoveries(q), 1);
	mt_ipc_queue_free(q);
}

static int get_one_message(void *arg)
{
	char c;
	size_t len;
	return mt_ipc_queue_get(arg, &c, 1, &len, 30) == 0 && c == 'm' ? 0 : 1;
}

/* The first consumer to sleep is woken first; stopped, it stands for one
 * killed just after its wake-up. The second must get the message anyway. */
static void a_woken_consumer_that_stalls_strands_nothing(void **state)
{
	mt_ipc_queue *q = new_queue(4, 1);
	mt_process *first = start_child(get_one_message, q);
	wait_until_asleep(mt_process_pid(first));
	mt_process *second = start_child(get_one_message, q);
	wait_until_asleep(mt_process_pid(second));
	assert_int_equal(kill(mt_process_pid(first), SIGSTOP), 0);
	assert_int_equal(mt_ipc_queue_put(q, "m", 1, 0), 0);
	assert_int_equal(join_child(second), 0);
	assert_int_equal(mt_process_kill(first), 0);
	assert_int_equal(join_child(first), -SIGKILL);
	mt_ipc_queue_free(q);
}

/* A stray store into a frame's header (its check, at byte 4) makes gets
 * fail cleanly, in every process, and leaves the message counted. */
static void a_scribbled_frame_is_ebadmsg(void **state)
{
	mt_ipc_queue *q = new_queue(4, 64);
	assert_int_equal(mt_ipc_queue_put(q, "ok", 2, 0), 0);
	struct mt__ipcq_layout layout;
	mt__ipcq_layout(q, &layout);
	layout.base[layout.ring_offset + 4] ^= 0x5a;
	char buf[64];
	size_t len;
	assert_int_equal(mt_ipc_queue_get(q, buf, sizeof buf, &len, 0), -EBADMSG);
	assert_int_equal(mt_ipc_queue_get(q, buf, sizeof buf, &len, -1), -EBADMSG);
	assert_int_equal(mt_ipc_queue_qsize(q), 1);
	mt_ipc_queue_free(q);
}

/* ---- nothing left behind ---- */

/* Lines of /proc/self/maps that name the queue's memory. */
static int count_queue_mappings(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int n = 0;
	while (f && fgets(line, sizeof line, f))
		n += strstr(line, "mtask-ipc-queue") != NULL;
	if (f)
		fclose(f);
	return n;
}

/* Entries of dir; with link_to, only the symbolic links to a name that
 * contains it. */
static int count_entries(const char *dir_path, const char *link_to)
{
	DIR *dir = opendir(dir_path);
	struct dirent *e;
	int n = 0;
	while (dir && (e = readdir(dir))) {
		char path[300], target[300];
		snprintf(path, sizeof path, "%s/%s", dir_path, e->d_name);
		ssize_t len = readlink(path, target, sizeof target - 1);
		target[len > 0 ? len : 0] = '\0';
		n += !link_to || strstr(target, link_to) != NULL;
	}
	if (dir)
		closedir(dir);
	return n;
}

static void free_leaves_no_descriptor_mapping_or_shm_name(void **state)
{
	int shm_names = count_entries("/dev/shm", NULL);
	mt_ipc_queue *q = new_queue(4, 64);
	assert_int_equal(count_queue_mappings(), 1);
	assert_int_equal(count_entries("/proc/self/fd", "mtask-ipc-queue"), 0);
	assert_int_equal(count_entries("/dev/shm", NULL), shm_names);
	mt_ipc_queue_free(q);
	assert_int_equal(count_queue_mappings(), 0);
	for (int i = 0; i < 3; i++) {
		int fds = count_open_fds();
		q = new_queue(0, 0);
		assert_int_equal(mt_ipc_queue_put(q, "x", 1, 0), 0);
		mt_ipc_queue_free(q);
		assert_int_equal(count_open_fds(), fds);
	}
	assert_int_equal(count_queue_mappings(), 0);
}

/* ---- the descriptor (mt_ipc_queue_fd) ---- */

static bool fd_readable(mt_ipc_queue *q, int timeout_ms)
{
	struct pollfd p = {.fd = mt_ipc_queue_fd(q), .events = POLLIN};
	int n = poll(&p, 1, timeout_ms);
	assert_true(n >= 0);
	return n == 1 && (p.revents & POLLIN);
}

static int put_two_and_close(void *arg)
{
	put_message(arg, 3, 0);
	put_message(arg, 3, 1);
	mt_ipc_queue_close(arg);
	return 0;
}

static void the_descriptor_follows_puts_gets_and_close_across_processes(void **state)
{
	mt_ipc_queue *q = new_queue(4, TEST_MESSAGE_MAX);
	put_message(q, 1, 0); /* before anybody asked for the descriptor */
	assert_true(mt_ipc_queue_fd(q) >= 0);
	assert_true(fd_readable(q, 0));
	get_message(q, 1, 0);
	unsigned char buf[TEST_MESSAGE_MAX];
	size_t len;
	assert_int_equal(mt_ipc_queue_get(q, buf, sizeof buf, &len, 0), -EAGAIN);
	assert_false(fd_readable(q, 0));

	mt_process *p = start_child(put_two_and_close, q);
	assert_true(fd_readable(q, 30000));
	assert_int_equal(join_child(p), 0);
	get_message(q, 3, 0);
	get_message(q, 3, 1);
	assert_int_equal(mt_ipc_queue_get(q, buf, sizeof buf, &len, 0), -EPIPE);
	assert_true(fd_readable(q, 0)); /* closed: readable for good */
	assert_int_equal(mt_ipc_queue_fd(NULL), -EINVAL);
	mt_ipc_queue_free(q);
}

#define BURSTS 4000

/* Bursts of one to four messages, a pause of up to a few microseconds
 * between them: many a get that empties the queue races a put. */
static uint32_t next_burst(uint32_t *x)
{
	*x = *x * 1103515245 + 12345;
	return *x >> 16;
}

static int put_in_bursts(void *arg)
{
	uint32_t seq = 0, x = 12345;
	for (int b = 0; b < BURSTS; b++) {
		uint32_t r = next_burst(&x);
		for (uint32_t n = 1 + r % 4; n > 0; n--)
			put_message(arg, 4, seq++);
		for (volatile uint32_t spin = r % 2048; spin > 0; spin--)
			;
	}
	mt_ipc_queue_close(arg);
	return 0;
}

static int messages_in_bursts(void)
{
	uint32_t x = 12345;
	int total = 0;
	for (int b = 0; b < BURSTS; b++)
		total += 1 + (int)(next_burst(&x) % 4);
	return total;
}

static void a_poller_never_sleeps_past_a_message(void **state)
{
	mt_ipc_queue *q = new_queue(8, TEST_MESSAGE_MAX);
	assert_true(mt_ipc_queue_fd(q) >= 0);
	mt_process *p = start_child(put_in_bursts, q);
	unsigned char buf[TEST_MESSAGE_MAX];
	size_t len;
	int got = 0, err = 0;
	while (err != -EPIPE) {
		/* A lost signal shows as a poll that times out with a message in. */
		if (!fd_readable(q, 10000))
			assert_true(mt_ipc_queue_empty(q));
		while ((err = mt_ipc_queue_get(q, buf, sizeof buf, &len, 0)) == 0) {
			assert_true(test_message_check(buf, len));
			got++;
		}
		assert_true(err == -EAGAIN || err == -EPIPE);
	}
	assert_int_equal(join_child(p), 0);
	assert_int_equal(got, messages_in_bursts());
	mt_ipc_queue_free(q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(messages_cross_processes_in_order_with_their_boundaries),
		cmocka_unit_test(zero_length_and_longest_messages_pass_whole),
		cmocka_unit_test(a_short_buffer_is_emsgsize_and_the_message_stays),
		cmocka_unit_test(bad_arguments_are_einval),
		cmocka_unit_test(nowait_is_eagain_when_full_or_empty),
		cmocka_unit_test(a_timeout_that_expires_is_eagain),
		cmocka_unit_test(a_blocked_put_is_woken_by_a_get_in_another_process),
		cmocka_unit_test(a_blocked_get_is_woken_by_a_put_in_another_process),
		cmocka_unit_test(close_wakes_blocked_gets_and_puts_in_other_processes),
		cmocka_unit_test(a_closed_queue_refuses_puts_and_drains_then_epipe),
		cmocka_unit_test(join_waits_until_every_message_is_done),
		cmocka_unit_test(many_producers_and_consumers_lose_and_duplicate_nothing),
		cmocka_unit_test(a_put_killed_holding_the_lock_leaves_no_half_message),
		cmocka_unit_test(a_get_killed_holding_the_lock_leaves_the_message),
		cmocka_unit_test(a_woken_consumer_that_stalls_strands_nothing),
		cmocka_unit_test(a_scribbled_frame_is_ebadmsg),
		cmocka_unit_test(free_leaves_no_descriptor_mapping_or_shm_name),
		cmocka_unit_test(the_descriptor_follows_puts_gets_and_close_across_processes),
		cmocka_unit_test(a_poller_never_sleeps_past_a_message),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
