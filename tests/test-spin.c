/* SPDX-License-Identifier: MIT */
/* test-spin.c - spinning waits never hold the CPU their peer needs (issue
 * 20): the spin learner's policy (mp__spin_*: rest after misses, resume
 * when a spin pays); a connection's receive that spins yields to a peer
 * pinned to its CPU, so the peer answers before the reader has to sleep,
 * and once it has learnt that its replies come only while the peer holds
 * its CPU it sleeps at once (no empty read, no yield), in a sleep that the
 * peer's reading of what the reader sent does not wake; a queue handle whose
 * pause spins keep ending empty (its peer shares its CPU) stops pausing. Every
 * check counts events (sleeps, pauses, reads, yields), none reads a clock. */
#include "runner.h"

#include "ipc/ipc_internal.h"
#include "queue/queue_private.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Round trips before and while counting, in the pinned tests. */
#define WARM_TRIPS 100
#define TRIPS 1000

/* Pins the calling thread (and the children it forks from now on) to the
 * first CPU of its affinity mask, saving the mask in *saved. */
static void
pin_to_one_cpu(cpu_set_t *saved)
{
    ASSERT_EQ(sched_getaffinity(0, sizeof *saved, saved), 0);
    int cpu = 0;
    while (!CPU_ISSET(cpu, saved)) {
        cpu++;
    }
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    ASSERT_EQ(sched_setaffinity(0, sizeof one, &one), 0);
}

/* Puts the mask pin_to_one_cpu saved back. */
static void
unpin(const cpu_set_t *saved)
{
    ASSERT_EQ(sched_setaffinity(0, sizeof *saved, saved), 0);
}

/* Voluntary context switches of the calling thread so far: each is a
 * sleep (a blocking read, a futex wait); a yield is not one. */
static long
sleeps_so_far(void)
{
    struct rusage ru;
    ASSERT_EQ(getrusage(RUSAGE_THREAD, &ru), 0);
    return ru.ru_nvcsw;
}

/* The waits a learner rests before it spins again (0: it spins now). */
static int
rests(mp__spin_learn_t *l)
{
    int n = 0;
    while (!mp__spin_begin(l)) {
        n++;
    }
    return n;
}

/* Reports a spin of l: n that paid, then one that missed when miss. */
static void
spins(mp__spin_learn_t *l, int paid, bool miss)
{
    for (int i = 0; i < paid; i++) {
        ASSERT(mp__spin_begin(l));
        mp__spin_paid(l);
    }
    if (miss) {
        ASSERT(mp__spin_begin(l));
        mp__spin_missed(l);
    }
}

TEST(spin_learner_rests_while_spins_miss_and_resumes_when_they_pay)
{
    mp__spin_learn_t l = {0};
    /* A zeroed learner spins; three misses in a row rest 8 waits. */
    spins(&l, 0, true);
    spins(&l, 0, true);
    ASSERT_EQ(rests(&l), 0);
    spins(&l, 0, true);
    ASSERT_EQ(rests(&l), 8);
    spins(&l, 0, true); /* the probe missed: rest again at once, for 16 */
    ASSERT_EQ(rests(&l), 16);
    spins(&l, 16, false); /* spins that pay the debt off */
    spins(&l, 0, true);
    spins(&l, 0, true);
    ASSERT_EQ(rests(&l), 0);
    spins(&l, 0, true);
    ASSERT_EQ(rests(&l), 8); /* and the rests start short again */
    spins(&l, 16, false);

    /* Misses among paying spins: one in 4 rests soon, one in 10 never. */
    int cycles = 0;
    while (rests(&l) == 0) {
        ASSERT_LT(cycles++, 8);
        spins(&l, 3, true);
    }
    spins(&l, 40, false);
    for (int k = 0; k < 100; k++) {
        spins(&l, 9, true);
        ASSERT_EQ(rests(&l), 0);
    }

    /* Rests double up to a bound, so a probe always comes. */
    int n = 0;
    for (int k = 0; k < 20; k++) {
        spins(&l, 0, true);
        n = rests(&l);
        ASSERT(n >= 0 && n <= 1024);
    }
    ASSERT_EQ(n, 1024);
}

/* The connection test's pairs: the first CONN_WARM are not counted. One
 * round trip each, so every receive starts with a fresh learner (none
 * rests): the test sees the yield, not the learning (which, with
 * strangers taking the CPU at the reader's yields, rightly rests). */
#define CONN_WARM 10
#define CONN_PAIRS (CONN_WARM + 200)

/* Child of the connection tests: echoes trips messages on each of
 * mine[0..conns), one on each in turn. */
struct conn_echo {
    mp_conn_t *mine[CONN_PAIRS];
    mp_conn_t *theirs[CONN_PAIRS];
    int conns, trips;
};

static int
conn_echo_child(void *p)
{
    struct conn_echo *e = p;
    char buf[8];
    for (int i = 0; i < e->conns; i++) {
        mp_conn_destroy(e->theirs[i]);
    }
    for (int t = 0; t < e->trips; t++) {
        for (int i = 0; i < e->conns; i++) {
            ssize_t n =
                mp_conn_recv_bytes_into(e->mine[i], buf, sizeof buf, 60000);
            if (n < 0 ||
                mp_conn_send_bytes(e->mine[i], buf, (size_t)n, 60000) != 0) {
                return 1;
            }
        }
    }
    return 0;
}

/* Both ends of a request/reply pair on one CPU: the reader's spin must
 * let the peer run (yield), not burn the time slice the peer needs to
 * answer and then sleep. Before the spin yielded, every receive here
 * spun its 30 us window out while the peer could not run, then slept:
 * one voluntary context switch per round trip (199 of 200). Now the peer
 * answers at the reader's first yield and the reader sleeps only when a
 * stranger on this CPU held it past the window at a yield and the peer
 * had not run yet. */
TEST_TIMEOUT(conn_spinning_reader_yields_to_a_peer_on_its_cpu, 120)
{
    cpu_set_t saved;
    pin_to_one_cpu(&saved);
    static struct conn_echo e = {.conns = CONN_PAIRS, .trips = 1};
    for (int i = 0; i < CONN_PAIRS; i++) {
        ASSERT_OK(mp_pipe(&e.theirs[i], &e.mine[i], true));
    }
    pid_t pid = mpt_fork(conn_echo_child, &e);
    char buf[8] = "request";
    long before = 0;
    for (int i = 0; i < CONN_PAIRS; i++) {
        if (i == CONN_WARM) {
            before = sleeps_so_far();
        }
        mp_conn_t *c = e.theirs[i];
        ASSERT_OK(mp_conn_send_bytes(c, buf, sizeof buf, 60000));
        ASSERT_EQ(mp_conn_recv_bytes_into(c, buf, sizeof buf, MP_WAIT_FOREVER),
                  (ssize_t)sizeof buf);
    }
    long sleeps = sleeps_so_far() - before;
    ASSERT_EQ(mpt_join(pid), 0);
    for (int i = 0; i < CONN_PAIRS; i++) {
        mp_conn_destroy(e.theirs[i]);
        mp_conn_destroy(e.mine[i]);
    }
    unpin(&saved);
    /* the reader's sleeps in its counted round trips */
    ASSERT_LT(sleeps, (CONN_PAIRS - CONN_WARM) / 4);
}

/* The parent's connection reads, empty reads and spin yields
 * (mp__conn_test_hook). */
static long g_reads, g_empty_reads, g_yields;

static void
count_conn_calls(int point)
{
    g_reads += point == MP__CONN_HOOK_READ;
    g_empty_reads += point == MP__CONN_HOOK_READ_EMPTY;
    g_yields += point == MP__CONN_HOOK_YIELD;
}

/* A request/reply pair on one CPU, over one connection: every reply comes
 * while the peer holds the reader's CPU (during a yield), so a spin never
 * catches it awake and a sleep would do as well with fewer calls. Once
 * the connection has learnt that (the warm-up), a receive sleeps at once
 * (in poll), then reads the header and the payload: no read that finds
 * nothing, no yield (bar a rare probe spin). Before, each receive read
 * once in vain and yielded (1000 of each here), or, where strangers held
 * the CPU at its yields, rested in a read with MSG_DONTWAIT that found
 * nothing before the blocking one. */
TEST_TIMEOUT(conn_reader_sharing_the_peers_cpu_sleeps_at_once, 120)
{
    cpu_set_t saved;
    pin_to_one_cpu(&saved);
    static struct conn_echo e = {.conns = 1, .trips = WARM_TRIPS + TRIPS};
    ASSERT_OK(mp_pipe(&e.theirs[0], &e.mine[0], true));
    mp_conn_t *c = e.theirs[0]; /* the parent's end */
    pid_t pid = mpt_fork(conn_echo_child, &e);
    char buf[8] = "request";
    mp__conn_test_hook = count_conn_calls;
    for (int i = 0; i < WARM_TRIPS + TRIPS; i++) {
        if (i == WARM_TRIPS) {
            g_reads = g_empty_reads = g_yields = 0;
        }
        ASSERT_OK(mp_conn_send_bytes(c, buf, sizeof buf, MP_WAIT_FOREVER));
        /* every other receive has a deadline: its wait is a poll */
        mp_duration_t timeout = i % 2 ? 60000 : MP_WAIT_FOREVER;
        ASSERT_EQ(mp_conn_recv_bytes_into(c, buf, sizeof buf, timeout),
                  (ssize_t)sizeof buf);
    }
    mp__conn_test_hook = NULL;
    long reads = g_reads, empty = g_empty_reads, yields = g_yields;
    ASSERT_EQ(mpt_join(pid), 0);
    mp_conn_destroy(e.theirs[0]);
    mp_conn_destroy(e.mine[0]);
    unpin(&saved);
    ASSERT_LT(empty, TRIPS / 20);
    ASSERT_LT(yields, TRIPS / 20);
    ASSERT_LT(reads, 2 * TRIPS + TRIPS / 20); /* header and payload */
}

/* Messages the sleeper of the next test sends before it receives. */
#define CONN_SENT 20

/* The receiving thread of the next test: sends CONN_SENT messages on c,
 * publishes its thread id, then receives one message, counting its own
 * sleeps meanwhile. */
struct conn_sleeper {
    mp_conn_t *c;
    _Atomic long tid;
    long sleeps;
    ssize_t got;
};

/* Voluntary context switches of the calling thread (sleeps_so_far without
 * the assertion, for a thread other than the test's). */
static long
thread_sleeps_so_far(void)
{
    struct rusage ru;
    return getrusage(RUSAGE_THREAD, &ru) == 0 ? ru.ru_nvcsw : -1;
}

static void *
conn_sleeper_thread(void *p)
{
    struct conn_sleeper *s = p;
    char buf[8] = "request";
    for (int i = 0; i < CONN_SENT; i++) {
        if (mp_conn_send_bytes(s->c, buf, sizeof buf, 60000) != 0) {
            s->got = -1;
            return NULL;
        }
    }
    long before = thread_sleeps_so_far();
    atomic_store(&s->tid, syscall(SYS_gettid));
    s->got = mp_conn_recv_bytes_into(s->c, buf, sizeof buf, MP_WAIT_FOREVER);
    s->sleeps = thread_sleeps_so_far() - before;
    return NULL;
}

/* Whether thread tid of this process is asleep (state S). */
static bool
thread_asleep(long tid)
{
    char path[64], line[512];
    snprintf(path, sizeof path, "/proc/self/task/%ld/stat", tid);
    FILE *f = fopen(path, "r");
    ASSERT(f != NULL);
    bool ok = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    ASSERT(ok);
    const char *end = strrchr(line, ')'); /* the name may hold spaces */
    return end != NULL && end[1] == ' ' && end[2] == 'S';
}

/* Waits (yielding, never sleeping) until the sleeper has published its id
 * and is asleep in its receive. */
static void
await_asleep(const struct conn_sleeper *s)
{
    while (atomic_load(&s->tid) == 0 || !thread_asleep(atomic_load(&s->tid))) {
        sched_yield();
    }
}

/* A receive that sleeps must not be woken each time the peer reads one of
 * the messages the receiver sent earlier. Consuming them makes room on the
 * receiver's end, whose write-space wake-up reaches every sleeper there: a
 * reader asleep in a blocking read woke and slept again once per message
 * the peer read (21 sleeps here, and on one CPU a round trip cost 3.4
 * context switches against 2.0); one asleep in poll for POLLIN is not
 * woken by it (1 sleep). */
TEST_TIMEOUT(conn_receive_sleeps_through_the_peer_reading_what_it_sent, 60)
{
    mp_conn_t *a, *b;
    ASSERT_OK(mp_pipe(&a, &b, true));
    struct conn_sleeper s = {.c = a};
    pthread_t t;
    ASSERT_EQ(pthread_create(&t, NULL, conn_sleeper_thread, &s), 0);
    char buf[8];
    for (int i = 0; i < CONN_SENT; i++) {
        await_asleep(&s);
        ASSERT_EQ(mp_conn_recv_bytes_into(b, buf, sizeof buf, 60000),
                  (ssize_t)sizeof buf);
    }
    await_asleep(&s);
    ASSERT_OK(mp_conn_send_bytes(b, "reply!!", 8, 60000));
    ASSERT_EQ(pthread_join(t, NULL), 0);
    mp_conn_destroy(a);
    mp_conn_destroy(b);
    ASSERT_EQ(s.got, (ssize_t)sizeof buf);
    ASSERT_LT(s.sleeps, CONN_SENT / 4);
}

/* The parent's pauses in queue waits (MP__QUEUE_HOOK_WAIT_PAUSE). */
static long g_pauses;

static void
count_pauses(int point)
{
    if (point == MP__QUEUE_HOOK_WAIT_PAUSE) {
        g_pauses++;
    }
}

/* Child of the queue test: sends back n messages from in to out. */
struct queue_echo {
    mp_queue_t *in, *out;
    int n;
};

static int
queue_echo_child(void *p)
{
    struct queue_echo *e = p;
    char buf[64];
    for (int i = 0; i < e->n; i++) {
        ssize_t n = mp_queue_get_into(e->in, buf, sizeof buf, 60000);
        if (n < 0 || mp_queue_put(e->out, buf, (size_t)n, 60000) != 0) {
            return 1;
        }
    }
    return 0;
}

/* 64-byte messages to a peer on the same CPU and back: each get finds the
 * queue empty and the peer unable to run until the getter yields, so its
 * pause spin (SPIN_PAUSE pauses before the first yield) can never pay.
 * The handle learns that and stops pausing; before it did, every get
 * paused SPIN_PAUSE times. */
TEST_TIMEOUT(queue_waits_stop_pausing_when_the_peer_shares_the_cpu, 120)
{
    cpu_set_t saved;
    pin_to_one_cpu(&saved);
    mp_queue_t *there, *back;
    ASSERT_OK(mp__queue_create_private(&there, NULL));
    ASSERT_OK(mp__queue_create_private(&back, NULL));
    struct queue_echo e = {there, back, WARM_TRIPS + TRIPS};
    pid_t pid = mpt_fork(queue_echo_child, &e);
    char buf[64] = "request";
    g_pauses = 0;
    mp__queue_test_hook = count_pauses;
    for (int i = 0; i < WARM_TRIPS + TRIPS; i++) {
        if (i == WARM_TRIPS) {
            g_pauses = 0;
        }
        ASSERT_OK(mp_queue_put(there, buf, sizeof buf, 60000));
        ASSERT_EQ(mp_queue_get_into(back, buf, sizeof buf, 60000),
                  (ssize_t)sizeof buf);
    }
    mp__queue_test_hook = NULL;
    long pauses = g_pauses;
    ASSERT_EQ(mpt_join(pid), 0);
    mp_queue_destroy(there);
    mp_queue_destroy(back);
    unpin(&saved);
    ASSERT_LT(pauses, (long)TRIPS * SPIN_PAUSE / 4); /* the getter's */
}
