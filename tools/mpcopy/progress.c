/* SPDX-License-Identifier: MIT */
/* progress.c - what mpcopy says on stderr: the status line of each phase
 * (copy, verify) and the messages (note, report). On a terminal the
 * line is redrawn in place about 10 times a second and always fits the
 * terminal's width (TIOCGWINSZ, asked at every draw, so a resized window
 * is followed): it drops its least useful fields first, then cuts, and
 * never reaches the last column, so it never wraps and leaves no stale
 * lines. Elsewhere it prints a plain line at most once a second, fitted
 * to 80 columns. Rates appear only once a phase has run a second, so the
 * first tick cannot show a rate from a tiny interval. While the scan goes
 * on, the copy's line shows the totals found so far and says so.
 * format_status is pure, for the unit test. */
#include "mpcopy.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* Redraw intervals: on a terminal, and on other streams. */
#define TTY_INTERVAL 0.1
#define PLAIN_INTERVAL 1.0
/* A rate needs this much of a phase behind it. */
#define RATE_AFTER 1.0
/* Width when stderr is not a terminal. */
#define PLAIN_WIDTH 80

/* The status line of the phase being run (the parent's only). */
static struct {
    bool active, tty, drawn;
    struct status_view view;
    double start, last_draw;
} g_status;

/* Seconds on the monotonic clock. */
static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* terminal_width returns the columns of the terminal on fd, or
 * PLAIN_WIDTH when fd is not a terminal (or says 0). */
int
terminal_width(int fd)
{
    struct winsize ws;
    if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
        return ws.ws_col;
    }
    return PLAIN_WIDTH;
}

/* format_bytes writes a byte count as "512 B", "1.5 KiB", "3.0 MiB"...
 * into buf. */
void
format_bytes(char *buf, size_t len, double v)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    size_t u = 0;
    for (; v >= 1024.0 && u + 1 < sizeof units / sizeof *units; u++) {
        v /= 1024.0;
    }
    snprintf(buf, len, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
}

/* Writes a duration as "m:ss" or "h:mm:ss" into buf. */
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

/* format_status writes v's status line into buf, at most width - 1
 * characters (a line that reaches the last column makes some terminals
 * wrap) and at least 1 (buf holds width bytes; width >= 2). It takes the
 * most detailed form that fits: files done/total with the percentage,
 * bytes done/total, the byte rate and the ETA; then without the total
 * bytes; then the percentage, bytes and ETA; then the percentage alone;
 * last, the shortest form cut. While the scan goes on (v->scanning) the
 * totals are those found so far, marked "+", with no percentage or ETA,
 * and the line says "scanning". Rates and the ETA show once v->elapsed
 * reaches a second ("--" and "?" before). Returns the length written. */
size_t
format_status(char *buf, size_t width, const struct status_view *v)
{
    char done[32], total[32], rate[40] = "--", eta[24] = "?", pct[8] = "";
    char forms[5][256];
    format_bytes(done, sizeof done, (double)v->bytes);
    format_bytes(total, sizeof total, (double)v->total_bytes);
    size_t nforms = 0;
    if (v->elapsed >= RATE_AFTER) {
        double bps = (double)v->bytes / v->elapsed;
        format_bytes(rate, sizeof rate - 2, bps);
        strcat(rate, "/s");
        if (!v->scanning && bps > 0 && v->total_bytes >= v->bytes) {
            format_duration(eta, sizeof eta,
                            (double)(v->total_bytes - v->bytes) / bps);
        }
    }
    if (v->scanning) {
        /* The totals are those found so far ("+"): no percentage, no
         * ETA. */
        snprintf(forms[nforms++], sizeof forms[0],
                 "%s: %llu/%llu+ files, %s/%s+, %s, scanning", v->label,
                 (unsigned long long)v->files,
                 (unsigned long long)v->total_files, done, total, rate);
        snprintf(forms[nforms++], sizeof forms[0],
                 "%s: %llu/%llu+ files, %s, %s, scanning", v->label,
                 (unsigned long long)v->files,
                 (unsigned long long)v->total_files, done, rate);
        snprintf(forms[nforms++], sizeof forms[0],
                 "%s: %llu/%llu+ files, scanning", v->label,
                 (unsigned long long)v->files,
                 (unsigned long long)v->total_files);
        snprintf(forms[nforms++], sizeof forms[0], "%s: scanning", v->label);
    } else {
        double frac =
            v->total_bytes > 0   ? (double)v->bytes / (double)v->total_bytes
            : v->total_files > 0 ? (double)v->files / (double)v->total_files
                                 : 1.0;
        snprintf(pct, sizeof pct, "%d%%", (int)(frac * 100.0));
        snprintf(forms[nforms++], sizeof forms[0],
                 "%s: %llu/%llu files (%s), %s/%s, %s, ETA %s", v->label,
                 (unsigned long long)v->files,
                 (unsigned long long)v->total_files, pct, done, total, rate,
                 eta);
        snprintf(forms[nforms++], sizeof forms[0],
                 "%s: %llu/%llu files (%s), %s, %s, ETA %s", v->label,
                 (unsigned long long)v->files,
                 (unsigned long long)v->total_files, pct, done, rate, eta);
        snprintf(forms[nforms++], sizeof forms[0], "%s: %s, %s, ETA %s",
                 v->label, pct, done, eta);
        snprintf(forms[nforms++], sizeof forms[0], "%s: %s", v->label, pct);
    }
    size_t k = 0;
    while (k + 1 < nforms && strlen(forms[k]) > width - 1) {
        k++;
    }
    snprintf(buf, width, "%s", forms[k]); /* cut to width - 1 */
    return strlen(buf);
}

/* draw writes the current line (final: the phase's last line, with a
 * newline). */
static void
draw(bool final)
{
    struct status_view v = g_status.view;
    v.elapsed = now_s() - g_status.start;
    int cols = g_status.tty ? terminal_width(STDERR_FILENO) : PLAIN_WIDTH;
    char line[512];
    size_t width = cols < 2                         ? 2
                   : (size_t)cols + 1 > sizeof line ? sizeof line
                                                    : (size_t)cols;
    if (final && !v.scanning) {
        /* The last line: how long the phase took and its average rate. */
        char done[32], rate[32] = "", took[24];
        format_bytes(done, sizeof done, (double)v.bytes);
        format_duration(took, sizeof took, v.elapsed);
        if (v.elapsed >= RATE_AFTER) {
            format_bytes(rate, sizeof rate, (double)v.bytes / v.elapsed);
        }
        char full[256];
        snprintf(full, sizeof full,
                 "%s: %llu/%llu files (%d%%), %s in %s%s%s%s", v.label,
                 (unsigned long long)v.files, (unsigned long long)v.total_files,
                 v.files == v.total_files
                     ? 100
                     : (int)(100.0 * (double)v.files / (double)v.total_files),
                 done, took, rate[0] ? ", " : "", rate, rate[0] ? "/s" : "");
        snprintf(line, width, "%s", full);
    } else {
        format_status(line, width, &v);
    }
    fprintf(stderr, g_status.tty ? "\r%s\033[K%s" : "%s%s", line,
            final || !g_status.tty ? "\n" : "");
    fflush(stderr);
    g_status.drawn = g_status.tty && !final;
    g_status.last_draw = now_s();
}

/* status_begin starts the status line of a phase: label, whether its
 * totals may still grow (the scan goes on), and its totals. */
void
status_begin(const char *label, bool scanning, uint64_t total_files,
             uint64_t total_bytes)
{
    g_status.active = true;
    g_status.tty = isatty(STDERR_FILENO);
    g_status.view = (struct status_view){.label = label,
                                         .scanning = scanning,
                                         .total_files = total_files,
                                         .total_bytes = total_bytes};
    g_status.start = now_s();
    /* A terminal shows the line at once (a cold scan's first directory
     * may take a while); a log gets its first after a second. */
    g_status.last_draw = g_status.start;
    if (g_status.tty) {
        draw(false);
    }
}

/* status_totals records the phase's totals: those found so far while
 * scanning, else all. */
void
status_totals(bool scanning, uint64_t total_files, uint64_t total_bytes)
{
    g_status.view.scanning = scanning;
    g_status.view.total_files = total_files;
    g_status.view.total_bytes = total_bytes;
}

/* status_update records the counts so far and redraws when due. */
void
status_update(uint64_t files, uint64_t bytes)
{
    if (!g_status.active) {
        return;
    }
    g_status.view.files = files;
    g_status.view.bytes = bytes;
    double interval = g_status.tty ? TTY_INTERVAL : PLAIN_INTERVAL;
    if (now_s() - g_status.last_draw >= interval) {
        draw(false);
    }
}

/* status_end ends the phase's line: with print_final, its last line;
 * else the line is blanked. */
void
status_end(bool print_final)
{
    if (!g_status.active) {
        return;
    }
    if (print_final) {
        draw(true);
    } else {
        status_clear();
    }
    g_status.active = false;
}

/* status_clear blanks the status line on a terminal (a message or the
 * next phase takes its place). */
void
status_clear(void)
{
    if (g_status.drawn) {
        fputs("\r\033[K", stderr);
        g_status.drawn = false;
    }
}

/* vnote prints "mpcopy: " and the formatted message as a line of its
 * own on stderr, blanking the status line first (it is redrawn below at
 * the next tick); note is vnote with the arguments inline. */
void
vnote(const char *fmt, va_list ap)
{
    status_clear();
    fputs("mpcopy: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void
note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vnote(fmt, ap);
    va_end(ap);
}

/* report prints "mpcopy: PATH: MSG" for entry e, marks it and the run
 * failed. The path is written as under SRC. */
void
report(struct run *r, struct entry *e, const char *msg)
{
    if (r->single) {
        note("%s: %s", r->src_arg, msg);
    } else {
        note("%s/%s: %s", r->src_arg, e->rel, msg);
    }
    e->failed = true;
    r->failed = true;
}

/* report_errno is report() with "STEP: strerror(errno)". */
void
report_errno(struct run *r, struct entry *e, const char *step)
{
    char msg[256];
    snprintf(msg, sizeof msg, "%s: %s", step, strerror(errno));
    report(r, e, msg);
}
