/* SPDX-License-Identifier: MIT */
/* queue_internal.h - the shared layout of a queue (one shared-memory
 * segment per queue: named, or private to a process and its children) and
 * the test hook the fault tests use.
 *
 * Segment: [header | ring of ncells cells | heap]. The ring is a lock-free
 * MPMC ring of cells whose 64-bit state word is
 *   [lap position (40 bits) | phase (2 bits) | pid (22 bits)]
 * moving FREE(pos) -> WRITING(pos, producer) -> FULL(pos) ->
 * READING(pos, consumer) -> FREE(pos + ncells). The pid lets a waiter find a
 * peer that died holding a cell and repair it; the cell's holder field
 * completes it to the holder's identity (pid and start time, see
 * mp__plat_self_ident), so that a process that got a dead holder's pid is
 * not taken for it. Small messages live inline in
 * the cell; larger ones in a heap block (mp__heap_*) named by its offset.
 * An unbounded queue spills to an overflow FIFO (a linked list of heap
 * blocks under a death-surviving mutex) while its ring is full. */
#ifndef MP_QUEUE_INTERNAL_H
#define MP_QUEUE_INTERNAL_H

#include "../shm/shm_internal.h"

#include <stdalign.h>

#define MP__QUEUE_MAGIC 0x3165756575717076ULL /* "vpqueue1" */
#define MP__QUEUE_VERSION 3u
#define MP__QUEUE_FLAG_JOINABLE 0x1u

/* Messages of this many bytes and up take the large-message path: a put
 * paces them and maps its block's pages (madvise), and a get maps them
 * before it copies (a system call each, the first time a handle meets a
 * block: block_map in queue_private.h; and a heap block of twice the
 * size). Callers that choose their message sizes (the pool's
 * chunks) stay under it. */
#define MP__QUEUE_LARGE_MIN (64u * 1024)

#define MP__QUEUE_CELL_SIZE 128u
#define MP__QUEUE_INLINE_MAX (MP__QUEUE_CELL_SIZE - 32u)
#define MP__QUEUE_UNBOUNDED_CELLS 4096u
/* Bounded queues up to this maxsize get a ring of their own size (exact
 * bound); larger ones share the unbounded layout and bound by qsize. */
#define MP__QUEUE_MAX_RING_CELLS 65536u

/* Cell state word. */
#define MP__QS_PID_BITS 22
#define MP__QS_PID_MASK ((1ULL << MP__QS_PID_BITS) - 1)
#define MP__QS_POS_BITS 40
#define MP__QS_POS_MASK ((1ULL << MP__QS_POS_BITS) - 1)
#define MP__QS_FREE 0u
#define MP__QS_WRITING 1u
#define MP__QS_FULL 2u
#define MP__QS_READING 3u

typedef struct mp__qcell {
    _Atomic uint64_t state;
    _Atomic uint64_t len;
    _Atomic uint64_t off; /* heap offset of the data, 0: inline */
    /* The identity of the process holding the cell (WRITING or READING),
     * stored by it right after its claim and set back to 0 before the
     * cell is handed on (published, freed, or repaired), so it never names
     * an earlier holder: 0 or another pid than the state's means "not
     * written yet" and only the pid is checked. */
    _Atomic uint64_t holder;
    unsigned char data[MP__QUEUE_INLINE_MAX];
} mp__qcell_t;

_Static_assert(sizeof(mp__qcell_t) == MP__QUEUE_CELL_SIZE, "cell size");

/* An overflow node, in the heap: next node's offset, then the message. */
typedef struct mp__qnode {
    uint64_t next;
    uint64_t len;
    /* heap offset of the data, 0: inline after the node (or, while the
     * node is not linked, in the putter's hand) */
    _Atomic uint64_t off;
    uint64_t pad;
} mp__qnode_t;

/* A hand: the record one put keeps of the heap blocks it holds that no
 * cell or overflow node names yet, so that when its process dies they are
 * freed (hand_clean in recover.c) instead of leaking for the life of the
 * queue. Blocks come in and go out through mp__heap_alloc_to and
 * mp__heap_free_from, which update the hand's word in the same step. */
typedef struct mp__qhand {
    _Atomic uint64_t owner; /* identity of the putting process; 0: free */
    _Atomic uint64_t claim; /* the state word of the cell it claimed for
                             * the message (WRITING), 0: none */
    _Atomic uint64_t block; /* the message's heap block, 0: none */
    _Atomic uint64_t node;  /* its overflow node (not linked yet), 0: none */
} mp__qhand_t;

/* Puts that hold heap blocks at once (more wait for a hand), and gets
 * that hold a node taken from the overflow list. Separate, so that a get
 * never waits for a hand held by a put that waits for gets (a bounded
 * queue beyond its ring). */
#define MP__QUEUE_PUT_HANDS 32u
#define MP__QUEUE_TAKE_HANDS 8u
#define MP__QUEUE_HANDS (MP__QUEUE_PUT_HANDS + MP__QUEUE_TAKE_HANDS)

/* Zero-copy (zerocopy.c). A slot borrowed with mp_queue_put_begin is a put
 * hand of the upper half, [MP__QUEUE_BORROW_FIRST, MP__QUEUE_PUT_HANDS):
 * its block is the hand's, as any put's copy is, so a dead borrower's hand
 * is cleaned as a put's (by 1.0 processes too), and at most half the put
 * hands are borrowed at once, leaving the rest to mp_queue_put. A message
 * held with mp_queue_get_begin is named by a hand of zc_hands (indices
 * MP__QUEUE_HANDS and up, see hand_at): its block moves there from the
 * cell or overflow node with mp__heap_move. */
#define MP__QUEUE_BORROW_FIRST (MP__QUEUE_PUT_HANDS / 2)
#define MP__QUEUE_BORROW_HANDS (MP__QUEUE_PUT_HANDS - MP__QUEUE_BORROW_FIRST)
#define MP__QUEUE_HOLD_HANDS 16u
#define MP__QUEUE_ALL_HANDS (MP__QUEUE_HANDS + MP__QUEUE_HOLD_HANDS)

typedef struct mp__qhdr {
    _Atomic uint64_t magic; /* stored last by the creator */
    uint32_t version;
    uint32_t flags;
    int64_t maxsize;    /* <= 0: unbounded */
    uint64_t ncells;    /* power of two */
    uint64_t capacity;  /* largest message */
    uint64_t cells_off; /* from the segment start */
    uint64_t heap_off;  /* from the segment start */
    uint64_t pidns;     /* the creator's pid namespace (mp__plat_pidns_id) */
    alignas(64) _Atomic uint64_t tail; /* next position to claim for put */
    alignas(64) _Atomic uint64_t head; /* next position to claim for get */
    /* Futex words: bumped (and woken) only when someone may sleep. */
    alignas(64) _Atomic uint32_t cons_seq;
    _Atomic uint32_t cons_waiters;
    alignas(64) _Atomic uint32_t prod_seq;
    _Atomic uint32_t prod_waiters;
    /* Set by a put that sleeps on prod_seq for a full ring to drain
     * (unbounded queues); the get that finds the ring half empty clears
     * it and wakes every sleeper, once, not at every message. */
    _Atomic uint32_t drain_wanted;
    /* JoinableQueue tasks: puts completed (published to a cell or linked
     * to the overflow list) minus task_done calls; changed only under
     * ovf_lock, read without it (join sleeps on it). */
    alignas(64) _Atomic uint32_t unfinished;
    _Atomic uint32_t join_waiters;
    alignas(64) mp__mutex_t ovf_lock;
    _Atomic uint64_t ovf_head; /* heap offsets of mp__qnode_t; 0: none */
    _Atomic uint64_t ovf_tail;
    _Atomic int64_t ovf_count;
    _Atomic uint64_t ovf_pops; /* messages taken from the list, ever */
    /* The ovf_lock holder's journal: a step that changes what the lock
     * guards together with a cell or a hand (see recover.c); a
     * locker that takes the lock over from a dead holder finishes it or
     * undoes it. The lock also guards `unfinished`'s changes. */
    uint32_t jr_kind;         /* QJ_* in queue_private.h; 0: none */
    uint32_t jr_old;          /* unfinished before the step */
    uint64_t jr_claim;        /* a cell's state word */
    uint64_t jr_hand;         /* index of the putter's hand, or NO_HAND */
    _Atomic uint64_t jr_node; /* an overflow node */
    mp__qhand_t hands[MP__QUEUE_HANDS];
    /* mp_wait_any: how many callers wait on the queue's waker now. A
     * producer that publishes a message reads it (no syscall while it is
     * 0) and, when non-zero, signals the waker. */
    alignas(64) _Atomic uint32_t poll_waiters;
    /* The hands of messages held by mp_queue_get_begin (owner: the
     * holder; block: the message's). Added after 1.0's fields, in the
     * header page's spare room, which a segment 1.0 made holds zeroed:
     * the layout stays version 3, and processes of 1.0 leave these alone
     * (a hand here is only cleaned by a process that knows it). */
    alignas(64) mp__qhand_t hold_hands[MP__QUEUE_HOLD_HANDS];
} mp__qhdr_t;

_Static_assert(sizeof(mp__qhdr_t) <= 4096, "queue header fits its page");

/* --- waiting with mp_wait_any (wait_any.c) --------------------------------
 * Each queue has a waker (platform.h's mp__plat_waker_*): a named queue a
 * named one next to its segment, "/dev/shm/<name>.w" (a FIFO, mode 0600),
 * made by mp_queue_create, removed by the creator's destroy or by the
 * tracker; a private queue (mp__queue_create_private) a private one (an
 * eventfd). While poll_waiters > 0 a put signals it, so a waiter can
 * poll() a queue together with other fds. The waker is level-triggered in
 * effect: a waiter drains it only after it found the queue empty, and one
 * that drains and then finds a message signals it again, so a wake-up is
 * never eaten by another waiter. A waiter that is SIGKILLed while counted
 * leaves poll_waiters too high for good: that only costs every later put
 * one write() (a full waker stays signalled). */

/* The suffix of the named waker's name (after the segment's name). */
#define MP__QUEUE_FIFO_SUFFIX ".w"

/* mp__queue_put_two puts head_len bytes at head followed by tail_len
 * bytes at tail as one message, as mp_queue_put puts one buffer (the
 * same waits, errors and crash safety), copying each part once: a
 * message's header and a body that lives elsewhere (a map's chunk in
 * the caller's array) need not be joined first. Context: as
 * mp_queue_put. */
int mp__queue_put_two(mp_queue_t *q, const void *head, size_t head_len,
                      const void *tail, size_t tail_len, mp_duration_t timeout);

/* mp__queue_poll_fd returns the handle's waker fd (a named queue's opened
 * on first use and kept until mp_queue_destroy; a private queue's made
 * with it), or MP_EBADF (a closed handle, or the name is not a waker),
 * MP_ENOENT (the creator already removed the queue), another open error.
 * Context: any thread. */
int mp__queue_poll_fd(mp_queue_t *q);

/* mp__queue_poll_begin counts the caller as a poll waiter (after a
 * successful mp__queue_poll_fd); mp__queue_poll_end undoes it. Between the
 * two, check mp__queue_poll_ready before every poll(). */
void mp__queue_poll_begin(mp_queue_t *q);
void mp__queue_poll_end(mp_queue_t *q);

/* mp__queue_poll_ready returns true when the queue holds a message. */
bool mp__queue_poll_ready(const mp_queue_t *q);

/* mp__queue_poll_ack is called when poll() found the waker readable and
 * mp__queue_poll_ready was false: it drains the waker, then returns
 * whether the queue holds a message (signalling it again if so, for
 * other waiters). */
bool mp__queue_poll_ack(mp_queue_t *q);

/* Test hook: when non-NULL, called with MP__QUEUE_HOOK_* at the points
 * named, in the process doing the put or get. Fault tests park a process
 * there and SIGKILL it. */
#define MP__QUEUE_HOOK_PUT_CLAIMED 1    /* cell WRITING, not yet published */
#define MP__QUEUE_HOOK_GET_CLAIMED 2    /* cell READING, not yet freed */
#define MP__QUEUE_HOOK_OVF_LINKED 3     /* overflow lock held, tail stale */
#define MP__QUEUE_HOOK_OVF_POPPED 4     /* overflow lock held, count stale */
#define MP__QUEUE_HOOK_PUT_TAIL_STALE 5 /* cell WRITING, tail not moved */
#define MP__QUEUE_HOOK_STEP_ASIDE 6     /* a lost claim, about to yield */
/* A put's block in its hand, nothing claimed yet. */
#define MP__QUEUE_HOOK_PUT_START 7
/* Joinable: the task counted under the lock, the cell not published. */
#define MP__QUEUE_HOOK_PUT_COUNTED 8
/* The cell published, the hand not given back (joinable: lock held). */
#define MP__QUEUE_HOOK_PUT_PUBLISHED 9
/* The overflow lock held, the task counted, the node not linked. */
#define MP__QUEUE_HOOK_OVF_COUNTED 10
/* A node moved back to the ring left the list; its cell not published. */
#define MP__QUEUE_HOOK_REFILL_UNLINKED 11
/* mp_queue_get_begin: the message's block moved to the holder's hand,
 * its cell (READING) not freed yet. */
#define MP__QUEUE_HOOK_HOLD_MOVED 12
/* block_map is about to map a large block's pages (one madvise). */
#define MP__QUEUE_HOOK_BLOCK_MAP 13
/* A waiting put or get pauses once in its spin (wait.c). */
#define MP__QUEUE_HOOK_WAIT_PAUSE 14
extern void (*mp__queue_test_hook)(int point);
/* Test knob: when non-zero (a power of two), the ring size of queues
 * created from now on that are not bounded by their ring (so tests can
 * drive the overflow list with few messages). */
extern uint32_t mp__queue_test_ring_cells;

/* mp__queue_heap_free_bytes returns the bytes the queue's heap could
 * still hand out (mp__heap_free_bytes): a probe for tests. */
uint64_t mp__queue_heap_free_bytes(const mp_queue_t *q);

/* mp__queue_reclaim frees what puts of dead processes held (their hands,
 * see mp__qhand_t) and returns how many hands it cleaned. Puts call it
 * when they find no room or no free hand, and gets when they repair a dead
 * peer's cell; tests call it to look. Context: any thread. */
unsigned mp__queue_reclaim(mp_queue_t *q);

/* mp__queue_create_private is mp_queue_create for a queue that only the
 * calling process and the children it forks afterwards use (a pool's
 * inboxes and result queue). Its segment is an unnamed shared mapping (a
 * memfd, closed at once): no name is made, tracked or removed, and
 * mp_queue_name returns NULL for it (no mp_queue_attach can reach it).
 * Its mp_wait_any wake-up is an eventfd made with it (inherited by those
 * children) rather than a named FIFO. mp_queue_destroy unmaps it and
 * closes the eventfd in the calling process, whichever process calls it.
 * Returns 0 or MP_EINVAL (NULL out, capacity too large), MP_ENOSPC,
 * MP_ENOMEM, another memfd/mmap/waker error. Context: any thread. */
int mp__queue_create_private(mp_queue_t **out, const mp_queue_opts_t *opts);

/* mp__queue_remove_name removes the names a queue called name (as
 * mp_queue_name gives it) has: its segment and its wake-up FIFO, and
 * forgets them in the tracker. For an owner that no longer has the
 * creating handle (the manager's store at shutdown, or after its server
 * died). Mappings stay valid. Takes no lock; ignores missing names. */
void mp__queue_remove_name(const char *name);

#endif /* MP_QUEUE_INTERNAL_H */
