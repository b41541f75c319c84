/* hubsync.c: Lock, Event and Semaphore for greenlets, and channels with
 * close and select.
 *
 * All of them live on one hub's thread, so nothing here is atomic: a
 * greenlet runs until it waits, and the state it sees cannot change
 * under it. Waiters queue in arrival order (mt_hub_waitq). What a waiter
 * waits for is handed to it by the waker before it runs: a released lock
 * gets the first waiter as holder, a semaphore's unit goes straight to
 * the first waiter, a channel's item is written into the waiting
 * receiver's link (or taken from the waiting sender's). So nobody can
 * overtake a woken waiter between its wake-up and its turn to run, and a
 * woken waiter never has to check again. */
#include <errno.h>
#include <stdlib.h>

#include "hub_private.h"

/* The hub and deadline of a waiting call, or its error. */
static int wait_begin(double timeout, uint64_t *deadline, struct mt__hub **h)
{
	if (mt__hub_deadline(timeout, deadline))
		return -EINVAL;
	*h = mt__hub_get();
	return *h ? 0 : -ENOMEM;
}

/* Queues the caller on q and parks it; what names the wait in traces. */
static int wait_on(struct mt__hub *h, mt_hub_waitq *q, uint64_t deadline, const char *what)
{
	struct mt__waiter w;
	mt__waiter_init(&w);
	w.what = what;
	mt__waitq_push(q, &w.link);
	return mt__park(h, &w, deadline);
}

/* ---- Lock ---- */

int mt_hub_lock_acquire(mt_hub_lock *l, double timeout)
{
	uint64_t deadline;
	struct mt__hub *h;
	if (!l)
		return -EINVAL;
	int err = wait_begin(timeout, &deadline, &h);
	if (err)
		return err;
	mt_coro *me = mt_coro_current();
	if (!l->holder) {
		l->holder = me;
		return 0;
	}
	if (l->holder == me)
		return -EDEADLK;
	return wait_on(h, &l->waiters, deadline, "lock"); /* 0: the releaser made us holder */
}

int mt_hub_lock_release(mt_hub_lock *l)
{
	if (!l)
		return -EINVAL;
	if (!l->holder || l->holder != mt_coro_current())
		return -EPERM;
	struct mt__wait_link *next = mt__waitq_first(&l->waiters);
	l->holder = next ? next->waiter->fiber->coro : NULL;
	if (next)
		mt__wake_link(mt__hub_get(), next, 0);
	return 0;
}

/* ---- Event ---- */

void mt_hub_event_set(mt_hub_event *e)
{
	if (!e)
		return;
	e->set = true;
	if (e->waiters.head)
		mt__waitq_wake_all(mt__hub_get(), &e->waiters, 0);
}

void mt_hub_event_clear(mt_hub_event *e)
{
	if (e)
		e->set = false;
}

bool mt_hub_event_is_set(const mt_hub_event *e)
{
	return e && e->set;
}

int mt_hub_event_wait(mt_hub_event *e, double timeout)
{
	uint64_t deadline;
	struct mt__hub *h;
	if (!e)
		return -EINVAL;
	int err = wait_begin(timeout, &deadline, &h);
	if (err || e->set)
		return err;
	return wait_on(h, &e->waiters, deadline, "event");
}

/* ---- Semaphore ---- */

int mt_hub_sem_init(mt_hub_sem *s, unsigned value)
{
	if (!s)
		return -EINVAL;
	*s = (mt_hub_sem)MT_HUB_SEM_INIT(value);
	return 0;
}

int mt_hub_sem_acquire(mt_hub_sem *s, double timeout)
{
	uint64_t deadline;
	struct mt__hub *h;
	if (!s)
		return -EINVAL;
	int err = wait_begin(timeout, &deadline, &h);
	if (err)
		return err;
	if (s->value > 0) {
		s->value--;
		return 0;
	}
	return wait_on(h, &s->waiters, deadline, "semaphore"); /* 0: a unit was handed over */
}

int mt_hub_sem_release(mt_hub_sem *s)
{
	if (!s)
		return -EINVAL;
	if (mt__waitq_first(&s->waiters)) {
		mt__waitq_wake_one(mt__hub_get(), &s->waiters, 0);
		return 0;
	}
	if (s->value == UINT32_MAX)
		return -EOVERFLOW;
	s->value++;
	return 0;
}

/* ---- channels ---- */

struct mt_chan {
	struct mt__hub *hub;
	void **items; /* a ring of capacity slots */
	size_t capacity, head, count;
	mt_hub_waitq senders, receivers; /* senders' links hold their items */
	bool closed;
};

int mt_chan_new(mt_chan **out, size_t capacity)
{
	if (!out || capacity > SIZE_MAX / sizeof(void *))
		return -EINVAL;
	struct mt__hub *h = mt__hub_get();
	mt_chan *ch = h ? calloc(1, sizeof *ch) : NULL;
	if (!ch)
		return -ENOMEM;
	ch->items = capacity ? malloc(capacity * sizeof *ch->items) : NULL;
	if (capacity && !ch->items) {
		free(ch);
		return -ENOMEM;
	}
	ch->hub = h;
	ch->capacity = capacity;
	*out = ch;
	return 0;
}

static void ring_put(mt_chan *ch, void *item)
{
	ch->items[(ch->head + ch->count++) % ch->capacity] = item;
}

static void *ring_take(mt_chan *ch)
{
	void *item = ch->items[ch->head];
	ch->head = (ch->head + 1) % ch->capacity;
	ch->count--;
	return item;
}

/* A send that does not wait: 0, -EPIPE, or -EAGAIN (it would). */
static int try_send(mt_chan *ch, void *item)
{
	if (ch->closed)
		return -EPIPE;
	struct mt__wait_link *receiver = mt__waitq_first(&ch->receivers);
	if (receiver) { /* then the buffer is empty */
		receiver->item = item;
		mt__wake_link(ch->hub, receiver, 0);
		return 0;
	}
	if (ch->count < ch->capacity) {
		ring_put(ch, item);
		return 0;
	}
	return -EAGAIN;
}

/* A receive that does not wait: 0, -EPIPE (closed and drained), -EAGAIN. */
static int try_recv(mt_chan *ch, void **item)
{
	struct mt__wait_link *sender = mt__waitq_first(&ch->senders);
	if (ch->count) {
		*item = ring_take(ch);
		if (sender) { /* its item takes the freed slot */
			ring_put(ch, sender->item);
			mt__wake_link(ch->hub, sender, 0);
		}
		return 0;
	}
	if (sender) { /* unbuffered: straight from the sender */
		*item = sender->item;
		mt__wake_link(ch->hub, sender, 0);
		return 0;
	}
	return ch->closed ? -EPIPE : -EAGAIN;
}

static int chan_begin(mt_chan *ch, double timeout, uint64_t *deadline)
{
	if (!ch || mt__hub_deadline(timeout, deadline))
		return -EINVAL;
	return ch->hub == mt__hub_peek() ? 0 : -EPERM;
}

int mt_chan_send(mt_chan *ch, void *item, double timeout)
{
	uint64_t deadline;
	int err = chan_begin(ch, timeout, &deadline);
	if (!err)
		err = try_send(ch, item);
	if (err != -EAGAIN || timeout == 0)
		return err;
	struct mt__waiter w;
	mt__waiter_init(&w);
	w.what = "channel send";
	w.link.item = item;
	mt__waitq_push(&ch->senders, &w.link);
	return mt__park(ch->hub, &w, deadline);
}

int mt_chan_recv(mt_chan *ch, void **item, double timeout)
{
	uint64_t deadline;
	int err = item ? chan_begin(ch, timeout, &deadline) : -EINVAL;
	if (!err)
		err = try_recv(ch, item);
	if (err != -EAGAIN || timeout == 0)
		return err;
	struct mt__waiter w;
	mt__waiter_init(&w);
	w.what = "channel recv";
	mt__waitq_push(&ch->receivers, &w.link);
	err = mt__park(ch->hub, &w, deadline);
	if (!err)
		*item = w.link.item;
	return err;
}

int mt_chan_close(mt_chan *ch)
{
	if (!ch)
		return -EINVAL;
	if (ch->hub != mt__hub_peek())
		return -EPERM;
	if (ch->closed)
		return -EALREADY;
	ch->closed = true;
	mt__waitq_wake_all(ch->hub, &ch->receivers, -EPIPE);
	mt__waitq_wake_all(ch->hub, &ch->senders, -EPIPE);
	return 0;
}

size_t mt_chan_len(const mt_chan *ch)
{
	return ch ? ch->count : 0;
}

void mt_chan_free(mt_chan *ch)
{
	if (ch) {
		free(ch->items);
		free(ch);
	}
}

/* ---- select ---- */

static int check_ops(const mt_chan_op *ops, size_t n)
{
	if (!ops || n == 0 || n > MT_CHAN_SELECT_MAX)
		return -EINVAL;
	struct mt__hub *h = mt__hub_peek();
	for (size_t i = 0; i < n; i++) {
		if (!ops[i].ch || (ops[i].op != MT_CHAN_SEND && ops[i].op != MT_CHAN_RECV))
			return -EINVAL;
		if (ops[i].ch->hub != h)
			return -EPERM;
	}
	return 0;
}

/* The first operation that can complete now, done; or -EAGAIN. */
static int select_now(mt_chan_op *ops, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int err = ops[i].op == MT_CHAN_SEND ? try_send(ops[i].ch, ops[i].item)
						    : try_recv(ops[i].ch, &ops[i].item);
		if (err != -EAGAIN) {
			ops[i].err = err;
			return (int)i;
		}
	}
	return -EAGAIN;
}

/* One waiter, a link on each channel's queue; the first to complete
 * wakes it and names its link. */
static int select_wait(mt_chan_op *ops, size_t n, uint64_t deadline)
{
	struct mt__wait_link links[MT_CHAN_SELECT_MAX];
	struct mt__waiter w;
	mt__waiter_init(&w);
	w.what = "channel select";
	for (size_t i = 0; i < n; i++) {
		links[i] = (struct mt__wait_link){.waiter = &w, .index = (int)i, .item = ops[i].item};
		mt_chan *ch = ops[i].ch;
		mt__waitq_push(ops[i].op == MT_CHAN_SEND ? &ch->senders : &ch->receivers, &links[i]);
	}
	w.links = links; /* mt__park unlinks them, even for a killed greenlet */
	w.link_count = n;
	int err = mt__park(ops[0].ch->hub, &w, deadline);
	if (err != 0 && err != -EPIPE)
		return err;
	mt_chan_op *op = &ops[w.chosen];
	op->err = err;
	if (op->op == MT_CHAN_RECV && !err)
		op->item = links[w.chosen].item;
	return w.chosen;
}

int mt_chan_select(mt_chan_op *ops, size_t n, double timeout)
{
	uint64_t deadline;
	int err = check_ops(ops, n);
	if (!err && mt__hub_deadline(timeout, &deadline))
		err = -EINVAL;
	if (err)
		return err;
	int chosen = select_now(ops, n);
	if (chosen != -EAGAIN || timeout == 0)
		return chosen;
	return select_wait(ops, n, deadline);
}
