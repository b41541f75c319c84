/* primes.h: the notes' exercise, the sum of the primes below N by trial
 * division, split over K workers of a model (processes, threads, or a
 * process pool). Shared by `mtask primes`, the tour and `mtask bench
 * pool`. */
#ifndef MTASK_BENCH_PRIMES_H
#define MTASK_BENCH_PRIMES_H

#include <stdbool.h>
#include <stdint.h>

#include "mtask/pool.h"

/* PRIMES_MPI runs on an MPI pool: see primes_sum_pool. */
enum primes_model { PRIMES_PROCESS, PRIMES_THREAD, PRIMES_POOL, PRIMES_MPI, PRIMES_MODELS };

/* "process", "thread", "pool", "mpi"; and back (-1 for an unknown name). */
const char *primes_model_name(enum primes_model model);
int primes_model_from_name(const char *name);

/* The notes' isPrime: divides n by every number from 2 to n - 1. */
bool primes_is_prime(uint64_t n);

/* The sum of the primes in [lo, hi). Adds the work done to the counter
 * primes_count_work set, if any. */
uint64_t primes_sum_range(uint64_t lo, uint64_t hi);

/* Progress: from now on primes_sum_range adds the numbers n it tested, each
 * weighted n (the cost model the chunks use), to *counter every thousand
 * numbers or so, with an atomic add. Point it at memory shared with the
 * workers (MAP_SHARED for process and pool workers, which must start
 * after this call); NULL stops the counting. Not thread-safe: call it
 * before workers start. primes_total_work(below) is the counter's value
 * once every number below `below` was tested. */
void primes_count_work(uint64_t *counter);
uint64_t primes_total_work(uint64_t below);

/* The sum of the primes below `below` computed by `workers` workers of
 * `model`, in chunks of equal cost (testing n costs about n divisions
 * when n is prime, so chunk k of K ends near below * sqrt(k / K)).
 * Returns 0 with *sum set, or a negative errno; -EINVAL for PRIMES_MPI,
 * whose pool the caller makes (mt_pool_new answers on every rank). */
int primes_sum(uint64_t below, int workers, enum primes_model model, uint64_t *sum);

/* The same on a pool the caller made, of any kind: four chunks per
 * worker, mapped (its task is registered, so MPI ranks know it). */
int primes_sum_pool(mt_pool *pool, uint64_t below, uint64_t *sum);

#endif
