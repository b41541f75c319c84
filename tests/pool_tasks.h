/* pool_tasks.h: task functions the pool tests share (tests/test_pool*.c
 * and tests/stress/test_pool_kill.c): bytes in, bytes out, as pool.h
 * wants them. */
#ifndef MTASK_POOL_TASKS_H
#define MTASK_POOL_TASKS_H

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mtask/pool.h"

static inline int64_t arg_i64(const void *arg)
{
	int64_t v;
	memcpy(&v, arg, sizeof v);
	return v;
}

/* x -> x * x */
static inline int task_square(const void *arg, size_t len, mt_task_out *out)
{
	if (len != sizeof(int64_t))
		return -EINVAL;
	int64_t x = arg_i64(arg);
	x *= x;
	return mt_task_return(out, &x, sizeof x);
}

/* x -> x, or the error -x when x < 0 */
static inline int task_echo_or_fail(const void *arg, size_t len, mt_task_out *out)
{
	int64_t x = arg_i64(arg);
	if (x < 0)
		return (int)x;
	return mt_task_return(out, &x, sizeof x);
}

/* sleeps arg milliseconds, answers its pid */
static inline int task_sleep_ms(const void *arg, size_t len, mt_task_out *out)
{
	int64_t ms = arg_i64(arg);
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
	while (nanosleep(&ts, &ts) < 0)
		;
	int64_t pid = getpid();
	return mt_task_return(out, &pid, sizeof pid);
}

/* the worker's pid */
static inline int task_pid(const void *arg, size_t len, mt_task_out *out)
{
	int64_t pid = getpid();
	return mt_task_return(out, &pid, sizeof pid);
}

/* the worker kills itself with signal arg */
static inline int task_raise(const void *arg, size_t len, mt_task_out *out)
{
	raise((int)arg_i64(arg));
	return 0;
}

/* the worker exits with code arg, as a task calling exit() would */
static inline int task_exit(const void *arg, size_t len, mt_task_out *out)
{
	_exit((int)arg_i64(arg));
}

static inline int64_t result_i64(mt_future *f)
{
	const void *data;
	size_t len;
	if (mt_future_result(f, 30, &data, &len) || len != sizeof(int64_t))
		return INT64_MIN;
	return arg_i64(data);
}

#endif
