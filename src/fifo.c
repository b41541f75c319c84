/* fifo.c: a bounded FIFO of pointers without a lock, for mt_queue.
 *
 * The ring is Dmitry Vyukov's bounded MPMC queue: each cell carries a
 * sequence number saying whose turn it is. Cell i is free for the put of
 * position p when its number is p, holds p's item when it is p + 1, and is
 * free again for position p + capacity once a get stores that. A put
 * claims a position by a compare-and-swap on tail, a get on head; the two
 * sides never write the same word, and an item crosses between CPUs in
 * its cell alone. The cell's number is stored last, with release order,
 * so a reader that sees it sees the item.
 *
 * Closing sets the top bit of tail in the same word the puts claim, so a
 * put either lands before the close or fails: a consumer that saw the
 * queue closed and drained cannot be handed one more item later.
 *
 * Sleeping: after a short spin and a few yields, a waiter marks its futex
 * word, tries once more and sleeps on the word. A put or get that
 * succeeds looks at the other side's word; if it is marked, it clears the
 * mark and wakes every sleeper. Either the waker sees the mark, or the
 * waiter's last try sees the waker's cell: a wake-up cannot be lost, and
 * when nobody sleeps, which is the common case, nobody makes a system
 * call. Waking all rather than one keeps the word a single bit of state:
 * a sleeper that times out owes nobody anything.
 *
 * "Either sees the other" needs a store-load fence on both sides. On the
 * waker's side it would be paid by every put and get, and it is their
 * biggest cost: the fence waits until the cell's store reached the line
 * the other CPU holds (one producer and one consumer pinned: 41 ns an
 * item with it, 19-20 ns without). So the sleeper pays for both
 * (membarrier(2), private expedited: every running thread of the process
 * passes a full barrier before it returns) and the waker needs only a
 * compiler barrier: if the waker's look at the word came before the
 * barrier it forced on the waker's CPU, the waker's cell store, earlier,
 * is visible by then, and the sleeper's last try sees it; if after, the
 * mark is visible to the look. Where membarrier is missing, both sides
 * fence. A forked child registers again; if it cannot, its sleepers nap
 * a millisecond at a time instead of trusting a wake-up.
 *
 * task_done and join: the number of puts is tail's position (every claimed
 * position is filled), and task_done counts up `done` beside it, so
 * unfinished = puts - done without a shared counter written by both
 * sides. */
#include <errno.h>
#include <limits.h>
#include <linux/membarrier.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fifo.h"

#define CACHE_LINE 64
#define CLOSED (UINT64_C(1) << 63)
/* A waiter tries again SPINS times, a pause apart (~20 ns each here),
 * then YIELDS times, giving its CPU away in between, before it sleeps: with
 * more threads than CPUs, the thread it waits for may be waiting for this
 * CPU, and a yield hands it over for a fraction of a sleep and wake-up's
 * cost (four threads on two CPUs: 2.5 sleeps per 1000 items without the
 * yields, 0.02 with them). */
#define SPINS 128
#define YIELDS 8
/* A put that finds the ring full, or a get that finds it empty, first lets
 * the other side get GATHER_FIRST cells ahead, then twice as many, and so
 * on up to half the queue (GATHER_MOST at most), for as long as the other
 * side keeps pace: a cell per GATHER_PAUSES_PER_CELL pauses (~75 ns here).
 * Taking each item (or freed cell) the moment it appears moves a cache
 * line between the CPUs per item, where a batch moves one per four cells,
 * and a large one lets each side work in lines the other left long ago.
 * A side that keeps no pace costs the first batch's wait (~1.2 us); one
 * that stops costs the batch it was in. One producer and one consumer
 * pinned to two CPUs: ~50 ns an item without batches, ~35 ns with batches
 * of 16, 13-16 ns growing them. A first batch that never came means the
 * other side is not running (often: it waits for this CPU), so the waiter
 * skips its spin and yields at once (four threads on one CPU: 29 ns an
 * item, 34 ns spinning first). */
#define GATHER_FIRST 16
#define GATHER_MOST 512
#define GATHER_PAUSES_PER_CELL 4
#define GATHER_PACE 4
/* A put or get that loses its compare-and-swap to another of its side
 * pauses 1, 2, 4, ... BACKOFF_MOST pauses before it tries again, so that
 * the winner's CPU keeps the line for a run of positions. Without it, two
 * producers (or consumers) running at once on two CPUs took turns per
 * item, and the line crossing each time made those stretches ~450 ns an
 * item; such stretches decided the median of the 2 -> 2 benchmark. */
#define BACKOFF_MOST 256

#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause()
#else
#define cpu_relax() atomic_signal_fence(memory_order_seq_cst)
#endif

struct cell {
	_Atomic uint64_t seq;
	void *item;
};

/* Threads waiting for one thing (an item, room, all tasks done) sleep on
 * one futex word: bit 0 says somebody sleeps or is about to, the rest
 * counts wake-ups. A waker clears the bit as it wakes them all, so while
 * they wake up, later puts and gets make no system call. */
#define SLEEPING 1u
#define WAKE_STEP 2u

struct sleepers {
	_Alignas(CACHE_LINE) _Atomic uint32_t word;
};

struct mt__fifo {
	struct cell *cells;
	uint64_t mask;	  /* capacity - 1; capacity a power of two, >= 2 */
	uint64_t maxsize; /* <= capacity */
	bool spin;	  /* more than one CPU: a spin can see the other side act */
	/* The put side's line. */
	_Alignas(CACHE_LINE) _Atomic uint64_t tail; /* next position to fill | CLOSED */
	_Atomic uint64_t seen_head;		    /* head, as a put saw it last */
	/* The get side's line. */
	_Alignas(CACHE_LINE) _Atomic uint64_t head; /* next position to take */
	_Alignas(CACHE_LINE) _Atomic uint64_t done; /* task_done calls */
	struct sleepers getters, putters, joiners;
};

/* ---- the store-load fence, paid by sleepers ---- */

enum { BARRIER_UNKNOWN, BARRIER_ASYMMETRIC, BARRIER_FENCES };
/* Chosen before the process's first FIFO exists, never changed after. */
static _Atomic int barrier_mode;

static int membarrier(int cmd)
{
	return (int)syscall(SYS_membarrier, cmd, 0, 0);
}

static void choose_barrier_mode(void)
{
	if (atomic_load_explicit(&barrier_mode, memory_order_acquire) != BARRIER_UNKNOWN)
		return;
	int mode = membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0 ? BARRIER_ASYMMETRIC
									       : BARRIER_FENCES;
	int unknown = BARRIER_UNKNOWN;
	atomic_compare_exchange_strong(&barrier_mode, &unknown, mode);
}

static bool asymmetric(void)
{
	return atomic_load_explicit(&barrier_mode, memory_order_relaxed) == BARRIER_ASYMMETRIC;
}

static inline void full_fence(void)
{
#ifdef __SANITIZE_THREAD__
	/* GCC refuses atomic_thread_fence under TSan; on x86, where the
	 * TSan build runs, a locked read-modify-write of a word nobody else
	 * touches is a full fence as well. */
	static _Thread_local _Atomic unsigned private_word;
	atomic_fetch_add_explicit(&private_word, 0, memory_order_seq_cst);
#else
	atomic_thread_fence(memory_order_seq_cst);
#endif
}

/* A waker's side: between its cell store and its look at a word. */
static inline void waker_fence(void)
{
	if (asymmetric())
		atomic_signal_fence(memory_order_seq_cst);
	else
		full_fence();
}

/* A sleeper's side, after marking its word: false if the wakers' side
 * could not be fenced (a forked child that cannot register again). */
static bool sleeper_fence(void)
{
	if (!asymmetric() || membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0)
		return true;
	return errno == EPERM && membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0 &&
	       membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0;
}

typedef int (*attempt_fn)(struct mt__fifo *f, void **slot);

static uint64_t position(uint64_t tail)
{
	return tail & ~CLOSED;
}

static uint64_t puts_so_far(struct mt__fifo *f)
{
	return position(atomic_load_explicit(&f->tail, memory_order_acquire));
}

/* aligned_alloc wants a size that is a multiple of the alignment. */
static void *alloc_lines(size_t size)
{
	return aligned_alloc(CACHE_LINE, (size + CACHE_LINE - 1) & ~(size_t)(CACHE_LINE - 1));
}

int mt__fifo_new(struct mt__fifo **fp, size_t maxsize)
{
	uint64_t capacity = 2;
	while (capacity < maxsize)
		capacity *= 2;
	choose_barrier_mode();
	struct mt__fifo *f = alloc_lines(sizeof *f);
	struct cell *cells = alloc_lines(capacity * sizeof *cells);
	if (!f || !cells) {
		free(f);
		free(cells);
		return -ENOMEM;
	}
	*f = (struct mt__fifo){.cells = cells, .mask = capacity - 1, .maxsize = maxsize,
			       .spin = sysconf(_SC_NPROCESSORS_ONLN) > 1};
	for (uint64_t i = 0; i < capacity; i++) {
		atomic_init(&cells[i].seq, i);
		cells[i].item = NULL;
	}
	*fp = f;
	return 0;
}

void mt__fifo_free(struct mt__fifo *f)
{
	if (f)
		free(f->cells);
	free(f);
}

/* ---- waking and sleeping ---- */

static void wake(struct sleepers *s)
{
	/* Orders the caller's cell store before the word's load; a sleeper
	 * orders its setting of SLEEPING before its last try. */
	waker_fence();
	uint32_t word = atomic_load_explicit(&s->word, memory_order_relaxed);
	while (word & SLEEPING) {
		uint32_t next = (word & ~SLEEPING) + WAKE_STEP;
		if (atomic_compare_exchange_weak_explicit(&s->word, &word, next,
							  memory_order_release,
							  memory_order_relaxed)) {
			mt__futex_wake(&s->word, INT_MAX, false);
			return;
		}
	}
}

/* Marks s as slept on; returns the word to sleep on. */
static uint32_t announce_sleep(struct sleepers *s)
{
	return atomic_fetch_or_explicit(&s->word, SLEEPING, memory_order_seq_cst) | SLEEPING;
}

static bool deadline_ahead(const mt__deadline *deadline)
{
	struct timespec left;
	return mt__deadline_left(deadline, &left);
}

/* Sleeps on s for a millisecond at most, or until the deadline. */
static void nap(struct sleepers *s, uint32_t word, const mt__deadline *deadline)
{
	mt__deadline soon;
	struct timespec left;
	mt__deadline_init(&soon, 0.001);
	bool later = deadline->forever || (mt__deadline_left(deadline, &left) &&
					   (left.tv_sec > 0 || left.tv_nsec > 1000000));
	mt__futex_wait(&s->word, word, later ? &soon : deadline, false);
}

/* Repeats attempt until it no longer says -EAGAIN or the deadline passes:
 * spins times a pause apart, yields times giving the CPU away, then sleeps
 * on s. Returns attempt's answer (-EAGAIN once the deadline passed). */
static int wait_for(struct mt__fifo *f, struct sleepers *s, attempt_fn attempt, void **slot,
		    const mt__deadline *deadline, int spins, int yields)
{
	int err;
	for (int i = 0; f->spin && i < spins; i++) {
		cpu_relax();
		if ((err = attempt(f, slot)) != -EAGAIN)
			return err;
	}
	for (int i = 0; i < yields; i++) {
		sched_yield();
		if ((err = attempt(f, slot)) != -EAGAIN)
			return err;
	}
	for (;;) {
		uint32_t word = announce_sleep(s);
		bool fenced = sleeper_fence();
		if ((err = attempt(f, slot)) != -EAGAIN)
			return err;
		if (!fenced) {
			nap(s, word, deadline);
			if (!deadline_ahead(deadline))
				return attempt(f, slot);
		} else if (mt__futex_wait(&s->word, word, deadline, false) == -ETIMEDOUT) {
			return attempt(f, slot);
		}
	}
}

/* ---- put and get ---- */

/* Whether position pos would hold more than maxsize items. Only a bound
 * below the capacity needs head; a put reads it again only when the copy
 * it has says full, so the get side's line stays where it is. */
static bool beyond_maxsize(struct mt__fifo *f, uint64_t pos)
{
	if (f->maxsize == f->mask + 1)
		return false; /* the cells say it */
	uint64_t head = atomic_load_explicit(&f->seen_head, memory_order_relaxed);
	if (pos - head < f->maxsize)
		return false;
	head = atomic_load_explicit(&f->head, memory_order_acquire);
	atomic_store_explicit(&f->seen_head, head, memory_order_relaxed);
	return pos - head >= f->maxsize;
}

/* One step of a contended claim's back-off: *pauses pauses, doubled for
 * the next step up to BACKOFF_MOST. */
static void back_off(unsigned *pauses)
{
	for (unsigned i = 0; i < *pauses; i++)
		cpu_relax();
	if (*pauses < BACKOFF_MOST)
		*pauses *= 2;
}

static int try_put(struct mt__fifo *f, void **slot)
{
	uint64_t tail = atomic_load_explicit(&f->tail, memory_order_relaxed);
	unsigned pauses = 1;
	for (;;) {
		if (tail & CLOSED)
			return -EPIPE;
		struct cell *c = &f->cells[tail & f->mask];
		int64_t lag = (int64_t)(atomic_load_explicit(&c->seq, memory_order_acquire) - tail);
		if (lag < 0 || beyond_maxsize(f, tail))
			return -EAGAIN; /* the get of the previous lap has not freed it */
		if (lag > 0) {
			back_off(&pauses);
			tail = atomic_load_explicit(&f->tail, memory_order_relaxed);
			continue; /* another put took this position */
		}
		if (atomic_compare_exchange_weak_explicit(&f->tail, &tail, tail + 1,
							  memory_order_relaxed,
							  memory_order_relaxed)) {
			c->item = *slot;
			atomic_store_explicit(&c->seq, tail + 1, memory_order_release);
			return 0;
		}
		back_off(&pauses);
	}
}

static int try_get(struct mt__fifo *f, void **slot)
{
	uint64_t head = atomic_load_explicit(&f->head, memory_order_relaxed);
	unsigned pauses = 1;
	for (;;) {
		struct cell *c = &f->cells[head & f->mask];
		int64_t lag =
			(int64_t)(atomic_load_explicit(&c->seq, memory_order_acquire) - (head + 1));
		if (lag > 0) {
			back_off(&pauses);
			head = atomic_load_explicit(&f->head, memory_order_relaxed);
		} else if (lag < 0) {
			/* Empty, or a put between its claim and its store,
			 * whose store will wake us. */
			uint64_t tail = atomic_load_explicit(&f->tail, memory_order_acquire);
			return (tail & CLOSED) && position(tail) == head ? -EPIPE : -EAGAIN;
		} else if (atomic_compare_exchange_weak_explicit(&f->head, &head, head + 1,
								 memory_order_relaxed,
								 memory_order_relaxed)) {
			*slot = c->item;
			atomic_store_explicit(&c->seq, head + f->mask + 1, memory_order_release);
			return 0;
		} else {
			back_off(&pauses);
		}
	}
}

/* Whether count more items (get) or free cells (put) lie ahead of pos. */
static bool gathered(struct mt__fifo *f, bool put, uint64_t pos, uint64_t count)
{
	uint64_t last = pos + count - 1;
	uint64_t seq = atomic_load_explicit(&f->cells[last & f->mask].seq, memory_order_relaxed);
	return put ? seq == last && !beyond_maxsize(f, last) : seq == last + 1;
}

/* Pauses while the other side works until it is count cells ahead of pos,
 * a position of this side's word. False if the other side fell behind a
 * cell per GATHER_PAUSES_PER_CELL pauses, or if this side's word moved
 * (another thread of this side is active). */
static bool wait_gathered(struct mt__fifo *f, bool put, _Atomic uint64_t *side, uint64_t pos,
			  uint64_t count, uint64_t more)
{
	for (uint64_t i = 0; i < more * GATHER_PAUSES_PER_CELL; i += GATHER_PACE) {
		for (int j = 0; j < GATHER_PACE; j++)
			cpu_relax();
		if (atomic_load_explicit(side, memory_order_relaxed) != pos)
			return false;
		if (gathered(f, put, position(pos), count))
			return true;
	}
	return false;
}

/* Lets the other side get ahead of this side's word in growing batches,
 * as long as it keeps pace, up to half the queue. False if not even the
 * first batch came: the other side is most likely not running. */
static bool gather(struct mt__fifo *f, bool put, _Atomic uint64_t *side)
{
	uint64_t pos = atomic_load_explicit(side, memory_order_relaxed);
	uint64_t most = f->maxsize / 2 < GATHER_MOST ? f->maxsize / 2 : GATHER_MOST;
	uint64_t count = most < GATHER_FIRST ? most : GATHER_FIRST, before = 0;
	if (!f->spin || count <= 1)
		return true;
	while (wait_gathered(f, put, side, pos, count, count - before)) {
		if (count == most)
			return true;
		before = count;
		count = 2 * count < most ? 2 * count : most;
	}
	return before > 0;
}

/* The slow path of a put that found the ring full, or a get that found it
 * empty: gather, spin if the other side is at work, then wait_for. The
 * deadline is made here, so that a put or get that succeeds at once never
 * reads the clock; timeout is the caller's, and not NaN. */
static int wait_turn(struct mt__fifo *f, bool put, attempt_fn attempt, void **slot,
		     double timeout)
{
	mt__deadline deadline;
	mt__deadline_init(&deadline, timeout);
	int spins = gather(f, put, put ? &f->tail : &f->head) ? SPINS : 0;
	return wait_for(f, put ? &f->putters : &f->getters, attempt, slot, &deadline, spins,
			YIELDS);
}

int mt__fifo_put(struct mt__fifo *f, void *item, double timeout)
{
	int err = try_put(f, &item);
	if (err == -EAGAIN && timeout != 0)
		err = wait_turn(f, true, try_put, &item, timeout);
	if (err == 0)
		wake(&f->getters);
	return err;
}

int mt__fifo_get(struct mt__fifo *f, void **item, double timeout)
{
	int err = try_get(f, item);
	if (err == -EAGAIN && timeout != 0)
		err = wait_turn(f, false, try_get, item, timeout);
	if (err == 0)
		wake(&f->putters);
	return err;
}

/* ---- sizes, tasks, close ---- */

size_t mt__fifo_count(struct mt__fifo *f)
{
	/* head first: tail only grows, so the difference is never negative. */
	uint64_t head = atomic_load_explicit(&f->head, memory_order_acquire);
	return (size_t)(puts_so_far(f) - head);
}

size_t mt__fifo_unfinished(struct mt__fifo *f)
{
	uint64_t done = atomic_load_explicit(&f->done, memory_order_acquire);
	return (size_t)(puts_so_far(f) - done);
}

int mt__fifo_task_done(struct mt__fifo *f)
{
	uint64_t done = atomic_load_explicit(&f->done, memory_order_relaxed);
	do {
		if (done >= puts_so_far(f))
			return -EINVAL;
	} while (!atomic_compare_exchange_weak_explicit(&f->done, &done, done + 1,
							memory_order_seq_cst,
							memory_order_relaxed));
	if (done + 1 == puts_so_far(f))
		wake(&f->joiners);
	return 0;
}

static int all_done(struct mt__fifo *f, void **unused)
{
	(void)unused;
	return mt__fifo_unfinished(f) == 0 ? 0 : -EAGAIN;
}

int mt__fifo_join(struct mt__fifo *f, const mt__deadline *deadline)
{
	int err = wait_for(f, &f->joiners, all_done, NULL, deadline, 0, 0);
	return err == -EAGAIN ? -ETIMEDOUT : err;
}

void mt__fifo_close(struct mt__fifo *f)
{
	atomic_fetch_or_explicit(&f->tail, CLOSED, memory_order_seq_cst);
	wake(&f->getters);
	wake(&f->putters);
}

bool mt__fifo_closed(struct mt__fifo *f)
{
	return atomic_load_explicit(&f->tail, memory_order_relaxed) & CLOSED;
}
