#!/usr/bin/env python3
"""spawn.py: the Python peers of `mtask bench spawn`.

Usage: spawn.py KIND ITERATIONS

KIND is one of
  thread      threading.Thread(target=noop).start(); .join()
  mp-fork     multiprocessing Process with the 'fork' start method
  mp-spawn    multiprocessing Process with the 'spawn' start method

Runs one untimed warm-up operation, then ITERATIONS timed ones, and prints
one JSON object on stdout:

  {"kind": KIND, "python": "3.11.7", "ns": [per-operation nanoseconds, ...]}

Each timed operation is what a Python programmer writes: make the object,
start() it, join() it. The child or thread does nothing and returns, so the
time is the cost of the machinery alone, as in the C rows beside it.
"""
import json
import multiprocessing
import platform
import sys
import threading
import time


def noop():
    pass


KINDS = ("thread", "mp-fork", "mp-spawn")


def make_factory(kind):
    """A function that makes one unstarted task of this kind."""
    if kind == "thread":
        return lambda: threading.Thread(target=noop)
    context = multiprocessing.get_context(kind[len("mp-"):])
    return lambda: context.Process(target=noop)


def time_operations(factory, iterations):
    samples = []
    for i in range(iterations + 1):
        start = time.perf_counter_ns()
        task = factory()
        task.start()
        task.join()
        elapsed = time.perf_counter_ns() - start
        if i > 0:  # the first one warms up imports and caches
            samples.append(elapsed)
    return samples


def main(argv):
    if len(argv) != 3 or argv[1] not in KINDS or not argv[2].isdigit():
        print("usage: spawn.py thread|mp-fork|mp-spawn ITERATIONS",
              file=sys.stderr)
        return 2
    kind, iterations = argv[1], int(argv[2])
    samples = time_operations(make_factory(kind), iterations)
    json.dump({"kind": kind, "python": platform.python_version(),
               "ns": samples}, sys.stdout)
    print()
    return 0


if __name__ == "__main__":  # 'spawn' children import this file: keep quiet
    sys.exit(main(sys.argv))
