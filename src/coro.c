/* coro.c: greenlet in C: coroutines on stacks of their own, switched by
 * src/arch/'s assembly, with parents, throw and kill, cleanups, and the
 * SIGSEGV handler that names a coroutine whose stack overflowed.
 *
 * The switch path is the hot one: two thread-local loads, three checks,
 * a store, and a tail call into mt__coro_swap, which saves and restores
 * the callee-saved registers and the FP control state. Every record has
 * a key that equals its thread's id while the switch path may take it
 * (alive, on a page-guarded stack), so one comparison covers "of this
 * thread", "not dead" and "no canary to check". A coroutine is running
 * when it is its thread's `current`, so a switch writes no state into
 * either record. Everything else (misuse, a dead target, a canary-guarded
 * stack, a switch to the current coroutine) takes the checked path.
 *
 * Throw without a flag. A resumed coroutine normally returns from its
 * pending switch; to throw into it, mt__coro_reroute edits its saved
 * frame so that it resumes in coro_unwind instead, right below its
 * frames, which stay intact for the cleanups to use (their arguments may
 * point into them). So the switch path checks nothing after the swap.
 *
 * A coroutine's record lives at the top of its own stack area: spawning
 * allocates nothing but the stack, and a parked coroutine's record and
 * first frames share one page. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch/switch.h"
#include "coro_stack.h"
#include "mtask/coro.h"

#if defined(MT__CORO_ASAN) || defined(MT__CORO_TSAN)
#define CORO_SANITIZED 1
#endif
#ifdef MT__CORO_ASAN
void __sanitizer_start_switch_fiber(void **fake_stack_save, const void *bottom, size_t size);
void __sanitizer_finish_switch_fiber(void *fake_stack_save, const void **bottom_old,
				     size_t *size_old);
#endif
#ifdef MT__CORO_TSAN
void *__tsan_get_current_fiber(void);
void *__tsan_create_fiber(unsigned flags);
void __tsan_destroy_fiber(void *fiber);
void __tsan_switch_to_fiber(void *fiber, unsigned flags);
void __tsan_set_fiber_name(void *fiber, const char *name);
#endif

/* Running is not a state: the running coroutine is its thread's current. */
enum coro_state { CORO_NEW, CORO_STARTED, CORO_DEAD };

#define CORO_MAGIC 0x6f726f63u /* a live record, for the SIGSEGV handler */
#define INLINE_CLEANUPS 4
#define NAME_BYTES 32
#define SIGNAL_STACK_BYTES (64u * 1024u)

struct cleanup {
	mt_coro_cleanup_fn fn;
	void *arg;
};

/* A record's key while the switch path may not take it: dead, or its
 * canary wants checking first. No thread has this id. */
#define NO_FAST_SWITCH UINT64_MAX

struct mt_coro {
	/* What the switch path reads, first. */
	void *sp;		/* the saved stack pointer while not running */
	uint64_t key;		/* owner, or NO_FAST_SWITCH */
	uint64_t owner;		/* the id of its thread */
	const uint64_t *canary; /* a canary-guarded stack's bottom word */
	uint8_t state;		/* enum coro_state */
	bool started, thrown;
	uint32_t magic;
	mt_coro *parent; /* NULL: a main coroutine, or its thread ended */
	mt_coro_fn fn;
	struct mt__stack *stack;  /* NULL for a main coroutine */
	struct mt__list children; /* the coroutines whose parent this is */
	struct mt__list sibling;  /* in the parent's children */
	struct cleanup *cleanups; /* inline_cleanups, or grown on the heap */
	unsigned cleanup_count, cleanup_capacity;
	uint64_t number; /* coro-N: the N-th its thread created */
	char name[NAME_BYTES];
	struct cleanup inline_cleanups[INLINE_CLEANUPS];
#ifdef MT__CORO_ASAN
	void *asan_fake_stack; /* ASan's frames of the suspended coroutine */
	const void *asan_bottom;
	size_t asan_size;
#endif
#ifdef MT__CORO_TSAN
	void *tsan_fiber;
#endif
};

/* Coroutine records sit at the top of their stack areas, cache-aligned. */
#define RECORD_BYTES ((sizeof(struct mt_coro) + 63) & ~(size_t)63)

/* A thread's coroutine state, made at its first coroutine call. */
struct coro_thread {
	uint64_t created;
	struct mt__stack_cache cache;
	void *signal_stack; /* installed here, or NULL */
	mt_coro main;
};

/* What the switch path reads of its thread: a few words of initial-exec
 * TLS, read without following a pointer. All zero until the thread's
 * first coroutine call. Not static: the x86-64 switch path reads it
 * (switch.h gives the offsets it uses, checked below). */
struct coro_tls {
	mt_coro *current; /* the running coroutine */
	uint64_t id;	  /* unique in the process: a record's owner */
	struct coro_thread *state;
#ifdef CORO_SANITIZED
	mt_coro *previous; /* the coroutine that switched to current */
#endif
};
MT_HIDDEN __thread struct coro_tls mt__coro_tls MT_TLS_FAST;
#define this_thread mt__coro_tls
_Static_assert(offsetof(struct coro_tls, current) == MT__TLS_CURRENT, "switch.h's offsets");
_Static_assert(offsetof(struct coro_tls, id) == MT__TLS_ID, "switch.h's offsets");
_Static_assert(offsetof(struct mt_coro, sp) == MT__CORO_SP, "switch.h's offsets");
_Static_assert(offsetof(struct mt_coro, key) == MT__CORO_KEY, "switch.h's offsets");

static pthread_once_t process_once = PTHREAD_ONCE_INIT;
static pthread_key_t thread_exit_key;
static bool process_ready;
static _Atomic uint64_t next_thread_id = 1;
static struct sigaction previous_segv;

/* ---- messages from a dying process (async-signal-safe) ---- */

struct message {
	char text[320];
	size_t length;
};

static void say(struct message *m, const char *s)
{
	while (*s && m->length < sizeof m->text - 1)
		m->text[m->length++] = *s++;
}

static void say_number(struct message *m, uint64_t n, unsigned base)
{
	char digits[24], *at = digits + sizeof digits;
	*--at = '\0';
	do
		*--at = "0123456789abcdef"[n % base];
	while ((n /= base) != 0);
	say(m, at);
}

static void say_name(struct message *m, const mt_coro *c)
{
	if (c->magic != CORO_MAGIC) {
		say(m, "?");
	} else if (c->name[0]) {
		char name[NAME_BYTES];
		memcpy(name, c->name, sizeof name);
		name[NAME_BYTES - 1] = '\0'; /* the record may be damaged */
		say(m, name);
	} else {
		say(m, "coro-");
		say_number(m, c->number, 10);
	}
}

static void say_overflow_start(struct message *m, const mt_coro *c)
{
	say(m, "mtask: stack overflow in coroutine \"");
	say_name(m, c);
	say(m, "\": ");
}

static _Noreturn void print_and_abort(const struct message *m)
{
	ssize_t ignored = write(STDERR_FILENO, m->text, m->length);
	(void)ignored;
	abort();
}

static _Noreturn void canary_overwritten(const mt_coro *c)
{
	struct message m = {.length = 0};
	say_overflow_start(&m, c);
	say(&m, "the canary at the bottom of its ");
	say_number(&m, (uint64_t)((const char *)c - c->stack->lo) / 1024, 10);
	say(&m, " KiB stack was overwritten (seen late: memory below the stack may be "
		"damaged); aborting\n");
	print_and_abort(&m);
}

/* ---- the SIGSEGV handler: overflows, and everything else passed on ---- */

static void pass_segv_on(int sig, siginfo_t *info, void *context)
{
	if (previous_segv.sa_flags & SA_SIGINFO) {
		previous_segv.sa_sigaction(sig, info, context);
		return;
	}
	if (previous_segv.sa_handler != SIG_DFL && previous_segv.sa_handler != SIG_IGN) {
		previous_segv.sa_handler(sig);
		return;
	}
	/* The default action: a fault happens again as this handler returns,
	 * now fatal; a signal sent by kill() is sent again. */
	struct sigaction fatal = {.sa_handler = SIG_DFL};
	sigemptyset(&fatal.sa_mask);
	sigaction(sig, &fatal, NULL);
	if (info->si_code <= 0)
		raise(sig);
}

static void on_segv(int sig, siginfo_t *info, void *context)
{
	const struct mt__stack *s = mt__stack_guard_owner(info->si_addr);
	if (!s || info->si_code <= 0) {
		pass_segv_on(sig, info, context);
		return;
	}
	const mt_coro *c = (const mt_coro *)(s->hi - RECORD_BYTES);
	struct message m = {.length = 0};
	say_overflow_start(&m, c);
	say(&m, "the fault at 0x");
	say_number(&m, (uintptr_t)info->si_addr, 16);
	say(&m, " is in the guard below its ");
	say_number(&m, (uint64_t)((const char *)c - s->lo) / 1024, 10);
	say(&m, " KiB stack; aborting\n");
	print_and_abort(&m);
}

static void install_overflow_handler(void)
{
	struct sigaction action = {.sa_sigaction = on_segv, .sa_flags = SA_SIGINFO | SA_ONSTACK};
	sigemptyset(&action.sa_mask);
	sigaction(SIGSEGV, &action, &previous_segv);
}

/* An overflow faults with the stack exhausted, so the handler needs a
 * stack of its own on every thread that runs coroutines. A thread that
 * already has one (a sanitizer's, the program's) keeps it. */
static void install_signal_stack(struct coro_thread *t)
{
	stack_t old;
	if (sigaltstack(NULL, &old) == 0 && !(old.ss_flags & SS_DISABLE))
		return;
	stack_t ours = {.ss_sp = malloc(SIGNAL_STACK_BYTES), .ss_size = SIGNAL_STACK_BYTES};
	if (ours.ss_sp && sigaltstack(&ours, NULL) == 0)
		t->signal_stack = ours.ss_sp;
	else
		free(ours.ss_sp); /* overflows then die without the message */
}

/* ---- thread state ---- */

static void detach_children(mt_coro *c)
{
	while (mt__list_linked(&c->children)) {
		struct mt__list *node = c->children.next;
		mt__list_del(node);
		mt__list_entry(node, mt_coro, sibling)->parent = NULL;
	}
}

/* The thread's exit: its main coroutine's record goes away, so its
 * children lose their parent; coroutines still alive keep their stacks
 * until freed. */
static void thread_ended(void *state)
{
	struct coro_thread *t = state;
	detach_children(&t->main);
	mt__stack_cache_flush(&t->cache);
	if (t->signal_stack) {
		stack_t off = {.ss_flags = SS_DISABLE};
		sigaltstack(&off, NULL);
		free(t->signal_stack);
	}
	memset(&this_thread, 0, sizeof this_thread);
	free(t);
}

static void prepare_process(void)
{
	process_ready = pthread_key_create(&thread_exit_key, thread_ended) == 0;
	install_overflow_handler();
}

static void init_record_lists(mt_coro *c)
{
	c->magic = CORO_MAGIC;
	c->cleanups = c->inline_cleanups;
	c->cleanup_capacity = INLINE_CLEANUPS;
	mt__list_init(&c->children);
	mt__list_init(&c->sibling);
}

static struct coro_thread *start_thread_state(void)
{
	pthread_once(&process_once, prepare_process);
	struct coro_thread *t = calloc(1, sizeof *t);
	if (!t || !process_ready || pthread_setspecific(thread_exit_key, t)) {
		free(t);
		return NULL;
	}
	uint64_t id = atomic_fetch_add_explicit(&next_thread_id, 1, memory_order_relaxed);
	init_record_lists(&t->main);
	t->main.key = t->main.owner = id;
	t->main.state = CORO_STARTED;
	t->main.started = true;
#ifdef MT__CORO_TSAN
	t->main.tsan_fiber = __tsan_get_current_fiber();
#endif
	install_signal_stack(t);
	this_thread.current = &t->main;
	this_thread.id = id;
	this_thread.state = t;
	return t;
}

static struct coro_thread *thread_state(void)
{
	struct coro_thread *t = this_thread.state;
	return t ? t : start_thread_state();
}

/* Whether c is a coroutine of the calling thread. */
static bool owned_here(const mt_coro *c)
{
	return this_thread.id && c->owner == this_thread.id;
}

/* ---- switching ---- */

static inline void check_canary(const mt_coro *c)
{
	if (__builtin_expect(c->canary != NULL, 0) && *c->canary != MT__STACK_CANARY)
		canary_overwritten(c);
}

/* The sanitizers' side of a switch: ASan moves its idea of the stack
 * (and frees a dying coroutine's fake frames), TSan its shadow stack and
 * the happens-before between the two. */
static inline void before_swap(mt_coro *from, mt_coro *to, bool dying)
{
#ifdef CORO_SANITIZED
	this_thread.previous = from;
#endif
#ifdef MT__CORO_ASAN
	__sanitizer_start_switch_fiber(dying ? NULL : &from->asan_fake_stack, to->asan_bottom,
				       to->asan_size);
#endif
#ifdef MT__CORO_TSAN
	__tsan_switch_to_fiber(to->tsan_fiber, 0);
#endif
}

/* In self, resumed (first: started) on its own stack. A main coroutine's
 * stack bounds are learnt here, as it is left. */
static inline void after_swap(mt_coro *self, bool first)
{
#ifdef MT__CORO_ASAN
	const void *bottom;
	size_t size;
	__sanitizer_finish_switch_fiber(first ? NULL : self->asan_fake_stack, &bottom, &size);
	mt_coro *previous = this_thread.previous;
	if (!previous->stack) {
		previous->asan_bottom = bottom;
		previous->asan_size = size;
	}
#endif
}

/* Suspends the current coroutine and resumes to (of this thread, not
 * dead, not current) with value. */
static inline void *transfer(mt_coro *to, void *value)
{
	mt_coro *from = this_thread.current;
	this_thread.current = to;
#ifdef CORO_SANITIZED
	before_swap(from, to, false);
	value = mt__coro_swap(&from->sp, value, to->sp);
	after_swap(from, false);
	return value;
#else
	return mt__coro_swap(&from->sp, value, to->sp);
#endif
}

/* transfer off the switch path: canary-guarded stacks are checked here,
 * the one being left and the one about to run (which may have
 * overflowed when it last ran and left through the switch path). */
static void *checked_transfer(mt_coro *to, void *value)
{
	check_canary(this_thread.current);
	check_canary(to);
	return transfer(to, value);
}

/* Where a finished coroutine's result goes: its nearest live ancestor (a
 * main coroutine never dies, and parents form no cycle). */
static mt_coro *live_ancestor(const mt_coro *c)
{
	mt_coro *p = c->parent;
	while (p->state == CORO_DEAD)
		p = p->parent;
	return p;
}

static void run_cleanups(mt_coro *c)
{
	while (c->cleanup_count) {
		struct cleanup k = c->cleanups[--c->cleanup_count];
		k.fn(k.arg);
	}
	if (c->cleanups != c->inline_cleanups) {
		free(c->cleanups);
		c->cleanups = c->inline_cleanups;
		c->cleanup_capacity = INLINE_CLEANUPS;
	}
}

static void mark_dead(mt_coro *c, bool thrown)
{
	c->state = CORO_DEAD;
	c->key = NO_FAST_SWITCH;
	c->thrown = thrown;
}

/* Ends the current coroutine c: its cleanups, then its result to its
 * live ancestor. Its stack stays until mt_coro_free. */
static _Noreturn void finish(mt_coro *c, void *result, bool thrown)
{
	run_cleanups(c);
	check_canary(c);
	mark_dead(c, thrown);
	mt_coro *to = live_ancestor(c);
	check_canary(to);
	this_thread.current = to;
	before_swap(c, to, true);
	mt__coro_swap(&c->sp, result, to->sp);
	abort(); /* nothing resumes a dead coroutine */
}

/* A coroutine's first instructions: value is the first switch's. */
static _Noreturn void coro_begin(void *value)
{
	mt_coro *c = this_thread.current;
	after_swap(c, true);
	c->state = CORO_STARTED;
	c->started = true;
	finish(c, c->fn(value), false);
}

/* Where a coroutine thrown into resumes (mt__coro_reroute). */
static _Noreturn void coro_unwind(void *value)
{
	mt_coro *c = this_thread.current;
	after_swap(c, false);
	finish(c, value, true);
}

int mt_coro_switch_checked(mt_coro *c, void *value, void **result)
{
	if (!c || !result)
		return -EINVAL;
	if (!owned_here(c))
		return -EPERM;
	if (c->state == CORO_DEAD)
		c = live_ancestor(c);
	*result = c == this_thread.current ? value : checked_transfer(c, value);
	return 0;
}

/* Everything the switch path leaves: misuse, a dead or canary-guarded
 * target, a switch to the current coroutine. Out of line, so that the
 * switch path needs no stack frame. */
__attribute__((noinline)) void *mt__coro_switch_slowly(mt_coro *c, void *value)
{
	void *result = NULL;
	mt_coro_switch_checked(c, value, &result);
	return result;
}

#ifndef MT__CORO_SWITCH_IN_ASM
void *mt_coro_switch(mt_coro *c, void *value)
{
	/* key equals the thread's id only for a live, page-guarded
	 * coroutine of this thread; id is 0 before the thread's first
	 * coroutine call, and no key is 0. */
	if (__builtin_expect(c && c->key == this_thread.id && c != this_thread.current, 1))
		return transfer(c, value);
	return mt__coro_switch_slowly(c, value);
}
#endif

void *mt_coro_throw(mt_coro *c, void *value)
{
	if (!c || !owned_here(c) || !c->stack)
		return NULL;
	if (c->state == CORO_DEAD)
		return value;
	if (c->state == CORO_NEW) {
		mark_dead(c, true);
		return value;
	}
	if (c == this_thread.current)
		finish(c, value, true);
	mt__coro_reroute(c->sp, coro_unwind);
	return checked_transfer(c, value);
}

int mt_coro_kill(mt_coro *c)
{
	if (!c)
		return -EINVAL;
	if (!owned_here(c))
		return -EPERM;
	if (!c->stack)
		return -EINVAL;
	mt_coro_throw(c, NULL);
	return 0;
}

/* ---- creation, parents, and the end ---- */

static void link_to_parent(mt_coro *c, mt_coro *parent)
{
	c->parent = parent;
	if (parent)
		mt__list_add(&parent->children, &c->sibling);
}

int mt_coro_new(mt_coro **out, mt_coro_fn fn, size_t stack_size)
{
	if (!out || !fn)
		return -EINVAL;
	struct coro_thread *t = thread_state();
	if (!t)
		return -ENOMEM;
	struct mt__stack *s;
	int err = mt__stack_get(&t->cache, stack_size, &s);
	if (err)
		return err;
	mt_coro *c = (mt_coro *)(s->hi - RECORD_BYTES);
	memset(c, 0, sizeof *c);
	init_record_lists(c);
	c->owner = this_thread.id;
	c->fn = fn;
	c->stack = s;
	if (s->guard == MT__GUARD_CANARY) {
		c->canary = (const uint64_t *)s->lo;
		c->key = NO_FAST_SWITCH;
	} else {
		c->key = c->owner;
	}
	c->number = ++t->created;
	link_to_parent(c, this_thread.current);
	c->sp = mt__coro_make(s->lo, c, coro_begin);
#ifdef MT__CORO_ASAN
	c->asan_bottom = s->lo;
	c->asan_size = (size_t)((char *)c - s->lo);
#endif
#ifdef MT__CORO_TSAN
	c->tsan_fiber = __tsan_create_fiber(0);
#endif
	*out = c;
	return 0;
}

mt_coro *mt_coro_current(void)
{
	return thread_state() ? this_thread.current : NULL;
}

mt_coro *mt_coro_parent(const mt_coro *c)
{
	return c ? c->parent : NULL;
}

int mt_coro_set_parent(mt_coro *c, mt_coro *parent)
{
	if (!c || !parent)
		return -EINVAL;
	if (!owned_here(c) || !owned_here(parent))
		return -EPERM;
	if (!c->stack)
		return -EINVAL;
	for (const mt_coro *a = parent; a; a = a->parent)
		if (a == c)
			return -EINVAL;
	mt__list_del(&c->sibling);
	link_to_parent(c, parent);
	return 0;
}

/* Ends a suspended coroutine from its own thread, with the caller as its
 * parent for the occasion so that it hands back here. */
static void end_suspended(mt_coro *c)
{
	mt_coro *parent = c->parent;
	c->parent = this_thread.current;
	mt__coro_reroute(c->sp, coro_unwind);
	checked_transfer(c, NULL);
	c->parent = parent;
}

/* c's children get c's parent; c leaves its parent's list. */
static void hand_children_up(mt_coro *c)
{
	while (mt__list_linked(&c->children)) {
		struct mt__list *node = c->children.next;
		mt__list_del(node);
		link_to_parent(mt__list_entry(node, mt_coro, sibling), c->parent);
	}
	mt__list_del(&c->sibling);
}

void mt_coro_free(mt_coro *c)
{
	if (!c || !c->stack)
		return;
	bool here = owned_here(c);
	if (here && c == this_thread.current)
		return;
	check_canary(c);
	if (here && c->state == CORO_STARTED)
		end_suspended(c);
	hand_children_up(c);
	if (c->cleanups != c->inline_cleanups)
		free(c->cleanups); /* freed from another thread: never run */
#ifdef MT__CORO_TSAN
	__tsan_destroy_fiber(c->tsan_fiber);
#endif
	c->magic = 0;
	mt__stack_put(here ? &this_thread.state->cache : NULL, c->stack);
}

/* ---- cleanups ---- */

static int grow_cleanups(mt_coro *c)
{
	unsigned capacity = c->cleanup_capacity * 2;
	bool inline_now = c->cleanups == c->inline_cleanups;
	struct cleanup *grown = realloc(inline_now ? NULL : c->cleanups, capacity * sizeof *grown);
	if (!grown)
		return -ENOMEM;
	if (inline_now)
		memcpy(grown, c->inline_cleanups, sizeof c->inline_cleanups);
	c->cleanups = grown;
	c->cleanup_capacity = capacity;
	return 0;
}

int mt_coro_defer(mt_coro_cleanup_fn fn, void *arg)
{
	if (!fn)
		return -EINVAL;
	mt_coro *c = this_thread.current;
	if (!c || !c->stack)
		return -EPERM;
	if (c->cleanup_count == c->cleanup_capacity && grow_cleanups(c))
		return -ENOMEM;
	c->cleanups[c->cleanup_count++] = (struct cleanup){fn, arg};
	return 0;
}

int mt_coro_undefer(bool run)
{
	mt_coro *c = this_thread.current;
	if (!c || !c->cleanup_count)
		return -ENOENT;
	struct cleanup k = c->cleanups[--c->cleanup_count];
	if (run)
		k.fn(k.arg);
	return 0;
}

/* ---- questions ---- */

bool mt_coro_dead(const mt_coro *c)
{
	return c && c->state == CORO_DEAD;
}

bool mt_coro_started(const mt_coro *c)
{
	return c && c->started;
}

bool mt_coro_thrown(const mt_coro *c)
{
	return c && c->thrown;
}

int mt_coro_set_name(mt_coro *c, const char *name)
{
	if (!c || !name)
		return -EINVAL;
	size_t length = strnlen(name, NAME_BYTES - 1);
	memcpy(c->name, name, length);
	c->name[length] = '\0';
#ifdef MT__CORO_TSAN
	__tsan_set_fiber_name(c->tsan_fiber, c->name);
#endif
	return 0;
}

const char *mt_coro_name(const mt_coro *c)
{
	if (!c)
		return "?";
	if (c->name[0])
		return c->name;
	if (!c->stack)
		return "main";
	/* The default name is written into the record once asked for, so
	 * that a spawn does not format it. */
	struct message m = {.length = 0};
	say(&m, "coro-");
	say_number(&m, c->number, 10);
	m.text[m.length] = '\0';
	mt_coro_set_name((mt_coro *)c, m.text);
	return c->name;
}

size_t mt_coro_stack_size(const mt_coro *c)
{
	return c && c->stack ? (size_t)((const char *)c - c->stack->lo) : 0;
}

int mt_coro_stack_guard(const mt_coro *c)
{
	if (!c || !c->stack)
		return MT_CORO_GUARD_NONE;
	return c->stack->guard == MT__GUARD_CANARY ? MT_CORO_GUARD_CANARY : MT_CORO_GUARD_PAGES;
}
