/* test_examples_more.c: the queue, ipc and coroutine programs of
 * examples/, run and checked as test_examples.c does the others. */
#include "example_run.h"

static void queue_basics_refuses_the_sixth_and_orders_each_kind(void **state)
{
	static struct run r;
	run_example(&r, "queue_basics", NULL);
	assert_string_equal(r.out,
			    "阻塞前 (before): qsize 5, full 1\n"
			    "put_nowait(6): would block: full or empty (EAGAIN), so 6 goes to a "
			    "list of our own\n"
			    "阻塞后 (after)\n"
			    "get x5: 1 2 3 4 5\n"
			    "get_nowait(): would block: full or empty (EAGAIN)\n"
			    "LifoQueue (last in, first out): 3 2 1\n"
			    "PriorityQueue (smallest number first): 10 11 20 30\n");
}

static void producer_joins_until_the_consumer_did_all_ten(void **state)
{
	static struct run r;
	run_example(&r, "queue_producer_consumer", NULL);
	/* The producer's join returns only after the tenth task_done, which
	 * follows the tenth line; the main thread's line comes after that. */
	assert_string_equal(r.out, "0\n1\n2\n3\n4\n5\n6\n7\n8\n9\n"
				   "producer: all 10 done\n"
				   "这是主进程 (the main thread)\n");
}

/* ---- Pipe, Value and Array between processes ---- */

static void pipe_ping_answers_each_ping_then_ends_with_eof(void **state)
{
	static struct run r;
	run_example(&r, "pipe_ping", NULL);
	int parent, child;
	scan_line(&r, "sends \"ping 1\"", 1, "parent %d: sends \"ping 1\"", &parent);
	scan_line(&r, "got \"ping 1\"", 1, "child %d: got \"ping 1\", answers \"pong 1\"", &child);
	assert_int_not_equal(parent, child);
	/* Each ping is answered before the next is sent; the child's last
	 * line and the parent's third "got" may come in either order. */
	const char *steps[] = {"sends \"ping 1\"", "got \"ping 1\"", "parent: got \"pong 1\"",
			       "sends \"ping 2\"", "got \"ping 2\"", "parent: got \"pong 2\"",
			       "sends \"ping 3\"", "got \"ping 3\"", "parent: got \"pong 3\"",
			       "parent: got \"[42, None, 'hello']\"",
			       "(EPIPE): the child closed its end", "child exitcode 0\n"};
	for (size_t i = 0; i + 1 < sizeof steps / sizeof steps[0]; i++)
		assert_in_order(&r, steps[i], steps[i + 1]);
	assert_in_order(&r, "got \"ping 3\"", "closes its end");
	assert_in_order(&r, "closes its end", "parent: got \"[42, None, 'hello']\"");
	assert_int_equal(count_of(&r, "pong"), 6);
}

static void value_and_array_are_shared_by_every_process(void **state)
{
	static struct run r;
	run_example(&r, "value_array", NULL);
	assert_string_equal(r.out,
			    "Value('l', 0) after 4 processes added 1 1000 times under its lock: "
			    "4000\n"
			    "Value('d', 0.0) after the child set it: 3.1415927\n"
			    "Array('i', range(10)) after 5 children squared their pairs: "
			    "[0, 1, 4, 9, 16, 25, 36, 49, 64, 81]\n");
}

/* ---- Queue and JoinableQueue between processes ---- */

static void ipc_consumers_eat_each_item_once_and_stop_at_their_sentinels(void **state)
{
	static struct run r;
	run_example(&r, "ipc_producer_consumer", NULL);
	assert_int_equal(count_of(&r, " made "), 10);
	assert_int_equal(count_of(&r, " ate "), 10);
	for (int producer = 1; producer <= 2; producer++) {
		for (int i = 0; i < 5; i++) {
			char made[64], ate[64];
			snprintf(made, sizeof made, "made 包子 %d-%d\n", producer, i);
			snprintf(ate, sizeof ate, "ate 包子 %d-%d\n", producer, i);
			assert_int_equal(count_of(&r, ate), 1);
			assert_in_order(&r, made, ate);
		}
	}
	assert_int_equal(count_of(&r, "consumer 1: no more\n"), 1);
	assert_int_equal(count_of(&r, "consumer 2: no more\n"), 1);
	const char *last = "主进程 (main): every 包子 eaten, finished\n";
	assert_int_equal(position_of(&r, last) + strlen(last), r.len);
}

static void joinable_producer_joins_until_the_customer_did_all_ten(void **state)
{
	static struct run r;
	run_example(&r, "joinable_queue", NULL);
	/* The customer prints each number before its task_done; the
	 * producer's join returns after the tenth. */
	assert_string_equal(r.out, "0\n1\n2\n3\n4\n5\n6\n7\n8\n9\n"
				   "producer: all 10 done\n"
				   "这是主进程 (the main process)\n");
}

/* ---- coroutines (greenlet) ---- */

static void greenlet_eat_and_play_take_turns_and_play_ends_first(void **state)
{
	static struct run r;
	run_example(&r, "greenlet_eat_play", NULL);
	assert_string_equal(r.out, "egon eat 1 (吃)\n"
				   "egon play 1 (玩)\n"
				   "egon eat 2 (吃)\n"
				   "egon play 2 (玩)\n"
				   "main got back: play's result; eat dead: no, play dead: yes\n"
				   "hello, ming\n"
				   "hello, hong\n"
				   "hello, egon\n"
				   "greeted 3\n");
}

static void thrown_and_finished_downloads_close_file_then_connection(void **state)
{
	static struct run r;
	run_example(&r, "coro_kill_cleanup", NULL);
	assert_string_equal(r.out, "throw into a.iso after 3 chunks:\n"
				   "  a.iso: connect, open a.iso.part\n"
				   "main: got chunk 1 of a.iso\n"
				   "main: got chunk 2 of a.iso\n"
				   "main: got chunk 3 of a.iso\n"
				   "  cleanup: a.iso.part closed and removed\n"
				   "  cleanup: connection for a.iso closed\n"
				   "main: a.iso ended with \"enough\", dead 1, thrown 1\n"
				   "let b.iso finish:\n"
				   "  b.iso: connect, open b.iso.part\n"
				   "main: got chunk 1 of b.iso\n"
				   "main: got chunk 2 of b.iso\n"
				   "main: got chunk 3 of b.iso\n"
				   "  b.iso: complete\n"
				   "  cleanup: b.iso.part closed and removed\n"
				   "  cleanup: connection for b.iso closed\n"
				   "main: b.iso dead 1, thrown 0\n"
				   "kill c.iso before it starts:\n"
				   "main: kill returned 0; c.iso started 0, dead 1\n");
}

/* ---- the hub (gevent) ---- */

static void two_greenlets_sleep_and_download_at_the_same_time(void **state)
{
	static struct run r;
	run_example(&r, "gevent_spawn_join", NULL);
	const char *steps[] = {"eat start\n", "start sleep\n", "eat end\n", "end sleep\n",
			       "both slept 1 s", "download a: request sent, waiting\n",
			       "download b: request sent, waiting\n", "download a: got \"page\"\n",
			       "download b: got \"page\"\n", "two 0.5 s downloads"};
	for (size_t i = 0; i + 1 < sizeof steps / sizeof steps[0]; i++)
		assert_in_order(&r, steps[i], steps[i + 1]);
	/* The order above proves the waits overlap (both downloads wait
	 * before either gets its page); the times only must not be shorter
	 * than the waits. An upper bound would be a bet on the machine's
	 * load. */
	double sleeps, downloads;
	scan_line(&r, "both slept", 1, "both slept 1 s, together in %lf s\n", &sleeps);
	scan_line(&r, "two 0.5 s", 1, "two 0.5 s downloads, together in %lf s\n", &downloads);
	assert_true(sleeps >= 0.95);
	assert_true(downloads >= 0.45);
}

static void hubs_on_two_threads_share_a_port(void **state)
{
	static struct run r;
	run_example(&r, "hub_reuseport", NULL);
	assert_string_equal(r.out, "2 hubs on 2 threads answered 20 of 20 connections\n");
}

static void the_echo_server_answers_every_client_then_its_group_closes(void **state)
{
	static struct run r;
	run_example(&r, "coro_echo_server", NULL);
	assert_string_equal(r.out, "10 clients, 5 lines each, echoed in upper case: 10 ok\n"
				   "group closed: success; greenlets left 0\n");
}

int main(void)
{
	quiet_tsan_exit_of_examples();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(greenlet_eat_and_play_take_turns_and_play_ends_first),
		cmocka_unit_test(thrown_and_finished_downloads_close_file_then_connection),
		cmocka_unit_test(two_greenlets_sleep_and_download_at_the_same_time),
		cmocka_unit_test(the_echo_server_answers_every_client_then_its_group_closes),
		cmocka_unit_test(hubs_on_two_threads_share_a_port),
		cmocka_unit_test(ipc_consumers_eat_each_item_once_and_stop_at_their_sentinels),
		cmocka_unit_test(joinable_producer_joins_until_the_customer_did_all_ten),
		cmocka_unit_test(queue_basics_refuses_the_sixth_and_orders_each_kind),
		cmocka_unit_test(producer_joins_until_the_consumer_did_all_ten),
		cmocka_unit_test(pipe_ping_answers_each_ping_then_ends_with_eof),
		cmocka_unit_test(value_and_array_are_shared_by_every_process),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
