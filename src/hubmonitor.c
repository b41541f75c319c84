/* hubmonitor.c: the hub monitor, a watchdog thread that reports a
 * greenlet running too long without yielding (gevent's monitor thread).
 *
 * The hub's thread publishes two words, with relaxed stores: a switch
 * counter bumped at every dispatch, and the greenlet it dispatched (NULL
 * while the hub itself runs or sleeps in the poller). Taking the time at
 * each switch would cost a clock read per switch; instead the monitor
 * samples every threshold / 2: a greenlet seen running with the same
 * counter since some sample has run without yielding at least since
 * then. The report itself is written by the stuck thread: the monitor
 * sends it a signal, and the handler prints the greenlet's name and its
 * own backtrace, which only that thread can take. */
#include <errno.h>
#include <execinfo.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hub_private.h"

#define BACKTRACE_DEPTH 32

static struct {
	pthread_mutex_t lock; /* hubs, running, stopping */
	pthread_cond_t wake;
	struct mt__list hubs;
	pthread_t thread;
	bool running, stopping;
	uint64_t threshold_ns;
} monitor = {.lock = PTHREAD_MUTEX_INITIALIZER,
	       .wake = PTHREAD_COND_INITIALIZER,
	       .hubs = MT__LIST_INIT(monitor.hubs)};

/* What the signal handler reports: how long, in milliseconds. */
static _Atomic uint64_t reported_ms;

void mt__hub_monitor_add(struct mt__hub *h)
{
	pthread_mutex_lock(&monitor.lock);
	mt__list_add(&monitor.hubs, &h->monitor_node);
	pthread_mutex_unlock(&monitor.lock);
}

void mt__hub_monitor_remove(struct mt__hub *h)
{
	pthread_mutex_lock(&monitor.lock);
	mt__list_del(&h->monitor_node);
	pthread_mutex_unlock(&monitor.lock);
}

/* ---- the report, in the stuck thread ---- */

static void say(const char *s)
{
	ssize_t ignored = write(STDERR_FILENO, s, strlen(s));
	(void)ignored;
}

static void on_report_signal(int sig)
{
	(void)sig;
	struct mt__hub *h = mt__hub_peek();
	mt_greenlet *g = h ? atomic_load_explicit(&h->running, memory_order_relaxed) : NULL;
	char line[200];
	snprintf(line, sizeof line,
		 "mtask: hub monitor: greenlet \"%s\" has run for %.3f s without yielding "
		 "(a blocking call or a long loop holds up its hub); its backtrace:\n",
		 g ? mt_greenlet_name(g) : "?",
		 (double)atomic_load(&reported_ms) / 1e3);
	say(line);
	void *frames[BACKTRACE_DEPTH];
	int n = backtrace(frames, BACKTRACE_DEPTH);
	backtrace_symbols_fd(frames, n, STDERR_FILENO);
}

static int report_signal(void)
{
	return SIGRTMIN + 5;
}

/* ---- the watchdog ---- */

static void check_hub(struct mt__hub *h, uint64_t now)
{
	uint64_t switches = atomic_load_explicit(&h->switches, memory_order_relaxed);
	mt_greenlet *g = atomic_load_explicit(&h->running, memory_order_relaxed);
	if (!g || switches != h->monitor_seen_switches) {
		h->monitor_seen_switches = switches;
		h->monitor_since_ns = now;
		h->monitor_reported = false;
		return;
	}
	if (h->monitor_reported || now - h->monitor_since_ns < monitor.threshold_ns)
		return;
	h->monitor_reported = true;
	atomic_store(&reported_ms, (now - h->monitor_since_ns) / 1000000);
	pthread_kill(h->thread, report_signal());
}

static void *watch(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&monitor.lock);
	while (!monitor.stopping) {
		struct timespec until;
		clock_gettime(CLOCK_MONOTONIC, &until);
		uint64_t at = (uint64_t)until.tv_sec * 1000000000u + (uint64_t)until.tv_nsec +
			      monitor.threshold_ns / 2;
		until = (struct timespec){(time_t)(at / 1000000000u), (long)(at % 1000000000u)};
		pthread_cond_timedwait(&monitor.wake, &monitor.lock, &until);
		uint64_t now = mt__now_ns();
		mt__list_for_each(node, &monitor.hubs)
			check_hub(mt__list_entry(node, struct mt__hub, monitor_node), now);
	}
	pthread_mutex_unlock(&monitor.lock);
	return NULL;
}

static int start_thread(void)
{
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_destroy(&monitor.wake);
	pthread_cond_init(&monitor.wake, &attr);
	pthread_condattr_destroy(&attr);
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old); /* the watchdog takes no signal */
	int err = -pthread_create(&monitor.thread, NULL, watch, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return err;
}

int mt_hub_monitor_start(double threshold)
{
	if (isnan(threshold) || threshold <= 0 || threshold > 1e6)
		return -EINVAL;
	/* backtrace() loads its unwinder on first use: not in a handler. */
	void *warm[2];
	backtrace(warm, 2);
	struct sigaction action = {.sa_handler = on_report_signal, .sa_flags = SA_RESTART | SA_ONSTACK};
	sigemptyset(&action.sa_mask);
	sigaction(report_signal(), &action, NULL);
	pthread_mutex_lock(&monitor.lock);
	int err = monitor.running ? -EALREADY : 0;
	if (!err) {
		monitor.threshold_ns = (uint64_t)(threshold * 1e9);
		monitor.stopping = false;
		err = start_thread();
		monitor.running = err == 0;
	}
	pthread_mutex_unlock(&monitor.lock);
	return err;
}

int mt_hub_monitor_stop(void)
{
	pthread_mutex_lock(&monitor.lock);
	if (!monitor.running) {
		pthread_mutex_unlock(&monitor.lock);
		return -ENOENT;
	}
	monitor.stopping = true;
	monitor.running = false;
	pthread_cond_signal(&monitor.wake);
	pthread_mutex_unlock(&monitor.lock);
	pthread_join(monitor.thread, NULL);
	return 0;
}

void mt__hub_monitor_init_from_env(void)
{
	const char *value = getenv("MTASK_HUB_MONITOR");
	if (value && *value)
		mt_hub_monitor_start(strtod(value, NULL));
}
