/* SPDX-License-Identifier: MIT */
/* wakeup.c - the queue's waker, which mp_wait_any polls (see
 * queue_internal.h): a named queue's is a named waker beside its segment,
 * "/dev/shm/<name>.w", made and removed with the segment and tracked like
 * it, opened by each handle on first use; a private queue's is a private
 * waker made with it. A put signals it only while poll waiters are
 * counted. */
#include "queue_private.h"

#include <stdio.h>

/* Writes the named waker's path ("/dev/shm/<name>.w") for the segment named
 * name into buf. Returns 0, or MP_ENAMETOOLONG. */
static int
waker_path(const char *name, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "/dev/shm/%s" MP__QUEUE_FIFO_SUFFIX, name);
    return n > 0 && (size_t)n < cap ? 0 : MP_ENAMETOOLONG;
}

int
mp__queue_waker_create(const char *name)
{
    char path[QUEUE_PATH_MAX];
    int r = waker_path(name, path, sizeof path);
    if (r != 0) {
        return r;
    }
    const char *tname = path + strlen("/dev/shm/");
    r = mp__tracker_register(tname);
    if (r != 0) {
        return r;
    }
    r = mp__plat_waker_create_named(path);
    if (r != 0) {
        (void)mp__tracker_unregister(tname);
    }
    return r;
}

void
mp__queue_waker_remove(const char *name)
{
    char path[QUEUE_PATH_MAX];
    if (waker_path(name, path, sizeof path) == 0) {
        /* Unlink first, then forget: as mp_shm_unlink does. */
        (void)mp__plat_unlink(path);
        (void)mp__tracker_unregister(path + strlen("/dev/shm/"));
    }
}

/* Returns the handle's waker fd, opening it on first use (any thread may
 * race here: one open wins, the others are closed). Returns the fd or an
 * error. */
static int
waker_of(mp_queue_t *q)
{
    int fd = atomic_load_explicit(&q->poll_fd, memory_order_acquire);
    if (fd >= 0) {
        return fd;
    }
    if (q->shm == NULL) {
        return MP_EBADF; /* a private queue's eventfd was closed */
    }
    char path[QUEUE_PATH_MAX];
    int r = waker_path(mp_shm_name(q->shm), path, sizeof path);
    if (r != 0) {
        return r;
    }
    fd = mp__plat_waker_open_named(path);
    if (fd < 0) {
        return fd;
    }
    int none = -1;
    if (!atomic_compare_exchange_strong(&q->poll_fd, &none, fd)) {
        mp__plat_waker_close(fd); /* another thread opened it first */
        fd = none;
    }
    return fd;
}

int
mp__queue_poll_fd(mp_queue_t *q)
{
    return q->closed ? MP_EBADF : waker_of(q);
}

void
mp__queue_signal(mp_queue_t *q)
{
    int fd = waker_of(q);
    if (fd >= 0) {
        mp__plat_waker_signal(fd);
    }
}

void
mp__queue_poll_begin(mp_queue_t *q)
{
    /* seq_cst, before the caller's re-check of the queue: pairs with the
     * fence a put makes between publishing and reading poll_waiters, so
     * either the waiter sees the message or the put sees the waiter. */
    atomic_fetch_add(&q->h->poll_waiters, 1);
}

void
mp__queue_poll_end(mp_queue_t *q)
{
    atomic_fetch_sub(&q->h->poll_waiters, 1);
}

bool
mp__queue_poll_ready(const mp_queue_t *q)
{
    return queue_count(q) > 0;
}

bool
mp__queue_poll_ack(mp_queue_t *q)
{
    int fd = atomic_load_explicit(&q->poll_fd, memory_order_acquire);
    if (fd >= 0) {
        (void)mp__plat_waker_drain(fd);
    }
    /* Drain, then look: a put whose byte we just ate published before
     * writing it, so we see its message here and pass the byte on. */
    atomic_thread_fence(memory_order_seq_cst);
    if (!mp__queue_poll_ready(q)) {
        return false;
    }
    mp__queue_signal(q);
    return true;
}
