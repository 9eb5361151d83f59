/* SPDX-License-Identifier: MIT */
/* bench_util.c - the clock, result line, --only selection and pinning of
 * the benchmark's C programs (see bench_util.h). */
#include "bench_util.h"

#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

double
bench_now(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

void
bench_emit(const char *name, double value, const char *unit, const char *fmt,
           ...)
{
    char notes[512];
    va_list ap;
    int decimals = value >= 1000 ? 0 : value >= 10 ? 2 : 3;

    va_start(ap, fmt);
    vsnprintf(notes, sizeof notes, fmt, ap);
    va_end(ap);
    printf("%s\t%.*f\t%s\t%s\n", name, decimals, value, unit, notes);
    fflush(stdout);
}

int
bench_selected(const char *only, const char *name)
{
    const char *p = only;

    if (only == NULL || *only == '\0') {
        return 1;
    }
    while (*p != '\0') {
        size_t len = strcspn(p, ",");
        const char *from = p, *to = p + len;

        while (from < to && (*from == ' ' || *from == '\t')) {
            from++;
        }
        while (to > from && (to[-1] == ' ' || to[-1] == '\t')) {
            to--;
        }
        if (to > from && strncmp(name, from, (size_t)(to - from)) == 0) {
            return 1;
        }
        p += len + (p[len] == ',');
    }
    return 0;
}

int
bench_positive(const char *text, double *out)
{
    char *end;
    double v = strtod(text, &end);

    if (end == text || *end != '\0' || !(v > 0)) {
        return 0;
    }
    *out = v;
    return 1;
}

int
bench_pin(pid_t pid, int role)
{
    /* The CPUs allowed at the first call (before the parent pinned
     * itself), in order; ncpus 0 until then. */
    static int cpus[CPU_SETSIZE];
    static int ncpus;
    const char *how = getenv("MP_BENCH_PIN");
    cpu_set_t set;

    if (how == NULL || strcmp(how, "split") != 0) {
        return 0;
    }
    if (ncpus == 0) {
        CPU_ZERO(&set);
        if (sched_getaffinity(0, sizeof set, &set) != 0) {
            perror("bench_pin: sched_getaffinity");
            return -1;
        }
        for (int c = 0; c < CPU_SETSIZE; c++) {
            if (CPU_ISSET(c, &set)) {
                cpus[ncpus++] = c;
            }
        }
    }
    CPU_ZERO(&set);
    CPU_SET(cpus[(role + 1) % ncpus], &set);
    if (sched_setaffinity(pid, sizeof set, &set) != 0) {
        fprintf(stderr, "bench_pin: sched_setaffinity(%d, CPU %d): %s\n",
                (int)pid, cpus[(role + 1) % ncpus], strerror(errno));
        return -1;
    }
    return 0;
}

void *
bench_big_array(size_t bytes)
{
    size_t len = bytes > 0 ? bytes : 1;
    char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    if (p == MAP_FAILED) {
        fprintf(stderr, "bench: out of memory\n");
        exit(2);
    }
    if (madvise(p, len, MADV_POPULATE_WRITE) != 0) {
        long page = sysconf(_SC_PAGESIZE);

        for (size_t i = 0; i < len; i += (size_t)page) {
            p[i] = 0;
        }
    }
    return p;
}

void
bench_big_array_free(void *p, size_t bytes)
{
    munmap(p, bytes > 0 ? bytes : 1);
}

long *
bench_range_longs(long n)
{
    long *in = bench_big_array((size_t)n * sizeof(long));

    for (long i = 0; i < n; i++) {
        in[i] = i;
    }
    return in;
}

int
bench_point_arg(int argc, char **argv, int *i, struct bench_point *pt)
{
    static const struct {
        const char *name;
        size_t field;
        double hi;
    } opts[] = {
        {"--size", offsetof(struct bench_point, size), 1073741824.0},
        {"--procs", offsetof(struct bench_point, procs), 16},
        {"--workers", offsetof(struct bench_point, workers), 64},
        {"--items", offsetof(struct bench_point, items), 1e9},
    };
    double v;

    for (size_t k = 0; k < sizeof opts / sizeof opts[0]; k++) {
        if (strcmp(argv[*i], opts[k].name) != 0) {
            continue;
        }
        if (*i + 1 >= argc || !bench_positive(argv[*i + 1], &v) ||
            v != (double)(long)v || v > opts[k].hi || (k == 0 && v < 8)) {
            return 0;
        }
        *(long *)(void *)((char *)pt + opts[k].field) = (long)v;
        ++*i;
        return 1;
    }
    return 0;
}

const char *
bench_size_text(size_t size, char *buf, size_t len)
{
    if (size >= (1u << 20) && size % (1u << 20) == 0) {
        snprintf(buf, len, "%zuMiB", size >> 20);
    } else if (size >= 1024 && size % 1024 == 0) {
        snprintf(buf, len, "%zuKiB", size >> 10);
    } else {
        snprintf(buf, len, "%zuB", size);
    }
    return buf;
}

char *
bench_payload(size_t size)
{
    char *p = malloc(size > 0 ? size : 1);

    if (p == NULL) {
        fprintf(stderr, "bench: out of memory\n");
        exit(2);
    }
    memset(p, 'x', size);
    return p;
}

void
bench_queue_totals(const double *res, int nprod, int ncons, double *span,
                   double *got, double *nbytes)
{
    double t0 = res[3 * ncons], t1 = res[0];

    *got = 0;
    *nbytes = 0;
    for (int k = 0; k < nprod + ncons; k++) {
        if (k < ncons) {
            t1 = res[3 * k] > t1 ? res[3 * k] : t1;
            *got += res[3 * k + 1];
            *nbytes += res[3 * k + 2];
        } else if (res[3 * k] < t0) {
            t0 = res[3 * k];
        }
    }
    *span = t1 - t0;
}

void
bench_duo_span(const double *t, double *span, double *overlap_pct)
{
    double t0 = t[0] < t[2] ? t[0] : t[2];
    double t1 = t[1] > t[3] ? t[1] : t[3];
    double ov = (t[1] < t[3] ? t[1] : t[3]) - (t[0] > t[2] ? t[0] : t[2]);

    *span = t1 - t0;
    *overlap_pct = 100.0 * (ov > 0 ? ov : 0) / *span;
}
