/* SPDX-License-Identifier: MIT */
/* iceoryx.c - Eclipse iceoryx (its C binding) on mp_bench's 1->1 queue
 * shapes: one publisher and one subscriber of a service, 64-byte messages
 * (queue_throughput_small_1p1c@iceoryx) and 1 MiB messages
 * (queue_throughput_large@iceoryx). As mp_bench's queue_throughput_large,
 * the producer writes each message into a chunk it loaned from the shared
 * memory (one copy in) and publishes it, the consumer takes the chunk,
 * copies it out into its buffer and releases it; publisher and subscriber
 * block rather than lose data (WAIT_FOR_CONSUMER, BLOCK_PRODUCER). 2->2 is
 * not measured: a subscriber gets every publisher's every message (a
 * broadcast, not a queue). Needs the RouDi daemon running (iox-roudi;
 * bench/compare-peers starts it with bench/peers/roudi.toml, whose pools
 * hold 1 MiB chunks). Each process registers with its own runtime (one a
 * process, so the parent's side of each run is isolated). An empty or
 * full queue is waited on by spinning IOX_SPINS times, then yielding. */
#include "peer_common.h"

#include <iceoryx_binding_c/enums.h>
#include <iceoryx_binding_c/publisher.h>
#include <iceoryx_binding_c/runtime.h>
#include <iceoryx_binding_c/subscriber.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Spins before a waiter starts to yield. */
#define IOX_SPINS 100
/* The subscriber's queue (iceoryx's most). */
#define IOX_QUEUE 256

/* A message as a chunk holds it. */
struct chunk {
    uint64_t len;
    char data[];
};

/* The run's service instance, "<pid>-<serial>" of the parent (the
 * service is "mp-peer", the event "q"), and the parent's publisher of the
 * end (made by end, kept until close). */
struct iq {
    char instance[64];
    iox_pub_storage_t end_storage;
    iox_pub_t end_pub;
};

/* A producer's or consumer's handle. */
struct ih {
    iox_pub_storage_t pub_storage;
    iox_sub_storage_t sub_storage;
    iox_pub_t pub;
    iox_sub_t sub;
};

/* Waits one step: nothing for the first IOX_SPINS, then a yield. */
static void
backoff(unsigned *spins)
{
    if (++*spins >= IOX_SPINS) {
        sched_yield();
    }
}

/* Writes this process's runtime name, "mp-peer-<pid>", into buf. */
static void
runtime_name(char *buf, size_t cap)
{
    snprintf(buf, cap, "mp-peer-%d", (int)getpid());
}

/* Registers this process with RouDi under a name of its own. */
static void
runtime_init(void)
{
    char name[64];

    runtime_name(name, sizeof name);
    iox_runtime_init(name);
}

/* Ends this process's runtime. Its socket and lock file (/tmp/<name>
 * and /tmp/<name>.lock) are removed by the runtime's destructor at exit(),
 * which a peer's child, leaving with _exit, never runs: removes them. */
static void
runtime_end(void)
{
    char name[64], path[96];

    iox_runtime_shutdown();
    runtime_name(name, sizeof name);
    snprintf(path, sizeof path, "/tmp/%s", name);
    unlink(path);
    snprintf(path, sizeof path, "/tmp/%s.lock", name);
    unlink(path);
}

/* Makes a publisher of q's service into storage that waits for a slow
 * subscriber, and waits until one is connected. */
static iox_pub_t
publisher(const struct iq *q, iox_pub_storage_t *storage)
{
    const struct timespec nap = {0, 1000000};
    iox_pub_options_t o;

    iox_pub_options_init(&o);
    o.subscriberTooSlowPolicy = ConsumerTooSlowPolicy_WAIT_FOR_CONSUMER;
    iox_pub_t pub = iox_pub_init(storage, "mp-peer", q->instance, "q", &o);
    while (!iox_pub_has_subscribers(pub)) {
        nanosleep(&nap, NULL);
    }
    return pub;
}

static void *
iq_open(int nprod, int ncons, size_t size)
{
    static int serial;
    struct iq *q = calloc(1, sizeof *q);

    (void)size;
    if (q == NULL || nprod != 1 || ncons != 1) {
        free(q);
        return NULL;
    }
    snprintf(q->instance, sizeof q->instance, "%d-%d", (int)getpid(), serial++);
    return q;
}

static void *
iq_attach(void *shared, int role, int k)
{
    const struct iq *q = shared;
    struct ih *h = calloc(1, sizeof *h);

    (void)k;
    if (h == NULL) {
        return NULL;
    }
    runtime_init();
    if (role == 1) {
        h->pub = publisher(q, &h->pub_storage);
        return h;
    }
    iox_sub_options_t o;
    iox_sub_options_init(&o);
    o.queueCapacity = IOX_QUEUE;
    o.queueFullPolicy = QueueFullPolicy_BLOCK_PRODUCER;
    h->sub = iox_sub_init(&h->sub_storage, "mp-peer", q->instance, "q", &o);
    return h;
}

/* Loans a chunk for len bytes (waiting while the pool is out of them),
 * copies p in and publishes it. */
static int
publish(iox_pub_t pub, const void *p, size_t len)
{
    void *payload = NULL;
    unsigned spins = 0;
    enum iox_AllocationResult r;

    while ((r = iox_pub_loan_chunk(pub, &payload,
                                   (uint32_t)(sizeof(struct chunk) + len))) !=
           AllocationResult_SUCCESS) {
        if (r != AllocationResult_RUNNING_OUT_OF_CHUNKS &&
            r != AllocationResult_TOO_MANY_CHUNKS_ALLOCATED_IN_PARALLEL) {
            return -1;
        }
        backoff(&spins);
    }
    struct chunk *c = payload;
    c->len = len;
    memcpy(c->data, p, len);
    iox_pub_publish_chunk(pub, payload);
    return 0;
}

static int
iq_put(void *hp, const void *p, size_t len)
{
    return publish(((struct ih *)hp)->pub, p, len);
}

static long
iq_get(void *hp, void *buf, size_t cap)
{
    struct ih *h = hp;
    const void *payload = NULL;
    unsigned spins = 0;
    enum iox_ChunkReceiveResult r;

    while ((r = iox_sub_take_chunk(h->sub, &payload)) !=
           ChunkReceiveResult_SUCCESS) {
        if (r != ChunkReceiveResult_NO_CHUNK_AVAILABLE) {
            return -1;
        }
        backoff(&spins);
    }
    const struct chunk *c = payload;
    long len = (long)c->len;
    if (c->len > cap) {
        len = -1;
    } else {
        memcpy(buf, c->data, c->len);
    }
    iox_sub_release_chunk(h->sub, payload);
    return len;
}

/* The parent publishes the end on a publisher of its own (the consumer's
 * queue takes it after the producer's messages, which were all taken:
 * drain). */
static int
iq_end(void *shared, int k)
{
    struct iq *q = shared;

    (void)k;
    runtime_init();
    q->end_pub = publisher(q, &q->end_storage);
    return publish(q->end_pub, "", 0);
}

static void
iq_detach(void *hp)
{
    struct ih *h = hp;

    if (h->pub != NULL) {
        iox_pub_deinit(h->pub);
    }
    if (h->sub != NULL) {
        iox_sub_deinit(h->sub);
    }
    free(h);
    runtime_end();
}

static void
iq_close(void *shared)
{
    struct iq *q = shared;

    if (q->end_pub != NULL) {
        iox_pub_deinit(q->end_pub);
        runtime_end();
    }
    free(q);
}

static const struct peer_queue PUBSUB = {
    "iceoryx",
    "iceoryx publisher/subscriber (C binding): loan, copy in, publish; "
    "take, copy out, release",
    iq_open,
    iq_attach,
    iq_put,
    iq_get,
    iq_end,
    iq_detach,
    iq_close,
    1,
    1,
};

int
main(int argc, char **argv)
{
    return peer_transport_main(argc, argv, "peer_iceoryx", NULL, &PUBSUB, 1,
                               &PUBSUB);
}
