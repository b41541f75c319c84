/* ipcq.c: the queue between processes (mt_ipc_queue, mtask/ipc.h), the C
 * counterpart of multiprocessing.Queue and JoinableQueue: a ring of byte
 * messages in shared memory beside which any process may die, at any
 * instant, without a message being lost, torn or received twice. It stays
 * one file past the usual 800 lines on purpose: its safety rests on the
 * commit points of put and get and on the repair that undoes a death
 * between them, which must be read side by side.
 *
 * Layout: one shared mapping (a memfd, or anonymous memory) made before
 * the processes that use it are forked, a cache line per part:
 *   put side   put_lock, tail, puts     written by producers only
 *   get side   get_lock, head           written by consumers only
 *   task side  task_lock, done          task_done and join
 *   flags      closed, rewinds
 *   futexes    not_empty, not_full, all_done
 *   ring       capacity bytes of frames
 *
 * A frame is a 16-byte header {length, check, seq} and the payload padded
 * to 16 bytes; frames follow each other round the ring (a header never
 * splits, a payload may). seq numbers messages from 1; check mixes length
 * and seq. tail and head are one 64-bit word each, a message number's low
 * 32 bits over its frame's offset: where the next put writes and the next
 * get reads. puts and done count puts and task_done calls. capacity is
 * maxsize frames of the longest message: a put that finds fewer than
 * maxsize messages has room, as in Python. Producers and consumers share
 * no lock, and a producer reads head only when the head it saw last says
 * the ring is full: a put and a get meet only in the frame itself.
 *
 * Commit points. A put, under put_lock, announces itself (puts + 1),
 * writes payload, length and check into free space, stamps the next
 * header slot (stamp_next_slot), then commits with one store: the
 * header's seq; only then does it advance tail. A get, under get_lock,
 * finds head's frame committed when its seq is head's number, copies the
 * payload whole into the caller's buffer, then commits with one store:
 * head past the frame. task_done commits done + 1. A consumer that empties
 * the ring far from its start moves tail and head back to offset 0
 * (rewind_if_empty), so a queue that keeps up stays in warm pages.
 *
 * Why a death anywhere is safe. Before its commit, a dead put leaves bytes
 * in free space that nobody reads; a dead get leaves head, and its message
 * for another consumer. After the commit the call is done, but for
 * bookkeeping that the next holder of the lock, told by -EOWNERDEAD,
 * repairs from what the ring shows: tail not yet past a committed frame,
 * puts one ahead for a put that never committed, a rewind half made. A
 * message is committed once and a get's commit removes the one message it
 * copied, so a put that returned 0 is received exactly once. Whoever
 * repairs wakes every sleeper, as the dead may have owed a wake-up; and a
 * waiter about to sleep takes the other side's lock for a moment if it is
 * free, so such a repair happens even if nobody else comes.
 *
 * Nothing read from shared memory is trusted: words and headers are
 * copied out and checked against this process's own geometry. A scribbled
 * queue gives -EPROTO (impossible positions) or -EBADMSG (a frame that
 * does not match), never an access out of bounds.
 *
 * Wake-ups. A futex word counts in steps of 2; bit 0 says somebody may
 * sleep on it. A waiter sets the bit (an atomic OR), looks at its
 * condition once more and sleeps on the value it saw; a waker, after its
 * commit, reads the word and only if the bit is set clears it, steps the
 * count and wakes every sleeper (commit, read, OR and second look are
 * sequentially consistent: one side sees the other). Every sleeper: a
 * woken process may die before it gets anything, and the others must not
 * sleep through its message. A bit left by a dead sleeper costs one
 * wake-up and clears itself, where a count of sleepers would stay wrong.
 * Waiters spin a little first, so a busy queue makes no system call.
 *
 * The layout of the shared memory and the pure helpers that read frames
 * are in ipcq_layout.h; commits, repairs and waits lean on each other's
 * invariants and stay here, in one view. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"
#include "ipcq.h"
#include "mtask/ipc.h"
#include "mtask/sync.h"

#include "ipcq_layout.h"

/* ---- the shared mapping ---- */

/* A memfd has a name in /proc/PID/maps (anonymous memory is the fallback);
 * its descriptor is closed at once: the mapping keeps the memory. */
static void *map_shared(size_t size)
{
	int fd = memfd_create("mtask-ipc-queue", MFD_CLOEXEC);
	void *at;
	if (fd >= 0 && ftruncate(fd, (off_t)size) == 0)
		at = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	else
		at = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (fd >= 0)
		close(fd);
	return at;
}

static int set_geometry(mt_ipc_queue *q, size_t maxsize, size_t max_message)
{
	q->maxsize = maxsize ? maxsize : DEFAULT_MAXSIZE;
	q->max_message = max_message ? max_message : DEFAULT_MAX_MESSAGE;
	if (q->maxsize > CAPACITY_LIMIT / FRAME_ALIGN || q->max_message > CAPACITY_LIMIT)
		return -EINVAL;
	q->frame_max = frame_size(q->max_message);
	if (q->frame_max > CAPACITY_LIMIT / q->maxsize)
		return -EINVAL; /* offsets would not fit in 32 bits */
	q->capacity = q->maxsize * q->frame_max;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	q->map_size = (RING_OFFSET + q->capacity + page - 1) & ~(page - 1);
	return 0;
}

int mt_ipc_queue_new(mt_ipc_queue **qp, size_t maxsize, size_t max_message)
{
	if (!qp)
		return -EINVAL;
	mt_ipc_queue *q = calloc(1, sizeof *q);
	if (!q)
		return -ENOMEM;
	int err = set_geometry(q, maxsize, max_message);
	void *at = err ? MAP_FAILED : map_shared(q->map_size);
	if (at == MAP_FAILED) {
		free(q);
		return err ? err : -ENOMEM;
	}
	/* Made now, not on the first mt_ipc_queue_fd: every process forked
	 * from here on must hold the same one to signal it. */
	q->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (q->fd < 0) {
		err = -errno;
		munmap(at, q->map_size);
		free(q);
		return err;
	}
	struct shared *sh = q->shared = at; /* zero-filled by the kernel */
	q->ring = (unsigned char *)at + RING_OFFSET;
	q->spin = sysconf(_SC_NPROCESSORS_ONLN) > 1;
	for (int i = 0; i < SIDES; i++)
		mt_lock_init(&sh->sides[i].lock, MT_PSHARED);
	q->seen_head = (struct position){FIRST_SEQ, 0};
	q->seen_at = FIRST_SEQ;
	atomic_store(&sh->sides[PUT].word, pack(q->seen_head));
	atomic_store(&sh->sides[GET].word, pack(q->seen_head));
	atomic_store(&sh->sides[PUT].puts, FIRST_SEQ);
	atomic_store(&sh->sides[TASK].word, FIRST_SEQ); /* done */
	*qp = q;
	return 0;
}

void mt_ipc_queue_free(mt_ipc_queue *q)
{
	if (!q)
		return;
	munmap(q->shared, q->map_size);
	close(q->fd);
	free(q);
}

/* ---- wake-ups ---- */

/* Steps the word past every waiter's expected value and wakes them all. */
static void wake_all(_Atomic uint32_t *word)
{
	uint32_t seen = atomic_load_explicit(word, memory_order_relaxed);
	atomic_store_explicit(word, (seen & ~SLEEPERS) + TICK, memory_order_seq_cst);
	mt__futex_wake(word, INT32_MAX, true);
}

/* After a commit: wakes the sleepers of word, if any. */
static void wake_sleepers(_Atomic uint32_t *word)
{
	if (atomic_load_explicit(word, memory_order_seq_cst) & SLEEPERS)
		wake_all(word);
}

/* ---- mt_ipc_queue_fd's descriptor ----
 *
 * Readable while the queue may hold a message. FD_SIGNALLED says a write
 * is made or under way: a put that commits sets it and, if it was clear,
 * writes. A get that finds the ring empty clears it, drains the
 * descriptor, then looks again and writes if a message is there. The
 * put's commit and its look at fd_state, like the clear and the get's
 * second look, are sequentially consistent, so one of the two sees the
 * other: no message sits behind a quiet descriptor. Both run under their
 * side's lock, so a process killed half-way is repaired by the next
 * holder (take_over_from_dead_holder looks and writes); and a drain never
 * trusts the flag, so a write left without it costs at worst one
 * readable moment with nothing to get. */

static bool message_now(mt_ipc_queue *q);

static bool fd_armed(mt_ipc_queue *q)
{
	return atomic_load_explicit(&q->shared->fd_state, memory_order_relaxed) & FD_ARMED;
}

static void raise_fd(mt_ipc_queue *q)
{
	atomic_fetch_or_explicit(&q->shared->fd_state, FD_SIGNALLED, memory_order_seq_cst);
	(void)!write(q->fd, &(uint64_t){1}, sizeof(uint64_t));
}

/* Under put_lock, after a commit: readable, unless it is or will be. */
static void signal_fd(mt_ipc_queue *q)
{
	_Atomic uint32_t *state = &q->shared->fd_state;
	if (atomic_load_explicit(state, memory_order_seq_cst) == FD_ARMED &&
	    !(atomic_fetch_or_explicit(state, FD_SIGNALLED, memory_order_seq_cst) & FD_SIGNALLED))
		(void)!write(q->fd, &(uint64_t){1}, sizeof(uint64_t));
}

/* Under get_lock, after a get found the ring empty. */
static void clear_fd(mt_ipc_queue *q)
{
	uint64_t count;
	if (!fd_armed(q))
		return;
	atomic_fetch_and_explicit(&q->shared->fd_state, ~FD_SIGNALLED, memory_order_seq_cst);
	(void)!read(q->fd, &count, sizeof count);
	if (message_now(q))
		raise_fd(q);
}

/* A put, a get or a close whose process died may have owed a write. */
static void repair_fd(mt_ipc_queue *q)
{
	if (fd_armed(q) && message_now(q))
		raise_fd(q);
}

int mt_ipc_queue_fd(mt_ipc_queue *q)
{
	if (!q)
		return -EINVAL;
	uint32_t was = atomic_fetch_or_explicit(&q->shared->fd_state, FD_ARMED, memory_order_seq_cst);
	if (!(was & FD_ARMED))
		repair_fd(q); /* puts before the arming did not write */
	return q->fd;
}

/* ---- locks, and taking over from a dead holder ---- */

/* A producer died holding put_lock: if it committed its frame without
 * advancing tail, advance it; then make puts what tail says (one less if
 * the dead announced a put it never committed). */
static void repair_put_side(mt_ipc_queue *q)
{
	struct side *put = side_of(q, PUT);
	struct position tail = load_tail(q);
	uint64_t puts = atomic_load_explicit(&put->puts, memory_order_relaxed);
	uint64_t next = puts + (uint64_t)(int64_t)(int32_t)(tail.seq - (uint32_t)puts);
	uint32_t length;
	if (frame_committed(q, tail, &length) == 0) { /* if scribbled, -EPROTO later */
		tail = (struct position){tail.seq + 1, wrap(q, tail.offset + frame_size(length))};
		atomic_store_explicit(&put->word, pack(tail), memory_order_release);
		next++;
	}
	atomic_store_explicit(&put->puts, next, memory_order_release);
	/* A rewind that died between moving tail and head left an empty ring
	 * whose tail is not where its head is: undo it. */
	struct position head = load_head(q);
	if (tail.seq == head.seq && tail.offset != head.offset && offset_valid(q, head)) {
		atomic_fetch_add_explicit(&q->shared->rewinds, 1, memory_order_relaxed);
		atomic_store_explicit(&put->word, pack(head), memory_order_release);
	}
}

/* The holder of side's lock died. Repairs what needs it (only the put
 * side may) and wakes every sleeper: the dead may have owed a wake-up. */
static void take_over_from_dead_holder(mt_ipc_queue *q, enum side_name name)
{
	struct shared *sh = q->shared;
	if (name == PUT)
		repair_put_side(q);
	mt_lock_consistent(&sh->sides[name].lock);
	atomic_fetch_add_explicit(&sh->recoveries, 1, memory_order_relaxed);
	wake_all(&sh->not_empty);
	wake_all(&sh->not_full);
	repair_fd(q);
	wake_all(&sh->all_done);
}

/* Takes side's lock in tries attempts if tries > 0, else for as long as it
 * takes, after a few tries: a shared
 * mt_lock's waiter sleeps at once, and a wake-up costs more than many
 * critical sections. Returns 0, -ETIMEDOUT (tries ran out) or
 * -ENOTRECOVERABLE. */
static int take_side(mt_ipc_queue *q, enum side_name name, int tries)
{
	mt_lock *lock = &side_of(q, name)->lock;
	int err = mt_lock_acquire(lock, 0);
	int attempts = tries > 0 ? tries : LOCK_TRIES;
	for (int i = 1; i < attempts && err == -ETIMEDOUT; i++) {
		for (int s = 0; s < LOCK_SPINS && mt_lock_locked(lock); s++)
			cpu_relax();
		err = mt_lock_acquire(lock, 0);
	}
	if (err == -ETIMEDOUT && tries <= 0)
		err = mt_lock_acquire(lock, -1);
	if (err == -EOWNERDEAD) {
		take_over_from_dead_holder(q, name);
		err = 0;
	}
	return err;
}

static void drop_side(mt_ipc_queue *q, enum side_name name)
{
	mt_lock_release(&side_of(q, name)->lock);
}

/* Ends a call that took side's lock: releases it unless lost. */
static int finish(mt_ipc_queue *q, enum side_name name, int err)
{
	if (err != -ENOTRECOVERABLE)
		drop_side(q, name);
	return err;
}

/* ---- waiting ---- */

struct waiter {
	mt__deadline deadline;
	bool poll, timed_out; /* timeout 0; the deadline passed */
	int spins_left;
	_Atomic uint64_t *watch; /* what to spin on (NULL: do not), and */
	uint64_t seen;		 /* its value when the caller looked */
};

static int waiter_init(const mt_ipc_queue *q, struct waiter *w, double timeout)
{
	*w = (struct waiter){.poll = timeout == 0, .spins_left = q->spin ? WAIT_SPINS : 0};
	return mt__deadline_init(&w->deadline, timeout);
}

/* Without a lock: spins until the watched word moves, the queue closes or
 * the spins run out. */
static void spin_for_change(mt_ipc_queue *q, struct waiter *w)
{
	while ((w->spins_left -= SPIN_PACE) > 0) {
		for (int i = 0; i < SPIN_PACE; i++)
			cpu_relax();
		if (atomic_load_explicit(w->watch, memory_order_relaxed) != w->seen || is_closed(q))
			return;
	}
}

/* Before a waiter of side name sleeps: the other side's lock may have
 * been left by a process that died owing it a wake-up (or, for join, a
 * put announced): be its next holder, if it is free, to repair. Not
 * holding name's lock, so the only nesting is get_lock then put_lock
 * (rewind_if_empty), and lock-order checking stays quiet. */
static int look_for_dead_holder(mt_ipc_queue *q, enum side_name name)
{
	enum side_name other = name == PUT ? GET : PUT;
	drop_side(q, name);
	if (take_side(q, other, 1) == 0)
		drop_side(q, other);
	return take_side(q, name, 0);
}

/* With side's lock held, when the caller cannot go on: lets the others
 * work (spinning, then asleep on word until a wake-up or the deadline) and
 * takes the lock again; ready() looks once more after the SLEEPERS bit is
 * set. Returns 0 to look again, -ETIMEDOUT (lock held: time is up) or
 * -ENOTRECOVERABLE. */
static int wait_once(mt_ipc_queue *q, enum side_name name, _Atomic uint32_t *word, struct waiter *w,
		     bool (*ready)(mt_ipc_queue *q))
{
	if (w->poll || w->timed_out)
		return -ETIMEDOUT;
	if (w->spins_left > 0 && w->watch) {
		drop_side(q, name);
		spin_for_change(q, w);
		return take_side(q, name, 0);
	}
	int err = look_for_dead_holder(q, name);
	if (err)
		return err;
	struct timespec left; /* a sleep cut short by a moving word misses the deadline */
	if (!mt__deadline_left(&w->deadline, &left)) {
		w->timed_out = true;
		return 0; /* one more look, then -ETIMEDOUT */
	}
	uint32_t expected = atomic_fetch_or_explicit(word, SLEEPERS, memory_order_seq_cst);
	if (ready(q))
		return 0;
	drop_side(q, name);
	mt__deadline recheck;
	mt__deadline_init(&recheck, RECHECK);
	bool sooner = w->deadline.forever || left.tv_sec >= (time_t)RECHECK;
	mt__futex_wait(word, expected | SLEEPERS, sooner ? &recheck : &w->deadline, true);
	return take_side(q, name, 0); /* the caller looks; the clock above ends it */
}

/* ---- put ---- */

/* Under put_lock: reads head into this process's cache. */
static void see_head(mt_ipc_queue *q)
{
	q->seen_head = unpack(atomic_load_explicit(&side_of(q, GET)->word, memory_order_seq_cst));
	q->seen_at = atomic_load_explicit(&side_of(q, PUT)->puts, memory_order_relaxed);
	q->seen_rewinds = atomic_load_explicit(&q->shared->rewinds, memory_order_relaxed);
}

/* Counts the messages between tail and head, checking that they and the
 * bytes between them are possible. */
static int count_messages(const mt_ipc_queue *q, struct position tail, struct position head,
			  uint32_t *count)
{
	if (!offset_valid(q, tail) || !offset_valid(q, head))
		return -EPROTO;
	*count = tail.seq - head.seq;
	uint64_t gap = tail.offset >= head.offset ? tail.offset - head.offset
						  : q->capacity - head.offset + tail.offset;
	uint64_t used = *count == 0 ? 0 : gap == 0 ? q->capacity : gap;
	if (*count > q->maxsize || (*count == 0 && gap != 0) ||
	    used < (uint64_t)*count * sizeof(struct frame) || used > *count * q->frame_max)
		return -EPROTO;
	return 0;
}

/* Under put_lock: whether a frame fits after tail. The head seen last is
 * at or behind the real one: if the count it gives leaves room, there is
 * room, without reading the consumers' line. It serves within maxsize
 * puts (its count cannot wrap) and one rewind; else, if it says full, or
 * if fresh, head is read again. */
static int find_room(mt_ipc_queue *q, struct position tail, bool fresh, bool *room)
{
	uint64_t puts = atomic_load_explicit(&side_of(q, PUT)->puts, memory_order_relaxed);
	uint32_t rewinds = atomic_load_explicit(&q->shared->rewinds, memory_order_relaxed);
	if (!offset_valid(q, tail))
		return -EPROTO;
	*room = !fresh && puts - q->seen_at < q->maxsize && rewinds == q->seen_rewinds &&
		(uint32_t)(tail.seq - q->seen_head.seq) < q->maxsize;
	if (*room)
		return 0;
	see_head(q);
	uint32_t count;
	int err = count_messages(q, tail, q->seen_head, &count);
	*room = !err && count < q->maxsize;
	return err;
}

static bool room_now(mt_ipc_queue *q) /* wait_once's second look */
{
	bool room = false;
	return find_room(q, load_tail(q), true, &room) || room || is_closed(q);
}

/* Under put_lock: waits for room. Returns 0 with tail in *tail. */
static int wait_for_room(mt_ipc_queue *q, struct waiter *w, struct position *tail)
{
	int err = 0;
	while (!err) {
		if (is_closed(q))
			return -EPIPE;
		*tail = load_tail(q);
		bool room;
		if ((err = find_room(q, *tail, false, &room)) || room)
			return err;
		w->watch = &side_of(q, GET)->word;
		w->seen = pack(q->seen_head);
		err = wait_once(q, PUT, &q->shared->not_full, w, room_now);
	}
	return err;
}

/* Under put_lock: the header slot after message seq's frame, where the
 * next get looks, may hold old payload that reads as the next number:
 * stamp it with seq before the commit. Unless it is the oldest frame's
 * header (a full ring), whose number differs from the next by the count;
 * the head seen last may be stale (others may have written over the slot
 * since), so ask head as it is now. */
static void stamp_next_slot(mt_ipc_queue *q, uint32_t next_offset, uint64_t seq)
{
	if (next_offset == q->seen_head.offset) {
		see_head(q);
		if (next_offset == q->seen_head.offset)
			return;
	}
	atomic_store_explicit(&frame_at(q, next_offset)->seq, seq, memory_order_relaxed);
}

/* Under put_lock, room found: writes the frame, commits it, advances
 * tail and wakes consumers. */
static int put_frame(mt_ipc_queue *q, struct position tail, const void *msg, uint32_t len)
{
	struct side *put = side_of(q, PUT);
	uint64_t seq = atomic_load_explicit(&put->puts, memory_order_relaxed);
	if ((uint32_t)seq != tail.seq)
		return -EPROTO;
	atomic_store_explicit(&put->puts, seq + 1, memory_order_relaxed); /* announce */
	struct frame *f = frame_at(q, tail.offset);
	ring_copy(q, wrap(q, tail.offset + sizeof *f), (void *)msg, len, true);
	f->length = len;
	f->check = frame_check(len, seq);
	tail = (struct position){tail.seq + 1, wrap(q, tail.offset + frame_size(len))};
	stamp_next_slot(q, tail.offset, seq);
	atomic_store_explicit(&f->seq, seq, memory_order_seq_cst); /* the commit */
	atomic_store_explicit(&put->word, pack(tail), memory_order_release);
	wake_sleepers(&q->shared->not_empty);
	signal_fd(q);
	return 0;
}

int mt_ipc_queue_put(mt_ipc_queue *q, const void *msg, size_t len, double timeout)
{
	if (!q || (!msg && len))
		return -EINVAL;
	if (len > q->max_message)
		return -EMSGSIZE;
	struct waiter w;
	int err = waiter_init(q, &w, timeout);
	if (err || (err = take_side(q, PUT, 0)))
		return err;
	struct position tail;
	err = wait_for_room(q, &w, &tail);
	if (!err)
		err = put_frame(q, tail, msg, (uint32_t)len);
	err = finish(q, PUT, err);
	return err == -ETIMEDOUT ? -EAGAIN : err;
}

/* ---- get ---- */

/* Under get_lock, head's frame not there: before giving up or sleeping,
 * read tail, then the frame again. A tail past head means the frame was
 * committed, so one still missing was scribbled on (tail may be one behind
 * head: a put advances it after its commit). Only then: tail is the
 * producers' line, and reading it on every look slows every put. */
static int confirm_empty(mt_ipc_queue *q, struct position head, uint32_t *length)
{
	struct position tail = load_tail(q);
	int err = frame_committed(q, head, length);
	if (err == -EAGAIN && (int32_t)(tail.seq - head.seq) > 0)
		return -EBADMSG;
	return err;
}

static bool message_now(mt_ipc_queue *q)
{
	uint32_t length;
	struct position head = load_head(q);
	int err = frame_committed(q, head, &length);
	if (err == -EAGAIN)
		err = confirm_empty(q, head, &length);
	return err != -EAGAIN || is_closed(q);
}

/* Under get_lock: waits for a message. Returns 0 with head in *head and
 * the message's length in *length. */
static int wait_for_message(mt_ipc_queue *q, struct waiter *w, struct position *head,
			    uint32_t *length)
{
	int err = 0;
	while (!err) {
		/* closed first: every put committed before the flag was set,
		 * so a frame missing after it is missing for good. */
		bool closed = is_closed(q);
		*head = load_head(q);
		err = frame_committed(q, *head, length);
		if (err == -EAGAIN && (closed || w->poll || w->timed_out || w->spins_left <= 0))
			err = confirm_empty(q, *head, length);
		if (err != -EAGAIN)
			return err;
		if (closed)
			return -EPIPE;
		w->watch = &frame_at(q, head->offset)->seq;
		w->seen = atomic_load_explicit(w->watch, memory_order_relaxed);
		err = wait_once(q, GET, &q->shared->not_empty, w, message_now);
	}
	return err;
}

/* Once an emptied ring's head is this far on, the next frame goes at
 * offset 0 again, so a queue that keeps up stays in warm pages. A get
 * tries at each REWIND_STEP boundary past that: a try reads the producers'
 * line, and trying on every get would slow every put. */
#define REWIND_AFTER (16u * 1024)
#define REWIND_STEP 4096u

/* Under get_lock, after a get moved head from offset from: if the ring is
 * empty and no put under way (put_lock free), stamp slot 0 (see
 * stamp_next_slot), move tail to 0, then head. A death in between leaves
 * tail moved and head not, which repair_put_side undoes. */
static void rewind_if_empty(mt_ipc_queue *q, uint32_t from, struct position head)
{
	if ((head.offset < REWIND_AFTER && head.offset < q->capacity / 2) ||
	    (from / REWIND_STEP == head.offset / REWIND_STEP && head.offset > from))
		return;
	if (load_tail(q).seq != head.seq || take_side(q, PUT, 1))
		return;
	if (load_tail(q).seq == head.seq) {
		struct position start = {head.seq, 0};
		atomic_store_explicit(&frame_at(q, 0)->seq, head.seq - 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&q->shared->rewinds, 1, memory_order_relaxed);
		atomic_store_explicit(&side_of(q, PUT)->word, pack(start), memory_order_release);
		atomic_store_explicit(&side_of(q, GET)->word, pack(start), memory_order_release);
	}
	drop_side(q, PUT);
}

/* Under get_lock, head's message of length bytes committed: copies it
 * into buf and commits its removal, or leaves it (-EMSGSIZE). */
static int take_message(mt_ipc_queue *q, struct position head, uint32_t length, void *buf,
			size_t cap, size_t *len)
{
	*len = length;
	if (length > cap)
		return -EMSGSIZE;
	ring_copy(q, wrap(q, head.offset + sizeof(struct frame)), buf, length, false);
	uint32_t from = head.offset;
	head = (struct position){head.seq + 1, wrap(q, head.offset + frame_size(length))};
	atomic_store_explicit(&side_of(q, GET)->word, pack(head), memory_order_seq_cst);
	wake_sleepers(&q->shared->not_full);
	rewind_if_empty(q, from, head);
	return 0;
}

int mt_ipc_queue_get(mt_ipc_queue *q, void *buf, size_t cap, size_t *len, double timeout)
{
	if (!q || !len || (!buf && cap))
		return -EINVAL;
	struct waiter w;
	int err = waiter_init(q, &w, timeout);
	if (err || (err = take_side(q, GET, 0)))
		return err;
	struct position head;
	uint32_t length;
	err = wait_for_message(q, &w, &head, &length);
	if (!err)
		err = take_message(q, head, length, buf, cap, len);
	if (err == -ETIMEDOUT || err == -EAGAIN)
		clear_fd(q);
	err = finish(q, GET, err);
	return err == -ETIMEDOUT ? -EAGAIN : err;
}

/* ---- sizes, tasks, close ---- */

size_t mt_ipc_queue_qsize(mt_ipc_queue *q)
{
	if (!q)
		return 0;
	uint32_t count = load_tail(q).seq - load_head(q).seq;
	return count > q->maxsize ? 0 : count; /* a snapshot; 0 if scribbled */
}

bool mt_ipc_queue_empty(mt_ipc_queue *q)
{
	return mt_ipc_queue_qsize(q) == 0;
}

bool mt_ipc_queue_full(mt_ipc_queue *q)
{
	return q && mt_ipc_queue_qsize(q) >= q->maxsize;
}

static int64_t unfinished(mt_ipc_queue *q) /* puts (and one under way) less done */
{
	return (int64_t)(atomic_load_explicit(&side_of(q, PUT)->puts, memory_order_acquire) -
			 atomic_load_explicit(&side_of(q, TASK)->word, memory_order_acquire));
}

int mt_ipc_queue_task_done(mt_ipc_queue *q)
{
	int err = q ? take_side(q, TASK, 0) : -EINVAL;
	if (err)
		return err;
	int64_t left = unfinished(q);
	_Atomic uint64_t *done = &side_of(q, TASK)->word;
	if (left <= 0)
		err = -EINVAL; /* more task_done calls than puts: Python's ValueError */
	else
		atomic_store_explicit(done, atomic_load(done) + 1, memory_order_seq_cst);
	if (left == 1)
		wake_sleepers(&q->shared->all_done);
	return finish(q, TASK, err);
}

static bool all_done(mt_ipc_queue *q)
{
	return unfinished(q) <= 0;
}

int mt_ipc_queue_join(mt_ipc_queue *q, double timeout)
{
	if (!q)
		return -EINVAL;
	struct waiter w;
	int err = waiter_init(q, &w, timeout);
	if (err || (err = take_side(q, TASK, 0)))
		return err;
	while (!all_done(q))
		if ((err = wait_once(q, TASK, &q->shared->all_done, &w, all_done)))
			break;
	return finish(q, TASK, err);
}

void mt_ipc_queue_close(mt_ipc_queue *q)
{
	if (!q)
		return;
	/* Under put_lock, so that no put is half-way when the flag is set:
	 * a get that sees it knows every message is committed. */
	int err = take_side(q, PUT, 0);
	atomic_store_explicit(&q->shared->closed, 1, memory_order_seq_cst);
	wake_all(&q->shared->not_empty);
	wake_all(&q->shared->not_full);
	if (fd_armed(q))
		raise_fd(q);
	finish(q, PUT, err);
}

bool mt_ipc_queue_closed(mt_ipc_queue *q)
{
	return q && is_closed(q);
}

/* ---- for the fuzz target and the tests (ipcq.h) ---- */

void mt__ipcq_layout(mt_ipc_queue *q, struct mt__ipcq_layout *layout)
{
	layout->base = (unsigned char *)q->shared;
	layout->size = q->map_size;
	for (int i = 0; i < SIDES; i++)
		layout->locks[i] = offsetof(struct shared, sides[i].lock);
	layout->lock_size = sizeof(mt_lock);
	layout->ring_offset = RING_OFFSET;
	layout->ring_end = RING_OFFSET + q->capacity;
}

unsigned mt__ipcq_recoveries(mt_ipc_queue *q)
{
	return atomic_load_explicit(&q->shared->recoveries, memory_order_relaxed);
}
