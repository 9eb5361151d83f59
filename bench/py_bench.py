#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench/py_bench.py - the Python side of bench/compare.

CPython's standard-library ``multiprocessing`` on the workloads that
bench/mp_bench runs with this library: the same workload names, shapes,
message sizes and default counts as the reference ../shared/bench/py_anchor.py
(bench/check-reference sets the two side by side), so that the figures of
docs/performance.md can be taken from a bare clone. Standard library only.

Output: one ``name<TAB>value<TAB>unit<TAB>notes`` line per result on stdout;
lines that start with ``#`` are metadata. ``us`` is time per operation (lower
is better); ``msg/s``, ``items/s``, ``tasks/s``, ``ops/s`` are rates and
``MB/s`` is 1e6 bytes per second (higher is better). A workload that fails
prints ``<group><TAB>nan<TAB>error<TAB>why`` and the exit status becomes 1.

Every process is started with the ``fork`` method through a context object
(the global default is left alone), except where process_start_join and
pool_startup_first_result time the other methods. Times are
``time.perf_counter`` (CLOCK_MONOTONIC, the same clock in every process); a
workload with several processes runs from the earliest start any of them
noted to the latest end.

    python3 bench/py_bench.py                       # every workload
    python3 bench/py_bench.py --only queue,pipe --scale 0.5
    python3 bench/py_bench.py --list

--size, --procs, --workers and --items run a few workloads at one point of
a sweep (bench/compare --sweep), as mp_bench's options of the same names:
the message size of the large-message runs, the producers and consumers
of the small-message queue runs, pool_map_trivial's workers and items.
"""

import argparse
import multiprocessing
import os
import platform
import subprocess
import sys
import time
from multiprocessing import shared_memory

clock = time.perf_counter
WAIT_S = 120.0  # the bound on every join and every wait for a result

# Default count of each workload (each takes about 1-5 s on a 2-core VM);
# every key is also an option, --n-<key with dashes>, and --scale multiplies
# them all.
COUNTS = {
    "fork": 150,
    "forkserver": 30,
    "spawn": 20,
    "pingpong": 30000,
    "queue_small": 200000,
    "queue_large": 200,
    "pipe_large": 1500,
    "joinable": 100000,
    "pool_startup": 30,
    "pool_startup_first_result": 10,
    "pool_map": 3000000,
    "pool_map_cs1": 50000,
    "pool_imap": 50000,
    "pool_imap_cs100": 2000000,
    "apply": 10000,
    "lock": 10000000,
    "value": 1000000,
    "manager_start": 40,
    "manager_dict": 20000,
    "manager_queue": 20000,
    "shm": 20000,
    "shm_copy": 50000,
}

MIB = 1 << 20


class Run:
    """What every workload gets: its counts and where its lines go."""

    def __init__(self, opts):
        self.opts = opts
        self.suffix = opts.suffix
        self.fork = multiprocessing.get_context("fork")
        self.ran_before = False  # True once a workload has run here

    def n(self, key, floor):
        """The count of key times --scale, at least floor."""
        return max(floor, int(getattr(self.opts, "n_" + key) * self.opts.scale))

    def n_sized(self, key, floor):
        """The count of key, a workload of 1 MiB messages, at --size: as
        many bytes, but no more messages than queue_small; times --scale,
        at least floor, and at least 8 at a size other than 1 MiB
        (mp_bench's scaled_sized)."""
        n = getattr(self.opts, "n_" + key) * MIB / self.opts.size
        n = min(n, self.opts.n_queue_small) * self.opts.scale
        return max(floor if self.opts.size == MIB else max(floor, 8), int(n))

    def out(self, name, value, unit, notes=""):
        """Prints one result line (0, 2 or 3 decimals as value is >= 1000,
        >= 10 or smaller; a string value as it is)."""
        if isinstance(value, float):
            digits = 0 if value >= 1000 else 2 if value >= 10 else 3
            value = "%.*f" % (digits, value)
        print("%s\t%s\t%s\t%s" % (name + self.suffix, value, unit, notes),
              flush=True)


# ---------------------------------------------------------------------------
# What the children run (module level: a spawned child imports them)
# ---------------------------------------------------------------------------

def do_nothing():
    pass


def square(x):
    return x * x


def echo(rx, tx, rounds):
    """Says b"ready" on tx, then sends back each of rounds messages."""
    recv, send = rx.recv_bytes, tx.send_bytes
    send(b"ready")
    for _ in range(rounds):
        send(recv())


def drain_connection(rx, count, results):
    """Receives count messages, then reports their total size and when."""
    recv = rx.recv_bytes
    got = 0
    for _ in range(count):
        got += len(recv())
    results.put((got, clock()))


def produce(q, count, size, start, results):
    """After start, puts count size-byte messages; reports when it began.
    (A Queue's feeder thread flushes them before this process exits.)"""
    message = b"x" * size
    put = q.put
    start.wait()
    began = clock()
    for _ in range(count):
        put(message)
    results.put(("producer", count, began, 0))


def consume(q, start, results):
    """After start, gets until a None; reports what it got and when the
    last real message came."""
    get = q.get
    start.wait()
    got = size = 0
    last = clock()
    while True:
        m = get()
        if m is None:
            break
        got += 1
        size += len(m)
        last = clock()
    results.put(("consumer", got, last, size))


def consume_tasks(q, start):
    """After start, gets and marks done every task, up to a None."""
    get, done = q.get, q.task_done
    start.wait()
    while True:
        m = get()
        done()
        if m is None:
            return


def hammer_lock(lock, count, start, results):
    """After start, takes and releases lock count times; reports the span."""
    take, give = lock.acquire, lock.release
    start.wait()
    began = clock()
    for _ in range(count):
        take()
        give()
    results.put((began, clock()))


def bump_value(value, count, start, results):
    """After start, adds 1 to value count times under its own lock."""
    guard = value.get_lock()
    start.wait()
    began = clock()
    for _ in range(count):
        with guard:
            value.value += 1
    results.put((began, clock()))


def use_manager_dict(d, count, results):
    """count set+get pairs on 1024 keys through a manager's dict proxy,
    after one untimed pair (the proxy connects on first use)."""
    d[0] = 0
    d[0]
    began = clock()
    for i in range(count):
        key = i & 1023
        d[key] = i
        d[key]
    results.put((began, clock()))


def feed_manager_queue(q, count, size, start, results):
    message = b"x" * size
    put = q.put
    q.qsize()  # the proxy connects here, before the start
    start.wait()
    began = clock()
    for _ in range(count):
        put(message)
    results.put(("producer", began))


def drain_manager_queue(q, count, start, results):
    get = q.get
    q.qsize()
    start.wait()
    for _ in range(count):
        get()
    results.put(("consumer", clock()))


# ---------------------------------------------------------------------------
# Helpers of the parent
# ---------------------------------------------------------------------------

def start_all(procs):
    for p in procs:
        p.start()
    return procs


def join_all(procs):
    """Joins every process (each within WAIT_S); raises unless all exit 0."""
    for p in procs:
        p.join(WAIT_S)
        if p.is_alive():
            p.terminate()
            p.join(5)
            raise RuntimeError("child %d still running after %.0f s"
                               % (p.pid, WAIT_S))
        if p.exitcode != 0:
            raise RuntimeError("child %d exited with %r" % (p.pid, p.exitcode))


def gather(results, k):
    """Returns the next k items of the results queue."""
    return [results.get(timeout=WAIT_S) for _ in range(k)]


def two_workers(run, target, *args):
    """Runs target(*args, start, results) in two processes that begin
    together (a Barrier) and each put their (begin, end); returns the whole
    span, first begin to last end, and the % of it both were running."""
    results = run.fork.Queue()
    start = run.fork.Barrier(2)
    join_all(start_all([run.fork.Process(target=target,
                                         args=args + (start, results))
                        for _ in range(2)]))
    spans = gather(results, 2)
    whole = max(e for _, e in spans) - min(b for b, _ in spans)
    both = min(e for _, e in spans) - max(b for b, _ in spans)
    return whole, 100.0 * max(0.0, both) / whole


# ---------------------------------------------------------------------------
# The workloads, in the order they run; each is a group selected by --only
# ---------------------------------------------------------------------------

WORKLOADS = []


def workload(name):
    def register(fn):
        WORKLOADS.append((name, fn))
        return fn
    return register


@workload("process_start_join")
def process_start_join(run):
    for method in ("fork", "forkserver", "spawn"):
        n = run.n(method, 1)
        ctx = multiprocessing.get_context(method)
        for _ in range(3):  # untimed: starts a fork server, warms caches
            p = ctx.Process(target=do_nothing)
            p.start()
            p.join()
        began = clock()
        for _ in range(n):
            p = ctx.Process(target=do_nothing)
            p.start()
            p.join(WAIT_S)
            if p.exitcode != 0:
                raise RuntimeError("child exited with %r" % p.exitcode)
        took = clock() - began
        run.out("process_start_join_" + method, took / n * 1e6, "us",
                "n=%d Process(target=noop).start()+join() one after another"
                % n)


@workload("pipe_pingpong")
def pipe_pingpong(run):
    n = run.n("pingpong", 1)
    warm = min(2000, n)
    for name, duplex in (("pipe_pingpong", True),
                         ("pipe_pingpong_simplex", False)):
        if duplex:
            mine, theirs = run.fork.Pipe(duplex=True)
            rx = tx = mine
            child_args = (theirs, theirs, warm + n)
            how = "Pipe(duplex=True) = AF_UNIX SOCK_STREAM socketpair"
        else:
            down_rx, down_tx = run.fork.Pipe(duplex=False)
            up_rx, up_tx = run.fork.Pipe(duplex=False)
            rx, tx = up_rx, down_tx
            child_args = (down_rx, up_tx, warm + n)
            how = "2x Pipe(duplex=False) = os.pipe"
        child = run.fork.Process(target=echo, args=child_args)
        child.start()
        recv, send = rx.recv_bytes, tx.send_bytes
        if recv() != b"ready":
            raise RuntimeError("the echo child did not say ready")
        message = b"12345678"
        for _ in range(warm):
            send(message)
            recv()
        began = clock()
        for _ in range(n):
            send(message)
            recv()
        took = clock() - began
        join_all([child])
        run.out(name, took / n * 1e6, "us",
                "n=%d 8-byte send_bytes/recv_bytes round trip; %s" % (n, how))


@workload("pipe_throughput_large")
def pipe_throughput_large(run):
    n = run.n_sized("pipe_large", 2)
    rx, tx = run.fork.Pipe(duplex=False)
    results = run.fork.Queue()
    child = run.fork.Process(target=drain_connection, args=(rx, n, results))
    child.start()
    message = b"x" * run.opts.size
    send = tx.send_bytes
    began = clock()
    for _ in range(n):
        send(message)
    got, ended = results.get(timeout=WAIT_S)
    join_all([child])
    took = ended - began
    run.out("pipe_throughput_large", got / took / 1e6, "MB/s",
            "n=%d %s Connection.send_bytes/recv_bytes over os.pipe; %.2fs"
            % (n, size_text(run.opts.size), took))


def queue_run(run, kind, producers, consumers, total, size):
    """total size-byte messages from producers to consumers through a new
    Queue or SimpleQueue; returns (msg/s, bytes/s, seconds)."""
    ctx = run.fork
    q = ctx.Queue() if kind == "Queue" else ctx.SimpleQueue()
    results = ctx.Queue()
    start = ctx.Barrier(producers + consumers)
    each = total // producers
    cons = [ctx.Process(target=consume, args=(q, start, results))
            for _ in range(consumers)]
    prods = [ctx.Process(target=produce, args=(q, each, size, start, results))
             for _ in range(producers)]
    start_all(cons + prods)
    join_all(prods)  # a producer exits once its messages are in the pipe
    for _ in cons:
        q.put(None)
    join_all(cons)
    reports = gather(results, producers + consumers)
    began = min(r[2] for r in reports if r[0] == "producer")
    ended = max(r[2] for r in reports if r[0] == "consumer")
    got = sum(r[1] for r in reports if r[0] == "consumer")
    nbytes = sum(r[3] for r in reports if r[0] == "consumer")
    if got != each * producers:
        raise RuntimeError("%d messages arrived of %d" % (got, each * producers))
    if kind == "Queue":
        q.close()
        q.join_thread()
    took = ended - began
    return got / took, nbytes / took, took


def small_messages(run, kind, prefix):
    n = run.n("queue_small", 10)
    k = run.opts.procs
    for producers, consumers in ((k, k),) if k else ((1, 1), (2, 2)):
        rate, _, took = queue_run(run, kind, producers, consumers, n, 64)
        run.out("%s_%dp%dc" % (prefix, producers, consumers), rate, "msg/s",
                "n=%d 64B bytes payload; %s(); %.2fs" % (n, kind, took))


def large_messages(run, kind, name):
    n = run.n_sized("queue_large", 2)
    _, bps, took = queue_run(run, kind, 1, 1, n, run.opts.size)
    run.out(name, bps / 1e6, "MB/s",
            "n=%d %s bytes payload 1p1c; %s(); %.2fs"
            % (n, size_text(run.opts.size), kind, took))


# queue_throughput_{small,large}, then simplequeue_throughput_{small,large}
for _kind, _prefix in (("Queue", "queue"), ("SimpleQueue", "simplequeue")):
    workload(_prefix + "_throughput_small")(
        lambda run, k=_kind, p=_prefix: small_messages(
            run, k, p + "_throughput_small"))
    workload(_prefix + "_throughput_large")(
        lambda run, k=_kind, p=_prefix: large_messages(
            run, k, p + "_throughput_large"))


@workload("joinablequeue")
def joinablequeue(run):
    ctx = run.fork
    n = run.n("joinable", 10)
    for consumers in (1, 2):
        q = ctx.JoinableQueue()
        start = ctx.Barrier(consumers + 1)
        procs = start_all([ctx.Process(target=consume_tasks, args=(q, start))
                           for _ in range(consumers)])
        start.wait()
        put = q.put
        began = clock()
        for i in range(n):
            put(i)
        q.join()
        took = clock() - began
        for _ in procs:
            q.put(None)
        join_all(procs)
        q.close()
        q.join_thread()
        run.out("joinablequeue_1p%dc" % consumers, n / took, "tasks/s",
                "n=%d int tasks; the parent puts all + join(); consumers "
                "get+task_done" % n)


@workload("pool_startup")
def pool_startup(run):
    n = run.n("pool_startup", 1)
    began = clock()
    for _ in range(n):
        pool = run.fork.Pool(2)
        pool.close()
        pool.join()
    took = clock() - began
    run.out("pool_startup_close_join", took / n * 1e6, "us",
            "n=%d Pool(2) create + close() + join()" % n)


@workload("pool_startup_first_result")
def pool_startup_first_result(run):
    n = run.n("pool_startup_first_result", 1)
    for method in ("fork", "forkserver", "spawn"):
        ctx = multiprocessing.get_context(method)
        with ctx.Pool(2) as pool:  # untimed: starts a fork server
            pool.apply(square, (3,))
        began = clock()
        for _ in range(n):
            pool = ctx.Pool(2)
            if pool.apply(square, (3,)) != 9:
                raise RuntimeError("wrong result")
            pool.close()
            pool.join()
        took = clock() - began
        run.out("pool_startup_first_result_" + method, took / n * 1e6, "us",
                "n=%d %s Pool(2) create + apply(square) + close() + join()"
                % (n, method))


@workload("pool_map_trivial")
def pool_map_trivial(run):
    workers, items = run.opts.workers, run.opts.items
    runs = (("pool_map_trivial_default_chunksize", "pool_map", None),
            ("pool_map_trivial_chunksize1", "pool_map_cs1", 1))
    with run.fork.Pool(workers) as pool:
        pool.map(square, range(1000))  # untimed
        for name, key, chunksize in runs[:1] if items else runs:
            n = items or run.n(key, 10)
            began = clock()
            out = pool.map(square, range(n), chunksize)
            took = clock() - began
            if len(out) != n or out[-1] != (n - 1) ** 2:
                raise RuntimeError("wrong map result")
            # Pool.map's own default: ceil(n / (4 * workers))
            used = chunksize or -(-n // (4 * workers))
            run.out(name, n / took, "items/s",
                    "n=%d Pool(%d).map(x*x) chunksize=%s (effective %d)"
                    % (n, workers, chunksize, used))


@workload("pool_imap_unordered_trivial")
def pool_imap_unordered_trivial(run):
    with run.fork.Pool(2) as pool:
        pool.map(square, range(1000))
        for key, chunksize in (("pool_imap", 1), ("pool_imap_cs100", 100)):
            n = run.n(key, 10)
            began = clock()
            got = sum(1 for _ in pool.imap_unordered(square, range(n),
                                                     chunksize))
            took = clock() - began
            if got != n:
                raise RuntimeError("imap_unordered gave %d of %d" % (got, n))
            name = "pool_imap_unordered_trivial"
            if chunksize != 1:
                name += "_chunksize%d" % chunksize
            run.out(name, n / took, "items/s",
                    "n=%d Pool(2).imap_unordered(x*x) chunksize=%d%s"
                    % (n, chunksize, " (the default)" if chunksize == 1 else ""))


@workload("pool_apply_async_roundtrip")
def pool_apply_async_roundtrip(run):
    n = run.n("apply", 10)
    with run.fork.Pool(2) as pool:
        for i in range(200):
            pool.apply_async(square, (i,)).get()
        began = clock()
        for i in range(n):
            pool.apply_async(square, (i,)).get(WAIT_S)
        took = clock() - began
    run.out("pool_apply_async_roundtrip", took / n * 1e6, "us",
            "n=%d apply_async(x*x).get() one at a time, Pool(2)" % n)


@workload("lock_contention")
def lock_contention(run):
    n = run.n("lock", 10)
    lock = run.fork.Lock()
    whole, both = two_workers(run, hammer_lock, lock, n)
    run.out("lock_contention", 2 * n / whole, "ops/s",
            "n=%d per process x2 procs; op = Lock.acquire()+release() "
            "(POSIX sem); overlap %.0f%%" % (n, both))
    take, give = lock.acquire, lock.release
    began = clock()
    for _ in range(n):
        take()
        give()
    took = clock() - began
    run.out("lock_uncontended", n / took, "ops/s",
            "n=%d 1 process; Lock.acquire()+release()" % n)


@workload("value_increment_locked")
def value_increment_locked(run):
    n = run.n("value", 10)
    value = run.fork.Value("i", 0)
    whole, both = two_workers(run, bump_value, value, n)
    if value.value != 2 * n:
        raise RuntimeError("%d increments of %d" % (value.value, 2 * n))
    run.out("value_increment_locked", 2 * n / whole, "ops/s",
            "n=%d per process x2; with v.get_lock(): v.value += 1 (RLock); "
            "overlap %.0f%%" % (n, both))


@workload("manager_start")
def manager_start(run):
    n = run.n("manager_start", 1)
    began = clock()
    for _ in range(n):
        run.fork.Manager().shutdown()
    took = clock() - began
    run.out("manager_start_shutdown", took / n * 1e6, "us",
            "n=%d Manager() + shutdown()" % n)


@workload("manager_dict_ops")
def manager_dict_ops(run):
    ctx = run.fork
    n = run.n("manager_dict", 10)
    with ctx.Manager() as manager:
        d = manager.dict()
        results = ctx.Queue()
        join_all(start_all([ctx.Process(target=use_manager_dict,
                                        args=(d, n, results))]))
        began, ended = results.get(timeout=WAIT_S)
        if len(d) != min(n, 1024):
            raise RuntimeError("the dict holds %d keys" % len(d))
    run.out("manager_dict_ops", 2 * n / (ended - began), "ops/s",
            "n=%d set+get pairs from a child (op = one set or one get)" % n)


@workload("manager_queue_throughput")
def manager_queue_throughput(run):
    ctx = run.fork
    n = run.n("manager_queue", 10)
    with ctx.Manager() as manager:
        q = manager.Queue()
        results = ctx.Queue()
        start = ctx.Barrier(2)
        join_all(start_all([
            ctx.Process(target=drain_manager_queue,
                        args=(q, n, start, results)),
            ctx.Process(target=feed_manager_queue,
                        args=(q, n, 64, start, results))]))
        when = dict(gather(results, 2))
    run.out("manager_queue_throughput", n / (when["consumer"] - when["producer"]),
            "msg/s", "n=%d 64B bytes 1p1c via Manager().Queue()" % n)


@workload("shared_memory_create_unlink")
def shared_memory_create_unlink(run):
    n = run.n("shm", 10)

    def cycle():
        block = shared_memory.SharedMemory(create=True, size=4096)
        block.close()
        block.unlink()

    for _ in range(20):  # untimed: starts the resource tracker
        cycle()
    began = clock()
    for _ in range(n):
        cycle()
    took = clock() - began
    run.out("shared_memory_create_unlink", took / n * 1e6, "us",
            "n=%d SharedMemory(create=True,size=4096)+close()+unlink()" % n)


@workload("shared_memory_copy_large")
def shared_memory_copy_large(run):
    n = run.n("shm_copy", 10)
    block = shared_memory.SharedMemory(create=True, size=MIB)
    try:
        view = block.buf
        source = bytes(MIB)
        for _ in range(10):
            view[:] = source
        began = clock()
        for _ in range(n):
            view[:] = source
        took = clock() - began
        del view
    finally:
        block.close()
        block.unlink()
    run.out("shared_memory_copy_large", n * MIB / took / 1e6, "MB/s",
            "n=%d shm.buf[:] = 1MiB bytes (one memcpy, same process)" % n)


def size_text(size):
    """size as text: "1MiB", "60KiB", "8B" (mp_bench's bench_size_text)."""
    for unit, shift in (("MiB", 20), ("KiB", 10)):
        if size >= 1 << shift and size % (1 << shift) == 0:
            return "%d%s" % (size >> shift, unit)
    return "%dB" % size


def resident_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS for %d" % pid)


@workload("pool_rss_idle_worker")
def pool_rss_idle_worker(run):
    # Not in the reference: Python's side of mp_bench's workload of this
    # name. Pool._pool (the worker processes) is CPython's internal list.
    # Workers forked from a process that ran the big workloads would map
    # (and count) its pages: after another workload, a fresh interpreter
    # measures it, as mp_bench does.
    if run.ran_before:
        lines = subprocess.run(
            [sys.executable, os.path.abspath(__file__), "--only",
             "pool_rss_idle_worker", "--suffix", run.suffix],
            stdout=subprocess.PIPE, check=True, timeout=WAIT_S,
            universal_newlines=True).stdout.splitlines()
        print("\n".join(x for x in lines if not x.startswith("#")), flush=True)
        return
    with run.fork.Pool(2) as pool:
        pool.map(square, range(1000))
        kib = [resident_kib(p.pid) for p in pool._pool]
    run.out("rss_idle_pool_worker_kib", float(sum(kib)) / len(kib), "KiB",
            "mean VmRSS of %d idle fork Pool(2) workers after a 1000-item map "
            "(min %d, max %d KiB)" % (len(kib), min(kib), max(kib)))


# ---------------------------------------------------------------------------

def whole(lo, hi):
    """An argparse type: a whole number from lo to hi (1e8 is one)."""
    def parse(text):
        v = float(text)
        if v != int(v) or not lo <= v <= hi:
            raise argparse.ArgumentTypeError("not a whole number in %d..%d"
                                             % (lo, hi))
        return int(v)
    return parse


def options(argv):
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--list", action="store_true", help="list the workloads")
    ap.add_argument("--only", default="",
                    help="comma separated prefixes of workload names")
    ap.add_argument("--scale", type=float, default=1.0,
                    help="multiply every count by this")
    ap.add_argument("--suffix", default="",
                    help="append this to every result name")
    # One point of a sweep (bench/compare --sweep), as mp_bench's options.
    ap.add_argument("--size", type=whole(8, 1 << 30), default=MIB,
                    metavar="B", help="bytes of the messages of "
                    "{queue,simplequeue,pipe}_throughput_large (default 1 "
                    "MiB; their count keeps the bytes, at most --n-queue-small "
                    "and at least 8 messages)")
    ap.add_argument("--procs", type=whole(1, 16), default=0, metavar="K",
                    help="the small-message queue runs use K producers and K "
                    "consumers (default: 1p1c and 2p2c)")
    ap.add_argument("--workers", type=whole(1, 64), default=2, metavar="W",
                    help="pool_map_trivial's Pool(W) (default 2)")
    ap.add_argument("--items", type=whole(1, 10 ** 9), default=0, metavar="N",
                    help="pool_map_trivial maps N items, default chunk size "
                    "only (default: both maps at their counts)")
    for key, default in COUNTS.items():
        ap.add_argument("--n-" + key.replace("_", "-"), type=int,
                        default=default, metavar="N",
                        help="count of %s (default %d)" % (key, default))
    opts = ap.parse_args(argv)
    if not opts.scale > 0:
        ap.error("--scale must be above 0")
    return opts


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "?"


def main(argv=None):
    opts = options(argv)
    if opts.list:
        print("\n".join(name for name, _ in WORKLOADS))
        return 0
    prefixes = [p.strip() for p in opts.only.split(",") if p.strip()]
    run = Run(opts)
    print("# py_bench python=%s impl=%s nproc=%d cpu=%s kernel=%s scale=%g"
          % (platform.python_version(), platform.python_implementation(),
             os.cpu_count(), cpu_model(), platform.release(), opts.scale))
    tuning = " ".join("%s=%s" % kv for kv in sorted(os.environ.items())
                      if kv[0].startswith("MALLOC_"))
    if tuning:
        print("# env " + tuning)
    print("# name\tvalue\tunit\tnotes", flush=True)
    status = 0
    for name, fn in WORKLOADS:
        if prefixes and not any(name.startswith(p) for p in prefixes):
            continue
        began = clock()
        try:
            fn(run)
        except Exception as e:  # report it and go on with the next
            status = 1
            run.out(name, "nan", "error", "%s: %s" % (type(e).__name__, e))
        print("# %s took %.2fs" % (name, clock() - began), flush=True)
        run.ran_before = True
        for child in multiprocessing.active_children():
            child.terminate()
    return status


if __name__ == "__main__":
    sys.exit(main())
