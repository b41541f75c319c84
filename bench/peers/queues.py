#!/usr/bin/env python3
"""queues.py: the Python peers of `mtask bench queue`.
(Not queue.py: a script of that name would shadow the standard module.)

Usage: queues.py KIND ITERATIONS

KIND is one of
  1x1   one producer thread (the main one, on the first CPU) and one
        consumer thread (on the second)
  2x2   two producers (the main thread and one more) and two consumers,
        unpinned
  mp16  this process (on the first CPU) puts IPC_MESSAGES bytes objects of
        16 bytes into a multiprocessing.Queue(1024), a consumer process (on
        the second) gets them
  mp4k  the same with 4 KiB messages

A sample moves ITEMS_PER_SAMPLE items through one queue.Queue(1024), as
bench/queue.c does in C: each producer puts its share, then None; a
consumer stops at its first None. The threads are started before the
timing and meet the main thread at a start and an end threading.Barrier.

Between processes (mp16, mp4k), as bench/queue.c's rows of the same
names: the consumer is forked ("fork" start method) before the timing; a
sample puts IPC_MESSAGES messages and then None, which the consumer
answers through a second queue, so a sample times the whole transfer.

Runs one untimed warm-up sample, then ITERATIONS timed ones, and prints one
JSON object on stdout:

  {"kind": KIND, "python": "3.11.7", "ns": [per-sample nanoseconds, ...]}
"""
import json
import multiprocessing
import os
import platform
import queue
import sys
import threading
import time

ITEMS_PER_SAMPLE = 2000  # bench/queue.c's PY_ITEMS_PER_SAMPLE
IPC_MESSAGES = 2000  # bench/queue.c's PY_IPC_MESSAGES_PER_SAMPLE
CAPACITY = 1024


def pick_cpus():
    """The first two CPUs this process may run on (one twice if it has one).
    Asked before anything pins itself: a thread starts with its creator's
    affinity, so a partner asking after the main thread had pinned itself
    would find only the main thread's CPU."""
    cpus = sorted(os.sched_getaffinity(0))
    return cpus[0], cpus[min(1, len(cpus) - 1)]


def pin(cpu):
    os.sched_setaffinity(0, {cpu})


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

    first, second = pick_cpus()

    def partner(role):
        if pinned:
            pin(second)
        while True:
            start.wait()
            role()
            end.wait()

    if pinned:
        pin(first)
    for i in range(1, parties):
        role = produce if i < producers else consume
        threading.Thread(target=partner, args=(role,), daemon=True).start()

    def sample():
        start.wait()
        produce()
        end.wait()
    return sample


def consume_messages(messages, acks, cpu):
    pin(cpu)
    while True:
        while messages.get() is not None:
            pass
        acks.put(True)


def ipc_transfer(size):
    context = multiprocessing.get_context("fork")
    messages, acks = context.Queue(CAPACITY), context.Queue()
    first, second = pick_cpus()
    consumer = context.Process(target=consume_messages,
                               args=(messages, acks, second), daemon=True)
    consumer.start()
    pin(first)
    message = b"m" * size

    def sample():
        for _ in range(IPC_MESSAGES):
            messages.put(message)
        messages.put(None)
        acks.get()
    return sample


KINDS = {"1x1": lambda: transfer(1, 1), "2x2": lambda: transfer(2, 2),
         "mp16": lambda: ipc_transfer(16), "mp4k": lambda: ipc_transfer(4096)}


def main(argv):
    if len(argv) != 3 or argv[1] not in KINDS or not argv[2].isdigit():
        print("usage: queues.py 1x1|2x2|mp16|mp4k ITERATIONS", file=sys.stderr)
        return 2
    kind, iterations = argv[1], int(argv[2])
    sample = KINDS[kind]()
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
