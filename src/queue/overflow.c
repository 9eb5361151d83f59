/* SPDX-License-Identifier: MIT */
/* overflow.c - the overflow list: a FIFO of heap nodes under the
 * overflow lock that an unbounded queue spills to while its ring is full.
 * A put links a node (mp__queue_ovf_put), a get takes the oldest once the
 * ring is empty (mp__queue_ovf_take), and a put that finds the ring with
 * room again moves the list's messages back into it in order
 * (mp__queue_ovf_refill). Each change is a journalled step (recover.c). */
#include "queue_private.h"

int
mp__queue_ovf_put(mp_queue_t *q, const void *buf, size_t len, uint64_t boff,
                  uint32_t hi)
{
    mp__qhdr_t *h = q->h;
    mp__qhand_t *hd = hand_at(q, hi);
    size_t inl = boff != 0 ? 0 : len;
    size_t nsize = sizeof(mp__qnode_t) + inl;
    uint64_t noff = mp__heap_alloc_to(q->heap, nsize, &hd->node);
    if (noff == 0 && mp__queue_reclaim(q) != 0) {
        noff = mp__heap_alloc_to(q->heap, nsize, &hd->node);
    }
    if (noff == 0) {
        return MP_ENOMEM;
    }
    mp__qnode_t *n = heap_ptr(q, noff);
    n->next = 0;
    n->len = len;
    n->off = 0; /* the hand owns the block until the node is linked */
    if (inl != 0) {
        memcpy(n + 1, buf, inl);
    }
    mp__queue_ovf_lock(q);
    journal_begin(h, QJ_OVF_PUT, 0, noff, hi);
    if (h->flags & MP__QUEUE_FLAG_JOINABLE) {
        atomic_store(&h->unfinished, h->jr_old + 1);
    }
    test_hook(MP__QUEUE_HOOK_OVF_COUNTED);
    n->off = boff;
    QJ_STEP();
    /* Link first, then move tail: a crash in between is repaired by the
     * walk in ovf_lock. */
    uint64_t t = atomic_load(&h->ovf_tail);
    if (t != 0) {
        ((mp__qnode_t *)heap_ptr(q, t))->next = noff;
    } else {
        atomic_store(&h->ovf_head, noff);
    }
    test_hook(MP__QUEUE_HOOK_OVF_LINKED);
    atomic_store(&h->ovf_tail, noff);
    atomic_fetch_add(&h->ovf_count, 1);
    atomic_store(&hd->block, 0); /* the list owns them now */
    atomic_store(&hd->node, 0);
    journal_end(h);
    mp__mutex_unlock(&h->ovf_lock);
    wake_consumers(q);
    return 0;
}

ssize_t
mp__queue_ovf_take(mp_queue_t *q, sink_t *sink, const waiter_t *w)
{
    mp__qhdr_t *h = q->h;
    if (atomic_load(&h->ovf_head) == 0) {
        return Q_EMPTY;
    }
    uint32_t hi;
    if (hand_take(q, w, true, &hi) != 0) {
        return MP_EEMPTY;
    }
    mp__qhand_t *hd = hand_at(q, hi);
    mp__queue_ovf_lock(q);
    uint64_t noff = atomic_load(&h->ovf_head);
    ssize_t r;
    /* Under the lock no put can link a node, so a message put to the ring
     * before the head node was linked would show here as head != tail. */
    if (atomic_load(&h->tail) != atomic_load(&h->head)) {
        r = Q_RETRY;
    } else if (noff == 0) {
        r = Q_EMPTY;
    } else {
        mp__qnode_t *n = heap_ptr(q, noff);
        r = sink_reserve(sink, n->len);
        if (r == 0) {
            journal_begin(h, QJ_TAKE, 0, noff, hi);
            atomic_store(&h->ovf_head, n->next);
            test_hook(MP__QUEUE_HOOK_OVF_POPPED);
            if (n->next == 0) {
                atomic_store(&h->ovf_tail, 0);
            }
            atomic_fetch_sub(&h->ovf_count, 1);
            atomic_fetch_add_explicit(&h->ovf_pops, 1, memory_order_relaxed);
            atomic_store(&hd->node, noff);
            journal_end(h);
        }
    }
    mp__mutex_unlock(&h->ovf_lock);
    if (r != 0) {
        hand_give_back(q, hi);
        return r;
    }
    mp__qnode_t *n = heap_ptr(q, noff);
    size_t len = n->len;
    if (n->off != 0 && sink->hold) {
        sink_hold_block(q, sink, &n->off, len);
    } else if (n->off != 0) {
        heap_copy_out(q, sink, n->off, len);
        mp__heap_free_from(q->heap, &n->off);
    } else {
        sink_fill(sink, n + 1, len);
    }
    mp__heap_free_from(q->heap, &hd->node);
    hand_give_back(q, hi);
    wake_producers(q);
    return (ssize_t)len;
}

/* Claims the free ring cell at tail for a put (state WRITING, tail moved
 * past it). Returns the cell and its position in *pos, or NULL when the
 * ring has no free cell (unbounded queues only: no maxsize check). */
static mp__qcell_t *
ring_claim(mp_queue_t *q, uint64_t *pos_out)
{
    mp__qhdr_t *h = q->h;
    for (;;) {
        uint64_t pos = atomic_load_explicit(&h->tail, memory_order_acquire);
        mp__qcell_t *c = &q->cells[pos & q->mask];
        uint64_t s = atomic_load_explicit(&c->state, memory_order_acquire);
        int64_t d = st_dist(s, pos);
        if (d < 0) {
            return NULL;
        }
        if (d == 0 && st_phase(s) == MP__QS_FREE) {
            if (atomic_compare_exchange_strong(
                    &c->state, &s, st_make(pos, MP__QS_WRITING, my_pid()))) {
                cell_hold(c);
                help_past(&h->tail, pos);
                *pos_out = pos;
                return c;
            }
        } else {
            help_past(&h->tail, pos); /* as in ring_try_put */
        }
    }
}

/* Moves overflow messages back into the ring, oldest first, while it has
 * free cells, so that an overflow a stalled consumer caused does not keep
 * every later put on the slow list path. Returns true when the list is
 * empty afterwards (the caller may then put to the ring). Takes ovf_lock.
 *
 * Ordering: each node is given a ring cell (claimed, so at a position
 * after every message already in the ring) before it leaves the list, and
 * puts go to the ring only once the list is empty, so every message a
 * producer put after a moved one gets a later position. Consumers take
 * from the list only under the lock with the ring empty, so they cannot
 * take a node while it is moved.
 *
 * Crash safety: each move is a journalled step (QJ_REFILL) that starts
 * once the node's data is in the claimed cell. Killed before it, the cell
 * is discarded by the consumer that repairs it and the node stays queued
 * (the lock's owner-died walk repairs the list). Killed inside it, the
 * next locker either discards the cell (the node is still listed) or
 * publishes it and frees the node: the message is neither lost nor doubled,
 * and no block leaks. Its task was counted when the node was linked. */
bool
mp__queue_ovf_refill(mp_queue_t *q)
{
    mp__qhdr_t *h = q->h;
    bool moved = false;
    mp__queue_ovf_lock(q);
    uint64_t noff;
    while ((noff = atomic_load(&h->ovf_head)) != 0) {
        uint64_t pos;
        mp__qcell_t *c = ring_claim(q, &pos);
        if (c == NULL) {
            break;
        }
        mp__qnode_t *n = heap_ptr(q, noff);
        atomic_store_explicit(&c->len, n->len, memory_order_relaxed);
        atomic_store_explicit(&c->off, n->off, memory_order_relaxed);
        if (n->off == 0 && n->len != 0) {
            memcpy(c->data, n + 1, n->len); /* inline nodes fit a cell */
        }
        test_hook(MP__QUEUE_HOOK_PUT_CLAIMED);
        journal_begin(h, QJ_REFILL, st_make(pos, MP__QS_WRITING, my_pid()),
                      noff, NO_HAND);
        atomic_store(&h->ovf_head, n->next);
        if (n->next == 0) {
            atomic_store(&h->ovf_tail, 0);
        }
        test_hook(MP__QUEUE_HOOK_REFILL_UNLINKED);
        atomic_fetch_sub(&h->ovf_count, 1);
        atomic_fetch_add_explicit(&h->ovf_pops, 1, memory_order_relaxed);
        cell_unhold(c);
        atomic_store_explicit(&c->state, st_make(pos, MP__QS_FULL, 0),
                              memory_order_release);
        QJ_STEP();
        mp__heap_free_from(q->heap, &h->jr_node);
        journal_end(h);
        moved = true;
    }
    mp__mutex_unlock(&h->ovf_lock);
    if (moved) {
        wake_consumers(q);
    }
    return noff == 0;
}
