/* robust.c: shared Locks whose holder dies (Linux robust futexes).
 *
 * The kernel keeps, per thread, the address of a list of the futex words
 * the thread holds (set_robust_list(2)). When the thread ends, for whatever
 * reason, SIGKILL of its process included, the kernel walks the list and
 * for each word that still holds the thread's ID sets FUTEX_OWNER_DIED and
 * wakes one sleeper. So the word of an MT_PSHARED lock is a robust-futex
 * word: the holder's thread ID, FUTEX_WAITERS when somebody may sleep on
 * it, FUTEX_OWNER_DIED once the kernel found its holder dead.
 *
 * A thread has one list, and glibc registers it for its own robust
 * mutexes. mt_lock therefore joins glibc's list instead of replacing it:
 * its links sit at the same distances from its word as pthread_mutex_t's
 * (the head records that distance, futex_offset, and it is checked at a
 * thread's first use), and they are linked and unlinked as glibc does, so
 * that a thread may hold glibc's robust mutexes and shared mt_locks and
 * release them in any order. glibc's convention: every link points at the
 * next field of a node; the pointer-sized word before that field is the
 * node's prev field (for the head, glibc's robust_prev); bit 0 of a next
 * link marks a priority-inheritance mutex.
 *
 * list_op_pending names the lock being taken or freed, which covers the
 * instants between taking the word and linking the lock, and between
 * unlinking it and freeing the word: a holder killed there is found too.
 * The kernel reads all this as if from a signal handler of the dying
 * thread, so compiler fences order it; no other thread ever touches it.
 *
 * A lock taken with -EOWNERDEAD is inconsistent until mt_lock_consistent;
 * released before, it becomes not recoverable for good, as POSIX says. */
#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"
#include "mtask/sync.h"

enum health { CONSISTENT = 0, INCONSISTENT = 1, NOT_RECOVERABLE = 2 };

/* robust_head's value when this thread cannot use the kernel's list. */
#define NO_LIST ((struct robust_list_head *)1)

static __thread struct robust_list_head *robust_head MT_TLS_FAST;

static _Atomic uint32_t *lock_word(mt_lock *l)
{
	return (_Atomic uint32_t *)&l->state;
}

static _Atomic uint32_t *lock_health(mt_lock *l)
{
	return (_Atomic uint32_t *)&l->health;
}

/* glibc registered the list when it started the thread; ask the kernel
 * where, and check that glibc's nodes are laid out as mt_lock's. */
static struct robust_list_head *find_list(void)
{
	struct robust_list_head *head = NULL;
	size_t len = 0;
	long futex_offset = (long)offsetof(mt_lock, state) - (long)offsetof(mt_lock, robust_next);
	if (syscall(SYS_get_robust_list, 0, &head, &len) != 0 || !head ||
	    len != sizeof *head || head->futex_offset != futex_offset)
		return NO_LIST;
	return head;
}

/* The calling thread's list, or NULL if it has none we can share. A
 * forked child's thread keeps the address: glibc registers the same head
 * again, emptied. */
static struct robust_list_head *thread_list(void)
{
	struct robust_list_head *head = robust_head;
	if (__builtin_expect(head == NULL, 0))
		robust_head = head = find_list();
	return head == NO_LIST ? NULL : head;
}

static void **next_field(void *link)
{
	return (void **)((uintptr_t)link & ~(uintptr_t)1);
}

static void **prev_field(void *link)
{
	return next_field(link) - 1;
}

static void set_pending(struct robust_list_head *head, mt_lock *l)
{
	head->list_op_pending = l ? (struct robust_list *)&l->robust_next : NULL;
	atomic_signal_fence(memory_order_seq_cst);
}

void mt__robust_pending(mt_lock *l)
{
	struct robust_list_head *head = thread_list();
	if (head)
		set_pending(head, l);
}

/* Puts l first in the calling thread's list (glibc's ENQUEUE_MUTEX). */
static void link_lock(mt_lock *l)
{
	struct robust_list_head *head = thread_list();
	if (!head) {
		l->robust_prev = l->robust_next = NULL;
		return;
	}
	void *first = head->list.next;
	*prev_field(first) = &l->robust_next;
	l->robust_next = first;
	l->robust_prev = &head->list;
	atomic_signal_fence(memory_order_seq_cst); /* complete before listed */
	head->list.next = (struct robust_list *)&l->robust_next;
	atomic_signal_fence(memory_order_seq_cst);
}

/* Takes l out of the list (glibc's DEQUEUE_MUTEX). */
static void unlink_lock(mt_lock *l)
{
	void *next = l->robust_next, *prev = l->robust_prev;
	if (!next)
		return; /* taken by a thread without a list */
	*prev_field(next) = prev;
	*next_field(prev) = next;
	atomic_signal_fence(memory_order_seq_cst);
	l->robust_prev = l->robust_next = NULL;
}

int mt__robust_claim(mt_lock *l, pid_t tid, bool sleeping, uint32_t *sleep_on)
{
	_Atomic uint32_t *state = lock_word(l);
	uint32_t seen = atomic_load_explicit(state, memory_order_relaxed);
	for (;;) {
		if (!(seen & FUTEX_TID_MASK)) {
			/* A thread that slept takes the word marked: others may
			 * sleep too, and the release must wake them. */
			uint32_t waiters = sleeping ? FUTEX_WAITERS : seen & FUTEX_WAITERS;
			if (atomic_compare_exchange_weak_explicit(state, &seen,
								  (uint32_t)tid | waiters,
								  memory_order_acquire,
								  memory_order_relaxed))
				return seen & FUTEX_OWNER_DIED ? -EOWNERDEAD : 0;
			continue;
		}
		if (!sleeping)
			return -EBUSY;
		if ((seen & FUTEX_WAITERS) ||
		    atomic_compare_exchange_weak_explicit(state, &seen, seen | FUTEX_WAITERS,
							  memory_order_relaxed,
							  memory_order_relaxed)) {
			*sleep_on = seen | FUTEX_WAITERS;
			return -EBUSY;
		}
	}
}

void mt__robust_release(mt_lock *l)
{
	_Atomic uint32_t *state = lock_word(l);
	_Atomic uint32_t *health = lock_health(l);
	if (atomic_load_explicit(health, memory_order_relaxed) == INCONSISTENT)
		atomic_store_explicit(health, NOT_RECOVERABLE, memory_order_relaxed);
	mt__robust_pending(l);
	unlink_lock(l);
	uint32_t was = atomic_exchange_explicit(state, 0, memory_order_release);
	if (was & FUTEX_WAITERS)
		mt__futex_wake(state, 1, true);
	mt__robust_pending(NULL);
}

int mt__robust_taken(mt_lock *l, int got)
{
	if (got != 0 && got != -EOWNERDEAD) {
		mt__robust_pending(NULL);
		return got;
	}
	link_lock(l);
	mt__robust_pending(NULL);
	_Atomic uint32_t *health = lock_health(l);
	if (got == -EOWNERDEAD) {
		atomic_store_explicit(health, INCONSISTENT, memory_order_relaxed);
		return -EOWNERDEAD;
	}
	if (atomic_load_explicit(health, memory_order_relaxed) == NOT_RECOVERABLE) {
		mt__robust_release(l); /* and wake the next, who learns the same */
		return -ENOTRECOVERABLE;
	}
	return 0;
}

bool mt__robust_held_by(const mt_lock *l, pid_t tid)
{
	uint32_t seen = atomic_load_explicit((_Atomic uint32_t *)&l->state,
					     memory_order_relaxed);
	return (seen & FUTEX_TID_MASK) == (uint32_t)tid;
}

int mt__robust_consistent(mt_lock *l)
{
	_Atomic uint32_t *health = lock_health(l);
	if (atomic_load_explicit(health, memory_order_relaxed) != INCONSISTENT)
		return -EINVAL;
	atomic_store_explicit(health, CONSISTENT, memory_order_relaxed);
	return 0;
}
