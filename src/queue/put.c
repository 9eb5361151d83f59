/* SPDX-License-Identifier: MIT */
/* put.c - the put path: a message of more than a cell's inline bytes
 * copied into a heap block held in a hand first, then a cell of the ring
 * claimed (WRITING), filled and published (FULL) - for a JoinableQueue in
 * one journalled step with its task's count - or, while the ring is full
 * or the overflow list in use, the message spilled to the list
 * (overflow.c). The fast path makes no call out of this file but the
 * copy; waiting for room is wait.c's, repairing a dead consumer's cell
 * recover.c's. */
#include "queue_private.h"

/* A put of a message of at least PACE_MIN bytes first waits while a few
 * messages are queued and consumers take them (mp__queue_large_pace). */
#define PACE_MIN MP__QUEUE_LARGE_MIN

/* Fills the claimed cell at pos and publishes it. The block boff (if any)
 * stays in the put's hand until then: a hand names the cell it claimed, and
 * a cleaner frees the block only while that cell is unpublished. In a
 * JoinableQueue the task is counted in one journalled step with the
 * publication, under ovf_lock: a producer killed before it is a put that
 * never happened, one killed inside it a put that completed (the next
 * locker publishes the cell, whose message is whole by then). */
static void
cell_publish(mp_queue_t *q, mp__qcell_t *c, uint64_t pos, const void *buf,
             size_t len, uint64_t boff)
{
    mp__qhdr_t *h = q->h;
    test_hook(MP__QUEUE_HOOK_PUT_CLAIMED);
    atomic_store_explicit(&c->len, len, memory_order_relaxed);
    atomic_store_explicit(&c->off, boff, memory_order_relaxed);
    if (boff == 0 && len != 0) {
        memcpy(c->data, buf, len);
    }
    uint64_t full = st_make(pos, MP__QS_FULL, 0);
    if (h->flags & MP__QUEUE_FLAG_JOINABLE) {
        mp__queue_ovf_lock(q);
        journal_begin(h, QJ_PUT, st_make(pos, MP__QS_WRITING, my_pid()), 0,
                      NO_HAND);
        atomic_store(&h->unfinished, h->jr_old + 1);
        test_hook(MP__QUEUE_HOOK_PUT_COUNTED);
        cell_unhold(c);
        atomic_store_explicit(&c->state, full, memory_order_release);
        test_hook(MP__QUEUE_HOOK_PUT_PUBLISHED);
        journal_end(h);
        mp__mutex_unlock(&h->ovf_lock);
    } else {
        cell_unhold(c);
        atomic_store_explicit(&c->state, full, memory_order_release);
        test_hook(MP__QUEUE_HOOK_PUT_PUBLISHED);
    }
    wake_consumers(q);
}

/* One attempt to put a message into the ring; boff's hand is hi (or
 * NO_HAND). Returns 0 (put), Q_FULL, Q_RINGFULL, or Q_BUSY with *p the
 * cell a consumer still reads. */
static int
ring_try_put(mp_queue_t *q, const void *buf, size_t len, uint64_t boff,
             uint32_t hi, probe_t *p)
{
    mp__qhdr_t *h = q->h;
    for (;;) {
        uint64_t pos = atomic_load_explicit(&h->tail, memory_order_acquire);
        /* head only grows, so a count checked here stays an upper bound
         * when we claim pos: the bound is exact. */
        if (q->exact && (int64_t)(pos - atomic_load(&h->head)) >= h->maxsize) {
            return Q_FULL;
        }
        mp__qcell_t *c = &q->cells[pos & q->mask];
        uint64_t s = atomic_load_explicit(&c->state, memory_order_acquire);
        int64_t d = st_dist(s, pos);
        if (d == 0 && st_phase(s) == MP__QS_FREE) {
            uint64_t w = st_make(pos, MP__QS_WRITING, my_pid());
            if (atomic_compare_exchange_strong(&c->state, &s, w)) {
                cell_hold(c);
                if (hi != NO_HAND) {
                    atomic_store(&hand_at(q, hi)->claim, w);
                }
                test_hook(MP__QUEUE_HOOK_PUT_TAIL_STALE);
                help_past(&h->tail, pos);
                cell_publish(q, c, pos, buf, len, boff);
                return 0;
            }
            lost_claim(q);
        } else if (d >= 0) {
            /* Claimed (d == 0), or even taken already (d > 0: a consumer
             * discarded the cell of a producer that died), by someone who
             * may have died before moving tail. */
            help_past(&h->tail, pos);
        } else {
            if (st_phase(s) == MP__QS_READING) {
                p->pos = pos;
                p->state = s;
                return Q_BUSY;
            }
            return q->exact ? Q_FULL : Q_RINGFULL;
        }
    }
}

/* 1 when a put would find no room now (for the sleep re-check). */
static bool
put_blocked(mp_queue_t *q)
{
    mp__qhdr_t *h = q->h;
    uint64_t pos = atomic_load(&h->tail);
    if (q->exact) {
        if ((int64_t)(pos - atomic_load(&h->head)) >= h->maxsize) {
            return true;
        }
    } else if (h->maxsize > 0) {
        return queue_count(q) >= h->maxsize;
    }
    uint64_t s = atomic_load(&q->cells[pos & q->mask].state);
    return st_dist(s, pos) < 0;
}

int
mp__queue_put_wait(mp_queue_t *q, const void *buf, size_t len, uint64_t boff,
                   uint32_t *hi, waiter_t *w)
{
    mp__qhdr_t *h = q->h;
    for (;;) {
        probe_t p = {0, 0};
        int r;
        if (!q->exact && h->maxsize > 0 && queue_count(q) >= h->maxsize) {
            r = Q_FULL;
        } else if (!q->exact && atomic_load(&h->ovf_head) != 0 &&
                   (!ring_has_room(q) || !mp__queue_ovf_refill(q))) {
            r = Q_RINGFULL; /* keep FIFO: follow the messages spilled */
        } else {
            r = ring_try_put(q, buf, len, boff, *hi, &p);
        }
        if (r == 0) {
            if (!q->exact &&
                atomic_load_explicit(&q->full_off, memory_order_relaxed)) {
                atomic_store_explicit(&q->full_off, false,
                                      memory_order_relaxed);
            }
            waiter_done(q, w);
            return 0;
        }
        if (r == Q_BUSY && spun_out(w)) {
            if (!mp__queue_holder_alive(q, &p)) {
                mp__queue_repair_reader(q, &p);
                (void)mp__queue_reclaim(q); /* its other hands, if any */
                continue;
            }
            if (!q->exact) {
                r = Q_RINGFULL; /* unbounded: never wait for room */
            }
        }
        if (r == Q_RINGFULL) {
            if (mp__queue_drain_wait(q, w) || mp__queue_full_sleep(q, w)) {
                continue;
            }
            if (*hi == NO_HAND) { /* an inline message needs one for its node */
                int e = hand_take(q, w, false, hi);
                if (e != 0) {
                    return e;
                }
            }
            return mp__queue_ovf_put(q, buf, len, boff, *hi);
        }
        if (r == Q_FULL && w->nowait) {
            return MP_EFULL;
        }
        if (mp__queue_wait_step(w, q, &h->prod_seq, &h->prod_waiters,
                                put_blocked) == MP_ETIMEDOUT) {
            return MP_EFULL;
        }
    }
}

int
mp_queue_put(mp_queue_t *q, const void *buf, size_t len, mp_duration_t timeout)
{
    return mp__queue_put_two(q, buf, len, NULL, 0, timeout);
}

int
mp__queue_put_two(mp_queue_t *q, const void *head, size_t head_len,
                  const void *tail, size_t tail_len, mp_duration_t timeout)
{
    size_t len;
    if (q == NULL || (head_len != 0 && head == NULL) ||
        (tail_len != 0 && tail == NULL)) {
        return MP_EINVAL;
    }
    waiter_t w;
    int r = waiter_start(q, timeout, &w);
    if (r != 0) {
        return r;
    }
    mp__qhdr_t *h = q->h;
    if (!mp__size_add(head_len, tail_len, &len) || len > h->capacity) {
        return MP_EMSGSIZE;
    }
    /* A message kept in its ring cell (or an overflow node) is copied
     * from one buffer: the two parts are joined here first. */
    unsigned char joined[MP__QUEUE_INLINE_MAX];
    const void *buf = head;
    if (tail_len > 0 && len <= MP__QUEUE_INLINE_MAX) {
        if (head_len > 0) {
            memcpy(joined, head, head_len);
        }
        memcpy(joined + head_len, tail, tail_len);
        buf = joined;
    }
    /* Large messages are copied before a cell is claimed, so a cell is
     * held only for a few stores. Their block is held in a hand until a
     * cell or the overflow list takes it, so that it is freed if this
     * process dies first (hand_clean). */
    uint64_t boff = 0;
    uint32_t hi = NO_HAND;
    if (len >= PACE_MIN) {
        mp__queue_large_pace(q, &w);
    }
    if (len > MP__QUEUE_INLINE_MAX) {
        r = hand_take(q, &w, false, &hi);
        if (r != 0) {
            return r;
        }
        boff = hand_alloc(q, hi, len);
        if (boff == 0) {
            hand_give_back(q, hi);
            return MP_ENOMEM;
        }
        char *at = heap_ptr(q, boff);
        if (head_len > 0) {
            memcpy(at, head, head_len);
        }
        if (tail_len > 0) {
            memcpy(at + head_len, tail, tail_len);
        }
    }
    /* A JoinableQueue counts the task when the message is published or
     * linked (cell_publish, ovf_put), in one step with it. */
    test_hook(MP__QUEUE_HOOK_PUT_START);
    r = mp__queue_put_wait(q, buf, len, boff, &hi, &w);
    if (hi != NO_HAND) {
        if (r != 0) {
            mp__heap_free_from(q->heap, &hand_at(q, hi)->block);
        }
        hand_give_back(q, hi);
    }
    return r;
}

int
mp_queue_put_nowait(mp_queue_t *q, const void *buf, size_t len)
{
    return mp_queue_put(q, buf, len, MP_NO_WAIT);
}
