/* SPDX-License-Identifier: MIT */
/* queue.c - Queue, SimpleQueue and JoinableQueue: a multi-producer,
 * multi-consumer FIFO of byte messages in one shared-memory segment: a
 * named one, or for a private queue (a pool's) an unnamed memfd mapping
 * shared with the children forked after it. Messages of 64 KiB and up
 * have their heap pages mapped by one madvise on each side (arena.c's
 * populate, heap_copy_out) rather than a page fault per page.
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
 * (ovf_journal_repair).
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
 * STEP_ASIDE_MAX_CPUS CPUs a process of the other side then waits for one,
 * and two of a side bouncing head or tail between the CPUs cost each
 * message 3-4x the CPU time (2p2c runs on two CPUs ranged from 1.8M to
 * 7.4M msg/s, docs/performance.md). The loser yields its CPU instead
 * (sched_yield), so the sides pair up across the CPUs. With more CPUs the
 * other side has its own, and yielding only slows the loser.
 *
 * mp_wait_any: a put that sees poll waiters writes a byte to the queue's
 * wake-up FIFO (see queue_internal.h). */
#include "queue_internal.h"

#include <stdio.h>
#include <string.h>

#define DEFAULT_CAPACITY (1ULL << 30)
#define MAX_CAPACITY (1ULL << 44)
#define MIN_HEAP_BLOCK (512ULL * 1024)
#define SPIN_PAUSE 512 /* busy iterations before yielding */
#define SPIN_YIELD 16  /* sched_yield iterations before sleeping */
#define SEGMENT_HDR 4096u
/* A put that finds the ring full (or the overflow in use) first spins while
 * consumers make progress: at most DRAIN_BUDGET pauses, giving up after
 * DRAIN_IDLE pauses without progress (no consumer is running). */
#define DRAIN_BUDGET 4096
#define DRAIN_IDLE 64
/* Then it sleeps until a consumer takes a message, at most this long
 * without consumer progress, before it spills (see full_sleep). */
#define FULL_SLEEP_NS (2 * 1000 * 1000)
/* The steps an ovf_lock holder journals (the header's jr_kind; see
 * ovf_journal_repair). */
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

/* A put of a message of at least PACE_MIN bytes first waits while
 * PACE_DEPTH messages are queued and consumers take them (large_pace). */
#define PACE_MIN MP__QUEUE_LARGE_MIN
#define PACE_DEPTH 4
#define PACE_SPIN 2000 /* pauses before it sleeps */

/* A get of a message of at least PREFAULT_MIN bytes maps its pages before
 * it copies them (heap_copy_out). */
#define PREFAULT_MIN MP__QUEUE_LARGE_MIN

/* A handle in a process allowed this many CPUs or fewer steps aside on a
 * lost claim (see the top of this file). */
#define STEP_ASIDE_MAX_CPUS 2

/* Results of one attempt on the ring (all below any error code). */
#define Q_FULL (-100001)     /* a bounded queue holds maxsize messages */
#define Q_RINGFULL (-100002) /* the ring has no free cell */
#define Q_BUSY (-100003)     /* a peer holds the cell we need */
#define Q_EMPTY (-100004)    /* nothing to take */
#define Q_RETRY (-100005)    /* the state moved: try again */

void (*mp__queue_test_hook)(int point);
uint32_t mp__queue_test_ring_cells;

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
};

/* Where a get copies the message: the caller's buffer, or a fresh one. */
typedef struct sink {
    void *buf;
    size_t cap;
    bool alloc;
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

/* --- the wake-up FIFO (mp_wait_any) ------------------------------------- */

/* Room for a FIFO path: "/dev/shm/", a segment name, the suffix. */
#define FIFO_PATH_MAX 300

/* Writes the FIFO's path ("/dev/shm/<name>.w") for the segment named name
 * into buf. Returns 0, or MP_ENAMETOOLONG. */
static int
fifo_path(const char *name, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "/dev/shm/%s" MP__QUEUE_FIFO_SUFFIX, name);
    return n > 0 && (size_t)n < cap ? 0 : MP_ENAMETOOLONG;
}

/* Makes the FIFO of the new segment name, registered with the tracker first
 * (so a crash right after mkfifo leaves nothing behind). Returns 0 or an
 * error (nothing is left then). */
static int
fifo_create(const char *name)
{
    char path[FIFO_PATH_MAX];
    int r = fifo_path(name, path, sizeof path);
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

/* Removes the FIFO of segment name (the creator's destroy). */
static void
fifo_remove(const char *name)
{
    char path[FIFO_PATH_MAX];
    if (fifo_path(name, path, sizeof path) == 0) {
        /* Unlink first, then forget: as mp_shm_unlink does. */
        (void)mp__plat_unlink(path);
        (void)mp__tracker_unregister(path + strlen("/dev/shm/"));
    }
}

/* Returns the handle's FIFO fd, opening it on first use (any thread may
 * race here: one open wins, the others are closed). Returns the fd or an
 * error. */
static int
fifo_open(mp_queue_t *q)
{
    int fd = atomic_load_explicit(&q->poll_fd, memory_order_acquire);
    if (fd >= 0) {
        return fd;
    }
    if (q->shm == NULL) {
        return MP_EBADF; /* a private queue's eventfd was closed */
    }
    char path[FIFO_PATH_MAX];
    int r = fifo_path(mp_shm_name(q->shm), path, sizeof path);
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
    return q->closed ? MP_EBADF : fifo_open(q);
}

/* Signals the waker so that poll()ing waiters wake up. A waker that
 * cannot be opened (the queue was removed) has no waiter that could need
 * it. */
static void
fifo_signal(mp_queue_t *q)
{
    int fd = fifo_open(q);
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
    return mp_queue_qsize(q) > 0;
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
    fifo_signal(q);
    return true;
}

/* --- waking and waiting ------------------------------------------------- */

/* Signed number of ring positions claimed for put but not for get. */
static inline int64_t
ring_count(const mp__qhdr_t *h)
{
    uint64_t head = atomic_load(&h->head);
    uint64_t tail = atomic_load(&h->tail);
    return (int64_t)(tail - head);
}

/* Wakes one sleeper on seq if one may sleep; called after the change the
 * sleeper waits for has been stored. */
static void
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
        fifo_signal(q);
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

/* One step of waiting: spin, then yield, then sleep on seq while
 * blocked(q) holds (re-checked after counting ourselves as a sleeper).
 * Returns 0 (try again) or MP_ETIMEDOUT (the deadline passed). */
static int
wait_step(waiter_t *w, mp_queue_t *q, _Atomic uint32_t *seq,
          _Atomic uint32_t *waiters, bool (*blocked)(mp_queue_t *))
{
    if (w->spins < SPIN_PAUSE) {
        w->spins++;
        cpu_relax();
        return 0;
    }
    if (w->nowait || mp__now_ns() >= w->deadline) {
        return MP_ETIMEDOUT;
    }
    if (w->spins < SPIN_PAUSE + SPIN_YIELD) {
        w->spins++;
        mp__plat_yield();
        return 0;
    }
    atomic_fetch_add(waiters, 1);
    uint32_t s = atomic_load(seq);
    int r = 0;
    if (blocked(q)) {
        r = mp__wait_slice(seq, s, w->deadline);
    }
    atomic_fetch_sub(waiters, 1);
    if (r == MP_ETIMEDOUT) {
        /* A wake-up meant for a sleeper may have reached us as we gave
         * up: pass it on, or another sleeper would wait out its slice. */
        if (!blocked(q)) {
            wake_one(seq, waiters);
        }
        return MP_ETIMEDOUT;
    }
    return 0;
}

/* 1 when the waiter has spun long enough to look for a dead peer. */
static inline bool
spun_out(const waiter_t *w)
{
    return w->spins >= SPIN_PAUSE;
}

/* --- the overflow lock and its journal --------------------------------- */

static void ovf_journal_repair(mp_queue_t *q, bool listed);

/* Takes the overflow lock, which guards the overflow list, the
 * JoinableQueue count's changes and the cleaning of dead hands. After a
 * holder died it rebuilds tail and count by walking from head (every
 * update is one store, so head's chain is valid), then finishes or undoes
 * the step the holder journalled (ovf_journal_repair), so that the count,
 * the cells, the list and the hands agree again. */
static void
ovf_lock(mp_queue_t *q)
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

/* Starts a journalled step under ovf_lock: its fields, then its kind. */
static void
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

/* Wakes join() callers once the count reached 0. */
static void
wake_joiners(mp__qhdr_t *h)
{
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load(&h->join_waiters) != 0) {
        mp__plat_futex_wake(&h->unfinished, INT32_MAX);
    }
}

/* Counts one task as finished (task_done). Returns 0 or MP_EOVERRELEASE.
 * One store under the lock, so a caller killed at any point has either
 * finished the task or not. */
static int
unfinished_dec(mp_queue_t *q)
{
    mp__qhdr_t *h = q->h;
    ovf_lock(q);
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

/* --- hands: the blocks of a put in progress ----------------------------- */

/* Hand i of the queue. */
static inline mp__qhand_t *
hand_at(const mp_queue_t *q, uint32_t i)
{
    return &q->h->hands[i];
}

/* Gives hand i back after its put is done with it: the blocks it named
 * went to a cell or to the overflow list, or were freed. */
static void
hand_give_back(mp_queue_t *q, uint32_t i)
{
    mp__qhand_t *hd = hand_at(q, i);
    atomic_store_explicit(&hd->block, 0, memory_order_relaxed);
    atomic_store_explicit(&hd->node, 0, memory_order_relaxed);
    atomic_store_explicit(&hd->claim, 0, memory_order_relaxed);
    atomic_store_explicit(&hd->owner, 0, memory_order_release);
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
    for (uint32_t i = 0; i < MP__QUEUE_HANDS; i++) {
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
    for (uint32_t i = 0; i < MP__QUEUE_HANDS; i++) {
        mp__qhand_t *hd = hand_at(q, i);
        uint64_t who = atomic_load(&hd->owner);
        if (who == 0 || mp__plat_ident_alive(who)) {
            continue;
        }
        ovf_lock(q);
        if (atomic_load(&hd->owner) == who) { /* nobody cleaned it since */
            hand_clean(q, i);
            cleaned++;
        }
        mp__mutex_unlock(&q->h->ovf_lock);
    }
    return cleaned;
}

/* Takes a free hand into *out: a put's, or (take) a get's. With all
 * taken it cleans dead processes' hands, then yields until one is free or
 * the deadline of w passes. Returns 0 or MP_EFULL (no hand in time). */
static int
hand_take(mp_queue_t *q, const waiter_t *w, bool take, uint32_t *out)
{
    uint64_t me = mp__plat_self_ident();
    uint32_t first = take ? MP__QUEUE_PUT_HANDS : 0;
    uint32_t n = take ? MP__QUEUE_TAKE_HANDS : MP__QUEUE_PUT_HANDS;
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

/* --- the overflow list -------------------------------------------------- */

/* Appends a message to the overflow list. boff: the data's heap block (in
 * hand hi), or 0 to copy the message into the node. The node is taken into
 * the hand too, and both pass to the list in one journalled step with the
 * task's count (JoinableQueue). Returns 0 or MP_ENOMEM. */
static int
ovf_put(mp_queue_t *q, const void *buf, size_t len, uint64_t boff, uint32_t hi)
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
    ovf_lock(q);
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

/* Makes room for a len-byte message in the sink. Returns 0, MP_EMSGSIZE
 * (the caller's buffer is too small) or MP_ENOMEM. */
static int
sink_reserve(sink_t *s, size_t len)
{
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

/* Copies a large message (PREFAULT_MIN bytes and up) out of heap block
 * off into the sink, first mapping the block's pages into this process
 * with one madvise(MADV_POPULATE_READ) (Linux 5.14; a hint, ignored when
 * it fails) rather than a page fault per few pages as the copy reads them
 * (~15 us each on a VM). On pages already mapped it costs ~1 % of the
 * copy. */
static void
heap_copy_out(const mp_queue_t *q, sink_t *sink, uint64_t off, size_t len)
{
    char *p = heap_ptr(q, off);
    if (len >= PREFAULT_MIN) {
        mp__plat_populate(p, len, false);
    }
    sink_fill(sink, p, len);
}

/* Takes the oldest overflow message if the ring is empty. The node leaves
 * the list into a hand of the taker's (one journalled step), so that its
 * blocks are freed if the taker dies while it copies the message out.
 * Returns its length, Q_EMPTY, Q_RETRY (the ring is not empty after all),
 * the sink's error (the message stays queued) or MP_EEMPTY (no hand before
 * the deadline). */
static ssize_t
ovf_take(mp_queue_t *q, sink_t *sink, const waiter_t *w)
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
    ovf_lock(q);
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
    if (n->off != 0) {
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

/* --- the ring: put side ------------------------------------------------- */

/* After a claim lost to a process of the same side: on few CPUs, lets a
 * process of the other side run on this one (see the top of this file). */
static inline void
lost_claim(const mp_queue_t *q)
{
    if (q->step_aside) {
        test_hook(MP__QUEUE_HOOK_STEP_ASIDE);
        mp__plat_yield();
    }
}

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
        ovf_lock(q);
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

/* 1 when the ring cell at tail looks free (a cheap hint, no claim). */
static inline bool
ring_has_room(const mp_queue_t *q)
{
    uint64_t pos = atomic_load_explicit(&q->h->tail, memory_order_relaxed);
    uint64_t s = atomic_load_explicit(&q->cells[pos & q->mask].state,
                                      memory_order_relaxed);
    return st_dist(s, pos) >= 0;
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
static bool
ovf_refill(mp_queue_t *q)
{
    mp__qhdr_t *h = q->h;
    bool moved = false;
    ovf_lock(q);
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
        return mp_queue_qsize(q) >= h->maxsize;
    }
    uint64_t s = atomic_load(&q->cells[pos & q->mask].state);
    return st_dist(s, pos) < 0;
}

/* Whether the holder of the cell probed in p (WRITING or READING) lives:
 * the identity it stored (mp__plat_ident_alive), or only the state's pid
 * while that is not stored yet. */
static bool
cell_holder_alive(const mp_queue_t *q, const probe_t *p)
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

/* Frees the cell a dead consumer held in READING (found by a producer at
 * position p->pos, the cell's next lap), and the message's block: a
 * consumer frees it through the cell's own word before it hands the cell
 * back (cell_take), so a READING cell still names it, or names 0. The cell
 * is first taken over as ours, so a repairer killed midway leaves a
 * READING cell of a dead process again. The message is lost; a
 * JoinableQueue still counts its task, as Python does for a message whose
 * consumer died before task_done. */
static void
repair_reader(mp_queue_t *q, const probe_t *p)
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

/* How many messages consumers have taken, ever (ring and list). */
static inline uint64_t
cons_progress(const mp__qhdr_t *h)
{
    return atomic_load_explicit(&h->head, memory_order_relaxed) +
           atomic_load_explicit(&h->ovf_pops, memory_order_relaxed);
}

/* The deadline of a wait of at most FULL_SLEEP_NS from now, cut at the
 * put's own deadline. */
static int64_t
short_deadline(const waiter_t *w)
{
    int64_t t = mp__now_ns() + FULL_SLEEP_NS;
    return t < w->deadline ? t : w->deadline;
}

/* Called when a put found the ring full and drain_wait gave up (the
 * consumers are not running now: on a busy machine, preempted). Sleeps
 * until consumers have emptied half the ring, which gives the CPU to them
 * instead of spilling to the overflow list, whose path is much slower. An
 * unbounded put must not block on a slow or idle consumer: after sleeping
 * FULL_SLEEP_NS in all (or at the put's deadline; never for MP_NO_WAIT)
 * the put spills, and the handle's puts spill without sleeping until one
 * finds the ring with room again. Returns true to retry the ring, false to
 * spill. */
static bool
full_sleep(mp_queue_t *q, waiter_t *w)
{
    mp__qhdr_t *h = q->h;
    if (w->nowait || atomic_load_explicit(&q->full_off, memory_order_relaxed)) {
        return false;
    }
    uint64_t prog = cons_progress(h);
    if (w->give_up == 0) {
        w->give_up = short_deadline(w);
    } else if (mp__now_ns() >= w->give_up) {
        atomic_store_explicit(&q->full_off, true, memory_order_relaxed);
        /* A wake-up meant for another sleeper may have reached us. */
        if (ring_has_room(q)) {
            wake_producers(q);
        }
        return false;
    }
    /* Not counted in prod_waiters: see wake_producers. A flag left set by
     * a sleeper that timed out costs one spurious wake-up later. */
    atomic_store(&h->drain_wanted, 1);
    uint32_t s = atomic_load(&h->prod_seq);
    if (!ring_has_room(q)) {
        (void)mp__wait_slice(&h->prod_seq, s, w->give_up);
    }
    if (cons_progress(h) != prog) {
        w->idle = 0; /* consumers run again: drain_wait may spin anew */
        w->budget = 0;
    }
    return true;
}

/* 1 when PACE_DEPTH or more messages are queued. */
static inline bool
pace_blocked(mp_queue_t *q)
{
    return ring_count(q->h) + atomic_load(&q->h->ovf_count) >= PACE_DEPTH;
}

/* Paces a put of a large message: while PACE_DEPTH or more messages are
 * queued, waits for consumers to take one, so the block it allocates next
 * is one they just freed (the heap's free lists are LIFO) and still in
 * cache, instead of a fresh one (page faults, and both copies from DRAM)
 * for every message a producer runs ahead by. An unbounded put must not
 * block on a slow or idle consumer: it waits at most FULL_SLEEP_NS (and
 * not past the put's deadline, nor for MP_NO_WAIT), and after a wait in
 * vain the handle's puts do not wait until one finds fewer queued. */
static void
large_pace(mp_queue_t *q, const waiter_t *w)
{
    mp__qhdr_t *h = q->h;
    if (!pace_blocked(q)) {
        atomic_store_explicit(&q->pace_off, false, memory_order_relaxed);
        return;
    }
    if (w->nowait || atomic_load_explicit(&q->pace_off, memory_order_relaxed)) {
        return;
    }
    for (unsigned spins = 0; spins < PACE_SPIN; spins++) {
        cpu_relax();
        if (!pace_blocked(q)) {
            return;
        }
    }
    int64_t give_up = short_deadline(w);
    while (pace_blocked(q)) {
        if (mp__now_ns() >= give_up) {
            atomic_store_explicit(&q->pace_off, true, memory_order_relaxed);
            return;
        }
        atomic_fetch_add(&h->prod_waiters, 1);
        uint32_t s = atomic_load(&h->prod_seq);
        if (pace_blocked(q)) {
            (void)mp__wait_slice(&h->prod_seq, s, give_up);
        }
        atomic_fetch_sub(&h->prod_waiters, 1);
    }
}

/* Spins once if consumers are making progress, so that a put that found
 * the ring full (or the overflow in use) can wait for the ring instead of
 * taking the much slower overflow path; the overflow would otherwise stay
 * in use as long as producers keep pace with consumers. Returns true to
 * retry, false to give up (no progress for a while, or budget spent). */
static bool
drain_wait(mp_queue_t *q, waiter_t *w)
{
    uint64_t now = cons_progress(q->h);
    if (now != w->seen) {
        w->seen = now;
        w->idle = 0;
    } else if (++w->idle > DRAIN_IDLE) {
        return false;
    }
    if (++w->budget > DRAIN_BUDGET) {
        return false;
    }
    cpu_relax();
    return true;
}

/* The put loop once the data is in place (inline in buf, or in heap block
 * boff, held in hand *hi). A spill to the overflow list takes a hand into
 * *hi if it has none; the caller gives it back. Returns 0, MP_EFULL or
 * MP_ENOMEM. */
static int
put_wait(mp_queue_t *q, const void *buf, size_t len, uint64_t boff,
         uint32_t *hi, waiter_t *w)
{
    mp__qhdr_t *h = q->h;
    for (;;) {
        probe_t p = {0, 0};
        int r;
        if (!q->exact && h->maxsize > 0 && mp_queue_qsize(q) >= h->maxsize) {
            r = Q_FULL;
        } else if (!q->exact && atomic_load(&h->ovf_head) != 0 &&
                   (!ring_has_room(q) || !ovf_refill(q))) {
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
            return 0;
        }
        if (r == Q_BUSY && spun_out(w)) {
            if (!cell_holder_alive(q, &p)) {
                repair_reader(q, &p);
                (void)mp__queue_reclaim(q); /* its other hands, if any */
                continue;
            }
            if (!q->exact) {
                r = Q_RINGFULL; /* unbounded: never wait for room */
            }
        }
        if (r == Q_RINGFULL) {
            if (drain_wait(q, w) || full_sleep(q, w)) {
                continue;
            }
            if (*hi == NO_HAND) { /* an inline message needs one for its node */
                int e = hand_take(q, w, false, hi);
                if (e != 0) {
                    return e;
                }
            }
            return ovf_put(q, buf, len, boff, *hi);
        }
        if (r == Q_FULL && w->nowait) {
            return MP_EFULL;
        }
        if (wait_step(w, q, &h->prod_seq, &h->prod_waiters, put_blocked) ==
            MP_ETIMEDOUT) {
            return MP_EFULL;
        }
    }
}

/* --- the ring: get side ------------------------------------------------- */

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
            ssize_t r = ovf_take(q, sink, w);
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

/* Repairs the cell a dead producer held in WRITING (found by a consumer),
 * under ovf_lock: taking the lock first finishes a journalled step of the
 * producer's, which may publish this very cell; otherwise the cell is
 * discarded (its message dropped) together with the producer's hand that
 * names it (its block freed). A WRITING cell's task was never counted. */
static void
repair_writer(mp_queue_t *q, const probe_t *p)
{
    ovf_lock(q);
    uint32_t i = hand_of_claim(q, p->state);
    if (i != NO_HAND) {
        hand_clean(q, i);
    } else {
        discard_cell(q, p->state);
    }
    mp__mutex_unlock(&q->h->ovf_lock);
}

/* The get loop shared by mp_queue_get and mp_queue_get_into. */
static ssize_t
queue_get(mp_queue_t *q, sink_t *sink, mp_duration_t timeout)
{
    waiter_t w = {.nowait = timeout == MP_NO_WAIT};
    int err = mp__deadline(timeout, &w.deadline);
    if (err != 0) {
        return err;
    }
    if (q->closed) {
        return MP_ECLOSED;
    }
    mp__qhdr_t *h = q->h;
    for (;;) {
        probe_t p = {0, 0};
        ssize_t r = ring_try_get(q, sink, &w, &p);
        if (r >= 0 || (r != Q_EMPTY && r != Q_BUSY)) {
            return r;
        }
        if (r == Q_BUSY && spun_out(&w) && !cell_holder_alive(q, &p)) {
            repair_writer(q, &p);
            (void)mp__queue_reclaim(q); /* its other hands, if any */
            continue;
        }
        if (r == Q_EMPTY && w.nowait) {
            return MP_EEMPTY;
        }
        if (wait_step(&w, q, &h->cons_seq, &h->cons_waiters, get_blocked) ==
            MP_ETIMEDOUT) {
            return MP_EEMPTY;
        }
    }
}

/* --- creating and attaching --------------------------------------------- */

/* Returns the smallest power of two >= n (n >= 1). */
static uint64_t
pow2_ceil(uint64_t n)
{
    uint64_t p = 1;
    while (p < n) {
        p <<= 1;
    }
    return p;
}

/* Fills a handle for the segment of map_len bytes mapped at base: named
 * shm, or private (shm NULL, poll_fd its eventfd). */
static int
handle_new(mp_queue_t **out, mp_shm_t *shm, char *base, size_t map_len,
           pid_t creator, int poll_fd)
{
    mp_queue_t *q = mp__calloc(1, sizeof *q);
    if (q == NULL) {
        return MP_ENOMEM;
    }
    q->shm = shm;
    q->base = base;
    q->map_len = map_len;
    q->h = (mp__qhdr_t *)base;
    q->cells = (mp__qcell_t *)(base + q->h->cells_off);
    q->heap = (mp__heap_t *)(base + q->h->heap_off);
    q->mask = q->h->ncells - 1;
    q->exact = q->h->maxsize > 0 &&
               (uint64_t)q->h->maxsize <= MP__QUEUE_MAX_RING_CELLS;
    q->creator = creator;
    /* The affinity when the handle is made (a fork child inherits both). */
    q->step_aside = mp__plat_cpu_count() <= STEP_ASIDE_MAX_CPUS;
    atomic_init(&q->poll_fd, poll_fd);
    *out = q;
    return 0;
}

/* A queue's segment layout, from its options. */
typedef struct layout {
    mp_queue_opts_t o;
    uint64_t capacity;
    int64_t maxsize; /* 0: unbounded */
    uint64_t ncells;
    uint64_t heap_off, heap_size, total;
} layout_t;

/* Computes the layout for opts (NULL: defaults). Returns 0 or MP_EINVAL
 * (capacity too large). */
static int
layout_of(layout_t *l, const mp_queue_opts_t *opts)
{
    *l = (layout_t){0};
    if (opts != NULL) {
        l->o = *opts;
    }
    l->capacity = l->o.capacity != 0 ? l->o.capacity : DEFAULT_CAPACITY;
    if (l->capacity > MAX_CAPACITY) {
        return MP_EINVAL;
    }
    l->maxsize = l->o.maxsize > INT64_MAX ? INT64_MAX : (int64_t)l->o.maxsize;
    l->ncells = MP__QUEUE_UNBOUNDED_CELLS;
    if (l->maxsize > 0 && (uint64_t)l->maxsize <= MP__QUEUE_MAX_RING_CELLS) {
        l->ncells = pow2_ceil((uint64_t)l->maxsize);
    } else if (mp__queue_test_ring_cells != 0) {
        l->ncells = pow2_ceil(mp__queue_test_ring_cells);
    }
    /* The heap holds two blocks of the largest class a message of
     * capacity bytes needs (at least 512 KiB, for overflow nodes), plus
     * the header; it is sparse. */
    uint64_t block = pow2_ceil(l->capacity + 64);
    if (block < MIN_HEAP_BLOCK) {
        block = MIN_HEAP_BLOCK;
    }
    l->heap_size = MP__HEAP_HDR_SLOT + 2 * block;
    l->heap_off = SEGMENT_HDR + l->ncells * MP__QUEUE_CELL_SIZE;
    l->total = l->heap_off + l->heap_size;
    return 0;
}

/* Formats the mapped segment at base as an empty queue of layout l (its
 * magic stored last). The pages it writes (header, ring, heap header:
 * one run) are first brought in by one madvise (MADV_POPULATE_WRITE,
 * Linux 5.14; a hint) rather than a page fault each. */
static void
segment_format(char *base, const layout_t *l)
{
    mp__plat_populate(base, (size_t)(l->heap_off + MP__HEAP_HDR_SLOT), true);
    mp__qhdr_t *h = (mp__qhdr_t *)base;
    h->version = MP__QUEUE_VERSION;
    h->flags = l->o.joinable ? MP__QUEUE_FLAG_JOINABLE : 0;
    h->maxsize = l->maxsize;
    h->ncells = l->ncells;
    h->capacity = l->capacity;
    h->cells_off = SEGMENT_HDR;
    h->heap_off = l->heap_off;
    h->pidns = mp__plat_pidns_id();
    mp__mutex_init(&h->ovf_lock);
    mp__qcell_t *cells = (mp__qcell_t *)(base + SEGMENT_HDR);
    for (uint64_t i = 0; i < l->ncells; i++) {
        atomic_store_explicit(&cells[i].state, st_make(i, MP__QS_FREE, 0),
                              memory_order_relaxed);
    }
    mp__heap_init(base + l->heap_off, (size_t)l->heap_size);
}

/* The start of both creates: checks out, clears *out, and computes the
 * layout opts ask for. Returns 0 or an error. */
static int
create_begin(mp_queue_t **out, const mp_queue_opts_t *opts, layout_t *l)
{
    mp__init();
    if (out == NULL) {
        return MP_EINVAL;
    }
    *out = NULL;
    return layout_of(l, opts);
}

int
mp_queue_create(mp_queue_t **out, const mp_queue_opts_t *opts)
{
    layout_t l;
    int r = create_begin(out, opts, &l);
    if (r != 0) {
        return r;
    }
    mp_shm_t *shm = NULL;
    r = mp_shm_create(&shm, NULL, (size_t)l.total, 0);
    if (r != 0) {
        return r == MP_EFBIG ? MP_ENOSPC : r;
    }
    char *base = mp_shm_buf(shm);
    segment_format(base, &l);
    r = fifo_create(mp_shm_name(shm));
    if (r != 0) {
        (void)mp_shm_unlink(shm);
        mp_shm_destroy(shm);
        return r;
    }
    mp__qhdr_t *h = (mp__qhdr_t *)base;
    atomic_store_explicit(&h->magic, MP__QUEUE_MAGIC, memory_order_release);
    r = handle_new(out, shm, base, mp_shm_size(shm), mp__getpid(), -1);
    if (r != 0) {
        fifo_remove(mp_shm_name(shm));
        (void)mp_shm_unlink(shm);
        mp_shm_destroy(shm);
    }
    return r;
}

int
mp__queue_create_private(mp_queue_t **out, const mp_queue_opts_t *opts)
{
    layout_t l;
    int r = create_begin(out, opts, &l);
    if (r != 0) {
        return r;
    }
    if (l.total > (uint64_t)INT64_MAX || l.total > SIZE_MAX) {
        return MP_ENOSPC;
    }
    /* A memfd rather than MAP_SHARED | MAP_ANONYMOUS: a file mapping is
     * not charged against the commit limit, so the sparse heap costs only
     * the pages used, whatever the overcommit policy. */
    void *map = NULL;
    r = mp__plat_memfd_map("mp-queue", (size_t)l.total, &map);
    if (r != 0) {
        return r == MP_EFBIG ? MP_ENOSPC : r;
    }
    char *base = map;
    int efd = mp__plat_waker_open();
    if (efd < 0) {
        mp__plat_unmap(base, (size_t)l.total);
        return efd;
    }
    segment_format(base, &l);
    mp__qhdr_t *h = (mp__qhdr_t *)base;
    atomic_store_explicit(&h->magic, MP__QUEUE_MAGIC, memory_order_release);
    r = handle_new(out, NULL, base, (size_t)l.total, mp__getpid(), efd);
    if (r != 0) {
        mp__plat_waker_close(efd);
        mp__plat_unmap(base, (size_t)l.total);
    }
    return r;
}

int
mp_simple_queue_create(mp_queue_t **out)
{
    return mp_queue_create(out, NULL);
}

int
mp_joinable_queue_create(mp_queue_t **out, size_t maxsize)
{
    mp_queue_opts_t o = {.maxsize = maxsize, .joinable = true};
    return mp_queue_create(out, &o);
}

const char *
mp_queue_name(const mp_queue_t *q)
{
    return q != NULL && q->shm != NULL ? mp_shm_name(q->shm) : NULL;
}

/* 1 if the mapped segment of size bytes at base holds a queue we can use. */
static bool
segment_valid(const char *base, size_t size)
{
    if (size < SEGMENT_HDR) {
        return false;
    }
    const mp__qhdr_t *h = (const mp__qhdr_t *)base;
    uint64_t magic = atomic_load_explicit(&h->magic, memory_order_acquire);
    if (magic != MP__QUEUE_MAGIC || h->version != MP__QUEUE_VERSION) {
        return false;
    }
    uint64_t n = h->ncells;
    if (n == 0 || (n & (n - 1)) != 0 || n > MP__QUEUE_MAX_RING_CELLS ||
        h->cells_off != SEGMENT_HDR ||
        h->heap_off != h->cells_off + n * MP__QUEUE_CELL_SIZE ||
        h->heap_off + MP__HEAP_HDR_SLOT > size) {
        return false;
    }
    return true;
}

int
mp_queue_attach(mp_queue_t **out, const char *name)
{
    mp__init();
    if (out == NULL || name == NULL) {
        return MP_EINVAL;
    }
    *out = NULL;
    mp_shm_t *shm = NULL;
    int r = mp_shm_attach(&shm, name);
    if (r != 0) {
        return r;
    }
    if (!segment_valid(mp_shm_buf(shm), mp_shm_size(shm))) {
        mp_shm_destroy(shm);
        return MP_EINVAL;
    }
    /* Cells and locks name processes by pid: another pid namespace's pids
     * name other processes (issue 21). */
    if (!mp__plat_pidns_same(((const mp__qhdr_t *)mp_shm_buf(shm))->pidns,
                             true)) {
        mp_shm_destroy(shm);
        return MP_EPIDNS;
    }
    r = handle_new(out, shm, mp_shm_buf(shm), mp_shm_size(shm), 0, -1);
    if (r != 0) {
        mp_shm_destroy(shm);
    }
    return r;
}

void
mp_queue_destroy(mp_queue_t *q)
{
    if (q == NULL) {
        return;
    }
    mp__plat_waker_close(atomic_load(&q->poll_fd));
    if (q->shm == NULL) {
        mp__plat_unmap(q->base, q->map_len); /* private: no name */
        mp__free(q);
        return;
    }
    if (q->creator != 0 && q->creator == mp__getpid()) {
        fifo_remove(mp_shm_name(q->shm));
        (void)mp_shm_unlink(q->shm);
    }
    mp_shm_destroy(q->shm);
    mp__free(q);
}

void
mp__queue_remove_name(const char *name)
{
    char path[FIFO_PATH_MAX];
    if (name == NULL || name[0] == '\0' || strchr(name, '/') != NULL ||
        snprintf(path, sizeof path, "/%s", name) >= (int)sizeof path) {
        return;
    }
    fifo_remove(name);
    /* Unlink first, then forget: as mp_shm_unlink does. */
    (void)mp__plat_shm_unlink(path);
    (void)mp__tracker_unregister(path);
}

/* --- put and get -------------------------------------------------------- */

int
mp_queue_put(mp_queue_t *q, const void *buf, size_t len, mp_duration_t timeout)
{
    if (q == NULL || (len != 0 && buf == NULL)) {
        return MP_EINVAL;
    }
    waiter_t w = {.nowait = timeout == MP_NO_WAIT};
    int r = mp__deadline(timeout, &w.deadline);
    if (r != 0) {
        return r;
    }
    if (q->closed) {
        return MP_ECLOSED;
    }
    mp__qhdr_t *h = q->h;
    if (len > h->capacity) {
        return MP_EMSGSIZE;
    }
    /* Large messages are copied before a cell is claimed, so a cell is
     * held only for a few stores. Their block is held in a hand until a
     * cell or the overflow list takes it, so that it is freed if this
     * process dies first (hand_clean). */
    uint64_t boff = 0;
    uint32_t hi = NO_HAND;
    if (len >= PACE_MIN) {
        large_pace(q, &w);
    }
    if (len > MP__QUEUE_INLINE_MAX) {
        r = hand_take(q, &w, false, &hi);
        if (r != 0) {
            return r;
        }
        _Atomic uint64_t *held = &hand_at(q, hi)->block;
        boff = mp__heap_alloc_to(q->heap, len, held);
        if (boff == 0 && mp__queue_reclaim(q) != 0) {
            boff = mp__heap_alloc_to(q->heap, len, held);
        }
        if (boff == 0) {
            hand_give_back(q, hi);
            return MP_ENOMEM;
        }
        memcpy(heap_ptr(q, boff), buf, len);
    }
    /* A JoinableQueue counts the task when the message is published or
     * linked (cell_publish, ovf_put), in one step with it. */
    test_hook(MP__QUEUE_HOOK_PUT_START);
    r = put_wait(q, buf, len, boff, &hi, &w);
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

ssize_t
mp_queue_get(mp_queue_t *q, void **out, mp_duration_t timeout)
{
    if (q == NULL || out == NULL) {
        return MP_EINVAL;
    }
    sink_t sink = {NULL, 0, true};
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
    sink_t sink = {buf, buflen, false};
    return queue_get(q, &sink, timeout);
}

/* --- sizes, close, join ------------------------------------------------- */

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
    int64_t n = ring_count(q->h);
    if (n < 0) {
        n = 0;
    }
    int64_t o = atomic_load(&q->h->ovf_count);
    if (o > 0) {
        n += o;
    }
    return (ssize_t)n;
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
