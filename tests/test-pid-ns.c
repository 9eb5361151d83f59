/* SPDX-License-Identifier: MIT */
/* test-pid-ns.c - holders named so that pid reuse and pid namespaces cannot
 * fool the liveness check (issue 21, items 4 and 6).
 *
 * Pid reuse: inside a new pid namespace (with its own /proc), a holder of a
 * Lock, an RLock, a queue cell or a manager Lock is SIGKILLed and its pid
 * handed to a live process by writing /proc/sys/kernel/ns_last_pid; the
 * next locker or reader must still find the holder dead.
 * Namespaces: a process in a new pid namespace must not share lock words
 * with the host's processes: attaching a host queue by name is refused
 * (MP_EPIDNS), and a manager client there is served over its socket, so it
 * neither takes a live host holder's lock nor keeps one held after death.
 *
 * Each scenario runs as pid 1 of a fresh pid namespace; where the machine
 * does not allow one (unshare needs root), the test is skipped. */
#include "runner.h"

#include "queue/queue_internal.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* --- running a scenario in a new pid namespace ---------------------------- */

typedef int (*ns_fn)(void *arg);

typedef struct ns_arg {
    ns_fn fn;
    void *arg;
    bool host_proc; /* keep the host's /proc (do not mount our own) */
} ns_arg_t;

/* Pid 1 of the new namespace: mounts the namespace's own /proc (in a
 * private mount namespace) and runs the scenario. It dies with its parent,
 * and the whole namespace with it. */
static int
ns_init(void *arg)
{
    ns_arg_t *a = arg;
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) {
        return 99;
    }
    if (!a->host_proc &&
        (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
         mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
               NULL) != 0)) {
        return MPT_SKIP_CODE;
    }
    return a->fn(a->arg);
}

/* The child that enters the namespace: its next child is the namespace's
 * pid 1, whose exit ends every process of the namespace. */
static int
ns_enter(void *arg)
{
    if (unshare(CLONE_NEWPID | CLONE_NEWNS) != 0) {
        return MPT_SKIP_CODE;
    }
    int code = mpt_join(mpt_fork(ns_init, arg));
    return code < 0 ? 100 - code : code;
}

/* Runs fn(arg) as pid 1 of a new pid namespace; returns its exit code, or
 * skips the test where no namespace can be made. */
static int
in_new_pidns(ns_fn fn, void *arg)
{
    ns_arg_t a = {fn, arg, false};
    int code = mpt_join(mpt_fork(ns_enter, &a));
    if (code == MPT_SKIP_CODE) {
        mpt_skip("no new pid namespace here (unshare or mounting /proc "
                 "needs root)");
    }
    return code;
}

/* --- recycling a pid ------------------------------------------------------ */

/* Clock ticks after boot (the unit of a process's start time). */
static uint64_t
boot_ticks(void)
{
    struct timespec ts;
    ASSERT_EQ(clock_gettime(CLOCK_BOOTTIME, &ts), 0);
    long hz = sysconf(_SC_CLK_TCK);
    return (uint64_t)ts.tv_sec * (uint64_t)hz +
           (uint64_t)ts.tv_nsec / (1000000000ull / (uint64_t)hz);
}

/* What the process that takes a dead holder's pid does: runs check (if
 * any), then lives until the scenario closes gate's write end. */
typedef struct recycle {
    mpt_pipe_t gate;
    int (*check)(void *arg); /* its result is the exit code */
    void *check_arg;
} recycle_t;

/* The live process that took a dead holder's pid. */
static int
recycler(void *arg)
{
    recycle_t *rc = arg;
    close(rc->gate.wr);
    int code = rc->check != NULL ? rc->check(rc->check_arg) : 0;
    uint8_t b;
    (void)mpt_wait_signal(&rc->gate, &b);
    return code;
}

/* Kills holder (parked holding something), then starts a process that gets
 * its pid and lives (see recycle_t). Returns that process, which
 * recycler_finish reaps. With pidfs (Linux 6.9) the pid is reused at once
 * (often within the holder's clock tick); without, identities are told
 * apart by start time, and the new process starts in a later clock tick
 * than the holder (reusing a pid within one tick is the documented limit
 * there). */
static pid_t
kill_and_recycle(pid_t holder, recycle_t *rc)
{
    uint64_t dead = mp__plat_ident_of(holder);
    ASSERT_NE(dead, 0);
    ASSERT_EQ(kill(holder, SIGKILL), 0);
    ASSERT_EQ(mpt_join(holder), -SIGKILL);
    if (!(dead & MP__PLAT_IDENT_PIDFS)) {
        /* Without pidfs, identities are told apart by start time. */
        while ((uint32_t)boot_ticks() == (uint32_t)(dead >> 32)) {
            sched_yield(); /* at most one tick */
        }
    }
    int fd = open("/proc/sys/kernel/ns_last_pid", O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        _exit(MPT_SKIP_CODE);
    }
    char num[32];
    int n = snprintf(num, sizeof num, "%d", (int)holder - 1);
    if (write(fd, num, (size_t)n) != n) {
        _exit(MPT_SKIP_CODE);
    }
    close(fd);
    mpt_pipe_open(&rc->gate);
    pid_t pid = mpt_fork(recycler, rc);
    ASSERT_EQ(pid, holder);
    /* The same pid, another process. */
    uint64_t now = mp__plat_ident_of(pid);
    ASSERT_NE(now, 0);
    ASSERT_NE(now, dead);
    return pid;
}

/* Lets the recycler exit, reaps it and checks its check passed. */
static void
recycler_finish(pid_t pid, recycle_t *rc)
{
    mpt_pipe_close(&rc->gate);
    ASSERT_EQ(mpt_join(pid), 0);
}

/* --- Lock and RLock ------------------------------------------------------- */

typedef struct hold_arg {
    mp_lock_t *lock;
    bool recursive;    /* lock is an RLock: take it twice */
    mp_proxy_t *proxy; /* a manager Lock instead, when set */
    mpt_pipe_t ready;
} hold_arg_t;

/* Child: takes the lock (an RLock twice), says so, and waits to be killed. */
static int
hold_forever(void *arg)
{
    hold_arg_t *h = arg;
    if (h->proxy != NULL) {
        ASSERT_OK(mp_proxy_acquire(h->proxy, MP_WAIT_FOREVER));
    } else {
        ASSERT_OK(mp_lock_acquire(h->lock, MP_WAIT_FOREVER));
        if (h->recursive) {
            ASSERT_OK(mp_lock_acquire(h->lock, MP_NO_WAIT));
            ASSERT_EQ(mp_lock_recursion(h->lock), 2);
        }
    }
    mpt_signal(&h->ready, 1);
    for (;;) {
        pause(); /* killed here */
    }
}

/* Starts hold_forever on h (opening its ready pipe, which the caller
 * closes) and returns the holder once it holds. */
static pid_t
hold_start(hold_arg_t *h)
{
    mpt_pipe_open(&h->ready);
    pid_t holder = mpt_fork(hold_forever, h);
    ASSERT_EQ(mpt_wait_signal(&h->ready, NULL), 0);
    return holder;
}

/* Scenario: a (recursive) lock's holder dies and its pid is reused. */
static int
lock_scenario(void *arg)
{
    hold_arg_t h = {.recursive = arg != NULL};
    ASSERT_OK(h.recursive ? mp_rlock_create(&h.lock) : mp_lock_create(&h.lock));
    pid_t holder = hold_start(&h);
    recycle_t rc = {0};
    pid_t reused = kill_and_recycle(holder, &rc);
    /* The word still carries the pid, now a live process's: the holder
     * is dead all the same. */
    ASSERT_ERR(mp_lock_acquire(h.lock, 10 * 1000), MP_EOWNERDEAD);
    ASSERT_EQ(mp_lock_is_mine(h.lock), 1);
    ASSERT_EQ(mp_lock_recursion(h.lock), 1);
    ASSERT_OK(mp_lock_consistent(h.lock));
    ASSERT_OK(mp_lock_release(h.lock));
    recycler_finish(reused, &rc);
    mpt_pipe_close(&h.ready);
    mp_lock_destroy(h.lock);
    return 0;
}

TEST_TIMEOUT(pid_reuse_lock_holder_found_dead, 60)
{
    ASSERT_EQ(in_new_pidns(lock_scenario, NULL), 0);
}

/* The same where identities carry start times (kernels before pidfs). */
static int
lock_scenario_start_time(void *arg)
{
    mp__plat_test_no_pidfs = true;
    uint64_t me = mp__plat_self_ident();
    ASSERT_EQ(me & MP__PLAT_IDENT_PIDFS, 0);
    ASSERT_NE(me >> 32, 0); /* our /proc: a start time was read */
    return lock_scenario(arg);
}

TEST_TIMEOUT(pid_reuse_lock_holder_found_dead_by_start_time, 60)
{
    ASSERT_EQ(in_new_pidns(lock_scenario_start_time, NULL), 0);
}

TEST_TIMEOUT(pid_reuse_rlock_holder_found_dead, 60)
{
    ASSERT_EQ(in_new_pidns(lock_scenario, (void *)1), 0);
}

/* Scenario, in a namespace that kept the host's /proc, where /proc/PID
 * is the host's process PID: with start-time identities, a live holder
 * must not be judged by that other process's start time. */
static int
host_proc_scenario(void *arg)
{
    (void)arg;
    mp__plat_test_no_pidfs = true;
    hold_arg_t h = {0};
    ASSERT_OK(mp_lock_create(&h.lock));
    pid_t holder = hold_start(&h);
    /* Past one liveness check: the holder lives, so no take-over. */
    ASSERT_ERR(mp_lock_acquire(h.lock, 300), MP_ETIMEDOUT);
    ASSERT_EQ(kill(holder, SIGKILL), 0);
    ASSERT_EQ(mpt_join(holder), -SIGKILL);
    ASSERT_ERR(mp_lock_acquire(h.lock, 10 * 1000), MP_EOWNERDEAD);
    ASSERT_OK(mp_lock_consistent(h.lock));
    ASSERT_OK(mp_lock_release(h.lock));
    mpt_pipe_close(&h.ready);
    mp_lock_destroy(h.lock);
    return 0;
}

TEST_TIMEOUT(pid_ns_with_host_proc_keeps_live_holder, 60)
{
    ns_arg_t a = {host_proc_scenario, NULL, true};
    int code = mpt_join(mpt_fork(ns_enter, &a));
    if (code == MPT_SKIP_CODE) {
        mpt_skip("no new pid namespace here");
    }
    ASSERT_EQ(code, 0);
}

/* In the process that got the pid of an RLock's dead holder, on its main
 * thread (so with the holder's tid too): the RLock is not its own, its
 * release is refused, and its acquire is no re-entry. */
static int
rlock_not_mine(void *arg)
{
    mp_lock_t *lock = arg;
    if (mp_lock_is_mine(lock) != 0 || mp_lock_release(lock) != MP_ENOTOWNER ||
        mp_lock_recursion(lock) != 2) {
        return 10;
    }
    return mp_lock_acquire(lock, 10 * 1000) == MP_EOWNERDEAD &&
                   mp_lock_recursion(lock) == 1
               ? 0
               : 11;
}

/* Scenario: the reuser asks whether it holds the dead holder's RLock. */
static int
rlock_twin_scenario(void *arg)
{
    (void)arg;
    hold_arg_t h = {.recursive = true};
    ASSERT_OK(mp_rlock_create(&h.lock));
    pid_t holder = hold_start(&h);
    recycle_t rc = {.check = rlock_not_mine, .check_arg = h.lock};
    pid_t reused = kill_and_recycle(holder, &rc);
    recycler_finish(reused, &rc);
    mpt_pipe_close(&h.ready);
    mp_lock_destroy(h.lock);
    return 0;
}

TEST_TIMEOUT(pid_reuse_rlock_reuser_is_not_owner, 60)
{
    ASSERT_EQ(in_new_pidns(rlock_twin_scenario, NULL), 0);
}

/* --- a queue cell --------------------------------------------------------- */

static mpt_pipe_t park_ready; /* child -> parent: parked */
static mpt_pipe_t park_block; /* never written: the parked child waits */

/* Test hook: parks a producer between its claim and its publish. */
static void
park_hook(int point)
{
    if (point == MP__QUEUE_HOOK_PUT_CLAIMED) {
        mpt_signal(&park_ready, 1);
        uint8_t b;
        (void)mpt_wait_signal(&park_block, &b);
        _exit(3); /* not reached: the parent kills us */
    }
}

/* Child: one put, parked with its cell WRITING. */
static int
park_put(void *arg)
{
    mp__queue_test_hook = park_hook;
    (void)mp_queue_put(arg, "lost", 4, MP_WAIT_FOREVER);
    return 4; /* not reached */
}

/* Scenario: a producer dies holding a cell and its pid is reused; the
 * consumer must still repair the cell and reach the message behind it. */
static int
queue_scenario(void *arg)
{
    (void)arg;
    mp_queue_t *q;
    ASSERT_OK(mp_queue_create(&q, NULL));
    mpt_pipe_open(&park_ready);
    mpt_pipe_open(&park_block);
    pid_t holder = mpt_fork(park_put, q);
    ASSERT_EQ(mpt_wait_signal(&park_ready, NULL), 0);
    recycle_t rc = {0};
    pid_t reused = kill_and_recycle(holder, &rc);
    ASSERT_OK(mp_queue_put(q, "next", 4, MP_WAIT_FOREVER));
    char buf[8];
    ASSERT_EQ(mp_queue_get_into(q, buf, sizeof buf, 10 * 1000), 4);
    ASSERT_MEM_EQ(buf, "next", 4);
    recycler_finish(reused, &rc);
    mpt_pipe_close(&park_ready);
    mpt_pipe_close(&park_block);
    mp_queue_destroy(q);
    return 0;
}

TEST_TIMEOUT(pid_reuse_queue_writer_found_dead, 60)
{
    ASSERT_EQ(in_new_pidns(queue_scenario, NULL), 0);
}

/* --- a manager Lock ------------------------------------------------------- */

/* Scenario: a fast-path holder of a manager Lock dies, its pid reused. */
static int
manager_lock_scenario(void *arg)
{
    (void)arg;
    mp_manager_t *m = mpt_manager_start(NULL);
    hold_arg_t h = {0};
    ASSERT_OK(mp_manager_lock(m, &h.proxy));
    pid_t holder = hold_start(&h);
    recycle_t rc = {0};
    pid_t reused = kill_and_recycle(holder, &rc);
    ASSERT_ERR(mp_proxy_acquire(h.proxy, 10 * 1000), MP_EOWNERDEAD);
    ASSERT_OK(mp_proxy_release(h.proxy));
    recycler_finish(reused, &rc);
    mpt_pipe_close(&h.ready);
    mp_proxy_destroy(h.proxy);
    ASSERT_OK(mp_manager_shutdown(m));
    mp_manager_destroy(m);
    return 0;
}

TEST_TIMEOUT(pid_reuse_manager_lock_holder_found_dead, 60)
{
    ASSERT_EQ(in_new_pidns(manager_lock_scenario, NULL), 0);
}

/* --- objects shared across pid namespaces --------------------------------- */

/* Scenario: attach by name a queue the host's namespace made. */
static int
attach_host_queue(void *arg)
{
    mp_queue_t *q = NULL;
    ASSERT_ERR(mp_queue_attach(&q, arg), MP_EPIDNS);
    ASSERT_NULL(q);
    return 0;
}

TEST_TIMEOUT(pidns_queue_attach_refused, 60)
{
    mp_queue_t *q;
    ASSERT_OK(mp_queue_create(&q, NULL));
    ASSERT_EQ(in_new_pidns(attach_host_queue, (void *)mp_queue_name(q)), 0);
    /* The same process's namespace attaches as before. */
    mp_queue_t *q2;
    ASSERT_OK(mp_queue_attach(&q2, mp_queue_name(q)));
    mp_queue_destroy(q2);
    mp_queue_destroy(q);
}

typedef struct mgr_arg {
    mp_manager_t *m;
    char token[MP_PROXY_TOKEN_MAX];
    mpt_pipe_t ready;
    bool hold; /* take the lock and wait to be killed (else: try it) */
} mgr_arg_t;

/* Scenario: a client in the new namespace uses the host's manager Lock. */
static int
ns_manager_client(void *arg)
{
    mgr_arg_t *a = arg;
    mp_manager_t *c;
    ASSERT_OK(mpt_manager_connect(a->m, false, &c));
    mp_proxy_t *lk;
    ASSERT_OK(mp_proxy_from_token(&lk, c, a->token));
    if (a->hold) {
        ASSERT_OK(mp_proxy_acquire(lk, MP_WAIT_FOREVER));
        mpt_signal(&a->ready, 1);
        for (;;) {
            pause(); /* killed here, and with it the namespace */
        }
    }
    /* The host's holder lives: no take-over, however long we wait. */
    ASSERT_ERR(mp_proxy_acquire(lk, 300), MP_ETIMEDOUT);
    mp_proxy_destroy(lk);
    mp_manager_destroy(c);
    return 0;
}

TEST_TIMEOUT(pidns_manager_client_served_over_socket, 60)
{
    mgr_arg_t a = {0};
    a.m = mpt_manager_start(NULL);
    mp_proxy_t *lk;
    ASSERT_OK(mp_manager_lock(a.m, &lk));
    ASSERT_OK(mp_proxy_token(lk, a.token, sizeof a.token));
    mpt_pipe_open(&a.ready);

    /* A live host holder keeps the lock from the other namespace. */
    ASSERT_OK(mp_proxy_acquire(lk, MP_WAIT_FOREVER));
    ASSERT_EQ(in_new_pidns(ns_manager_client, &a), 0);
    ASSERT_OK(mp_proxy_release(lk));

    /* A holder in the other namespace that dies lets the lock go (its
     * pid 1 must not be taken for the host's init). */
    a.hold = true;
    ns_arg_t nsa = {ns_manager_client, &a};
    pid_t outer = mpt_fork(ns_enter, &nsa);
    close(a.ready.wr); /* so that a failed child shows as EOF */
    a.ready.wr = -1;
    ASSERT_EQ(mpt_wait_signal(&a.ready, NULL), 0);
    ASSERT_EQ(kill(outer, SIGKILL), 0); /* pid 1 there dies with it */
    ASSERT_EQ(mpt_join(outer), -SIGKILL);
    ASSERT_OK(mp_proxy_acquire(lk, MP_WAIT_FOREVER));
    ASSERT_OK(mp_proxy_release(lk));
    mpt_pipe_close(&a.ready);
    mp_proxy_destroy(lk);
    ASSERT_OK(mp_manager_shutdown(a.m));
    mp_manager_destroy(a.m);
}
