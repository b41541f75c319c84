#!/usr/bin/env python3
"""mpipool.py: the mpi4py peer of `mtask bench mpi`.

Usage: mpirun -np 3 python3 -m mpi4py.futures mpipool.py KIND ITERATIONS

mpi4py.futures runs this script on rank 0 only; MPIPoolExecutor() there
uses the other ranks as workers (its static-world mode, the design mtask's
MPI pool follows). KIND is one of
  tasks   submit TASKS trivial tasks, then result() each
  map     executor.map over MAP_ITEMS ints, chunksize items / (4 * workers)
  spin    submit SPIN_TASKS tasks of SPIN_NS busy work each, then result()

The executor is made and warmed up before the timing, as bench/mpi.c does.
Runs one untimed warm-up sample, then ITERATIONS timed ones, and prints

  {"kind": KIND, "python": "3.11.2", "mpi4py": "3.1.4", "ns": [...]}
"""
import json
import platform
import sys
import time

import mpi4py
from mpi4py import MPI
from mpi4py.futures import MPIPoolExecutor

TASKS = 1000        # bench/mpi.c's TASKS
MAP_ITEMS = 100000  # and MAP_ITEMS
SPIN_TASKS = 200    # and SPIN_TASKS
SPIN_NS = 100000    # and SPIN_NS


def identity(x):
    return x


def spin(x):
    until = time.perf_counter_ns() + SPIN_NS
    while time.perf_counter_ns() < until:
        pass
    return x


def make_sample(kind, executor, workers):
    if kind == "tasks":
        def sample():
            for f in [executor.submit(identity, i) for i in range(TASKS)]:
                f.result()
    elif kind == "spin":
        def sample():
            for f in [executor.submit(spin, i) for i in range(SPIN_TASKS)]:
                f.result()
    elif kind == "map":
        items = list(range(MAP_ITEMS))
        chunksize = max(1, MAP_ITEMS // (4 * workers))

        def sample():
            list(executor.map(identity, items, chunksize=chunksize))
    else:
        raise SystemExit(f"mpipool.py: unknown kind {kind!r}")
    return sample


def main():
    kind, iterations = sys.argv[1], int(sys.argv[2])
    with MPIPoolExecutor() as executor:
        workers = MPI.COMM_WORLD.Get_size() - 1  # the static world's
        sample = make_sample(kind, executor, workers)
        sample()  # warm-up: workers up, code loaded
        ns = []
        for _ in range(iterations):
            start = time.perf_counter_ns()
            sample()
            ns.append(time.perf_counter_ns() - start)
    json.dump({"kind": kind, "python": platform.python_version(),
               "mpi4py": mpi4py.__version__, "ns": ns}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
