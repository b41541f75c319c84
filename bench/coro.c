/* coro.c: `mtask bench coro`: what mtask's coroutines cost beside
 * Boost.Context's fcontext (the fastest switch there is: the floor),
 * ucontext's swapcontext and Python's greenlet.
 *
 * - Switch: a ping-pong between the batch's main code and one partner
 *   coroutine that sends every value straight back; a sample times
 *   SWITCHES_PER_SAMPLE switches (ucontext: fewer, it is slower) and is
 *   scaled to 1000, so the table's microseconds per 1000 are nanoseconds
 *   per switch.
 * - Spawn: create a coroutine, run it to its end (it returns at once),
 *   free it; 1000 per sample, scaled the same way. mt_coro takes stacks
 *   from its per-thread cache; Boost and ucontext reuse one stack, the
 *   most a user of those gets without a pool of their own.
 * - Memory: 100,000 coroutines with default (256 KiB, guarded) stacks,
 *   each started and parked in a switch; the resident memory they add,
 *   per coroutine, measured in a fresh child. The harness has rows of
 *   times only, so these rows hold bytes where the others hold
 *   nanoseconds (the table's "ns" reads as B, "us" as kB); the floor is
 *   the budget, 1 GiB / 100,000, so the ratio column reads as a share of
 *   it. Python's greenlet copies stacks to the heap instead, and is shown
 *   for scale.
 *
 * - Hub spawn + join: mt_greenlet_spawn, mt_greenlet_join from outside
 *   greenlets (which runs the hub), mt_greenlet_free, of a greenlet that
 *   returns at once, beside gevent.spawn(f).join() (bench/peers/
 *   gevents.py); 1000 per sample. The target is gevent at least 100x
 *   slower.
 *
 * Boost.Context is linked when libboost-context-dev was installed at
 * build time (MTASK_HAVE_BOOST_CONTEXT); otherwise its rows say skipped.
 * Its fcontext API is extern "C", declared here as its header does. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#include "bench.h"
#include "mtask/coro.h"
#include "mtask/hub.h"

#define CORO_ROUNDS 10
#define SWITCHES_PER_SAMPLE 20000 /* bench/peers/coros.py's too */
#define UCONTEXT_SWITCHES_PER_SAMPLE 2000
#define SPAWNS_PER_SAMPLE 1000 /* coros.py's too */
#define HUB_SPAWNS_PER_SAMPLE 1000 /* gevents.py's too */
#define REPORTED_PER 1000
#define LIVE_COROUTINES 100000
#define MEMORY_BUDGET (1024.0 * 1024 * 1024) /* for LIVE_COROUTINES */
#define PEER_STACK_BYTES (256 * 1024)

#define SWITCH_OP "switch, ping-pong, per 1000 switches"
#define SPAWN_OP "spawn + run to end + free, per 1000"
#define HUB_OP "greenlet spawn + join + free (gevent), per 1000"
#define MEMORY_OP "RSS per live coroutine of 100,000 (bytes: ns = B, us = kB)"
#define BOOST_IMPL "Boost.Context fcontext (floor)"
#define BOOST_MISSING "libboost-context-dev was not installed when mtask was built"

/* ---- mtask ---- */

static mt_coro *partner;

static void *echo_forever(void *value)
{
	mt_coro *parent = mt_coro_parent(mt_coro_current());
	for (;;)
		value = mt_coro_switch(parent, value);
	return NULL;
}

static int setup_mt_switch(void)
{
	return mt_coro_new(&partner, echo_forever, 0);
}

static int mt_switches(void)
{
	uintptr_t sum = 0;
	for (uintptr_t i = 0; i < SWITCHES_PER_SAMPLE / 2; i++)
		sum += (uintptr_t)mt_coro_switch(partner, (void *)i);
	return sum == (uintptr_t)SWITCHES_PER_SAMPLE / 2 * (SWITCHES_PER_SAMPLE / 2 - 1) / 2
		       ? 0
		       : -EPROTO;
}

static void *return_value(void *value)
{
	return value;
}

static int mt_spawns(void)
{
	for (uintptr_t i = 0; i < SPAWNS_PER_SAMPLE; i++) {
		mt_coro *c;
		int err = mt_coro_new(&c, return_value, 0);
		if (err)
			return err;
		void *got = mt_coro_switch(c, (void *)i);
		mt_coro_free(c);
		if (got != (void *)i)
			return -EPROTO;
	}
	return 0;
}

static int return_zero(void *arg)
{
	return 0;
}

static int hub_spawn_joins(void)
{
	for (int i = 0; i < HUB_SPAWNS_PER_SAMPLE; i++) {
		mt_greenlet *g;
		int err = mt_greenlet_spawn(&g, return_zero, NULL, NULL);
		if (!err)
			err = mt_greenlet_join(g, -1);
		mt_greenlet_free(g);
		if (err)
			return err;
	}
	return 0;
}

/* ---- ucontext ---- */

static ucontext_t uc_main, uc_partner;
static char *uc_stack;

static void uc_echo_forever(void)
{
	for (;;)
		swapcontext(&uc_partner, &uc_main);
}

static int setup_uc_switch(void)
{
	uc_stack = malloc(PEER_STACK_BYTES);
	if (!uc_stack || getcontext(&uc_partner) < 0)
		return -ENOMEM;
	uc_partner.uc_stack.ss_sp = uc_stack;
	uc_partner.uc_stack.ss_size = PEER_STACK_BYTES;
	uc_partner.uc_link = NULL;
	makecontext(&uc_partner, uc_echo_forever, 0);
	return 0;
}

static int uc_switches(void)
{
	for (int i = 0; i < UCONTEXT_SWITCHES_PER_SAMPLE / 2; i++)
		if (swapcontext(&uc_main, &uc_partner) < 0)
			return -errno;
	return 0;
}

static void uc_return_at_once(void)
{
}

static int setup_uc_spawn(void)
{
	uc_stack = malloc(PEER_STACK_BYTES);
	return uc_stack ? 0 : -ENOMEM;
}

/* A context that ends returns through uc_link to the spawner. */
static int uc_spawns(void)
{
	for (int i = 0; i < SPAWNS_PER_SAMPLE; i++) {
		if (getcontext(&uc_partner) < 0)
			return -errno;
		uc_partner.uc_stack.ss_sp = uc_stack;
		uc_partner.uc_stack.ss_size = PEER_STACK_BYTES;
		uc_partner.uc_link = &uc_main;
		makecontext(&uc_partner, uc_return_at_once, 0);
		if (swapcontext(&uc_main, &uc_partner) < 0)
			return -errno;
	}
	return 0;
}

/* ---- Boost.Context ---- */

#ifdef MTASK_HAVE_BOOST_CONTEXT
typedef void *fcontext_t;
typedef struct {
	fcontext_t fctx;
	void *data;
} transfer_t;
transfer_t jump_fcontext(fcontext_t const to, void *vp);
fcontext_t make_fcontext(void *sp, size_t size, void (*fn)(transfer_t));

static fcontext_t boost_partner;
static char *boost_stack;

static void boost_echo_forever(transfer_t from)
{
	for (;;)
		from = jump_fcontext(from.fctx, from.data);
}

static int setup_boost_switch(void)
{
	boost_stack = malloc(PEER_STACK_BYTES);
	if (!boost_stack)
		return -ENOMEM;
	boost_partner =
		make_fcontext(boost_stack + PEER_STACK_BYTES, PEER_STACK_BYTES, boost_echo_forever);
	return 0;
}

static int boost_switches(void)
{
	uintptr_t sum = 0;
	for (uintptr_t i = 0; i < SWITCHES_PER_SAMPLE / 2; i++) {
		transfer_t back = jump_fcontext(boost_partner, (void *)i);
		boost_partner = back.fctx;
		sum += (uintptr_t)back.data;
	}
	return sum == (uintptr_t)SWITCHES_PER_SAMPLE / 2 * (SWITCHES_PER_SAMPLE / 2 - 1) / 2
		       ? 0
		       : -EPROTO;
}

/* An fcontext function must not return: it ends by jumping back for the
 * last time, and its stack is then free for the next one. */
static void boost_return_value(transfer_t from)
{
	jump_fcontext(from.fctx, from.data);
}

static int setup_boost_spawn(void)
{
	boost_stack = malloc(PEER_STACK_BYTES);
	return boost_stack ? 0 : -ENOMEM;
}

static int boost_spawns(void)
{
	for (uintptr_t i = 0; i < SPAWNS_PER_SAMPLE; i++) {
		fcontext_t c = make_fcontext(boost_stack + PEER_STACK_BYTES, PEER_STACK_BYTES,
					     boost_return_value);
		if (jump_fcontext(c, (void *)i).data != (void *)i)
			return -EPROTO;
	}
	return 0;
}
#endif

/* ---- the timed rows ---- */

#define C_ROW(op_name, impl, is_floor, setup_fn, op_fn, batch_size)                                \
	{                                                                                          \
		.operation = (op_name), .implementation = (impl), .reference = (is_floor),         \
		.setup = (setup_fn), .op = (op_fn), .batch = (batch_size), .quick_batch = 10       \
	}
#define PYTHON_ROW(op_name, kind, batch_size)                                                      \
	{                                                                                          \
		.operation = (op_name), .implementation = "Python greenlet",                       \
		.peer_script = "coros.py", .peer_kind = (kind), .batch = (batch_size),             \
		.quick_batch = 3                                                                   \
	}

/* Batches take 20-60 ms: a sample of mt_coro or Boost switches ~0.1 ms,
 * of ucontext switches ~0.5 ms, of C spawns 0.05-2 ms. Boost first, when
 * there is one, so that its row heads the operation. */
static const struct bench_impl switch_impls[] = {
#ifdef MTASK_HAVE_BOOST_CONTEXT
	C_ROW(SWITCH_OP, BOOST_IMPL, true, setup_boost_switch, boost_switches, 300),
#endif
	C_ROW(SWITCH_OP, "mt_coro_switch", false, setup_mt_switch, mt_switches, 300),
	C_ROW(SWITCH_OP, "ucontext swapcontext", false, setup_uc_switch, uc_switches, 60),
	PYTHON_ROW(SWITCH_OP, "switch", 20),
};

static const struct bench_impl spawn_impls[] = {
#ifdef MTASK_HAVE_BOOST_CONTEXT
	C_ROW(SPAWN_OP, BOOST_IMPL, true, setup_boost_spawn, boost_spawns, 300),
#endif
	C_ROW(SPAWN_OP, "mt_coro_new + switch + free", false, NULL, mt_spawns, 300),
	C_ROW(SPAWN_OP, "ucontext makecontext + swapcontext", false, setup_uc_spawn, uc_spawns, 20),
	PYTHON_ROW(SPAWN_OP, "spawn", 20),
};

/* mtask's batch ~60 ms, gevent's ~300 ms (about 33 us per spawn+join). */
static const struct bench_impl hub_impls[] = {
	C_ROW(HUB_OP, "mt_greenlet_spawn + join + free", true, NULL, hub_spawn_joins, 300),
	{.operation = HUB_OP, .implementation = "Python gevent spawn + join",
	 .peer_script = "gevents.py", .peer_kind = "spawn-join", .batch = 10, .quick_batch = 2},
};

#define IMPL_COUNT(impls) ((int)(sizeof(impls) / sizeof((impls)[0])))

/* A row filled here rather than by bench_run_rounds; NULL when full. */
static struct bench_row *add_row(struct bench_result *result, const char *operation,
				 const char *implementation, bool reference)
{
	if (result->row_count == BENCH_ROWS_MAX)
		return NULL;
	struct bench_row *row = &result->rows[result->row_count++];
	memset(row, 0, sizeof *row);
	row->operation = operation;
	row->implementation = implementation;
	row->reference = reference;
	return row;
}

/* Runs one operation's rows; without Boost, adds its row as skipped.
 * Returns the index of the Boost row through *boost, of mt_coro's
 * through *mtask, and the error of the rounds. */
static int run_operation(const struct bench_config *config, struct bench_result *result,
			 const struct bench_impl *impls, int count, int *boost, int *mtask)
{
	int first = result->row_count;
	int err = bench_run_rounds(config, result, impls, count, CORO_ROUNDS);
	int per_sample = SWITCHES_PER_SAMPLE;
	if (!strcmp(impls[0].operation, SPAWN_OP))
		per_sample = SPAWNS_PER_SAMPLE;
	for (int i = first; i < result->row_count; i++) {
		bool slow_ucontext =
			!strcmp(result->rows[i].implementation, "ucontext swapcontext");
		int n = slow_ucontext ? UCONTEXT_SWITCHES_PER_SAMPLE : per_sample;
		bench_row_scale(&result->rows[i], (uint64_t)(n / REPORTED_PER));
	}
#ifdef MTASK_HAVE_BOOST_CONTEXT
	*boost = first;
	*mtask = first + 1;
#else
	*mtask = first;
	*boost = result->row_count;
	struct bench_row *row = add_row(result, impls[0].operation, BOOST_IMPL, true);
	if (row)
		snprintf(row->skipped, sizeof row->skipped, "%s", BOOST_MISSING);
#endif
	return err;
}

/* ---- memory of 100,000 live coroutines ---- */

struct memory_sample {
	uint64_t bytes_per_coroutine;
	int maps_lines_added;
};

static long resident_bytes(void)
{
	long pages = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (f && fscanf(f, "%ld %ld", &pages, &resident) != 2)
		resident = 0;
	if (f)
		fclose(f);
	return resident * sysconf(_SC_PAGESIZE);
}

static int maps_lines(void)
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

/* In a fresh child: start and park LIVE_COROUTINES coroutines. */
static int measure_live_coroutines(struct memory_sample *sample)
{
	mt_coro **live = calloc(LIVE_COROUTINES, sizeof *live);
	if (!live)
		return -ENOMEM;
	long before = resident_bytes();
	int lines_before = maps_lines();
	for (int i = 0; i < LIVE_COROUTINES; i++) {
		int err = mt_coro_new(&live[i], park, 0);
		if (err)
			return err;
		mt_coro_switch(live[i], NULL);
	}
	long added = resident_bytes() - before;
	sample->bytes_per_coroutine = added > 0 ? (uint64_t)added / LIVE_COROUTINES : 0;
	sample->maps_lines_added = maps_lines() - lines_before;
	return 0;
}

static int memory_sample_in_child(struct memory_sample *sample)
{
	int pipefd[2];
	if (pipe(pipefd) < 0)
		return -errno;
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		close(pipefd[0]);
		int err = measure_live_coroutines(sample);
		if (err)
			fprintf(stderr, "mtask bench: coro memory: %s\n", mt_strerror(err));
		_exit(err || write(pipefd[1], sample, sizeof *sample) != sizeof *sample);
	}
	close(pipefd[1]);
	ssize_t got = pid < 0 ? -1 : read(pipefd[0], sample, sizeof *sample);
	close(pipefd[0]);
	int status = pid < 0 ? -errno : bench_wait_exit_status(pid);
	return status == 0 && got == (ssize_t)sizeof *sample ? 0 : -ECHILD;
}

static int compare_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* The budget and mt_coro's rows, then greenlet's; *mtask and *budget get
 * their indexes. */
static int run_memory(const struct bench_config *config, struct bench_result *result, int *budget,
		      int *mtask)
{
	static char mtask_label[96];
	static const struct bench_impl greenlet = {.operation = MEMORY_OP,
						   .implementation = "Python greenlet",
						   .peer_script = "coros.py",
						   .peer_kind = "memory",
						   .batch = 1,
						   .quick_batch = 1};
	int rounds = config->quick ? 1 : 3;
	*budget = result->row_count;
	struct bench_row *budget_row =
		add_row(result, MEMORY_OP, "budget: 1 GiB / 100,000 (floor)", true);
	*mtask = result->row_count;
	struct bench_row *row = add_row(result, MEMORY_OP, mtask_label, false);
	if (!budget_row || !row)
		return -E2BIG;
	int err = bench_row_add_sample(budget_row, (uint64_t)(MEMORY_BUDGET / LIVE_COROUTINES));
	struct memory_sample sample = {0};
	for (int i = 0; !err && i < rounds; i++) {
		err = memory_sample_in_child(&sample);
		if (!err)
			err = bench_row_add_sample(row, sample.bytes_per_coroutine);
	}
	qsort(row->ns, row->count, sizeof row->ns[0], compare_u64);
	snprintf(mtask_label, sizeof mtask_label,
		 "mt_coro, 256 KiB guarded stacks (+%d maps lines)", sample.maps_lines_added);
	return err ? err : bench_run_rounds(config, result, &greenlet, 1, rounds);
}

/* The hub's rows: mtask's is the reference; its index goes to *mtask. */
static int run_hub(const struct bench_config *config, struct bench_result *result, int *mtask)
{
	*mtask = result->row_count;
	int err = bench_run_rounds(config, result, hub_impls, IMPL_COUNT(hub_impls), CORO_ROUNDS);
	for (int i = *mtask; i < result->row_count; i++)
		bench_row_scale(&result->rows[i], HUB_SPAWNS_PER_SAMPLE / REPORTED_PER);
	return err;
}

static void add_targets(struct bench_result *result, int boost, const int mtask[4], int budget)
{
	int first = mtask[0]; /* the switch rows follow in switch_impls' order */
	bench_add_target(result, "mt_coro switch vs Boost.Context fcontext", mtask[0], boost,
			 BENCH_AT_MOST, 1.0);
	bench_add_target(result, "100,000 live guarded mt_coros: RSS vs 1 GiB", mtask[2], budget,
			 BENCH_AT_MOST, 1.0);
	bench_add_target(result, "speedup over ucontext: swapcontext / mt_coro_switch", first + 1,
			 first, BENCH_AT_LEAST, 1.0);
	bench_add_target(result, "speedup over greenlet: switch / mt_coro_switch", first + 2, first,
			 BENCH_AT_LEAST, 1.0);
	bench_add_target(result, "speedup over greenlet: spawn / mt_coro spawn", mtask[1] + 2,
			 mtask[1], BENCH_AT_LEAST, 1.0);
	bench_add_target(result, "speedup over gevent: spawn+join / mt_greenlet", mtask[3] + 1,
			 mtask[3], BENCH_AT_LEAST, 100.0);
}

int bench_coro(const struct bench_config *config, struct bench_result *result)
{
	_Static_assert(SWITCHES_PER_SAMPLE % (2 * REPORTED_PER) == 0, "whole round trips");
	_Static_assert(UCONTEXT_SWITCHES_PER_SAMPLE % (2 * REPORTED_PER) == 0, "whole scale");
	int boost[2], mtask[4], budget;
	int err = run_operation(config, result, switch_impls, IMPL_COUNT(switch_impls), &boost[0],
				&mtask[0]);
	if (!err)
		err = run_operation(config, result, spawn_impls, IMPL_COUNT(spawn_impls), &boost[1],
				    &mtask[1]);
	if (!err)
		err = run_memory(config, result, &budget, &mtask[2]);
	if (!err)
		err = run_hub(config, result, &mtask[3]);
	if (!err)
		add_targets(result, boost[0], mtask, budget);
	return err;
}
