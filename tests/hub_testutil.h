/* hub_testutil.h: what test_hub.c and test_hubsync.c share: a log of
 * what ran, in order, and spawn/join helpers that assert. */
#ifndef MTASK_HUB_TESTUTIL_H
#define MTASK_HUB_TESTUTIL_H

#include "mtask/mtask.h"
#include "testutil.h"

/* A log of what ran, in order. */
static char trail[256];
static size_t trail_length;

static inline void reset_trail(void)
{
	trail_length = 0;
	trail[0] = '\0';
}

static inline void note(const char *s)
{
	size_t n = strlen(s);
	assert_true(trail_length + n < sizeof trail);
	memcpy(trail + trail_length, s, n + 1);
	trail_length += n;
}

static inline mt_greenlet *spawn(mt_fn fn, void *arg)
{
	mt_greenlet *g;
	assert_int_equal(mt_greenlet_spawn(&g, fn, arg, NULL), 0);
	return g;
}

static inline void join_and_free(mt_greenlet *g)
{
	assert_int_equal(mt_greenlet_join(g, 5), 0);
	mt_greenlet_free(g);
}

#endif
