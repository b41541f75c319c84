/* coro_stack.h: coroutine stacks, the allocator coro.c uses (coro_stack.c
 * explains the layout and the guards). Private to the library. */
#ifndef MTASK_CORO_STACK_H
#define MTASK_CORO_STACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "internal.h"

/* Sanitizer builds annotate stack switches (coro.c) and unpoison reused
 * stacks: GCC says so with __SANITIZE_*__, clang with __has_feature. */
#if defined(__SANITIZE_ADDRESS__)
#define MT__CORO_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MT__CORO_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define MT__CORO_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MT__CORO_TSAN 1
#endif
#endif

/* Stack areas are powers of two from 16 KiB (class 0) to 1 GiB. */
#define MT__STACK_MIN_SHIFT 14
#define MT__STACK_CLASSES 17
/* The inaccessible area below every stack. Virtual memory only, so it is
 * generous: a frame must be larger than this to jump over it. */
#define MT__STACK_GUARD (64u * 1024u)
/* The word a canary-guarded stack keeps at its bottom. */
#define MT__STACK_CANARY 0x6d74736b2d636e72ull

enum mt__guard_kind {
	MT__GUARD_MARKER,   /* MADV_GUARD_INSTALL: no VMA of its own */
	MT__GUARD_MPROTECT, /* a PROT_NONE page range: splits the mapping */
	MT__GUARD_CANARY,   /* nothing mapped away: a canary word only */
};

/* One slot of a slab: a guard area, then a stack area [lo, hi). */
struct mt__stack {
	char *lo, *hi;
	struct mt__stack *next; /* on a free list */
	uint8_t size_class;
	uint8_t guard; /* enum mt__guard_kind */
	bool used;     /* some coroutine ran on it (ASan: may be poisoned) */
};

/* A thread's free stacks, reused without a lock or a system call. */
struct mt__stack_cache {
	struct mt__stack *free[MT__STACK_CLASSES];
	unsigned count[MT__STACK_CLASSES];
};

/* Takes a stack whose area holds at least size bytes (0: the default),
 * from the cache or the shared pool. Its memory is left as the last user
 * left it, but for the canary, which is rewritten. Returns 0, -EINVAL
 * (size too large), -ENOMEM. */
MT_HIDDEN int mt__stack_get(struct mt__stack_cache *cache, size_t size, struct mt__stack **out);

/* Gives a stack back: to cache if it has room, else (or with cache NULL)
 * to the shared pool, its pages returned to the system first. */
MT_HIDDEN void mt__stack_put(struct mt__stack_cache *cache, struct mt__stack *s);

/* Gives every stack of cache back to the shared pool (a thread's exit). */
MT_HIDDEN void mt__stack_cache_flush(struct mt__stack_cache *cache);

/* The stack whose guard area holds addr, or NULL. Lock-free and
 * async-signal-safe: the SIGSEGV handler calls it. */
MT_HIDDEN const struct mt__stack *mt__stack_guard_owner(const void *addr);

#endif
