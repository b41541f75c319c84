#!/usr/bin/env python3
"""benchplot.py: charts of `mtask bench --json` results, one per benchmark.

    scripts/benchplot.py RESULTS.json OUTDIR

Writes OUTDIR/NAME.svg and OUTDIR/NAME.png for every benchmark in
RESULTS.json (the document `mtask bench --json` prints), and prints a short
summary (each row's median and ratio to its floor, and the targets) on
standard output. A chart has one horizontal bar per implementation, grouped
by operation: its length is the median time per operation divided by the
floor's (log scale, so 0.5x and 2x are as far from 1x), the whisker spans
the 10th to 90th percentile, mtask's rows are drawn in their own colour and
the floor is the line at 1x. Needs gnuplot (Debian: gnuplot-nox).
"""
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile

MTASK_COLOUR = "#1f77b4"
PEER_COLOUR = "#b0b0b0"
FLOOR_COLOUR = "#555555"


def is_mtask(row):
    name = row["implementation"]
    return name.startswith("mt_") or name.startswith("mtask") or " mt_" in name


def chart_rows(bench):
    """(label, ratio, p10 ratio, p90 ratio, colour) per measured row, top to
    bottom, each operation headed by its name (a string)."""
    floors = {r["operation"]: r["median_ns"] for r in bench["rows"]
              if r["reference"] and r["median_ns"]}
    rows, last_operation = [], None
    for r in bench["rows"]:
        floor = floors.get(r["operation"])
        if r["skipped"] or not r["median_ns"] or not floor:
            continue
        if r["operation"] != last_operation:
            rows.append(r["operation"])
        last_operation = r["operation"]
        colour = FLOOR_COLOUR if r["reference"] else (
            MTASK_COLOUR if is_mtask(r) else PEER_COLOUR)
        label = r["implementation"]
        rows.append((label, r["median_ns"] / floor, r["p10_ns"] / floor,
                     r["p90_ns"] / floor, colour))
    return rows


def gnuplot_text(s):
    return s.replace("\\", "\\\\").replace('"', '\\"').replace("_", "\\_")


def script_for(bench, rows, data_path, out_base):
    bars = [row for row in rows if not isinstance(row, str)]
    ratios = [v for row in bars for v in row[1:4] if v > 0]
    low = 10 ** math.floor(math.log10(min(ratios + [1.0]) * 0.8))
    high = 10 ** math.ceil(math.log10(max(ratios + [1.0]) * 1.25))
    height = 120 + 22 * len(rows)
    tics = ", ".join(f'"{gnuplot_text(row[0][:48])}" {i}'
                     for i, row in enumerate(rows) if not isinstance(row, str))
    headings = "\n".join(
        f'set label "{gnuplot_text(row)}" at graph 0.01, first {i} left font ",10" noenhanced'
        for i, row in enumerate(rows) if isinstance(row, str))
    common = f"""{headings}
set lmargin 50
set title "{gnuplot_text(bench['name'])}: {gnuplot_text(bench['summary'])}" noenhanced
set xlabel "median per operation / the floor's (log scale; whiskers: 10th to 90th percentile)"
set logscale x
set xrange [{low}:{high}]
set yrange [{len(rows) - 0.5}:-0.5]
set ytics ({tics}) noenhanced font ",9"
set grid xtics
set key off
set style fill solid 0.85 noborder
set arrow from 1, graph 0 to 1, graph 1 nohead lc rgb "{FLOOR_COLOUR}" dt 2
plot "{data_path}" using (sqrt($2 * {low})):1:({low}):2:($1 - 0.35):($1 + 0.35):5 \\
        with boxxyerror lc rgb variable, \\
     "" using 2:1:3:4 with xerrorbars lc rgb "black" pt -1
"""
    return (f'set terminal svg size 1000,{height} dynamic font "sans,10"\n'
            f'set output "{out_base}.svg"\n{common}\n'
            f'set terminal pngcairo size 1000,{height} font "sans,9"\n'
            f'set output "{out_base}.png"\nreplot\n')


def colour_number(hex_colour):
    return int(hex_colour[1:], 16)


def plot(bench, outdir, workdir):
    rows = chart_rows(bench)
    if not rows:
        return False
    data_path = os.path.join(workdir, bench["name"] + ".dat")
    with open(data_path, "w") as data:
        for i, row in enumerate(rows):
            if not isinstance(row, str):
                data.write(f"{i} {row[1]} {row[2]} {row[3]} {colour_number(row[4])}\n")
    script = script_for(bench, rows, data_path, os.path.join(outdir, bench["name"]))
    subprocess.run(["gnuplot"], input=script, text=True, check=True)
    return True


def summarise(results):
    machine = results.get("machine", {})
    print(f'mtask {results.get("mtask")} on {machine.get("kernel")}, '
          f'{machine.get("cpus")} CPUs ({machine.get("cpu_model")})')
    for bench in results["benchmarks"]:
        print(f'\n{bench["name"]}: {bench["summary"]}')
        print(f'  {"operation":40}  {"implementation":44}  {"median (ns)":>14}  vs floor')
        for r in bench["rows"]:
            what = r["skipped"] or f'{r["median_ns"]:14,}  {r["ratio"]:8.2f}x'
            print(f'  {r["operation"][:40]:40}  {r["implementation"][:44]:44}  {what}')
        for t in bench["targets"]:
            met = {True: "met", False: "NOT MET", None: "not measured"}[t["met"]]
            ratio = "-" if t["ratio"] is None else f'{t["ratio"]:.2f}x'
            print(f'  target: {t["label"]}: {ratio} ({t["comparison"]} {t["bound"]:g}x) {met}')


def main(argv):
    if len(argv) == 2 and argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        return 0
    if len(argv) != 3:
        print("usage: benchplot.py RESULTS.json OUTDIR (try --help)", file=sys.stderr)
        return 2
    try:
        with open(argv[1]) as f:
            results = json.load(f)
    except (OSError, ValueError) as e:
        print(f"benchplot.py: cannot read {argv[1]}: {e}", file=sys.stderr)
        return 2
    if not shutil.which("gnuplot"):
        print("benchplot.py: gnuplot not found (Debian: apt-get install gnuplot-nox)",
              file=sys.stderr)
        return 1
    os.makedirs(argv[2], exist_ok=True)
    summarise(results)
    with tempfile.TemporaryDirectory() as workdir:
        drawn = [b["name"] for b in results["benchmarks"] if plot(b, argv[2], workdir)]
    print(f'\ncharts: {", ".join(f"{argv[2]}/{n}.svg" for n in drawn)} (and .png)')
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
