/* SPDX-License-Identifier: MIT */
/* test-queue-stress.c - exactly-once under load: producer and consumer
 * processes move many messages of mixed sizes (mostly small, some of
 * 256 KiB and more, a few of 1 MiB) through one queue; every message
 * arrives exactly once, intact, and in per-producer order at each
 * consumer; also on two CPUs, where a process that loses a claim steps
 * aside. Counts shrink under sanitizers. */
#include "runner.h"

#include "queue/queue_internal.h"

#include <sched.h>
#include <stdlib.h>

#define NPROD 4
#define NCONS 4
#define STOP_ID 0xfu
#define MIB (1u << 20)

/* Every message starts with this header. */
typedef struct msg_hdr {
    uint32_t id; /* producer << 28 | seq */
    uint32_t len;
    uint64_t sum; /* checksum of the bytes after the header */
} msg_hdr_t;

typedef struct shared {
    _Atomic uint64_t *bits[NPROD]; /* one bit per (producer, seq) */
    _Atomic long dup, bad, order, got;
} shared_t;

typedef struct stress {
    mp_queue_t *q;
    shared_t *sh;
    uint32_t per_prod;
    uint32_t index;
} stress_t;

/* --- helpers ------------------------------------------------------------ */

/* A 64-bit mix of x (splitmix64's finaliser). */
static uint64_t
mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* The length of message seq of producer p: mostly small (inline), some
 * medium, some of 256 KiB and more, a few of 1 MiB. */
static size_t
msg_len(uint32_t p, uint32_t seq)
{
    uint64_t r = mix((uint64_t)p << 32 | seq);
    size_t len;
    if (r % 20000 == 0) {
        len = MIB;
    } else if (r % 2000 == 1) {
        len = 256 * 1024 + (size_t)((r >> 20) % (256 * 1024));
    } else if (r % 20 == 2) {
        len = 100 + (size_t)((r >> 20) % 4000);
    } else {
        len = (size_t)((r >> 20) % (MP__QUEUE_INLINE_MAX + 1));
    }
    return len < sizeof(msg_hdr_t) ? sizeof(msg_hdr_t) : len;
}

/* The checksum of n bytes. */
static uint64_t
checksum(const unsigned char *b, size_t n)
{
    uint64_t c = 0xcbf29ce484222325ULL;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, b + i, 8);
        c = (c ^ w) * 0x100000001b3ULL;
    }
    for (; i < n; i++) {
        c = (c ^ b[i]) * 0x100000001b3ULL;
    }
    return c;
}

/* Builds message seq of producer p in buf (MIB bytes); returns its length. */
static size_t
build(unsigned char *buf, uint32_t p, uint32_t seq)
{
    size_t len = msg_len(p, seq);
    uint64_t x = mix(seq ^ ((uint64_t)p << 40));
    size_t body = len - sizeof(msg_hdr_t);
    unsigned char *b = buf + sizeof(msg_hdr_t);
    for (size_t i = 0; i < body; i += 8) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        memcpy(b + i, &x, body - i < 8 ? body - i : 8);
    }
    msg_hdr_t h = {p << 28 | seq, (uint32_t)len, checksum(b, body)};
    memcpy(buf, &h, sizeof h);
    return len;
}

/* Producer: puts its per_prod messages. */
static int
producer(void *arg)
{
    stress_t *s = arg;
    unsigned char *buf = malloc(MIB);
    if (buf == NULL) {
        return 1;
    }
    for (uint32_t seq = 0; seq < s->per_prod; seq++) {
        size_t len = build(buf, s->index, seq);
        if (mp_queue_put(s->q, buf, len, MP_WAIT_FOREVER) != 0) {
            return 2;
        }
    }
    free(buf);
    return 0;
}

/* Checks one received message and records it; returns 1 for STOP. */
static int
record(shared_t *sh, const unsigned char *m, ssize_t n, int64_t *last)
{
    msg_hdr_t h;
    if (n < (ssize_t)sizeof h) {
        atomic_fetch_add(&sh->bad, 1);
        return 0;
    }
    memcpy(&h, m, sizeof h);
    uint32_t p = h.id >> 28, seq = h.id & 0x0fffffffu;
    if (p == STOP_ID) {
        return 1;
    }
    if (p >= NPROD || h.len != (uint32_t)n || msg_len(p, seq) != (size_t)n ||
        checksum(m + sizeof h, (size_t)n - sizeof h) != h.sum) {
        atomic_fetch_add(&sh->bad, 1);
        return 0;
    }
    uint64_t bit = 1ULL << (seq % 64);
    if (atomic_fetch_or(&sh->bits[p][seq / 64], bit) & bit) {
        atomic_fetch_add(&sh->dup, 1);
    }
    if ((int64_t)seq <= last[p]) {
        atomic_fetch_add(&sh->order, 1);
    }
    last[p] = seq;
    atomic_fetch_add(&sh->got, 1);
    return 0;
}

/* Consumer: takes messages until a STOP (odd ones use mp_queue_get, even
 * ones mp_queue_get_into). */
static int
consumer(void *arg)
{
    stress_t *s = arg;
    int64_t last[NPROD] = {-1, -1, -1, -1};
    unsigned char *buf = malloc(MIB);
    if (buf == NULL) {
        return 1;
    }
    for (;;) {
        int stop;
        if (s->index % 2) {
            void *out = NULL;
            ssize_t n = mp_queue_get(s->q, &out, MP_WAIT_FOREVER);
            if (n < 0) {
                return 2;
            }
            stop = record(s->sh, out, n, last);
            mp_free(out);
        } else {
            ssize_t n = mp_queue_get_into(s->q, buf, MIB, MP_WAIT_FOREVER);
            if (n < 0) {
                return 3;
            }
            stop = record(s->sh, buf, n, last);
        }
        if (stop) {
            break;
        }
    }
    free(buf);
    return 0;
}

/* Runs NPROD producers and NCONS consumers over q and checks the result. */
static void
run_stress(mp_queue_t *q, uint32_t total)
{
    uint32_t per = total / NPROD;
    size_t words = per / 64 + 1;
    shared_t *sh = mp__shared_alloc(sizeof *sh);
    ASSERT_NOT_NULL(sh);
    for (int p = 0; p < NPROD; p++) {
        sh->bits[p] = mp__shared_alloc(words * 8);
        ASSERT_NOT_NULL(sh->bits[p]);
    }
    stress_t args[NPROD + NCONS];
    pid_t pids[NPROD + NCONS];
    for (int i = 0; i < NPROD + NCONS; i++) {
        args[i] = (stress_t){q, sh, per, (uint32_t)(i % NPROD)};
        pids[i] = mpt_fork(i < NPROD ? producer : consumer, &args[i]);
    }
    for (int i = 0; i < NPROD; i++) {
        ASSERT_EQ(mpt_join(pids[i]), 0);
    }
    for (int i = 0; i < NCONS; i++) {
        msg_hdr_t stop = {STOP_ID << 28, sizeof stop, 0};
        ASSERT_OK(mp_queue_put(q, &stop, sizeof stop, MP_WAIT_FOREVER));
    }
    for (int i = NPROD; i < NPROD + NCONS; i++) {
        ASSERT_EQ(mpt_join(pids[i]), 0);
    }
    ASSERT_EQ(atomic_load(&sh->dup), 0);
    ASSERT_EQ(atomic_load(&sh->bad), 0);
    ASSERT_EQ(atomic_load(&sh->order), 0);
    ASSERT_EQ(atomic_load(&sh->got), (long)per * NPROD);
    for (int p = 0; p < NPROD; p++) {
        for (uint32_t seq = 0; seq < per; seq++) {
            ASSERT(atomic_load(&sh->bits[p][seq / 64]) & (1ULL << (seq % 64)));
        }
        mp__shared_free((void *)sh->bits[p]);
    }
    mp__shared_free(sh);
    ASSERT_EQ(mp_queue_qsize(q), 0);
}

/* The message count: smaller under sanitizers (slower by the multiplier). */
static uint32_t
scaled(uint32_t n)
{
    return mpt_slow() ? n / 10 : n;
}

/* --- tests -------------------------------------------------------------- */

TEST_TIMEOUT(queue_stress_unbounded_exactly_once, 120)
{
    mp_queue_t *q;
    ASSERT_OK(mp_simple_queue_create(&q));
    run_stress(q, scaled(1000000));
    mp_queue_destroy(q);
}

TEST_TIMEOUT(queue_stress_bounded_exactly_once, 120)
{
    mp_queue_opts_t o = MP_QUEUE_OPTS_INIT;
    o.maxsize = 50;
    mp_queue_t *q;
    ASSERT_OK(mp_queue_create(&q, &o));
    run_stress(q, scaled(200000));
    mp_queue_destroy(q);
}

/* Step-asides seen by count_step_aside, in every process. */
static _Atomic long *step_asides;

/* Queue test hook: counts lost claims that yielded. */
static void
count_step_aside(int point)
{
    if (point == MP__QUEUE_HOOK_STEP_ASIDE) {
        atomic_fetch_add(step_asides, 1);
    }
}

TEST_TIMEOUT(queue_stress_two_cpus_steps_aside, 120)
{
    /* On (at most) two CPUs of this process's mask, a handle steps aside
     * on a lost claim: with eight processes on two CPUs, claims are lost
     * all the time, and every message must still arrive exactly once. */
    cpu_set_t was, two;
    ASSERT_EQ(sched_getaffinity(0, sizeof was, &was), 0);
    CPU_ZERO(&two);
    for (int cpu = 0; cpu < CPU_SETSIZE && CPU_COUNT(&two) < 2; cpu++) {
        if (CPU_ISSET(cpu, &was)) {
            CPU_SET(cpu, &two);
        }
    }
    ASSERT_EQ(sched_setaffinity(0, sizeof two, &two), 0);
    step_asides = mp__shared_alloc(sizeof *step_asides);
    ASSERT_NOT_NULL(step_asides);
    mp__queue_test_hook = count_step_aside;
    /* Two producers (or consumers) running at once lose claims to each
     * other, and a run has thousands of such moments - unless the machine
     * is so busy that the eight processes never overlap on the two CPUs
     * (another suite running beside this one). So runs repeat, each one
     * checked exactly-once, until one has seen a lost claim: with the step
     * aside switched off none ever does, and the test fails. */
    int rounds = 0;
    do {
        mp_queue_t *q;
        ASSERT_OK(mp_simple_queue_create(&q));
        run_stress(q, scaled(100000));
        mp_queue_destroy(q);
    } while (CPU_COUNT(&two) == 2 && atomic_load(step_asides) == 0 &&
             ++rounds < 20);
    mp__queue_test_hook = NULL;
    ASSERT_EQ(sched_setaffinity(0, sizeof was, &was), 0);
    if (CPU_COUNT(&two) == 2) {
        ASSERT(atomic_load(step_asides) > 0);
    }
    mp__shared_free((void *)step_asides);
}
