/* SPDX-License-Identifier: MIT */
/* zerocopy.c - puts and gets without a copy: a producer borrows a slot (a
 * heap block held in a put hand of the upper half, as mp_queue_put holds
 * the block it copies into) with mp_queue_put_begin, writes the message
 * there, and mp_queue_put_commit publishes it through put.c's loop, or
 * mp_queue_put_abort frees it; a consumer's mp_queue_get_begin runs
 * get.c's loop with a sink that holds the message in place (its block
 * moves from the cell or overflow node to a hold hand, and the cell is
 * freed at once), and mp_queue_get_release frees it. The hands make every
 * slot crash-safe: a dead process's hand is cleaned (recover.c's
 * hand_clean) by the next put or get that needs room or a hand. The
 * handle records which slots it handed out (zc_slot_t), so that a
 * pointer given back twice, or one it never gave, is refused. */
#include "queue_private.h"

/* The hand of this handle's record s among n records starting at hand
 * first (the record index plus first). */
static uint32_t
slot_hand(const zc_slot_t *base, const zc_slot_t *s, uint32_t first)
{
    return first + (uint32_t)(s - base);
}

/* Claims this handle's record among slots[0 .. n-1] that holds ptr (the
 * caller now gives it back: the record reads 0 from here on) and checks
 * that its hand (slot index + first) is still this process's and, when
 * block is set, names ptr's block. Returns the record, or NULL: ptr was
 * not handed out by this handle, was given back already, or the record is
 * a forked child's copy of its parent's (the hand names the parent). */
static zc_slot_t *
slot_claim(mp_queue_t *q, zc_slot_t *slots, uint32_t n, uint32_t first,
           const void *ptr, bool block)
{
    uintptr_t want = (uintptr_t)ptr;
    for (uint32_t i = 0; i < n; i++) {
        uintptr_t p = want;
        if (atomic_load_explicit(&slots[i].ptr, memory_order_relaxed) != p ||
            !atomic_compare_exchange_strong(&slots[i].ptr, &p, 0)) {
            continue;
        }
        const mp__qhand_t *hd = hand_at(q, first + i);
        if (atomic_load(&hd->owner) != mp__plat_self_ident()) {
            return NULL; /* a forked child's copy of the record */
        }
        if (block && atomic_load(&hd->block) !=
                         (uint64_t)((char *)ptr - (char *)q->heap)) {
            return NULL;
        }
        return &slots[i];
    }
    return NULL;
}

/* Frees what hand i holds for a zero-copy slot (its block, if any) and
 * gives the hand back. */
static void
slot_free(mp_queue_t *q, uint32_t i)
{
    mp__heap_free_from(q->heap, &hand_at(q, i)->block);
    hand_give_back(q, i);
}

int
mp_queue_put_begin(mp_queue_t *q, size_t size, void **out,
                   mp_duration_t timeout)
{
    if (out != NULL) {
        *out = NULL;
    }
    if (q == NULL || out == NULL || size == 0) {
        return MP_EINVAL;
    }
    waiter_t w;
    int r = waiter_start(q, timeout, &w);
    if (r != 0) {
        return r;
    }
    if (size > q->h->capacity) {
        return MP_EMSGSIZE;
    }
    if (size >= MP__QUEUE_LARGE_MIN) {
        mp__queue_large_pace(q, &w);
    }
    uint32_t hi;
    if (hand_take_in(q, &w, MP__QUEUE_BORROW_FIRST, MP__QUEUE_BORROW_HANDS,
                     &hi) != 0) {
        return MP_EBUSY;
    }
    uint64_t boff = hand_alloc(q, hi, size);
    if (boff == 0) {
        hand_give_back(q, hi);
        return MP_ENOMEM;
    }
    zc_slot_t *s = &q->borrowed[hi - MP__QUEUE_BORROW_FIRST];
    s->len = size;
    atomic_store(&s->ptr, (uintptr_t)heap_ptr(q, boff));
    *out = heap_ptr(q, boff);
    return 0;
}

int
mp_queue_put_commit(mp_queue_t *q, void *ptr, size_t len, mp_duration_t timeout)
{
    if (q == NULL || ptr == NULL) {
        return MP_EINVAL;
    }
    waiter_t w;
    int r = waiter_start(q, timeout, &w);
    if (r != 0) {
        return r;
    }
    zc_slot_t *s = slot_claim(q, q->borrowed, MP__QUEUE_BORROW_HANDS,
                              MP__QUEUE_BORROW_FIRST, ptr, true);
    if (s == NULL) {
        return MP_EINVAL;
    }
    uint32_t hi = slot_hand(q->borrowed, s, MP__QUEUE_BORROW_FIRST);
    if (len > s->len) {
        atomic_store(&s->ptr, (uintptr_t)ptr);
        return MP_EINVAL;
    }
    uint64_t boff = atomic_load(&hand_at(q, hi)->block);
    r = mp__queue_put_wait(q, NULL, len, boff, &hi, &w);
    if (r != 0) {
        atomic_store(&s->ptr, (uintptr_t)ptr); /* still borrowed */
        return r;
    }
    hand_give_back(q, hi);
    return 0;
}

int
mp_queue_put_abort(mp_queue_t *q, void *ptr)
{
    if (q == NULL || ptr == NULL) {
        return MP_EINVAL;
    }
    zc_slot_t *s = slot_claim(q, q->borrowed, MP__QUEUE_BORROW_HANDS,
                              MP__QUEUE_BORROW_FIRST, ptr, true);
    if (s == NULL) {
        return MP_EINVAL;
    }
    slot_free(q, slot_hand(q->borrowed, s, MP__QUEUE_BORROW_FIRST));
    return 0;
}

ssize_t
mp_queue_get_begin(mp_queue_t *q, void **out, mp_duration_t timeout)
{
    if (out != NULL) {
        *out = NULL;
    }
    if (q == NULL || out == NULL) {
        return MP_EINVAL;
    }
    waiter_t w;
    int err = waiter_start(q, timeout, &w);
    if (err != 0) {
        return err;
    }
    uint32_t hi;
    if (hand_take_in(q, &w, MP__QUEUE_HANDS, MP__QUEUE_HOLD_HANDS, &hi) != 0) {
        return MP_EBUSY;
    }
    uint32_t k = hi - MP__QUEUE_HANDS;
    sink_t sink = {q->held_inline[k], MP__QUEUE_INLINE_MAX, false, true, hi};
    ssize_t r = mp__queue_get_wait(q, &sink, &w);
    if (r < 0) {
        hand_give_back(q, hi);
        return r;
    }
    q->held[k].len = (size_t)r;
    atomic_store(&q->held[k].ptr, (uintptr_t)sink.buf);
    *out = sink.buf;
    return r;
}

int
mp_queue_get_release(mp_queue_t *q, void *ptr)
{
    if (q == NULL || ptr == NULL) {
        return MP_EINVAL;
    }
    zc_slot_t *s = slot_claim(q, q->held, MP__QUEUE_HOLD_HANDS, MP__QUEUE_HANDS,
                              ptr, false);
    if (s == NULL) {
        return MP_EINVAL;
    }
    slot_free(q, slot_hand(q->held, s, MP__QUEUE_HANDS));
    return 0;
}

void
mp__queue_zc_drop(mp_queue_t *q)
{
    for (uint32_t i = 0; i < MP__QUEUE_BORROW_HANDS; i++) {
        void *p = (void *)atomic_load(&q->borrowed[i].ptr);
        if (p != NULL) {
            (void)mp_queue_put_abort(q, p);
        }
    }
    for (uint32_t i = 0; i < MP__QUEUE_HOLD_HANDS; i++) {
        void *p = (void *)atomic_load(&q->held[i].ptr);
        if (p != NULL) {
            (void)mp_queue_get_release(q, p);
        }
    }
}
