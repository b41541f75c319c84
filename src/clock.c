/* clock.c: deadlines. Every public timeout (double seconds, < 0 forever)
 * becomes one absolute CLOCK_MONOTONIC deadline on entry, so that retries
 * after spurious wake-ups never stretch the total wait. */
#include <errno.h>
#include <math.h>

#include "internal.h"

#define NSEC_PER_SEC 1000000000L

/* Longer waits than this (about 31 years) are treated as forever: they
 * would overflow time_t arithmetic on some systems and nobody can tell. */
#define LONGEST_FINITE_TIMEOUT 1e9

uint64_t mt__now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

double mt__now_us(void)
{
	return (double)mt__now_ns() / 1e3;
}

int mt__deadline_init(mt__deadline *d, double timeout)
{
	if (isnan(timeout))
		return -EINVAL;
	d->forever = timeout < 0 || timeout > LONGEST_FINITE_TIMEOUT;
	if (d->forever)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &d->at);
	time_t whole = (time_t)timeout; /* timeout >= 0: truncation is floor */
	d->at.tv_sec += whole;
	d->at.tv_nsec += (long)((timeout - (double)whole) * 1e9);
	if (d->at.tv_nsec >= NSEC_PER_SEC) {
		d->at.tv_sec++;
		d->at.tv_nsec -= NSEC_PER_SEC;
	}
	return 0;
}

bool mt__deadline_left(const mt__deadline *d, struct timespec *left)
{
	if (d->forever)
		return true;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	left->tv_sec = d->at.tv_sec - now.tv_sec;
	left->tv_nsec = d->at.tv_nsec - now.tv_nsec;
	if (left->tv_nsec < 0) {
		left->tv_sec--;
		left->tv_nsec += NSEC_PER_SEC;
	}
	if (left->tv_sec < 0) {
		left->tv_sec = 0;
		left->tv_nsec = 0;
		return false;
	}
	return left->tv_sec > 0 || left->tv_nsec > 0;
}
