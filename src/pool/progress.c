/* SPDX-License-Identifier: MIT */
/* progress.c - mp_progress_t, a terminal progress bar: one line redrawn in
 * place on a TTY (throttled to about 10 Hz), plain lines at most once a
 * second elsewhere (logs, pipes), and a final line. The clock can be
 * injected so that tests check the output without sleeping. */
#include "../common/mp_internal.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* How often a bar redraws: on a TTY, and on other streams. */
#define TTY_INTERVAL_NS 100000000LL
#define PLAIN_INTERVAL_NS 1000000000LL

struct mp_progress {
    FILE *stream;
    bool tty;
    int64_t (*clock)(void *arg);
    void *clock_arg;
    char *label;
    uint64_t total, done, bytes;
    uint64_t total_bytes; /* 0: unknown */
    int64_t start, last_draw;
    bool drawn;      /* something was printed */
    bool finished;   /* the final line was printed */
    size_t last_len; /* the TTY line's length, to blank leftovers */
};

/* The default clock: CLOCK_MONOTONIC in nanoseconds. */
static int64_t
default_clock(void *arg)
{
    (void)arg;
    return mp__now_ns();
}

/* Writes a byte count as "512 B", "1.5 KiB", "3.0 MiB" ... into buf. */
static void
format_bytes(char *buf, size_t len, double v)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    size_t u = 0;
    while (v >= 1024.0 && u + 1 < sizeof units / sizeof units[0]) {
        v /= 1024.0;
        u++;
    }
    if (u == 0) {
        snprintf(buf, len, "%.0f B", v);
    } else {
        snprintf(buf, len, "%.1f %s", v, units[u]);
    }
}

/* Writes a duration in whole seconds as "m:ss" or "h:mm:ss" into buf. */
static void
format_duration(char *buf, size_t len, double secs)
{
    unsigned long long s = (unsigned long long)(secs + 0.5);
    if (s >= 3600) {
        snprintf(buf, len, "%llu:%02llu:%02llu", s / 3600, s / 60 % 60, s % 60);
    } else {
        snprintf(buf, len, "%llu:%02llu", s / 60, s % 60);
    }
}

/* Builds the status line for time now into buf; final ends it with the
 * total time instead of an ETA. */
static void
format_line(const mp_progress_t *p, int64_t now, bool final, char *buf,
            size_t len)
{
    double secs = now > p->start ? (double)(now - p->start) / 1e9 : 0.0;
    double rate = secs > 0 ? (double)p->done / secs : 0.0;
    size_t n = 0;
    /* Each piece is appended with snprintf; n never passes len - 1. */
#define APPEND(...)                                                            \
    do {                                                                       \
        int w_ = snprintf(buf + n, len - n, __VA_ARGS__);                      \
        n += w_ > 0 ? ((size_t)w_ < len - n ? (size_t)w_ : len - n - 1) : 0;   \
    } while (0)
    APPEND("%s%s%llu", p->label, p->label[0] != '\0' ? ": " : "",
           (unsigned long long)p->done);
    if (p->total > 0) {
        uint64_t pct = p->done >= p->total ? 100 : p->done * 100 / p->total;
        APPEND("/%llu (%llu%%)", (unsigned long long)p->total,
               (unsigned long long)pct);
    }
    APPEND(", %.1f/s", rate);
    double byte_rate = secs > 0 ? (double)p->bytes / secs : 0.0;
    if (p->bytes > 0 || p->total_bytes > 0) {
        char b[32], t[32], r[32];
        format_bytes(b, sizeof b, (double)p->bytes);
        format_bytes(r, sizeof r, byte_rate);
        if (p->total_bytes > 0) {
            format_bytes(t, sizeof t, (double)p->total_bytes);
            APPEND(", %s/%s (%s/s)", b, t, r);
        } else {
            APPEND(", %s (%s/s)", b, r);
        }
    }
    /* What is left, in seconds: by bytes when their total is known, else
     * by items; negative when it cannot be told yet (in the first second
     * a rate says little: one small item done early would promise hours
     * or seconds at random). */
    double left = -1.0;
    if (secs < 1.0) {
        left = -1.0;
    } else if (p->total_bytes > 0 && p->bytes < p->total_bytes) {
        left = byte_rate > 0 ? (double)(p->total_bytes - p->bytes) / byte_rate
                             : -1.0;
    } else if (p->total > 0 && p->done < p->total) {
        left = rate > 0 ? (double)(p->total - p->done) / rate : -1.0;
    }
    bool open = (p->total > 0 && p->done < p->total) ||
                (p->total_bytes > 0 && p->bytes < p->total_bytes);
    char d[32];
    if (final) {
        format_duration(d, sizeof d, secs);
        APPEND(", done in %s", d);
    } else if (open && left >= 0) {
        format_duration(d, sizeof d, left);
        APPEND(", ETA %s", d);
    } else if (open) {
        APPEND(", ETA ?");
    }
#undef APPEND
}

/* Prints the line for now: redrawn in place on a TTY (final ends it),
 * a line of its own elsewhere. Returns 0 or MP_EIO. */
static int
draw(mp_progress_t *p, int64_t now, bool final)
{
    char line[512];
    format_line(p, now, final, line, sizeof line);
    size_t len = strlen(line);
    int r;
    if (p->tty) {
        /* Blank what a longer previous line left behind. */
        int pad = p->last_len > len ? (int)(p->last_len - len) : 0;
        r = fprintf(p->stream, "\r%s%*s%s", line, pad, "", final ? "\n" : "");
        p->last_len = len;
    } else {
        r = fprintf(p->stream, "%s\n", line);
    }
    p->last_draw = now;
    p->drawn = true;
    if (fflush(p->stream) != 0 || r < 0) {
        return MP_EIO;
    }
    return 0;
}

int
mp_progress_create(mp_progress_t **out, uint64_t total, const char *label,
                   const mp_progress_opts_t *opts)
{
    mp_progress_opts_t o = opts != NULL ? *opts : (mp_progress_opts_t){0};
    if (out == NULL || MP__OPTS_BAD(opts)) {
        return MP_EINVAL;
    }
    mp_progress_t *p = mp__calloc(1, sizeof *p);
    char *copy = mp__strdup(label != NULL ? label : "");
    if (p == NULL || copy == NULL) {
        mp__free(p);
        mp__free(copy);
        return MP_ENOMEM;
    }
    p->stream = o.stream != NULL ? o.stream : stderr;
    if (o.tty == 0) {
        int fd = fileno(p->stream);
        p->tty = fd >= 0 && isatty(fd);
    } else {
        p->tty = o.tty > 0;
    }
    p->clock = o.clock != NULL ? o.clock : default_clock;
    p->clock_arg = o.clock_arg;
    p->total_bytes = o.total_bytes;
    p->label = copy;
    p->total = total;
    p->start = p->clock(p->clock_arg);
    *out = p;
    return 0;
}

int
mp_progress_update(mp_progress_t *p, uint64_t done, uint64_t bytes)
{
    if (p == NULL) {
        return MP_EINVAL;
    }
    if (p->finished) {
        return 0;
    }
    p->done = done;
    p->bytes = bytes;
    int64_t now = p->clock(p->clock_arg);
    int64_t every = p->tty ? TTY_INTERVAL_NS : PLAIN_INTERVAL_NS;
    if (p->drawn && now - p->last_draw < every) {
        return 0;
    }
    return draw(p, now, false);
}

int
mp_progress_finish(mp_progress_t *p)
{
    if (p == NULL) {
        return MP_EINVAL;
    }
    if (p->finished) {
        return 0;
    }
    p->finished = true;
    return draw(p, p->clock(p->clock_arg), true);
}

void
mp_progress_destroy(mp_progress_t *p)
{
    if (p != NULL) {
        mp__free(p->label);
        mp__free(p);
    }
}
