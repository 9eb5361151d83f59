/* SPDX-License-Identifier: MIT */
/* wait_any.c - mp_wait_any: Python's connection.wait() over connections,
 * process sentinels, plain fds and queues.
 *
 * Every item becomes one fd for mp__wait_fds (the one poll loop of the
 * library): a connection its fd, a process its sentinel, a queue its wake-up
 * FIFO (queue_internal.h). Queues have no readiness of their own in the kernel,
 * so the loop is:
 *   count ourselves as a poll waiter on every queue (producers then write
 *   a byte to the FIFO after each put),
 *   repeat: look at every queue (a message: ready, and poll without
 *   waiting, to collect the fds that are ready too); poll; for a queue
 *   whose FIFO woke us, drain it and look again (mp__queue_poll_ack);
 *   until something is ready or the deadline passed,
 *   then stop counting ourselves.
 * Counting comes before the first look, so a put either is seen by the
 * look or sees us and writes its byte: no wake-up is lost. */
#include "../ipc/ipc_internal.h"
#include "../queue/queue_internal.h"

#include <limits.h>

/* Items up to this many are waited on without allocating. */
#define LOCAL_ITEMS 16

/* The fds mp__wait_fds polls, one per item, and what it reports. */
typedef struct poll_set {
    int *fds;
    bool *ready;
    int local_fds[LOCAL_ITEMS];
    bool local_ready[LOCAL_ITEMS];
} poll_set_t;

/* Finds the fd to poll for item it (a queue's FIFO is opened on first use).
 * Returns the fd, or MP_EINVAL / MP_EBADF / an open error. */
static int
item_fd(mp_waitable_t *it)
{
    int fd;
    switch (it->kind) {
    case MP_WAIT_FD:
        return it->u.fd >= 0 ? it->u.fd : MP_EBADF;
    case MP_WAIT_CONN:
        if (it->u.conn == NULL) {
            return MP_EINVAL;
        }
        if (!mp_conn_readable(it->u.conn)) {
            return MP_EBADF;
        }
        fd = mp_conn_fileno(it->u.conn);
        return fd >= 0 ? fd : MP_EBADF;
    case MP_WAIT_PROCESS:
        if (it->u.process == NULL) {
            return MP_EINVAL;
        }
        fd = mp_process_sentinel(it->u.process);
        return fd >= 0 ? fd : MP_EBADF;
    case MP_WAIT_QUEUE:
        if (it->u.queue == NULL) {
            return MP_EINVAL;
        }
        return mp__queue_poll_fd(it->u.queue);
    }
    return MP_EINVAL; /* a kind outside the enum */
}

/* Fills ps with the fd of every item (allocating beyond LOCAL_ITEMS).
 * Returns 0 or an error (nothing to release then). */
static int
poll_set_init(poll_set_t *ps, mp_waitable_t *items, size_t n)
{
    ps->fds = ps->local_fds;
    ps->ready = ps->local_ready;
    if (n > LOCAL_ITEMS) {
        ps->fds = mp__calloc(n, sizeof *ps->fds);
        ps->ready = mp__calloc(n, sizeof *ps->ready);
        if (ps->fds == NULL || ps->ready == NULL) {
            mp__free(ps->fds);
            mp__free(ps->ready);
            return MP_ENOMEM;
        }
    }
    for (size_t i = 0; i < n; i++) {
        int fd = item_fd(&items[i]);
        if (fd < 0) {
            if (ps->fds != ps->local_fds) {
                mp__free(ps->fds);
                mp__free(ps->ready);
            }
            return fd;
        }
        ps->fds[i] = fd;
        items[i].ready = false;
    }
    return 0;
}

/* Releases what poll_set_init allocated. */
static void
poll_set_fini(poll_set_t *ps)
{
    if (ps->fds != ps->local_fds) {
        mp__free(ps->fds);
        mp__free(ps->ready);
    }
}

/* Counts (begin) or uncounts the caller as a poll waiter of every queue. */
static void
queues_register(mp_waitable_t *items, size_t n, bool begin)
{
    for (size_t i = 0; i < n; i++) {
        if (items[i].kind != MP_WAIT_QUEUE) {
            continue;
        }
        if (begin) {
            mp__queue_poll_begin(items[i].u.queue);
        } else {
            mp__queue_poll_end(items[i].u.queue);
        }
    }
}

/* One round: marks the queues that hold a message, polls every fd (without
 * waiting if a queue was ready, else up to deadline), marks the fds that
 * are ready and the queues whose FIFO woke us and that now hold a message.
 * Called with the caller counted on every queue. Returns the number ready
 * or an error of mp__wait_fds. */
static int
wait_round(mp_waitable_t *items, size_t n, poll_set_t *ps, int64_t deadline)
{
    int count = 0;
    for (size_t i = 0; i < n; i++) {
        if (items[i].kind == MP_WAIT_QUEUE &&
            mp__queue_poll_ready(items[i].u.queue)) {
            items[i].ready = true;
            count++;
        }
    }
    mp_duration_t ms = count > 0 ? MP_NO_WAIT : mp__remaining_ms(deadline);
    int r = mp__wait_fds(n > 0 ? ps->fds : NULL, n, ps->ready, ms);
    if (r < 0) {
        return r;
    }
    for (size_t i = 0; i < n; i++) {
        if (!ps->ready[i] || items[i].ready) {
            continue;
        }
        /* A readable FIFO is only a hint: another waiter may have taken
         * the message, or the byte may be left from an earlier put. */
        if (items[i].kind != MP_WAIT_QUEUE ||
            mp__queue_poll_ack(items[i].u.queue)) {
            items[i].ready = true;
            count++;
        }
    }
    return count;
}

int
mp_wait_any(mp_waitable_t *items, size_t n, mp_duration_t timeout)
{
    int64_t deadline;
    int r = mp__deadline(timeout, &deadline);
    if (r < 0) {
        return r;
    }
    if ((items == NULL && n > 0) || n > (size_t)INT_MAX ||
        (n == 0 && timeout == MP_WAIT_FOREVER)) {
        return MP_EINVAL;
    }
    poll_set_t ps;
    r = poll_set_init(&ps, items, n);
    if (r < 0) {
        return r;
    }
    queues_register(items, n, true);
    for (;;) {
        r = wait_round(items, n, &ps, deadline);
        if (r != 0 ||
            (deadline != MP__NO_DEADLINE && mp__now_ns() >= deadline)) {
            break;
        }
    }
    queues_register(items, n, false);
    poll_set_fini(&ps);
    if (r < 0) {
        for (size_t i = 0; i < n; i++) {
            items[i].ready = false;
        }
    }
    return r;
}
