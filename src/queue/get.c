/* SPDX-License-Identifier: MIT */
/* get.c - the get path: the cell at head claimed (READING), its message
 * copied out (from the cell, or from its heap block, which is freed) and
 * the cell freed for its next lap; with the ring empty, the oldest
 * message of the overflow list (overflow.c). The fast path makes no call
 * out of this file but the copy; waiting for a message is wait.c's,
 * repairing a dead producer's cell recover.c's. */
#include "queue_private.h"

/* Copies out the message of the cell at pos, claimed by us, and frees the
 * cell. */
static void
cell_take(mp_queue_t *q, mp__qcell_t *c, uint64_t pos, sink_t *sink, size_t len)
{
    test_hook(MP__QUEUE_HOOK_GET_CLAIMED);
    uint64_t off = atomic_load_explicit(&c->off, memory_order_relaxed);
    uint64_t freed = st_make(pos + q->mask + 1, MP__QS_FREE, 0);
    if (off == 0) {
        sink_fill(sink, c->data, len);
    } else if (sink->hold) {
        sink_hold_block(q, sink, &c->off, len);
    } else {
        /* The data lives in its own block, freed through the cell's word
         * before the cell is handed back: a consumer killed at any point
         * leaves it named by its READING cell or freed (repair_reader). */
        heap_copy_out(q, sink, off, len);
        mp__heap_free_from(q->heap, &c->off);
    }
    cell_unhold(c);
    atomic_store_explicit(&c->state, freed, memory_order_release);
    wake_producers(q);
}

/* One attempt to take a message from the ring, or from the overflow list
 * when the ring is empty (w: the get's deadline, for a hand). Returns the
 * length, Q_EMPTY, Q_BUSY with *p the cell a producer still writes, or the
 * sink's error (message stays). */
static ssize_t
ring_try_get(mp_queue_t *q, sink_t *sink, const waiter_t *w, probe_t *p)
{
    mp__qhdr_t *h = q->h;
    for (;;) {
        uint64_t pos = atomic_load_explicit(&h->head, memory_order_acquire);
        mp__qcell_t *c = &q->cells[pos & q->mask];
        uint64_t s = atomic_load_explicit(&c->state, memory_order_acquire);
        int64_t d = st_dist(s, pos);
        unsigned ph = st_phase(s);
        if (d == 0 && ph == MP__QS_FULL) {
            size_t len =
                (size_t)atomic_load_explicit(&c->len, memory_order_relaxed);
            int r = sink_reserve(sink, len);
            if (r != 0) {
                if (atomic_load(&c->state) == s) {
                    return r;
                }
                continue;
            }
            if (atomic_compare_exchange_strong(
                    &c->state, &s, st_make(pos, MP__QS_READING, my_pid()))) {
                cell_hold(c);
                help_past(&h->head, pos);
                /* The claim succeeded on the state we read len under, and
                 * a state never comes back: len is this message's. */
                cell_take(q, c, pos, sink, len);
                return (ssize_t)len;
            }
            lost_claim(q);
        } else if (d == 0 && ph == MP__QS_WRITING) {
            p->pos = pos;
            p->state = s;
            return Q_BUSY;
        } else if ((d == 0 && ph == MP__QS_READING) || d > 0) {
            help_past(&h->head, pos); /* taken; its taker may have died */
        } else if (atomic_load(&h->ovf_head) == 0) {
            /* FREE at pos or a previous lap still read, and no overflow:
             * the queue was empty when we read the cell. (Not reading tail
             * here keeps its cache line with the producers.) */
            return Q_EMPTY;
        } else if ((int64_t)(atomic_load(&h->tail) - pos) <= 0) {
            /* The ring is empty: take from the overflow list. */
            ssize_t r = mp__queue_ovf_take(q, sink, w);
            if (r != Q_RETRY) {
                return r;
            }
        }
    }
}

/* 1 when a get would find nothing to take now (for the sleep re-check). */
static bool
get_blocked(mp_queue_t *q)
{
    mp__qhdr_t *h = q->h;
    uint64_t pos = atomic_load(&h->head);
    uint64_t s = atomic_load(&q->cells[pos & q->mask].state);
    int64_t d = st_dist(s, pos);
    if (d == 0) {
        if (st_phase(s) == MP__QS_WRITING) {
            return true;
        }
        if (st_phase(s) != MP__QS_FREE) {
            return false;
        }
    } else if (d > 0) {
        return false;
    }
    return (int64_t)(atomic_load(&h->tail) - pos) <= 0 &&
           atomic_load(&h->ovf_head) == 0;
}

ssize_t
mp__queue_get_wait(mp_queue_t *q, sink_t *sink, waiter_t *w)
{
    mp__qhdr_t *h = q->h;
    for (;;) {
        probe_t p = {0, 0};
        ssize_t r = ring_try_get(q, sink, w, &p);
        if (r >= 0) {
            waiter_done(q, w);
            return r;
        }
        if (r != Q_EMPTY && r != Q_BUSY) {
            return r;
        }
        if (r == Q_BUSY && spun_out(w) && !mp__queue_holder_alive(q, &p)) {
            mp__queue_repair_writer(q, &p);
            (void)mp__queue_reclaim(q); /* its other hands, if any */
            continue;
        }
        if (r == Q_EMPTY && w->nowait) {
            return MP_EEMPTY;
        }
        if (mp__queue_wait_step(w, q, &h->cons_seq, &h->cons_waiters,
                                get_blocked) == MP_ETIMEDOUT) {
            return MP_EEMPTY;
        }
    }
}

/* The get of mp_queue_get and mp_queue_get_into: starts the wait, then
 * runs the loop. */
static ssize_t
queue_get(mp_queue_t *q, sink_t *sink, mp_duration_t timeout)
{
    waiter_t w;
    int err = waiter_start(q, timeout, &w);
    if (err != 0) {
        return err;
    }
    return mp__queue_get_wait(q, sink, &w);
}

ssize_t
mp_queue_get(mp_queue_t *q, void **out, mp_duration_t timeout)
{
    if (q == NULL || out == NULL) {
        return MP_EINVAL;
    }
    sink_t sink = {NULL, 0, true, false, NO_HAND};
    ssize_t r = queue_get(q, &sink, timeout);
    if (r < 0) {
        mp__free(sink.buf);
        return r;
    }
    *out = sink.buf;
    return r;
}

ssize_t
mp_queue_get_nowait(mp_queue_t *q, void **out)
{
    return mp_queue_get(q, out, MP_NO_WAIT);
}

ssize_t
mp_queue_get_into(mp_queue_t *q, void *buf, size_t buflen,
                  mp_duration_t timeout)
{
    if (q == NULL || (buflen != 0 && buf == NULL)) {
        return MP_EINVAL;
    }
    sink_t sink = {buf, buflen, false, false, NO_HAND};
    return queue_get(q, &sink, timeout);
}
