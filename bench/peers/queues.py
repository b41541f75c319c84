#!/usr/bin/env python3
"""queues.py: the Python peers of `mtask bench queue`.
(Not queue.py: a script of that name would shadow the standard module.)

Usage: queues.py KIND ITERATIONS

KIND is one of
  1x1   one producer thread (the main one, on the first CPU) and one
        consumer thread (on the second)
  2x2   two producers (the main thread and one more) and two consumers,
        unpinned

A sample moves ITEMS_PER_SAMPLE items through one queue.Queue(1024), as
bench/queue.c does in C: each producer puts its share, then None; a
consumer stops at its first None. The threads are started before the
timing and meet the main thread at a start and an end threading.Barrier.

Runs one untimed warm-up sample, then ITERATIONS timed ones, and prints one
JSON object on stdout:

  {"kind": KIND, "python": "3.11.7", "ns": [per-sample nanoseconds, ...]}
"""
import json
import os
import platform
import queue
import sys
import threading
import time

ITEMS_PER_SAMPLE = 2000  # bench/queue.c's PY_ITEMS_PER_SAMPLE
CAPACITY = 1024


def pin(nth):
    cpus = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpus[min(nth, len(cpus) - 1)]})


def transfer(producers, consumers):
    q = queue.Queue(CAPACITY)
    parties = producers + consumers
    start, end = threading.Barrier(parties), threading.Barrier(parties)
    pinned = parties == 2
    share = ITEMS_PER_SAMPLE // producers

    def produce():
        for i in range(1, share + 1):
            q.put(i)
        q.put(None)

    def consume():
        while q.get() is not None:
            pass

    def partner(role):
        if pinned:
            pin(1)
        while True:
            start.wait()
            role()
            end.wait()

    if pinned:
        pin(0)
    for i in range(1, parties):
        role = produce if i < producers else consume
        threading.Thread(target=partner, args=(role,), daemon=True).start()

    def sample():
        start.wait()
        produce()
        end.wait()
    return sample


KINDS = {"1x1": (1, 1), "2x2": (2, 2)}


def main(argv):
    if len(argv) != 3 or argv[1] not in KINDS or not argv[2].isdigit():
        print("usage: queues.py 1x1|2x2 ITERATIONS", file=sys.stderr)
        return 2
    kind, iterations = argv[1], int(argv[2])
    sample = transfer(*KINDS[kind])
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
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
