/* coro_stack.c: the stacks of coroutines: big mmap'ed slabs of slots,
 * each a guard area below a stack, reused through per-thread caches.
 *
 * Why slabs, and which guard. A stack overflow must fault at once rather
 * than write over whatever lies below the stack, so every stack has an
 * inaccessible guard area under it. The classic guard, a PROT_NONE page
 * made with mprotect, splits its mapping: each guarded stack costs two
 * VMAs, and vm.max_map_count (65530 by default) then caps a process at
 * about 32,000 coroutines, fewer with everything else it maps. Linux 6.13
 * added guard regions (madvise MADV_GUARD_INSTALL): markers in the page
 * tables that fault like PROT_NONE but leave the VMA whole. So a slab of
 * ~100 stacks, guards included, is one mapping, and adjacent slabs even
 * merge into one VMA: 100,000 guarded coroutines add a handful of lines
 * to /proc/self/maps. The markers survive MADV_DONTNEED and fork.
 *
 * On an older kernel (madvise says EINVAL), or where the first guard
 * region does not refuse access (qemu-user ignores the advice), guards
 * fall back to mprotect, while the guards made that way stay under a
 * quarter of max_map_count (each costs two VMAs, so half of the map
 * count at most); stacks beyond that get a canary word at their bottom
 * instead, which coro.c checks when the coroutine is switched to, ends or
 * is freed: an overflow is then caught late, after the writes.
 * MTASK_CORO_GUARD=mprotect or =canary forces the weaker kinds, to test
 * them.
 *
 * Memory. A slab is one MAP_NORESERVE mapping: stacks are virtual memory,
 * touched as they are used, and not charged to the commit limit (under
 * vm.overcommit_memory=2 they are, as everything). A thread keeps up to
 * CACHE_BYTES of freed stacks per size class as they are, so a spawn after
 * a free costs no system call; beyond that a freed stack's pages go back
 * to the system (MADV_DONTNEED) and the slot to the shared pool, under a
 * mutex. Slabs are never unmapped: their address space is reused.
 *
 * Fork: the child forgets the shared free lists, which another thread may
 * have been changing at the time (their slots leak in the child), and
 * keeps the calling thread's cache, which only that thread touches. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "coro_stack.h"
#include "mtask/coro.h"

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102 /* Linux 6.13; older headers lack it */
#endif

#ifdef MT__CORO_ASAN
void __asan_unpoison_memory_region(void const volatile *addr, size_t size);
#endif

#define SLAB_BYTES (32u << 20) /* the virtual size a slab aims at */
#define SLAB_SLOTS_MAX 512u
#define CACHE_BYTES (16u << 20) /* per thread and size class */
#define REFILL_BATCH 8u		/* slots a thread takes from the pool at once */

MT_KEEP_LIFECYCLE;

struct slab {
	struct slab *next; /* the registry, newest first */
	char *base;
	size_t slot_bytes;
	unsigned count;
	struct mt__stack slots[];
};

/* Every slab ever made, for the SIGSEGV handler's lookup. Only pushed. */
static _Atomic(struct slab *) slabs;

static struct {
	pthread_mutex_t lock; /* guards the rest */
	struct mt__fork_once fork_once;
	struct mt__stack *free[MT__STACK_CLASSES];
	bool mode_chosen;
	bool markers_proven;	  /* a guard region was seen to fault */
	enum mt__guard_kind mode; /* what the next guard tries first */
	long mprotect_left;	  /* guards mprotect may still make */
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER};

static size_t area_bytes(int size_class)
{
	return (size_t)1 << (MT__STACK_MIN_SHIFT + size_class);
}

/* The class of the smallest area holding size bytes, or -1. */
static int size_class_of(size_t size)
{
	if (size == 0)
		size = MT_CORO_STACK_DEFAULT;
	if (size > MT_CORO_STACK_MAX)
		return -1;
	int k = 0;
	while (area_bytes(k) < size)
		k++;
	return k;
}

/* Freed stacks a thread keeps of a class: 1024 of 16 KiB, 64 of the
 * default 256 KiB, none above 16 MiB. */
static unsigned cache_limit(int size_class)
{
	return (unsigned)(CACHE_BYTES / area_bytes(size_class));
}

/* ---- guards ---- */

static long read_max_map_count(void)
{
	char buf[32] = "";
	int fd = open("/proc/sys/vm/max_map_count", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = read(fd, buf, sizeof buf - 1);
		buf[n > 0 ? n : 0] = '\0';
		close(fd);
	}
	long count = atol(buf);
	return count > 0 ? count : 65530;
}

/* Once per process, under the pool's lock. */
static void choose_guard_mode(void)
{
	const char *forced = getenv("MTASK_CORO_GUARD");
	pool.mode = MT__GUARD_MARKER;
	if (forced && !strcmp(forced, "mprotect"))
		pool.mode = MT__GUARD_MPROTECT;
	else if (forced && !strcmp(forced, "canary"))
		pool.mode = MT__GUARD_CANARY;
	pool.mprotect_left = read_max_map_count() / 4;
	pool.mode_chosen = true;
}

/* Whether the kernel refuses to read the guard at guard: the first
 * guard region a process makes is tried once, because an emulator
 * (qemu-user) may accept the advice and ignore it. */
static bool guard_refuses_access(char *guard)
{
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) < 0)
		return true; /* cannot tell: trust madvise */
	bool refused = write(fds[1], guard, 1) < 0 && errno == EFAULT;
	close(fds[0]);
	close(fds[1]);
	return refused;
}

/* Makes [guard, guard + MT__STACK_GUARD) inaccessible as well as the
 * system allows; returns the kind it got. */
static enum mt__guard_kind guard_area(char *guard)
{
	if (pool.mode == MT__GUARD_MARKER) {
		if (madvise(guard, MT__STACK_GUARD, MADV_GUARD_INSTALL) == 0 &&
		    (pool.markers_proven || guard_refuses_access(guard))) {
			pool.markers_proven = true;
			return MT__GUARD_MARKER;
		}
		pool.mode = MT__GUARD_MPROTECT; /* a kernel before 6.13 */
	}
	if (pool.mode == MT__GUARD_MPROTECT && pool.mprotect_left > 0 &&
	    mprotect(guard, MT__STACK_GUARD, PROT_NONE) == 0) {
		pool.mprotect_left--;
		return MT__GUARD_MPROTECT;
	}
	return MT__GUARD_CANARY;
}

/* ---- slabs and the shared pool (under pool.lock) ---- */

static void forget_inherited_pool(void)
{
	pthread_mutex_init(&pool.lock, NULL);
	memset(pool.free, 0, sizeof pool.free);
}

static void lock_pool(void)
{
	mt__after_fork_once(&pool.fork_once, forget_inherited_pool);
	pthread_mutex_lock(&pool.lock);
}

/* Maps a slab of class size_class and puts its slots on the free list. */
static int add_slab(int size_class)
{
	size_t slot_bytes = MT__STACK_GUARD + area_bytes(size_class);
	size_t count = SLAB_BYTES / slot_bytes;
	count = count < 1 ? 1 : count > SLAB_SLOTS_MAX ? SLAB_SLOTS_MAX : count;
	struct slab *slab = malloc(sizeof *slab + count * sizeof slab->slots[0]);
	if (!slab)
		return -ENOMEM;
	int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK;
	slab->base = mmap(NULL, count * slot_bytes, PROT_READ | PROT_WRITE, flags, -1, 0);
	if (slab->base == MAP_FAILED) {
		free(slab);
		return -ENOMEM;
	}
	/* A transparent huge page would make each stack's first touch cost
	 * 2 MiB instead of 4 KiB. */
	madvise(slab->base, count * slot_bytes, MADV_NOHUGEPAGE);
	slab->slot_bytes = slot_bytes;
	slab->count = (unsigned)count;
	for (size_t i = count; i-- > 0;) {
		struct mt__stack *s = &slab->slots[i];
		char *slot = slab->base + i * slot_bytes;
		s->lo = slot + MT__STACK_GUARD;
		s->hi = slot + slot_bytes;
		s->size_class = (uint8_t)size_class;
		s->guard = (uint8_t)guard_area(slot);
		s->used = false;
		s->next = pool.free[size_class];
		pool.free[size_class] = s;
	}
	slab->next = atomic_load_explicit(&slabs, memory_order_relaxed);
	atomic_store_explicit(&slabs, slab, memory_order_release);
	return 0;
}

/* Takes one stack for the caller and up to REFILL_BATCH more for cache,
 * so that the next spawns of this thread take no lock. */
static struct mt__stack *take_from_pool(struct mt__stack_cache *cache, int size_class)
{
	lock_pool();
	if (!pool.mode_chosen)
		choose_guard_mode();
	struct mt__stack *s = pool.free[size_class];
	if (!s && add_slab(size_class) == 0)
		s = pool.free[size_class];
	if (s) {
		pool.free[size_class] = s->next;
		unsigned room = cache_limit(size_class) - cache->count[size_class];
		for (unsigned n = 0; n < REFILL_BATCH && n < room && pool.free[size_class]; n++) {
			struct mt__stack *extra = pool.free[size_class];
			pool.free[size_class] = extra->next;
			extra->next = cache->free[size_class];
			cache->free[size_class] = extra;
			cache->count[size_class]++;
		}
	}
	pthread_mutex_unlock(&pool.lock);
	return s;
}

/* ---- the calls coro.c makes ---- */

int mt__stack_get(struct mt__stack_cache *cache, size_t size, struct mt__stack **out)
{
	int k = size_class_of(size);
	if (k < 0)
		return -EINVAL;
	struct mt__stack *s = cache->free[k];
	if (s) {
		cache->free[k] = s->next;
		cache->count[k]--;
	} else if (!(s = take_from_pool(cache, k))) {
		return -ENOMEM;
	}
	if (s->guard == MT__GUARD_CANARY)
		*(uint64_t *)s->lo = MT__STACK_CANARY;
#ifdef MT__CORO_ASAN
	/* A killed coroutine's abandoned frames left their redzones
	 * poisoned in the shadow memory; a fresh slot has none. */
	if (s->used)
		__asan_unpoison_memory_region(s->lo, (size_t)(s->hi - s->lo));
#endif
	*out = s;
	return 0;
}

static void return_pages(struct mt__stack *s)
{
	madvise(s->lo, (size_t)(s->hi - s->lo), MADV_DONTNEED);
}

void mt__stack_put(struct mt__stack_cache *cache, struct mt__stack *s)
{
	int k = s->size_class;
	s->used = true;
	if (cache && cache->count[k] < cache_limit(k)) {
		s->next = cache->free[k];
		cache->free[k] = s;
		cache->count[k]++;
		return;
	}
	return_pages(s);
	lock_pool();
	s->next = pool.free[k];
	pool.free[k] = s;
	pthread_mutex_unlock(&pool.lock);
}

void mt__stack_cache_flush(struct mt__stack_cache *cache)
{
	for (int k = 0; k < MT__STACK_CLASSES; k++) {
		while (cache->free[k]) {
			struct mt__stack *s = cache->free[k];
			cache->free[k] = s->next;
			mt__stack_put(NULL, s);
		}
		cache->count[k] = 0;
	}
}

const struct mt__stack *mt__stack_guard_owner(const void *addr)
{
	const char *at = addr;
	struct slab *slab = atomic_load_explicit(&slabs, memory_order_acquire);
	for (; slab; slab = slab->next) {
		if (at < slab->base || at >= slab->base + slab->count * slab->slot_bytes)
			continue;
		const struct mt__stack *s =
			&slab->slots[(size_t)(at - slab->base) / slab->slot_bytes];
		return at < s->lo ? s : NULL;
	}
	return NULL;
}
