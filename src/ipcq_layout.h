/* ipcq_layout.h: how mt_ipc_queue lays out its shared memory: the header
 * of each side (put, get, task), the futex words, the ring of frames, and
 * the small pure helpers that read frames and positions. Private to
 * ipcq.c, which holds the protocol (commits, repairs, waits) in one view;
 * this file only describes the memory it works on. */
#ifndef MTASK_IPCQ_LAYOUT_H
#define MTASK_IPCQ_LAYOUT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "internal.h"
#include "mtask/ipc.h"
#include "mtask/sync.h"

#define FRAME_ALIGN 16u
#define DEFAULT_MAXSIZE 1024u
#define DEFAULT_MAX_MESSAGE (64u * 1024)
#define CAPACITY_LIMIT ((uint64_t)UINT32_MAX + 1 - FRAME_ALIGN) /* offsets are 32-bit */
#define CACHE_LINE 64
#define FIRST_SEQ 1u /* not 0: no zero-filled header passes for a frame */
#define CHECK_SALT 0x7149746du
#define SLEEPERS 1u /* a futex word's bit 0 */
#define TICK 2u	    /* and its count's step */
#define FD_ARMED 1u	/* some process asked for the descriptor */
#define FD_SIGNALLED 2u /* a put made it readable */

/* Spinning (a pause is ~20 ns on bench/queue.c's two-CPU machine): a
 * waiter watches its word ~10 us, what a sleep and wake-up cost, looking
 * every SPIN_PACE pauses (a look takes the line from the writer: ~10%
 * faster than every pause); a lock taker retries a few us. */
#define WAIT_SPINS 512
#define SPIN_PACE 8
#define LOCK_TRIES 8
#define LOCK_SPINS 32
/* A sleep on a futex word looks again this often (s): a process killed
 * between its commit and its wake-up leaves the sleepers asleep; looking
 * again, they see the commit. (A shared mt_lock's sleepers do the same
 * for the robust-futex protocol's window, in sync.c.) */
#define RECHECK 1.0

struct frame {
	uint32_t length;
	uint32_t check;	      /* frame_check(length, seq) */
	_Atomic uint64_t seq; /* the message's number; stored last: the commit */
};

struct side {
	_Alignas(CACHE_LINE) mt_lock lock;
	_Atomic uint64_t word; /* put: tail; get: head; task: done */
	_Atomic uint64_t puts; /* put side only: messages put, + 1 during a put */
};

enum side_name { PUT, GET, TASK, SIDES };

struct shared {
	struct side sides[SIDES];
	_Alignas(CACHE_LINE) _Atomic uint32_t closed;
	_Atomic uint32_t recoveries; /* takeovers from a dead holder, for tests */
	_Atomic uint32_t rewinds;    /* under put_lock: rewind_if_empty's */
	_Atomic uint32_t fd_state;   /* FD_ARMED, FD_SIGNALLED: mt_ipc_queue_fd's */
	/* Each on its own line, written only when somebody sleeps or wakes. */
	_Alignas(CACHE_LINE) _Atomic uint32_t not_empty, not_full, all_done;
};

#define RING_OFFSET ((sizeof(struct shared) + CACHE_LINE - 1) & ~(size_t)(CACHE_LINE - 1))
_Static_assert(sizeof(struct frame) == FRAME_ALIGN, "a header fills one alignment unit");
_Static_assert(sizeof(struct side) == CACHE_LINE, "a side per cache line");

struct position {	 /* a tail or head word, unpacked */
	uint32_t seq;	 /* the low 32 bits of a message number */
	uint32_t offset; /* where that message's frame is, or goes */
};

/* This process's handle, with the geometry every bound is taken from. */
struct mt_ipc_queue {
	struct shared *shared;
	unsigned char *ring;
	size_t map_size;
	uint64_t capacity, max_message, maxsize;
	uint64_t frame_max; /* the bytes of a frame of max_message */
	bool spin;	    /* more than one CPU: waiting by spinning can pay */
	int fd;		    /* mt_ipc_queue_fd's eventfd, shared by every process */
	/* Under put_lock: head as this process read it last, puts and rewinds then. */
	struct position seen_head;
	uint64_t seen_at;
	uint32_t seen_rewinds;
};

#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause()
#else
#define cpu_relax() atomic_signal_fence(memory_order_seq_cst)
#endif

static inline uint64_t frame_size(uint64_t length)
{
	return sizeof(struct frame) + ((length + FRAME_ALIGN - 1) & ~(uint64_t)(FRAME_ALIGN - 1));
}

static inline uint32_t frame_check(uint32_t length, uint64_t seq)
{
	uint64_t x = (seq ^ ((uint64_t)length << 40) ^ CHECK_SALT) * 0x9e3779b97f4a7c15u;
	return (uint32_t)(x >> 32) ^ (uint32_t)x;
}

static inline uint64_t pack(struct position p)
{
	return (uint64_t)p.seq << 32 | p.offset;
}

static inline struct position unpack(uint64_t word)
{
	return (struct position){(uint32_t)(word >> 32), (uint32_t)word};
}

/* An offset below 2 * capacity, brought back into the ring. */
static inline uint32_t wrap(const mt_ipc_queue *q, uint64_t at)
{
	return (uint32_t)(at >= q->capacity ? at - q->capacity : at);
}

static inline bool offset_valid(const mt_ipc_queue *q, struct position p)
{
	return p.offset < q->capacity && p.offset % FRAME_ALIGN == 0;
}

/* Fuzz builds check each ring access against the bounds that the checks
 * of positions and frames guarantee: a slip traps instead of hiding. */
#ifdef MTASK_IPCQ_CHECK_BOUNDS
#define check_ring_access(q, at, len)                                                              \
	((at) < (q)->capacity && (len) <= (q)->capacity ? (void)0 : __builtin_trap())
#else
#define check_ring_access(q, at, len) ((void)0)
#endif

/* Copies len bytes between the ring at offset at, wrapping round its end,
 * and buf: into the ring if in is true, out of it otherwise. */
static inline void ring_copy(const mt_ipc_queue *q, uint32_t at, void *buf, size_t len, bool in)
{
	check_ring_access(q, at, len);
	size_t first = q->capacity - at < len ? (size_t)(q->capacity - at) : len;
	unsigned char *b = buf;
	for (int part = 0; part < 2; part++) {
		unsigned char *r = part ? q->ring : q->ring + at;
		size_t n = part ? len - first : first;
		if (n)
			memcpy(in ? r : b, in ? b : r, n);
		b += n;
	}
}

static inline struct frame *frame_at(const mt_ipc_queue *q, uint32_t offset)
{
	check_ring_access(q, (uint64_t)offset + sizeof(struct frame) - 1, 1u);
	return (struct frame *)(q->ring + offset);
}

static inline bool is_closed(const mt_ipc_queue *q)
{
	return atomic_load_explicit(&q->shared->closed, memory_order_acquire) != 0;
}

static inline struct side *side_of(mt_ipc_queue *q, enum side_name name)
{
	return &q->shared->sides[name];
}

static inline struct position load_head(mt_ipc_queue *q)
{
	return unpack(atomic_load_explicit(&side_of(q, GET)->word, memory_order_relaxed));
}

static inline struct position load_tail(mt_ipc_queue *q)
{
	return unpack(atomic_load_explicit(&side_of(q, PUT)->word, memory_order_acquire));
}

/* Whether p's frame is message p.seq (its low 32 bits suffice: a cycle
 * of the ring holds fewer messages), committed and whole: 0 with its
 * length, -EAGAIN (not there yet), -EPROTO or -EBADMSG. The header is read
 * once, so the length checked is the length used. */
static inline int frame_committed(const mt_ipc_queue *q, struct position p, uint32_t *length)
{
	if (!offset_valid(q, p))
		return -EPROTO;
	struct frame *f = frame_at(q, p.offset);
	uint64_t found = atomic_load_explicit(&f->seq, memory_order_seq_cst);
	if ((uint32_t)found != p.seq)
		return -EAGAIN;
	*length = f->length;
	if (*length > q->max_message || f->check != frame_check(*length, found))
		return -EBADMSG;
	return 0;
}

#endif
