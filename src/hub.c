/* hub.c: the hub of each thread: its ready queue, its loop, waits and
 * wake-ups, timers, sleep and yield, Timeout blocks.
 *
 * The loop runs on a coroutine of its own, the hub, as in gevent. Every
 * greenlet's parent is the hub, so a greenlet that ends hands over to it.
 * A fiber (a greenlet, or outside code waiting in a hub call) that waits
 * parks: it hands the CPU straight to the next ready fiber if there is
 * one (one switch, no detour through the hub), else to the hub, which
 * fires due timers and polls the descriptors, sleeping in the poller
 * until the next timer when nothing is ready. After POLL_EVERY fibers
 * have run without the hub polling (greenlets that only yield), the
 * next park goes through the hub, so that timers and IO are never
 * starved for long.
 *
 * The hub coroutine is always suspended at one place, its dispatch
 * switch, so any fiber may switch to it at any time: a parked fiber with
 * NULL, an ended greenlet with itself (its function's return value, or
 * the value it was thrown with), which is how the hub learns of ends and
 * frees detached greenlets off their stacks.
 *
 * When nothing is ready, no timer is set and nobody waits on a
 * descriptor, nothing can ever run again: the hub wakes the fibers that
 * wait outside greenlets with -EDEADLK (gevent's LoopExit). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub_private.h"

#define POLL_EVERY 64	       /* fibers run between two polls at most */
#define EVENTS_PER_POLL 64
#define RECORDS_CACHED 1024    /* greenlet records kept for reuse */
#define LONGEST_TIMEOUT 1e9    /* seconds; longer is for ever (clock.c's) */

static __thread struct mt__hub *this_hub MT_TLS_FAST;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static pthread_key_t hub_key;

/* ---- time ---- */

int mt__hub_deadline(double timeout, uint64_t *deadline)
{
	if (isnan(timeout))
		return -EINVAL;
	if (timeout < 0 || timeout > LONGEST_TIMEOUT)
		*deadline = MT__FOREVER;
	else
		*deadline = mt__now_ns() + (uint64_t)(timeout * 1e9);
	return 0;
}

/* ---- the timer heap: a binary min-heap of deadlines ---- */

static void heap_place(struct mt__hub *h, size_t i, struct mt__timer *t)
{
	h->heap[i] = t;
	t->index = i;
}

static void heap_up(struct mt__hub *h, size_t i)
{
	struct mt__timer *t = h->heap[i];
	while (i > 0 && h->heap[(i - 1) / 2]->at > t->at) {
		heap_place(h, i, h->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	heap_place(h, i, t);
}

static void heap_down(struct mt__hub *h, size_t i)
{
	struct mt__timer *t = h->heap[i];
	for (;;) {
		size_t child = 2 * i + 1;
		if (child >= h->timers)
			break;
		if (child + 1 < h->timers && h->heap[child + 1]->at < h->heap[child]->at)
			child++;
		if (h->heap[child]->at >= t->at)
			break;
		heap_place(h, i, h->heap[child]);
		i = child;
	}
	heap_place(h, i, t);
}

/* Grows by doubling: after warm-up, arming a timer allocates nothing. */
static int timer_add(struct mt__hub *h, struct mt__timer *t, uint64_t at)
{
	if (h->timers == h->heap_capacity) {
		size_t capacity = h->heap_capacity ? 2 * h->heap_capacity : 64;
		struct mt__timer **grown = realloc(h->heap, capacity * sizeof *grown);
		if (!grown)
			return -ENOMEM;
		h->heap = grown;
		h->heap_capacity = capacity;
	}
	t->at = at;
	heap_place(h, h->timers++, t);
	heap_up(h, t->index);
	return 0;
}

static void timer_remove(struct mt__hub *h, struct mt__timer *t)
{
	size_t i = t->index;
	if (i == SIZE_MAX)
		return;
	t->index = SIZE_MAX;
	struct mt__timer *last = h->heap[--h->timers];
	if (last == t)
		return;
	heap_place(h, i, last);
	heap_up(h, i);
	heap_down(h, last->index);
}

/* ---- the ready queue ---- */

void mt__hub_schedule(struct mt__hub *h, struct mt__fiber *f)
{
	f->next_ready = NULL;
	if (h->ready_tail)
		h->ready_tail->next_ready = f;
	else
		h->ready_head = f;
	h->ready_tail = f;
}

static struct mt__fiber *ready_pop(struct mt__hub *h)
{
	struct mt__fiber *f = h->ready_head;
	if (f) {
		h->ready_head = f->next_ready;
		if (!h->ready_head)
			h->ready_tail = NULL;
	}
	return f;
}

/* ---- wait queues ---- */

void mt__waitq_push(mt_hub_waitq *q, struct mt__wait_link *link)
{
	struct mt__wait_link *tail = q->tail;
	link->next = NULL;
	link->prev = tail;
	link->queue = q;
	if (tail)
		tail->next = link;
	else
		q->head = link;
	q->tail = link;
}

void mt__waitq_remove(struct mt__wait_link *link)
{
	mt_hub_waitq *q = link->queue;
	if (!q)
		return;
	if (link->prev)
		link->prev->next = link->next;
	else
		q->head = link->next;
	if (link->next)
		link->next->prev = link->prev;
	else
		q->tail = link->prev;
	link->queue = NULL;
}

struct mt__wait_link *mt__waitq_first(mt_hub_waitq *q)
{
	struct mt__wait_link *link;
	while ((link = q->head) && link->waiter->fired)
		mt__waitq_remove(link); /* a select woken through another link */
	return link;
}

void mt__wake(struct mt__hub *h, struct mt__waiter *w, int result)
{
	if (w->fired)
		return;
	w->fired = true;
	w->result = result;
	mt__hub_schedule(h, w->fiber);
}

void mt__wake_link(struct mt__hub *h, struct mt__wait_link *link, int result)
{
	mt__waitq_remove(link);
	link->waiter->chosen = link->index;
	mt__wake(h, link->waiter, result);
}

bool mt__waitq_wake_one(struct mt__hub *h, mt_hub_waitq *q, int result)
{
	struct mt__wait_link *link = mt__waitq_first(q);
	if (link)
		mt__wake_link(h, link, result);
	return link != NULL;
}

void mt__waitq_wake_all(struct mt__hub *h, mt_hub_waitq *q, int result)
{
	while (mt__waitq_wake_one(h, q, result))
		;
}

/* ---- the loop ---- */

static void wake_outsiders(struct mt__hub *h, int result)
{
	mt__list_for_each(node, &h->outsiders)
	{
		struct mt__fiber *f = mt__list_entry(node, struct mt__fiber, outside_node);
		mt__wake(h, f->wait, result);
	}
}

static void fire_timers(struct mt__hub *h, uint64_t now)
{
	while (h->timers && h->heap[0]->at <= now) {
		struct mt__timer *t = h->heap[0];
		timer_remove(h, t);
		mt__wake(h, (struct mt__waiter *)((char *)t - offsetof(struct mt__waiter, timer)),
			 -ETIMEDOUT);
	}
}

/* How long the poller may sleep: 0 with fibers ready, until the next
 * timer, for ever (-1) with none. */
static int64_t poll_timeout(struct mt__hub *h, uint64_t now)
{
	if (h->ready_head)
		return 0;
	if (!h->timers)
		return -1;
	uint64_t at = h->heap[0]->at;
	return at > now ? (int64_t)(at - now) : 0;
}

static void report_poll_failure(int err)
{
	fprintf(stderr, "mtask: hub: polling failed: %s\n", mt_strerror(err));
}

/* One turn of the event loop: timers and descriptors. */
static void poll_events(struct mt__hub *h)
{
	h->since_poll = 0;
	atomic_store_explicit(&h->running, NULL, memory_order_relaxed);
	uint64_t now = mt__now_ns();
	fire_timers(h, now);
	int64_t timeout = poll_timeout(h, now);
	if (timeout < 0 && !h->fd_waits) {
		wake_outsiders(h, -EDEADLK);
		if (!h->ready_head) {
			fprintf(stderr, "mtask: hub: every greenlet waits and nothing can wake "
					"one; aborting\n");
			abort();
		}
		return;
	}
	if (timeout == 0 && !h->fd_waits)
		return;
	struct mt__poll_event events[EVENTS_PER_POLL];
	int n = mt__poller_wait(h->poller, events, EVENTS_PER_POLL, timeout);
	if (n < 0)
		report_poll_failure(n);
	for (int i = 0; i < n; i++)
		mt__hub_fd_ready(h, events[i].fd, events[i].events);
	if (timeout != 0)
		fire_timers(h, mt__now_ns());
}

static void note_switch(struct mt__hub *h, struct mt__fiber *to)
{
	atomic_store_explicit(&h->switches,
			      atomic_load_explicit(&h->switches, memory_order_relaxed) + 1,
			      memory_order_relaxed);
	atomic_store_explicit(&h->running, to->greenlet ? (mt_greenlet *)to : NULL,
			      memory_order_relaxed);
}

/* first: the value the hub was started with: a greenlet that ended
 * before the hub ever ran (it ran by a direct hand-over), or NULL. */
static void *hub_loop(void *first)
{
	struct mt__hub *h = this_hub;
	if (first)
		mt__greenlet_ended(h, first);
	for (;;) {
		if (!h->ready_head || h->since_poll >= POLL_EVERY)
			poll_events(h);
		struct mt__fiber *f = ready_pop(h);
		if (!f)
			continue;
		h->since_poll++;
		note_switch(h, f);
		mt_greenlet *ended = mt_coro_switch(f->coro, f);
		h->current = NULL;
		if (ended)
			mt__greenlet_ended(h, ended);
	}
	return NULL;
}

/* ---- parking ---- */

mt_greenlet *mt__hub_current_greenlet(struct mt__hub *h)
{
	mt_greenlet *g = h->current;
	return g && g->fiber.coro == mt_coro_current() ? g : NULL;
}

void mt__waiter_init(struct mt__waiter *w)
{
	memset(w, 0, sizeof *w);
	w->timer.index = SIZE_MAX;
	w->link.waiter = w;
	w->fd = -1;
}

/* Runs the next ready fiber, or the hub; returns when self is resumed. */
static void suspend(struct mt__hub *h, struct mt__fiber *self)
{
	struct mt__fiber *next = NULL;
	if (h->since_poll < POLL_EVERY)
		next = ready_pop(h);
	if (next == self)
		return; /* a yield with nothing else to run */
	if (next) {
		h->since_poll++;
		note_switch(h, next);
		mt_coro_switch(next->coro, next);
	} else {
		mt_coro_switch(h->coro, NULL);
	}
}

/* Why a wait must not start: the caller is cancelled, or its deadline
 * (nearest of its own and its Timeout blocks') has passed. */
static int refuse_wait(struct mt__hub *h, struct mt__fiber *self, uint64_t *deadline)
{
	if (self->cancelled)
		return -ECANCELED;
	uint64_t block = self->greenlet ? self->deadline : h->outside_deadline;
	if (block < *deadline)
		*deadline = block;
	if (*deadline != MT__FOREVER && *deadline <= mt__now_ns())
		return -ETIMEDOUT;
	return 0;
}

void mt__unwait(struct mt__hub *h, struct mt__waiter *w)
{
	timer_remove(h, &w->timer);
	mt__waitq_remove(&w->link);
	for (size_t i = 0; i < w->link_count; i++)
		mt__waitq_remove(&w->links[i]);
	if (w->fd >= 0)
		mt__hub_fd_unwait(h, w);
}

void mt__greenlet_end_killed(mt_greenlet *g)
{
	g->fiber.exiting = true;
	g->exitcode = -ECANCELED;
	mt_coro_throw(g->fiber.coro, g);
	abort(); /* throwing into oneself never returns */
}

static int park_fiber(struct mt__hub *h, struct mt__fiber *self, struct mt__waiter *w,
		      uint64_t deadline)
{
	int err = refuse_wait(h, self, &deadline);
	if (!err && deadline != MT__FOREVER && !w->fired)
		err = timer_add(h, &w->timer, deadline);
	if (err)
		return err;
	w->fiber = self;
	self->wait = w;
	if (w->fired)
		mt__hub_schedule(h, self); /* a yield: back of the queue */
	if (!self->greenlet)
		mt__list_add(&h->outsiders, &self->outside_node);
	suspend(h, self);
	if (!self->greenlet)
		mt__list_del(&self->outside_node);
	self->wait = NULL;
	return w->result;
}

/* The wait itself, for g (NULL: the code outside greenlets). */
static int park(struct mt__hub *h, mt_greenlet *g, struct mt__waiter *w, uint64_t deadline)
{
	mt_greenlet *previous = h->current;
	struct mt__fiber outside, *self;
	if (g) {
		self = &g->fiber;
	} else {
		outside = (struct mt__fiber){.coro = mt_coro_current(), .deadline = MT__FOREVER};
		mt__list_init(&outside.outside_node);
		self = &outside;
	}
	int result = park_fiber(h, self, w, deadline);
	mt__unwait(h, w);
	h->current = g ? g : previous;
	return result;
}

/* A wait while tracing: the caller's run ends, the wait is described
 * before it starts (its descriptor slot is undone by the time it ends),
 * and a new run begins when the caller is back. A yield is no wait: it
 * only splits the run. */
static int park_traced(struct mt__hub *h, mt_greenlet *g, struct mt__waiter *w,
		       uint64_t deadline)
{
	char what[160];
	bool yield = w->fired;
	if (!yield)
		mt__hub_trace_describe(h, w, what, sizeof what);
	if (g)
		mt__hub_trace_run_end(g, MT_NOEXIT);
	double start_us = mt__now_us();
	int result = park(h, g, w, deadline);
	/* A sleep that reached its own deadline did what it was for. */
	bool slept = w->what && !strcmp(w->what, "sleep") && result == -ETIMEDOUT &&
		     mt__now_ns() >= deadline;
	if (!yield)
		mt__hub_trace_wait(h, g, what, start_us, slept ? 0 : result);
	if (g)
		g->run_start_us = mt__now_us();
	return result;
}

int mt__park(struct mt__hub *h, struct mt__waiter *w, uint64_t deadline)
{
	mt_greenlet *g = mt__hub_current_greenlet(h);
	int result = mt__trace_on() ? park_traced(h, g, w, deadline) : park(h, g, w, deadline);
	/* A wait that succeeded returns (a lock handed over stays held);
	 * the kill takes effect at the next wait. */
	if (g && g->fiber.killed && !g->fiber.exiting && result < 0)
		mt__greenlet_end_killed(g);
	return result;
}

/* ---- the hub of each thread ---- */

static void hub_destroy(void *arg);

static void make_key(void)
{
	pthread_key_create(&hub_key, hub_destroy);
}

static struct mt__hub *hub_create(void)
{
	pthread_once(&key_once, make_key);
	struct mt__hub *h = calloc(1, sizeof *h);
	if (!h)
		return NULL;
	mt__list_init(&h->live);
	mt__list_init(&h->outsiders);
	h->outside_deadline = MT__FOREVER;
	h->thread = pthread_self();
	if (mt__poller_create(&h->poller))
		goto out_free;
	if (mt_coro_new(&h->coro, hub_loop, 0))
		goto out_poller;
	mt_coro_set_name(h->coro, "hub");
	this_hub = h;
	pthread_setspecific(hub_key, h);
	mt__hub_monitor_add(h);
	return h;
out_poller:
	mt__poller_destroy(h->poller);
out_free:
	free(h);
	return NULL;
}

struct mt__hub *mt__hub_peek(void)
{
	return this_hub;
}

struct mt__hub *mt__hub_get(void)
{
	struct mt__hub *h = this_hub;
	return h ? h : hub_create();
}

/* The thread's exit: greenlets still alive are ended (their cleanups run,
 * their waits returning -ECANCELED), the hub's resources released. */
static void hub_destroy(void *arg)
{
	struct mt__hub *h = arg;
	mt__hub_monitor_remove(h);
	mt__greenlet_reap_all(h);
	mt_coro_free(h->coro);
	mt__hub_fds_free(h);
	mt__poller_destroy(h->poller);
	free(h->heap);
	this_hub = NULL;
	free(h);
}

/* ---- sleep, yield, wait ---- */

int mt_hub_sleep(double seconds)
{
	uint64_t deadline;
	if (seconds < 0 || mt__hub_deadline(seconds, &deadline))
		return -EINVAL;
	struct mt__hub *h = mt__hub_get();
	if (!h)
		return -ENOMEM;
	struct mt__waiter w;
	mt__waiter_init(&w);
	w.what = "sleep";
	if (seconds == 0) {
		w.fired = true;
		return mt__park(h, &w, MT__FOREVER);
	}
	int err = mt__park(h, &w, deadline);
	/* The sleep's own deadline is the one that ended it, unless a
	 * Timeout block's came first. */
	if (err == -ETIMEDOUT && mt__now_ns() >= deadline)
		err = 0;
	return err;
}

int mt_hub_yield(void)
{
	return mt_hub_sleep(0);
}

int mt_hub_wait(double timeout)
{
	uint64_t deadline;
	if (mt__hub_deadline(timeout, &deadline))
		return -EINVAL;
	struct mt__hub *h = mt__hub_get();
	if (!h)
		return -ENOMEM;
	if (mt__hub_current_greenlet(h))
		return -EPERM;
	int err = 0;
	while (!err && h->live_count) {
		struct mt__waiter w;
		mt__waiter_init(&w);
		w.what = "hub wait";
		mt__waitq_push(&h->idle, &w.link);
		err = mt__park(h, &w, deadline);
	}
	return err;
}

void mt__hub_idle(struct mt__hub *h)
{
	mt__waitq_wake_all(h, &h->idle, 0);
}

const char *mt_hub_backend(void)
{
	struct mt__hub *h = mt__hub_get();
	return h ? mt__poller_name(h->poller) : "none";
}

size_t mt_hub_live(void)
{
	struct mt__hub *h = this_hub;
	return h ? h->live_count : 0;
}

/* ---- Timeout blocks ---- */

static uint64_t *block_deadline(struct mt__hub *h, mt_greenlet *g)
{
	return g ? &g->fiber.deadline : &h->outside_deadline;
}

int mt_timeout_begin(mt_timeout *t, double seconds)
{
	uint64_t deadline;
	if (!t || mt__hub_deadline(seconds, &deadline))
		return -EINVAL;
	struct mt__hub *h = mt__hub_get();
	if (!h)
		return -ENOMEM;
	mt_greenlet *g = mt__hub_current_greenlet(h);
	uint64_t *current = block_deadline(h, g);
	t->owner = g;
	t->deadline_ns = deadline;
	t->outer_ns = *current;
	if (deadline < *current)
		*current = deadline;
	return 0;
}

bool mt_timeout_expired(const mt_timeout *t)
{
	return t && t->deadline_ns != MT__FOREVER && mt__now_ns() >= t->deadline_ns;
}

void mt_timeout_end(mt_timeout *t)
{
	struct mt__hub *h = this_hub;
	if (t && h)
		*block_deadline(h, t->owner) = t->outer_ns;
}
