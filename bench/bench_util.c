/* SPDX-License-Identifier: MIT */
/* bench_util.c - the clock, result line and --only selection of the
 * benchmark's C programs (see bench_util.h). */
#include "bench_util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
