/* SPDX-License-Identifier: MIT */
/* queue.c - Queue, SimpleQueue and JoinableQueue: a multi-producer,
 * multi-consumer FIFO of byte messages in one shared-memory segment: a
 * named one, or for a private queue (a pool's) an unnamed memfd mapping
 * shared with the children forked after it. Messages of 64 KiB and up
 * have their heap pages mapped by one madvise on each side (arena.c's
 * populate, heap_copy_out) rather than a page fault per page. This file
 * holds the design below and the calls that neither put nor get: sizes,
 * close, task_done and join.
 *
 * The layout and the cell protocol are described in queue_internal.h. The
 * fast paths are a few compare-and-swaps and a copy, and make no syscall:
 * a side that finds nothing to do spins briefly, yields, then sleeps on a
 * futex word after counting itself as a sleeper; the other side bumps and
 * wakes that word only when it sees a sleeper. Sleeps are cut in slices
 * (mp__wait_slice) so that a waiter stuck behind a cell held by a process
 * that died notices it and repairs the cell:
 *   - a consumer turns a dead producer's WRITING cell into a consumed and
 *     discarded one (the half-written message is dropped);
 *   - a producer turns a dead consumer's READING cell into a free one.
 * Positions (head, tail) are claimed by a cell's compare-and-swap first and
 * advanced by a second one that every passer-by helps with (a consumer
 * that discards a dead producer's cell moves tail past it too, and a
 * producer moves tail past any cell already on a later lap), so a process
 * killed between the two wedges nobody. A SIGKILL therefore loses at most
 * the message being handled, and leaks none of its heap blocks: a put holds
 * them in a hand (mp__qhand_t) until a cell or the overflow list takes
 * them, and a dead process's hand is cleaned (hand_clean). A JoinableQueue
 * counts a task in one journalled step with its message's publication,
 * under ovf_lock, whose next locker finishes a dead holder's step
 * (ovf_journal_repair; these live in recover.c).
 *
 * Ordering: a message from one producer is claimed at a later position than
 * its earlier ones, or goes to the overflow list after them: once the list
 * is non-empty every put goes there, and a consumer takes from the list only
 * when the ring is empty (checked under the list's lock). A put that finds
 * the list non-empty and the ring with room first moves the list's
 * messages back into the ring in order (ovf_refill), so the queue returns
 * to the fast ring path once consumers catch up.
 *
 * Unbounded queues: a put that finds the ring full spins (briefly, and only
 * while consumers make progress) before it spills to the overflow list, so
 * that producers keeping pace with consumers do not pin the queue on the
 * slower list path.
 *
 * Few CPUs: a put or get that loses a cell's claim to another producer
 * (or consumer) knows that two of its side run at once. With at most
 * STEP_ASIDE_MAX_CPUS (create.c) CPUs a process of the other side then
 * waits for one, and two of a side bouncing head or tail between the CPUs
 * cost each message 3-4x the CPU time (2p2c runs on two CPUs ranged from
 * 1.8M to 7.4M msg/s, docs/performance.md). The loser yields its CPU
 * instead (sched_yield), so the sides pair up across the CPUs. With more
 * CPUs the other side has its own, and yielding only slows the loser.
 *
 * mp_wait_any: a put that sees poll waiters signals the queue's waker
 * (wakeup.c, queue_internal.h).
 *
 * Where the rest lives: queue_private.h lists the queue's files. */
#include "queue_private.h"

void (*mp__queue_test_hook)(int point);

/* Counts one task as finished (task_done). Returns 0 or MP_EOVERRELEASE.
 * One store under the lock, so a caller killed at any point has either
 * finished the task or not. */
static int
unfinished_dec(mp_queue_t *q)
{
    mp__qhdr_t *h = q->h;
    mp__queue_ovf_lock(q);
    uint32_t u = atomic_load(&h->unfinished);
    if (u != 0) {
        atomic_store(&h->unfinished, u - 1);
    }
    mp__mutex_unlock(&h->ovf_lock);
    if (u == 1) {
        wake_joiners(h);
    }
    return u != 0 ? 0 : MP_EOVERRELEASE;
}

uint64_t
mp__queue_heap_free_bytes(const mp_queue_t *q)
{
    return mp__heap_free_bytes(q->heap);
}

ssize_t
mp_queue_qsize(const mp_queue_t *q)
{
    if (q == NULL) {
        return MP_EINVAL;
    }
    return (ssize_t)queue_count(q);
}

bool
mp_queue_empty(const mp_queue_t *q)
{
    return q != NULL && mp_queue_qsize(q) == 0;
}

bool
mp_queue_full(const mp_queue_t *q)
{
    return q != NULL && q->h->maxsize > 0 && mp_queue_qsize(q) >= q->h->maxsize;
}

int
mp_queue_close(mp_queue_t *q)
{
    if (q == NULL) {
        return MP_EINVAL;
    }
    q->closed = true;
    return 0;
}

int
mp_queue_join_thread(mp_queue_t *q)
{
    if (q == NULL) {
        return MP_EINVAL;
    }
    return q->closed ? 0 : MP_EBUSY;
}

int
mp_queue_cancel_join_thread(mp_queue_t *q)
{
    return q == NULL ? MP_EINVAL : 0;
}

int
mp_queue_task_done(mp_queue_t *q)
{
    if (q == NULL || !(q->h->flags & MP__QUEUE_FLAG_JOINABLE)) {
        return MP_EINVAL;
    }
    return unfinished_dec(q);
}

int
mp_queue_join(mp_queue_t *q, mp_duration_t timeout)
{
    if (q == NULL || !(q->h->flags & MP__QUEUE_FLAG_JOINABLE)) {
        return MP_EINVAL;
    }
    int64_t deadline;
    int r = mp__deadline(timeout, &deadline);
    if (r != 0) {
        return r;
    }
    mp__qhdr_t *h = q->h;
    for (;;) {
        if (atomic_load(&h->unfinished) == 0) {
            return 0;
        }
        atomic_fetch_add(&h->join_waiters, 1);
        uint32_t u = atomic_load(&h->unfinished);
        r = 0;
        if (u != 0) {
            r = mp__wait_slice(&h->unfinished, u, deadline);
        }
        atomic_fetch_sub(&h->join_waiters, 1);
        if (r == MP_ETIMEDOUT && atomic_load(&h->unfinished) != 0) {
            return MP_ETIMEDOUT;
        }
    }
}
