#!/usr/bin/env python3
"""coros.py: the Python peer of `mtask bench coro`: greenlet.

Usage: coros.py KIND ITERATIONS

KIND is one of
  switch   a ping-pong with a partner greenlet that switches every value
           straight back: SWITCHES_PER_SAMPLE switches per sample
           (bench/coro.c's, which scales the row to 1000 switches)
  spawn    greenlet(fn).switch(i) for a fn that returns at once, so the
           greenlet starts, ends and is dropped: SPAWNS_PER_SAMPLE per
           sample
  memory   LIVE greenlets started and parked in a switch; a sample is the
           resident memory they added, in bytes per greenlet (the C side
           reports bytes in its nanosecond column too)

Runs one untimed warm-up sample (not for memory), then ITERATIONS ones,
and prints one JSON object on stdout:

  {"kind": KIND, "python": "3.11.2, greenlet 2.0.2", "ns": [values, ...]}

greenlet is not in the standard library. When the interpreter running
this script lacks it, the script runs itself again under /usr/bin/python3,
where Debian's python3-greenlet installs it (scripts/deps.sh); without it
anywhere, it says so on stderr and exits 3, and the harness marks the rows
skipped.

On Python 3.11 each new greenlet maps (and, once it ends, unmaps) a chunk
for its interpreter frames: that pair of system calls is most of the spawn
row's time, and is what a greenlet costs there.
"""
import json
import os
import platform
import sys
import time

SWITCHES_PER_SAMPLE = 20000  # bench/coro.c's SWITCHES_PER_SAMPLE
SPAWNS_PER_SAMPLE = 1000     # bench/coro.c's SPAWNS_PER_SAMPLE
LIVE = 100000                # bench/coro.c's LIVE_COROUTINES
SYSTEM_PYTHON = "/usr/bin/python3"
REEXEC_MARK = "MTASK_COROS_REEXECUTED"

try:
    import greenlet
except ImportError:
    if os.path.exists(SYSTEM_PYTHON) and not os.environ.get(REEXEC_MARK):
        os.environ[REEXEC_MARK] = "1"
        os.execv(SYSTEM_PYTHON, [SYSTEM_PYTHON] + sys.argv)
    print("coros.py: greenlet is not installed for %s (Debian: apt-get install "
          "python3-greenlet)" % sys.executable, file=sys.stderr)
    sys.exit(3)


def switch_sample():
    """The partner sends every value back to the main greenlet, as the C
    rows' partner does."""
    main = greenlet.getcurrent()

    def echo(value):
        while True:
            value = main.switch(value)

    partner = greenlet.greenlet(echo)
    partner.switch(0)

    def sample():
        for i in range(SWITCHES_PER_SAMPLE // 2):
            partner.switch(i)
    return sample


def spawn_sample():
    def return_value(value):
        return value

    def sample():
        for i in range(SPAWNS_PER_SAMPLE):
            greenlet.greenlet(return_value).switch(i)
    return sample


def resident_bytes():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def memory_per_greenlet():
    """Bytes of resident memory each of LIVE parked greenlets adds."""
    main = greenlet.getcurrent()

    def park():
        main.switch()

    live = [None] * LIVE
    before = resident_bytes()
    for i in range(LIVE):
        live[i] = greenlet.greenlet(park)
        live[i].switch()
    return max(0, resident_bytes() - before) // LIVE


def time_samples(sample, iterations):
    samples = []
    for i in range(iterations + 1):
        start = time.perf_counter_ns()
        sample()
        elapsed = time.perf_counter_ns() - start
        if i > 0:  # the first one warms up
            samples.append(elapsed)
    return samples


KINDS = {"switch": switch_sample, "spawn": spawn_sample}


def main(argv):
    if (len(argv) != 3 or argv[1] not in ("switch", "spawn", "memory")
            or not argv[2].isdigit()):
        print("usage: coros.py switch|spawn|memory ITERATIONS", file=sys.stderr)
        return 2
    kind, iterations = argv[1], int(argv[2])
    if kind == "memory":
        # One set of greenlets per process: a second would reuse the first's
        # freed memory and look cheaper.
        samples = [memory_per_greenlet()] * iterations
    else:
        samples = time_samples(KINDS[kind](), iterations)
    # The harness keeps 31 characters of this.
    version = "%s, greenlet %s" % (platform.python_version(), greenlet.__version__)
    json.dump({"kind": kind, "python": version, "ns": samples}, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
