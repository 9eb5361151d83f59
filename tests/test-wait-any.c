/* SPDX-License-Identifier: MIT */
/* test-wait-any.c - mp_wait_any: queues become ready when another process
 * puts (also with two waiters on one queue), mixed lists of fds,
 * connections, processes and queues mark exactly the ready ones, timeouts
 * with nothing ready, attached queues, no fd leak, the wake-up FIFO removed
 * by destroy and by the tracker after SIGKILL, a waiter killed mid-wait,
 * and bad input. */
#include "runner.h"

#include "shm/shm_internal.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#define PATH_LEN 320
/* How often a child looks for its peer to sleep in poll() before it goes on
 * anyway (the test is correct either way; this only makes the sleeping
 * path the likely one). */
#define POLL_PROBES 20000

/* --- helpers ------------------------------------------------------------ */

/* Writes the wake-up FIFO's path of queue name into buf. */
static void
fifo_path(const char *name, char *buf)
{
    int n = snprintf(buf, PATH_LEN, "/dev/shm/%.*s.w", PATH_LEN - 12, name);
    ASSERT(n > 0 && n < PATH_LEN);
}

/* 1 if the wake-up FIFO of queue name exists. */
static int
fifo_exists(const char *name)
{
    char path[PATH_LEN];
    fifo_path(name, path);
    return access(path, F_OK) == 0;
}

/* Spins (yielding) until process pid sleeps in poll(), or gives up after
 * POLL_PROBES looks. */
static void
until_polling(pid_t pid)
{
    char path[64], buf[128];
    snprintf(path, sizeof path, "/proc/%d/wchan", (int)pid);
    for (int i = 0; i < POLL_PROBES; i++) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            return;
        }
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n > 0) {
            buf[n] = '\0';
            if (strstr(buf, "poll") != NULL) {
                return;
            }
        }
        sched_yield();
    }
}

/* Puts a 4-byte integer message. */
static void
put_int(mp_queue_t *q, uint32_t v)
{
    ASSERT_OK(mp_queue_put(q, &v, sizeof v, MP_WAIT_FOREVER));
}

/* Gets a 4-byte integer message. */
static uint32_t
get_int(mp_queue_t *q)
{
    uint32_t v = 0;
    ASSERT_EQ(mp_queue_get_into(q, &v, sizeof v, MP_WAIT_FOREVER), sizeof v);
    return v;
}

/* A one-item list naming queue q. */
static mp_waitable_t
queue_item(mp_queue_t *q)
{
    mp_waitable_t it = {.kind = MP_WAIT_QUEUE, .u.queue = q};
    return it;
}

/* Waits on q alone with timeout; returns mp_wait_any's result. */
static int
wait_queue(mp_queue_t *q, mp_duration_t timeout)
{
    mp_waitable_t it = queue_item(q);
    int r = mp_wait_any(&it, 1, timeout);
    ASSERT_EQ(it.ready, r == 1);
    return r;
}

typedef struct warg {
    mp_queue_t *q;
    const char *attach; /* a name to attach to instead of using q */
    mpt_pipe_t go;      /* parent -> child */
    mpt_pipe_t back;    /* child -> parent */
    pid_t peer;         /* the process to see polling first, or 0 */
    int rounds;
} warg_t;

/* Opens a warg's pipes. */
static void
warg_open(warg_t *a, mp_queue_t *q)
{
    memset(a, 0, sizeof *a);
    a->q = q;
    a->rounds = 1;
    mpt_pipe_open(&a->go);
    mpt_pipe_open(&a->back);
}

/* Closes a warg's pipes. */
static void
warg_close(warg_t *a)
{
    mpt_pipe_close(&a->go);
    mpt_pipe_close(&a->back);
}

/* Child: per round, waits for "go", lets the peer reach poll(), puts the
 * round's number. Uses an attached handle when a->attach is set. */
static int
child_putter(void *arg)
{
    warg_t *a = arg;
    mp_queue_t *q = a->q;
    if (a->attach != NULL && mp_queue_attach(&q, a->attach) != 0) {
        return 2;
    }
    for (int i = 0; i < a->rounds; i++) {
        if (mpt_wait_signal(&a->go, NULL) != 0) {
            return 3;
        }
        until_polling(a->peer);
        put_int(q, (uint32_t)i);
    }
    if (a->attach != NULL) {
        mp_queue_destroy(q);
    }
    return 0;
}

/* Child: tells the parent it is about to wait, waits forever on the queue,
 * then reports whether it was ready (by exit code 0). */
static int
child_waiter(void *arg)
{
    warg_t *a = arg;
    mpt_signal(&a->back, 1);
    return wait_queue(a->q, MP_WAIT_FOREVER) == 1 ? 0 : 1;
}

/* --- tests -------------------------------------------------------------- */

TEST(waitany_queue_ready_when_other_process_puts)
{
    mp_queue_t *q = NULL;
    ASSERT_OK(mp_queue_create(&q, NULL));
    warg_t a;
    warg_open(&a, q);
    a.peer = getpid();
    a.rounds = 8;
    pid_t pid = mpt_fork(child_putter, &a);
    for (int i = 0; i < a.rounds; i++) {
        ASSERT_EQ(wait_queue(q, MP_NO_WAIT), 0);
        mpt_signal(&a.go, 1);
        ASSERT_EQ(wait_queue(q, MP_WAIT_FOREVER), 1);
        ASSERT_EQ(get_int(q), (uint32_t)i);
    }
    ASSERT_EQ(mpt_join(pid), 0);
    warg_close(&a);
    mp_queue_destroy(q);
}

TEST(waitany_attached_queue)
{
    mp_queue_t *q = NULL, *att = NULL;
    ASSERT_OK(mp_queue_create(&q, NULL));
    ASSERT_OK(mp_queue_attach(&att, mp_queue_name(q)));
    warg_t a;
    warg_open(&a, q);
    a.attach = mp_queue_name(q);
    a.peer = getpid();
    a.rounds = 3;
    pid_t pid = mpt_fork(child_putter, &a);
    for (int i = 0; i < a.rounds; i++) {
        mpt_signal(&a.go, 1);
        /* The parent waits on its attached handle, gets on the other. */
        ASSERT_EQ(wait_queue(att, MP_WAIT_FOREVER), 1);
        ASSERT_EQ(get_int(q), (uint32_t)i);
    }
    ASSERT_EQ(mpt_join(pid), 0);
    warg_close(&a);
    mp_queue_destroy(att);
    mp_queue_destroy(q);
}

TEST(waitany_two_waiters_one_message)
{
    /* Readiness is level-triggered: one put wakes every waiter, even though
     * each drains the shared FIFO. */
    mp_queue_t *q = NULL;
    ASSERT_OK(mp_queue_create(&q, NULL));
    warg_t a;
    warg_open(&a, q);
    pid_t w1 = mpt_fork(child_waiter, &a);
    pid_t w2 = mpt_fork(child_waiter, &a);
    ASSERT_OK(mpt_wait_signal(&a.back, NULL));
    ASSERT_OK(mpt_wait_signal(&a.back, NULL));
    until_polling(w1);
    until_polling(w2);
    put_int(q, 7);
    ASSERT_EQ(mpt_join(w1), 0);
    ASSERT_EQ(mpt_join(w2), 0);
    ASSERT_EQ(wait_queue(q, MP_NO_WAIT), 1);
    ASSERT_EQ(get_int(q), 7u);
    ASSERT_EQ(wait_queue(q, MP_NO_WAIT), 0);
    warg_close(&a);
    mp_queue_destroy(q);
}

/* Process target: waits for a byte on the pipe, then exits 0. */
static int
target_wait_pipe(void *arg)
{
    return mpt_wait_signal(arg, NULL) == 0 ? 0 : 1;
}

TEST(waitany_mixed_list_marks_only_ready)
{
    mp_conn_t *rd = NULL, *wr = NULL;
    ASSERT_OK(mp_pipe(&rd, &wr, false));
    mp_queue_t *q1 = NULL, *q2 = NULL;
    ASSERT_OK(mp_queue_create(&q1, NULL));
    ASSERT_OK(mp_queue_create(&q2, NULL));
    mpt_pipe_t release;
    mpt_pipe_open(&release);
    mp_process_t *p = NULL;
    /* Forked under every default method: it waits on the inherited pipe. */
    ASSERT_OK(
        mp_process_create(&p, target_wait_pipe, &release, mpt_fork_opts()));
    ASSERT_OK(mp_process_start(p));

    mp_waitable_t it[4] = {
        {.kind = MP_WAIT_CONN, .u.conn = rd},
        {.kind = MP_WAIT_PROCESS, .u.process = p},
        {.kind = MP_WAIT_QUEUE, .u.queue = q1},
        {.kind = MP_WAIT_QUEUE, .u.queue = q2},
    };
    ASSERT_EQ(mp_wait_any(it, 4, MP_NO_WAIT), 0);
    put_int(q2, 1);
    ASSERT_EQ(mp_wait_any(it, 4, MP_WAIT_FOREVER), 1);
    ASSERT(!it[0].ready && !it[1].ready && !it[2].ready && it[3].ready);
    ASSERT_OK(mp_conn_send_bytes(wr, "x", 1, MP_WAIT_FOREVER));
    ASSERT_EQ(mp_wait_any(it, 4, MP_WAIT_FOREVER), 2);
    ASSERT(it[0].ready && !it[1].ready && !it[2].ready && it[3].ready);

    mpt_signal(&release, 1);
    ASSERT_OK(mp_process_join(p, MP_WAIT_FOREVER));
    ASSERT_EQ(mp_wait_any(it, 4, MP_NO_WAIT), 3);
    ASSERT(it[0].ready && it[1].ready && !it[2].ready && it[3].ready);

    void *msg = NULL;
    ASSERT_EQ(mp_conn_recv_bytes(rd, &msg, 0, MP_WAIT_FOREVER), 1);
    mp_free(msg);
    ASSERT_EQ(get_int(q2), 1u);
    ASSERT_EQ(mp_wait_any(it, 4, MP_WAIT_FOREVER), 1);
    ASSERT(!it[0].ready && it[1].ready && !it[2].ready && !it[3].ready);

    /* The writer's close is end of stream: the reader is ready. */
    mp_conn_destroy(wr);
    ASSERT_EQ(mp_wait_any(it, 1, MP_NO_WAIT), 1);
    ASSERT(it[0].ready);

    mp_process_destroy(p);
    mpt_pipe_close(&release);
    mp_conn_destroy(rd);
    mp_queue_destroy(q1);
    mp_queue_destroy(q2);
}

TEST(waitany_many_items_and_plain_fds)
{
    /* More items than the stack arrays hold; plain fds too. */
    enum { N = 40 };
    mpt_pipe_t pp;
    mpt_pipe_open(&pp);
    mp_queue_t *q = NULL;
    ASSERT_OK(mp_queue_create(&q, NULL));
    mp_waitable_t it[N];
    for (int i = 0; i < N; i++) {
        it[i] = (mp_waitable_t){.kind = MP_WAIT_FD, .u.fd = pp.rd};
    }
    it[N - 1] = queue_item(q);
    ASSERT_EQ(mp_wait_any(it, N, 1), 0);
    put_int(q, 3);
    ASSERT_EQ(mp_wait_any(it, N, MP_WAIT_FOREVER), 1);
    ASSERT(it[N - 1].ready && !it[0].ready);
    mpt_signal(&pp, 1);
    ASSERT_EQ(mp_wait_any(it, N, MP_WAIT_FOREVER), N);
    ASSERT_EQ(get_int(q), 3u);
    ASSERT_EQ(mp_wait_any(it, N, MP_WAIT_FOREVER), N - 1);
    ASSERT(!it[N - 1].ready && it[0].ready);
    mpt_pipe_close(&pp);
    mp_queue_destroy(q);
}

TEST(waitany_timeouts_with_nothing_ready)
{
    mp_queue_t *q = NULL;
    ASSERT_OK(mp_queue_create(&q, NULL));
    mp_conn_t *a = NULL, *b = NULL;
    ASSERT_OK(mp_pipe(&a, &b, true));
    mp_waitable_t it[2] = {
        {.kind = MP_WAIT_QUEUE, .u.queue = q, .ready = true},
        {.kind = MP_WAIT_CONN, .u.conn = a, .ready = true},
    };
    ASSERT_EQ(mp_wait_any(it, 2, MP_NO_WAIT), 0);
    ASSERT(!it[0].ready && !it[1].ready);
    ASSERT_EQ(mp_wait_any(it, 2, 1), 0);
    ASSERT_EQ(mp_wait_any(it, 2, 15), 0);
    ASSERT(!it[0].ready && !it[1].ready);
    /* n == 0 waits out a finite timeout. */
    ASSERT_EQ(mp_wait_any(NULL, 0, MP_NO_WAIT), 0);
    ASSERT_EQ(mp_wait_any(it, 0, 2), 0);
    /* A put then a get leaves at most a stale wake-up byte: still 0. */
    put_int(q, 1);
    ASSERT_EQ(get_int(q), 1u);
    ASSERT_EQ(mp_wait_any(it, 2, 1), 0);
    mp_conn_destroy(a);
    mp_conn_destroy(b);
    mp_queue_destroy(q);
}

TEST(waitany_queue_with_message_ready_at_once)
{
    mp_queue_t *q = NULL;
    mp_queue_opts_t o = MP_QUEUE_OPTS_INIT;
    o.maxsize = 2;
    o.joinable = true;
    ASSERT_OK(mp_queue_create(&q, &o));
    put_int(q, 5);
    ASSERT_EQ(wait_queue(q, MP_WAIT_FOREVER), 1);
    ASSERT_EQ(wait_queue(q, MP_NO_WAIT), 1); /* still there */
    ASSERT_EQ(get_int(q), 5u);
    ASSERT_OK(mp_queue_task_done(q));
    ASSERT_EQ(wait_queue(q, MP_NO_WAIT), 0);
    mp_queue_destroy(q);
}

TEST(waitany_no_fd_leak)
{
    /* A first queue connects this process to the tracker (its fds stay). */
    mp_queue_t *warm = NULL;
    ASSERT_OK(mp_queue_create(&warm, NULL));
    mp_queue_destroy(warm);
    int before = mpt_fd_count();
    for (int round = 0; round < 5; round++) {
        mp_queue_t *q = NULL, *att = NULL;
        ASSERT_OK(mp_queue_create(&q, NULL));
        ASSERT_OK(mp_queue_attach(&att, mp_queue_name(q)));
        mp_waitable_t it[2] = {queue_item(q), queue_item(att)};
        for (int i = 0; i < 10; i++) {
            ASSERT_EQ(mp_wait_any(it, 2, MP_NO_WAIT), 0);
            put_int(att, (uint32_t)i);
            ASSERT_EQ(mp_wait_any(it, 2, MP_WAIT_FOREVER), 2);
            ASSERT_EQ(get_int(q), (uint32_t)i);
        }
        /* One FIFO fd per handle, whatever the number of waits. */
        ASSERT_EQ(mpt_fd_count(), before + 2);
        mp_queue_destroy(att);
        mp_queue_destroy(q);
        ASSERT_EQ(mpt_fd_count(), before);
    }
}

TEST(waitany_fifo_removed_by_destroy)
{
    mp_queue_t *q = NULL;
    ASSERT_OK(mp_queue_create(&q, NULL));
    char name[PATH_LEN];
    snprintf(name, sizeof name, "%s", mp_queue_name(q));
    ASSERT(fifo_exists(name));
    ASSERT_EQ(wait_queue(q, MP_NO_WAIT), 0);
    mp_queue_destroy(q);
    ASSERT(!fifo_exists(name));

    /* A queue never waited on is removed just as well. */
    ASSERT_OK(mp_queue_create(&q, NULL));
    snprintf(name, sizeof name, "%s", mp_queue_name(q));
    ASSERT(fifo_exists(name));
    mp_queue_destroy(q);
    ASSERT(!fifo_exists(name));
}

/* What the queue-making child reports. */
typedef struct report {
    char name[PATH_LEN];
    pid_t tracker;
} report_t;

/* Child: makes a queue, waits on it once, reports, blocks until killed. */
static int
child_queue_then_block(void *arg)
{
    warg_t *a = arg;
    report_t r;
    memset(&r, 0, sizeof r);
    mp_queue_t *q = NULL;
    if (mp_queue_create(&q, NULL) != 0 || wait_queue(q, MP_NO_WAIT) != 0) {
        return 1;
    }
    snprintf(r.name, sizeof r.name, "%s", mp_queue_name(q));
    r.tracker = mp__tracker_pid();
    mpt_write_all(a->back.wr, &r, sizeof r);
    (void)mpt_wait_signal(&a->go, NULL); /* never comes */
    return 0;
}

TEST(waitany_fifo_removed_by_tracker_after_sigkill)
{
    warg_t a;
    warg_open(&a, NULL);
    pid_t pid = mpt_fork(child_queue_then_block, &a);
    report_t r;
    mpt_read_all(a.back.rd, &r, sizeof r);
    ASSERT_GT(r.tracker, 0);
    ASSERT(fifo_exists(r.name));
    ASSERT_EQ(kill(pid, SIGKILL), 0);
    ASSERT_EQ(mpt_join(pid), -SIGKILL);
    mpt_wait_pid_exit(r.tracker);
    ASSERT(!fifo_exists(r.name));
    warg_close(&a);
}

TEST(waitany_waiter_killed_mid_wait)
{
    /* A waiter SIGKILLed while counted wedges nobody: puts, gets and
     * later waits all work (its count only costs puts a write). */
    mp_queue_t *q = NULL;
    ASSERT_OK(mp_queue_create(&q, NULL));
    warg_t a;
    warg_open(&a, q);
    pid_t pid = mpt_fork(child_waiter, &a);
    ASSERT_OK(mpt_wait_signal(&a.back, NULL));
    until_polling(pid);
    ASSERT_EQ(kill(pid, SIGKILL), 0);
    ASSERT_EQ(mpt_join(pid), -SIGKILL);
    for (uint32_t i = 0; i < 3; i++) {
        ASSERT_EQ(wait_queue(q, MP_NO_WAIT), 0);
        put_int(q, i);
        ASSERT_EQ(wait_queue(q, MP_WAIT_FOREVER), 1);
        ASSERT_EQ(get_int(q), i);
    }
    warg_close(&a);
    mp_queue_destroy(q);
}

TEST(waitany_bad_input)
{
    mp_queue_t *q = NULL;
    ASSERT_OK(mp_queue_create(&q, NULL));
    mp_waitable_t it = queue_item(q);
    /* Opens the queue's FIFO now, so it cannot take the number of the
     * closed fd below. */
    ASSERT_EQ(wait_queue(q, MP_NO_WAIT), 0);
    ASSERT_ERR(mp_wait_any(NULL, 1, MP_NO_WAIT), MP_EINVAL);
    ASSERT_ERR(mp_wait_any(NULL, 0, MP_WAIT_FOREVER), MP_EINVAL);
    ASSERT_ERR(mp_wait_any(&it, 0, MP_WAIT_FOREVER), MP_EINVAL);
    ASSERT_ERR(mp_wait_any(&it, 1, -5), MP_EINVAL);
    ASSERT_ERR(mp_wait_any(&it, 1, MP_WAIT_DEFAULT), MP_EINVAL);
    ASSERT_ERR(mp_wait_any(&it, (size_t)-1, MP_NO_WAIT), MP_EINVAL);

    mp_waitable_t bad = {.kind = (mp_waitable_kind_t)42};
    ASSERT_ERR(mp_wait_any(&bad, 1, MP_NO_WAIT), MP_EINVAL);
    bad = (mp_waitable_t){.kind = MP_WAIT_QUEUE, .u.queue = NULL};
    ASSERT_ERR(mp_wait_any(&bad, 1, MP_NO_WAIT), MP_EINVAL);
    bad = (mp_waitable_t){.kind = MP_WAIT_CONN, .u.conn = NULL};
    ASSERT_ERR(mp_wait_any(&bad, 1, MP_NO_WAIT), MP_EINVAL);
    bad = (mp_waitable_t){.kind = MP_WAIT_PROCESS, .u.process = NULL};
    ASSERT_ERR(mp_wait_any(&bad, 1, MP_NO_WAIT), MP_EINVAL);

    /* Members that cannot be waited on: MP_EBADF, ready cleared. */
    bad = (mp_waitable_t){.kind = MP_WAIT_FD, .u.fd = -1};
    ASSERT_ERR(mp_wait_any(&bad, 1, MP_NO_WAIT), MP_EBADF);
    int fds[2];
    ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
    close(fds[0]);
    close(fds[1]);
    mp_waitable_t two[2] = {queue_item(q),
                            {.kind = MP_WAIT_FD, .u.fd = fds[0]}};
    put_int(q, 1);
    ASSERT_ERR(mp_wait_any(two, 2, MP_NO_WAIT), MP_EBADF);
    ASSERT(!two[0].ready);
    ASSERT_EQ(get_int(q), 1u);

    mp_conn_t *rd = NULL, *wr = NULL;
    ASSERT_OK(mp_pipe(&rd, &wr, false));
    bad = (mp_waitable_t){.kind = MP_WAIT_CONN, .u.conn = wr};
    ASSERT_ERR(mp_wait_any(&bad, 1, MP_NO_WAIT), MP_EBADF); /* write-only */
    ASSERT_OK(mp_conn_close(rd));
    bad.u.conn = rd;
    ASSERT_ERR(mp_wait_any(&bad, 1, MP_NO_WAIT), MP_EBADF); /* closed */
    mp_conn_destroy(rd);
    mp_conn_destroy(wr);

    mp_process_t *p = NULL;
    ASSERT_OK(mp_process_create(&p, target_wait_pipe, NULL, NULL));
    bad = (mp_waitable_t){.kind = MP_WAIT_PROCESS, .u.process = p};
    ASSERT_ERR(mp_wait_any(&bad, 1, MP_NO_WAIT), MP_EBADF); /* not started */
    mp_process_destroy(p);

    ASSERT_OK(mp_queue_close(q));
    ASSERT_ERR(mp_wait_any(&it, 1, MP_NO_WAIT), MP_EBADF); /* closed */
    mp_queue_destroy(q);
}

TEST(waitany_removed_queue_attached_late)
{
    /* An attached handle whose creator destroyed the queue before its first
     * wait: the FIFO is gone, so MP_ENOENT (never a hang). */
    mp_queue_t *q = NULL, *att = NULL;
    ASSERT_OK(mp_queue_create(&q, NULL));
    ASSERT_OK(mp_queue_attach(&att, mp_queue_name(q)));
    mp_queue_destroy(q);
    ASSERT_ERR(wait_queue(att, MP_NO_WAIT), MP_ENOENT);
    mp_queue_destroy(att);
}
