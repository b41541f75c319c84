/* test_ipcq_crash.c: producer and consumer processes exchange
 * self-checking messages through one mt_ipc_queue while the test SIGKILLs
 * them at random instants and starts them again; then it drains the queue
 * and proves that no message was torn, none was received twice, and every
 * message whose put returned 0 was received exactly once. Bounded: a few
 * seconds of kills.
 *
 * The accounting, in shared memory:
 *  - a producer claims a sequence number, puts the message, and marks it
 *    put_ok once the put returned 0. Killed in between, it may have put a
 *    message it never marked: that one may be received, need not be.
 *  - a consumer stores IN_GET in its slot, gets straight into the slot's
 *    scratch buffer, stores GOT with the message's index, records itself
 *    as the message's owner (a duplicate if it already had one), and
 *    stores IDLE. The state and the owner are single stores, so after a
 *    kill the test knows how far it got:
 *      IDLE    nothing pending;
 *      GOT     the get committed: if the owner is still unset, the kill
 *              came before the record, which the test makes for it;
 *      IN_GET  the get may or may not have committed. If the scratch holds
 *              a whole message, the test keeps it as an orphan: at the
 *              end, an orphan that no consumer owns was committed by the
 *              dead get (a message not taken stays in the queue and is
 *              received by somebody else), so the dead consumer owns it.
 * Then every put_ok message must have exactly one owner. */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/mman.h>

#include "ipcq.h" /* the recovery count, from src/ */
#include "ipcq_message.h"
#include "mtask/mtask.h"
#include "testutil.h"

#define PRODUCERS 3
#define CONSUMERS 3
#define SEQ_MAX (1u << 20) /* messages per producer at most */
#define KILL_SECONDS 3.0
#define MAX_KILLS 1500
#define MAX_ORPHANS MAX_KILLS

enum consumer_state { IDLE = 0, IN_GET = 1, GOT = 2 }; /* GOT | index << 2 */

struct producer_slot {
	_Atomic uint32_t next; /* the next sequence number to claim */
	_Atomic unsigned char put_ok[SEQ_MAX];
};

struct consumer_slot {
	_Atomic uint64_t state;
	uint16_t tag; /* this incarnation's, unique: the owner mark */
	size_t scratch_len;
	unsigned char scratch[TEST_MESSAGE_MAX];
};

struct world {
	mt_ipc_queue *q;
	_Atomic int stop;
	_Atomic long torn, duplicates, errors;
	_Atomic uint16_t owner[PRODUCERS * SEQ_MAX]; /* 0: received by nobody */
	struct producer_slot producers[PRODUCERS];
	struct consumer_slot consumers[CONSUMERS];
};

/* Set before the first fork: the same address in every child. */
static struct world *world;

static uint32_t message_index(const struct test_message *m)
{
	return m->producer * SEQ_MAX + m->seq;
}

/* True if buf holds a whole message that this test can have sent. */
static bool message_whole(const void *buf, size_t len)
{
	const struct test_message *m = buf;
	return len >= sizeof *m && m->producer < PRODUCERS && m->seq < SEQ_MAX &&
	       test_message_check(buf, len);
}

/* ---- the children ---- */

static int produce(void *arg)
{
	uint32_t me = (uint32_t)(uintptr_t)arg;
	struct producer_slot *slot = &world->producers[me];
	unsigned char buf[TEST_MESSAGE_MAX];
	while (!atomic_load(&world->stop)) {
		uint32_t seq = atomic_fetch_add(&slot->next, 1);
		if (seq >= SEQ_MAX)
			return 0;
		size_t len = test_message_make(buf, me, seq);
		int err;
		while ((err = mt_ipc_queue_put(world->q, buf, len, 0.1)) == -EAGAIN &&
		       !atomic_load(&world->stop))
			;
		if (err == 0)
			atomic_store(&slot->put_ok[seq], 1);
		else if (err != -EAGAIN) {
			atomic_fetch_add(&world->errors, 1);
			return 1;
		}
	}
	return 0;
}

static void record_owner(uint32_t index, uint16_t tag)
{
	if (atomic_exchange(&world->owner[index], tag) != 0)
		atomic_fetch_add(&world->duplicates, 1);
}

/* Takes messages until the queue is closed and drained. */
static int consume(void *arg)
{
	struct consumer_slot *slot = arg;
	for (;;) {
		atomic_store(&slot->state, IN_GET);
		int err = mt_ipc_queue_get(world->q, slot->scratch, sizeof slot->scratch,
					   &slot->scratch_len, -1);
		if (err == -EPIPE)
			break;
		if (err) {
			atomic_fetch_add(&world->errors, 1);
			break;
		}
		if (!message_whole(slot->scratch, slot->scratch_len)) {
			atomic_fetch_add(&world->torn, 1);
			continue;
		}
		uint32_t index = message_index((const void *)slot->scratch);
		atomic_store(&slot->state, GOT | (uint64_t)index << 2);
		record_owner(index, slot->tag);
		atomic_store(&slot->state, IDLE);
	}
	atomic_store(&slot->state, IDLE);
	return 0;
}

/* ---- the parent's side ---- */

struct crash_run {
	mt_process *procs[PRODUCERS + CONSUMERS]; /* producers first */
	uint16_t next_tag;
	uint32_t orphans[MAX_ORPHANS];
	int orphan_count;
	int producer_kills, consumer_kills;
	uint64_t random;
};

static uint32_t next_random(struct crash_run *r)
{
	r->random ^= r->random << 13;
	r->random ^= r->random >> 7;
	r->random ^= r->random << 17;
	return (uint32_t)(r->random >> 32);
}

static void start_role(struct crash_run *r, int i)
{
	int err;
	if (i < PRODUCERS) {
		err = mt_process_start(&r->procs[i], produce, (void *)(uintptr_t)i, NULL);
	} else {
		struct consumer_slot *slot = &world->consumers[i - PRODUCERS];
		slot->tag = ++r->next_tag;
		err = mt_process_start(&r->procs[i], consume, slot, NULL);
	}
	assert_int_equal(err, 0);
}

/* After a consumer's death: finish or set aside what its state says was
 * under way (see the top of the file). */
static void settle_dead_consumer(struct crash_run *r, struct consumer_slot *slot)
{
	uint64_t state = atomic_load(&slot->state);
	if (state == IN_GET && message_whole(slot->scratch, slot->scratch_len)) {
		assert_true(r->orphan_count < MAX_ORPHANS);
		r->orphans[r->orphan_count++] = message_index((const void *)slot->scratch);
	} else if (state & GOT) {
		uint32_t index = (uint32_t)(state >> 2);
		uint16_t owner = atomic_load(&world->owner[index]);
		if (owner == 0)
			atomic_store(&world->owner[index], slot->tag);
		else if (owner != slot->tag)
			atomic_fetch_add(&world->duplicates, 1);
	}
	memset(slot->scratch, 0, sizeof slot->scratch);
	slot->scratch_len = 0;
	atomic_store(&slot->state, IDLE);
}

static void kill_and_restart(struct crash_run *r, int i)
{
	assert_int_equal(mt_process_kill(r->procs[i]), 0);
	assert_int_equal(mt_process_join(r->procs[i], 30), 0);
	int code = mt_process_exitcode(r->procs[i]);
	assert_true(code == -SIGKILL || code == 0); /* 0: a producer out of numbers */
	mt_process_free(r->procs[i]);
	if (i < PRODUCERS) {
		r->producer_kills++;
	} else {
		r->consumer_kills++;
		settle_dead_consumer(r, &world->consumers[i - PRODUCERS]);
	}
	start_role(r, i);
}

/* Joins role i at the end of the run; one that does not end names
 * itself, with where its process waits, before the test fails. */
static void join_at_the_end(struct crash_run *r, int i)
{
	pid_t pid = mt_process_pid(r->procs[i]);
	if (mt_process_join(r->procs[i], 30) != 0) {
		char path[64], wchan[64] = "?";
		snprintf(path, sizeof path, "/proc/%d/wchan", (int)pid);
		FILE *f = fopen(path, "r");
		if (f && fgets(wchan, sizeof wchan, f) == NULL)
			wchan[0] = '\0';
		if (f)
			fclose(f);
		fail_msg("%s %d (pid %d) did not end; it waits in %s",
			 i < PRODUCERS ? "producer" : "consumer", i, (int)pid, wchan);
	}
	assert_int_equal(mt_process_exitcode(r->procs[i]), 0);
	mt_process_free(r->procs[i]);
}

/* Stops the producers, closes the queue, lets the consumers drain it. */
static void wind_down(struct crash_run *r)
{
	atomic_store(&world->stop, 1);
	for (int i = 0; i < PRODUCERS + CONSUMERS; i++) {
		if (i == PRODUCERS)
			mt_ipc_queue_close(world->q);
		join_at_the_end(r, i);
	}
	size_t len;
	unsigned char buf[TEST_MESSAGE_MAX];
	assert_int_equal(mt_ipc_queue_get(world->q, buf, sizeof buf, &len, 0), -EPIPE);
}

/* Orphans nobody owns were committed by their dead consumer. */
static void settle_orphans(struct crash_run *r)
{
	for (int i = 0; i < r->orphan_count; i++) {
		uint16_t none = 0;
		atomic_compare_exchange_strong(&world->owner[r->orphans[i]], &none, UINT16_MAX);
	}
}

struct tally {
	long put_ok, received, unmarked_received, lost, phantom;
};

static struct tally count_messages(void)
{
	struct tally t = {0};
	for (uint32_t p = 0; p < PRODUCERS; p++) {
		struct producer_slot *slot = &world->producers[p];
		uint32_t claimed = atomic_load(&slot->next);
		for (uint32_t seq = 0; seq < SEQ_MAX; seq++) {
			bool put = atomic_load(&slot->put_ok[seq]);
			bool got = atomic_load(&world->owner[p * SEQ_MAX + seq]) != 0;
			t.put_ok += put;
			t.received += got;
			t.unmarked_received += got && !put;
			t.lost += put && !got;
			t.phantom += got && seq >= claimed;
		}
	}
	return t;
}

static void every_put_message_is_received_once_through_random_kills(void **state)
{
	world = mmap(NULL, sizeof *world, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		     -1, 0);
	assert_true(world != MAP_FAILED);
	assert_int_equal(mt_ipc_queue_new(&world->q, 32, TEST_MESSAGE_MAX), 0);
	static struct crash_run r;
	r.random = (uint64_t)getpid() * 0x9e3779b97f4a7c15u | 1;
	for (int i = 0; i < PRODUCERS + CONSUMERS; i++)
		start_role(&r, i);

	double end = now_seconds() + KILL_SECONDS;
	while (now_seconds() < end && r.producer_kills + r.consumer_kills < MAX_KILLS) {
		usleep(100 + next_random(&r) % 2000);
		kill_and_restart(&r, (int)(next_random(&r) % (PRODUCERS + CONSUMERS)));
	}
	wind_down(&r);
	settle_orphans(&r);
	struct tally t = count_messages();
	printf("ipcq crash: %d producer and %d consumer kills, %u lock recoveries, "
	       "%ld messages put, %ld received (%ld put unconfirmed), %d orphans\n",
	       r.producer_kills, r.consumer_kills, mt__ipcq_recoveries(world->q), t.put_ok,
	       t.received, t.unmarked_received, r.orphan_count);
	assert_int_equal(world->errors, 0);
	assert_int_equal(world->torn, 0);
	assert_int_equal(world->duplicates, 0);
	assert_int_equal(t.lost, 0);
	assert_int_equal(t.phantom, 0);
	assert_true(t.received > 0);
	mt_ipc_queue_free(world->q);
	munmap(world, sizeof *world);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_put_message_is_received_once_through_random_kills),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
