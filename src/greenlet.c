/* greenlet.c: greenlets on the hub (spawn, join, kill, cancel, free) and
 * groups of them.
 *
 * A greenlet is a coroutine (coro.h) whose parent is its thread's hub,
 * plus a record: its function, its exit code, who waits for its end, its
 * group. Records are cached per hub and stacks per thread (coro.c), so a
 * spawn after warm-up allocates nothing and makes no system call.
 *
 * Ends. A greenlet's coroutine function returns the record, and a killed
 * greenlet is thrown into with it, so either way its coroutine hands the
 * record to the hub as it dies (hub.c's dispatch switch), and the hub,
 * running on its own stack, does the bookkeeping: joiners woken, the
 * group left, a detached greenlet's stack and record freed. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hub_private.h"

/* ---- records ---- */

static mt_greenlet *record_get(struct mt__hub *h)
{
	mt_greenlet *g = h->free_records;
	if (g) {
		h->free_records = g->next_free;
		h->free_count--;
	} else {
		g = malloc(sizeof *g);
	}
	return g;
}

static void record_put(struct mt__hub *h, mt_greenlet *g)
{
	if (h && h->free_count < 1024) {
		g->next_free = h->free_records;
		h->free_records = g;
		h->free_count++;
	} else {
		free(g);
	}
}

/* Frees an ended greenlet's coroutine and record. */
static void release(struct mt__hub *h, mt_greenlet *g)
{
	mt_coro_free(g->fiber.coro);
	record_put(h, g);
}

/* ---- spawn ---- */

static void *greenlet_main(void *arg)
{
	mt_greenlet *g = arg;
	g->hub->current = g;
	if (mt__trace_on())
		g->run_start_us = mt__now_us();
	if (g->delay > 0 && !g->fiber.killed)
		mt_hub_sleep(g->delay); /* a kill meanwhile ends the greenlet there */
	if (g->fiber.killed)
		g->exitcode = -ECANCELED; /* killed before it started */
	else
		g->exitcode = g->fn(g->arg);
	return g;
}

static int check_options(struct mt__hub *h, const mt_greenlet_opts *opts)
{
	if (!opts)
		return 0;
	if (isnan(opts->delay))
		return -EINVAL;
	if (opts->group && opts->group->hub != h)
		return -EPERM;
	return opts->group && opts->group->cancelled ? -ECANCELED : 0;
}

static void init_record(struct mt__hub *h, mt_greenlet *g, mt_fn fn, void *arg,
			const mt_greenlet_opts *opts)
{
	g->fiber = (struct mt__fiber){.coro = g->fiber.coro, .deadline = MT__FOREVER,
				      .greenlet = true};
	g->hub = h;
	g->fn = fn;
	g->arg = arg;
	g->exitcode = MT_NOEXIT;
	g->ended = false;
	g->delay = opts ? opts->delay : 0;
	g->run_start_us = 0;
	g->trace_id = 0;
	g->joiners = (mt_hub_waitq){NULL, NULL};
	g->group = opts ? opts->group : NULL;
	mt__list_add(&h->live, &g->live_node);
	h->live_count++;
	if (g->group) {
		mt__list_add(&g->group->members, &g->group_node);
		g->group->size++;
	} else {
		mt__list_init(&g->group_node);
	}
}

int mt_greenlet_spawn(mt_greenlet **out, mt_fn fn, void *arg, const mt_greenlet_opts *opts)
{
	if (!fn)
		return -EINVAL;
	struct mt__hub *h = mt__hub_get();
	if (!h)
		return -ENOMEM;
	int err = check_options(h, opts);
	if (err)
		return err;
	mt_greenlet *g = record_get(h);
	if (!g)
		return -ENOMEM;
	err = mt_coro_new(&g->fiber.coro, greenlet_main, opts ? opts->stack_size : 0);
	if (err) {
		record_put(h, g);
		return err;
	}
	/* A greenlet spawned by a greenlet would have it as parent. */
	if (mt_coro_parent(g->fiber.coro) != h->coro)
		mt_coro_set_parent(g->fiber.coro, h->coro);
	if (opts && opts->name)
		mt_coro_set_name(g->fiber.coro, opts->name);
	init_record(h, g, fn, arg, opts);
	g->detached = out == NULL;
	mt__hub_schedule(h, &g->fiber);
	if (out)
		*out = g;
	return 0;
}

/* ---- ends ---- */

static void leave_group(struct mt__hub *h, mt_greenlet *g)
{
	mt_group *grp = g->group;
	if (!grp)
		return;
	mt__list_del(&g->group_node);
	g->group = NULL;
	if (--grp->size == 0)
		mt__waitq_wake_all(h, &grp->emptied, 0);
}

void mt__greenlet_ended(struct mt__hub *h, mt_greenlet *g)
{
	if (mt__trace_on())
		mt__hub_trace_run_end(g, g->exitcode);
	g->ended = true;
	mt__list_del(&g->live_node);
	leave_group(h, g);
	mt__waitq_wake_all(h, &g->joiners, 0);
	if (g->detached)
		release(h, g);
	if (--h->live_count == 0)
		mt__hub_idle(h);
}

/* The thread's exit: live greenlets are taken out of their waits and
 * freed (mt_coro_free ends a suspended coroutine, running its cleanups
 * while coro.c's thread state lasts; their waits return -ECANCELED). */
void mt__greenlet_reap_all(struct mt__hub *h)
{
	while (mt__list_linked(&h->live)) {
		mt_greenlet *g = mt__list_entry(h->live.next, mt_greenlet, live_node);
		if (g->fiber.wait)
			mt__unwait(h, g->fiber.wait);
		g->fiber.cancelled = g->fiber.killed = g->fiber.exiting = true;
		h->current = g; /* its cleanups run as g: their waits see it cancelled */
		mt_coro_free(g->fiber.coro);
		h->current = NULL;
		g->fiber.coro = NULL;
		g->exitcode = -ECANCELED;
		g->ended = true;
		mt__list_del(&g->live_node);
		h->live_count--;
		leave_group(h, g);
		g->hub = NULL; /* a joinable one's handle is freed alone */
		if (g->detached)
			free(g);
	}
	while (h->free_records) {
		mt_greenlet *g = h->free_records;
		h->free_records = g->next_free;
		free(g);
	}
}

/* ---- join, kill, cancel ---- */

static int check_handle(const mt_greenlet *g, struct mt__hub **h)
{
	if (!g)
		return -EINVAL;
	if (g->ended)
		return 0;
	*h = mt__hub_get();
	return g->hub == *h ? 0 : -EPERM;
}

static int join_until(mt_greenlet *g, uint64_t deadline)
{
	struct mt__hub *h = NULL;
	int err = check_handle(g, &h);
	if (err || g->ended)
		return err;
	if (mt__hub_current_greenlet(h) == g)
		return -EDEADLK;
	struct mt__waiter w;
	mt__waiter_init(&w);
	w.joined = g;
	mt__waitq_push(&g->joiners, &w.link);
	return mt__park(h, &w, deadline);
}

int mt_greenlet_join(mt_greenlet *g, double timeout)
{
	uint64_t deadline;
	if (mt__hub_deadline(timeout, &deadline))
		return -EINVAL;
	return join_until(g, deadline);
}

int mt_greenlet_joinall(mt_greenlet *const *gs, size_t n, double timeout)
{
	uint64_t deadline;
	if ((!gs && n) || mt__hub_deadline(timeout, &deadline))
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		int err = gs[i] ? join_until(gs[i], deadline) : 0;
		if (err)
			return err;
	}
	return 0;
}

/* Marks g cancelled (and killed) and wakes it from its wait. */
static void interrupt(struct mt__hub *h, mt_greenlet *g, bool kill)
{
	g->fiber.cancelled = true;
	g->fiber.killed |= kill;
	if (g->fiber.wait)
		mt__wake(h, g->fiber.wait, -ECANCELED);
}

int mt_greenlet_kill(mt_greenlet *g, double timeout)
{
	uint64_t deadline;
	struct mt__hub *h = NULL;
	int err = mt__hub_deadline(timeout, &deadline);
	if (!err)
		err = check_handle(g, &h);
	if (err || g->ended)
		return err;
	interrupt(h, g, true);
	if (mt__hub_current_greenlet(h) == g)
		mt__greenlet_end_killed(g);
	return timeout == 0 ? 0 : join_until(g, deadline);
}

int mt_greenlet_cancel(mt_greenlet *g)
{
	struct mt__hub *h = NULL;
	int err = check_handle(g, &h);
	if (!err && !g->ended)
		interrupt(h, g, false);
	return err;
}

void mt_greenlet_free(mt_greenlet *g)
{
	if (!g)
		return;
	if (!g->hub) { /* reaped at its thread's exit */
		free(g);
		return;
	}
	if (!g->ended && mt__hub_current_greenlet(g->hub) != g)
		mt_greenlet_kill(g, -1);
	if (!g->ended) {
		g->detached = true; /* itself, or a cancelled caller: freed at its end */
		return;
	}
	release(g->hub, g);
}

/* ---- questions ---- */

bool mt_greenlet_dead(const mt_greenlet *g)
{
	return g && g->ended;
}

int mt_greenlet_exitcode(const mt_greenlet *g)
{
	return g && g->ended ? g->exitcode : MT_NOEXIT;
}

bool mt_greenlet_killed(const mt_greenlet *g)
{
	return g && g->ended && g->fiber.killed && g->exitcode == -ECANCELED;
}

const char *mt_greenlet_name(const mt_greenlet *g)
{
	return g && g->fiber.coro ? mt_coro_name(g->fiber.coro) : "?";
}

/* A thread without a hub runs no greenlet: asking makes none (the
 * LD_PRELOAD library asks at every socket call of every thread). */
mt_greenlet *mt_greenlet_current(void)
{
	struct mt__hub *h = mt__hub_peek();
	return h ? mt__hub_current_greenlet(h) : NULL;
}

/* ---- groups ---- */

int mt_group_new(mt_group **out)
{
	if (!out)
		return -EINVAL;
	struct mt__hub *h = mt__hub_get();
	mt_group *grp = h ? calloc(1, sizeof *grp) : NULL;
	if (!grp)
		return -ENOMEM;
	grp->hub = h;
	mt__list_init(&grp->members);
	*out = grp;
	return 0;
}

size_t mt_group_size(const mt_group *grp)
{
	return grp ? grp->size : 0;
}

static int group_join_until(mt_group *grp, uint64_t deadline)
{
	int err = 0;
	while (!err && grp->size) {
		struct mt__waiter w;
		mt__waiter_init(&w);
		w.what = "group join";
		mt__waitq_push(&grp->emptied, &w.link);
		err = mt__park(grp->hub, &w, deadline);
	}
	return err;
}

int mt_group_join(mt_group *grp, double timeout)
{
	uint64_t deadline;
	if (!grp || mt__hub_deadline(timeout, &deadline))
		return -EINVAL;
	if (grp->hub != mt__hub_get())
		return -EPERM;
	return group_join_until(grp, deadline);
}

int mt_group_cancel(mt_group *grp)
{
	if (!grp)
		return -EINVAL;
	if (grp->hub != mt__hub_get())
		return -EPERM;
	grp->cancelled = true;
	mt__list_for_each(node, &grp->members)
		interrupt(grp->hub, mt__list_entry(node, mt_greenlet, group_node), false);
	return 0;
}

static bool is_member(const mt_group *grp, const mt_greenlet *g)
{
	return g && g->group == grp;
}

int mt_group_close(mt_group *grp, double timeout)
{
	uint64_t deadline;
	if (!grp || mt__hub_deadline(timeout, &deadline))
		return -EINVAL;
	int err = mt_group_cancel(grp);
	if (err)
		return err;
	if (is_member(grp, mt__hub_current_greenlet(grp->hub)))
		return -EDEADLK;
	err = group_join_until(grp, deadline);
	if (err) {
		/* All are marked before any runs, so that none gets past its
		 * wait; each end then shrinks the list. */
		mt__list_for_each(node, &grp->members)
			interrupt(grp->hub, mt__list_entry(node, mt_greenlet, group_node), true);
		while (grp->size) {
			mt_greenlet *g = mt__list_entry(grp->members.next, mt_greenlet, group_node);
			if (join_until(g, MT__FOREVER))
				break; /* the caller is cancelled: its waits return at once */
		}
	}
	while (mt__list_linked(&grp->members)) { /* a cancelled caller could not wait */
		struct mt__list *node = grp->members.next;
		mt__list_del(node);
		mt__list_entry(node, mt_greenlet, group_node)->group = NULL;
	}
	free(grp);
	return err;
}
