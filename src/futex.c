/* futex.c: the Linux futex calls behind every sleep in mtask. Waits use
 * FUTEX_WAIT_BITSET because it takes an absolute CLOCK_MONOTONIC deadline,
 * which is what mt__deadline holds: no relative-time recomputation per
 * retry. */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

static long futex(_Atomic uint32_t *word, int op, uint32_t val,
		  const struct timespec *abs, uint32_t bitset)
{
	return syscall(SYS_futex, word, op, val, abs, NULL, bitset);
}

int mt__futex_wait(_Atomic uint32_t *word, uint32_t expected,
		   const mt__deadline *deadline, bool shared)
{
	int op = FUTEX_WAIT_BITSET;
	if (!shared)
		op |= FUTEX_PRIVATE_FLAG;
	const struct timespec *abs = NULL;
	if (deadline && !deadline->forever)
		abs = &deadline->at;
	/* Without FUTEX_CLOCK_REALTIME, FUTEX_WAIT_BITSET measures abs on
	 * CLOCK_MONOTONIC, the clock of mt__deadline. */
	if (futex(word, op, expected, abs, FUTEX_BITSET_MATCH_ANY) == 0)
		return 0;
	if (errno == ETIMEDOUT)
		return -ETIMEDOUT;
	return 0; /* EAGAIN: *word changed; EINTR: spurious; both recheck */
}

void mt__futex_wake(_Atomic uint32_t *word, int n, bool shared)
{
	int op = FUTEX_WAKE;
	if (!shared)
		op |= FUTEX_PRIVATE_FLAG;
	futex(word, op, (uint32_t)n, NULL, 0);
}

void mt__event_set(_Atomic uint32_t *word)
{
	if (atomic_exchange_explicit(word, MT__EVENT_SET, memory_order_acq_rel) !=
	    0)
		mt__futex_wake(word, INT32_MAX, false);
}

int mt__event_wait(_Atomic uint32_t *word, const mt__deadline *deadline)
{
	enum { SLEEPERS = 2 };
	for (;;) {
		uint32_t seen = atomic_load_explicit(word, memory_order_acquire);
		if (seen == MT__EVENT_SET)
			return 0;
		if (seen == 0 &&
		    !atomic_compare_exchange_weak_explicit(word, &seen, SLEEPERS,
							   memory_order_acq_rel,
							   memory_order_acquire))
			continue;
		if (mt__futex_wait(word, SLEEPERS, deadline, false) == -ETIMEDOUT)
			return mt__event_is_set(word) ? 0 : -ETIMEDOUT;
	}
}
