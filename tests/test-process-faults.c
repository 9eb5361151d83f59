/* SPDX-License-Identifier: MIT */
/* test-process-faults.c - processes that die at bad moments: a daemon whose
 * parent is SIGKILLed, a child that learns of its parent's death, exit
 * handling (daemons terminated, other children joined), and a child killed
 * while its parent waits in join.
 *
 * The tests that orphan a grandchild make the test process a child
 * subreaper, so the orphan becomes its child and is reaped here (whatever
 * the container's init does with orphans). The processes are forked under
 * every default method (pinned to fork): they share the test's pipes. */
#include "runner.h"

#include "process/process_internal.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct fault_arg {
    mpt_pipe_t report; /* middle -> test */
    mpt_pipe_t go;     /* test -> grandchild */
    mpt_pipe_t never;  /* never written: blocks forever */
    mpt_pipe_t inner;  /* grandchild -> middle or test */
    mpt_pipe_t ack;    /* test -> middle: "I hold pidfds of your children" */
    int mode;
} fault_arg_t;

static void
fault_open(fault_arg_t *a)
{
    mpt_pipe_open(&a->report);
    mpt_pipe_open(&a->go);
    mpt_pipe_open(&a->never);
    mpt_pipe_open(&a->inner);
    mpt_pipe_open(&a->ack);
    a->mode = 0;
}

static void
fault_close(fault_arg_t *a)
{
    mpt_pipe_close(&a->report);
    mpt_pipe_close(&a->go);
    mpt_pipe_close(&a->never);
    mpt_pipe_close(&a->inner);
    mpt_pipe_close(&a->ack);
}

static void
send_pid(fault_arg_t *a, pid_t pid)
{
    int32_t v = (int32_t)pid;
    ASSERT_OK(mp__plat_write_full(a->report.wr, &v, sizeof v));
}

static pid_t
recv_pid(fault_arg_t *a)
{
    int32_t v = 0;
    ASSERT_EQ(mp__plat_read_full(a->report.rd, &v, sizeof v), sizeof v);
    return (pid_t)v;
}

static void
become_subreaper(void)
{
    ASSERT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
}

/* Blocks until the never pipe has data: that is, forever. */
static int
t_block_forever(void *arg)
{
    fault_arg_t *a = arg;
    (void)mpt_wait_signal(&a->never, NULL);
    return 0;
}

/* Starts a grandchild with target fn (daemon or not), reports its pid,
 * then blocks forever. */
static int
start_grandchild_and_block(fault_arg_t *a, mp_target_fn fn, bool daemon)
{
    mp_process_opts_t opts = MP_PROCESS_OPTS_INIT;
    opts.start_method = MP_START_FORK;
    opts.daemon = daemon;
    mp_process_t *g = NULL;
    ASSERT_OK(mp_process_create(&g, fn, a, &opts));
    ASSERT_OK(mp_process_start(g));
    send_pid(a, mp_process_pid(g));
    return t_block_forever(a);
}

static int
t_middle_with_daemon(void *arg)
{
    return start_grandchild_and_block(arg, t_block_forever, true);
}

TEST(process_fault_daemon_dies_with_parent)
{
    become_subreaper();
    fault_arg_t a;
    fault_open(&a);
    mp_process_t *mid = NULL;
    ASSERT_OK(
        mp_process_create(&mid, t_middle_with_daemon, &a, mpt_fork_opts()));
    ASSERT_OK(mp_process_start(mid));
    pid_t g = recv_pid(&a);
    ASSERT_GT(g, 0);
    ASSERT_OK(mp_process_kill(mid));
    mpt_process_finish(mid, -SIGKILL);
    /* The orphaned daemon is now our child: it must die of SIGKILL. */
    mpt_wait_pid_exit(g);
    ASSERT_EQ(mpt_join(g), -SIGKILL);
    fault_close(&a);
}

/* A daemon whose parent dies before it arms its parent-death signal (held
 * there by the test hook) finds itself orphaned and dies of SIGKILL, as
 * the signal would have made it: start need not wait for it to arm. */
TEST(process_fault_daemon_parent_dies_before_it_arms)
{
    become_subreaper();
    fault_arg_t a;
    fault_open(&a);
    mpt_pipe_t hold;
    mpt_pipe_open(&hold);
    mp__process_test_hold_daemons(hold.rd);
    mp_process_t *mid = NULL;
    ASSERT_OK(
        mp_process_create(&mid, t_middle_with_daemon, &a, mpt_fork_opts()));
    ASSERT_OK(mp_process_start(mid));
    mp__process_test_hold_daemons(-1);
    pid_t g = recv_pid(&a);
    ASSERT_GT(g, 0);
    ASSERT_OK(mp_process_kill(mid));
    mpt_process_finish(mid, -SIGKILL);
    /* Only now may the orphan arm its signal: it must see its parent gone. */
    mpt_signal(&hold, 1);
    mpt_wait_pid_exit(g);
    ASSERT_EQ(mpt_join(g), -SIGKILL);
    mpt_pipe_close(&hold);
    fault_close(&a);
}

/* The grandchild: waits for its parent's death through the parent handle
 * and reports it. mode 0: opens the sentinel before the parent dies (says
 * so on inner); mode 1: first waits for "go", sent after the death. */
static int
t_watch_parent(void *arg)
{
    fault_arg_t *a = arg;
    mp_process_t *par = mp_parent_process();
    ASSERT_NOT_NULL(par);
    pid_t ppid = mp_process_pid(par);
    if (a->mode == 0) {
        ASSERT_EQ(getppid(), ppid);
        int fd = mp_process_sentinel(par);
        ASSERT_GE(fd, 0);
        ASSERT_EQ(mp_process_is_alive(par), 1);
        mpt_signal(&a->inner, 'R');
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int r;
        do {
            r = poll(&pfd, 1, -1);
        } while (r < 0 && errno == EINTR);
        ASSERT_EQ(r, 1);
    } else {
        ASSERT_OK(mpt_wait_signal(&a->go, NULL));
    }
    ASSERT_OK(mp_process_join(par, MP_WAIT_FOREVER));
    ASSERT_EQ(mp_process_is_alive(par), 0);
    ASSERT_OK(mp_process_join(par, MP_NO_WAIT));
    ASSERT_EQ(mp_process_pid(par), ppid); /* still names the dead parent */
    ASSERT_NE(getppid(), ppid);
    mpt_signal(&a->inner, 'D');
    return 0;
}

static int
t_middle_with_watcher(void *arg)
{
    return start_grandchild_and_block(arg, t_watch_parent, false);
}

TEST(process_fault_child_sees_parent_death)
{
    become_subreaper();
    for (int mode = 0; mode < 2; mode++) {
        fault_arg_t a;
        fault_open(&a);
        a.mode = mode;
        mp_process_t *mid = NULL;
        ASSERT_OK(mp_process_create(&mid, t_middle_with_watcher, &a,
                                    mpt_fork_opts()));
        ASSERT_OK(mp_process_start(mid));
        pid_t g = recv_pid(&a);
        uint8_t b = 0;
        if (mode == 0) {
            ASSERT_OK(mpt_wait_signal(&a.inner, &b));
            ASSERT_EQ(b, 'R');
        }
        ASSERT_OK(mp_process_kill(mid));
        ASSERT_OK(mp_process_join(mid, MP_WAIT_FOREVER));
        mp_process_destroy(mid);
        if (mode == 1) {
            mpt_signal(&a.go, 1);
        }
        ASSERT_OK(mpt_wait_signal(&a.inner, &b));
        ASSERT_EQ(b, 'D');
        ASSERT_EQ(mpt_join(g), 0);
        fault_close(&a);
    }
}

/* A grandchild that waits for "go", then returns 5. */
static int
t_wait_go(void *arg)
{
    fault_arg_t *a = arg;
    ASSERT_OK(mpt_wait_signal(&a->go, NULL));
    return 5;
}

/* A daemonic grandchild that ignores SIGTERM (mode 1) or not, says it is
 * ready, and blocks forever. */
static int
t_daemon_blocks(void *arg)
{
    fault_arg_t *a = arg;
    if (a->mode == 1) {
        struct sigaction sa = {.sa_handler = SIG_IGN};
        sigemptyset(&sa.sa_mask);
        ASSERT_EQ(sigaction(SIGTERM, &sa, NULL), 0);
    }
    mpt_signal(&a->inner, 'R');
    return t_block_forever(a);
}

/* The middle: a non-daemonic grandchild waiting for "go", two daemonic ones
 * (one ignores SIGTERM); reports the daemons' pids, then returns at once. */
static int
t_middle_returns(void *arg)
{
    fault_arg_t *a = arg;
    mp_process_t *g = NULL;
    ASSERT_OK(mp_process_create(&g, t_wait_go, a, mpt_fork_opts()));
    ASSERT_OK(mp_process_start(g));
    mp_process_opts_t opts = MP_PROCESS_OPTS_INIT;
    opts.start_method = MP_START_FORK;
    opts.daemon = true;
    for (int mode = 0; mode < 2; mode++) {
        a->mode = mode;
        mp_process_t *d = NULL;
        ASSERT_OK(mp_process_create(&d, t_daemon_blocks, a, &opts));
        ASSERT_OK(mp_process_start(d));
        uint8_t b = 0;
        ASSERT_OK(mpt_wait_signal(&a->inner, &b));
        ASSERT_EQ(b, 'R');
        send_pid(a, mp_process_pid(d));
    }
    /* Return (and so end the daemons) only once the test holds pidfds on
     * them: a daemon reaped earlier could not be watched, and its pid
     * could even be reused. */
    ASSERT_OK(mpt_wait_signal(&a->ack, NULL));
    uint8_t leaving = 'L';
    ASSERT_OK(mp__plat_write_full(a->report.wr, &leaving, 1));
    return 0; /* the exit handling must wait for g */
}

TEST(process_fault_exit_joins_children_and_ends_daemons)
{
    if (!mp__plat_have_pidfd()) {
        mpt_skip("watches the daemons through pidfds");
    }
    fault_arg_t a;
    fault_open(&a);
    mp_process_t *mid = NULL;
    ASSERT_OK(mp_process_create(&mid, t_middle_returns, &a, mpt_fork_opts()));
    ASSERT_OK(mp_process_start(mid));
    int dfd[2];
    for (int i = 0; i < 2; i++) {
        pid_t d = recv_pid(&a);
        dfd[i] = mp__plat_pidfd_open(d);
        ASSERT_GE(dfd[i], 0);
    }
    mpt_signal(&a.ack, 1);
    uint8_t b = 0;
    ASSERT_EQ(mp__plat_read_full(a.report.rd, &b, 1), 1);
    ASSERT_EQ(b, 'L');
    /* The middle has returned from its target but waits for its
     * non-daemonic child, which waits for us. */
    ASSERT_ERR(mp_process_join(mid, MP_NO_WAIT), MP_ETIMEDOUT);
    /* Its daemons are ended first (even the one ignoring SIGTERM), while
     * it still waits for the other child. */
    for (int i = 0; i < 2; i++) {
        ASSERT_EQ(mp__plat_poll_in(dfd[i], MP__NO_DEADLINE), 1);
        mp__plat_close(dfd[i]);
    }
    ASSERT_ERR(mp_process_join(mid, MP_NO_WAIT), MP_ETIMEDOUT);
    mpt_signal(&a.go, 1);
    ASSERT_OK(mp_process_join(mid, MP_WAIT_FOREVER));
    int code = -1;
    ASSERT_OK(mp_process_exitcode(mid, &code));
    ASSERT_EQ(code, 0);
    mp_process_destroy(mid);
    fault_close(&a);
}

/* Kills the process after a random spin. */
static void *
killer_thread(void *arg)
{
    unsigned spins = (unsigned)(mp__plat_random_u64() % 200000);
    for (volatile unsigned i = 0; i < spins; i++) {
    }
    return (void *)(intptr_t)mp_process_kill(arg);
}

/* A child that keeps busy with syscalls until killed. */
static int
t_busy(void *arg)
{
    (void)arg;
    for (;;) {
        (void)getppid();
    }
    return 0;
}

TEST(process_fault_kill_during_join)
{
    for (int i = 0; i < 10; i++) {
        mp_process_t *p = NULL;
        ASSERT_OK(mp_process_create(&p, t_busy, NULL, mpt_fork_opts()));
        ASSERT_OK(mp_process_start(p));
        pthread_t th;
        ASSERT_EQ(pthread_create(&th, NULL, killer_thread, p), 0);
        ASSERT_OK(mp_process_join(p, MP_WAIT_FOREVER));
        void *r;
        ASSERT_EQ(pthread_join(th, &r), 0);
        ASSERT_EQ((intptr_t)r, 0);
        int code = 0;
        ASSERT_OK(mp_process_exitcode(p, &code));
        ASSERT_EQ(code, -SIGKILL);
        int status;
        ASSERT_EQ(waitpid(-1, &status, WNOHANG), -1);
        ASSERT_EQ(errno, ECHILD);
        mp_process_destroy(p);
    }
}
