/* SPDX-License-Identifier: MIT */
/* test-queue-faults.c - queues under SIGKILL: a producer killed between
 * claiming and publishing a cell, a consumer killed mid-read (both parked
 * at that exact point by the test hook), and a kill loop where producers
 * and consumers die at random moments (chosen by a PRNG counted in
 * messages) and are replaced. Survivors keep working; no message arrives
 * twice or corrupted, and at most one per kill is lost. */
#include "queue_test_util.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* --- parking at a hook point -------------------------------------------- */

typedef struct park_arg {
    mp_queue_t *q;
    size_t len; /* message size the child puts */
    bool put;   /* the child puts (else it gets) */
} park_arg_t;

/* Child: puts or gets once, parking at the hook point. */
static int
park_child(void *arg)
{
    park_arg_t *a = arg;
    mp__queue_test_hook = mptq_park_hook;
    char *buf = calloc(1, a->len + 1);
    if (a->put) {
        memset(buf, 'x', a->len);
        (void)mp_queue_put(a->q, buf, a->len, MP_WAIT_FOREVER);
    } else {
        (void)mp_queue_get_into(a->q, buf, a->len + 1, MP_WAIT_FOREVER);
    }
    free(buf);
    return 4; /* not reached */
}

/* Runs park_child, waits until it is parked at point, and SIGKILLs it. */
static void
park_and_kill(park_arg_t *a, int point)
{
    mptq_park_and_kill(park_child, a, point);
}

/* Puts a short text message. */
static void
put_str(mp_queue_t *q, const char *s)
{
    ASSERT_OK(mp_queue_put(q, s, strlen(s), MP_WAIT_FOREVER));
}

/* Gets a message and checks it equals s. */
static void
expect_str(mp_queue_t *q, const char *s)
{
    char buf[64];
    ssize_t n = mp_queue_get_into(q, buf, sizeof buf, MP_WAIT_FOREVER);
    ASSERT_EQ(n, strlen(s));
    ASSERT_MEM_EQ(buf, s, (size_t)n);
}

/* --- focused cases ------------------------------------------------------ */

TEST(queue_faults_producer_killed_after_claim)
{
    long maxsizes[] = {0, 2};
    size_t lens[] = {10, 5000};
    for (size_t k = 0; k < MP__ARRAY_SIZE(maxsizes); k++) {
        for (size_t l = 0; l < MP__ARRAY_SIZE(lens); l++) {
            mp_queue_opts_t o = MP_QUEUE_OPTS_INIT;
            o.maxsize = maxsizes[k];
            mp_queue_t *q;
            ASSERT_OK(mp_queue_create(&q, &o));
            put_str(q, "before");
            park_arg_t a = {q, lens[l], true};
            park_and_kill(&a, MP__QUEUE_HOOK_PUT_CLAIMED);
            /* The dead producer's cell is discarded, nothing else lost. */
            ASSERT_EQ(mp_queue_qsize(q), 2);
            expect_str(q, "before");
            put_str(q, "after");
            expect_str(q, "after");
            char buf[8];
            ASSERT_ERR(mp_queue_get_into(q, buf, sizeof buf, MP_NO_WAIT),
                       MP_EEMPTY);
            /* It keeps working, round after round. */
            for (int i = 0; i < 10; i++) {
                put_str(q, "again");
                expect_str(q, "again");
            }
            ASSERT_EQ(mp_queue_qsize(q), 0);
            mp_queue_destroy(q);
        }
    }
}

/* Killed after claiming its cell but before moving tail past it, and the
 * cell then discarded by a consumer before any producer passed: the
 * consumer moves tail too, and the next put finds its cell (it used to
 * spin for ever on a tail behind a cell of the next lap). */
TEST(queue_faults_producer_killed_before_moving_tail)
{
    long maxsizes[] = {0, 2};
    for (size_t k = 0; k < MP__ARRAY_SIZE(maxsizes); k++) {
        mp_queue_opts_t o = MP_QUEUE_OPTS_INIT;
        o.maxsize = maxsizes[k];
        mp_queue_t *q;
        ASSERT_OK(mp_queue_create(&q, &o));
        put_str(q, "before");
        park_arg_t a = {q, 10, true};
        park_and_kill(&a, MP__QUEUE_HOOK_PUT_TAIL_STALE);
        ASSERT_EQ(mp_queue_qsize(q), 1); /* tail never moved */
        expect_str(q, "before");
        /* This get finds the dead producer's cell, discards it, and then
         * the queue is empty. */
        char buf[8];
        ASSERT_ERR(mp_queue_get_into(q, buf, sizeof buf, MP_NO_WAIT),
                   MP_EEMPTY);
        ASSERT_EQ(mp_queue_qsize(q), 0);
        for (int i = 0; i < 10; i++) {
            put_str(q, "after");
            ASSERT_EQ(mp_queue_qsize(q), 1);
            expect_str(q, "after");
        }
        ASSERT_ERR(mp_queue_get_into(q, buf, sizeof buf, MP_NO_WAIT),
                   MP_EEMPTY);
        mp_queue_destroy(q);
    }
}

TEST(queue_faults_consumer_killed_mid_read)
{
    long maxsizes[] = {0, 1};
    size_t lens[] = {10, 5000};
    for (size_t k = 0; k < MP__ARRAY_SIZE(maxsizes); k++) {
        for (size_t l = 0; l < MP__ARRAY_SIZE(lens); l++) {
            mp_queue_opts_t o = MP_QUEUE_OPTS_INIT;
            o.maxsize = maxsizes[k];
            mp_queue_t *q;
            ASSERT_OK(mp_queue_create(&q, &o));
            char *m = malloc(lens[l]);
            memset(m, 'y', lens[l]);
            ASSERT_OK(mp_queue_put(q, m, lens[l], MP_WAIT_FOREVER));
            free(m);
            park_arg_t a = {q, lens[l], false};
            park_and_kill(&a, MP__QUEUE_HOOK_GET_CLAIMED);
            /* The message being read is lost; the cell is reclaimed by
             * the next producer (with maxsize 1 it is the only cell). */
            ASSERT_EQ(mp_queue_qsize(q), 0);
            for (int i = 0; i < 10; i++) {
                put_str(q, "next");
                expect_str(q, "next");
            }
            mp_queue_destroy(q);
        }
    }
}

TEST(queue_faults_joinable_producer_killed)
{
    mp_queue_t *q;
    ASSERT_OK(mp_joinable_queue_create(&q, 0));
    park_arg_t a = {q, 8, true};
    park_and_kill(&a, MP__QUEUE_HOOK_PUT_CLAIMED);
    put_str(q, "ok");
    expect_str(q, "ok");
    ASSERT_OK(mp_queue_task_done(q));
    /* The discarded message's task was finished by the repair. */
    ASSERT_OK(mp_queue_join(q, MP_WAIT_FOREVER));
    mp_queue_destroy(q);
}

/* --- the kill loop ------------------------------------------------------ */

#define SLOTS 2 /* producer slots and consumer slots */
#define MAX_MSG (300 * 1024)

enum { ROLE_PROD, ROLE_CONS };
enum { DIE_NONE, DIE_ASK, DIE_HOOK }; /* how a worker is to die */
enum { NOTE_KILLME, NOTE_SELFKILL, NOTE_END };

typedef struct note {
    pid_t pid;
    int kind;
} note_t;

typedef struct loop_shared {
    _Atomic uint32_t next[SLOTS]; /* next seq of each producer slot */
    _Atomic int draining;         /* every producer slot is finished */
    _Atomic long dup, bad, order;
    _Atomic uint64_t bits[SLOTS][1024]; /* (slot, seq) received */
} loop_shared_t;

typedef struct worker {
    mp_queue_t *q;
    loop_shared_t *sh;
    int notes_wr; /* worker -> parent notes */
    int role, slot, die;
    uint32_t quota;
    uint32_t after; /* operations before dying */
} worker_t;

static worker_t self_cfg; /* the worker's own copy, for the hook */
static uint32_t hook_calls;

/* Sends a note to the parent. */
static void
note_send(int kind)
{
    note_t n = {getpid(), kind};
    mpt_write_all(self_cfg.notes_wr, &n, sizeof n);
}

/* Test hook of a DIE_HOOK worker: dies holding a cell. */
static void
die_hook(int point)
{
    (void)point;
    if (++hook_calls == self_cfg.after) {
        note_send(NOTE_SELFKILL);
        raise(SIGKILL);
    }
}

/* The length of message seq of slot p. */
static size_t
loop_len(uint32_t p, uint32_t seq)
{
    uint32_t r = (seq * 2654435761u) ^ (p * 40503u);
    if (r % 500 == 0) {
        return 256 * 1024 + r % (MAX_MSG - 256 * 1024);
    }
    if (r % 10 == 1) {
        return 120 + r % 5000;
    }
    return 8 + r % 90;
}

/* Fills message seq of slot p: header (slot, seq) then a pattern. */
static void
loop_fill(unsigned char *b, size_t len, uint32_t p, uint32_t seq)
{
    memcpy(b, &p, 4);
    memcpy(b + 4, &seq, 4);
    for (size_t i = 8; i < len; i++) {
        b[i] = (unsigned char)(seq * 7 + p + i);
    }
}

/* Producer worker: puts the slot's next messages until the quota. */
static void
loop_producer(worker_t *w, unsigned char *buf)
{
    uint32_t ops = 0;
    for (;;) {
        uint32_t seq = atomic_fetch_add(&w->sh->next[w->slot], 1);
        if (seq >= w->quota) {
            return;
        }
        size_t len = loop_len((uint32_t)w->slot, seq);
        loop_fill(buf, len, (uint32_t)w->slot, seq);
        if (mp_queue_put(w->q, buf, len, MP_WAIT_FOREVER) != 0) {
            note_send(NOTE_END);
            _exit(10);
        }
        if (w->die == DIE_ASK && ++ops == w->after) {
            note_send(NOTE_KILLME);
        }
    }
}

/* Checks and records one message. */
static void
loop_record(loop_shared_t *sh, const unsigned char *b, ssize_t n, int64_t *last)
{
    uint32_t p, seq;
    if (n < 8) {
        atomic_fetch_add(&sh->bad, 1);
        return;
    }
    memcpy(&p, b, 4);
    memcpy(&seq, b + 4, 4);
    if (p >= SLOTS || seq >= 64 * 1024 || loop_len(p, seq) != (size_t)n) {
        atomic_fetch_add(&sh->bad, 1);
        return;
    }
    for (ssize_t i = 8; i < n; i++) {
        if (b[i] != (unsigned char)(seq * 7 + p + (size_t)i)) {
            atomic_fetch_add(&sh->bad, 1);
            return;
        }
    }
    uint64_t bit = 1ULL << (seq % 64);
    if (atomic_fetch_or(&sh->bits[p][seq / 64], bit) & bit) {
        atomic_fetch_add(&sh->dup, 1);
    }
    if ((int64_t)seq <= last[p]) {
        atomic_fetch_add(&sh->order, 1);
    }
    last[p] = seq;
}

/* Consumer worker: takes messages until the producers are finished and
 * the queue is empty. */
static void
loop_consumer(worker_t *w, unsigned char *buf)
{
    int64_t last[SLOTS] = {-1, -1};
    uint32_t ops = 0;
    for (;;) {
        bool draining = atomic_load(&w->sh->draining);
        /* Once draining, no producer is left: an empty answer is final. */
        ssize_t n =
            mp_queue_get_into(w->q, buf, MAX_MSG, draining ? MP_NO_WAIT : 20);
        if (n == MP_EEMPTY) {
            if (draining) {
                return;
            }
            continue;
        }
        if (n < 0) {
            note_send(NOTE_END);
            _exit(11);
        }
        loop_record(w->sh, buf, n, last);
        if (w->die == DIE_ASK && ++ops == w->after) {
            note_send(NOTE_KILLME);
        }
    }
}

/* Entry of a kill-loop worker process. */
static int
loop_worker(void *arg)
{
    self_cfg = *(worker_t *)arg;
    hook_calls = 0;
    if (self_cfg.die == DIE_HOOK) {
        mp__queue_test_hook = die_hook;
    }
    unsigned char *buf = malloc(MAX_MSG);
    if (buf == NULL) {
        return 1;
    }
    if (self_cfg.role == ROLE_PROD) {
        loop_producer(&self_cfg, buf);
    } else {
        loop_consumer(&self_cfg, buf);
    }
    free(buf);
    note_send(NOTE_END);
    return 0;
}

/* A small PRNG for the kill schedule (xorshift64). */
static uint64_t
rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* (Re)starts worker w with a fresh death schedule (none once the loop
 * has killed enough). */
static void
spawn(worker_t *w, pid_t *pid, uint64_t *seed, bool may_die)
{
    uint64_t r = rnd(seed);
    w->die = !may_die ? DIE_NONE : r % 2 ? DIE_ASK : DIE_HOOK;
    w->after = 1 + (uint32_t)(rnd(seed) % 800);
    *pid = mpt_fork(loop_worker, w);
}

/* Runs the kill loop over q. */
static void
kill_loop(mp_queue_t *q)
{
    bool slow = mpt_slow();
    uint32_t quota = slow ? 3000 : 20000;
    int max_kills = slow ? 12 : 40;
    uint64_t seed = 0x9e3779b97f4a7c15ULL ^ (uint64_t)getpid();
    fprintf(stderr, "kill loop seed %llu\n", (unsigned long long)seed);

    loop_shared_t *sh = mp__shared_alloc(sizeof *sh);
    ASSERT_NOT_NULL(sh);
    mpt_pipe_t notes;
    mpt_pipe_open(&notes);
    worker_t w[2 * SLOTS];
    pid_t pids[2 * SLOTS];
    bool done[2 * SLOTS] = {false};
    int kills = 0;
    for (int i = 0; i < 2 * SLOTS; i++) {
        w[i] = (worker_t){.q = q,
                          .sh = sh,
                          .notes_wr = notes.wr,
                          .role = i < SLOTS ? ROLE_PROD : ROLE_CONS,
                          .slot = i % SLOTS,
                          .quota = quota};
    }
    for (int i = 0; i < 2 * SLOTS; i++) {
        spawn(&w[i], &pids[i], &seed, kills < max_kills);
    }
    int live = 2 * SLOTS;
    while (live > 0) {
        /* Every worker sends a note before it ends (or asks to be
         * killed): read one, then reap the worker it names. */
        note_t n;
        int i = -1;
        mpt_read_all(notes.rd, &n, sizeof n);
        for (int k = 0; k < 2 * SLOTS; k++) {
            if (pids[k] == n.pid) {
                i = k;
            }
        }
        if (i < 0) {
            continue; /* a late note of a worker already reaped */
        }
        if (n.kind == NOTE_KILLME) {
            ASSERT_EQ(kill(n.pid, SIGKILL), 0);
        }
        /* Either way it ends (or has ended) soon: reap it next round. */
        int code = mpt_join(n.pid);
        pids[i] = 0;
        if (code == -SIGKILL) {
            kills++;
            spawn(&w[i], &pids[i], &seed, kills < max_kills);
            continue;
        }
        ASSERT_EQ(code, 0);
        done[i] = true;
        live--;
        if (i < SLOTS && done[0] && done[1]) {
            atomic_store(&sh->draining, 1);
        }
    }
    mpt_pipe_close(&notes);

    ASSERT_EQ(atomic_load(&sh->dup), 0);
    ASSERT_EQ(atomic_load(&sh->bad), 0);
    ASSERT_EQ(atomic_load(&sh->order), 0);
    long missing = 0;
    for (int p = 0; p < SLOTS; p++) {
        for (uint32_t seq = 0; seq < quota; seq++) {
            if (!(atomic_load(&sh->bits[p][seq / 64]) & (1ULL << (seq % 64)))) {
                missing++;
            }
        }
    }
    fprintf(stderr, "kills %d, messages lost %ld\n", kills, missing);
    ASSERT_LE(missing, kills);
    mp__shared_free(sh);
    /* The survivors' queue still works. */
    ASSERT_EQ(mp_queue_empty(q), 1);
    put_str(q, "end");
    expect_str(q, "end");
}

TEST_TIMEOUT(queue_faults_kill_loop_unbounded, 120)
{
    mp_queue_t *q;
    ASSERT_OK(mp_simple_queue_create(&q));
    kill_loop(q);
    mp_queue_destroy(q);
}

TEST_TIMEOUT(queue_faults_kill_loop_bounded, 120)
{
    mp_queue_opts_t o = MP_QUEUE_OPTS_INIT;
    o.maxsize = 6;
    mp_queue_t *q;
    ASSERT_OK(mp_queue_create(&q, &o));
    kill_loop(q);
    mp_queue_destroy(q);
}

TEST_TIMEOUT(queue_faults_kill_loop_overflow, 120)
{
    /* A ring of 4 cells: most messages go through the overflow list. */
    mp__queue_test_ring_cells = 4;
    mp_queue_t *q;
    ASSERT_OK(mp_simple_queue_create(&q));
    mp__queue_test_ring_cells = 0;
    kill_loop(q);
    mp_queue_destroy(q);
}

/* --- the task count and the heap across kills (issue 21, items 10, 16) ---
 * A producer or consumer parked at each point of a put or get where it can
 * die, then SIGKILLed. Afterwards the queue holds exactly the messages that
 * were put (the killed put counts if and only if it got past its point of
 * no return), a JoinableQueue's join returns once those are task_done
 * (Python: puts completed minus task_done calls), and the queue's heap has
 * all its bytes back: no block of the killed process leaks. */

#define WAIT_MS 20000 /* bounds a get or join that would otherwise hang */

/* Puts a message of len bytes of ch. */
static void
put_fill(mp_queue_t *q, char ch, size_t len)
{
    char *m = malloc(len + 1);
    ASSERT(m != NULL);
    memset(m, ch, len);
    ASSERT_OK(mp_queue_put(q, m, len, MP_WAIT_FOREVER));
    free(m);
}

/* Gets a message and checks it is len bytes of ch. */
static void
expect_fill(mp_queue_t *q, char ch, size_t len)
{
    char *m = malloc(len + 1);
    ASSERT(m != NULL);
    ssize_t n = mp_queue_get_into(q, m, len + 1, WAIT_MS);
    ASSERT_EQ(n, (ssize_t)len);
    for (size_t i = 0; i < len; i++) {
        ASSERT_EQ(m[i], ch);
    }
    free(m);
}

/* Checks the queue is drained and its heap whole (queue_test_util.h). */
static void
expect_drained(mp_queue_t *q, uint64_t free0)
{
    mptq_expect_drained(q, free0);
}

typedef struct put_case {
    int point;    /* where the producer is killed */
    size_t len;   /* its message: 8 (inline) or 5000 (a heap block) */
    long maxsize; /* 0: unbounded */
    int setup;    /* 0: plain; 1: it spills to the overflow list; 2: it
                   * moves a spilled message back to the ring first */
    bool counted; /* its message was put */
} put_case_t;

enum { PLAIN, SPILL, REFILL };

/* Runs one case on a JoinableQueue (joinable) or a plain Queue. */
static void
put_killed_case(const put_case_t *k, bool joinable)
{
    mp_queue_opts_t o = MP_QUEUE_OPTS_INIT;
    o.maxsize = k->maxsize;
    o.joinable = joinable;
    if (k->setup != PLAIN) {
        mp__queue_test_ring_cells = 2;
    }
    mp_queue_t *q;
    ASSERT_OK(mp_queue_create(&q, &o));
    mp__queue_test_ring_cells = 0;
    uint64_t free0 = mp__queue_heap_free_bytes(q);
    /* Before the kill: A; with SPILL, A and B fill the ring and C goes to
     * the overflow list, so the killed put spills too; with REFILL, A is
     * taken again, so the killed put first moves C into the ring. */
    put_fill(q, 'A', k->len);
    if (k->setup != PLAIN) {
        put_fill(q, 'B', k->len);
        put_fill(q, 'C', k->len);
    }
    if (k->setup == REFILL) {
        expect_fill(q, 'A', k->len);
        if (joinable) {
            ASSERT_OK(mp_queue_task_done(q));
        }
    }
    park_arg_t a = {q, k->len, true};
    park_and_kill(&a, k->point);
    if (k->setup != REFILL) {
        expect_fill(q, 'A', k->len);
    }
    if (k->setup != PLAIN) {
        expect_fill(q, 'B', k->len);
        expect_fill(q, 'C', k->len);
    }
    if (k->counted) {
        expect_fill(q, 'x', k->len);
    }
    expect_drained(q, free0);
    if (joinable) {
        long taken = (k->setup != PLAIN ? 3 : 1) - (k->setup == REFILL) +
                     (k->counted ? 1 : 0);
        for (long i = 0; i < taken; i++) {
            ASSERT_OK(mp_queue_task_done(q));
        }
        ASSERT_OK(mp_queue_join(q, WAIT_MS));
        ASSERT_ERR(mp_queue_task_done(q), MP_EOVERRELEASE);
    }
    /* It keeps working. */
    put_fill(q, 'D', k->len);
    expect_fill(q, 'D', k->len);
    if (joinable) {
        ASSERT_OK(mp_queue_task_done(q));
        ASSERT_OK(mp_queue_join(q, MP_NO_WAIT));
    }
    expect_drained(q, free0);
    mp_queue_destroy(q);
}

static const put_case_t put_cases[] = {
    /* Killed before claiming a cell (a large message's block held). */
    {MP__QUEUE_HOOK_PUT_START, 8, 0, PLAIN, false},
    {MP__QUEUE_HOOK_PUT_START, 5000, 0, PLAIN, false},
    {MP__QUEUE_HOOK_PUT_START, 5000, 2, PLAIN, false},
    /* Cell claimed, tail not moved; claimed and not published. */
    {MP__QUEUE_HOOK_PUT_TAIL_STALE, 5000, 0, PLAIN, false},
    {MP__QUEUE_HOOK_PUT_CLAIMED, 8, 0, PLAIN, false},
    {MP__QUEUE_HOOK_PUT_CLAIMED, 5000, 2, PLAIN, false},
    /* Joinable: counted, not published (the next locker publishes). */
    {MP__QUEUE_HOOK_PUT_COUNTED, 8, 0, PLAIN, true},
    {MP__QUEUE_HOOK_PUT_COUNTED, 5000, 2, PLAIN, true},
    /* Published, its hand not given back. */
    {MP__QUEUE_HOOK_PUT_PUBLISHED, 8, 0, PLAIN, true},
    {MP__QUEUE_HOOK_PUT_PUBLISHED, 5000, 0, PLAIN, true},
    /* The overflow list: before linking, linked with tail stale. */
    {MP__QUEUE_HOOK_OVF_COUNTED, 8, 0, SPILL, false},
    {MP__QUEUE_HOOK_OVF_COUNTED, 5000, 0, SPILL, false},
    {MP__QUEUE_HOOK_OVF_LINKED, 5000, 0, SPILL, true},
    /* Moving C back to the ring: claimed, then unlinked, unpublished. */
    {MP__QUEUE_HOOK_PUT_CLAIMED, 5000, 0, REFILL, false},
    {MP__QUEUE_HOOK_REFILL_UNLINKED, 8, 0, REFILL, false},
    {MP__QUEUE_HOOK_REFILL_UNLINKED, 5000, 0, REFILL, false},
};

TEST_TIMEOUT(queue_faults_joinable_put_killed_at_every_point, 120)
{
    for (size_t i = 0; i < MP__ARRAY_SIZE(put_cases); i++) {
        put_killed_case(&put_cases[i], true);
    }
}

TEST_TIMEOUT(queue_faults_put_killed_at_every_point_leaks_no_block, 120)
{
    for (size_t i = 0; i < MP__ARRAY_SIZE(put_cases); i++) {
        if (put_cases[i].point != MP__QUEUE_HOOK_PUT_COUNTED) {
            put_killed_case(&put_cases[i], false);
        }
    }
}

/* A put killed holding a block as large as the heap allows twice: with
 * that block leaked, the second of two such messages would find no room
 * (MP_ENOMEM) for the life of the queue. */
TEST(queue_faults_killed_large_put_block_is_reclaimed)
{
    const size_t len = 256 * 1024;
    mp_queue_opts_t o = MP_QUEUE_OPTS_INIT;
    o.capacity = len;
    mp_queue_t *q;
    ASSERT_OK(mp_queue_create(&q, &o));
    uint64_t free0 = mp__queue_heap_free_bytes(q);
    park_arg_t a = {q, len, true};
    park_and_kill(&a, MP__QUEUE_HOOK_PUT_START);
    put_fill(q, 'P', len);
    put_fill(q, 'Q', len);
    expect_fill(q, 'P', len);
    expect_fill(q, 'Q', len);
    expect_drained(q, free0);
    mp_queue_destroy(q);
}

/* A consumer killed inside a get: its message is lost (a JoinableQueue
 * still counts the task, as Python does for a message whose consumer died
 * before task_done: whoever notices the death calls task_done for it), and
 * the message's blocks are freed. */
TEST(queue_faults_consumer_killed_in_get_leaks_no_block)
{
    /* In the ring (the next put repairs the cell), then from the overflow
     * list (a reclaim cleans the taker's hand). */
    for (int spill = 0; spill <= 1; spill++) {
        mp_queue_opts_t o = MP_QUEUE_OPTS_INIT;
        o.maxsize = spill ? 0 : 1;
        o.joinable = true;
        if (spill) {
            mp__queue_test_ring_cells = 2;
        }
        mp_queue_t *q;
        ASSERT_OK(mp_queue_create(&q, &o));
        mp__queue_test_ring_cells = 0;
        uint64_t free0 = mp__queue_heap_free_bytes(q);
        put_fill(q, 'A', 5000);
        if (spill) {
            put_fill(q, 'B', 5000);
            put_fill(q, 'C', 5000);
            expect_fill(q, 'A', 5000);
            expect_fill(q, 'B', 5000);
            ASSERT_OK(mp_queue_task_done(q));
            ASSERT_OK(mp_queue_task_done(q));
        }
        park_arg_t a = {q, 5000, false};
        park_and_kill(&a, spill ? MP__QUEUE_HOOK_OVF_POPPED
                                : MP__QUEUE_HOOK_GET_CLAIMED);
        ASSERT_ERR(mp_queue_join(q, MP_NO_WAIT), MP_ETIMEDOUT);
        ASSERT_OK(mp_queue_task_done(q)); /* for the lost message */
        ASSERT_OK(mp_queue_join(q, WAIT_MS));
        put_fill(q, 'D', 5000);
        expect_fill(q, 'D', 5000);
        ASSERT_OK(mp_queue_task_done(q));
        ASSERT_OK(mp_queue_join(q, MP_NO_WAIT));
        expect_drained(q, free0);
        mp_queue_destroy(q);
    }
}
