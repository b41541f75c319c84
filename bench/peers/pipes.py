#!/usr/bin/env python3
"""pipes.py: the Python peer of `mtask bench pipe`.
(Not pipe.py, to stay clear of the standard library's old pipes module.)

Usage: pipes.py KIND ITERATIONS

KIND is
  pipe   a round trip of a MESSAGE_SIZE-byte message between this process
         and a partner process through multiprocessing.Pipe(): send_bytes()
         here, recv_bytes() and send_bytes() back there, recv_bytes() here

The partner is forked (the "fork" start method, as bench/pipe.c forks its
partners) before the timing, and ends at the end of file when this process
closes its end. Runs one untimed warm-up sample, then ITERATIONS timed ones,
and prints one JSON object on stdout:

  {"kind": KIND, "python": "3.11.7", "ns": [per-sample nanoseconds, ...]}
"""
import json
import multiprocessing
import platform
import sys
import time

MESSAGE_SIZE = 16  # bench/pipe.c's MESSAGE_SIZE


def echo(conn, other_end):
    """The partner: sends every message back until the end of file."""
    other_end.close()  # else its own copy would keep the end of file away
    while True:
        try:
            message = conn.recv_bytes()
        except EOFError:
            return
        conn.send_bytes(message)


def pipe_round_trip():
    context = multiprocessing.get_context("fork")
    here, there = context.Pipe()
    partner = context.Process(target=echo, args=(there, here), daemon=True)
    partner.start()
    there.close()  # only the partner's copy is left: its end of file
    message = b"m" * MESSAGE_SIZE

    def sample():
        here.send_bytes(message)
        if len(here.recv_bytes()) != MESSAGE_SIZE:
            raise RuntimeError("the partner sent back something else")

    def finish():
        here.close()
        partner.join()
    return sample, finish


KINDS = {"pipe": pipe_round_trip}


def main(argv):
    if len(argv) != 3 or argv[1] not in KINDS or not argv[2].isdigit():
        print("usage: pipes.py pipe ITERATIONS", file=sys.stderr)
        return 2
    kind, iterations = argv[1], int(argv[2])
    sample, finish = KINDS[kind]()
    samples = []
    for i in range(iterations + 1):
        begin = time.perf_counter_ns()
        sample()
        elapsed = time.perf_counter_ns() - begin
        if i > 0:  # the first one warms up
            samples.append(elapsed)
    finish()
    json.dump({"kind": kind, "python": platform.python_version(), "ns": samples},
              sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
