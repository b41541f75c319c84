#!/usr/bin/env python3
"""sync.py: the Python peers of `mtask bench sync`.

Usage: sync.py KIND ITERATIONS

KIND is one of
  lock        an uncontended threading.Lock: acquire() then release(),
              PAIRS_PER_SAMPLE times per sample (bench/sync.c's batch, which
              scales every row of this operation to 1000 pairs), with a
              second, idle thread in the process as in the C rows beside it
  condition   a round trip between two threads taking turns with a
              threading.Lock, a threading.Condition on it and a turn variable
  event       a round trip between two threads bouncing two threading.Events:
              set() the other's, wait() for one's own, clear() it

For condition and event the main thread runs on the first CPU the process
may use and its partner on the second (bench/sync.c's "threads on 2 CPUs").

Runs one untimed warm-up sample, then ITERATIONS timed ones, and prints one
JSON object on stdout:

  {"kind": KIND, "python": "3.11.7", "ns": [per-sample nanoseconds, ...]}

The code is what a Python programmer writes, the same protocol as the C rows
beside it; the partner thread is a daemon started before the timing, so no
thread start is timed.
"""
import json
import os
import platform
import sys
import threading
import time

PAIRS_PER_SAMPLE = 10000  # bench/sync.c's PAIRS_PER_SAMPLE


def pick_cpus():
    """The first two CPUs this process may use (one twice if it has one)."""
    cpus = sorted(os.sched_getaffinity(0))
    return cpus[0], cpus[1] if len(cpus) > 1 else cpus[0]


def start_partner(loop, cpu=None):
    """A daemon thread running loop, pinned to cpu unless it is None.
    On Linux, sched_setaffinity(0, ...) pins the calling thread only."""
    def run():
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})
        loop()
    threading.Thread(target=run, daemon=True).start()


def start_pinned_partner(loop):
    """Pins the main thread to the first CPU and loop's thread to the
    second."""
    main_cpu, partner_cpu = pick_cpus()
    os.sched_setaffinity(0, {main_cpu})
    start_partner(loop, partner_cpu)


def lock_pairs():
    """One sample of uncontended Lock pairs."""
    lock = threading.Lock()
    start_partner(threading.Event().wait)  # idle: it exists, nothing more

    def sample():
        for _ in range(PAIRS_PER_SAMPLE):
            lock.acquire()
            lock.release()
    return sample


def condition_round_trip():
    """Turn 1 is the partner's, 0 the main thread's; one Condition serves
    both directions, and each thread holds the lock except while it waits."""
    cond = threading.Condition(threading.Lock())
    state = {"turn": 0}

    def partner():
        with cond:
            while True:
                while state["turn"] != 1:
                    cond.wait()
                state["turn"] = 0
                cond.notify()

    start_pinned_partner(partner)

    def sample():
        with cond:
            state["turn"] = 1
            cond.notify()
            while state["turn"] != 0:
                cond.wait()
    return sample


def event_round_trip():
    """Each side clears the event it waited for before it answers, so no
    set() is lost and none is seen twice."""
    to_partner, to_main = threading.Event(), threading.Event()

    def partner():
        while True:
            to_partner.wait()
            to_partner.clear()
            to_main.set()

    start_pinned_partner(partner)

    def sample():
        to_partner.set()
        to_main.wait()
        to_main.clear()
    return sample


KINDS = {"lock": lock_pairs, "condition": condition_round_trip,
         "event": event_round_trip}


def time_samples(sample, iterations):
    samples = []
    for i in range(iterations + 1):
        start = time.perf_counter_ns()
        sample()
        elapsed = time.perf_counter_ns() - start
        if i > 0:  # the first one warms up caches and the partner thread
            samples.append(elapsed)
    return samples


def main(argv):
    if len(argv) != 3 or argv[1] not in KINDS or not argv[2].isdigit():
        print("usage: sync.py lock|condition|event ITERATIONS", file=sys.stderr)
        return 2
    kind, iterations = argv[1], int(argv[2])
    samples = time_samples(KINDS[kind](), iterations)
    json.dump({"kind": kind, "python": platform.python_version(),
               "ns": samples}, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
