#!/usr/bin/env python3
"""gevents.py: the gevent peer of `mtask bench coro`.

Usage: gevents.py spawn-join ITERATIONS

spawn-join  gevent.spawn(fn, i) then g.join(), for a fn that returns at
            once: SPAWNS_PER_SAMPLE per sample (bench/coro.c's, which
            scales the row to 1000)

Runs one untimed warm-up sample, then ITERATIONS ones, and prints one JSON
object on stdout:

  {"kind": KIND, "python": "3.11.2, gevent 22.10.2", "ns": [values, ...]}

gevent is not in the standard library. When the interpreter running this
script lacks it, the script runs itself again under /usr/bin/python3, where
Debian's python3-gevent installs it (scripts/deps.sh); without it anywhere,
it says so on stderr and exits 3, and the harness marks the row skipped.
"""
import json
import os
import platform
import sys
import time

SPAWNS_PER_SAMPLE = 1000  # bench/coro.c's HUB_SPAWNS_PER_SAMPLE
SYSTEM_PYTHON = "/usr/bin/python3"
REEXEC_MARK = "MTASK_GEVENTS_REEXECUTED"

try:
    import gevent
except ImportError:
    if os.path.exists(SYSTEM_PYTHON) and not os.environ.get(REEXEC_MARK):
        os.environ[REEXEC_MARK] = "1"
        os.execv(SYSTEM_PYTHON, [SYSTEM_PYTHON] + sys.argv)
    print("gevents.py: gevent is not installed for %s (Debian: apt-get install "
          "python3-gevent)" % sys.executable, file=sys.stderr)
    sys.exit(3)


def return_value(value):
    return value


def spawn_join_sample():
    for i in range(SPAWNS_PER_SAMPLE):
        g = gevent.spawn(return_value, i)
        g.join()


def main(argv):
    if len(argv) != 3 or argv[1] != "spawn-join" or not argv[2].isdigit():
        print("usage: gevents.py spawn-join ITERATIONS", file=sys.stderr)
        return 2
    iterations = int(argv[2])
    samples = []
    for i in range(iterations + 1):
        start = time.perf_counter_ns()
        spawn_join_sample()
        elapsed = time.perf_counter_ns() - start
        if i > 0:  # the first one warms up
            samples.append(elapsed)
    # The harness keeps 31 characters of this.
    version = "%s, gevent %s" % (platform.python_version(), gevent.__version__)
    json.dump({"kind": argv[1], "python": version, "ns": samples}, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
