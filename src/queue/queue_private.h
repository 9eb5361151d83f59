/* SPDX-License-Identifier: MIT */
/* queue_private.h - what the queue's own files share (src/queue/ only;
 * other areas see queue_internal.h): the handle, the constants more than
 * one file uses, the results of one attempt on the ring, and every helper
 * of the put and get fast paths as a static inline function - cell state
 * words, wake-ups, hands, sinks - so that the split into files adds no
 * call to those paths. Below them, the functions one queue file offers
 * the others, grouped by the file that defines them. The files:
 *   queue.c     the design, sizes, close, task_done and join;
 *   create.c    making, attaching, naming and destroying a queue;
 *   put.c       the put path, get.c the get path;
 *   overflow.c  the overflow list an unbounded queue spills to;
 *   wait.c      spinning and sleeping for room or for a message;
 *   recover.c   the overflow lock and its journal, hands, and the repair
 *               of what a killed process held;
 *   wakeup.c    the waker mp_wait_any polls;
 *   zerocopy.c  borrowing a slot to put into, and holding a message to
 *               read in place (above put.c and get.c, whose loops it
 *               runs). */
#ifndef MP_QUEUE_PRIVATE_H
#define MP_QUEUE_PRIVATE_H

#include "queue_internal.h"

#include <string.h>

/* Spin iterations of a blocking call before it yields (wait.c), and
 * before it looks for a dead peer (spun_out). */
#define SPIN_PAUSE 512
/* The steps an ovf_lock holder journals (the header's jr_kind; see
 * ovf_journal_repair in recover.c). */
#define QJ_NONE 0u
#define QJ_PUT 1u     /* cell_publish: counting a task, publishing its cell */
#define QJ_OVF_PUT 2u /* ovf_put: counting a task, linking its node */
#define QJ_REFILL 3u  /* ovf_refill: moving a node into a claimed cell */
#define QJ_TAKE 4u    /* ovf_take: popping a node into the taker's hand */
/* No hand (a put of an inline message that has not spilled). */
#define NO_HAND UINT32_MAX
/* Keeps the compiler from moving a journalled step's stores past the next
 * step's: a holder killed between two steps must have made the first. */
#define QJ_STEP() atomic_signal_fence(memory_order_seq_cst)

/* A get of a message of at least PREFAULT_MIN bytes maps its pages before
 * it copies them (heap_copy_out), and a put before it writes them
 * (hand_alloc), unless this handle did already in this process: it
 * remembers the last MAPPED_MEMO blocks (block_map). */
#define PREFAULT_MIN MP__QUEUE_LARGE_MIN
#define MAPPED_MEMO 16

/* Results of one attempt on the ring (all below any error code). */
#define Q_FULL (-100001)     /* a bounded queue holds maxsize messages */
#define Q_RINGFULL (-100002) /* the ring has no free cell */
#define Q_BUSY (-100003)     /* a peer holds the cell we need */
#define Q_EMPTY (-100004)    /* nothing to take */
#define Q_RETRY (-100005)    /* the state moved: try again */

/* This handle's record of a zero-copy slot: the pointer it handed out
 * (0: none) and the length (a borrowed slot's size, a held message's
 * length). Slot i belongs to the hand that the call which filled it
 * took, so only one thread writes it until the pointer is given back,
 * which a compare-and-swap of ptr to 0 decides. */
typedef struct zc_slot {
    _Atomic uintptr_t ptr;
    size_t len;
} zc_slot_t;

struct mp_queue {
    mp_shm_t *shm;  /* the named segment; NULL: a private queue's mapping */
    char *base;     /* the segment's mapping */
    size_t map_len; /* its length (private queues: what to munmap) */
    mp__qhdr_t *h;
    mp__qcell_t *cells;
    mp__heap_t *heap;
    uint64_t mask;       /* ncells - 1 */
    bool exact;          /* bounded by the ring positions (maxsize <= ring) */
    bool closed;         /* this handle only */
    bool step_aside;     /* a lost claim yields the CPU (few CPUs) */
    pid_t creator;       /* the creating process (removes the name), or 0 */
    _Atomic int poll_fd; /* the wake-up waker (mp_wait_any), or -1: a
                          * named queue's FIFO, a private queue's eventfd */
    /* A put through this handle waited FULL_SLEEP_NS in vain: puts do not
     * sleep for a full ring (full_off) or pace large messages (pace_off)
     * again until one finds the ring with room (no wait needed). */
    _Atomic bool full_off;
    _Atomic bool pace_off;
    /* Whether this handle's pause spins (wait.c) pay: they do not where
     * the peer shares this CPU and cannot run while we spin. */
    mp__spin_learn_t learn;
    /* Zero-copy slots through this handle (zerocopy.c): borrowed ones,
     * indexed by their hand - MP__QUEUE_BORROW_FIRST, and held messages,
     * by their hand - MP__QUEUE_HANDS. A held message that was inline in
     * its cell (at most MP__QUEUE_INLINE_MAX bytes) is copied into
     * held_inline[i], since its cell is freed at once. Process memory: a
     * child forked while a slot is out has a copy of the record, but the
     * hand names its parent, so the child cannot give it back. */
    zc_slot_t borrowed[MP__QUEUE_BORROW_HANDS];
    zc_slot_t held[MP__QUEUE_HOLD_HANDS];
    /* Large heap blocks whose pages this process has mapped through this
     * handle (block_map): offset | 1 when mapped for writing, and the bytes
     * mapped; mapped_pid is the process they were mapped in. */
    pid_t mapped_pid;
    _Atomic unsigned mapped_next;
    _Atomic uint64_t mapped_off[MAPPED_MEMO];
    _Atomic uint64_t mapped_len[MAPPED_MEMO];
    alignas(16) unsigned char held_inline[MP__QUEUE_HOLD_HANDS]
                                         [MP__QUEUE_INLINE_MAX];
};

/* Where a get copies the message: the caller's buffer, or a fresh one.
 * A get in place (mp_queue_get_begin: hold set) copies only a message
 * that was inline in its cell, into buf (MP__QUEUE_INLINE_MAX bytes);
 * a message in a heap block moves to hand hand (sink_hold_block), and
 * buf then points at it. */
typedef struct sink {
    void *buf;
    size_t cap;
    bool alloc;
    bool hold;
    uint32_t hand;
} sink_t;

/* What an attempt found blocking it: the cell's position and state. */
typedef struct probe {
    uint64_t pos;
    uint64_t state;
} probe_t;

/* Spin/yield/sleep progress of one blocking call. */
typedef struct waiter {
    unsigned spins;
    int64_t deadline;
    bool nowait;
    uint64_t seen;   /* drain_wait: consumer progress last seen */
    unsigned idle;   /* drain_wait: pauses without progress */
    unsigned budget; /* drain_wait: pauses spent */
    int64_t give_up; /* full_sleep: when to spill; 0: not sleeping yet */
} waiter_t;

/* --- cell state words --------------------------------------------------- */

/* Builds a state word. */
static inline uint64_t
st_make(uint64_t pos, unsigned phase, uint64_t pid)
{
    return ((pos & MP__QS_POS_MASK) << 24) | ((uint64_t)phase << 22) |
           (pid & MP__QS_PID_MASK);
}

/* The phase of a state word. */
static inline unsigned
st_phase(uint64_t s)
{
    return (unsigned)((s >> 22) & 3u);
}

/* The pid recorded in a state word. */
static inline pid_t
st_pid(uint64_t s)
{
    return (pid_t)(s & MP__QS_PID_MASK);
}

/* The signed distance from pos to the position in state s (40-bit ring
 * arithmetic: 0 = this lap, -ncells = the previous lap). */
static inline int64_t
st_dist(uint64_t s, uint64_t pos)
{
    uint64_t d = ((s >> 24) - pos) & MP__QS_POS_MASK;
    return (int64_t)(d << 24) >> 24;
}

/* This process's pid as cells record it. */
static inline uint64_t
my_pid(void)
{
    return (uint64_t)mp__plat_ident_pid(mp__plat_self_ident()) &
           MP__QS_PID_MASK;
}

/* Records the calling process as the holder of cell c, which it has just
 * claimed (see mp__qcell_t's holder). */
static inline void
cell_hold(mp__qcell_t *c)
{
    atomic_store_explicit(&c->holder, mp__plat_self_ident(),
                          memory_order_relaxed);
}

/* Forgets cell c's holder; done before the store or compare-and-swap that
 * hands the cell on, so that whoever claims it next finds 0. */
static inline void
cell_unhold(mp__qcell_t *c)
{
    atomic_store_explicit(&c->holder, 0, memory_order_relaxed);
}

/* A pause instruction for spin loops. */
static inline void
cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Calls the test hook, if a test set one. */
static inline void
test_hook(int point)
{
    void (*fn)(int) = mp__queue_test_hook;
    if (fn != NULL) {
        fn(point);
    }
}

/* Pointer to heap offset off. */
static inline void *
heap_ptr(const mp_queue_t *q, uint64_t off)
{
    return (char *)q->heap + off;
}

/* --- positions and counts ----------------------------------------------- */

/* Signed number of ring positions claimed for put but not for get. */
static inline int64_t
ring_count(const mp__qhdr_t *h)
{
    uint64_t head = atomic_load(&h->head);
    uint64_t tail = atomic_load(&h->tail);
    return (int64_t)(tail - head);
}

/* The messages in the queue now (ring and overflow list): mp_queue_qsize
 * without its argument check. */
static inline int64_t
queue_count(const mp_queue_t *q)
{
    int64_t n = ring_count(q->h);
    if (n < 0) {
        n = 0;
    }
    int64_t o = atomic_load(&q->h->ovf_count);
    if (o > 0) {
        n += o;
    }
    return n;
}

/* 1 when the ring cell at tail looks free (a cheap hint, no claim). */
static inline bool
ring_has_room(const mp_queue_t *q)
{
    uint64_t pos = atomic_load_explicit(&q->h->tail, memory_order_relaxed);
    uint64_t s = atomic_load_explicit(&q->cells[pos & q->mask].state,
                                      memory_order_relaxed);
    return st_dist(s, pos) >= 0;
}

/* Helps move a position (head or tail) past pos: a no-op when another
 * process moved it already. */
static inline void
help_past(_Atomic uint64_t *position, uint64_t pos)
{
    uint64_t exp = pos;
    atomic_compare_exchange_strong(position, &exp, pos + 1);
}

/* The position of the cell whose state word is w (its lap position is 40
 * bits; head gives the rest). */
static inline uint64_t
word_pos(const mp_queue_t *q, uint64_t w)
{
    uint64_t head = atomic_load(&q->h->head);
    return head + (uint64_t)st_dist(w, head);
}

/* The cell whose state word is, or was, w. */
static inline mp__qcell_t *
word_cell(const mp_queue_t *q, uint64_t w)
{
    return &q->cells[word_pos(q, w) & q->mask];
}

/* How many messages consumers have taken, ever (ring and list). */
static inline uint64_t
cons_progress(const mp__qhdr_t *h)
{
    return atomic_load_explicit(&h->head, memory_order_relaxed) +
           atomic_load_explicit(&h->ovf_pops, memory_order_relaxed);
}

/* --- waking ------------------------------------------------------------- */

/* mp__queue_signal signals the queue's waker (opened on first use), so
 * that mp_wait_any callers polling it wake up. A waker that cannot be
 * opened (the queue was removed) has no waiter that could need it.
 * Defined in wakeup.c. */
void mp__queue_signal(mp_queue_t *q);

/* Wakes one sleeper on seq if one may sleep; called after the change the
 * sleeper waits for has been stored. */
static inline void
wake_one(_Atomic uint32_t *seq, _Atomic uint32_t *waiters)
{
    /* Pairs with the sleeper's increment of waiters before its re-check:
     * either it sees our change or we see it counted. */
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(waiters, memory_order_relaxed) != 0) {
        atomic_fetch_add(seq, 1);
        mp__plat_futex_wake(seq, 1);
    }
}

/* Wakes a consumer that may sleep, and mp_wait_any callers polling the
 * queue; called after a message has been published. */
static inline void
wake_consumers(mp_queue_t *q)
{
    wake_one(&q->h->cons_seq, &q->h->cons_waiters);
    /* wake_one's fence orders the publication before this load. */
    if (atomic_load_explicit(&q->h->poll_waiters, memory_order_relaxed) != 0) {
        mp__queue_signal(q);
    }
}

/* Wakes a producer that may sleep; called after a message was taken. A
 * put sleeping for a full ring (full_sleep) is woken only once the ring is
 * half empty: woken at every message, it would cost each get a futex
 * system call until the woken producer gets a CPU. */
static inline void
wake_producers(mp_queue_t *q)
{
    mp__qhdr_t *h = q->h;
    wake_one(&h->prod_seq, &h->prod_waiters);
    /* wake_one's fence orders our take before this load; pairs with the
     * sleeper's store of drain_wanted before its re-check of the ring. */
    if (atomic_load_explicit(&h->drain_wanted, memory_order_relaxed) != 0 &&
        (uint64_t)ring_count(h) <= (q->mask + 1) / 2 &&
        atomic_exchange(&h->drain_wanted, 0) != 0) {
        atomic_fetch_add(&h->prod_seq, 1);
        mp__plat_futex_wake(&h->prod_seq, INT32_MAX);
    }
}

/* Wakes join() callers once the count reached 0. */
static inline void
wake_joiners(mp__qhdr_t *h)
{
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load(&h->join_waiters) != 0) {
        mp__plat_futex_wake(&h->unfinished, INT32_MAX);
    }
}

/* --- spinning ----------------------------------------------------------- */

/* Starts the wait of a put or get with timeout in *w (MP_NO_WAIT: no
 * wait). Returns 0, the timeout's error (mp__deadline), or MP_ECLOSED
 * (the handle was closed). */
static inline int
waiter_start(const mp_queue_t *q, mp_duration_t timeout, waiter_t *w)
{
    *w = (waiter_t){.nowait = timeout == MP_NO_WAIT};
    int r = mp__deadline(timeout, &w->deadline);
    if (r != 0) {
        return r;
    }
    return q->closed ? MP_ECLOSED : 0;
}

/* 1 when the waiter has spun long enough to look for a dead peer. */
static inline bool
spun_out(const waiter_t *w)
{
    return w->spins >= SPIN_PAUSE;
}

/* After a put or get that went through: a wait that ended within its
 * pause spin tells the handle that spinning pays (mp__spin_paid). */
static inline void
waiter_done(mp_queue_t *q, const waiter_t *w)
{
    if (w->spins - 1u < SPIN_PAUSE - 1u) {
        mp__spin_paid(&q->learn);
    }
}

/* After a claim lost to a process of the same side: on few CPUs, lets a
 * process of the other side run on this one (see the top of queue.c). */
static inline void
lost_claim(const mp_queue_t *q)
{
    if (q->step_aside) {
        test_hook(MP__QUEUE_HOOK_STEP_ASIDE);
        mp__plat_yield();
    }
}

/* --- the overflow lock's journal and the hands ------------------------- */

/* Starts a journalled step under ovf_lock: its fields, then its kind. */
static inline void
journal_begin(mp__qhdr_t *h, uint32_t kind, uint64_t claim, uint64_t node,
              uint32_t hand)
{
    h->jr_claim = claim;
    h->jr_hand = hand;
    h->jr_old = atomic_load(&h->unfinished);
    atomic_store(&h->jr_node, node);
    QJ_STEP();
    h->jr_kind = kind;
    QJ_STEP();
}

/* Ends the journalled step: it is whole. */
static inline void
journal_end(mp__qhdr_t *h)
{
    QJ_STEP();
    h->jr_kind = QJ_NONE;
}

/* Hand i of the queue: 0 .. MP__QUEUE_HANDS - 1 in hands, the rest (up to
 * MP__QUEUE_ALL_HANDS) the hold_hands of mp_queue_get_begin. */
static inline mp__qhand_t *
hand_at(const mp_queue_t *q, uint32_t i)
{
    if (i < MP__QUEUE_HANDS) {
        return &q->h->hands[i];
    }
    return &q->h->hold_hands[i - MP__QUEUE_HANDS];
}

/* Gives hand i back after its put is done with it: the blocks it named
 * went to a cell or to the overflow list, or were freed. */
static inline void
hand_give_back(mp_queue_t *q, uint32_t i)
{
    mp__qhand_t *hd = hand_at(q, i);
    atomic_store_explicit(&hd->block, 0, memory_order_relaxed);
    atomic_store_explicit(&hd->node, 0, memory_order_relaxed);
    atomic_store_explicit(&hd->claim, 0, memory_order_relaxed);
    atomic_store_explicit(&hd->owner, 0, memory_order_release);
}

/* mp__queue_ovf_lock takes the overflow lock, which guards the overflow
 * list, the JoinableQueue count's changes and the cleaning of dead hands.
 * After a holder died it rebuilds the list's tail and count and finishes
 * or undoes the step the holder journalled, so that the count, the cells,
 * the list and the hands agree again. Release it with mp__mutex_unlock.
 * Defined in recover.c. */
void mp__queue_ovf_lock(mp_queue_t *q);

/* Takes a free hand among hands first .. first + n - 1 into *out. With
 * all taken it cleans dead processes' hands, then yields until one is free
 * or the deadline of w passes. Returns 0 or MP_EFULL (no hand in time). */
static inline int
hand_take_in(mp_queue_t *q, const waiter_t *w, uint32_t first, uint32_t n,
             uint32_t *out)
{
    uint64_t me = mp__plat_self_ident();
    /* Processes start at different hands, so they seldom race for one. */
    uint32_t start = (uint32_t)mp__plat_ident_pid(me) % n;
    for (unsigned round = 0;; round++) {
        for (uint32_t k = 0; k < n; k++) {
            uint32_t i = first + (start + k) % n;
            mp__qhand_t *hd = hand_at(q, i);
            uint64_t none = 0;
            if (atomic_load_explicit(&hd->owner, memory_order_relaxed) == 0 &&
                atomic_compare_exchange_strong(&hd->owner, &none, me)) {
                *out = i;
                return 0;
            }
        }
        if (round % 64 == 0 && mp__queue_reclaim(q) != 0) {
            continue;
        }
        if (w->nowait || mp__now_ns() >= w->deadline) {
            return MP_EFULL;
        }
        mp__plat_yield();
    }
}

/* Takes a free hand into *out: a put's, or (take) a get's (hand_take_in). */
static inline int
hand_take(mp_queue_t *q, const waiter_t *w, bool take, uint32_t *out)
{
    return take ? hand_take_in(q, w, MP__QUEUE_PUT_HANDS, MP__QUEUE_TAKE_HANDS,
                               out)
                : hand_take_in(q, w, 0, MP__QUEUE_PUT_HANDS, out);
}

/* --- sinks: where a get copies the message ------------------------------ */

/* Makes room for a len-byte message in the sink. Returns 0, MP_EMSGSIZE
 * (the caller's buffer is too small) or MP_ENOMEM. */
static inline int
sink_reserve(sink_t *s, size_t len)
{
    if (s->hold) {
        return 0; /* inline messages fit buf; others stay where they are */
    }
    if (!s->alloc) {
        return len <= s->cap ? 0 : MP_EMSGSIZE;
    }
    if (s->buf != NULL && len <= s->cap) {
        return 0;
    }
    size_t want = len != 0 ? len : 1;
    void *b = mp__malloc(want);
    if (b == NULL) {
        return MP_ENOMEM;
    }
    mp__free(s->buf);
    s->buf = b;
    s->cap = want;
    return 0;
}

/* Copies len bytes into the sink (already reserved). */
static inline void
sink_fill(sink_t *s, const void *src, size_t len)
{
    if (len != 0) {
        memcpy(s->buf, src, len);
    }
}

/* Maps the first len bytes of heap block off into this process for
 * reading (write: for writing) with one madvise (mp__plat_populate,
 * MADV_POPULATE_READ/_WRITE, Linux 5.14; a hint, ignored when it fails)
 * rather than a page fault per few pages as they are first touched (~15 us
 * each on a VM); for len of PREFAULT_MIN and up only. A block this handle
 * has mapped before in this process (the last MAPPED_MEMO) is skipped: its
 * pages stay mapped (the heap never gives pages back), and the madvise's
 * walk of mapped pages cost as much CPU as the consumer's reading of a
 * 1 MiB message in place (perf, docs/performance.md). The record is a
 * hint: threads racing on it, or a child forked with its parent's record
 * (reset when the pid changes), cost page faults, never a wrong result. */
static inline void
block_map(mp_queue_t *q, uint64_t off, size_t len, bool write)
{
    if (len < PREFAULT_MIN) {
        return;
    }
    pid_t me = mp__getpid();
    if (q->mapped_pid != me) {
        for (unsigned i = 0; i < MAPPED_MEMO; i++) {
            atomic_store_explicit(&q->mapped_off[i], 0, memory_order_relaxed);
        }
        q->mapped_pid = me;
    }
    for (unsigned i = 0; i < MAPPED_MEMO; i++) {
        uint64_t m =
            atomic_load_explicit(&q->mapped_off[i], memory_order_relaxed);
        if ((m == (off | 1) || (!write && m == off)) &&
            atomic_load_explicit(&q->mapped_len[i], memory_order_relaxed) >=
                len) {
            return;
        }
    }
    test_hook(MP__QUEUE_HOOK_BLOCK_MAP);
    mp__plat_populate(heap_ptr(q, off), len, write);
    unsigned i =
        atomic_fetch_add_explicit(&q->mapped_next, 1, memory_order_relaxed) %
        MAPPED_MEMO;
    atomic_store_explicit(&q->mapped_off[i], 0, memory_order_relaxed);
    atomic_store_explicit(&q->mapped_len[i], len, memory_order_relaxed);
    atomic_store_explicit(&q->mapped_off[i], write ? off | 1 : off,
                          memory_order_relaxed);
}

/* Copies a message out of heap block off into the sink, its pages mapped
 * first (block_map). */
static inline void
heap_copy_out(mp_queue_t *q, sink_t *sink, uint64_t off, size_t len)
{
    block_map(q, off, len, false);
    sink_fill(sink, heap_ptr(q, off), len);
}

/* Allocates a len-byte block for a put into hand hi's block word
 * (mp__heap_alloc_to; when the heap has no room, after cleaning dead
 * processes' hands), its pages mapped for writing (block_map). Returns its
 * offset, or 0 (no room). */
static inline uint64_t
hand_alloc(mp_queue_t *q, uint32_t hi, size_t len)
{
    _Atomic uint64_t *held = &hand_at(q, hi)->block;
    uint64_t boff = mp__heap_alloc_to(q->heap, len, held);
    if (boff == 0 && mp__queue_reclaim(q) != 0) {
        boff = mp__heap_alloc_to(q->heap, len, held);
    }
    if (boff != 0) {
        block_map(q, boff, len, true);
    }
    return boff;
}

/* Holds a message of len bytes in place for a get in place (sink->hold):
 * moves its heap block from *word (a cell's or an overflow node's off)
 * to the sink's hand in one heap step (mp__heap_move: a holder killed at
 * any point leaves it named by one of the two, and a repairer's free of
 * *word runs before or after), and points the sink at it. A large
 * message's pages are mapped into this process first, as heap_copy_out
 * does. */
static inline void
sink_hold_block(mp_queue_t *q, sink_t *sink, _Atomic uint64_t *word, size_t len)
{
    uint64_t off = mp__heap_move(q->heap, word, &hand_at(q, sink->hand)->block);
    sink->buf = heap_ptr(q, off);
    test_hook(MP__QUEUE_HOOK_HOLD_MOVED);
    block_map(q, off, len, false);
}

/* --- recover.c: dead holders ------------------------------------------- */

/* mp__queue_holder_alive tells whether the holder of the cell probed in p
 * (WRITING or READING) lives: the identity it stored
 * (mp__plat_ident_alive), or only the state's pid while that is not
 * stored yet. Several syscalls: only after spun_out. */
bool mp__queue_holder_alive(const mp_queue_t *q, const probe_t *p);

/* mp__queue_repair_reader frees the cell a dead consumer held in READING (found
 * by a producer at position p->pos, the cell's next lap), and the message's
 * block: a consumer frees it through the cell's own word before it hands the
 * cell back (cell_take), so a READING cell still names it, or names 0. The cell
 * is first taken over as ours, so a repairer killed midway leaves a
 * READING cell of a dead process again. The message is lost; a
 * JoinableQueue still counts its task, as Python does for a message whose
 * consumer died before task_done. */
void mp__queue_repair_reader(mp_queue_t *q, const probe_t *p);

/* mp__queue_repair_writer repairs the cell a dead producer held in WRITING
 * (found by a consumer), under ovf_lock: taking the lock first finishes a
 * journalled step of the producer's, which may publish this very cell;
 * otherwise the cell is discarded (its message dropped) together with the
 * producer's hand that names it (its block freed). A WRITING cell's task was
 * never counted. */
void mp__queue_repair_writer(mp_queue_t *q, const probe_t *p);

/* --- overflow.c: the overflow list ------------------------------------- */

/* mp__queue_ovf_put appends a message to the overflow list. boff: the data's
 * heap block (in hand hi), or 0 to copy the message into the node. The node is
 * taken into the hand too, and both pass to the list in one journalled step
 * with the task's count (JoinableQueue). Returns 0 or MP_ENOMEM. */
int mp__queue_ovf_put(mp_queue_t *q, const void *buf, size_t len, uint64_t boff,
                      uint32_t hi);

/* mp__queue_ovf_take takes the oldest overflow message if the ring is empty.
 * The node leaves the list into a hand of the taker's (one journalled step), so
 * that its blocks are freed if the taker dies while it copies the message out.
 * Returns its length, Q_EMPTY, Q_RETRY (the ring is not empty after all),
 * the sink's error (the message stays queued) or MP_EEMPTY (no hand before
 * the deadline). */
ssize_t mp__queue_ovf_take(mp_queue_t *q, sink_t *sink, const waiter_t *w);

/* mp__queue_ovf_refill moves overflow messages back into the ring, oldest
 * first, while it has free cells, so that an overflow a stalled consumer caused
 * does not keep every later put on the slow list path. Returns true when the
 * list is empty afterwards (the caller may then put to the ring). Takes
 * ovf_lock. */
bool mp__queue_ovf_refill(mp_queue_t *q);

/* --- put.c and get.c: the loops zerocopy.c runs too --------------------- */

/* mp__queue_put_wait puts the message whose data is in place (inline in
 * buf, or in heap block boff held in hand *hi) once there is room: the put
 * loop of mp_queue_put after its copy. A spill to the overflow list takes
 * a hand into *hi if it has none; the caller gives it back. Returns 0,
 * MP_EFULL or MP_ENOMEM; on failure the block is still the hand's. */
int mp__queue_put_wait(mp_queue_t *q, const void *buf, size_t len,
                       uint64_t boff, uint32_t *hi, waiter_t *w);

/* mp__queue_get_wait takes the oldest message into sink, waiting until
 * w's deadline: the loop of mp_queue_get. Returns the length, MP_EEMPTY,
 * or the sink's error (the message stays queued). */
ssize_t mp__queue_get_wait(mp_queue_t *q, sink_t *sink, waiter_t *w);

/* --- zerocopy.c -------------------------------------------------------- */

/* mp__queue_zc_drop gives back every zero-copy slot this handle still has
 * out in this process (borrowed slots aborted, held messages released);
 * mp_queue_destroy calls it. */
void mp__queue_zc_drop(mp_queue_t *q);

/* --- wait.c: spinning and sleeping ------------------------------------- */

/* mp__queue_wait_step makes one step of waiting: spin, then yield, then sleep
 * on seq while blocked(q) holds (re-checked after counting ourselves as a
 * sleeper). The spin (SPIN_PAUSE pauses) is skipped while the handle's
 * learner rests (mp__spin_begin; not for MP_NO_WAIT, which has no later
 * phase to fall back on): a spin that ends empty is a miss, a put
 * or get that goes through within it pays (waiter_done). A peer on this
 * CPU cannot run during a pause, only at a yield. Returns 0 (try again)
 * or MP_ETIMEDOUT (the deadline passed). */
int mp__queue_wait_step(waiter_t *w, mp_queue_t *q, _Atomic uint32_t *seq,
                        _Atomic uint32_t *waiters,
                        bool (*blocked)(mp_queue_t *));

/* mp__queue_drain_wait spins once if consumers are making progress, so that a
 * put that found the ring full (or the overflow in use) can wait for the ring
 * instead of taking the much slower overflow path; the overflow would otherwise
 * stay in use as long as producers keep pace with consumers. Returns true to
 * retry, false to give up (no progress for a while, or budget spent). */
bool mp__queue_drain_wait(mp_queue_t *q, waiter_t *w);

/* mp__queue_full_sleep is called when a put found the ring full and drain_wait
 * gave up (the consumers are not running now: on a busy machine, preempted).
 * Sleeps until consumers have emptied half the ring, which gives the CPU to
 * them instead of spilling to the overflow list, whose path is much slower. An
 * unbounded put must not block on a slow or idle consumer: after sleeping
 * FULL_SLEEP_NS in all (or at the put's deadline; never for MP_NO_WAIT)
 * the put spills, and the handle's puts spill without sleeping until one
 * finds the ring with room again. Returns true to retry the ring, false to
 * spill. */
bool mp__queue_full_sleep(mp_queue_t *q, waiter_t *w);

/* mp__queue_large_pace paces a put of a large message: while PACE_DEPTH or more
 * messages are queued, waits for consumers to take one, so the block it
 * allocates next is one they just freed (the heap's free lists are LIFO) and
 * still in cache, instead of a fresh one (page faults, and both copies from
 * DRAM) for every message a producer runs ahead by. An unbounded put must not
 * block on a slow or idle consumer: it waits at most FULL_SLEEP_NS (and
 * not past the put's deadline, nor for MP_NO_WAIT), and after a wait in
 * vain the handle's puts do not wait until one finds fewer queued. */
void mp__queue_large_pace(mp_queue_t *q, const waiter_t *w);

/* --- wakeup.c: the names of a named queue's waker ---------------------- */

/* Room for the path of a queue's names: "/dev/shm/", a segment name, the
 * waker's suffix. */
#define QUEUE_PATH_MAX 300

/* mp__queue_waker_create makes the named waker of the new segment name,
 * registered with the tracker first (so a crash right after it is made leaves
 * nothing behind). Returns 0 or an error (nothing is left then). */
int mp__queue_waker_create(const char *name);

/* mp__queue_waker_remove removes the named waker of segment name (the creator's
 * destroy). */
void mp__queue_waker_remove(const char *name);

#endif /* MP_QUEUE_PRIVATE_H */
