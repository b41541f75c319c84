/* test_coro.c: coroutines (greenlet): values through switch, parents,
 * current, dead, throw and kill with cleanups, threads, fork, the FP
 * control state, stack sizes, and the stack guards: overflow messages
 * (in child processes, checking stderr) and 100,000 live coroutines
 * within the default vm.max_map_count. */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>

#include "mtask/mtask.h"
#include "testutil.h"

#if defined(__SANITIZE_THREAD__)
#define MANY_COROUTINES 300 /* TSan makes a fiber per coroutine (~20 ms each when busy); the VMA count is not its subject */
#elif defined(__SANITIZE_ADDRESS__)
/* ASan makes each spawn dear (~1 ms on a busy machine); 20,000 guarded
 * stacks would still need 20,000 maps lines if guards split the mapping. */
#define MANY_COROUTINES 20000
#else
#define MANY_COROUTINES 100000
#endif

static void *as_ptr(intptr_t n)
{
	return (void *)n;
}

static mt_coro *new_coro(mt_coro_fn fn, size_t stack_size)
{
	mt_coro *c;
	assert_int_equal(mt_coro_new(&c, fn, stack_size), 0);
	return c;
}

/* ---- values, parents, current ---- */

static void *add_one(void *arg)
{
	return as_ptr((intptr_t)arg + 1);
}

static void a_first_switch_passes_the_argument_and_the_parent_gets_the_result(void **state)
{
	mt_coro *c = new_coro(add_one, 0);
	assert_false(mt_coro_started(c));
	assert_ptr_equal(mt_coro_switch(c, as_ptr(41)), as_ptr(42));
	assert_true(mt_coro_started(c));
	assert_true(mt_coro_dead(c));
	assert_false(mt_coro_thrown(c));
	mt_coro_free(c);
}

/* Doubles every value it gets until it gets 0. */
static void *doubler(void *arg)
{
	mt_coro *parent = mt_coro_parent(mt_coro_current());
	intptr_t n = (intptr_t)arg;
	while (n)
		n = (intptr_t)mt_coro_switch(parent, as_ptr(n * 2));
	return as_ptr(-1);
}

static void values_go_both_ways_through_switch(void **state)
{
	mt_coro *c = new_coro(doubler, 0);
	for (intptr_t i = 1; i <= 1000; i++)
		assert_ptr_equal(mt_coro_switch(c, as_ptr(i)), as_ptr(2 * i));
	assert_ptr_equal(mt_coro_switch(c, NULL), as_ptr(-1));
	assert_true(mt_coro_dead(c));
	mt_coro_free(c);
}

/* The notes' eat/play: g1 and g2 take turns, each resuming where it was. */
static mt_coro *g1, *g2;
static char trail[64];

static void *eat(void *name)
{
	strcat(trail, "e1 ");
	mt_coro_switch(g2, name);
	strcat(trail, "e2 ");
	mt_coro_switch(g2, NULL);
	return NULL;
}

static void *play(void *name)
{
	strcat(trail, "p1 ");
	mt_coro_switch(g1, NULL);
	strcat(trail, "p2 ");
	return NULL;
}

static void eat_and_play_take_turns(void **state)
{
	trail[0] = '\0';
	g1 = new_coro(eat, 0);
	g2 = new_coro(play, 0);
	mt_coro_switch(g1, "egon");
	assert_string_equal(trail, "e1 p1 e2 p2 ");
	/* play finished first and went to its parent, main; eat is parked. */
	assert_true(mt_coro_dead(g2));
	assert_false(mt_coro_dead(g1));
	mt_coro_free(g1);
	mt_coro_free(g2);
}

static void *report_current(void *arg)
{
	return mt_coro_current();
}

static void current_is_main_outside_and_the_coroutine_inside(void **state)
{
	mt_coro *main_coro = mt_coro_current();
	assert_non_null(main_coro);
	assert_null(mt_coro_parent(main_coro));
	assert_string_equal(mt_coro_name(main_coro), "main");
	assert_int_equal(mt_coro_stack_guard(main_coro), MT_CORO_GUARD_NONE);
	mt_coro *c = new_coro(report_current, 0);
	assert_ptr_equal(mt_coro_parent(c), main_coro);
	assert_ptr_equal(mt_coro_switch(c, NULL), c);
	assert_ptr_equal(mt_coro_current(), main_coro);
	mt_coro_free(c);
}

/* Creates a child (its parent is this coroutine), then gives it to main
 * and ends: the child's result must still reach main. */
static void *spawn_child_then_end(void *arg)
{
	mt_coro *child = new_coro(add_one, 0);
	assert_ptr_equal(mt_coro_parent(child), mt_coro_current());
	*(mt_coro **)arg = child;
	return as_ptr(7);
}

static void a_dead_parent_hands_its_child_s_result_to_the_grandparent(void **state)
{
	mt_coro *child = NULL;
	mt_coro *c = new_coro(spawn_child_then_end, 0);
	assert_ptr_equal(mt_coro_switch(c, &child), as_ptr(7));
	assert_true(mt_coro_dead(c));
	assert_ptr_equal(mt_coro_switch(child, as_ptr(1)), as_ptr(2));
	mt_coro_free(c); /* child's parent becomes main */
	assert_ptr_equal(mt_coro_parent(child), mt_coro_current());
	mt_coro_free(child);
}

static void *switch_to_arg_and_return_9(void *arg)
{
	mt_coro_switch(arg, as_ptr(5));
	return as_ptr(9);
}

/* The result goes to the parent, not to whoever switched last. */
static void a_finished_coroutine_returns_to_its_parent_not_its_last_switcher(void **state)
{
	mt_coro *main_coro = mt_coro_current();
	mt_coro *b = new_coro(doubler, 0);
	mt_coro *a = new_coro(switch_to_arg_and_return_9, 0);
	assert_int_equal(mt_coro_set_parent(b, a), 0);
	/* a switches to main with 5; main then resumes b, whose parent is a. */
	assert_ptr_equal(mt_coro_switch(a, main_coro), as_ptr(5));
	assert_ptr_equal(mt_coro_parent(b), a);
	/* b's first switch goes to its parent a, which finishes with 9 for
	 * main: switch(b) returns 9. */
	assert_ptr_equal(mt_coro_switch(b, as_ptr(3)), as_ptr(9));
	assert_true(mt_coro_dead(a));
	mt_coro_free(a);
	mt_coro_free(b);
}

static void set_parent_refuses_cycles_and_bad_arguments(void **state)
{
	mt_coro *a = new_coro(add_one, 0);
	mt_coro *b = new_coro(add_one, 0);
	mt_coro *main_coro = mt_coro_current();
	assert_int_equal(mt_coro_set_parent(b, a), 0);
	assert_int_equal(mt_coro_set_parent(a, b), -EINVAL);
	assert_int_equal(mt_coro_set_parent(a, a), -EINVAL);
	assert_int_equal(mt_coro_set_parent(main_coro, a), -EINVAL);
	assert_int_equal(mt_coro_set_parent(a, NULL), -EINVAL);
	assert_int_equal(mt_coro_set_parent(b, main_coro), 0);
	assert_int_equal(mt_coro_set_parent(a, b), 0);
	mt_coro_free(a);
	mt_coro_free(b);
}

static void switching_to_a_dead_coroutine_reaches_its_live_ancestor(void **state)
{
	mt_coro *c = new_coro(add_one, 0);
	assert_ptr_equal(mt_coro_switch(c, as_ptr(1)), as_ptr(2));
	/* Its ancestor is main, the caller: the value comes straight back. */
	assert_ptr_equal(mt_coro_switch(c, as_ptr(3)), as_ptr(3));
	assert_ptr_equal(mt_coro_switch(mt_coro_current(), as_ptr(4)), as_ptr(4));
	mt_coro_free(c);
}

static void bad_arguments_are_refused(void **state)
{
	mt_coro *c;
	void *result;
	assert_int_equal(mt_coro_new(NULL, add_one, 0), -EINVAL);
	assert_int_equal(mt_coro_new(&c, NULL, 0), -EINVAL);
	assert_int_equal(mt_coro_new(&c, add_one, (size_t)MT_CORO_STACK_MAX + 1), -EINVAL);
	assert_int_equal(mt_coro_switch_checked(NULL, NULL, &result), -EINVAL);
	assert_null(mt_coro_switch(NULL, as_ptr(1)));
	assert_int_equal(mt_coro_kill(NULL), -EINVAL);
	assert_int_equal(mt_coro_kill(mt_coro_current()), -EINVAL);
	assert_null(mt_coro_throw(mt_coro_current(), as_ptr(1)));
	assert_int_equal(mt_coro_defer(NULL, NULL), -EINVAL);
	assert_int_equal(mt_coro_undefer(false), -ENOENT);
	mt_coro_free(NULL);
	mt_coro_free(mt_coro_current()); /* ignored */
}

/* ---- throw, kill and cleanups ---- */

static char order[64];

static void note(void *text)
{
	strcat(order, text);
}

/* Registers three cleanups, drops one unrun and runs one, then parks. */
static void *worker_with_cleanups(void *arg)
{
	assert_int_equal(mt_coro_defer(note, "A"), 0);
	assert_int_equal(mt_coro_defer(note, "B"), 0);
	assert_int_equal(mt_coro_defer(note, "x"), 0);
	assert_int_equal(mt_coro_undefer(false), 0); /* "x" never runs */
	assert_int_equal(mt_coro_defer(note, "C"), 0);
	assert_int_equal(mt_coro_undefer(true), 0); /* "C" runs now */
	for (int i = 0; i < 10; i++)		    /* beyond the inline four */
		assert_int_equal(mt_coro_defer(note, i == 9 ? "D" : ""), 0);
	mt_coro_switch(mt_coro_parent(mt_coro_current()), as_ptr(1));
	strcat(order, "never");
	return as_ptr(2);
}

static void throw_runs_the_cleanups_newest_first_and_finishes_with_the_value(void **state)
{
	order[0] = '\0';
	mt_coro *c = new_coro(worker_with_cleanups, 0);
	assert_ptr_equal(mt_coro_switch(c, NULL), as_ptr(1));
	assert_string_equal(order, "C");
	assert_ptr_equal(mt_coro_throw(c, as_ptr(99)), as_ptr(99));
	assert_string_equal(order, "CDBA");
	assert_true(mt_coro_dead(c));
	assert_true(mt_coro_thrown(c));
	mt_coro_free(c);
}

static void a_normal_end_runs_the_cleanups_left(void **state)
{
	order[0] = '\0';
	mt_coro *c = new_coro(worker_with_cleanups, 0);
	mt_coro_switch(c, NULL);
	order[0] = '\0';
	assert_ptr_equal(mt_coro_switch(c, NULL), as_ptr(2));
	assert_string_equal(order, "neverDBA");
	assert_false(mt_coro_thrown(c));
	mt_coro_free(c);
}

static void kill_and_free_run_the_cleanups_of_a_suspended_coroutine(void **state)
{
	order[0] = '\0';
	mt_coro *c = new_coro(worker_with_cleanups, 0);
	mt_coro_switch(c, NULL);
	assert_int_equal(mt_coro_kill(c), 0);
	assert_string_equal(order, "CDBA");
	assert_true(mt_coro_dead(c));
	assert_int_equal(mt_coro_kill(c), 0); /* already dead: nothing */
	mt_coro_free(c);

	order[0] = '\0';
	c = new_coro(worker_with_cleanups, 0);
	mt_coro_switch(c, NULL);
	mt_coro_free(c);
	assert_string_equal(order, "CDBA");
}

static int ran;

static void *count_run(void *arg)
{
	ran++;
	return NULL;
}

static void killing_a_never_started_coroutine_only_marks_it_dead(void **state)
{
	ran = 0;
	mt_coro *c = new_coro(count_run, 0);
	assert_int_equal(mt_coro_kill(c), 0);
	assert_true(mt_coro_dead(c));
	assert_true(mt_coro_thrown(c));
	assert_false(mt_coro_started(c));
	mt_coro_switch(c, NULL); /* dead: to its parent, the caller */
	assert_int_equal(ran, 0);
	mt_coro_free(c);
}

static void *throw_into_itself(void *arg)
{
	mt_coro_defer(note, "S");
	mt_coro_throw(mt_coro_current(), arg);
	strcat(order, "never");
	return NULL;
}

static void a_coroutine_may_throw_into_itself_to_end(void **state)
{
	order[0] = '\0';
	mt_coro *c = new_coro(throw_into_itself, 0);
	assert_ptr_equal(mt_coro_switch(c, as_ptr(5)), as_ptr(5));
	assert_string_equal(order, "S");
	assert_true(mt_coro_thrown(c));
	mt_coro_free(c);
}

/* ---- threads ---- */

static mt_coro *other_threads_coro;

static int use_a_coroutine_of_the_main_thread(void *arg)
{
	void *result;
	if (mt_coro_switch_checked(other_threads_coro, NULL, &result) != -EPERM)
		return 1;
	if (mt_coro_switch(other_threads_coro, as_ptr(1)) != NULL)
		return 2;
	if (mt_coro_kill(other_threads_coro) != -EPERM)
		return 3;
	if (mt_coro_set_parent(other_threads_coro, mt_coro_current()) != -EPERM)
		return 4;
	/* Its own coroutines work, with a main coroutine of its own. */
	mt_coro *c;
	if (mt_coro_new(&c, doubler, 0) || mt_coro_switch(c, as_ptr(21)) != as_ptr(42))
		return 5;
	mt_coro_free(c);
	return 0;
}

static void a_coroutine_of_another_thread_is_eperm(void **state)
{
	other_threads_coro = new_coro(add_one, 0);
	assert_int_equal(join_thread(start_thread(use_a_coroutine_of_the_main_thread, NULL)), 0);
	assert_false(mt_coro_started(other_threads_coro));
	mt_coro_free(other_threads_coro);
}

static int ping_pong_many_times(void *arg)
{
	mt_coro *c;
	if (mt_coro_new(&c, doubler, 16 * 1024))
		return 1;
	for (intptr_t i = 1; i < 20000; i++)
		if (mt_coro_switch(c, as_ptr(i)) != as_ptr(2 * i))
			return 2;
	mt_coro_switch(c, NULL);
	mt_coro_free(c);
	return 0;
}

static void threads_switch_their_own_coroutines_at_once(void **state)
{
	mt_thread *a = start_thread(ping_pong_many_times, NULL);
	mt_thread *b = start_thread(ping_pong_many_times, NULL);
	assert_int_equal(ping_pong_many_times(NULL), 0);
	assert_int_equal(join_thread(a), 0);
	assert_int_equal(join_thread(b), 0);
}

/* ---- fork ---- */

static void *fork_inside(void *arg)
{
	pid_t pid = fork();
	if (pid == 0) {
		/* The child goes on here; main is a copy it may switch to. */
		mt_coro_switch(mt_coro_parent(mt_coro_current()), as_ptr(100));
		_exit(3); /* not reached: main exits first */
	}
	return as_ptr(pid);
}

static void a_forked_child_continues_in_the_calling_coroutine(void **state)
{
	mt_coro *c = new_coro(fork_inside, 0);
	void *got = mt_coro_switch(c, NULL);
	if (got == as_ptr(100)) { /* the child, back in main */
#ifdef __SANITIZE_THREAD__
		/* TSan loses the happens-before of a fiber switch made after a
		 * fork inside a fiber, and would call this read a race. */
		_exit(42);
#endif
		_exit(mt_coro_dead(c) ? 4 : 42);
	}
	pid_t pid = (pid_t)(intptr_t)got;
	assert_true(pid > 0);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 42);
	mt_coro_free(c);
}

/* ---- registers, FP state and stacks ---- */

/* The FP control state the switch keeps per coroutine: on x86-64 the
 * MXCSR and the x87 control word, on AArch64 FPCR. "Upward" sets their
 * rounding-mode bits to round toward +infinity. */
#if defined(__x86_64__)
struct fp_control {
	unsigned mxcsr;
	unsigned short x87;
};

static struct fp_control read_fp_control(void)
{
	struct fp_control fp = {.mxcsr = __builtin_ia32_stmxcsr()};
	__asm__ __volatile__("fnstcw %0" : "=m"(fp.x87));
	return fp;
}

static void round_upward(void)
{
	struct fp_control fp = read_fp_control();
	fp.mxcsr = (fp.mxcsr & ~0x6000u) | 0x4000u;
	fp.x87 = (unsigned short)((fp.x87 & ~0x0c00u) | 0x0800u);
	__builtin_ia32_ldmxcsr(fp.mxcsr);
	__asm__ __volatile__("fldcw %0" : : "m"(fp.x87));
}

static bool rounds_upward(void)
{
	struct fp_control fp = read_fp_control();
	return (fp.mxcsr & 0x6000u) == 0x4000u && (fp.x87 & 0x0c00u) == 0x0800u;
}

static bool rounds_to_nearest(void)
{
	struct fp_control fp = read_fp_control();
	return (fp.mxcsr & 0x6000u) == 0 && (fp.x87 & 0x0c00u) == 0;
}
#elif defined(__aarch64__)
static void round_upward(void)
{
	__builtin_aarch64_set_fpcr((__builtin_aarch64_get_fpcr() & ~(3u << 22)) | (1u << 22));
}

static bool rounds_upward(void)
{
	return (__builtin_aarch64_get_fpcr() & (3u << 22)) == (1u << 22);
}

static bool rounds_to_nearest(void)
{
	return (__builtin_aarch64_get_fpcr() & (3u << 22)) == 0;
}
#endif

#if defined(__x86_64__) || defined(__aarch64__)
static void *set_rounding_upward(void *arg)
{
	round_upward();
	mt_coro_switch(mt_coro_parent(mt_coro_current()), NULL);
	return as_ptr(rounds_upward());
}

static void the_fp_control_state_is_per_coroutine(void **state)
{
	assert_true(rounds_to_nearest());
	mt_coro *c = new_coro(set_rounding_upward, 0);
	mt_coro_switch(c, NULL);
	assert_true(rounds_to_nearest());
	assert_ptr_equal(mt_coro_switch(c, NULL), as_ptr(1));
	assert_true(rounds_to_nearest());
	mt_coro_free(c);
}
#else
static void the_fp_control_state_is_per_coroutine(void **state)
{
	skip(); /* the ucontext fallback: swapcontext's business */
}
#endif

/* Uses depth + 1 KiB of stack in 1 KiB frames and returns how many
 * frames saw their caller's mark intact. Each frame hands its address to
 * the next, which keeps the compiler from turning the recursion into a
 * loop. */
static __attribute__((noinline)) long use_stack(int depth, volatile char *above)
{
	volatile char frame[1024];
	for (size_t i = 0; i < sizeof frame; i++)
		frame[i] = (char)depth;
	long intact = !above || above[0] == (char)(depth + 1);
	return depth ? intact + use_stack(depth - 1, frame) : intact;
}

static void *use_kib_given(void *arg)
{
	return as_ptr(use_stack((int)(intptr_t)arg, NULL));
}

static void stacks_round_up_and_hold_nearly_their_size(void **state)
{
	mt_coro *c = new_coro(use_kib_given, 0);
	assert_true(mt_coro_stack_size(c) > MT_CORO_STACK_DEFAULT - 1024);
	assert_true(mt_coro_stack_size(c) <= MT_CORO_STACK_DEFAULT);
	assert_int_equal(mt_coro_stack_guard(c), MT_CORO_GUARD_PAGES);
	assert_ptr_equal(mt_coro_switch(c, as_ptr(200)), as_ptr(201));
	mt_coro_free(c);
	c = new_coro(use_kib_given, 40 * 1024); /* rounds up to 64 KiB */
	assert_true(mt_coro_stack_size(c) > 63 * 1024);
	assert_true(mt_coro_stack_size(c) <= 64 * 1024);
	mt_coro_free(c);
}

static void a_freed_stack_is_reused_by_the_next_spawn(void **state)
{
	mt_coro *a = new_coro(add_one, 0);
	mt_coro_free(a);
	mt_coro *b = new_coro(add_one, 0);
	assert_ptr_equal(a, b); /* the record sits at the top of the same stack */
	assert_string_equal(mt_coro_name(b), mt_coro_name(b));
	assert_int_equal(mt_coro_set_name(b, "a name longer than thirty-one bytes"), 0);
	assert_string_equal(mt_coro_name(b), "a name longer than thirty-one b");
	mt_coro_free(b);
}

/* ---- overflow detection, in child processes ---- */

struct child_run {
	int status;
	char err[4096];
};

/* Runs this test program again as `argv0 scenario` with MTASK_CORO_GUARD
 * set to guard (NULL: unset), capturing its stderr. */
static void run_scenario(const char *scenario, const char *guard, struct child_run *run)
{
	int pipefd[2];
	assert_int_equal(pipe(pipefd), 0);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(pipefd[1], STDERR_FILENO);
		if (guard)
			setenv("MTASK_CORO_GUARD", guard, 1);
		else
			unsetenv("MTASK_CORO_GUARD");
		execl("/proc/self/exe", "test_coro", scenario, (char *)NULL);
		_exit(127);
	}
	close(pipefd[1]);
	size_t used = 0;
	ssize_t n;
	while ((n = read(pipefd[0], run->err + used, sizeof run->err - 1 - used)) > 0)
		used += (size_t)n;
	run->err[used] = '\0';
	close(pipefd[0]);
	assert_int_equal(waitpid(pid, &run->status, 0), pid);
	print_message("---- %s (%s): %s", scenario, guard ? guard : "default", run->err);
}

static void assert_aborted_with(const struct child_run *run, const char *text)
{
	assert_true(WIFSIGNALED(run->status));
	assert_int_equal(WTERMSIG(run->status), SIGABRT);
	if (!strstr(run->err, text))
		fail_msg("stderr lacks \"%s\"", text);
}

static void *recurse_forever(void *arg)
{
	return as_ptr(use_stack(1 << 20, NULL));
}

/* The scenario run in a child: a coroutine named "deep" recurses until
 * its 64 KiB stack overflows. */
static int overflow_scenario(void)
{
	mt_coro *c;
	if (mt_coro_new(&c, recurse_forever, 64 * 1024) || mt_coro_set_name(c, "deep"))
		return 1;
	mt_coro_switch(c, NULL);
	return 2; /* not reached */
}

/* Canary mode: overruns the stack by 8 KiB (into the unprotected guard
 * area) and switches away; switching back to it catches it. */
static void *overrun_then_switch(void *arg)
{
	size_t kib = mt_coro_stack_size(mt_coro_current()) / 1024 + 8;
	use_stack((int)kib, NULL);
	mt_coro_switch(mt_coro_parent(mt_coro_current()), NULL);
	return NULL;
}

static int canary_scenario(void)
{
	mt_coro *c;
	if (mt_coro_new(&c, overrun_then_switch, 64 * 1024) || mt_coro_set_name(c, "sloppy"))
		return 1;
	if (mt_coro_stack_guard(c) != MT_CORO_GUARD_CANARY)
		return 3;
	mt_coro_switch(c, NULL);
	mt_coro_switch(c, NULL);
	return 2;
}

/* A fault that is no overflow goes on to the previous handler (here the
 * default: death by SIGSEGV). */
static int stray_fault_scenario(void)
{
	mt_coro *c;
	if (mt_coro_new(&c, add_one, 0))
		return 1;
	static volatile uintptr_t unmapped = 16;
	*(volatile int *)unmapped = 1;
	return 2;
}

static void an_overflow_names_the_coroutine_and_aborts(void **state)
{
	struct child_run run;
	run_scenario("overflow", NULL, &run);
	assert_aborted_with(&run, "mtask: stack overflow in coroutine \"deep\": the fault at 0x");
	assert_aborted_with(&run, "is in the guard below its 63 KiB stack; aborting\n");
}

static void an_overflow_is_caught_by_mprotect_guards_too(void **state)
{
	struct child_run run;
	run_scenario("overflow", "mprotect", &run);
	assert_aborted_with(&run, "mtask: stack overflow in coroutine \"deep\": the fault at 0x");
}

static void a_canary_stack_overflow_is_caught_when_switched_to_again(void **state)
{
	struct child_run run;
	run_scenario("canary", "canary", &run);
	assert_aborted_with(&run, "mtask: stack overflow in coroutine \"sloppy\": the canary at "
				  "the bottom of its 63 KiB stack was overwritten");
}

static void other_faults_reach_the_previous_handler(void **state)
{
	struct child_run run;
	run_scenario("stray", NULL, &run);
	assert_null(strstr(run.err, "stack overflow"));
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
	assert_true(WIFSIGNALED(run.status));
	assert_int_equal(WTERMSIG(run.status), SIGSEGV);
#endif
}

/* ---- many coroutines ---- */

static int count_maps_lines(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	int lines = 0, ch;
	while (f && (ch = fgetc(f)) != EOF)
		lines += ch == '\n';
	if (f)
		fclose(f);
	return lines;
}

static void *park(void *arg)
{
	mt_coro_switch(mt_coro_parent(mt_coro_current()), NULL);
	return NULL;
}

/* Every coroutine started and parked (its stack touched), guarded, in a
 * few maps lines: far below the default vm.max_map_count of 65530. */
static void many_live_coroutines_stay_far_below_the_map_count(void **state)
{
	static mt_coro *many[MANY_COROUTINES];
	int before = count_maps_lines();
	for (int i = 0; i < MANY_COROUTINES; i++) {
		many[i] = new_coro(park, 0);
		mt_coro_switch(many[i], NULL);
	}
	int during = count_maps_lines();
	print_message("%d live coroutines: /proc/self/maps %d -> %d lines\n", MANY_COROUTINES,
		      before, during);
	assert_int_equal(mt_coro_stack_guard(many[MANY_COROUTINES - 1]), MT_CORO_GUARD_PAGES);
#ifndef __SANITIZE_THREAD__
	assert_true(during - before < 1000); /* TSan maps a few VMAs per fiber */
#endif
	for (int i = 0; i < MANY_COROUTINES; i++)
		mt_coro_free(many[i]);
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "overflow"))
		return overflow_scenario();
	if (argc == 2 && !strcmp(argv[1], "canary"))
		return canary_scenario();
	if (argc == 2 && !strcmp(argv[1], "stray"))
		return stray_fault_scenario();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_first_switch_passes_the_argument_and_the_parent_gets_the_result),
		cmocka_unit_test(values_go_both_ways_through_switch),
		cmocka_unit_test(eat_and_play_take_turns),
		cmocka_unit_test(current_is_main_outside_and_the_coroutine_inside),
		cmocka_unit_test(a_dead_parent_hands_its_child_s_result_to_the_grandparent),
		cmocka_unit_test(a_finished_coroutine_returns_to_its_parent_not_its_last_switcher),
		cmocka_unit_test(set_parent_refuses_cycles_and_bad_arguments),
		cmocka_unit_test(switching_to_a_dead_coroutine_reaches_its_live_ancestor),
		cmocka_unit_test(bad_arguments_are_refused),
		cmocka_unit_test(throw_runs_the_cleanups_newest_first_and_finishes_with_the_value),
		cmocka_unit_test(a_normal_end_runs_the_cleanups_left),
		cmocka_unit_test(kill_and_free_run_the_cleanups_of_a_suspended_coroutine),
		cmocka_unit_test(killing_a_never_started_coroutine_only_marks_it_dead),
		cmocka_unit_test(a_coroutine_may_throw_into_itself_to_end),
		cmocka_unit_test(a_coroutine_of_another_thread_is_eperm),
		cmocka_unit_test(threads_switch_their_own_coroutines_at_once),
		cmocka_unit_test(a_forked_child_continues_in_the_calling_coroutine),
		cmocka_unit_test(the_fp_control_state_is_per_coroutine),
		cmocka_unit_test(stacks_round_up_and_hold_nearly_their_size),
		cmocka_unit_test(a_freed_stack_is_reused_by_the_next_spawn),
		cmocka_unit_test(an_overflow_names_the_coroutine_and_aborts),
		cmocka_unit_test(an_overflow_is_caught_by_mprotect_guards_too),
		cmocka_unit_test(a_canary_stack_overflow_is_caught_when_switched_to_again),
		cmocka_unit_test(other_faults_reach_the_previous_handler),
		cmocka_unit_test(many_live_coroutines_stay_far_below_the_map_count),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
