/* SPDX-License-Identifier: MIT */
/* ck.c - Concurrency Kit's ck_ring in shared memory on mp_bench's queue
 * shapes, the fastest thing a C programmer can write when crash safety
 * and blocking do not matter: 64-byte messages copied into the ring's
 * slots (CK_RING_PROTOTYPE), SPSC for 1p1c and MPMC for 2p2c
 * (queue_throughput_small_*@ck_ring); 1 MiB messages through CK_LARGE_SLOTS
 * slots of shared memory whose indices go round two SPSC rings, full and
 * free: the producer copies in, the consumer copies out into its buffer
 * (queue_throughput_large@ck_ring). A full or empty ring is waited on by
 * spinning CK_SPINS times, then sched_yield() between tries. */
#include "peer_common.h"

#include <ck_pr.h>
#include <ck_ring.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>

/* Entries of the small-message ring (a power of two). */
#define CK_SMALL_ENTRIES 4096
/* The large messages' slots, and the size of their rings (a power of two
 * above the slots: a ck_ring holds one entry less than its size). */
#define CK_LARGE_SLOTS 8
#define CK_LARGE_RING 16
/* Spins before a waiter starts to yield. */
#define CK_SPINS 100

/* A small message as the ring holds it. */
struct msg64 {
    uint32_t len;
    char data[64];
};
CK_RING_PROTOTYPE(msg64, msg64)

/* A large message's slot: its length, then its bytes. */
struct slot {
    uint64_t len;
    char data[];
};

/* The shared memory of one run: this header, then the ring buffers (and
 * the large slots). */
struct ckq {
    ck_ring_t ring; /* small: the messages; large: indices of full slots */
    ck_ring_t free; /* large: indices of free slots */
    size_t total;   /* bytes mapped */
    size_t size;    /* largest message */
    int mpmc;
    int large;
    struct msg64 *small_buf;
    ck_ring_buffer_t *full_buf, *free_buf;
    char *slots;
};

/* Waits one step: a stall for the first CK_SPINS, then a yield. */
static void
backoff(unsigned *spins)
{
    if (++*spins < CK_SPINS) {
        ck_pr_stall();
    } else {
        sched_yield();
    }
}

static struct slot *
slot_at(const struct ckq *q, uintptr_t i)
{
    return (struct slot *)(q->slots + i * (sizeof(struct slot) + q->size));
}

static void *
ck_open(int nprod, int ncons, size_t size)
{
    int large = size > sizeof(((struct msg64 *)0)->data);
    size_t total = sizeof(struct ckq);

    total += large ? 2 * CK_LARGE_RING * sizeof(ck_ring_buffer_t) +
                         CK_LARGE_SLOTS * (sizeof(struct slot) + size)
                   : CK_SMALL_ENTRIES * sizeof(struct msg64);
    struct ckq *q = peer_shared(total);
    q->total = total;
    q->size = size;
    q->mpmc = nprod > 1 || ncons > 1;
    q->large = large;
    if (large && q->mpmc) {
        peer_unshare(q, total);
        return NULL; /* only 1p1c is measured with large messages */
    }
    if (!large) {
        q->small_buf = (struct msg64 *)(q + 1);
        ck_ring_init(&q->ring, CK_SMALL_ENTRIES);
        return q;
    }
    q->full_buf = (ck_ring_buffer_t *)(q + 1);
    q->free_buf = q->full_buf + CK_LARGE_RING;
    q->slots = (char *)(q->free_buf + CK_LARGE_RING);
    ck_ring_init(&q->ring, CK_LARGE_RING);
    ck_ring_init(&q->free, CK_LARGE_RING);
    for (uintptr_t i = 0; i < CK_LARGE_SLOTS; i++) {
        ck_ring_enqueue_spsc(&q->free, q->free_buf, (void *)i);
    }
    return q;
}

static void *
ck_attach(void *shared, int role, int k)
{
    (void)role;
    (void)k;
    return shared;
}

static int
ck_put(void *h, const void *p, size_t len)
{
    struct ckq *q = h;
    unsigned spins = 0;

    if (!q->large) {
        struct msg64 m = {(uint32_t)len, {0}};

        memcpy(m.data, p, len);
        while (!(
            q->mpmc ? ck_ring_enqueue_mpmc_msg64(&q->ring, q->small_buf, &m)
                    : ck_ring_enqueue_spsc_msg64(&q->ring, q->small_buf, &m))) {
            backoff(&spins);
        }
        return 0;
    }
    void *v;
    while (!ck_ring_dequeue_spsc(&q->free, q->free_buf, &v)) {
        backoff(&spins);
    }
    struct slot *s = slot_at(q, (uintptr_t)v);
    s->len = len;
    memcpy(s->data, p, len);
    spins = 0;
    while (!ck_ring_enqueue_spsc(&q->ring, q->full_buf, v)) {
        backoff(&spins);
    }
    return 0;
}

static long
ck_get(void *h, void *buf, size_t cap)
{
    struct ckq *q = h;
    unsigned spins = 0;

    if (!q->large) {
        struct msg64 m;

        while (!(
            q->mpmc ? ck_ring_dequeue_mpmc_msg64(&q->ring, q->small_buf, &m)
                    : ck_ring_dequeue_spsc_msg64(&q->ring, q->small_buf, &m))) {
            backoff(&spins);
        }
        if (m.len > cap) {
            return -1;
        }
        memcpy(buf, m.data, m.len);
        return (long)m.len;
    }
    void *v;
    while (!ck_ring_dequeue_spsc(&q->ring, q->full_buf, &v)) {
        backoff(&spins);
    }
    const struct slot *s = slot_at(q, (uintptr_t)v);
    long len = (long)s->len;
    if (s->len > cap) {
        return -1;
    }
    memcpy(buf, s->data, s->len);
    spins = 0;
    while (!ck_ring_enqueue_spsc(&q->free, q->free_buf, v)) {
        backoff(&spins);
    }
    return len;
}

/* The parent puts the end: the producers have exited, so it is then the
 * one producer. */
static int
ck_end(void *shared, int k)
{
    (void)k;
    return ck_put(shared, "", 0);
}

static void
ck_detach(void *h)
{
    (void)h;
}

static void
ck_close(void *shared)
{
    struct ckq *q = shared;

    peer_unshare(q, q->total);
}

static const struct peer_queue RING = {
    "ck_ring",
    "ck_ring in shared memory (SPSC 1p1c, MPMC 2p2c; 1 MiB: slots copied "
    "in and out, indices on two SPSC rings), spin then yield",
    ck_open,
    ck_attach,
    ck_put,
    ck_get,
    ck_end,
    ck_detach,
    ck_close,
};

int
main(int argc, char **argv)
{
    return peer_transport_main(argc, argv, "peer_ck", NULL, &RING, 0, &RING);
}
