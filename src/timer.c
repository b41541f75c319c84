/* timer.c: threading.Timer: a thread that waits on its own cancel event for
 * the interval and then runs the function, unless cancelled first. The
 * handle and the thread both own the record (refs), as thread.c's do. */
#include <errno.h>
#include <stdlib.h>

#include "internal.h"
#include "mtask/sync.h"
#include "mtask/thread.h"

enum timer_outcome { PENDING, FIRED, CANCELLED };

struct mt_timer {
	_Atomic int refs;
	_Atomic int outcome;
	mt_event cancelled;
	mt_thread *thread;
	double interval;
	mt_fn fn;
	void *arg;
};

static void timer_unref(struct mt_timer *t)
{
	if (atomic_fetch_sub(&t->refs, 1) == 1) {
		mt_thread_free(t->thread);
		free(t);
	}
}

static bool claim(struct mt_timer *t, enum timer_outcome outcome)
{
	int pending = PENDING;
	return atomic_compare_exchange_strong(&t->outcome, &pending, outcome);
}

static int timer_main(void *arg)
{
	struct mt_timer *t = arg;
	int code = MT_NOEXIT;
	if (mt_event_wait(&t->cancelled, t->interval) == -ETIMEDOUT && claim(t, FIRED))
		code = t->fn(t->arg);
	timer_unref(t);
	return code;
}

int mt_timer_start(mt_timer **out, double interval, mt_fn fn, void *arg,
		   const struct mt_thread_opts *opts)
{
	if (!out || !fn || interval != interval)
		return -EINVAL;
	struct mt_timer *t = calloc(1, sizeof *t);
	if (!t)
		return -ENOMEM;
	atomic_init(&t->refs, 2); /* the handle and the thread */
	atomic_init(&t->outcome, PENDING);
	mt_event_init(&t->cancelled, 0);
	t->interval = interval < 0 ? 0 : interval;
	t->fn = fn;
	t->arg = arg;
	int err = mt_thread_start(&t->thread, timer_main, t, opts);
	if (err) {
		free(t);
		return err;
	}
	*out = t;
	return 0;
}

int mt_timer_cancel(mt_timer *t)
{
	if (!claim(t, CANCELLED))
		return atomic_load(&t->outcome) == CANCELLED ? 0 : -EALREADY;
	mt_event_set(&t->cancelled);
	return 0;
}

int mt_timer_join(mt_timer *t, double timeout)
{
	return mt_thread_join(t->thread, timeout);
}

int mt_timer_exitcode(mt_timer *t)
{
	return mt_thread_exitcode(t->thread);
}

void mt_timer_free(mt_timer *t)
{
	if (t)
		timer_unref(t);
}
