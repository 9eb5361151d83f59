/* SPDX-License-Identifier: MIT */
/* bench_util.h - what the benchmark's C programs (mp_bench, mp_raw_limits,
 * the bench/peers programs) share: the clock, the result line, the --only
 * selection, so that all print and select exactly as bench/py_bench.py
 * does, and the pinning of their processes (MP_BENCH_PIN). */
#ifndef MP_BENCH_UTIL_H
#define MP_BENCH_UTIL_H

#include <stddef.h>
#include <sys/types.h>

/* Returns CLOCK_MONOTONIC in seconds (what Python's time.perf_counter
 * reads, so times taken in different processes compare). */
double bench_now(void);

/* Prints one `name<TAB>value<TAB>unit<TAB>notes` line on stdout and
 * flushes it; the value gets 0, 2 or 3 decimals as it is >= 1000, >= 10 or
 * smaller (py_bench's formatting), the notes are printf(fmt, ...). */
void bench_emit(const char *name, double value, const char *unit,
                const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Returns 1 when only is NULL or empty, or when one of its comma-separated
 * prefixes (blanks around each dropped, empty ones skipped) starts name;
 * else 0. */
int bench_selected(const char *only, const char *name);

/* Parses text as a number above 0 into *out; returns 1 when it is one
 * (and the whole text is), else 0 with *out unchanged. */
int bench_positive(const char *text, double *out);

/* Where the processes of a workload run, as the environment variable
 * MP_BENCH_PIN says (bench/compare-peers sets it): "split" pins the
 * process pid (0: the caller) of role -1 (the parent) to the first CPU the
 * program was allowed at its first call, and of role k >= 0 (the k-th
 * child of a workload: a producer, consumer, worker, echo) to CPU k + 1 of
 * that list, modulo its length, so that the two processes of a 1->1
 * workload run on different CPUs. Unset, or anything else: does nothing
 * (the scheduler places them). Returns 0, or -1 when the pinning failed
 * (a warning is printed on stderr; the run goes on unpinned). Call it with
 * role -1 first, before any other thread or child exists. */
int bench_pin(pid_t pid, int role);

/* Returns bytes of zeroed memory for a big array (a pool map's input or
 * output), allocated as a performance-minded program does on Linux: one
 * mmap whose pages one madvise(MADV_POPULATE_WRITE) brings in, instead of
 * malloc's first-touch fault per 4 KiB page (~15 us each on a VM: ~12000
 * of them for pool_map_trivial's two 24 MB arrays). Without that madvise
 * (before Linux 5.14) every page is touched instead. No huge-page hint:
 * with THP "defrag=madvise" it can stall in direct compaction when memory
 * is fragmented (as after the Python rounds), which made runs bimodal.
 * The callers allocate inside their timing. Exits when out of memory;
 * free with bench_big_array_free. */
void *bench_big_array(size_t bytes);

/* Frees a bench_big_array of bytes bytes. */
void bench_big_array_free(void *p, size_t bytes);

/* Returns longs 0 .. n-1 (py_bench's range(n)) in a bench_big_array. */
long *bench_range_longs(long n);

/* Returns malloc(size) (at least 1 byte) with every byte 'x' (py_bench's
 * b"x" * size); exits when out of memory. */
char *bench_payload(size_t size);

/* What the ncons consumers and nprod producers of a queue run reported,
 * consumers first: res[3k] (a consumer: the time of its last message; a
 * producer: its start after the barrier), res[3k+1] and res[3k+2] (a
 * consumer's messages and bytes). Stores the span from the first
 * producer's start to the last consumer's last message in *span and the
 * consumers' messages and bytes in *got and *nbytes. */
void bench_queue_totals(const double *res, int nprod, int ncons, double *span,
                        double *got, double *nbytes);

/* Of two workers that started at t[0] and t[2] and finished at t[1] and
 * t[3]: stores the span from the first start to the last finish in *span
 * and the time both ran, in percent of it, in *overlap_pct. */
void bench_duo_span(const double *t, double *span, double *overlap_pct);

/* One point of a sweep (bench/compare --sweep), as given on the command
 * line; each field 0 when its option was not: --size (bytes of each
 * message, 8 .. 1 GiB), --procs (producers and as many consumers, 1 ..
 * 16), --workers (a pool's processes, 1 .. 64), --items (a map's items,
 * 1 .. 1e9). Which workloads each one changes, each program says. */
struct bench_point {
    long size, procs, workers, items;
};

/* When argv[*i] is --size, --procs, --workers or --items and argv[*i + 1]
 * a whole number in its range (1e8 is one), stores it in *pt, moves *i
 * onto the number and returns 1; otherwise returns 0 with nothing
 * changed. */
int bench_point_arg(int argc, char **argv, int *i, struct bench_point *pt);

/* Writes size as text into buf (len bytes) and returns buf: "1MiB",
 * "60KiB", "8B" (in MiB or KiB when it is a whole number of them). */
const char *bench_size_text(size_t size, char *buf, size_t len);

#endif
