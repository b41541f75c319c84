/* test_examples.c: runs every process, thread and lock program in
 * examples/ and checks that its output shows the lesson it teaches, in the
 * order the lesson needs (queues, ipc and coroutines: test_examples_more.c). */
#include "example_run.h"

/* ---- the raw system-call lessons ---- */

static void fork_returns_child_pid_to_parent_and_zero_to_child(void **state)
{
	static struct run r;
	run_example(&r, "fork_basics", NULL);
	int child, child_ppid, returned, parent;
	scan_line(&r, "new (", 2, "new (子进程 child): fork returned 0, pid %d, ppid %d", &child,
		  &child_ppid);
	scan_line(&r, "old (", 2, "old (父进程 parent): fork returned %d, pid %d", &returned,
		  &parent);
	assert_int_equal(returned, child);
	assert_int_equal(child_ppid, parent);
	assert_int_not_equal(child, parent);

	/* "finished" once per process; the pre-fork line not duplicated. */
	char line[64];
	snprintf(line, sizeof line, "finished (pid %d)\n", child);
	position_of(&r, line);
	snprintf(line, sizeof line, "finished (pid %d)\n", parent);
	position_of(&r, line);
	assert_int_equal(count_of(&r, "finished"), 2);
	assert_int_equal(count_of(&r, "before fork"), 1);
}

static void exit_flushes_and_runs_atexit_but__exit_does_not(void **state)
{
	static struct run r;
	run_example(&r, "exit_status", NULL);
	position_of(&r, "exited, WEXITSTATUS = 3\n");
	position_of(&r, "exited, WEXITSTATUS = 4\n");
	position_of(&r, "exited, WEXITSTATUS = 148\n"); /* 404 & 0xff */
	assert_in_order(&r, "unflushed text from exit(4)", "WEXITSTATUS = 4");
	/* Once in the exit(4) child, once in the parent: never for _exit. */
	assert_int_equal(count_of(&r, "atexit handler ran"), 2);
	assert_in_order(&r, "atexit handler ran", "WEXITSTATUS = 4");
#ifndef __SANITIZE_THREAD__
	/* TSan's _exit interceptor flushes stdio, so there the dropped
	 * buffer comes out after all. */
	assert_absent(&r, "unflushed text from _exit(3)");
#endif
}

static void orphan_is_adopted_after_its_parent_exits(void **state)
{
	static struct run r;
	run_example(&r, "orphan", NULL);
	int child, parent, orphan, gone_parent, adopter;
	scan_line(&r, "子进程 child", 2, "子进程 child %d: my parent is %d", &child, &parent);
	scan_line(&r, "孤儿进程 orphan", 3, "孤儿进程 orphan %d: parent %d is gone, adopted by %d",
		  &orphan, &gone_parent, &adopter);
	assert_int_equal(orphan, child);
	assert_int_equal(gone_parent, parent);
	assert_true(adopter > 0);
	assert_int_not_equal(adopter, parent);
	assert_int_not_equal(adopter, child);
	assert_in_order(&r, "子进程 child", "父进程 parent");
	assert_in_order(&r, "父进程 parent", "孤儿进程 orphan");
	assert_in_order(&r, "孤儿进程 orphan", "main: the orphan has finished");
}

static void zombie_stays_in_state_Z_until_waitpid(void **state)
{
	static struct run r;
	run_example(&r, "zombie", NULL);
	int pid, reaped;
	scan_line(&r, "has exited", 1, "child %d has exited, state Z", &pid);
	scan_line(&r, "waitpid(", 1, "waitpid(%d) collected exit status 7", &reaped);
	assert_int_equal(reaped, pid);
	assert_in_order(&r, "state Z", "collected exit status 7");
	assert_in_order(&r, "collected exit status 7",
			"after waitpid, state -: gone from the process table");
}

static void double_fork_hands_grandchild_to_the_system(void **state)
{
	static struct run r;
	run_example(&r, "double_fork", NULL);
	int parent, first, grandchild, writer, writer_parent;
	scan_line(&r, "reaped first child", 2, "parent %d: reaped first child %d, exit status 0",
		  &parent, &first);
	scan_line(&r, "写代码", 2, "写代码 (writing code) in grandchild %d, parent %d", &writer,
		  &writer_parent);
	scan_line(&r, "not mine", 1, "parent %*d: grandchild %d is not mine", &grandchild);
	assert_int_equal(writer, grandchild);
	/* Adopted: neither the exited first child nor the grandparent. */
	assert_int_not_equal(writer_parent, first);
	assert_int_not_equal(writer_parent, parent);
	assert_int_equal(count_of(&r, "写代码"), 3);
	assert_int_equal(count_of(&r, "测代码"), 2);
	/* The grandchild's work ran alongside the parent's, after the
	 * parent had already reaped the first child. */
	assert_in_order(&r, "reaped first child", "写代码");
	assert_in_order(&r, "写代码", "waitpid(grandchild) = ECHILD");
}

static void sigchld_ignore_makes_wait_fail_with_echild(void **state)
{
	static struct run r;
	run_example(&r, "sigchld_ignore", NULL);
	const char *wait_line = "wait() = -1, errno ECHILD";
	assert_in_order(&r, "exiting with status 1", wait_line);
	assert_in_order(&r, "exiting with status 2", wait_line);
	assert_in_order(&r, "exiting with status 3", wait_line);
	assert_absent(&r, "a status was kept");
}

/* ---- multiprocessing.Process ---- */

static void process_args_passes_a_struct_and_joins_exitcode_0(void **state)
{
	static struct run r;
	run_example(&r, "process_args", NULL);
	int main_pid, child, child_ppid, started;
	scan_line(&r, "主进程", 1, "主进程 (main process): pid %d", &main_pid);
	scan_line(&r, "我是子进程", 2, "我是子进程 (I am the child): pid %d, ppid %d", &child,
		  &child_ppid);
	scan_line(&r, "started greeter", 1, "started greeter, pid %d", &started);
	assert_int_equal(child_ppid, main_pid);
	assert_int_equal(started, child);
	assert_in_order(&r, "hello bob (age 18)", "我是子进程");
	/* join: the child's lines precede everything after it. */
	assert_in_order(&r, "我是子进程", "执行主进程的内容了");
	assert_in_order(&r, "执行主进程的内容了", "greeter exitcode 0\n");
}

static void three_processes_print_each_task_then_finished(void **state)
{
	static struct run r;
	run_example(&r, "three_processes", NULL);
	/* Sleeps of 0.3, 0.4 and 0.5 s give the order... */
	assert_in_order(&r, "吃饭", "睡觉");
	assert_in_order(&r, "睡觉", "打豆豆");
	assert_in_order(&r, "打豆豆", "finished");
	/* ...and, run at once rather than in turn, well under 1.2 s. */
	double seconds;
	scan_line(&r, "finished", 1, "finished after %lf s", &seconds);
	if (seconds >= 1.0)
		fail_msg("took %.2f s: the processes did not run at once", seconds);

	int main_pid;
	scan_line(&r, "main process", 1, "main process %d", &main_pid);
	const char *task[] = {"吃饭", "睡觉", "打豆豆"};
	int pids[3];
	for (int i = 0; i < 3; i++) {
		/* The line after the task's text: "ppid -- pid". */
		const char *next = strchr(r.out + position_of(&r, task[i]), '\n');
		int ppid;
		assert_non_null(next);
		assert_int_equal(sscanf(next + 1, "%d -- %d", &ppid, &pids[i]), 2);
		assert_int_equal(ppid, main_pid);
		assert_int_not_equal(pids[i], main_pid);
	}
	assert_int_not_equal(pids[0], pids[1]);
	assert_int_not_equal(pids[1], pids[2]);
	assert_int_not_equal(pids[0], pids[2]);
}

static void custom_process_runs_f1_then_f2_in_one_child(void **state)
{
	static struct run r;
	run_example(&r, "custom_process", NULL);
	int main_pid, step1_pid, step2_pid, child;
	scan_line(&r, "主进程", 1, "主进程 (main process) %d", &main_pid);
	scan_line(&r, "步骤1", 1, "步骤1 (step 1): value 2, pid %d", &step1_pid);
	scan_line(&r, "步骤2", 1, "步骤2 (step 2): value 2, pid %d", &step2_pid);
	scan_line(&r, "MyProcess", 1, "MyProcess (pid %d) exitcode 0", &child);
	assert_int_equal(step1_pid, child);
	assert_int_equal(step2_pid, child);
	assert_int_not_equal(child, main_pid);
	assert_in_order(&r, "步骤1", "步骤2");
	assert_in_order(&r, "步骤2", "MyProcess (pid");
}

static void process_isolation_keeps_parent_n_at_100(void **state)
{
	static struct run r;
	run_example(&r, "process_isolation", NULL);
	char child_addr[32], parent_addr[32];
	scan_line(&r, "子进程内", 1, "子进程内 (in the child): n = 0, &n = %31s", child_addr);
	scan_line(&r, "主进程内", 1, "主进程内 (in the parent): n = 100, &n = %31s", parent_addr);
	/* Same virtual address, different memory. */
	assert_string_equal(child_addr, parent_addr);
	assert_in_order(&r, "子进程内", "主进程内");
}

static int count_occurrences(const char *text, const char *word)
{
	int n = 0;
	for (const char *at = text; (at = strstr(at, word)); at += strlen(word))
		n++;
	return n;
}

static void ticket_grabbing_sells_one_ticket_with_a_lock(void **state)
{
	static struct run r;
	run_example(&r, "ticket_grabbing", NULL);
	assert_int_equal(count_occurrences(r.out, "got a ticket"), 1);
	assert_int_equal(count_occurrences(r.out, "none left"), 9);
	assert_non_null(strstr(r.out, "with a lock: 1 ticket, 1 sold"));
}

static void ticket_grabbing_without_a_lock_still_runs_every_buyer(void **state)
{
	static struct run r;
	run_example(&r, "ticket_grabbing", "nolock");
	/* How many buy is the race's to decide; every buyer answers. */
	assert_int_equal(count_occurrences(r.out, "got a ticket") +
				 count_occurrences(r.out, "none left"),
			 10);
	assert_non_null(strstr(r.out, "without a lock: 1 ticket"));
}

static void process_exitcodes_are_return_value_or_minus_signal(void **state)
{
	static struct run r;
	run_example(&r, "process_exitcodes", NULL);
	const struct {
		const char *name;
		int code;
	} expected[] = {
		{"returns-3", 3},  {"terminate", -15}, {"kill", -9},
		{"segfault", -11}, {"abort", -6},
	};
	for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
		char needle[64], format[64];
		int code;
		snprintf(needle, sizeof needle, "%s ", expected[i].name);
		snprintf(format, sizeof format, "%s exitcode %%d", expected[i].name);
		/* The first line naming it may be the "running" one: find the
		 * line with the code. */
		const char *at = strstr(r.out, needle);
		while (at && (at != r.out && at[-1] != '\n'))
			at = strstr(at + 1, needle);
		while (at && sscanf(at, format, &code) != 1) {
			at = strchr(at, '\n');
			at = at ? strstr(at, needle) : NULL;
		}
		if (!at)
			fail_msg("no exit code line for %s", expected[i].name);
		assert_int_equal(code, expected[i].code);
	}
	position_of(&r, "running, exitcode is MT_NOEXIT: yes");
}

/* ---- threading.Thread ---- */

static void thread_create_by_function_and_by_struct_with_names(void **state)
{
	static struct run r;
	run_example(&r, "thread_create", NULL);
	unsigned long main_ident, first_ident, first_joined, second_ident, second_joined;
	scan_line(&r, "name MainThread", 1,
		  "  current thread: name MainThread, ident %lu, alive true, "
		  "daemon false",
		  &main_ident);
	scan_line(&r, "name 子线程1", 1, "  current thread: name 子线程1, ident %lu, alive true",
		  &first_ident);
	scan_line(&r, "joined 子线程1", 1, "joined 子线程1 (ident %lu), alive now: false",
		  &first_joined);
	scan_line(&r, "name Thread-1", 1, "  current thread: name Thread-1, ident %lu, alive true",
		  &second_ident);
	scan_line(&r, "joined Thread-1", 1, "joined Thread-1 (ident %lu), result 10",
		  &second_joined);
	assert_int_equal(first_ident, first_joined);
	assert_int_equal(second_ident, second_joined);
	assert_int_not_equal(first_ident, main_ident);
	assert_int_equal(count_of(&r, "子线程运行 (child thread runs) 1\n"), 2);
	assert_in_order(&r, "name 子线程1", "name Thread-1");
}

static void thread_shared_data_counts_to_ten_across_threads(void **state)
{
	static struct run r;
	run_example(&r, "thread_shared_data", NULL);
	/* Every thread saw the increments of those before it: the values
	 * run 1..10, one per thread. */
	bool seen[10] = {false};
	const char *line = r.out;
	for (int expect = 1; expect <= 10; expect++) {
		int thread, value;
		if (sscanf(line, "线程%d : %d", &thread, &value) != 2)
			fail_msg("line %d: \"%.30s\"", expect, line);
		assert_int_equal(value, expect);
		assert_in_range(thread, 0, 9);
		assert_false(seen[thread]);
		seen[thread] = true;
		line = strchr(line, '\n') + 1;
	}
	assert_string_equal(line, "main thread sees data = 10\n");
}

static void daemon_thread_dies_with_the_program(void **state)
{
	static struct run r;
	run_example(&r, "thread_daemon", "daemon");
	position_of(&r, "主线程执行代码 (main thread done)");
	assert_absent(&r, "子线程执行代码");
	/* The daemon sleeps 2 s; the program does not wait for it. */
	if (r.seconds >= 1.5)
		fail_msg("took %.2f s: exit waited for the daemon thread", r.seconds);
}

static void nondaemon_thread_holds_up_the_exit(void **state)
{
	static struct run r;
	run_example(&r, "thread_daemon", "nondaemon");
	assert_in_order(&r, "主线程执行代码", "子线程执行代码 (child thread done");
}

static void join_waits_for_a_daemon_thread(void **state)
{
	static struct run r;
	run_example(&r, "thread_daemon", "join");
	assert_in_order(&r, "子线程执行代码 (child thread done", "主线程执行代码");
}

static void thread_daemon_without_argument_runs_all_three_cases(void **state)
{
	static struct run r;
	run_example(&r, "thread_daemon", NULL);
	assert_in_order(&r, "== thread_daemon daemon", "== thread_daemon nondaemon");
	assert_in_order(&r, "== thread_daemon nondaemon", "== thread_daemon join");
	assert_int_equal(count_of(&r, "主线程执行代码"), 3);
	assert_int_equal(count_of(&r, "子线程执行代码"), 2);
}

static void thread_vs_process_times_both_starts(void **state)
{
	static struct run r;
	run_example(&r, "thread_vs_process", NULL);
	double thread_s, process_s, thread_us, process_us;
	scan_line(&r, "thread:", 1, "执行时间 (elapsed) thread: %lf s", &thread_s);
	scan_line(&r, "process:", 1, "执行时间 (elapsed) process: %lf s", &process_s);
	scan_line(&r, "mean of", 2, "mean of 20 runs: thread %lf us, process %lf us", &thread_us,
		  &process_us);
	assert_true(thread_s > 0 && process_s > 0);
	assert_true(thread_us > 0 && process_us > 0);
	/* func ran once in the thread and once in the process. */
	assert_int_equal(count_of(&r, "func\n"), 2);
	assert_in_order(&r, "线程执行", "执行时间 (elapsed) thread:");
	assert_in_order(&r, "执行时间 (elapsed) thread:", "进程执行");
}

/* ---- the threading sync lessons ---- */

/* Copies the output's line at *at, without its newline, into line and
 * moves *at past it. False at the end of the output. */
static bool next_line(const char **at, char *line, size_t size)
{
	if (!**at)
		return false;
	size_t len = strcspn(*at, "\n");
	if (len >= size)
		fail_msg("line too long: \"%.60s\"", *at);
	memcpy(line, *at, len);
	line[len] = '\0';
	*at += len + ((*at)[len] == '\n');
	return true;
}

/* ok = whether the whole of line matches a scanf format (a literal),
 * filling `fields` conversions: the %n shows the text after the last
 * conversion matched, and that nothing follows it. */
#define match_line(ok, line, fields, format, ...)                                                  \
	do {                                                                                       \
		int end_ = -1;                                                                     \
		ok = sscanf(line, format "%n", __VA_ARGS__, &end_) == (fields) &&                  \
		     end_ == (int)strlen(line);                                                    \
	} while (0)

static void counter_race_with_a_lock_counts_every_increment(void **state)
{
	static struct run r;
	run_example(&r, "counter_race", "lock");
	for (int i = 0; i < 4; i++) {
		char line[64];
		snprintf(line, sizeof line, "线程%d: n += 1, 2000 times\n", i);
		assert_int_equal(count_of(&r, line), 1);
	}
	/* No update lost: exactly 4 x 2000. */
	position_of(&r, "with a lock: 8000 of 8000\n");
	assert_absent(&r, "without a lock");
}

static void counter_race_runs_the_unsafe_count_then_the_locked_one(void **state)
{
	static struct run r;
	run_example(&r, "counter_race", NULL);
	/* What the unsafe total is, the race decides; every thread reports
	 * and the total is printed, no larger than the increments made. */
	assert_int_equal(count_of(&r, ": n += 1, 2000 times\n"), 8);
	int counted, made;
	scan_line(&r, "without a lock", 2, "without a lock: %d of %d\n", &counted, &made);
	assert_int_equal(made, 8000);
	assert_in_range(counted, 1, 8000);
	assert_in_order(&r, "without a lock", "with a lock: 8000 of 8000\n");
}

static void bounded_semaphore_lets_at_most_three_in_at_once(void **state)
{
	static struct run r;
	run_example(&r, "semaphore_limit", NULL);
	/* Replay the enter and leave lines (printed under the program's
	 * counting lock, so in the order they happened). */
	int inside = 0, most = 0, entered[10] = {0}, left[10] = {0};
	const char *at = r.out;
	char line[128];
	while (next_line(&at, line, sizeof line) && strncmp(line, "most", 4)) {
		int id, said;
		bool enters, leaves;
		match_line(enters, line, 2, "worker %d enters (inside: %d)", &id, &said);
		match_line(leaves, line, 2, "worker %d leaves (inside: %d)", &id, &said);
		if (!enters && !leaves)
			fail_msg("unexpected line \"%s\"", line);
		assert_in_range(id, 0, 9);
		if (enters) {
			assert_int_equal(entered[id]++, 0);
			inside++;
		} else {
			assert_int_equal(entered[id], 1); /* leaves after it entered */
			assert_int_equal(left[id]++, 0);
			inside--;
		}
		assert_int_equal(said, inside);
		if (inside > most)
			most = inside;
	}
	for (int i = 0; i < 10; i++)
		assert_int_equal(left[i], 1);
	/* Never above the bound, and the bound reached: 50 ms of work each
	 * leaves the first three ample time to be in together. */
	assert_int_equal(most, 3);
	position_of(&r, "most inside at once: 3 (BoundedSemaphore(3))\n");
	position_of(&r, "one release too many: refused (ValueError)\n");
}

static void event_cars_wait_for_green_and_all_pass(void **state)
{
	static struct run r;
	run_example(&r, "event_traffic_light", NULL);
	assert_int_equal(count_of(&r, "红灯 (red light): event.clear()\n"), 2);
	assert_int_equal(count_of(&r, "绿灯 (green light): event.set()\n"), 2);
	/* greens_at_wait[car]: how many greens came before it waited, -1 if
	 * it did not wait. A waiting car may pass only after a later green,
	 * any car only after some green. */
	int greens = 0, waited = 0, passed[8] = {0}, greens_at_wait[8];
	for (int i = 0; i < 8; i++)
		greens_at_wait[i] = -1;
	const char *at = r.out;
	char line[128];
	while (next_line(&at, line, sizeof line)) {
		int car;
		bool waits, passes;
		match_line(waits, line, 1, "car %d 在等待 (waits at the red light)", &car);
		match_line(passes, line, 1, "car %d 通过了 (passes)", &car);
		if (!strncmp(line, "绿灯", strlen("绿灯")))
			greens++;
		if (!waits && !passes)
			continue;
		assert_in_range(car, 0, 7);
		if (waits) {
			assert_int_equal(passed[car], 0);
			assert_int_equal(greens_at_wait[car], -1);
			greens_at_wait[car] = greens;
			waited++;
		} else {
			if (greens <= greens_at_wait[car] || greens == 0)
				fail_msg("car %d passed at red", car);
			assert_int_equal(passed[car]++, 0);
		}
	}
	for (int i = 0; i < 8; i++)
		assert_int_equal(passed[i], 1);
	/* Car 0 comes at once, 60 ms before the first green. */
	assert_true(waited >= 1);
	assert_in_order(&r, "car 0 在等待", "绿灯");
	position_of(&r, "all 8 cars passed\n");
}

static void condition_hands_over_0_to_9_in_order_through_two_slots(void **state)
{
	static struct run r;
	run_example(&r, "condition_producer_consumer", NULL);
	/* Lines are printed under the buffer's lock: replay them. */
	int next_put = 0, next_take = 0;
	const char *at = r.out;
	char line[128];
	while (next_line(&at, line, sizeof line) && strncmp(line, "done", 4)) {
		int item, said;
		bool put, took;
		match_line(put, line, 2, "put %d (in buffer: %d)", &item, &said);
		match_line(took, line, 2, "took %d (in buffer: %d)", &item, &said);
		if (put)
			assert_int_equal(item, next_put++);
		else if (took)
			assert_int_equal(item, next_take++);
		else
			fail_msg("unexpected line \"%s\"", line);
		/* Taken only once put, and never more than two waiting. */
		assert_int_equal(said, next_put - next_take);
		assert_in_range(said, 0, 2);
	}
	assert_int_equal(next_put, 10);
	assert_int_equal(next_take, 10);
	assert_string_equal(line, "done: 10 items through a buffer of 2");
}

static void rlock_philosophers_all_eat_one_at_a_time(void **state)
{
	static struct run r;
	run_example(&r, "philosophers_rlock", NULL);
	/* One RLock serves as both noodle and fork lock, so each meal's
	 * three lines come together: one name takes both, then eats. */
	const char *names[] = {"哪吒", "egon", "yuan"};
	int noodles_first[3] = {0}, fork_first[3] = {0};
	const char *at = r.out;
	for (int meal = 0; meal < 6; meal++) {
		char line[3][128], name[3][16];
		bool noodles[2], fork[2], eats;
		for (int i = 0; i < 3; i++)
			if (!next_line(&at, line[i], sizeof line[i]))
				fail_msg("meal %d: output ends early", meal);
		for (int i = 0; i < 2; i++) {
			match_line(noodles[i], line[i], 1, "%15s 抢到了面条 (got the noodles)",
				   name[i]);
			match_line(fork[i], line[i], 1, "%15s 抢到了叉子 (got the fork)", name[i]);
		}
		match_line(eats, line[2], 1, "%15s 吃面 (eats)", name[2]);
		if (!eats || !(noodles[0] ? fork[1] : (fork[0] && noodles[1])))
			fail_msg("meal %d is not noodles, fork, eat: \"%s\"", meal, line[0]);
		assert_string_equal(name[0], name[1]);
		assert_string_equal(name[1], name[2]);
		int who = 0;
		while (who < 3 && strcmp(name[0], names[who]))
			who++;
		assert_in_range(who, 0, 2);
		(noodles[0] ? noodles_first : fork_first)[who]++;
	}
	/* Each ate once by eat1 (noodles first) and once by eat2. */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(noodles_first[i], 1);
		assert_int_equal(fork_first[i], 1);
	}
	assert_string_equal(at, "no deadlock: 6 meals eaten\n");
}

static void two_lock_philosophers_are_reported_and_give_up_instead_of_hanging(void **state)
{
	static struct run r;
	run_example(&r, "philosophers_deadlock", NULL);
	/* Whether a run deadlocks is timing's to decide; that all six meals
	 * end, and that the inverted order is reported once, is not. */
	assert_int_equal(count_occurrences(r.out, "吃面 (eats)") +
				 count_occurrences(r.out, "deadlock: gives up"),
			 6);
	assert_true(count_occurrences(r.out, "抢到了") >= 6);
	assert_non_null(strstr(r.out, "\nlock-order reports: 1\n"));
}

static void a_lock_whose_holder_was_killed_is_repaired_by_the_next(void **state)
{
	static struct run r;
	run_example(&r, "robust_lock", NULL);
	assert_non_null(strstr(r.out, "first clerk killed holding the lock (exit code -9): "
				      "alice 70, bob 0\n"));
	assert_int_equal(count_occurrences(r.out, "(EOWNERDEAD); repairs the books"), 1);
	assert_non_null(strstr(r.out, "three more transfers of 10: alice 40, bob 60, total 100\n"));
}

int main(void)
{
	quiet_tsan_exit_of_examples();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fork_returns_child_pid_to_parent_and_zero_to_child),
		cmocka_unit_test(exit_flushes_and_runs_atexit_but__exit_does_not),
		cmocka_unit_test(orphan_is_adopted_after_its_parent_exits),
		cmocka_unit_test(zombie_stays_in_state_Z_until_waitpid),
		cmocka_unit_test(double_fork_hands_grandchild_to_the_system),
		cmocka_unit_test(sigchld_ignore_makes_wait_fail_with_echild),
		cmocka_unit_test(process_args_passes_a_struct_and_joins_exitcode_0),
		cmocka_unit_test(three_processes_print_each_task_then_finished),
		cmocka_unit_test(custom_process_runs_f1_then_f2_in_one_child),
		cmocka_unit_test(process_isolation_keeps_parent_n_at_100),
		cmocka_unit_test(ticket_grabbing_sells_one_ticket_with_a_lock),
		cmocka_unit_test(ticket_grabbing_without_a_lock_still_runs_every_buyer),
		cmocka_unit_test(process_exitcodes_are_return_value_or_minus_signal),
		cmocka_unit_test(thread_create_by_function_and_by_struct_with_names),
		cmocka_unit_test(thread_shared_data_counts_to_ten_across_threads),
		cmocka_unit_test(daemon_thread_dies_with_the_program),
		cmocka_unit_test(nondaemon_thread_holds_up_the_exit),
		cmocka_unit_test(join_waits_for_a_daemon_thread),
		cmocka_unit_test(thread_daemon_without_argument_runs_all_three_cases),
		cmocka_unit_test(thread_vs_process_times_both_starts),
		cmocka_unit_test(counter_race_with_a_lock_counts_every_increment),
		cmocka_unit_test(counter_race_runs_the_unsafe_count_then_the_locked_one),
		cmocka_unit_test(bounded_semaphore_lets_at_most_three_in_at_once),
		cmocka_unit_test(event_cars_wait_for_green_and_all_pass),
		cmocka_unit_test(condition_hands_over_0_to_9_in_order_through_two_slots),
		cmocka_unit_test(rlock_philosophers_all_eat_one_at_a_time),
		cmocka_unit_test(two_lock_philosophers_are_reported_and_give_up_instead_of_hanging),
		cmocka_unit_test(a_lock_whose_holder_was_killed_is_repaired_by_the_next),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
