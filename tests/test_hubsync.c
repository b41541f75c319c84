/* test_hubsync.c: the hub's Lock, Event and Semaphore for greenlets
 * (arrival order, timeouts, ownership errors), and channels: order,
 * close, full and empty, select over several with timeouts and close. */
#include <errno.h>

#include "hub_testutil.h"

/* ---- Lock, Event, Semaphore ---- */

static mt_hub_lock lock = MT_HUB_LOCK_INIT;

static int hold_the_lock_across_a_sleep(void *arg)
{
	if (mt_hub_lock_acquire(&lock, 5))
		return -1;
	note(arg);
	mt_hub_sleep(0.005);
	note(arg);
	return mt_hub_lock_release(&lock);
}

static int release_the_lock(void *arg)
{
	return mt_hub_lock_release(&lock);
}

static void the_lock_keeps_holders_apart_in_arrival_order(void **state)
{
	reset_trail();
	mt_greenlet *g[3] = {spawn(hold_the_lock_across_a_sleep, "a"),
			     spawn(hold_the_lock_across_a_sleep, "b"),
			     spawn(hold_the_lock_across_a_sleep, "c")};
	assert_int_equal(mt_greenlet_joinall(g, 3, 5), 0);
	assert_string_equal(trail, "aabbcc");
	for (int i = 0; i < 3; i++)
		mt_greenlet_free(g[i]);
	assert_int_equal(mt_hub_lock_acquire(&lock, 0), 0);
	assert_int_equal(mt_hub_lock_acquire(&lock, 0), -EDEADLK);
	mt_greenlet *other = spawn(release_the_lock, NULL);
	assert_int_equal(mt_greenlet_join(other, 5), 0);
	assert_int_equal(mt_greenlet_exitcode(other), -EPERM);
	mt_greenlet_free(other);
	assert_int_equal(mt_hub_lock_release(&lock), 0);
	assert_int_equal(mt_hub_lock_release(&lock), -EPERM);
}

static int try_lock_briefly(void *arg)
{
	return mt_hub_lock_acquire(&lock, 0.01);
}

static void a_lock_wait_times_out(void **state)
{
	assert_int_equal(mt_hub_lock_acquire(&lock, 0), 0);
	mt_greenlet *g = spawn(try_lock_briefly, NULL);
	assert_int_equal(mt_greenlet_join(g, 5), 0);
	assert_int_equal(mt_greenlet_exitcode(g), -ETIMEDOUT);
	mt_greenlet_free(g);
	assert_int_equal(mt_hub_lock_release(&lock), 0);
}

static mt_hub_event light;

static int wait_for_green(void *arg)
{
	int err = mt_hub_event_wait(&light, 5);
	note(arg);
	return err;
}

static void an_event_wakes_every_waiter(void **state)
{
	reset_trail();
	mt_hub_event_clear(&light);
	mt_greenlet *g[2] = {spawn(wait_for_green, "1"), spawn(wait_for_green, "2")};
	assert_int_equal(mt_hub_yield(), 0);
	assert_string_equal(trail, "");
	assert_int_equal(mt_hub_event_wait(&light, 0.01), -ETIMEDOUT);
	note("set");
	mt_hub_event_set(&light);
	assert_true(mt_hub_event_is_set(&light));
	assert_int_equal(mt_greenlet_joinall(g, 2, 5), 0);
	assert_string_equal(trail, "set12");
	assert_int_equal(mt_greenlet_exitcode(g[0]), 0);
	mt_greenlet_free(g[0]);
	mt_greenlet_free(g[1]);
	assert_int_equal(mt_hub_event_wait(&light, 0), 0);
}

static mt_hub_sem slots = MT_HUB_SEM_INIT(2);
static int inside, most_inside;

static int use_a_slot(void *arg)
{
	if (mt_hub_sem_acquire(&slots, 5))
		return -1;
	if (++inside > most_inside)
		most_inside = inside;
	mt_hub_sleep(0.005);
	inside--;
	return mt_hub_sem_release(&slots);
}

static void a_semaphore_lets_two_in_at_a_time(void **state)
{
	mt_greenlet *g[5];
	for (int i = 0; i < 5; i++)
		g[i] = spawn(use_a_slot, NULL);
	assert_int_equal(mt_greenlet_joinall(g, 5, 5), 0);
	assert_int_equal(most_inside, 2);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(mt_greenlet_exitcode(g[i]), 0);
		mt_greenlet_free(g[i]);
	}
	assert_int_equal(slots.value, 2);
	assert_int_equal(mt_hub_sem_acquire(&slots, 0), 0);
	assert_int_equal(mt_hub_sem_acquire(&slots, 0), 0);
	assert_int_equal(mt_hub_sem_acquire(&slots, 0.01), -ETIMEDOUT);
	assert_int_equal(mt_hub_sem_init(&slots, 2), 0);
}

/* ---- channels ---- */

static int send_three_then_close(void *arg)
{
	mt_chan *ch = arg;
	for (intptr_t i = 1; i <= 3; i++)
		if (mt_chan_send(ch, (void *)i, 5))
			return -1;
	return mt_chan_close(ch);
}

static void a_channel_delivers_in_order_then_reports_its_close(void **state)
{
	for (size_t capacity = 0; capacity <= 2; capacity += 2) {
		mt_chan *ch;
		assert_int_equal(mt_chan_new(&ch, capacity), 0);
		mt_greenlet *g = spawn(send_three_then_close, ch);
		void *item;
		for (intptr_t i = 1; i <= 3; i++) {
			assert_int_equal(mt_chan_recv(ch, &item, 5), 0);
			assert_ptr_equal(item, (void *)i);
		}
		assert_int_equal(mt_chan_recv(ch, &item, 5), -EPIPE);
		assert_int_equal(mt_chan_send(ch, NULL, 5), -EPIPE);
		assert_int_equal(mt_chan_close(ch), -EALREADY);
		join_and_free(g);
		mt_chan_free(ch);
	}
}

static void a_full_channel_refuses_and_times_out(void **state)
{
	mt_chan *ch;
	assert_int_equal(mt_chan_new(&ch, 1), 0);
	assert_int_equal(mt_chan_send(ch, "a", 0), 0);
	assert_int_equal(mt_chan_len(ch), 1);
	assert_int_equal(mt_chan_send(ch, "b", 0), -EAGAIN);
	assert_int_equal(mt_chan_send(ch, "b", 0.01), -ETIMEDOUT);
	void *item;
	assert_int_equal(mt_chan_recv(ch, &item, 0), 0);
	assert_string_equal(item, "a");
	assert_int_equal(mt_chan_recv(ch, &item, 0), -EAGAIN);
	assert_int_equal(mt_chan_recv(ch, &item, 0.01), -ETIMEDOUT);
	assert_int_equal(mt_chan_recv(ch, NULL, 0), -EINVAL);
	mt_chan_free(ch);
}

static mt_chan *slow, *fast;

static int send_after(void *arg)
{
	mt_hub_sleep(0.01);
	return mt_chan_send(arg == (void *)1 ? slow : fast, arg, 5);
}

static void select_takes_whichever_channel_is_ready_first(void **state)
{
	assert_int_equal(mt_chan_new(&slow, 0), 0);
	assert_int_equal(mt_chan_new(&fast, 0), 0);
	mt_chan_op ops[2] = {{.ch = slow, .op = MT_CHAN_RECV}, {.ch = fast, .op = MT_CHAN_RECV}};
	assert_int_equal(mt_chan_select(ops, 2, 0), -EAGAIN);
	assert_int_equal(mt_chan_select(ops, 2, 0.01), -ETIMEDOUT);
	mt_greenlet *g = spawn(send_after, (void *)2);
	assert_int_equal(mt_chan_select(ops, 2, 5), 1);
	assert_int_equal(ops[1].err, 0);
	assert_ptr_equal(ops[1].item, (void *)2);
	join_and_free(g);
	/* A send on a closed channel completes, with its error. */
	mt_chan_op send_op = {.ch = slow, .op = MT_CHAN_SEND, .item = "s"};
	assert_int_equal(mt_chan_close(slow), 0);
	assert_int_equal(mt_chan_select(&send_op, 1, 5), 0);
	assert_int_equal(send_op.err, -EPIPE);
	assert_int_equal(mt_chan_select(ops, 2, 5), 0); /* the closed channel is ready */
	assert_int_equal(ops[0].err, -EPIPE);
	assert_int_equal(mt_chan_select(ops, 0, 1), -EINVAL);
	mt_chan_free(slow);
	mt_chan_free(fast);
}

static int close_later(void *arg)
{
	mt_hub_sleep(0.01);
	return mt_chan_close(arg);
}

static void closing_a_channel_wakes_a_waiting_select(void **state)
{
	mt_chan *a, *b;
	assert_int_equal(mt_chan_new(&a, 0), 0);
	assert_int_equal(mt_chan_new(&b, 1), 0);
	assert_int_equal(mt_chan_send(b, "full", 0), 0);
	mt_chan_op ops[2] = {{.ch = a, .op = MT_CHAN_RECV}, {.ch = b, .op = MT_CHAN_SEND}};
	mt_greenlet *g = spawn(close_later, a);
	assert_int_equal(mt_chan_select(ops, 2, 5), 0);
	assert_int_equal(ops[0].err, -EPIPE);
	join_and_free(g);
	mt_chan_free(a);
	mt_chan_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(the_lock_keeps_holders_apart_in_arrival_order),
		cmocka_unit_test(a_lock_wait_times_out),
		cmocka_unit_test(an_event_wakes_every_waiter),
		cmocka_unit_test(a_semaphore_lets_two_in_at_a_time),
		cmocka_unit_test(a_channel_delivers_in_order_then_reports_its_close),
		cmocka_unit_test(a_full_channel_refuses_and_times_out),
		cmocka_unit_test(select_takes_whichever_channel_is_ready_first),
		cmocka_unit_test(closing_a_channel_wakes_a_waiting_select),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
