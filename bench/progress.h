/* progress.h: one progress line on standard error, redrawn in place, for
 * the long commands of the mtask program (`mtask bench`, `mtask tour`,
 * `mtask primes`).
 *
 * The line starts with "\r" and "ESC[K" (erase to the end of the row), so
 * each update replaces the last one; progress_clear erases it before other
 * output goes to the terminal. Every call takes `on`, normally
 * progress_wanted()'s answer, and does nothing when it is false, so that
 * pipes and files never receive an escape byte. Not thread-safe: one
 * thread at a time draws (callers that draw from two threads hold a lock
 * around the calls). */
#ifndef MTASK_PROGRESS_H
#define MTASK_PROGRESS_H

#include <stdbool.h>

/* True when standard error is a terminal: only then is a progress line
 * drawn. */
bool progress_wanted(void);

/* Replaces the progress line with the printf-formatted text (one row: keep
 * it short, without a newline) and flushes standard error. Nothing when !on. */
void progress_show(bool on, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Seconds on the monotonic clock: the "for how long" a line shows. */
double progress_clock(void);

/* Erases the progress line and leaves the cursor at the start of its row,
 * where the next output goes. Nothing when !on. */
void progress_clear(bool on);

#endif
