#!/usr/bin/env python3
"""pools.py: the Python peers of `mtask bench pool`.

Usage: pools.py KIND ITERATIONS

KIND is one of
  tpe       ThreadPoolExecutor(2): submit TASKS trivial tasks, then result()
            each
  ppe       ProcessPoolExecutor(2) ("fork" start method): the same
  poolmap   multiprocessing.Pool(2).map over MAP_ITEMS ints, the default
            chunksize (Python's: items / (4 * workers))

The executor or pool is made, and warmed up, before the timing: a sample
times the tasks, not the start of the workers, as bench/pool.c does. Runs
one untimed warm-up sample, then ITERATIONS timed ones, and prints one JSON
object on stdout:

  {"kind": KIND, "python": "3.11.7", "ns": [per-sample nanoseconds, ...]}
"""
import concurrent.futures
import json
import multiprocessing
import platform
import sys
import time

WORKERS = 2
TASKS = 1000      # bench/pool.c's TASKS_PER_SAMPLE
MAP_ITEMS = 100000  # bench/pool.c's MAP_ITEMS


def identity(x):
    return x


def executor_sample(executor):
    def sample():
        futures = [executor.submit(identity, i) for i in range(TASKS)]
        for f in futures:
            f.result()
    return sample


def pool_map_sample(pool):
    items = list(range(MAP_ITEMS))

    def sample():
        pool.map(identity, items)
    return sample


def make(kind):
    """The sample function and the executor or pool, to shut down after."""
    if kind == "tpe":
        executor = concurrent.futures.ThreadPoolExecutor(WORKERS)
        return executor_sample(executor), executor.shutdown
    context = multiprocessing.get_context("fork")
    if kind == "ppe":
        executor = concurrent.futures.ProcessPoolExecutor(WORKERS, mp_context=context)
        return executor_sample(executor), executor.shutdown
    pool = context.Pool(WORKERS)
    return pool_map_sample(pool), pool.terminate


def main(argv):
    if len(argv) != 3 or argv[1] not in ("tpe", "ppe", "poolmap") \
            or not argv[2].isdigit():
        print("usage: pools.py tpe|ppe|poolmap ITERATIONS", file=sys.stderr)
        return 2
    kind, iterations = argv[1], int(argv[2])
    sample, stop = make(kind)
    samples = []
    for i in range(iterations + 1):
        begin = time.perf_counter_ns()
        sample()
        elapsed = time.perf_counter_ns() - begin
        if i > 0:  # the first one warms up
            samples.append(elapsed)
    json.dump({"kind": kind, "python": platform.python_version(), "ns": samples},
              sys.stdout)
    print()
    stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
