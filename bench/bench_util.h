/* SPDX-License-Identifier: MIT */
/* bench_util.h - what the benchmark's C programs (mp_bench, mp_raw_limits)
 * share: the clock, the result line and the --only selection, so that both
 * print and select exactly as bench/py_bench.py does. */
#ifndef MP_BENCH_UTIL_H
#define MP_BENCH_UTIL_H

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

#endif
