/* SPDX-License-Identifier: MIT */
/* recover.c - what keeps a queue whole when a process is killed inside
 * it: the overflow lock, whose holder journals each step that changes
 * what the lock guards together with a cell or a hand, and whose next
 * locker finishes or undoes a dead holder's step (ovf_journal_repair);
 * the hands, which name the heap blocks a put holds that no cell or node
 * names yet, and their cleaning (mp__queue_reclaim); and the repair of a
 * cell a dead producer left WRITING or a dead consumer left READING. */
#include "queue_private.h"

static void ovf_journal_repair(mp_queue_t *q, bool listed);

/* Takes the overflow lock, which guards the overflow list, the
 * JoinableQueue count's changes and the cleaning of dead hands. After a
 * holder died it rebuilds tail and count by walking from head (every
 * update is one store, so head's chain is valid), then finishes or undoes
 * the step the holder journalled (ovf_journal_repair), so that the count,
 * the cells, the list and the hands agree again. */
void
mp__queue_ovf_lock(mp_queue_t *q)
{
    mp__qhdr_t *h = q->h;
    if (mp__mutex_lock(&h->ovf_lock, MP__NO_DEADLINE) != MP_EOWNERDEAD) {
        return;
    }
    uint64_t jnode = atomic_load(&h->jr_node);
    bool listed = false;
    uint64_t off = atomic_load(&h->ovf_head);
    uint64_t last = 0;
    int64_t n = 0;
    while (off != 0) {
        listed = listed || off == jnode;
        last = off;
        n++;
        off = ((mp__qnode_t *)heap_ptr(q, off))->next;
    }
    atomic_store(&h->ovf_tail, last);
    atomic_store(&h->ovf_count, n);
    ovf_journal_repair(q, listed);
    mp__mutex_consistent(&h->ovf_lock);
}

/* Discards the cell a dead producer left in WRITING with state word w (it
 * becomes free for its next lap, its message dropped) and helps head and
 * tail past it (it may have died before moving tail; once the cell is free
 * for the next lap a stale tail would read as an empty ring). Frees no
 * block: a hand, or the overflow list, owns the blocks of a message not
 * published. Called with ovf_lock held, so that no journalled step of the
 * dead producer is pending for this cell. */
static void
discard_cell(mp_queue_t *q, uint64_t w)
{
    uint64_t pos = word_pos(q, w);
    mp__qcell_t *c = &q->cells[pos & q->mask];
    if (atomic_load(&c->state) != w) {
        return;
    }
    /* Nobody else changes a WRITING cell of a dead producer under the
     * lock, so its holder record may go first. */
    cell_unhold(c);
    atomic_store_explicit(&c->len, 0, memory_order_relaxed);
    uint64_t s = w;
    if (!atomic_compare_exchange_strong(
            &c->state, &s, st_make(pos + q->mask + 1, MP__QS_FREE, 0))) {
        return;
    }
    help_past(&q->h->head, pos);
    help_past(&q->h->tail, pos);
    wake_producers(q);
}

/* Cleans hand i of a dead process (ovf_lock held): a cell it claimed but
 * did not publish is discarded; the blocks no cell or list took are freed
 * (through the hand's words, so a cleaner killed midway never frees one
 * twice); the hand is free again. */
static void
hand_clean(mp_queue_t *q, uint32_t i)
{
    mp__qhand_t *hd = hand_at(q, i);
    uint64_t w = atomic_load(&hd->claim);
    if (w != 0) {
        if (atomic_load(&word_cell(q, w)->state) == w) {
            /* Not published: the block is the hand's. Forget the claim
             * first, so a cleaner after us still frees the block. */
            atomic_store(&hd->claim, 0);
            QJ_STEP();
            discard_cell(q, w);
        } else {
            /* Published: the message owns the block now. */
            atomic_store(&hd->block, 0);
            QJ_STEP();
            atomic_store(&hd->claim, 0);
        }
    }
    uint64_t noff = atomic_load(&hd->node);
    if (noff != 0) {
        /* A taker's popped node still names its data block; a putter's
         * unlinked node names none (ovf_put sets it under the lock). */
        mp__heap_free_from(q->heap, &((mp__qnode_t *)heap_ptr(q, noff))->off);
        mp__heap_free_from(q->heap, &hd->node);
    }
    mp__heap_free_from(q->heap, &hd->block);
    atomic_store_explicit(&hd->owner, 0, memory_order_release);
}

/* The hand of a dead process that claimed the cell of state word w, or
 * NO_HAND (ovf_lock held). */
static uint32_t
hand_of_claim(const mp_queue_t *q, uint64_t w)
{
    for (uint32_t i = 0; i < MP__QUEUE_ALL_HANDS; i++) {
        const mp__qhand_t *hd = hand_at(q, i);
        if (atomic_load(&hd->owner) != 0 && atomic_load(&hd->claim) == w) {
            return i;
        }
    }
    return NO_HAND;
}

unsigned
mp__queue_reclaim(mp_queue_t *q)
{
    unsigned cleaned = 0;
    for (uint32_t i = 0; i < MP__QUEUE_ALL_HANDS; i++) {
        mp__qhand_t *hd = hand_at(q, i);
        uint64_t who = atomic_load(&hd->owner);
        if (who == 0 || mp__plat_ident_alive(who)) {
            continue;
        }
        mp__queue_ovf_lock(q);
        if (atomic_load(&hd->owner) == who) { /* nobody cleaned it since */
            hand_clean(q, i);
            cleaned++;
        }
        mp__mutex_unlock(&q->h->ovf_lock);
    }
    return cleaned;
}

bool
mp__queue_holder_alive(const mp_queue_t *q, const probe_t *p)
{
    const mp__qcell_t *c = &q->cells[p->pos & q->mask];
    uint64_t pid = (uint64_t)st_pid(p->state);
    uint64_t who = atomic_load_explicit((_Atomic uint64_t *)&c->holder,
                                        memory_order_relaxed);
    if (((uint64_t)mp__plat_ident_pid(who) & MP__QS_PID_MASK) != pid) {
        who = pid;
    }
    return mp__plat_ident_alive(who);
}

void
mp__queue_repair_reader(mp_queue_t *q, const probe_t *p)
{
    mp__qcell_t *c = &q->cells[p->pos & q->mask];
    uint64_t s = p->state;
    uint64_t rpos = p->pos + (uint64_t)st_dist(s, p->pos);
    /* Cleared first: were the state to move on meanwhile, a live holder
     * would only be checked by its pid. */
    cell_unhold(c);
    if (!atomic_compare_exchange_strong(
            &c->state, &s, st_make(rpos, MP__QS_READING, my_pid()))) {
        return;
    }
    cell_hold(c);
    mp__heap_free_from(q->heap, &c->off);
    cell_unhold(c);
    atomic_store_explicit(&c->state, st_make(p->pos, MP__QS_FREE, 0),
                          memory_order_release);
    wake_producers(q);
}

/* Publishes the cell a dead ovf_lock holder claimed with state word w and
 * filled (its message is whole), if it is still unpublished. */
static void
publish_claimed(mp_queue_t *q, uint64_t w)
{
    mp__qcell_t *c = word_cell(q, w);
    if (atomic_load(&c->state) == w) {
        cell_unhold(c);
        atomic_store_explicit(&c->state,
                              st_make(word_pos(q, w), MP__QS_FULL, 0),
                              memory_order_release);
        wake_consumers(q);
    }
}

/* Finishes or undoes the journalled step of an ovf_lock holder that died
 * (called by the locker that took the lock over, after the list walk;
 * listed: the step's node is on the list). Nothing the lock guards changed
 * since the holder died, and the cells it names could change only by
 * their consumers once published. Idempotent, should this locker die too. */
static void
ovf_journal_repair(mp_queue_t *q, bool listed)
{
    mp__qhdr_t *h = q->h;
    bool joinable = (h->flags & MP__QUEUE_FLAG_JOINABLE) != 0;
    uint64_t w = h->jr_claim;
    switch (h->jr_kind) {
    case QJ_PUT: /* the message is whole: complete the put */
        publish_claimed(q, w);
        atomic_store(&h->unfinished, h->jr_old + 1);
        break;
    case QJ_OVF_PUT:
        if (listed) { /* linked: the put completed, the list owns it all */
            mp__qhand_t *hd = hand_at(q, (uint32_t)h->jr_hand);
            atomic_store(&hd->block, 0);
            atomic_store(&hd->node, 0);
            atomic_store(&h->unfinished, h->jr_old + (joinable ? 1 : 0));
        } else { /* not linked: it never happened; the hand frees both */
            mp__qnode_t *n = heap_ptr(q, atomic_load(&h->jr_node));
            n->off = 0;
            atomic_store(&h->unfinished, h->jr_old);
            if (joinable && h->jr_old == 0) {
                wake_joiners(h);
            }
        }
        break;
    case QJ_REFILL:
        if (atomic_load(&h->jr_node) == 0) {
            break; /* moved and freed */
        }
        if (listed) { /* still queued on the list: drop the cell's copy */
            discard_cell(q, w);
            break;
        }
        publish_claimed(q, w);
        mp__heap_free_from(q->heap, &h->jr_node);
        break;
    case QJ_TAKE:
        if (!listed) { /* popped: the taker's hand owns the node */
            atomic_store(&hand_at(q, (uint32_t)h->jr_hand)->node,
                         atomic_load(&h->jr_node));
        }
        break;
    default:
        break;
    }
    h->jr_kind = QJ_NONE;
}

void
mp__queue_repair_writer(mp_queue_t *q, const probe_t *p)
{
    mp__queue_ovf_lock(q);
    uint32_t i = hand_of_claim(q, p->state);
    if (i != NO_HAND) {
        hand_clean(q, i);
    } else {
        discard_cell(q, p->state);
    }
    mp__mutex_unlock(&q->h->ovf_lock);
}
