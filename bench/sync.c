/* sync.c: `mtask bench sync`: what mtask's Lock, Condition and Event cost
 * beside pthreads, raw futexes and Python's threading.
 *
 * - An uncontended Lock acquire + release, against a PTHREAD_MUTEX_NORMAL
 *   mutex (the floor) and threading.Lock, twice: in a process with a
 *   second, idle thread, as in any program that needs a lock, and in a
 *   single-threaded process, where glibc (2.34 on) takes a private mutex
 *   with a plain store instead of an atomic instruction. A pair takes a few
 *   nanoseconds, less than reading the clock, so each sample times
 *   PAIRS_PER_SAMPLE pairs and is then scaled to 1000 pairs: the table's
 *   microseconds per 1000 are nanoseconds per pair.
 * - Two threads on two CPUs incrementing one counter under one lock, a
 *   fixed number of increments per sample: the lock's throughput when
 *   every acquire may find it held. The second thread lives for the whole
 *   batch and a spinning start gate releases it, so no thread start is
 *   timed. Scaled the same way: microseconds per 1000 increments.
 * - A round trip between two threads that take turns: the main thread
 *   hands the turn to a partner thread and waits for it back. The floor is
 *   two futex words and nothing else (FUTEX_WAKE, FUTEX_WAIT); beside it a
 *   lock + condition + turn variable with pthreads, mtask and Python, and
 *   two events bounced set/wait/clear with mtask and Python. A wait
 *   mostly finds the other side asleep, so a round trip is two wake-ups.
 *
 * Where the scheduler puts the two threads decides a wake-up's cost more
 * than any library does: on this two-vCPU machine a wake-up on the same
 * CPU is a context switch (~2.5 us), one across CPUs takes ~10 us (most
 * likely bringing a halted vCPU back), and an unpinned pair flips between
 * the two from one run to the next. So the threads that work together are
 * pinned: on two CPUs (the "wake latency" DESIGN.md's ~17 us measures),
 * and for the ping-pong also both on one CPU, which is where the scheduler
 * puts an unpinned pair most of the time here. The idle second thread of
 * the uncontended rows runs where it likes.
 *
 * The harness runs each batch in a fresh child, so a partner thread
 * started by a batch's setup, and the pinning, die with the batch. */
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bench.h"
#include "mtask/sync.h"

/* Rounds by default; each runs one batch of every implementation. */
#define SYNC_ROUNDS 10

/* Operations timed together per sample, and the unit samples are scaled
 * to: a sample is reported per 1000 operations. */
#define PAIRS_PER_SAMPLE 10000 /* bench/peers/sync.py's "lock" kind too */
#define INCREMENTS_PER_SAMPLE 100000
#define REPORTED_PER 1000

/* Keeps the gate words, the lock and the counter of the contended rows on
 * cache lines of their own, so that they disturb each other only where the
 * benchmark means them to. */
#define CACHE_LINE 64

enum sync_row {
	ROW_MUTEX,
	ROW_MT_LOCK,
	ROW_PY_LOCK,
	ROW_MUTEX_ALONE,
	ROW_MT_LOCK_ALONE,
	ROW_MUTEX_CONTENDED,
	ROW_MT_LOCK_CONTENDED,
	ROW_FUTEX_APART,
	ROW_PTHREAD_COND_APART,
	ROW_MT_COND_APART,
	ROW_PY_COND_APART,
	ROW_MT_EVENT_APART,
	ROW_PY_EVENT_APART,
	ROW_FUTEX_TOGETHER,
	ROW_MT_COND_TOGETHER,
	ROW_MT_EVENT_TOGETHER,
	ROW_COUNT
};

/* Where a partner thread runs, against the main thread of the batch. */
enum placement {
	ANY_CPU,  /* where the scheduler likes */
	APART,	  /* main thread on the first allowed CPU, partner on the second */
	TOGETHER, /* both on the first allowed CPU */
};

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/* Pins the calling (main) thread and sets where attr's thread will run. */
static int place_pair(pthread_attr_t *attr, enum placement placement)
{
	int cpu[2] = {0, 0};
	int err = bench_pick_cpus(cpu); /* with one CPU, APART shares it */
	if (err)
		return err;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu[0], &set);
	err = pthread_setaffinity_np(pthread_self(), sizeof set, &set);
	if (err)
		return -err;
	CPU_ZERO(&set);
	CPU_SET(cpu[placement == APART ? 1 : 0], &set);
	return -pthread_attr_setaffinity_np(attr, sizeof set, &set);
}

/* Starts a thread that runs loop for the rest of the batch (the batch
 * child's exit ends it), placed as asked. */
static int start_partner(void *(*loop)(void *), enum placement placement)
{
	pthread_attr_t attr;
	pthread_t thread;
	int err = -pthread_attr_init(&attr);
	if (err)
		return err;
	if (placement != ANY_CPU)
		err = place_pair(&attr, placement);
	if (!err)
		err = -pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (!err)
		err = -pthread_create(&thread, &attr, loop, NULL);
	pthread_attr_destroy(&attr);
	return err;
}

/* ---- uncontended Lock ---- */

static pthread_mutex_t normal_mutex;
static mt_lock plain_lock = MT_LOCK_INIT;

/* Makes m a PTHREAD_MUTEX_NORMAL mutex: no owner or error checks, the
 * least pthreads offers. */
static int init_normal_mutex(pthread_mutex_t *m)
{
	pthread_mutexattr_t attr;
	int err = pthread_mutexattr_init(&attr);
	if (err)
		return -err;
	err = pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_NORMAL);
	if (!err)
		err = pthread_mutex_init(m, &attr);
	pthread_mutexattr_destroy(&attr);
	return -err;
}

/* The second thread of the two-thread rows: it exists, nothing more. */
static void *idle_partner(void *unused)
{
	for (;;)
		pause();
	return NULL;
}

static int setup_mutex_alone(void)
{
	return init_normal_mutex(&normal_mutex);
}

static int setup_mutex(void)
{
	int err = init_normal_mutex(&normal_mutex);
	return err ? err : start_partner(idle_partner, ANY_CPU);
}

static int setup_mt_lock(void)
{
	return start_partner(idle_partner, ANY_CPU);
}

/* Both loops check every result the same way, so that neither pays for a
 * check the other skips. */
static int mutex_pairs(void)
{
	int failed = 0;
	for (int i = 0; i < PAIRS_PER_SAMPLE; i++) {
		failed |= pthread_mutex_lock(&normal_mutex);
		failed |= pthread_mutex_unlock(&normal_mutex);
	}
	return failed ? -EPROTO : 0;
}

static int mt_lock_pairs(void)
{
	int failed = 0;
	for (int i = 0; i < PAIRS_PER_SAMPLE; i++) {
		failed |= mt_lock_acquire(&plain_lock, -1);
		failed |= mt_lock_release(&plain_lock);
	}
	return failed ? -EPROTO : 0;
}

/* ---- two threads contending for a Lock ---- */

/* The main thread bumps `start` to begin a run; the partner does its half
 * of the increments and stores the run's number in `finished`. Both spin:
 * a futex here would time a wake-up, not the lock. */
static struct {
	_Alignas(CACHE_LINE) _Atomic unsigned start;
	_Alignas(CACHE_LINE) _Atomic unsigned finished;
	_Alignas(CACHE_LINE) pthread_mutex_t mutex;
	_Alignas(CACHE_LINE) mt_lock lock;
	_Alignas(CACHE_LINE) long counter; /* under the lock being measured */
	int (*increment)(long n);	   /* n increments under that lock */
} race = {.lock = MT_LOCK_INIT};

static int increment_under_mutex(long n)
{
	int failed = 0;
	for (long i = 0; i < n; i++) {
		failed |= pthread_mutex_lock(&race.mutex);
		race.counter++;
		failed |= pthread_mutex_unlock(&race.mutex);
	}
	return failed;
}

static int increment_under_mt_lock(long n)
{
	int failed = 0;
	for (long i = 0; i < n; i++) {
		failed |= mt_lock_acquire(&race.lock, -1);
		race.counter++;
		failed |= mt_lock_release(&race.lock);
	}
	return failed;
}

static void *race_partner(void *unused)
{
	for (unsigned run = 1;; run++) {
		while (atomic_load_explicit(&race.start, memory_order_acquire) != run)
			cpu_relax();
		/* A failure shows as a wrong count in race_run. */
		race.increment(INCREMENTS_PER_SAMPLE / 2);
		atomic_store_explicit(&race.finished, run, memory_order_release);
	}
	return NULL;
}

static int setup_race_mutex(void)
{
	int err = init_normal_mutex(&race.mutex);
	race.increment = increment_under_mutex;
	return err ? err : start_partner(race_partner, APART);
}

static int setup_race_mt_lock(void)
{
	race.increment = increment_under_mt_lock;
	return start_partner(race_partner, APART);
}

/* One run: both threads do half of the increments. The count proves the
 * lock excluded: a lost update would show here. */
static int race_run(void)
{
	long expected = race.counter + INCREMENTS_PER_SAMPLE;
	unsigned run = atomic_fetch_add_explicit(&race.start, 1, memory_order_release) + 1;
	int failed = race.increment(INCREMENTS_PER_SAMPLE / 2);
	while (atomic_load_explicit(&race.finished, memory_order_acquire) != run)
		cpu_relax();
	return failed || race.counter != expected ? -EPROTO : 0;
}

/* ---- ping-pong: the raw futex floor ---- */

/* ping: the partner's turn; pong: the main thread's. 1 means "your turn". */
static _Atomic uint32_t ping, pong;

static long futex(_Atomic uint32_t *word, int op, uint32_t val)
{
	return syscall(SYS_futex, word, op | FUTEX_PRIVATE_FLAG, val, NULL, NULL, 0);
}

/* Waits for *word to become 1, then takes it back to 0. */
static void futex_take_turn(_Atomic uint32_t *word)
{
	while (atomic_load_explicit(word, memory_order_acquire) == 0)
		futex(word, FUTEX_WAIT, 0);
	atomic_store_explicit(word, 0, memory_order_relaxed);
}

/* Gives the turn; wakes unconditionally, the plainest protocol there is. */
static void futex_give_turn(_Atomic uint32_t *word)
{
	atomic_store_explicit(word, 1, memory_order_release);
	futex(word, FUTEX_WAKE, 1);
}

static void *futex_partner(void *unused)
{
	for (;;) {
		futex_take_turn(&ping);
		futex_give_turn(&pong);
	}
	return NULL;
}

static int futex_round_trip(void)
{
	futex_give_turn(&ping);
	futex_take_turn(&pong);
	return 0;
}

/* ---- ping-pong: lock + condition + turn ---- */

/* turn: 1 the partner's, 0 the main thread's. Each thread holds the lock
 * except while it waits, and one condition serves both directions, as two
 * threads taking turns would write it. */
static struct {
	pthread_mutex_t mutex;
	pthread_cond_t cond;
	int turn;
} pcv = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};

static void *pthread_cond_partner(void *unused)
{
	pthread_mutex_lock(&pcv.mutex);
	for (;;) {
		while (pcv.turn != 1)
			pthread_cond_wait(&pcv.cond, &pcv.mutex);
		pcv.turn = 0;
		pthread_cond_signal(&pcv.cond);
	}
	return NULL;
}

static int pthread_cond_round_trip(void)
{
	int err = pthread_mutex_lock(&pcv.mutex);
	pcv.turn = 1;
	err |= pthread_cond_signal(&pcv.cond);
	while (!err && pcv.turn != 0)
		err = pthread_cond_wait(&pcv.cond, &pcv.mutex);
	err |= pthread_mutex_unlock(&pcv.mutex);
	return err ? -EPROTO : 0;
}

static struct {
	mt_lock lock;
	mt_cond cond;
	int turn;
} mcv = {MT_LOCK_INIT, MT_COND_INIT, 0};

static void *mt_cond_partner(void *unused)
{
	mt_lock_acquire(&mcv.lock, -1);
	for (;;) {
		while (mcv.turn != 1)
			mt_cond_wait(&mcv.cond, &mcv.lock, -1);
		mcv.turn = 0;
		mt_cond_notify(&mcv.cond, 1);
	}
	return NULL;
}

static int mt_cond_round_trip(void)
{
	int err = mt_lock_acquire(&mcv.lock, -1);
	mcv.turn = 1;
	mt_cond_notify(&mcv.cond, 1);
	while (!err && mcv.turn != 0)
		err = mt_cond_wait(&mcv.cond, &mcv.lock, -1);
	if (!err)
		err = mt_lock_release(&mcv.lock);
	return err;
}

/* ---- ping-pong: two events ---- */

/* to_partner is set to hand the partner its turn, to_main to hand it back;
 * each side clears the event it waited for before it answers, so no set
 * is lost and none is seen twice. */
static mt_event to_partner = MT_EVENT_INIT, to_main = MT_EVENT_INIT;

static void *mt_event_partner(void *unused)
{
	for (;;) {
		mt_event_wait(&to_partner, -1);
		mt_event_clear(&to_partner);
		mt_event_set(&to_main);
	}
	return NULL;
}

static int mt_event_round_trip(void)
{
	mt_event_set(&to_partner);
	int err = mt_event_wait(&to_main, -1);
	mt_event_clear(&to_main);
	return err;
}

/* ---- setups of the ping-pong rows: which partner, placed where ---- */

static int setup_futex_apart(void)
{
	return start_partner(futex_partner, APART);
}

static int setup_futex_together(void)
{
	return start_partner(futex_partner, TOGETHER);
}

static int setup_pthread_cond_apart(void)
{
	return start_partner(pthread_cond_partner, APART);
}

static int setup_mt_cond_apart(void)
{
	return start_partner(mt_cond_partner, APART);
}

static int setup_mt_cond_together(void)
{
	return start_partner(mt_cond_partner, TOGETHER);
}

static int setup_mt_event_apart(void)
{
	return start_partner(mt_event_partner, APART);
}

static int setup_mt_event_together(void)
{
	return start_partner(mt_event_partner, TOGETHER);
}

/* ---- the table ---- */

#define UNCONTENDED "uncontended acquire+release, 2 threads, per 1000"
#define ALONE "uncontended acquire+release, 1 thread, per 1000"
#define CONTENDED "2 threads on 2 CPUs increment under it, per 1000"
#define APART_OP "ping-pong round trip, threads on 2 CPUs"
#define TOGETHER_OP "ping-pong round trip, threads on 1 CPU"

#define FLOOR_MUTEX "pthread_mutex NORMAL (floor)"
#define FLOOR_FUTEX "raw futex wait/wake (floor)"
#define PTHREAD_COND "pthread_cond + pthread_mutex"
#define MT_COND "mt_cond + mt_lock"
#define MT_EVENT "2 mt_events set/wait/clear"

/* A C row of the ping-pong: ~5 us (one CPU) to ~22 us (two) a round trip. */
#define PING_PONG_ROW(op_name, impl, setup_fn, op_fn, is_floor)                                    \
	{                                                                                          \
		.operation = (op_name), .implementation = (impl), .reference = (is_floor),         \
		.setup = (setup_fn), .op = (op_fn), .batch = 4000, .quick_batch = 200              \
	}

/* A Python row (sync.py KIND), whose batches also start an interpreter. */
#define PYTHON_ROW(op_name, impl, kind, batch_size, quick)                                         \
	{                                                                                          \
		.operation = (op_name), .implementation = (impl), .peer_script = "sync.py",        \
		.peer_kind = (kind), .batch = (batch_size), .quick_batch = (quick)                 \
	}

/* Batches are sized so that one takes 50-200 ms here: a sample of the
 * uncontended rows ~40-150 us, of the contended ones ~3-8 ms, a Python
 * Lock sample ~0.8 ms, a Python round trip ~25-40 us. In enum sync_row's
 * order. */
static const struct bench_impl sync_impls[ROW_COUNT] = {
	[ROW_MUTEX] = {.operation = UNCONTENDED,
		       .implementation = FLOOR_MUTEX,
		       .reference = true,
		       .setup = setup_mutex,
		       .op = mutex_pairs,
		       .batch = 600,
		       .quick_batch = 30},
	[ROW_MT_LOCK] = {.operation = UNCONTENDED,
			 .implementation = "mt_lock",
			 .setup = setup_mt_lock,
			 .op = mt_lock_pairs,
			 .batch = 600,
			 .quick_batch = 30},
	[ROW_PY_LOCK] = PYTHON_ROW(UNCONTENDED, "Python threading.Lock", "lock", 60, 5),
	[ROW_MUTEX_ALONE] = {.operation = ALONE,
			     .implementation = FLOOR_MUTEX,
			     .reference = true,
			     .setup = setup_mutex_alone,
			     .op = mutex_pairs,
			     .batch = 600,
			     .quick_batch = 30},
	[ROW_MT_LOCK_ALONE] = {.operation = ALONE,
			       .implementation = "mt_lock",
			       .op = mt_lock_pairs,
			       .batch = 600,
			       .quick_batch = 30},
	[ROW_MUTEX_CONTENDED] = {.operation = CONTENDED,
				 .implementation = FLOOR_MUTEX,
				 .reference = true,
				 .setup = setup_race_mutex,
				 .op = race_run,
				 .batch = 30,
				 .quick_batch = 3},
	[ROW_MT_LOCK_CONTENDED] = {.operation = CONTENDED,
				   .implementation = "mt_lock",
				   .setup = setup_race_mt_lock,
				   .op = race_run,
				   .batch = 30,
				   .quick_batch = 3},
	[ROW_FUTEX_APART] =
		PING_PONG_ROW(APART_OP, FLOOR_FUTEX, setup_futex_apart, futex_round_trip, true),
	[ROW_PTHREAD_COND_APART] = PING_PONG_ROW(APART_OP, PTHREAD_COND, setup_pthread_cond_apart,
						 pthread_cond_round_trip, false),
	[ROW_MT_COND_APART] =
		PING_PONG_ROW(APART_OP, MT_COND, setup_mt_cond_apart, mt_cond_round_trip, false),
	[ROW_PY_COND_APART] =
		PYTHON_ROW(APART_OP, "Python threading.Condition", "condition", 2000, 100),
	[ROW_MT_EVENT_APART] =
		PING_PONG_ROW(APART_OP, MT_EVENT, setup_mt_event_apart, mt_event_round_trip, false),
	[ROW_PY_EVENT_APART] =
		PYTHON_ROW(APART_OP, "Python 2 threading.Events", "event", 2000, 100),
	[ROW_FUTEX_TOGETHER] = PING_PONG_ROW(TOGETHER_OP, FLOOR_FUTEX, setup_futex_together,
					     futex_round_trip, true),
	[ROW_MT_COND_TOGETHER] = PING_PONG_ROW(TOGETHER_OP, MT_COND, setup_mt_cond_together,
					       mt_cond_round_trip, false),
	[ROW_MT_EVENT_TOGETHER] = PING_PONG_ROW(TOGETHER_OP, MT_EVENT, setup_mt_event_together,
						mt_event_round_trip, false),
};

/* Turns the samples of rows first..last, each the time of `per_sample`
 * operations, into times per REPORTED_PER operations. */
static void scale_rows(struct bench_result *result, int first, int last, long per_sample)
{
	for (int i = first; i <= last; i++)
		bench_row_scale(&result->rows[i], (uint64_t)(per_sample / REPORTED_PER));
}

/* The claims, then mtask's speedup over Python. The placements without a
 * target of their own (one thread, one CPU) show the same ratios in the
 * table's "vs floor" column. */
static void add_targets(struct bench_result *result)
{
	bench_add_target(result, "uncontended mt_lock vs pthread_mutex, 2 threads", ROW_MT_LOCK,
			 ROW_MUTEX, BENCH_AT_MOST, 1.0);
	bench_add_target(result, "uncontended mt_lock vs pthread_mutex, 1 thread",
			 ROW_MT_LOCK_ALONE, ROW_MUTEX_ALONE, BENCH_AT_MOST, 1.0);
	bench_add_target(result, "contended mt_lock vs pthread_mutex, time per increment",
			 ROW_MT_LOCK_CONTENDED, ROW_MUTEX_CONTENDED, BENCH_AT_MOST, 1.0);
	bench_add_target(result, "mt_cond ping-pong vs raw futex, 2 CPUs", ROW_MT_COND_APART,
			 ROW_FUTEX_APART, BENCH_AT_MOST, 1.1);
	bench_add_target(result, "mt_event ping-pong vs raw futex, 2 CPUs", ROW_MT_EVENT_APART,
			 ROW_FUTEX_APART, BENCH_AT_MOST, 1.1);
	bench_add_target(result, "speedup over Python: Lock / mt_lock", ROW_PY_LOCK, ROW_MT_LOCK,
			 BENCH_AT_LEAST, 1.0);
	bench_add_target(result, "speedup over Python: Condition / mt_cond", ROW_PY_COND_APART,
			 ROW_MT_COND_APART, BENCH_AT_LEAST, 1.0);
	bench_add_target(result, "speedup over Python: Event / mt_event", ROW_PY_EVENT_APART,
			 ROW_MT_EVENT_APART, BENCH_AT_LEAST, 1.0);
}

int bench_sync(const struct bench_config *config, struct bench_result *result)
{
	_Static_assert(PAIRS_PER_SAMPLE % REPORTED_PER == 0, "whole scale");
	_Static_assert(INCREMENTS_PER_SAMPLE % (2 * REPORTED_PER) == 0, "whole halves");
	int err = bench_run_rounds(config, result, sync_impls, ROW_COUNT, SYNC_ROUNDS);
	scale_rows(result, ROW_MUTEX, ROW_MT_LOCK_ALONE, PAIRS_PER_SAMPLE);
	scale_rows(result, ROW_MUTEX_CONTENDED, ROW_MT_LOCK_CONTENDED, INCREMENTS_PER_SAMPLE);
	add_targets(result);
	return err;
}
