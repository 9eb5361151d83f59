/* SPDX-License-Identifier: MIT */
/* test-no-pidfd.c - processes, pools and managers where pidfd_open is
 * missing (Linux before 5.3, valgrind before 3.20), forced here with
 * mp__plat_pidfd_disable: children are watched through sentinel pipes,
 * the parent through a parent-death pipe that no sibling keeps open, and
 * liveness is read from /proc. (Any test runs this way with
 * MP_TEST_NO_PIDFD=1; CTest runs the process, pool and manager tests so
 * too, as nopidfd_<name>.) The processes here are forked under every
 * default method: they share pipes through the fork. */
#include "runner.h"

#include "platform/platform.h"

#include <errno.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* 1 if fd is a pipe (a sentinel pipe, not a pidfd). */
static int
is_pipe(int fd)
{
    struct stat st;
    ASSERT_EQ(fstat(fd, &st), 0);
    return S_ISFIFO(st.st_mode);
}

typedef struct np_arg {
    mpt_pipe_t out;  /* child -> test: reports */
    mpt_pipe_t hold; /* never written: EOF lets the holders go */
} np_arg_t;

static void
np_open(np_arg_t *a)
{
    mpt_pipe_open(&a->out);
    mpt_pipe_open(&a->hold);
}

static void
np_close(np_arg_t *a)
{
    mpt_pipe_close(&a->out);
    mpt_pipe_close(&a->hold);
}

static void
send_int(np_arg_t *a, int v)
{
    mpt_write_all(a->out.wr, &v, sizeof v);
}

static int
recv_int(np_arg_t *a)
{
    int v;
    mpt_read_all(a->out.rd, &v, sizeof v);
    return v;
}

/* Reports what it sees of its parent, then waits for EOF on hold. */
static int
t_report_parent_then_hold(void *arg)
{
    np_arg_t *a = arg;
    close(a->hold.wr); /* keep only the read end */
    mp_process_t *parent = mp_parent_process();
    int fd = mp_process_sentinel(parent);
    send_int(a, fd >= 0 && is_pipe(fd));
    send_int(a, mp_process_is_alive(parent));
    send_int(a, mp_process_join(parent, 0));
    (void)mpt_wait_signal(&a->hold, NULL);
    return 7;
}

TEST(nopidfd_process_lifecycle)
{
    mp__plat_pidfd_disable(true);
    ASSERT(!mp__plat_have_pidfd());
    ASSERT_LT(mp__plat_pidfd_open(getpid()), 0);
    np_arg_t a;
    np_open(&a);
    mp_process_t *p = NULL;
    ASSERT_OK(
        mp_process_create(&p, t_report_parent_then_hold, &a, mpt_fork_opts()));
    ASSERT_OK(mp_process_start(p));
    ASSERT_EQ(recv_int(&a), 1);
    ASSERT_EQ(recv_int(&a), 1);
    ASSERT_EQ(recv_int(&a), MP_ETIMEDOUT);
    int fd = mp_process_sentinel(p);
    ASSERT_GE(fd, 0);
    ASSERT(is_pipe(fd));
    ASSERT_EQ(mp_process_is_alive(p), 1);
    ASSERT_ERR(mp_process_join(p, 0), MP_ETIMEDOUT);
    mpt_pipe_close(&a.hold); /* the child's EOF */
    mpt_process_finish(p, 7);

    /* A child killed by a signal. */
    mpt_pipe_open(&a.hold);
    ASSERT_OK(
        mp_process_create(&p, t_report_parent_then_hold, &a, mpt_fork_opts()));
    ASSERT_OK(mp_process_start(p));
    for (int i = 0; i < 3; i++) {
        (void)recv_int(&a);
    }
    ASSERT_OK(mp_process_kill(p));
    mpt_process_finish(p, -SIGKILL);
    /* The pid liveness check needs no pidfd either. */
    ASSERT_EQ(mp__plat_pid_alive(getpid()), 1);
    np_close(&a);
}

/* A child of middle: reports once its parent (middle) has exited. */
static int
t_wait_parent_death(void *arg)
{
    np_arg_t *a = arg; /* the middle closed hold's write end */
    send_int(a, getpid());
    int r = mp_process_join(mp_parent_process(), MP_WAIT_FOREVER);
    send_int(a, r == 0 ? 1 : r);
    return 0;
}

/* A sibling started after it, which holds on until released: had it kept
 * the first child's parent-death pipe open, the first would never hear of
 * its parent's death. */
static int
t_sibling_holds(void *arg)
{
    np_arg_t *a = arg; /* the middle closed hold's write end */
    send_int(a, getpid());
    (void)mpt_wait_signal(&a->hold, NULL);
    return 0;
}

/* Starts the two children, then waits to be killed (so its exit handler,
 * which would join them, never runs). */
static int
t_middle(void *arg)
{
    np_arg_t *a = arg;
    close(a->hold.wr);
    mp_process_t *first = NULL, *second = NULL;
    if (mp_process_create(&first, t_wait_parent_death, a, mpt_fork_opts()) !=
            0 ||
        mp_process_start(first) != 0 ||
        mp_process_create(&second, t_sibling_holds, a, mpt_fork_opts()) != 0 ||
        mp_process_start(second) != 0) {
        send_int(a, -1);
        return 1;
    }
    (void)mpt_wait_signal(&a->hold, NULL);
    return 0;
}

TEST(nopidfd_parent_death_seen_despite_siblings)
{
    mp__plat_pidfd_disable(true);
    ASSERT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0);
    np_arg_t a;
    np_open(&a);
    mp_process_t *mid = NULL;
    ASSERT_OK(mp_process_create(&mid, t_middle, &a, mpt_fork_opts()));
    ASSERT_OK(mp_process_start(mid));
    int first = recv_int(&a), second = recv_int(&a);
    ASSERT_GT(first, 0);
    ASSERT_GT(second, 0);
    /* Both children run: the middle dies; the orphans come to us (the
     * runner makes the test a subreaper). */
    ASSERT_OK(mp_process_kill(mid));
    mpt_process_finish(mid, -SIGKILL);
    ASSERT_EQ(recv_int(&a), 1); /* the first saw it while the second lives */
    ASSERT_EQ(kill(second, 0), 0);
    mpt_pipe_close(&a.hold);
    ASSERT_EQ(mpt_join(first), 0);
    ASSERT_EQ(mpt_join(second), 0);
    np_close(&a);
}

/* A task that kills its worker for item 3. */
static int
square_or_die(const void *in, size_t len, mp_pool_out_t *out)
{
    int64_t x;
    memcpy(&x, in, len < sizeof x ? len : sizeof x);
    if (x == 3) {
        raise(SIGKILL);
    }
    return mpt_task_square(in, len, out);
}

TEST(nopidfd_pool_map_and_worker_death)
{
    mp__plat_pidfd_disable(true);
    mp_pool_t *pool = mpt_pool_make(2, 0);
    enum { N = 8 };
    int64_t in[N], out[N];
    int status[N];
    for (int i = 0; i < N; i++) {
        in[i] = i;
    }
    ASSERT_ERR(mp_pool_map(pool, square_or_die, in, sizeof in[0], N, 1, out,
                           sizeof out[0], status, MP_WAIT_FOREVER),
               MP_EWORKER);
    for (int i = 0; i < N; i++) {
        ASSERT_EQ(status[i], i == 3 ? MP_EWORKER : 0);
        if (i != 3) {
            ASSERT_EQ(out[i], (int64_t)i * i);
        }
    }
    /* The dead worker was replaced. */
    int64_t x = 9, y = 0;
    void *res = NULL;
    ASSERT_EQ(mp_pool_apply(pool, mpt_task_square, &x, sizeof x, &res,
                            MP_WAIT_FOREVER),
              (ssize_t)sizeof y);
    memcpy(&y, res, sizeof y);
    ASSERT_EQ(y, 81);
    mp_free(res);
    mpt_pool_finish(pool);
}

TEST(nopidfd_manager_round_trip)
{
    mp__plat_pidfd_disable(true);
    mp_manager_t *m = mpt_manager_start(NULL);
    mp_proxy_t *d = NULL;
    ASSERT_OK(mp_manager_dict(m, &d));
    ASSERT_OK(mp_dict_set(d, "k", 1, "value", 5));
    void *v = NULL;
    ASSERT_EQ(mp_dict_get(d, "k", 1, &v), 5);
    ASSERT_EQ(memcmp(v, "value", 5), 0);
    mp_free(v);
    mp_proxy_destroy(d);
    ASSERT_OK(mp_manager_shutdown(m));
    mp_manager_destroy(m);
}
