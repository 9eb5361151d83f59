/* SPDX-License-Identifier: MIT */
/* test-connection.c - mp_pipe and mp_conn_*: round trips between processes
 * (empty to 16 MiB), direction and state errors, end of stream, truncated
 * and malformed frames, size limits that keep the stream in sync, timeouts,
 * SIGPIPE, and a Python peer speaking multiprocessing.connection. */
#include "runner.h"

#include "ipc/ipc_internal.h"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

/* Fills n bytes with a pattern that depends on seed and the offset. */
static void
fill(uint8_t *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++) {
        p[i] = (uint8_t)(i * 31u + seed + (i >> 12));
    }
}

/* Receives one message and checks it is n bytes of fill(seed). */
static void
expect_msg(mp_conn_t *c, size_t n, unsigned seed)
{
    void *got = NULL;
    ssize_t r = mp_conn_recv_bytes(c, &got, 0, MP_WAIT_FOREVER);
    ASSERT_EQ(r, (ssize_t)n);
    ASSERT_NOT_NULL(got);
    uint8_t *want = malloc(n > 0 ? n : 1);
    ASSERT_NOT_NULL(want);
    fill(want, n, seed);
    ASSERT_MEM_EQ(got, want, n);
    free(want);
    mp_free(got);
}

/* Sends n bytes of fill(seed). */
static void
send_msg(mp_conn_t *c, size_t n, unsigned seed)
{
    uint8_t *buf = malloc(n > 0 ? n : 1);
    ASSERT_NOT_NULL(buf);
    fill(buf, n, seed);
    ASSERT_OK(mp_conn_send_bytes(c, buf, n, MP_WAIT_FOREVER));
    free(buf);
}

/* The ends an echo child uses; `other` is the parent's end, closed first. */
struct echo_arg {
    mp_conn_t *in, *out, *other, *other2;
};

/* Child: echoes every message from in to out until end of stream. */
static int
echo_child(void *p)
{
    struct echo_arg *a = p;
    mp_conn_destroy(a->other);
    mp_conn_destroy(a->other2);
    for (;;) {
        void *m = NULL;
        ssize_t n = mp_conn_recv_bytes(a->in, &m, 0, MP_WAIT_FOREVER);
        if (n == MP_EOF) {
            return 0;
        }
        ASSERT_OK(n);
        ASSERT_OK(mp_conn_send_bytes(a->out, m, (size_t)n, MP_WAIT_FOREVER));
        mp_free(m);
    }
}

static const size_t round_trip_sizes[] = {0, 1, 4096, 1u << 20, 16u << 20};

/* Sends every size through an echo and checks what comes back. */
static void
round_trips(mp_conn_t *to, mp_conn_t *from)
{
    size_t n = sizeof round_trip_sizes / sizeof round_trip_sizes[0];
    for (size_t i = 0; i < n; i++) {
        send_msg(to, round_trip_sizes[i], (unsigned)i);
        expect_msg(from, round_trip_sizes[i], (unsigned)i);
    }
}

TEST_TIMEOUT(conn_duplex_round_trip_sizes, 60)
{
    mp_conn_t *a, *b;
    ASSERT_OK(mp_pipe(&a, &b, true));
    ASSERT(mp_conn_readable(a) && mp_conn_writable(a));
    ASSERT(mp_conn_readable(b) && mp_conn_writable(b));
    struct echo_arg arg = {.in = b, .out = b, .other = a};
    pid_t pid = mpt_fork(echo_child, &arg);
    mp_conn_destroy(b);
    round_trips(a, a);
    mp_conn_destroy(a);
    ASSERT_EQ(mpt_join(pid), 0);
}

TEST_TIMEOUT(pipe_simplex_round_trip_sizes, 60)
{
    mp_conn_t *r1, *w1, *r2, *w2;
    ASSERT_OK(mp_pipe(&r1, &w1, false));
    ASSERT_OK(mp_pipe(&r2, &w2, false));
    ASSERT(mp_conn_readable(r1) && !mp_conn_writable(r1));
    ASSERT(!mp_conn_readable(w1) && mp_conn_writable(w1));
    struct echo_arg arg = {.in = r1, .out = w2, .other = w1, .other2 = r2};
    pid_t pid = mpt_fork(echo_child, &arg);
    mp_conn_destroy(r1);
    mp_conn_destroy(w2);
    round_trips(w1, r2);
    mp_conn_destroy(w1);
    ASSERT_EQ(mpt_join(pid), 0);
    mp_conn_destroy(r2);
}

TEST(conn_duplex_both_ways_and_boundaries)
{
    mp_conn_t *a, *b;
    ASSERT_OK(mp_pipe(&a, &b, true));
    /* Messages are never merged, including empty ones. */
    send_msg(a, 3, 1);
    send_msg(a, 0, 2);
    send_msg(a, 5, 3);
    send_msg(b, 7, 4);
    expect_msg(b, 3, 1);
    expect_msg(b, 0, 2);
    expect_msg(b, 5, 3);
    expect_msg(a, 7, 4);
    ASSERT_EQ(mp_conn_poll(a, MP_NO_WAIT), 0);
    ASSERT_EQ(mp_conn_poll(b, MP_NO_WAIT), 0);
    mp_conn_destroy(a);
    mp_conn_destroy(b);
}

TEST(pipe_simplex_direction_errors)
{
    mp_conn_t *r, *w;
    ASSERT_OK(mp_pipe(&r, &w, false));
    char buf[4];
    void *m = NULL;
    ASSERT_ERR(mp_conn_send_bytes(r, "x", 1, MP_WAIT_FOREVER), MP_EBADF);
    ASSERT_ERR(mp_conn_recv_bytes(w, &m, 0, MP_NO_WAIT), MP_EBADF);
    ASSERT_ERR(mp_conn_recv_bytes_into(w, buf, sizeof buf, MP_NO_WAIT),
               MP_EBADF);
    ASSERT_ERR(mp_conn_poll(w, MP_NO_WAIT), MP_EBADF);
    ASSERT_NULL(m);
    /* The ends still work in their own direction. */
    ASSERT_OK(mp_conn_send_bytes(w, "abc", 3, MP_WAIT_FOREVER));
    ASSERT_EQ(mp_conn_recv_bytes_into(r, buf, sizeof buf, MP_NO_WAIT), 3);
    ASSERT_MEM_EQ(buf, "abc", 3);
    mp_conn_destroy(r);
    mp_conn_destroy(w);
}

TEST(conn_eof_after_peer_close)
{
    mp_conn_t *a, *b;
    ASSERT_OK(mp_pipe(&a, &b, true));
    send_msg(b, 10, 9);
    mp_conn_destroy(b);
    /* Data sent before the close is still delivered, then end of stream. */
    ASSERT_EQ(mp_conn_poll(a, MP_NO_WAIT), 1);
    expect_msg(a, 10, 9);
    ASSERT_EQ(mp_conn_poll(a, MP_NO_WAIT), 1); /* EOF counts as readable */
    void *m = NULL;
    ASSERT_ERR(mp_conn_recv_bytes(a, &m, 0, MP_WAIT_FOREVER), MP_EOF);
    ASSERT_ERR(mp_conn_recv_bytes_into(a, NULL, 0, 100), MP_EOF);
    ASSERT_NULL(m);
    mp_conn_destroy(a);

    mp_conn_t *r, *w;
    ASSERT_OK(mp_pipe(&r, &w, false));
    mp_conn_destroy(w);
    ASSERT_ERR(mp_conn_recv_bytes(r, &m, 0, MP_WAIT_FOREVER), MP_EOF);
    mp_conn_destroy(r);
}

/* Makes a simplex pipe, writes raw bytes into its write end, closes that
 * end and returns what one receive on the read end gives. */
static ssize_t
recv_after_raw(const void *raw, size_t n)
{
    int fds[2];
    ASSERT_OK(pipe2(fds, O_CLOEXEC));
    ASSERT_EQ(write(fds[1], raw, n), (ssize_t)n);
    close(fds[1]);
    mp_conn_t *r;
    ASSERT_OK(mp_conn_from_fd(&r, fds[0], true, false));
    void *m = NULL;
    ssize_t got = mp_conn_recv_bytes(r, &m, 0, MP_WAIT_FOREVER);
    if (got >= 0) {
        mp_free(m);
    }
    mp_conn_destroy(r);
    return got;
}

TEST(conn_truncated_frames)
{
    /* Header announcing 100 bytes, then 10 bytes, then end of stream. */
    uint8_t raw[14] = {0, 0, 0, 100};
    memset(raw + 4, 'z', 10);
    ASSERT_ERR(recv_after_raw(raw, sizeof raw), MP_EPROTO);
    /* End of stream inside the header, and after a complete header (Python
     * says EOFError there; the message was cut, so we say EPROTO). */
    ASSERT_ERR(recv_after_raw("\x00\x00", 2), MP_EPROTO);
    ASSERT_ERR(recv_after_raw("\x00\x00\x00\x05", 4), MP_EPROTO);
    ASSERT_ERR(recv_after_raw("\xff\xff\xff\xff\x00\x00", 6), MP_EPROTO);
    /* A complete header and payload followed by EOF is fine. */
    ASSERT_EQ(recv_after_raw("\x00\x00\x00\x02hi", 6), 2);
    /* The process is healthy: a fresh pipe works. */
    mp_conn_t *a, *b;
    ASSERT_OK(mp_pipe(&a, &b, true));
    send_msg(a, 100, 5);
    expect_msg(b, 100, 5);
    mp_conn_destroy(a);
    mp_conn_destroy(b);
}

TEST(conn_malformed_lengths)
{
    ASSERT_ERR(recv_after_raw("\x80\x00\x00\x00", 4), MP_EPROTO);
    ASSERT_ERR(recv_after_raw("\xff\xff\xff\xfe", 4), MP_EPROTO);
    /* The escape with a small length is what Python 3.11 accepts. */
    ASSERT_EQ(recv_after_raw("\xff\xff\xff\xff\x00\x00\x00\x00\x00\x00\x00\x05"
                             "hello",
                             17),
              5);
}

/* Child: sends a 1 MiB message, then a small one. */
static int
big_then_small_child(void *p)
{
    mp_conn_t **ends = p;
    mp_conn_destroy(ends[0]);
    send_msg(ends[1], 1u << 20, 3);
    send_msg(ends[1], 7, 4);
    mp_conn_destroy(ends[1]);
    return 0;
}

TEST(conn_maxlen_exceeded_keeps_stream_in_sync)
{
    mp_conn_t *ends[2];
    ASSERT_OK(mp_pipe(&ends[0], &ends[1], false));
    pid_t pid = mpt_fork(big_then_small_child, ends);
    mp_conn_destroy(ends[1]);
    void *m = NULL;
    ASSERT_ERR(mp_conn_recv_bytes(ends[0], &m, 1000, MP_WAIT_FOREVER),
               MP_EMSGSIZE);
    ASSERT_NULL(m);
    expect_msg(ends[0], 7, 4);
    ASSERT_ERR(mp_conn_recv_bytes(ends[0], &m, 0, MP_WAIT_FOREVER), MP_EOF);
    ASSERT_EQ(mpt_join(pid), 0);
    mp_conn_destroy(ends[0]);

    /* A message of exactly maxlen is accepted. */
    mp_conn_t *a, *b;
    ASSERT_OK(mp_pipe(&a, &b, true));
    send_msg(a, 16, 1);
    ASSERT_EQ(mp_conn_recv_bytes(b, &m, 16, MP_NO_WAIT), 16);
    mp_free(m);
    mp_conn_destroy(a);
    mp_conn_destroy(b);
}

TEST(conn_recv_into_sizes)
{
    mp_conn_t *a, *b;
    ASSERT_OK(mp_pipe(&a, &b, true));
    char buf[8] = {0};
    ASSERT_OK(mp_conn_send_bytes(a, "0123456789", 10, MP_WAIT_FOREVER));
    ASSERT_OK(mp_conn_send_bytes(a, "abcdefgh", 8, MP_WAIT_FOREVER));
    ASSERT_OK(mp_conn_send_bytes(a, NULL, 0, MP_WAIT_FOREVER));
    ASSERT_OK(mp_conn_send_bytes(a, "z", 1, MP_WAIT_FOREVER));
    ASSERT_ERR(mp_conn_recv_bytes_into(b, buf, sizeof buf, MP_NO_WAIT),
               MP_EMSGSIZE);
    ASSERT_EQ(mp_conn_recv_bytes_into(b, buf, sizeof buf, MP_NO_WAIT), 8);
    ASSERT_MEM_EQ(buf, "abcdefgh", 8);
    ASSERT_EQ(mp_conn_recv_bytes_into(b, NULL, 0, MP_NO_WAIT), 0);
    ASSERT_ERR(mp_conn_recv_bytes_into(b, NULL, 0, MP_NO_WAIT), MP_EMSGSIZE);
    ASSERT_EQ(mp_conn_poll(b, MP_NO_WAIT), 0);
    mp_conn_destroy(a);
    mp_conn_destroy(b);
}

TEST(conn_poll_and_recv_timeouts)
{
    mp_conn_t *r, *w;
    ASSERT_OK(mp_pipe(&r, &w, false));
    void *m = NULL;
    ASSERT_EQ(mp_conn_poll(r, MP_NO_WAIT), 0);
    ASSERT_EQ(mp_conn_poll(r, 20), 0);
    ASSERT_ERR(mp_conn_recv_bytes(r, &m, 0, MP_NO_WAIT), MP_ETIMEDOUT);
    ASSERT_ERR(mp_conn_recv_bytes(r, &m, 0, 20), MP_ETIMEDOUT);
    ASSERT_ERR(mp_conn_recv_bytes_into(r, NULL, 0, 5), MP_ETIMEDOUT);
    ASSERT_NULL(m);
    send_msg(w, 0, 0);
    /* poll does not consume; an empty message counts as data. */
    ASSERT_EQ(mp_conn_poll(r, MP_NO_WAIT), 1);
    ASSERT_EQ(mp_conn_poll(r, MP_WAIT_FOREVER), 1);
    expect_msg(r, 0, 0);
    ASSERT_EQ(mp_conn_poll(r, MP_NO_WAIT), 0);
    mp_conn_destroy(r);
    mp_conn_destroy(w);
}

struct late_writer {
    int fd;
    const char *rest;
    size_t n;
};

/* Thread: once 150 ms have passed, writes the rest of a message. Not a
 * synchronisation: it only makes sure the reader's timeout has expired. */
static void *
late_writer_thread(void *p)
{
    struct late_writer *lw = p;
    struct timespec ts = {0, 150 * 1000 * 1000};
    while (nanosleep(&ts, &ts) != 0) {
    }
    ASSERT_EQ(write(lw->fd, lw->rest, lw->n), (ssize_t)lw->n);
    return NULL;
}

TEST(conn_timeout_never_splits_a_message)
{
    int fds[2];
    ASSERT_OK(pipe2(fds, O_CLOEXEC));
    mp_conn_t *r;
    ASSERT_OK(mp_conn_from_fd(&r, fds[0], true, false));
    ASSERT_EQ(write(fds[1], "\x00\x00", 2), 2);
    struct late_writer lw = {fds[1], "\x00\x03xyz", 5};
    pthread_t t;
    ASSERT_EQ(pthread_create(&t, NULL, late_writer_thread, &lw), 0);
    char buf[4];
    /* The first bytes arrived in time, so the message is finished even
     * though the rest comes after the timeout. */
    ASSERT_EQ(mp_conn_recv_bytes_into(r, buf, sizeof buf, 10), 3);
    ASSERT_MEM_EQ(buf, "xyz", 3);
    ASSERT_EQ(pthread_join(t, NULL), 0);
    close(fds[1]);
    ASSERT_ERR(mp_conn_recv_bytes_into(r, buf, sizeof buf, 10), MP_EOF);
    mp_conn_destroy(r);
}

/* A reader thread for conn_sleeping_reader_wakes_for_each_part. */
struct sleepy_reader {
    mp_conn_t *c;
    mp_duration_t timeout;
    _Atomic pid_t tid;
    char buf[8];
    ssize_t got;
};

static void *
sleepy_reader_thread(void *p)
{
    struct sleepy_reader *sr = p;
    sr->tid = gettid();
    sr->got =
        mp_conn_recv_bytes_into(sr->c, sr->buf, sizeof sr->buf, sr->timeout);
    return NULL;
}

/* Yields until thread tid of this process is asleep (state S): a reader
 * only sleeps once its spin has given up. */
static void
until_asleep(pid_t tid)
{
    char path[64], stat[256];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
    for (;;) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ASSERT(fd >= 0);
        ssize_t n = read(fd, stat, sizeof stat - 1);
        close(fd);
        ASSERT(n > 0);
        stat[n] = '\0';
        const char *end = strrchr(stat, ')'); /* "pid (comm) S ..." */
        if (end != NULL && end[1] == ' ' && end[2] == 'S') {
            return;
        }
        sched_yield();
    }
}

/* A reader that finds no data spins, then sleeps: it must wake for the
 * header, sleep again inside the message, and wake for the payload, with
 * and without a deadline (the two ways out of the spin). */
/* A send waits for room at most its timeout, and a send that timed out
 * sent nothing: the reader gets every message that was sent, whole, and
 * no part of the refused one. */
TEST(conn_send_timeout_when_full_never_splits)
{
    mp_conn_t *a, *b;
    ASSERT_OK(mp_pipe(&a, &b, false));
    char msg[64];
    long sent = 0;
    int rc;
    for (;;) {
        memset(msg, (int)(sent & 0x7f), sizeof msg);
        rc = mp_conn_send_bytes(b, msg, sizeof msg, MP_NO_WAIT);
        if (rc != 0) {
            break;
        }
        sent++;
    }
    ASSERT_ERR(rc, MP_ETIMEDOUT);
    ASSERT(sent > 0);
    /* Still full: a bounded wait times out too. */
    ASSERT_ERR(mp_conn_send_bytes(b, "refused", 7, 20), MP_ETIMEDOUT);
    for (long i = 0; i < sent; i++) {
        char got[sizeof msg];
        ASSERT_EQ(mp_conn_recv_bytes_into(a, got, sizeof got, MP_NO_WAIT),
                  (ssize_t)sizeof got);
        memset(msg, (int)(i & 0x7f), sizeof msg);
        ASSERT(memcmp(got, msg, sizeof msg) == 0);
    }
    ASSERT_EQ(mp_conn_poll(a, MP_NO_WAIT), 0);
    /* Room again: a send with a timeout goes through. */
    ASSERT_OK(mp_conn_send_bytes(b, "ok", 2, 1000));
    void *m = NULL;
    ASSERT_EQ(mp_conn_recv_bytes(a, &m, 0, MP_WAIT_FOREVER), 2);
    ASSERT(memcmp(m, "ok", 2) == 0);
    mp_free(m);
    mp_conn_destroy(a);
    mp_conn_destroy(b);
}

TEST(conn_sleeping_reader_wakes_for_each_part)
{
    static const mp_duration_t timeouts[] = {MP_WAIT_FOREVER, 600000};
    for (size_t i = 0; i < sizeof timeouts / sizeof timeouts[0]; i++) {
        mp_conn_t *r, *w;
        ASSERT_OK(mp_pipe(&r, &w, false));
        int wfd = mp_conn_fileno(w);
        struct sleepy_reader sr = {.c = r, .timeout = timeouts[i]};
        pthread_t t;
        ASSERT_EQ(pthread_create(&t, NULL, sleepy_reader_thread, &sr), 0);
        while (sr.tid == 0) {
            sched_yield();
        }
        until_asleep(sr.tid);
        ASSERT_EQ(write(wfd, "\x00\x00\x00\x05", 4), 4);
        int unread = -1; /* until the reader has taken the header */
        while (ioctl(mp_conn_fileno(r), FIONREAD, &unread) == 0 && unread > 0) {
            sched_yield();
        }
        ASSERT_EQ(unread, 0);
        until_asleep(sr.tid); /* now waiting for the payload */
        ASSERT_EQ(write(wfd, "hello", 5), 5);
        ASSERT_EQ(pthread_join(t, NULL), 0);
        ASSERT_EQ(sr.got, 5);
        ASSERT_MEM_EQ(sr.buf, "hello", 5);
        mp_conn_destroy(r);
        mp_conn_destroy(w);
    }
}

TEST(conn_closed_returns_eclosed)
{
    mp_conn_t *a, *b;
    ASSERT_OK(mp_pipe(&a, &b, true));
    ASSERT_GE(mp_conn_fileno(a), 0);
    ASSERT(!mp_conn_closed(a));
    ASSERT_OK(mp_conn_close(a));
    ASSERT_OK(mp_conn_close(a));
    ASSERT(mp_conn_closed(a));
    void *m = NULL;
    char buf[1];
    ASSERT_ERR(mp_conn_send_bytes(a, "x", 1, MP_WAIT_FOREVER), MP_ECLOSED);
    ASSERT_ERR(mp_conn_recv_bytes(a, &m, 0, MP_NO_WAIT), MP_ECLOSED);
    ASSERT_ERR(mp_conn_recv_bytes_into(a, buf, 1, MP_NO_WAIT), MP_ECLOSED);
    ASSERT_ERR(mp_conn_poll(a, MP_NO_WAIT), MP_ECLOSED);
    ASSERT_ERR(mp_conn_fileno(a), MP_ECLOSED);
    /* The peer sees end of stream. */
    ASSERT_ERR(mp_conn_recv_bytes(b, &m, 0, MP_WAIT_FOREVER), MP_EOF);
    mp_conn_destroy(a);
    mp_conn_destroy(b);
}

TEST(conn_bad_input)
{
    mp_conn_t *a, *b;
    void *m = NULL;
    char buf[1];
    ASSERT_ERR(mp_pipe(NULL, &b, true), MP_EINVAL);
    ASSERT_ERR(mp_pipe(&a, NULL, false), MP_EINVAL);
    ASSERT_ERR(mp_pipe(&a, &a, true), MP_EINVAL);
    ASSERT_ERR(mp_conn_from_fd(NULL, 0, true, true), MP_EINVAL);
    ASSERT_ERR(mp_conn_from_fd(&a, -1, true, true), MP_EINVAL);
    ASSERT_ERR(mp_conn_from_fd(&a, 0, false, false), MP_EINVAL);
    ASSERT_ERR(mp_conn_send_bytes(NULL, "x", 1, MP_WAIT_FOREVER), MP_EINVAL);
    ASSERT_ERR(mp_conn_recv_bytes(NULL, &m, 0, 0), MP_EINVAL);
    ASSERT_ERR(mp_conn_recv_bytes_into(NULL, buf, 1, 0), MP_EINVAL);
    ASSERT_ERR(mp_conn_poll(NULL, 0), MP_EINVAL);
    ASSERT_ERR(mp_conn_fileno(NULL), MP_EINVAL);
    ASSERT_ERR(mp_conn_close(NULL), MP_EINVAL);
    ASSERT(!mp_conn_readable(NULL) && !mp_conn_writable(NULL));
    ASSERT(!mp_conn_closed(NULL));
    mp_conn_destroy(NULL);

    ASSERT_OK(mp_pipe(&a, &b, true));
    ASSERT_ERR(mp_conn_send_bytes(a, NULL, 1, MP_WAIT_FOREVER), MP_EINVAL);
    ASSERT_ERR(mp_conn_send_bytes(a, "x", 1, -2), MP_EINVAL);
    ASSERT_ERR(mp_conn_send_bytes(a, "x", 1, INT64_MIN), MP_EINVAL);
    ASSERT_ERR(mp_conn_recv_bytes(a, NULL, 0, 0), MP_EINVAL);
    ASSERT_ERR(mp_conn_recv_bytes_into(a, NULL, 1, 0), MP_EINVAL);
    ASSERT_ERR(mp_conn_recv_bytes(a, &m, 0, -2), MP_EINVAL);
    ASSERT_ERR(mp_conn_recv_bytes(a, &m, 0, INT64_MIN), MP_EINVAL);
    ASSERT_ERR(mp_conn_recv_bytes_into(a, buf, 1, -5), MP_EINVAL);
    ASSERT_ERR(mp_conn_poll(a, -3), MP_EINVAL);
    ASSERT_NULL(m);
    /* Nothing was consumed or sent by the refused calls. */
    ASSERT_EQ(mp_conn_poll(b, MP_NO_WAIT), 0);
    mp_conn_destroy(a);
    mp_conn_destroy(b);
}

TEST(conn_from_fd_adopts_the_fd)
{
    int fds[2];
    ASSERT_OK(pipe(fds)); /* deliberately without O_CLOEXEC */
    mp_conn_t *r, *w;
    ASSERT_OK(mp_conn_from_fd(&r, fds[0], true, false));
    ASSERT_OK(mp_conn_from_fd(&w, fds[1], false, true));
    ASSERT_EQ(mp_conn_fileno(r), fds[0]);
    ASSERT(fcntl(fds[0], F_GETFD) & FD_CLOEXEC);
    ASSERT(fcntl(fds[1], F_GETFD) & FD_CLOEXEC);
    send_msg(w, 33, 2);
    expect_msg(r, 33, 2);
    mp_conn_destroy(r);
    mp_conn_destroy(w);
    /* The connection closed the fds it owned. */
    ASSERT_EQ(fcntl(fds[0], F_GETFD), -1);
    ASSERT_EQ(fcntl(fds[1], F_GETFD), -1);
    /* A closed fd is refused and not adopted. */
    ASSERT_ERR(mp_conn_from_fd(&r, fds[0], true, false), MP_EBADF);
}

/* Checks that no SIGPIPE is pending in this thread or process. */
static void
assert_no_sigpipe_pending(void)
{
    sigset_t pending;
    ASSERT_OK(sigpending(&pending));
    ASSERT_EQ(sigismember(&pending, SIGPIPE), 0);
}

TEST(pipe_sigpipe_is_epipe)
{
    /* SIGPIPE has its default action (kill) in the test process. */
    struct sigaction sa;
    ASSERT_OK(sigaction(SIGPIPE, NULL, &sa));
    ASSERT(sa.sa_handler == SIG_DFL);
    mp_conn_t *r, *w;
    ASSERT_OK(mp_pipe(&r, &w, false));
    mp_conn_destroy(r);
    ASSERT_ERR(mp_conn_send_bytes(w, "x", 1, MP_WAIT_FOREVER), MP_EPIPE);
    ASSERT_ERR(mp_conn_send_bytes(w, NULL, 0, MP_WAIT_FOREVER), MP_EPIPE);
    assert_no_sigpipe_pending();
    mp_conn_destroy(w);

    mp_conn_t *a, *b;
    ASSERT_OK(mp_pipe(&a, &b, true));
    mp_conn_destroy(b);
    ASSERT_ERR(mp_conn_send_bytes(a, "x", 1, MP_WAIT_FOREVER), MP_EPIPE);
    assert_no_sigpipe_pending();
    mp_conn_destroy(a);
}

TEST(pipe_sigpipe_pending_before_is_kept)
{
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    ASSERT_OK(pthread_sigmask(SIG_BLOCK, &set, &old));
    ASSERT_OK(raise(SIGPIPE));
    mp_conn_t *r, *w;
    ASSERT_OK(mp_pipe(&r, &w, false));
    mp_conn_destroy(r);
    ASSERT_ERR(mp_conn_send_bytes(w, "x", 1, MP_WAIT_FOREVER), MP_EPIPE);
    mp_conn_destroy(w);
    /* The caller's own SIGPIPE is still pending, and the mask unchanged. */
    sigset_t pending, now;
    ASSERT_OK(sigpending(&pending));
    ASSERT_EQ(sigismember(&pending, SIGPIPE), 1);
    ASSERT_OK(pthread_sigmask(SIG_BLOCK, NULL, &now));
    ASSERT_EQ(sigismember(&now, SIGPIPE), 1);
    const struct timespec zero = {0, 0};
    ASSERT_EQ(sigtimedwait(&set, NULL, &zero), SIGPIPE);
    ASSERT_OK(pthread_sigmask(SIG_SETMASK, &old, NULL));
}

/* Returns true if an executable python3 is on PATH. */
static bool
have_python3(void)
{
    const char *path = getenv("PATH");
    if (path == NULL) {
        return false;
    }
    char *copy = strdup(path);
    ASSERT_NOT_NULL(copy);
    bool found = false;
    for (char *save = NULL, *dir = strtok_r(copy, ":", &save);
         dir != NULL && !found; dir = strtok_r(NULL, ":", &save)) {
        char file[4096];
        snprintf(file, sizeof file, "%s/python3", dir);
        found = access(file, X_OK) == 0;
    }
    free(copy);
    return found;
}

TEST_TIMEOUT(conn_python_peer_echoes, 60)
{
    if (!have_python3()) {
        mpt_skip("python3 not found");
    }
    mp_conn_t *a, *b;
    ASSERT_OK(mp_pipe(&a, &b, true));
    int fd = mp_conn_fileno(b);
    fflush(NULL);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        /* Only this one fd crosses the exec. */
        fcntl(fd, F_SETFD, 0);
        char arg[16];
        snprintf(arg, sizeof arg, "%d", fd);
        execlp("python3", "python3", MP_TEST_SOURCE_DIR "/py_peer.py", arg,
               (char *)NULL);
        _exit(127);
    }
    mp_conn_destroy(b);
    static const size_t sizes[] = {0, 1, 5, 4096, 4u << 20, 0};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        send_msg(a, sizes[i], (unsigned)i + 40);
        expect_msg(a, sizes[i], (unsigned)i + 40);
    }
    /* Several messages in flight keep their boundaries across Python. */
    send_msg(a, 3, 1);
    send_msg(a, 0, 2);
    send_msg(a, 9, 3);
    expect_msg(a, 3, 1);
    expect_msg(a, 0, 2);
    expect_msg(a, 9, 3);
    mp_conn_destroy(a);
    ASSERT_EQ(mpt_join(pid), 0);
}

/* Process target that returns at once. */
static int
quick_target(void *arg)
{
    (void)arg;
    return 0;
}

TEST(wait_on_connections_and_sentinels)
{
    mp_conn_t *r1, *w1, *a, *b;
    ASSERT_OK(mp_pipe(&r1, &w1, false));
    ASSERT_OK(mp_pipe(&a, &b, true));
    int fds[2] = {mp_conn_fileno(r1), mp_conn_fileno(b)};
    bool ready[2] = {true, true};
    ASSERT_EQ(mp__wait_fds(fds, 2, ready, MP_NO_WAIT), 0);
    ASSERT(!ready[0] && !ready[1]);
    ASSERT_EQ(mp__wait_fds(fds, 2, ready, 10), 0);
    send_msg(a, 1, 1);
    ASSERT_EQ(mp__wait_fds(fds, 2, ready, MP_WAIT_FOREVER), 1);
    ASSERT(!ready[0] && ready[1]);
    send_msg(w1, 0, 2);
    ASSERT_EQ(mp__wait_fds(fds, 2, ready, MP_NO_WAIT), 2);
    ASSERT(ready[0] && ready[1]);
    ASSERT_EQ(mp__wait_fds(fds, 2, NULL, MP_NO_WAIT), 2);
    expect_msg(b, 1, 1);
    expect_msg(r1, 0, 2);

    /* A process sentinel becomes ready when the child exits. */
    mp_process_t *p;
    ASSERT_OK(mp_process_create(&p, quick_target, NULL, NULL));
    ASSERT_OK(mp_process_start(p));
    int both[2] = {mp_conn_fileno(r1), mp_process_sentinel(p)};
    ASSERT_GE(both[1], 0);
    ASSERT_EQ(mp__wait_fds(both, 2, ready, MP_WAIT_FOREVER), 1);
    ASSERT(!ready[0] && ready[1]);
    ASSERT_OK(mp_process_join(p, MP_WAIT_FOREVER));
    mp_process_destroy(p);
    /* A closed peer counts as ready (end of stream). */
    mp_conn_destroy(w1);
    ASSERT_EQ(mp__wait_fds(fds, 1, ready, MP_WAIT_FOREVER), 1);
    ASSERT(ready[0]);
    mp_conn_destroy(r1);
    mp_conn_destroy(a);
    mp_conn_destroy(b);
}

TEST(wait_bad_input)
{
    bool ready[1];
    ASSERT_ERR(mp__wait_fds(NULL, 1, ready, 0), MP_EINVAL);
    int neg = -1;
    ASSERT_ERR(mp__wait_fds(&neg, 1, ready, 0), MP_EINVAL);
    int fds[2];
    ASSERT_OK(pipe2(fds, O_CLOEXEC));
    ASSERT_ERR(mp__wait_fds(fds, 1, ready, -2), MP_EINVAL);
    ASSERT_ERR(mp__wait_fds(fds, SIZE_MAX, ready, 0), MP_EINVAL);
    close(fds[0]);
    close(fds[1]);
    ASSERT_ERR(mp__wait_fds(fds, 1, ready, MP_WAIT_FOREVER), MP_EBADF);
    /* Nothing to wait for: the timeout passes. */
    ASSERT_EQ(mp__wait_fds(NULL, 0, NULL, MP_NO_WAIT), 0);
    ASSERT_EQ(mp__wait_fds(NULL, 0, NULL, 5), 0);
}
