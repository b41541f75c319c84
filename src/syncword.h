/* syncword.h: what sync.c (Lock, RLock, Semaphore, Event) and cond.c
 * (Condition) share: the access to the public structs' words, and the
 * lock word's bits. Private to the library. */
#ifndef MTASK_SYNCWORD_H
#define MTASK_SYNCWORD_H

#include <limits.h>

#include "internal.h"
#include "mtask/sync.h"

/* A thread-only Lock's word: 0 free, else bits. A waiter marks the word
 * LOCK_CONTENDED, so that the release after it looks at everything. */
#define LOCK_HELD 1u
#define LOCK_SLEEPERS 2u /* the release wakes a sleeper */
#define LOCK_OWED 4u	 /* the release pays owed_cond's wake-up, if any */
#define LOCK_CONTENDED (LOCK_HELD | LOCK_SLEEPERS | LOCK_OWED)

/* The public structs hold plain uint32_t words so that the header stays
 * valid C and C++; the library accesses them as _Atomic uint32_t, which
 * has the same size and representation. */
_Static_assert(sizeof(_Atomic uint32_t) == sizeof(uint32_t), "atomic words");

static inline _Atomic uint32_t *word(uint32_t *w)
{
	return (_Atomic uint32_t *)w;
}

static inline _Atomic uint32_t *cword(const uint32_t *w)
{
	return (_Atomic uint32_t *)w;
}

/* FUTEX_WAKE takes an int count. */
static inline int wake_count(uint32_t n)
{
	return n > INT32_MAX ? INT32_MAX : (int)n;
}

static inline bool is_shared(uint32_t flags)
{
	return flags & MT_PSHARED;
}

static inline _Atomic int32_t *rlock_owner(mt_rlock *r)
{
	return (_Atomic int32_t *)&r->owner;
}

/* Whether thread me holds l (r). */
MT_HIDDEN bool mt__lock_mine(const mt_lock *l, pid_t me);
MT_HIDDEN bool mt__rlock_mine(mt_rlock *r, pid_t me);

/* Marks l, held by the caller, as owing c's wake-ups (c->owed), which its
 * release makes once l is free. false when l already owes another
 * condition's wake-up or is free: the caller wakes c's waiters itself. */
MT_HIDDEN bool mt__lock_owe(mt_lock *l, mt_cond *c);

#endif
