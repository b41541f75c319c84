/* cmd_tour.c: `mtask tour`, the notes' scenarios in the notes' order, each
 * brief, ending with a table of figures measured on this machine. Later
 * modules add their scenarios to the `scenarios` table; tour_run.c plays
 * them. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "tour.h"
#include "mtask/mtask.h"

static void nap(double seconds)
{
	struct timespec ts = {(time_t)seconds, (long)((seconds - (time_t)seconds) * 1e9)};
	while (nanosleep(&ts, &ts) < 0)
		;
}

/* ---- 1. fork: one call, two returns ---- */

static void tour_fork(void)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		printf("  child : fork() returned 0; I am %d, my parent is %d\n",
		       getpid(), getppid());
		fflush(stdout);
		_exit(0);
	}
	waitpid(pid, NULL, 0); /* printed after the child, for a stable order */
	printf("  parent: fork() returned %d, the child's PID; I am %d\n", pid,
	       getpid());
}

/* ---- 2. zombies and orphans ---- */

static char process_state(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return '?';
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *paren = strrchr(buf, ')');
	return paren && paren[1] ? paren[2] : '?';
}

static void tour_zombie(void)
{
	pid_t pid = fork();
	if (pid == 0)
		_exit(0);
	/* Wait for its end without reaping it (WNOWAIT): a zombie for sure. */
	siginfo_t info;
	waitid(P_PID, (id_t)pid, &info, WEXITED | WNOWAIT);
	printf("  a raw child that ended unreaped is in state '%c' (Z = zombie)\n",
	       process_state(pid));
	waitpid(pid, NULL, 0);
	printf("  after waitpid() it is gone: state '%c'\n", process_state(pid));
}

/* A middle process forks a grandchild and exits at once; the grandchild,
 * now an orphan, reports its parent before and after through a pipe. */
static void tour_orphan(void)
{
	int fds[2];
	if (pipe(fds))
		return;
	fflush(stdout);
	pid_t middle = fork();
	if (middle == 0) {
		pid_t parent = getpid();
		if (fork() == 0) {
			while (getppid() == parent)
				nap(0.001);
			pid_t ids[2] = {parent, getppid()};
			ssize_t ignored = write(fds[1], ids, sizeof ids);
			(void)ignored;
			_exit(0);
		}
		_exit(0);
	}
	close(fds[1]);
	waitpid(middle, NULL, 0);
	pid_t ids[2];
	if (read(fds[0], ids, sizeof ids) == sizeof ids)
		printf("  the orphan's parent %d exited; PID %d adopted it\n", ids[0],
		       ids[1]);
	close(fds[0]);
}

static int return_zero(void *arg)
{
	return 0;
}

static void tour_no_zombies(void)
{
	mt_process *p;
	if (mt_process_start(&p, return_zero, NULL, NULL))
		return;
	pid_t pid = mt_process_pid(p);
	mt_process_free(p); /* never joined */
	nap(0.05);
	printf("  an mtask child never joined: state '%c' (? = reaped, gone)\n",
	       process_state(pid));
}

/* ---- 3. Process: 吃饭, 睡觉, 打豆豆, and exit codes ---- */

static int chore(void *arg)
{
	const char *what = arg;
	nap(strlen(what) * 0.01);
	printf("  %s  (pid %d, parent %d, %s)\n", what, getpid(), getppid(),
	       mt_process_current_name());
	return 0;
}

static void tour_three_processes(void)
{
	static const char *chores[] = {"吃饭", "睡觉", "打豆豆"};
	mt_process *jobs[3] = {NULL, NULL, NULL};
	for (int i = 0; i < 3; i++)
		mt_process_start(&jobs[i], chore, (void *)chores[i], NULL);
	for (int i = 0; i < 3; i++) {
		mt_process_join(jobs[i], -1);
		mt_process_free(jobs[i]);
	}
	printf("  finished: joined all three\n");
}

static int sleep_forever(void *arg)
{
	pause(); /* until a signal ends it */
	return 0;
}

static int crash(void *arg)
{
	signal(SIGSEGV, SIG_DFL); /* past any sanitizer's handler */
	int *page = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	*(volatile int *)page = 1; /* a real fault, not a null pointer */
	return 0;
}

static void tour_exit_codes(void)
{
	struct {
		const char *what;
		mt_fn fn;
		int (*end)(mt_process *);
	} cases[] = {
		{"returns 0", return_zero, NULL},
		{"terminate()", sleep_forever, mt_process_terminate},
		{"kill()", sleep_forever, mt_process_kill},
		{"segfault", crash, NULL},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		mt_process *p;
		if (mt_process_start(&p, cases[i].fn, NULL, NULL))
			continue;
		if (cases[i].end)
			cases[i].end(p);
		mt_process_join(p, -1);
		printf("  %-12s -> exitcode %d\n", cases[i].what, mt_process_exitcode(p));
		mt_process_free(p);
	}
}

/* ---- 4. processes do not share memory; threads do ---- */

static int shared_n = 100;

static int set_n_to_zero(void *arg)
{
	shared_n = 0;
	printf("  in the child process: n = %d\n", shared_n);
	return 0;
}

static void tour_isolation(void)
{
	mt_process *p;
	if (mt_process_start(&p, set_n_to_zero, NULL, NULL))
		return;
	mt_process_join(p, -1);
	mt_process_free(p);
	printf("  in the parent:        n = %d (the child changed its own copy)\n",
	       shared_n);
}

/* ---- 5. a shared lock: 抢票 ---- */

struct ticket_office {
	mt_lock lock;
	mt_event holding; /* a buyer holds the lock and will not let go */
	int left, sold;
	bool locked;
};

static int grab_ticket(void *arg)
{
	struct ticket_office *office = arg;
	if (office->locked)
		mt_lock_acquire(&office->lock, -1);
	int left = office->left; /* read, wait for "the network", write */
	nap(0.01);
	if (left > 0) {
		office->left = left - 1;
		__atomic_add_fetch(&office->sold, 1, __ATOMIC_RELAXED);
	}
	if (office->locked)
		mt_lock_release(&office->lock);
	return 0;
}

static int sell_one_ticket_to_ten(struct ticket_office *office, bool locked)
{
	mt_lock_init(&office->lock, MT_PSHARED);
	office->left = 1;
	office->sold = 0;
	office->locked = locked;
	mt_process *buyers[10];
	int started = 0;
	for (int i = 0; i < 10; i++)
		started += mt_process_start(&buyers[started], grab_ticket, office, NULL) == 0;
	for (int i = 0; i < started; i++) {
		mt_process_join(buyers[i], -1);
		mt_process_free(buyers[i]);
	}
	return office->sold;
}

static int hold_the_lock_for_ever(void *arg)
{
	struct ticket_office *office = arg;
	mt_lock_acquire(&office->lock, -1);
	mt_event_set(&office->holding);
	for (;;)
		pause();
	return 0;
}

/* Python's multiprocessing.Lock would stay locked for ever here. */
static void kill_a_buyer_holding_the_lock(struct ticket_office *office)
{
	mt_process *p;
	mt_lock_init(&office->lock, MT_PSHARED);
	mt_event_init(&office->holding, MT_PSHARED);
	if (mt_process_start(&p, hold_the_lock_for_ever, office, NULL))
		return;
	mt_event_wait(&office->holding, -1);
	mt_process_kill(p);
	mt_process_join(p, -1);
	mt_process_free(p);
	int got = mt_lock_acquire(&office->lock, 5);
	printf("  a buyer SIGKILLed holding it; the next acquire returns:\n"
	       "    %s\n", mt_strerror(got));
	if (got == -EOWNERDEAD) {
		mt_lock_consistent(&office->lock); /* after checking the count */
		mt_lock_release(&office->lock);
	}
}

static void tour_ticket_lock(void)
{
	struct ticket_office *office = mmap(NULL, sizeof *office, PROT_READ | PROT_WRITE,
					    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (office == MAP_FAILED)
		return;
	printf("  10 buyer processes, 1 ticket, no lock:  %d sold\n",
	       sell_one_ticket_to_ten(office, false));
	printf("  the same with a shared mt_lock:         %d sold\n",
	       sell_one_ticket_to_ten(office, true));
	kill_a_buyer_holding_the_lock(office);
	munmap(office, sizeof *office);
}

/* ---- 6. deadlock: 科学家吃面, reported before it happens ---- */

struct table {
	mt_lock *first, *second; /* the order this scientist takes them in */
	const char *first_name, *second_name;
};

static int eat_noodles(void *arg)
{
	struct table *t = arg;
	mt_lock_acquire(t->first, -1);
	printf("  %s 拿到%s (got the %s)\n", mt_thread_name(mt_thread_current()),
	       t->first_name, t->first_name);
	nap(0.02); /* both scientists hold one lock now */
	if (mt_lock_acquire(t->second, 0.3)) {
		printf("  %s waited 0.3 s for the %s: deadlock, gives up\n",
		       mt_thread_name(mt_thread_current()), t->second_name);
	} else {
		printf("  %s 吃面 (eats)\n", mt_thread_name(mt_thread_current()));
		mt_lock_release(t->second);
	}
	mt_lock_release(t->first);
	return 0;
}

/* The notes' fix: noodle_lock = fork_lock = RLock(); whoever eats takes
 * it twice, once "for the noodles" and once "for the fork". */
static int eat_with_rlock(void *arg)
{
	mt_rlock *both = arg;
	mt_rlock_acquire(both, -1);
	mt_rlock_acquire(both, -1);
	printf("  %s 拿到面条和叉子, 吃面 (eats)\n", mt_thread_name(mt_thread_current()));
	mt_rlock_release(both);
	mt_rlock_release(both);
	return 0;
}

static void seat_two_scientists(mt_fn eat, void *a, void *b)
{
	mt_thread_opts oa = {.name = "科学家A"}, ob = {.name = "科学家B"};
	mt_thread *ta, *tb;
	if (mt_thread_start(&ta, eat, a, &oa))
		return;
	if (mt_thread_start(&tb, eat, b, &ob) == 0) {
		mt_thread_join(tb, -1);
		mt_thread_free(tb);
	}
	mt_thread_join(ta, -1);
	mt_thread_free(ta);
}

/* In a child, so that turning the checker on changes nothing else; its
 * report goes to stdout to stay in the tour's order. */
static int philosophers_with_two_locks(void *arg)
{
	dup2(STDOUT_FILENO, STDERR_FILENO);
	setvbuf(stdout, NULL, _IONBF, 0); /* the report and the lines in order */
	mt_lockcheck_enable(true);
	mt_lock noodle = MT_LOCK_INIT_NAMED("noodle"), fork_lock = MT_LOCK_INIT_NAMED("fork");
	struct table a = {&noodle, &fork_lock, "面条 noodles", "叉子 fork"};
	struct table b = {&fork_lock, &noodle, "叉子 fork", "面条 noodles"};
	seat_two_scientists(eat_noodles, &a, &b);
	printf("  MTASK_LOCKCHECK reported %u inversion(s) before the wait\n",
	       mt_lockcheck_reports());
	return 0;
}

static void tour_philosophers(void)
{
	mt_process *p;
	if (mt_process_start(&p, philosophers_with_two_locks, NULL, NULL) == 0) {
		mt_process_join(p, -1);
		mt_process_free(p);
	}
	static mt_rlock both = MT_RLOCK_INIT;
	printf("  with one RLock for both (noodle_lock = fork_lock = RLock()):\n");
	seat_two_scientists(eat_with_rlock, &both, &both);
}

static _Atomic int thread_data;

static int add_one(void *arg)
{
	atomic_fetch_add(&thread_data, 1);
	return 0;
}

static void tour_threads(void)
{
	mt_thread *threads[10];
	int started = 0;
	for (int i = 0; i < 10; i++)
		started += mt_thread_start(&threads[i], add_one, NULL, NULL) == 0;
	for (int i = 0; i < started; i++) {
		mt_thread_join(threads[i], -1);
		mt_thread_free(threads[i]);
	}
	printf("  %d threads each added 1 to one variable: data = %d (shared)\n",
	       started, atomic_load(&thread_data));
	mt_thread *me = mt_thread_current();
	printf("  current thread: %s, ident %lu, native id %d, %d alive\n",
	       mt_thread_name(me), mt_thread_ident(me), mt_thread_native_id(me),
	       mt_thread_active_count());
}

/* ---- 5. daemons ---- */

static int start_daemon_then_return(void *arg)
{
	mt_process_opts opts = {.name = "guard", .daemon = true};
	mt_process *guard;
	if (mt_process_start(&guard, sleep_forever, NULL, &opts))
		return 1;
	printf("  parent %d started daemon child %d, then returns\n", getpid(),
	       mt_process_pid(guard));
	fflush(stdout);
	return 0;
}

static void tour_daemons(void)
{
	mt_process *p;
	if (mt_process_start(&p, start_daemon_then_return, NULL, NULL))
		return;
	mt_process_join(p, -1);
	printf("  the parent's exit ended its daemon child (joined: exitcode %d)\n",
	       mt_process_exitcode(p));
	mt_process_free(p);
	printf("  daemon threads are not waited for at exit; others are\n");
}

/* ---- the table ---- */

static const struct tour_scene scenarios[] = {
	{"scheduling: FCFS, SJF, RR and MLFQ share one CPU (mtask sched)", tour_sched},
	{"fork: one call, two returns (os.fork)", tour_fork},
	{"orphans: a child whose parent ended first", tour_orphan},
	{"zombies: an ended child nobody waited for", tour_zombie},
	{"mtask reaps every child itself", tour_no_zombies},
	{"Process: 吃饭, 睡觉, 打豆豆 at once", tour_three_processes},
	{"exit codes as Python reports them", tour_exit_codes},
	{"processes do not share memory", tour_isolation},
	{"抢票: a lock shared by processes", tour_ticket_lock},
	{"threads share memory (threading.Thread)", tour_threads},
	{"deadlock: 科学家吃面, and the RLock that fixes it", tour_philosophers},
	{"daemons end with their parent", tour_daemons},
	{"queues: Full, Empty, FIFO, LIFO and priority", tour_queues},
	{"producer and customer processes (JoinableQueue)", tour_producer_customer},
	{"Pipe, Value and Array between processes", tour_pipe_value_array},
	{"pools: Pool.map, futures, and a worker that dies", tour_pool},
	{"primes: the notes' exercise with 1 and 2 pool workers", tour_primes},
	{"greenlet: eat and play take turns on one thread", tour_greenlet},
	{"gevent: greenlets switch while they wait (sleep, IO)", tour_gevent},
	{"measured on this machine", tour_table},
};

static void print_usage(void)
{
	printf("usage: mtask tour [--list] [--only N] [--json]\n\n"
	       "Runs the notes' scenarios in order, briefly, and ends with a table\n"
	       "of figures measured on this machine. Each scenario runs in a process\n"
	       "of its own: one that fails or hangs (killed after 300 s) is reported\n"
	       "on stderr, the others still run, and the exit status is 1.\n"
	       "When standard error is a terminal, a scenario that runs for a while\n"
	       "shows a progress line there (scene N/M, its title, the time so far),\n"
	       "erased before the scenario's output continues.\n\n"
	       "  --list    list the scenarios and exit\n"
	       "  --only N  run scenario N only (1-%zu)\n"
	       "  --json    print one JSON document instead of the scenarios' output:\n"
	       "            per scenario its number, title, status (ok, failed, timed\n"
	       "            out, not started), exitcode and seconds; then the table's\n"
	       "            figures in seconds (null when the table did not run)\n",
	       sizeof scenarios / sizeof scenarios[0]);
}

int cmd_tour(int argc, char **argv)
{
	static const struct option options[] = {
		{"help", no_argument, NULL, 'h'},
		{"list", no_argument, NULL, 'l'},
		{"only", required_argument, NULL, 'o'},
		{"json", no_argument, NULL, 'j'},
		{0},
	};
	const long count = (long)(sizeof scenarios / sizeof scenarios[0]);
	long only = 0;
	bool json = false;
	int opt;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (opt) {
		case 'h':
			print_usage();
			return 0;
		case 'l':
			for (long i = 0; i < count; i++)
				printf("%2ld. %s\n", i + 1, scenarios[i].title);
			return 0;
		case 'j':
			json = true;
			break;
		case 'o':
			if (!cli_parse_long(optarg, 1, count, &only))
				return cli_usage_error("tour", "--only wants 1-%ld, not '%s'",
						       count, optarg);
			break;
		default:
			return cli_usage_error("tour", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage_error("tour", "unexpected argument '%s'", argv[optind]);
	return tour_run(scenarios, (int)count, (int)only, json);
}
