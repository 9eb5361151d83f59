#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench/sweep.py - how cost grows: bench/compare --sweep [NAME].

Runs one workload at each point of a sweep on the three sides of
bench/compare (mp_bench, bench/py_bench.py, mp_raw_limits), the three back
to back at each point (their order turns from point to point), round after
round; writes every figure to <sweep>.csv and draws <sweep>.png: the
median per side against the swept parameter on log axes, with the spread
of the rounds as a band. The sweeps:

  msgsize  message size, 8 B to 64 MiB: a Queue 1p1c (raw: an SPSC ring
           in shared memory with slots of that size) and a Pipe 1->1
           (raw: an AF_UNIX socketpair), MB/s
  procs    K producers and K consumers of 64 B messages, K = 1 .. 8
           (raw: K independent SPSC rings at once), msg/s
  workers  a pool's map of x*x over 3M longs, default chunks, 1 .. 2x
           the CPUs (raw: the work split over as many waiting processes,
           no transport), items/s
  items    the same map with 2 workers over 1e3 .. 1e8 items, time per item

Counts follow each side's defaults times --scale: at a message size, as
many bytes as the side's 1 MiB run moves (at most as many messages as its
64 B run, at least 8); so a 64 MiB point sends a few messages and an 8 B
point many. The 1e8-item point runs in the first round only.

bench/compare builds the programs and calls this script (see its --sweep);
the plots need matplotlib (Debian: apt-get install python3-matplotlib),
which may live in another Python than the one running the benchmark: the
script looks for one (this one, then /usr/bin/python3) and says how to
install it when there is none. Standard library only otherwise.

    sweep.py --out DIR --mp-bench EXE --raw-limits EXE [--sweep NAME]...
             [-n ROUNDS] [--quick] [--scale F] [--plots DIR] [--no-plot]
    sweep.py --plot-only DIR [--plots DIR]   # draw the CSVs of DIR again
"""

import argparse
import csv
import os
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # no bench/__pycache__ in the tree
from py_bench import size_text  # noqa: E402  (the sides' way of writing sizes)

KIB, MIB = 1 << 10, 1 << 20
SIDES = ("multiproc", "Python", "raw limit")
# The lines of the plots: one per side, and mp_bench's zero-copy queue
# (queue_throughput_large_zerocopy) where this build has it.
SERIES = ("multiproc", "multiproc zero-copy", "Python", "raw limit")
# Above this many items a point runs in the first round only.
ONE_ROUND_ITEMS = 10 ** 8
# The queue's large-message threshold (MP__QUEUE_LARGE_MIN) and the
# largest message a queue cell holds inline (docs/design.md, "Queues").
QUEUE_LARGE_MIN = 64 * KIB
QUEUE_INLINE_MAX = 96
# The pool's default chunk is ceil(n / (4 x workers)) items, cut to 63 KiB
# of them: with 2 workers and 8-byte items the cut starts at this n.
CHUNK_CAP_ITEMS = 8 * (63 * KIB // 8)


def items_text(n):
    """n as text: "1e3" for powers of ten, else the number."""
    e = len(str(n)) - 1
    return "1e%d" % e if n == 10 ** e else str(n)


class Sweep:
    """One sweep: its points (full and --quick), what each side runs at a
    point, and how its figure is drawn."""

    def __init__(self, name, title, xlabel, points, quick, runs, panels,
                 ylabel, per_item=False, marks=()):
        self.name, self.title, self.xlabel = name, title, xlabel
        self.points, self.quick = points, quick
        # runs(x, scale) -> {side: (argv tail, [(panel, series, result
        # name, or a prefix ending in "*"; "?" at the end: may be absent)])}
        self.runs = runs
        self.panels, self.ylabel = panels, ylabel
        self.per_item = per_item  # plot ns per item instead of the rate
        self.marks = marks  # (panel or None, x, label): vertical lines


def msgsize_runs(size, scale):
    """What each side runs at a message size (Sweep.runs)."""
    # queue_throughput_large selects its _zerocopy twin too (a prefix).
    only = ["--only", "queue_throughput_large,pipe_throughput_large"]
    args = ["--size", str(size), "--scale", "%g" % scale]
    return {
        "multiproc": (only + args, [
            ("Queue", "multiproc", "queue_throughput_large"),
            ("Queue", "multiproc zero-copy",
             "queue_throughput_large_zerocopy?"),
            ("Pipe", "multiproc", "pipe_throughput_large")]),
        "Python": (only + args, [
            ("Queue", "Python", "queue_throughput_large"),
            ("Pipe", "Python", "pipe_throughput_large")]),
        "raw limit": (["--only", "shm_ring,pipe_throughput"] + args, [
            ("Queue", "raw limit", "shm_ring_spsc_*"),
            ("Pipe", "raw limit", "unix_stream_throughput_*")]),
    }


def procs_runs(k, scale):
    """What each side runs with k producers and k consumers."""
    args = ["--procs", str(k), "--scale", "%g" % scale]
    name = "queue_throughput_small_%dp%dc" % (k, k)
    return {
        "multiproc": (["--only", "queue_throughput_small"] + args,
                      [("Queue", "multiproc", name)]),
        "Python": (["--only", "queue_throughput_small"] + args,
                   [("Queue", "Python", name)]),
        "raw limit": (["--only", "shm_ring"] + args,
                      [("Queue", "raw limit", "shm_ring_spsc_64b*")]),
    }


def pool_runs(workers, items):
    """What each side runs for a map of items items over workers."""
    args = ["--workers", str(workers), "--items", str(items)]
    name = "pool_map_trivial_default_chunksize"
    return {
        "multiproc": (["--only", "pool_map_trivial"] + args,
                      [("Pool.map", "multiproc", name)]),
        "Python": (["--only", "pool_map_trivial"] + args,
                   [("Pool.map", "Python", name)]),
        "raw limit": (["--only", "pool_floor"] + args,
                      [("Pool.map", "raw limit", "pool_map_floor")]),
    }


def sweeps(ncpu):
    """The sweeps, in the order they run."""
    most = min(2 * ncpu, 64)  # mp_bench's and py_bench's --workers limit
    workers = {1, min(ncpu, most), most} | {1 << e for e in range(7)
                                            if 1 << e <= most}
    workers = sorted(workers | (set(range(1, most + 1)) if ncpu <= 4
                                else set()))
    return [
        Sweep("msgsize", "Message size: Queue 1p1c and Pipe 1->1",
              "message size (bytes)",
              [8, 64, 128, 512, 4 * KIB, 32 * KIB, 60 * KIB, 64 * KIB,
               256 * KIB, MIB, 8 * MIB, 64 * MIB],
              [8, 4 * KIB, 64 * KIB, MIB, 64 * MIB],
              msgsize_runs, ["Queue", "Pipe"], "MB/s (log)",
              marks=[("Queue", QUEUE_INLINE_MAX, "inline up to 96 B"),
                     ("Queue", QUEUE_LARGE_MIN, "large message: 64 KiB")]),
        Sweep("procs", "Producers and consumers: Queue KpKc, 64 B messages",
              "K producers and K consumers", [1, 2, 4, 8], [1, 2, 8],
              procs_runs, ["Queue"], "msg/s (log)",
              marks=[(None, ncpu, "%d CPUs" % ncpu)]),
        Sweep("workers", "Pool workers: map(x*x) over 3M longs, default "
              "chunks", "workers", workers,
              sorted({1, min(ncpu, 64), min(2 * ncpu, 64)}),
              lambda w, scale: pool_runs(w, max(1000, int(3e6 * scale))),
              ["Pool.map"], "items/s (log)",
              marks=[(None, ncpu, "%d CPUs" % ncpu)]),
        Sweep("items", "Items: Pool(2) map(x*x), default chunks", "items",
              [10 ** e for e in range(3, 9)], [10 ** 3, 10 ** 5],
              lambda n, scale: pool_runs(2, n), ["Pool.map"],
              "ns per item (log)", per_item=True,
              marks=[(None, CHUNK_CAP_ITEMS, "chunks reach 63 KiB")]),
    ]


def x_text(sweep, x):
    """The point x of sweep as text (file names, ticks, tables)."""
    if sweep.name == "msgsize":
        return size_text(x)
    return items_text(x) if sweep.name == "items" else str(x)


def pick(lines, want):
    """(name, value, unit) of the first result line matching want (a
    name, or a prefix ending in "*"), or None."""
    for line in lines:
        parts = line.rstrip("\n").split("\t")
        if line.startswith("#") or len(parts) < 3:
            continue
        hit = (parts[0].startswith(want[:-1]) if want.endswith("*")
               else parts[0] == want)
        if not hit:
            continue
        try:
            v = float(parts[1])
        except ValueError:
            continue
        if v == v:  # a nan is a failed workload
            return parts[0], v, parts[2]
    return None


def run_sweeps(opts):
    """Runs the sweeps opts selects, writes their CSVs into opts.out and
    prints their tables; returns how many results did not come."""
    ncpu = os.cpu_count() or 1
    todo = [s for s in sweeps(ncpu) if not opts.sweep or s.name in opts.sweep]
    commands = {
        "multiproc": [opts.mp_bench],
        "Python": [sys.executable, os.path.join(os.path.dirname(
            os.path.abspath(__file__)), "py_bench.py")],
        "raw limit": [opts.raw_limits],
    }
    tags = {"multiproc": "mp", "Python": "py", "raw limit": "limits"}
    failed = 0
    for sweep in todo:
        points = sweep.quick if opts.quick else sweep.points
        folder = os.path.join(opts.out, sweep.name)
        os.makedirs(folder, exist_ok=True)
        rows = []
        began = time.time()
        with open(os.path.join(folder, "load.txt"), "w") as f:
            f.write("start %s loadavg %s\n" % (time.strftime(
                "%Y-%m-%d %H:%M UTC", time.gmtime()), loadavg()))
        for k in range(1, opts.rounds + 1):
            for i, x in enumerate(points):
                if sweep.name == "items" and x >= ONE_ROUND_ITEMS and k > 1:
                    continue
                runs = sweep.runs(x, opts.scale)
                turn = (k + i) % len(SIDES)
                for side in SIDES[turn:] + SIDES[:turn]:
                    argv, want = runs[side]
                    base = os.path.join(folder, "%s.%s.round%d" % (
                        tags[side], x_text(sweep, x), k))
                    print("sweep %s: round %d/%d, %s = %s: %s" % (
                        sweep.name, k, opts.rounds, sweep.xlabel,
                        x_text(sweep, x), side), file=sys.stderr, flush=True)
                    with open(base + ".tsv", "w") as out, \
                            open(base + ".err", "w") as err:
                        rc = subprocess.call(commands[side] + argv,
                                             stdout=out, stderr=err)
                    with open(base + ".tsv") as f:
                        lines = f.readlines()
                    for panel, series, name in want:
                        got = pick(lines, name.rstrip("?"))
                        if got is None:
                            if not name.endswith("?"):
                                failed += 1
                                print("sweep: %s gave no %s (exit %d), see "
                                      "%s.err" % (side, name, rc, base),
                                      file=sys.stderr)
                            continue
                        value, unit = got[1], got[2]
                        if sweep.name == "msgsize" and unit == "msg/s":
                            value, unit = value * x / 1e6, "MB/s"  # the ring
                        rows.append([sweep.name, panel, x, series, k, got[0],
                                     value, unit])
        with open(os.path.join(folder, "load.txt"), "a") as f:
            f.write("end %s loadavg %s; %.0f s\n" % (time.strftime(
                "%Y-%m-%d %H:%M UTC", time.gmtime()), loadavg(),
                time.time() - began))
        path = os.path.join(opts.out, sweep.name + ".csv")
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["sweep", "panel", "x", "side", "round", "result",
                        "value", "unit"])
            w.writerows(rows)
        print_table(sweep, rows)
        print("sweep: %s done in %.0f s: %s" % (sweep.name,
              time.time() - began, path), file=sys.stderr)
    return failed


def loadavg():
    """The three load averages as text, or "?"."""
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def medians(rows):
    """{(panel, side): {x: (median, low, high, unit)}} of CSV rows."""
    vals = {}
    for r in rows:
        key = (r[1], r[3])
        vals.setdefault(key, {}).setdefault(int(r[2]), []).append(
            (float(r[6]), r[7]))
    out = {}
    for key, by_x in vals.items():
        out[key] = {x: (statistics.median(v for v, _ in l),
                        min(v for v, _ in l), max(v for v, _ in l), l[0][1])
                    for x, l in by_x.items()}
    return out


def fmt(v):
    """v with 0, 2 or 3 decimals as it is >= 1000, >= 10 or smaller."""
    return "%.0f" % v if v >= 1000 else "%.2f" % v if v >= 10 else "%.3f" % v


def print_table(sweep, rows):
    """Prints the medians as a markdown table, one per panel."""
    med = medians(rows)
    for panel in sweep.panels:
        xs = sorted({x for (p, _), by_x in med.items() if p == panel
                     for x in by_x})
        if not xs:
            continue
        print()
        print("%s, %s: medians (%s)" % (sweep.title, panel,
                                        "ns per item" if sweep.per_item
                                        else "rates"))
        series = [s for s in SERIES if (panel, s) in med]
        ratios = [(a, b) for a, b in (("multiproc", "Python"),
                                      ("multiproc", "raw limit"),
                                      ("multiproc zero-copy", "raw limit"))
                  if a in series and b in series]
        print()
        print("| %s | %s | %s |" % (sweep.xlabel, " | ".join(series),
                                    " | ".join("%s / %s" % r for r in ratios)))
        print("|---" * (1 + len(series) + len(ratios)) + "|")
        for x in xs:
            cells = []
            vals = {}
            for side in series:
                m = med[(panel, side)].get(x)
                if m is None:
                    cells.append("-")
                    continue
                v = 1e9 / m[0] if sweep.per_item else m[0]
                vals[side] = m[0]
                cells.append("%s %s" % (fmt(v), "ns" if sweep.per_item
                                        else m[3]))
            for a, b in ratios:
                cells.append("%.2fx" % (vals[a] / vals[b])
                             if a in vals and b in vals else "")
            print("| %s | %s |" % (x_text(sweep, x), " | ".join(cells)))
    sys.stdout.flush()  # before what follows on stderr


# ---------------------------------------------------------------------------
# Drawing

INSTALL = ("matplotlib is missing: install it (Debian/Ubuntu: "
           "apt-get install python3-matplotlib), then draw the CSVs with\n"
           "    /usr/bin/python3 %s --plot-only %s")


def plotting_python():
    """The Python to draw with: this one when it has matplotlib, else
    /usr/bin/python3 when that has it, else None."""
    try:
        import matplotlib  # noqa: F401
        return sys.executable
    except ImportError:
        pass
    other = "/usr/bin/python3"
    if os.path.realpath(other) != os.path.realpath(sys.executable) and \
            os.access(other, os.X_OK) and subprocess.call(
                [other, "-c", "import matplotlib"], stderr=subprocess.DEVNULL) == 0:
        return other
    return None


def draw(folder, plots):
    """Draws every <sweep>.csv of folder as <sweep>.png into plots (and
    copies the CSV there when plots is another folder)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, NullLocator

    os.makedirs(plots, exist_ok=True)
    colours = {"multiproc": "C0", "multiproc zero-copy": "C0",
               "Python": "C1", "raw limit": "C2"}
    styles = {"multiproc": "-", "multiproc zero-copy": ":", "Python": "-",
              "raw limit": "--"}
    for sweep in sweeps(os.cpu_count() or 1):
        path = os.path.join(folder, sweep.name + ".csv")
        if not os.path.exists(path):
            continue
        with open(path, newline="") as f:
            rows = list(csv.reader(f))[1:]
        if not rows:
            continue
        med = medians(rows)
        rounds = max(int(r[4]) for r in rows)
        fig, axes = plt.subplots(1, len(sweep.panels), squeeze=False,
                                 figsize=(max(7.5, 5.2 * len(sweep.panels)
                                              + 0.6), 4.4))
        for ax, panel in zip(axes[0], sweep.panels):
            xs_all = set()
            for side in SERIES:
                m = med.get((panel, side))
                if not m:
                    continue
                xs = sorted(m)
                xs_all.update(xs)
                conv = (lambda v: 1e9 / v) if sweep.per_item else (lambda v: v)
                ys = [conv(m[x][0]) for x in xs]
                lo = [conv(m[x][2 if sweep.per_item else 1]) for x in xs]
                hi = [conv(m[x][1 if sweep.per_item else 2]) for x in xs]
                ax.plot(xs, ys, styles[side], color=colours[side], marker="o",
                        markersize=3.5, linewidth=1.4, label=side)
                if rounds > 1:
                    ax.fill_between(xs, lo, hi, color=colours[side],
                                    alpha=0.15, linewidth=0)
            for where, x, label in sweep.marks:
                if where in (None, panel) and xs_all and \
                        min(xs_all) <= x <= max(xs_all):
                    ax.axvline(x, color="0.5", linestyle=":", linewidth=1)
                    ax.annotate(label, (x, 0), xycoords=("data", "axes fraction"),
                                xytext=(2, 6), textcoords="offset points",
                                fontsize=7, color="0.35", rotation=90,
                                va="bottom")
            ax.set_xscale("log", base=2 if sweep.name != "items" else 10)
            ax.set_yscale("log")
            xs = sorted(xs_all)
            ax.xaxis.set_major_locator(FixedLocator(xs))
            ax.xaxis.set_minor_locator(NullLocator())
            # A point too close to the one after it (60 KiB before 64 KiB)
            # keeps its tick but not its label.
            labels, last = [], None
            for x in reversed(xs):
                near = last is not None and x * 1.25 > last
                labels.insert(0, "" if near else x_text(sweep, x))
                last = last if near else x
            ax.set_xticks(xs, labels, fontsize=7,
                          rotation=45 if len(xs) > 6 else 0)
            ax.tick_params(axis="y", labelsize=7)
            ax.set_title(panel, fontsize=9)
            ax.set_xlabel(sweep.xlabel, fontsize=8)
            ax.set_ylabel(sweep.ylabel, fontsize=8)
            ax.grid(True, which="major", linewidth=0.3, alpha=0.5)
            ax.legend(fontsize=7, loc="best")
        load = ""
        try:
            with open(os.path.join(folder, sweep.name, "load.txt")) as f:
                marks = [l.split() for l in f]
            load = "; %s, load avg %s -> %s" % (
                " ".join(marks[0][1:4]), marks[0][5], marks[-1][5])
        except (OSError, IndexError):
            pass
        fig.suptitle("%s\nmedians of %d round(s)%s; nproc=%d%s" % (
            sweep.title, rounds,
            (" (1e8: 1)" if sweep.name == "items" else "") +
            ", band: lowest to highest" if rounds > 1 else "",
            os.cpu_count() or 1, load), fontsize=9)
        fig.tight_layout()
        png = os.path.join(plots, sweep.name + ".png")
        fig.savefig(png, dpi=80)
        plt.close(fig)
        if os.path.realpath(plots) != os.path.realpath(folder):
            shutil.copy(path, os.path.join(plots, sweep.name + ".csv"))
        print("sweep: wrote %s" % png, file=sys.stderr)


def plot(folder, plots):
    """Draws with this Python or another that has matplotlib; returns 0,
    or 1 after saying how to install it."""
    python = plotting_python()
    if python is None:
        print("sweep: " + INSTALL % (os.path.abspath(__file__), folder),
              file=sys.stderr)
        return 1
    if python == sys.executable:
        draw(folder, plots)
        return 0
    return subprocess.call([python, os.path.abspath(__file__), "--plot-only",
                            folder, "--plots", plots])


def options(argv):
    """The parsed command line, defaults filled in (argparse exits on a
    bad one)."""
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", help="the results folder")
    ap.add_argument("--mp-bench", help="the mp_bench program")
    ap.add_argument("--raw-limits", help="the mp_raw_limits program")
    ap.add_argument("--sweep", action="append", default=[],
                    choices=[s.name for s in sweeps(1)],
                    help="a sweep to run (repeatable; default all)")
    ap.add_argument("-n", dest="rounds", type=int, default=None,
                    help="rounds (default 3, --quick 1)")
    ap.add_argument("--quick", action="store_true",
                    help="fewer points, one round, scale 0.05")
    ap.add_argument("--scale", type=float, default=None,
                    help="multiplies every count (default 1, --quick 0.05)")
    ap.add_argument("--plots", help="where the PNGs (and a copy of the "
                    "CSVs) go (default: the results folder)")
    ap.add_argument("--no-plot", action="store_true",
                    help="write the CSVs only")
    ap.add_argument("--plot-only", metavar="DIR",
                    help="draw the CSVs of DIR (a sweep's results folder)")
    opts = ap.parse_args(argv)
    if opts.plot_only is None and not (opts.out and opts.mp_bench and
                                       opts.raw_limits):
        ap.error("--out, --mp-bench and --raw-limits are needed")
    if opts.rounds is None:
        opts.rounds = 1 if opts.quick else 3
    if opts.scale is None:
        opts.scale = 0.05 if opts.quick else 1.0
    if opts.rounds < 1 or not opts.scale > 0:
        ap.error("-n must be 1 or more and --scale above 0")
    return opts


def main(argv=None):
    """Runs the sweeps and draws them (or only draws); returns the exit
    status: 0, or 1 when a result is missing or nothing could draw."""
    opts = options(argv)
    if opts.plot_only is not None:
        return plot(opts.plot_only, opts.plots or opts.plot_only)
    failed = run_sweeps(opts)
    status = 1 if failed else 0
    if not opts.no_plot:
        status = plot(opts.out, opts.plots or opts.out) or status
    print("sweep: results in %s%s" % (opts.out, "; %d result(s) missing"
                                      % failed if failed else ""),
          file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
