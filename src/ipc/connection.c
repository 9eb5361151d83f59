/* SPDX-License-Identifier: MIT */
/* connection.c - Pipe and Connection: framed messages over a pipe or a
 * stream socket, wire-compatible with Python's multiprocessing.connection. */
#include "ipc_internal.h"

#include "../platform/platform.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>

struct mp_conn {
    int fd;
    bool readable;
    bool writable;
    bool is_socket; /* send with MSG_NOSIGNAL instead of blocking SIGPIPE */
    bool closed;
    bool pipe_grown; /* a large send already tried to grow the pipe */
    bool spin;       /* a read that finds no data retries before sleeping */
    mp__spin_learn_t learn; /* whether spinning pays here (mp__spin_*) */
    uint8_t handoffs; /* spins in a row that caught data after a long yield */
};

/* Discards are read through a stack buffer of this size. */
#define CONN_DISCARD_CHUNK 16384u
/* The first message of at least PIPE_GROW_MIN bytes sent on a pipe grows
 * its buffer to PIPE_GROW_SIZE (the default unprivileged maximum): one
 * 64 KiB chunk per write/read pair makes large messages several times
 * slower. Only pipes that carry large messages pay the kernel memory. */
#define PIPE_GROW_MIN (256u * 1024)
#define PIPE_GROW_SIZE (1024 * 1024)
/* A socket read that finds no data keeps retrying without blocking for up
 * to CONN_SPIN_NS before it sleeps. A reply to a request usually comes
 * within that window, and catching it awake saves the two wake-ups (~20 us
 * each here) of a blocking read; sleeping at once would cost the reader
 * more than the spin does. Each retry first yields the CPU: a peer that
 * shares this CPU runs at once and answers (a spin that never yields
 * burns the time slice the peer needs), and where nothing else wants the
 * CPU the yield returns at once. And a connection spins only while it
 * pays (mp__spin_*): after a few windows in a row that closed without
 * data (a slow peer), or whose data came, catch after catch, only while
 * another thread held this CPU at a yield (the peer shares it), its
 * next receives skip the spin and sleep at once (conn_read_exact); a
 * probe spin that catches data awake makes it spin again. */
#define CONN_SPIN_NS 30000
/* A yield after which the data was there, and which (with the read that
 * found the data) took longer than CONN_HANDOFF_NS, let another thread run
 * on this CPU: the peer (it shares this CPU), or a stranger while the peer
 * answered from another CPU. A yield that finds nothing else to run and a
 * read that finds nothing take 2.3 us together here (median; p90 2.5 us,
 * over 4 us in 1.5% of them at load 3 on the 2-vCPU VM). Where the peer shares
 * this CPU every catch comes after such a yield, and a sleep would serve
 * as well without the spin's extra calls; where a stranger ran, the spin
 * may still have saved the peer a wake-up. So CONN_HANDOFF_RUN of them in
 * a row, with no catch after a short yield among them, make each further
 * one a miss: a spin that does not pay. */
#define CONN_HANDOFF_NS 4000
#define CONN_HANDOFF_RUN 16

void (*mp__conn_test_hook)(int point);

static int conn_new(mp_conn_t **out, int fd, bool readable, bool writable,
                    bool is_socket);
static int conn_check(const mp_conn_t *c, bool want_read);
static int conn_begin(const mp_conn_t *c, bool want_read, mp_duration_t timeout,
                      int64_t *deadline);
static int conn_write_all(mp_conn_t *c, struct iovec *iov, int iovcnt);
static ssize_t conn_recv(mp_conn_t *c, void **out, void *buf, size_t cap,
                         size_t maxlen, mp_duration_t timeout);

int
mp_pipe(mp_conn_t **end1, mp_conn_t **end2, bool duplex)
{
    if (end1 == NULL || end2 == NULL || end1 == end2) {
        return MP_EINVAL;
    }
    mp__init();
    /* Both kinds are a socketpair: an AF_UNIX stream moves large messages
     * faster than a pipe (no 64 KiB pipe buffer to cycle through). The
     * simplex pair is shut down in the direction it does not carry, so the
     * kernel enforces it as it would for a pipe. */
    int fds[2];
    int r = mp__plat_socketpair(SOCK_STREAM, fds);
    if (r != 0) {
        return r;
    }
    if (!duplex && ((r = mp__plat_shutdown(fds[0], SHUT_WR)) != 0 ||
                    (r = mp__plat_shutdown(fds[1], SHUT_RD)) != 0)) {
        mp__plat_close(fds[0]);
        mp__plat_close(fds[1]);
        return r;
    }
    mp_conn_t *a = NULL, *b = NULL;
    r = conn_new(&a, fds[0], true, duplex, true);
    if (r == 0) {
        r = conn_new(&b, fds[1], duplex, true, true);
    }
    if (r < 0) {
        mp__free(a);
        mp__plat_close(fds[0]);
        mp__plat_close(fds[1]);
        return r;
    }
    *end1 = a;
    *end2 = b;
    return 0;
}

int
mp_conn_from_fd(mp_conn_t **out, int fd, bool readable, bool writable)
{
    if (out == NULL || fd < 0 || (!readable && !writable)) {
        return MP_EINVAL;
    }
    mp__init();
    int sock = mp__plat_fd_is_socket(fd);
    if (sock < 0) {
        return sock;
    }
    int r = conn_new(out, fd, readable, writable, sock == 1);
    if (r < 0) {
        return r;
    }
    /* The library's rule: none of its fds leaks into an exec'd program. */
    (void)mp__plat_set_cloexec(fd);
    return 0;
}

int
mp_conn_send_bytes(mp_conn_t *c, const void *buf, size_t len,
                   mp_duration_t timeout)
{
    if (c == NULL || (buf == NULL && len > 0)) {
        return MP_EINVAL;
    }
    int64_t deadline;
    int r = conn_begin(c, false, timeout, &deadline);
    if (r < 0) {
        return r;
    }
    if (deadline != MP__NO_DEADLINE) {
        /* The timeout bounds the wait for room for the message's first
         * bytes; once they are out the rest follows without a timeout, so
         * that a timeout never splits a message (as a receive's). */
        r = mp__plat_poll_fd(c->fd, POLLOUT, deadline);
        if (r < 0) {
            return r;
        }
        if (r == 0) {
            return MP_ETIMEDOUT;
        }
    }
    if (!c->is_socket && !c->pipe_grown && len >= PIPE_GROW_MIN) {
        c->pipe_grown = true;
        /* Best effort: over the user's pipe quota it fails (EPERM). */
        (void)mp__plat_pipe_grow(c->fd, PIPE_GROW_SIZE);
    }
    uint8_t hdr[MP__FRAME_HDR_MAX];
    /* Header and payload go out in one writev: one system call for small
     * messages (Python's Nagle avoidance) and no copy of the payload. */
    struct iovec iov[2] = {
        {.iov_base = hdr, .iov_len = mp__frame_encode(len, hdr)},
        {.iov_base = (void *)buf, .iov_len = len},
    };
    return conn_write_all(c, iov, len > 0 ? 2 : 1);
}

ssize_t
mp_conn_recv_bytes(mp_conn_t *c, void **out, size_t maxlen,
                   mp_duration_t timeout)
{
    if (c == NULL || out == NULL) {
        return MP_EINVAL;
    }
    return conn_recv(c, out, NULL, 0, maxlen, timeout);
}

ssize_t
mp_conn_recv_bytes_into(mp_conn_t *c, void *buf, size_t buflen,
                        mp_duration_t timeout)
{
    if (c == NULL || (buf == NULL && buflen > 0)) {
        return MP_EINVAL;
    }
    return conn_recv(c, NULL, buf, buflen, buflen, timeout);
}

int
mp_conn_poll(mp_conn_t *c, mp_duration_t timeout)
{
    if (c == NULL) {
        return MP_EINVAL;
    }
    int64_t deadline;
    int r = conn_begin(c, true, timeout, &deadline);
    if (r < 0) {
        return r;
    }
    return mp__plat_poll_in(c->fd, deadline);
}

int
mp_conn_fileno(const mp_conn_t *c)
{
    if (c == NULL) {
        return MP_EINVAL;
    }
    return c->closed ? MP_ECLOSED : c->fd;
}

bool
mp_conn_readable(const mp_conn_t *c)
{
    return c != NULL && c->readable;
}

bool
mp_conn_writable(const mp_conn_t *c)
{
    return c != NULL && c->writable;
}

bool
mp_conn_closed(const mp_conn_t *c)
{
    return c != NULL && c->closed;
}

int
mp_conn_close(mp_conn_t *c)
{
    if (c == NULL) {
        return MP_EINVAL;
    }
    if (!c->closed) {
        c->closed = true;
        mp__plat_close(c->fd);
        c->fd = -1;
    }
    return 0;
}

void
mp_conn_destroy(mp_conn_t *c)
{
    if (c != NULL) {
        (void)mp_conn_close(c);
        mp__free(c);
    }
}

int
mp__wait_fds(const int *fds, size_t n, bool *ready, mp_duration_t timeout)
{
    int64_t deadline;
    int r = mp__deadline(timeout, &deadline);
    if (r < 0) {
        return r;
    }
    if ((fds == NULL && n > 0) || n > (size_t)INT_MAX) {
        return MP_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        if (fds[i] < 0) {
            return MP_EINVAL;
        }
    }
    struct pollfd *pfds = NULL;
    if (n > 0) {
        pfds = mp__calloc(n, sizeof *pfds);
        if (pfds == NULL) {
            return MP_ENOMEM;
        }
    }
    for (size_t i = 0; i < n; i++) {
        pfds[i].fd = fds[i];
        pfds[i].events = POLLIN;
    }
    r = mp__plat_poll_many(pfds, n, deadline);
    for (size_t i = 0; r >= 0 && i < n; i++) {
        if (pfds[i].revents & POLLNVAL) {
            r = MP_EBADF;
        }
    }
    for (size_t i = 0; r >= 0 && ready != NULL && i < n; i++) {
        ready[i] = pfds[i].revents != 0;
    }
    mp__free(pfds);
    return r;
}

/* --- internals ----------------------------------------------------------- */

/* Allocates a connection owning fd; on failure fd is left open. */
static int
conn_new(mp_conn_t **out, int fd, bool readable, bool writable, bool is_socket)
{
    mp_conn_t *c = mp__calloc(1, sizeof *c);
    if (c == NULL) {
        return MP_ENOMEM;
    }
    c->fd = fd;
    c->readable = readable;
    c->writable = writable;
    c->is_socket = is_socket;
    /* Spinning needs MSG_DONTWAIT (a pipe's read cannot skip blocking). It
     * yields at each retry, so it is safe on one CPU as well. */
    c->spin = is_socket;
    *out = c;
    return 0;
}

/* Checks that c is open and may be used in the wanted direction. */
static int
conn_check(const mp_conn_t *c, bool want_read)
{
    if (c->closed) {
        return MP_ECLOSED;
    }
    if (want_read ? !c->readable : !c->writable) {
        return MP_EBADF;
    }
    return 0;
}

/* Starts a call on c in the wanted direction: turns timeout into
 * *deadline, then checks c (conn_check). Returns 0, MP_EINVAL (a bad
 * timeout), MP_ECLOSED or MP_EBADF. */
static int
conn_begin(const mp_conn_t *c, bool want_read, mp_duration_t timeout,
           int64_t *deadline)
{
    int r = mp__deadline(timeout, deadline);
    if (r < 0) {
        return r;
    }
    return conn_check(c, want_read);
}

/* Writes every byte of iov, looping on partial writes and EINTR. */
static int
conn_write_all(mp_conn_t *c, struct iovec *iov, int iovcnt)
{
    while (iovcnt > 0) {
        ssize_t n = mp__plat_writev_nosig(c->fd, c->is_socket, iov, iovcnt);
        if (n == -EAGAIN) {
            /* The caller made the fd non-blocking: wait for room. */
            int r = mp__plat_poll_fd(c->fd, POLLOUT, MP__NO_DEADLINE);
            if (r < 0) {
                return r;
            }
            continue;
        }
        if (n < 0) {
            return (int)n;
        }
        size_t left = (size_t)n;
        while (iovcnt > 0 && left >= iov->iov_len) {
            left -= iov->iov_len;
            iov++;
            iovcnt--;
        }
        if (iovcnt > 0) {
            iov->iov_base = (uint8_t *)iov->iov_base + left;
            iov->iov_len -= left;
        }
    }
    return 0;
}

/* Calls the test hook, if a test set one. */
static inline void
conn_hook(int point)
{
    void (*fn)(int) = mp__conn_test_hook;
    if (fn != NULL) {
        fn(point);
    }
}

/* A receive's spin window: until < 0 before it opens (the receive may
 * spin), the time it closes while open, 0 once closed or when the receive
 * does not spin; yield_at is when its last yield began. */
struct conn_spin {
    int64_t until;
    int64_t yield_at;
};

/* Whether a read of c that found no data should try again at once; if
 * so, it has yielded the CPU first (a peer on this CPU answers meanwhile).
 * The first call opens the window s (s->until < 0 before it); the window
 * closes (s->until = 0) after CONN_SPIN_NS or at deadline, whichever comes
 * first: a miss. */
static bool
conn_spin_again(mp_conn_t *c, struct conn_spin *s, int64_t deadline)
{
    if (s->until == 0) {
        return false;
    }
    int64_t now = mp__now_ns();
    if (s->until < 0) {
        s->until = now + CONN_SPIN_NS;
        if (deadline != MP__NO_DEADLINE && deadline < s->until) {
            s->until = deadline;
        }
    }
    if (now >= s->until) {
        s->until = 0;
        mp__spin_missed(&c->learn);
        return false;
    }
    s->yield_at = now;
    conn_hook(MP__CONN_HOOK_YIELD);
    mp__plat_yield();
    return true;
}

/* Records how the spin s of c that caught its data went: within its
 * window it paid, unless it was the CONN_HANDOFF_RUN-th or later in a row
 * caught after a long yield (CONN_HANDOFF_NS: the peer likely shares this
 * CPU, where a sleep does as well). Caught after the window, a yield let
 * something else hold the CPU past it (a stranger, for a time slice),
 * which cost more than a sleep would have: a miss too. */
static void
conn_spin_caught(mp_conn_t *c, const struct conn_spin *s)
{
    int64_t now = mp__now_ns();
    if (now - s->yield_at <= CONN_HANDOFF_NS) {
        c->handoffs = 0;
    } else if (c->handoffs < CONN_HANDOFF_RUN) {
        c->handoffs++;
    }
    if (now <= s->until && c->handoffs < CONN_HANDOFF_RUN) {
        mp__spin_paid(&c->learn);
    } else {
        mp__spin_missed(&c->learn);
    }
}

/* Reads exactly n bytes of connection c. *started tells whether a byte of
 * the current message has arrived: until then each read waits only until
 * deadline (MP_ETIMEDOUT) and end of stream is MP_EOF; afterwards end of
 * stream is MP_EPROTO, and reads wait without a deadline, so a timeout
 * never splits a message. spin tells whether a read that finds no data
 * may spin (conn_spin_again) before it sleeps. Returns 0 or a negative
 * error. */
static int
conn_read_exact(mp_conn_t *c, void *buf, size_t n, int64_t deadline,
                bool *started, bool spin)
{
    uint8_t *p = buf;
    /* A socket is read with MSG_DONTWAIT and waits in a readiness wait
     * (mp__plat_poll_in), never in a blocking read: a reader asleep in
     * read is woken, for nothing, each time the peer consumes a message
     * the reader sent (the socket's write-space wake-up reaches every
     * sleeper on the reader's end), and on one CPU those wake-ups cost a
     * round trip 0.7 context switches more (3.4 against 2.0); a poll for
     * POLLIN is not woken by them. After EAGAIN a read that may spin tries
     * again until its window closes; then it polls. A message's first
     * read that may not spin (its connection learnt that the data comes
     * late) polls first: it would find nothing. A pipe is read with a
     * plain blocking read (one system call, not two) and polled first
     * only where the read could block past a deadline. */
    bool must_poll = c->is_socket && !spin && !*started;
    struct conn_spin s = {.until = spin ? -1 : 0, .yield_at = 0};
    while (n > 0) {
        int64_t wait_until = *started ? MP__NO_DEADLINE : deadline;
        bool timed = wait_until != MP__NO_DEADLINE;
        if (must_poll || (timed && !c->is_socket)) {
            int r = mp__plat_poll_in(c->fd, wait_until);
            if (r < 0) {
                return r;
            }
            if (r == 0) {
                return MP_ETIMEDOUT;
            }
            must_poll = false;
        }
        size_t want = n < SSIZE_MAX ? n : SSIZE_MAX;
        ssize_t got = c->is_socket ? mp__plat_recv_nb(c->fd, p, want)
                                   : mp__plat_read_some(c->fd, p, want);
        conn_hook(MP__CONN_HOOK_READ);
        if (got == -EAGAIN) {
            /* No data yet, or the caller made the fd non-blocking. */
            conn_hook(MP__CONN_HOOK_READ_EMPTY);
            must_poll = !conn_spin_again(c, &s, wait_until);
            continue;
        }
        if (got < 0) {
            return (int)got;
        }
        if (got == 0) {
            return *started ? MP_EPROTO : MP_EOF;
        }
        if (s.until > 0) {
            conn_spin_caught(c, &s);
            s.until = -1; /* a later part of the message: a new window */
        }
        *started = true;
        p += got;
        n -= (size_t)got;
    }
    return 0;
}

/* Reads and decodes one frame header into *len, with the deadline and
 * spin rules of conn_read_exact. Returns 0, MP_EPROTO for a malformed
 * header, or a read error. */
static int
conn_read_header(mp_conn_t *c, int64_t deadline, bool *started, bool spin,
                 uint64_t *len)
{
    uint8_t hdr[MP__FRAME_HDR_MAX];
    size_t have = 0, need = MP__FRAME_HDR_SHORT;
    for (;;) {
        int r = conn_read_exact(c, hdr + have, need - have, deadline, started,
                                spin);
        if (r < 0) {
            return r;
        }
        have = need;
        r = mp__frame_decode(hdr, have, &need, len);
        if (r != 0) {
            return r < 0 ? r : 0;
        }
    }
}

/* Reads and drops len payload bytes of a message that is being refused,
 * keeping the stream at a message boundary (spin: conn_read_exact's).
 * Returns 0 or an error. */
static int
conn_discard(mp_conn_t *c, uint64_t len, bool spin)
{
    uint8_t chunk[CONN_DISCARD_CHUNK];
    bool started = true;
    while (len > 0) {
        size_t n = len < sizeof chunk ? (size_t)len : sizeof chunk;
        int r = conn_read_exact(c, chunk, n, MP__NO_DEADLINE, &started, spin);
        if (r < 0) {
            return r;
        }
        len -= n;
    }
    return 0;
}

/* Receives one message: into a fresh buffer stored in *out when out is
 * non-NULL, else into buf (cap bytes). maxlen 0 means no limit. A refused
 * message (too long, or too big to allocate) is read and dropped first, so
 * the stream stays at a message boundary. */
static ssize_t
conn_recv(mp_conn_t *c, void **out, void *buf, size_t cap, size_t maxlen,
          mp_duration_t timeout)
{
    int64_t deadline;
    int r = conn_begin(c, true, timeout, &deadline);
    if (r < 0) {
        return r;
    }
    /* Whether this message's reads may spin: decided once, before the
     * first read, so that a connection whose spins do not pay waits in
     * one blocking read (no read that finds nothing, no yield). */
    bool spin = c->spin && mp__spin_begin(&c->learn);
    bool started = false;
    uint64_t len = 0;
    r = conn_read_header(c, deadline, &started, spin, &len);
    if (r < 0) {
        return r;
    }
    bool too_long = maxlen > 0 ? len > maxlen : len > (uint64_t)SSIZE_MAX;
    if (out == NULL && len > cap) {
        too_long = true;
    }
    if (too_long) {
        r = conn_discard(c, len, spin);
        return r < 0 ? r : MP_EMSGSIZE;
    }
    void *dst = buf;
    if (out != NULL) {
        /* One byte at least, so an empty message is a non-NULL buffer. */
        dst = mp__malloc(len > 0 ? (size_t)len : 1);
        if (dst == NULL) {
            r = conn_discard(c, len, spin);
            return r < 0 ? r : MP_ENOMEM;
        }
    }
    r = conn_read_exact(c, dst, (size_t)len, deadline, &started, spin);
    if (r < 0) {
        if (out != NULL) {
            mp__free(dst);
        }
        return r;
    }
    if (out != NULL) {
        *out = dst;
    }
    return (ssize_t)len;
}
