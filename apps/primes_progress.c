/* primes_progress.c: the progress line of `mtask primes` (see
 * primes_progress.h).
 *
 * The workers add what they tested to a counter in shared memory
 * (primes_count_work); a thread of the command wakes every PERIOD seconds
 * and draws the share of the run's work done. One lock orders the thread's
 * drawing against the runs' start and end, so that the line is never drawn
 * after _end erased it. The thread only exists on a terminal, so the
 * figures of a piped or --json run are measured without it. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "mtask/mtask.h"
#include "primes.h"
#include "primes_progress.h"
#include "progress.h"

#define PERIOD 0.2	    /* seconds between two drawings */
#define PROGRESS_DELAY 0.5 /* a run shows no line before this many seconds */

struct primes_progress {
	mt_thread *thread;
	mt_event stop;
	mt_lock lock; /* guards the fields below and the drawing */
	uint64_t *work; /* shared with the workers: primes_count_work */
	uint64_t total;
	long below;
	const char *model;
	int workers, index, count; /* the run going on; workers 0: none */
	double started;
	bool drawn;
};

static void draw(struct primes_progress *p)
{
	mt_lock_acquire(&p->lock, -1);
	double elapsed = progress_clock() - p->started;
	if (p->workers && elapsed >= PROGRESS_DELAY) {
		uint64_t done = __atomic_load_n(p->work, __ATOMIC_RELAXED);
		progress_show(true, "primes below %ld: %d %s worker%s (run %d/%d): %3.0f%% in %.1f s",
			      p->below, p->workers, p->model, p->workers == 1 ? "" : "s",
			      p->index, p->count, 100.0 * (double)done / (double)p->total,
			      elapsed);
		p->drawn = true;
	}
	mt_lock_release(&p->lock);
}

static int redraw_until_stopped(void *arg)
{
	struct primes_progress *p = arg;
	while (mt_event_wait(&p->stop, PERIOD) == -ETIMEDOUT)
		draw(p);
	return 0;
}

struct primes_progress *primes_progress_start(long below, const char *model)
{
	if (!progress_wanted())
		return NULL;
	struct primes_progress *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	p->work = mmap(NULL, sizeof *p->work, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		       -1, 0);
	if (p->work == MAP_FAILED)
		goto out_free;
	mt_lock_init(&p->lock, 0);
	mt_event_init(&p->stop, 0);
	p->total = primes_total_work((uint64_t)below);
	p->below = below;
	p->model = model;
	if (mt_thread_start(&p->thread, redraw_until_stopped, p, NULL))
		goto out_unmap;
	primes_count_work(p->work);
	return p;
out_unmap:
	munmap(p->work, sizeof *p->work);
out_free:
	free(p);
	return NULL;
}

void primes_progress_begin(struct primes_progress *p, int workers, int index, int count)
{
	if (!p)
		return;
	mt_lock_acquire(&p->lock, -1);
	__atomic_store_n(p->work, 0, __ATOMIC_RELAXED); /* the last run's workers are gone */
	p->workers = workers;
	p->index = index;
	p->count = count;
	p->started = progress_clock();
	mt_lock_release(&p->lock);
}

void primes_progress_end(struct primes_progress *p)
{
	if (!p)
		return;
	mt_lock_acquire(&p->lock, -1);
	p->workers = 0;
	progress_clear(p->drawn);
	p->drawn = false;
	mt_lock_release(&p->lock);
}

void primes_progress_stop(struct primes_progress *p)
{
	if (!p)
		return;
	primes_progress_end(p);
	mt_event_set(&p->stop);
	mt_thread_join(p->thread, -1);
	mt_thread_free(p->thread);
	primes_count_work(NULL);
	munmap(p->work, sizeof *p->work);
	free(p);
}
