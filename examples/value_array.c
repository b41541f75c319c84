/* value_array.c: the notes' 共享内存 (shared memory): `num = Value('d',
 * 0.0)` and `arr = Array('i', range(10))` keep data in memory that every
 * process sees, unlike the plain variables of process_isolation.c.
 *
 * 1. A counter, Value('l', 0), incremented by four processes a thousand
 *    times each under the value's own lock (Python's get_lock()): 4000.
 * 2. num = Value('d', 0.0), set by a child to 3.1415927 (Python's
 *    n.value = 3.1415927).
 * 3. arr = Array('i', range(10)): five children each square their pair
 *    of elements in place, and the parent prints the array. */
#include <stdio.h>

#include "mtask/ipc.h"
#include "mtask/process.h"

#define WORKERS 4
#define INCREMENTS 1000
#define LENGTH 10

static int count(void *arg)
{
	mt_value *counter = arg;
	for (int i = 0; i < INCREMENTS; i++) {
		if (mt_lock_acquire(mt_value_lock(counter), -1))
			return 1;
		++*(long *)mt_value_ptr(counter); /* a read and a write: needs the lock */
		mt_lock_release(mt_value_lock(counter));
	}
	return 0;
}

static int set_pi(void *arg)
{
	double pi = 3.1415927;
	return mt_value_set(arg, &pi) ? 1 : 0;
}

struct pair {
	mt_array *arr;
	size_t first; /* squares elements first and first + 1 */
};

static int square_pair(void *arg)
{
	struct pair *p = arg;
	for (size_t i = p->first; i < p->first + 2; i++) {
		int x;
		if (mt_array_get(p->arr, i, &x))
			return 1;
		x *= x;
		if (mt_array_set(p->arr, i, &x))
			return 1;
	}
	return 0;
}

/* Starts n processes running fn, the i-th with args + i * size, and joins
 * them all; returns how many failed. */
static int run_all(int n, mt_fn fn, void *args, size_t size)
{
	mt_process *p[8];
	int failed = 0;
	for (int i = 0; i < n; i++)
		if (mt_process_start(&p[i], fn, (char *)args + i * size, NULL))
			return n;
	for (int i = 0; i < n; i++) {
		mt_process_join(p[i], -1);
		failed += mt_process_exitcode(p[i]) != 0;
		mt_process_free(p[i]);
	}
	return failed;
}

int main(void)
{
	mt_value *counter, *num;
	mt_array *arr;
	if (mt_value_new(&counter, sizeof(long), 0) || mt_value_new(&num, sizeof(double), 0) ||
	    mt_array_new(&arr, sizeof(int), LENGTH, 0))
		return 1;

	/* Every worker gets the same handle (size 0: the same argument): the
	 * handle itself is in shared memory. */
	int failed = run_all(WORKERS, count, counter, 0) ? 1 : 0;
	long total;
	mt_value_get(counter, &total);
	printf("Value('l', 0) after %d processes added 1 %d times under its lock: %ld\n", WORKERS,
	       INCREMENTS, total);

	failed |= run_all(1, set_pi, num, 0);
	double pi;
	mt_value_get(num, &pi);
	printf("Value('d', 0.0) after the child set it: %.7f\n", pi);

	for (int i = 0; i < LENGTH; i++)
		((int *)mt_array_data(arr))[i] = i; /* range(10), before any child */
	struct pair pairs[LENGTH / 2];
	for (int i = 0; i < LENGTH / 2; i++)
		pairs[i] = (struct pair){arr, (size_t)(2 * i)};
	failed |= run_all(LENGTH / 2, square_pair, pairs, sizeof pairs[0]);
	printf("Array('i', range(10)) after %d children squared their pairs: [", LENGTH / 2);
	for (size_t i = 0; i < LENGTH; i++) {
		int x;
		mt_array_get(arr, i, &x);
		printf("%s%d", i ? ", " : "", x);
	}
	printf("]\n");

	mt_value_free(counter);
	mt_value_free(num);
	mt_array_free(arr);
	return failed;
}
