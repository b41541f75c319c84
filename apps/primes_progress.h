/* primes_progress.h: the progress line of `mtask primes`: which
 * configuration runs, how much of its work the workers have done, and for
 * how long, redrawn on standard error while the workers count. */
#ifndef MTASK_PRIMES_PROGRESS_H
#define MTASK_PRIMES_PROGRESS_H

struct primes_progress;

/* Starts the line's thread when standard error is a terminal; returns NULL
 * otherwise (or when it cannot), and every call below accepts NULL and
 * then does nothing. Call it before the runs start their workers: it
 * points primes_count_work at memory they share. */
struct primes_progress *primes_progress_start(long below, const char *model);

/* A run of `workers` workers, run `index` (from 1) of `count`, starts or
 * has ended. The line shows only once a run has taken PROGRESS_DELAY
 * seconds, so quick runs never draw it; _end erases it, so that the
 * caller's next output starts on a clean row. */
void primes_progress_begin(struct primes_progress *p, int workers, int index, int count);
void primes_progress_end(struct primes_progress *p);

/* Erases the line, stops the thread and frees everything. */
void primes_progress_stop(struct primes_progress *p);

#endif
