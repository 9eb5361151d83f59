/* SPDX-License-Identifier: MIT */
/* test-process.c - Process: start/join/exit codes, signals, the state
 * rules (not started, started twice, closed, destroyed while running), bad
 * input, names and identities, daemons, current/parent process, active
 * children, sentinels, the start-failure report, mp_shutdown, and what a
 * forked child does not inherit (the fork-local page).
 *
 * The children here are forked under every default method (the start
 * method pinned to fork): they share the test's memory and pipes through
 * the fork. test-start-methods.c runs the life cycle under each method. */
#include "runner.h"

#include "platform/platform.h"
#include "process/process_internal.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* --- helpers ------------------------------------------------------------ */

/* What a test shares with its children (copied into them by fork). */
typedef struct proc_arg {
    mpt_pipe_t ready; /* child -> parent: "I run" */
    mpt_pipe_t go;    /* parent -> child: "go on" (never written: block) */
    mpt_pipe_t out;   /* child -> parent: reports */
    int value;        /* what the child returns */
} proc_arg_t;

static void
arg_open(proc_arg_t *a)
{
    mpt_pipe_open(&a->ready);
    mpt_pipe_open(&a->go);
    mpt_pipe_open(&a->out);
    a->value = 0;
}

static void
arg_close(proc_arg_t *a)
{
    mpt_pipe_close(&a->ready);
    mpt_pipe_close(&a->go);
    mpt_pipe_close(&a->out);
}

/* Sends a string (length first) through pipe p. */
static void
send_str(mpt_pipe_t *p, const char *s)
{
    uint32_t len = (uint32_t)strlen(s);
    mpt_write_all(p->wr, &len, sizeof len);
    mpt_write_all(p->wr, s, len);
}

/* Receives a string sent by send_str into buf (of size cap). */
static void
recv_str(mpt_pipe_t *p, char *buf, size_t cap)
{
    uint32_t len;
    mpt_read_all(p->rd, &len, sizeof len);
    ASSERT_LT(len, cap);
    mpt_read_all(p->rd, buf, len);
    buf[len] = '\0';
}

static void
send_int(mpt_pipe_t *p, long long v)
{
    mpt_write_all(p->wr, &v, sizeof v);
}

static long long
recv_int(mpt_pipe_t *p)
{
    long long v;
    mpt_read_all(p->rd, &v, sizeof v);
    return v;
}

/* Creates and starts a process running fn(arg), or fails the test (opts
 * NULL: forked, mpt_fork_opts). */
static mp_process_t *
start(mp_target_fn fn, void *arg, const mp_process_opts_t *opts)
{
    mp_process_t *p = NULL;
    ASSERT_OK(mp_process_create(&p, fn, arg, opts ? opts : mpt_fork_opts()));
    ASSERT_OK(mp_process_start(p));
    return p;
}

/* Joins p, checks its exit code, destroys it. */
static void
join_expect(mp_process_t *p, int code)
{
    ASSERT_OK(mp_process_join(p, MP_WAIT_FOREVER));
    int got = -1000;
    ASSERT_OK(mp_process_exitcode(p, &got));
    ASSERT_EQ(got, code);
    mp_process_destroy(p);
}

/* Is fd readable right now? */
static int
readable_now(int fd)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int r;
    do {
        r = poll(&pfd, 1, 0);
    } while (r < 0 && errno == EINTR);
    ASSERT_GE(r, 0);
    return r;
}

/* Waits (no timeout: the test's applies) until fd is readable. */
static void
wait_readable(int fd)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int r;
    do {
        r = poll(&pfd, 1, -1);
    } while (r < 0 && errno == EINTR);
    ASSERT_EQ(r, 1);
}

/* --- targets ------------------------------------------------------------ */

static int
t_return_value(void *arg)
{
    return ((proc_arg_t *)arg)->value;
}

static int
t_exit_12(void *arg)
{
    (void)arg;
    exit(12);
}

static int
t_process_exit_3(void *arg)
{
    (void)arg;
    mp_process_exit(3);
}

/* Says "ready", then waits for "go" (forever if it never comes), then
 * returns the value. */
static int
t_ready_then_wait(void *arg)
{
    proc_arg_t *a = arg;
    mpt_signal(&a->ready, 1);
    (void)mpt_wait_signal(&a->go, NULL);
    return a->value;
}

/* Starts t_ready_then_wait(a) and waits until it runs: a child that exits
 * with a->value once a->go is signalled. */
static mp_process_t *
start_waiting(proc_arg_t *a)
{
    mp_process_t *p = start(t_ready_then_wait, a, NULL);
    ASSERT_OK(mpt_wait_signal(&a->ready, NULL));
    return p;
}

/* Dies of signal a->value with its default action. */
static int
t_die_of_signal(void *arg)
{
    proc_arg_t *a = arg;
    /* The sanitizers catch SIGSEGV themselves: restore the default. */
    struct sigaction sa = {.sa_handler = SIG_DFL};
    sigemptyset(&sa.sa_mask);
    ASSERT_EQ(sigaction(a->value, &sa, NULL), 0);
    if (a->value == SIGABRT) {
        abort();
    }
    raise(a->value);
    return 99;
}

/* --- start, join, exit codes -------------------------------------------- */

TEST(process_exit_codes)
{
    proc_arg_t a;
    arg_open(&a);
    a.value = 0;
    join_expect(start(t_return_value, &a, NULL), 0);
    a.value = 7;
    join_expect(start(t_return_value, &a, NULL), 7);
    a.value = 300; /* truncated to 8 bits, as by exit() */
    join_expect(start(t_return_value, &a, NULL), 44);
    a.value = -1;
    join_expect(start(t_return_value, &a, NULL), 255);
    join_expect(start(t_exit_12, &a, NULL), 12);
    join_expect(start(t_process_exit_3, &a, NULL), 3);
    arg_close(&a);
}

TEST(process_terminate_and_kill)
{
    proc_arg_t a;
    arg_open(&a);
    mp_process_t *p = start_waiting(&a);
    ASSERT_OK(mp_process_terminate(p));
    ASSERT_OK(mp_process_join(p, MP_WAIT_FOREVER));
    int code = 0;
    ASSERT_OK(mp_process_exitcode(p, &code));
    ASSERT_EQ(code, -SIGTERM);
    /* Signalling an exited process does nothing. */
    ASSERT_OK(mp_process_terminate(p));
    ASSERT_OK(mp_process_kill(p));
    ASSERT_OK(mp_process_exitcode(p, &code));
    ASSERT_EQ(code, -SIGTERM);
    mp_process_destroy(p);

    p = start_waiting(&a);
    ASSERT_OK(mp_process_kill(p));
    join_expect(p, -SIGKILL);
    arg_close(&a);
}

TEST(process_crash_exit_codes)
{
    proc_arg_t a;
    arg_open(&a);
    a.value = SIGSEGV;
    join_expect(start(t_die_of_signal, &a, NULL), -SIGSEGV);
    a.value = SIGABRT;
    join_expect(start(t_die_of_signal, &a, NULL), -SIGABRT);
    arg_close(&a);
}

TEST(process_is_alive_states)
{
    proc_arg_t a;
    arg_open(&a);
    mp_process_t *p = NULL;
    ASSERT_OK(mp_process_create(&p, t_ready_then_wait, &a, mpt_fork_opts()));
    ASSERT_EQ(mp_process_is_alive(p), 0);
    ASSERT_EQ(mp_process_pid(p), 0);
    ASSERT_OK(mp_process_start(p));
    ASSERT_GT(mp_process_pid(p), 0);
    ASSERT_OK(mpt_wait_signal(&a.ready, NULL));
    ASSERT_EQ(mp_process_is_alive(p), 1);
    int code;
    ASSERT_ERR(mp_process_exitcode(p, &code), MP_ERUNNING);
    mpt_signal(&a.go, 1);
    ASSERT_OK(mp_process_join(p, MP_WAIT_FOREVER));
    ASSERT_EQ(mp_process_is_alive(p), 0);
    ASSERT_OK(mp_process_join(p, MP_NO_WAIT)); /* joining again is fine */
    mp_process_destroy(p);
    arg_close(&a);
}

TEST(process_join_timeout)
{
    proc_arg_t a;
    arg_open(&a);
    a.value = 4;
    mp_process_t *p = start_waiting(&a);
    ASSERT_ERR(mp_process_join(p, MP_NO_WAIT), MP_ETIMEDOUT);
    ASSERT_ERR(mp_process_join(p, 20), MP_ETIMEDOUT);
    ASSERT_EQ(mp_process_is_alive(p), 1);
    ASSERT_ERR(mp_process_join(p, -5), MP_EINVAL);
    ASSERT_ERR(mp_process_join(p, MP_WAIT_DEFAULT), MP_EINVAL);
    mpt_signal(&a.go, 1);
    join_expect(p, 4);
    arg_close(&a);
}

/* A child reaped while another thread waits in join: both joins return. */
static void *
join_thread(void *arg)
{
    return (void *)(intptr_t)mp_process_join(arg, MP_WAIT_FOREVER);
}

TEST(process_join_from_two_threads)
{
    proc_arg_t a;
    arg_open(&a);
    a.value = 9;
    mp_process_t *p = start_waiting(&a);
    pthread_t th[2];
    for (int i = 0; i < 2; i++) {
        ASSERT_EQ(pthread_create(&th[i], NULL, join_thread, p), 0);
    }
    mpt_signal(&a.go, 1);
    for (int i = 0; i < 2; i++) {
        void *r;
        ASSERT_EQ(pthread_join(th[i], &r), 0);
        ASSERT_EQ((intptr_t)r, 0);
    }
    join_expect(p, 9);
    arg_close(&a);
}

/* --- state rules -------------------------------------------------------- */

TEST(process_calls_before_start)
{
    proc_arg_t a;
    arg_open(&a);
    mp_process_t *p = NULL;
    ASSERT_OK(mp_process_create(&p, t_return_value, &a, mpt_fork_opts()));
    int code;
    ASSERT_ERR(mp_process_join(p, MP_WAIT_FOREVER), MP_ENOTSTARTED);
    ASSERT_ERR(mp_process_terminate(p), MP_ENOTSTARTED);
    ASSERT_ERR(mp_process_kill(p), MP_ENOTSTARTED);
    ASSERT_ERR(mp_process_exitcode(p, &code), MP_ENOTSTARTED);
    ASSERT_ERR(mp_process_sentinel(p), MP_ENOTSTARTED);
    ASSERT_EQ(mp_process_pid(p), 0);
    mp_process_destroy(p); /* never started: always fine */
    arg_close(&a);
}

TEST(process_start_twice)
{
    proc_arg_t a;
    arg_open(&a);
    mp_process_t *p = start(t_ready_then_wait, &a, NULL);
    ASSERT_ERR(mp_process_start(p), MP_ESTARTED);
    mpt_signal(&a.go, 1);
    ASSERT_OK(mp_process_join(p, MP_WAIT_FOREVER));
    ASSERT_ERR(mp_process_start(p), MP_ESTARTED);
    mp_process_destroy(p);
    arg_close(&a);
}

TEST(process_close_rules)
{
    proc_arg_t a;
    arg_open(&a);
    mp_process_t *p = start_waiting(&a);
    ASSERT_ERR(mp_process_close(p), MP_ERUNNING);
    ASSERT_EQ(mp_process_is_alive(p), 1); /* still a valid handle */
    mpt_signal(&a.go, 1);
    ASSERT_OK(mp_process_join(p, MP_WAIT_FOREVER));
    ASSERT_OK(mp_process_close(p));
    ASSERT_OK(mp_process_close(p)); /* idempotent */
    int code;
    ASSERT_ERR(mp_process_is_alive(p), MP_ECLOSED);
    ASSERT_ERR(mp_process_join(p, MP_NO_WAIT), MP_ECLOSED);
    ASSERT_ERR(mp_process_terminate(p), MP_ECLOSED);
    ASSERT_ERR(mp_process_kill(p), MP_ECLOSED);
    ASSERT_ERR(mp_process_exitcode(p, &code), MP_ECLOSED);
    ASSERT_ERR(mp_process_sentinel(p), MP_ECLOSED);
    ASSERT_ERR(mp_process_start(p), MP_ECLOSED);
    ASSERT_ERR(mp_process_set_name(p, "x"), MP_ECLOSED);
    ASSERT_ERR(mp_process_set_daemon(p, true), MP_ECLOSED);
    ASSERT_EQ(mp_process_pid(p), 0);
    ASSERT_STR_EQ(mp_process_name(p), "Process-1");
    mp_process_destroy(p);

    /* A process that never started can be closed; then it cannot start. */
    ASSERT_OK(mp_process_create(&p, t_return_value, &a, mpt_fork_opts()));
    ASSERT_OK(mp_process_close(p));
    ASSERT_ERR(mp_process_start(p), MP_ECLOSED);
    mp_process_destroy(p);
    arg_close(&a);
}

TEST(process_destroy_rules)
{
    proc_arg_t a;
    arg_open(&a);
    a.value = 5;
    mp_process_t *p = start_waiting(&a);
    /* close, not destroy, reports a running child (Python's close()). */
    ASSERT_ERR(mp_process_close(p), MP_ERUNNING);
    ASSERT_EQ(mp_process_is_alive(p), 1); /* the handle stays valid */
    mpt_signal(&a.go, 1);
    ASSERT_OK(mp_process_join(p, MP_WAIT_FOREVER));
    mp_process_destroy(p);

    /* An exited child that nobody joined is reaped by destroy. */
    p = start(t_return_value, &a, NULL);
    wait_readable(mp_process_sentinel(p));
    mp_process_destroy(p);

    mp_process_destroy(NULL);
    mp_process_destroy(mp_current_process());
    ASSERT_STR_EQ(mp_process_name(mp_current_process()), "MainProcess");
    arg_close(&a);
}

/* Destroying the handle of a running child frees the handle for its
 * caller but never abandons the child: it runs on unharmed, stays listed
 * for the reap (not in mp_active_children: the handle is not the caller's
 * any more), and the next reap reaps it and frees the handle (the
 * sanitizer's leak check sees a handle that is not freed). */
TEST(process_destroy_running_child_is_kept_and_reaped)
{
    proc_arg_t a;
    arg_open(&a);
    a.value = 7;
    mp_process_t *p = start_waiting(&a);
    pid_t pid = mp_process_pid(p);
    int sentinel = mp__plat_dup(mp_process_sentinel(p), 0);
    ASSERT(sentinel >= 0);
    ASSERT_EQ(mp_active_children(NULL, 0), 1);
    mp_process_destroy(p);
    ASSERT_EQ(mp_active_children(NULL, 0), 0);
    ASSERT_OK(kill(pid, 0)); /* still there: not killed, not reaped */
    mpt_signal(&a.go, 1);
    wait_readable(sentinel); /* it exited on its own */
    close(sentinel);
    ASSERT_EQ(mp_active_children(NULL, 0), 0); /* reaps it */
    ASSERT_EQ(kill(pid, 0), -1);               /* no zombie left */
    ASSERT_EQ(errno, ESRCH);
    arg_close(&a);
}

TEST(process_bad_input)
{
    mp_process_t *p = NULL;
    int code;
    ASSERT_ERR(mp_process_create(NULL, t_return_value, NULL, NULL), MP_EINVAL);
    ASSERT_ERR(mp_process_create(&p, NULL, NULL, NULL), MP_EINVAL);
    ASSERT_NULL(p);
    ASSERT_ERR(mp_process_start(NULL), MP_EINVAL);
    ASSERT_ERR(mp_process_join(NULL, MP_WAIT_FOREVER), MP_EINVAL);
    ASSERT_ERR(mp_process_is_alive(NULL), MP_EINVAL);
    ASSERT_ERR(mp_process_terminate(NULL), MP_EINVAL);
    ASSERT_ERR(mp_process_kill(NULL), MP_EINVAL);
    ASSERT_ERR(mp_process_exitcode(NULL, &code), MP_EINVAL);
    ASSERT_EQ(mp_process_pid(NULL), 0);
    ASSERT_NULL(mp_process_name(NULL));
    ASSERT_ERR(mp_process_set_name(NULL, "x"), MP_EINVAL);
    ASSERT(!mp_process_daemon(NULL));
    ASSERT_ERR(mp_process_set_daemon(NULL, true), MP_EINVAL);
    ASSERT_ERR(mp_process_sentinel(NULL), MP_EINVAL);
    ASSERT_ERR(mp_process_close(NULL), MP_EINVAL);
    ASSERT_ERR(mp_active_children(NULL, 1), MP_EINVAL);

    ASSERT_OK(mp_process_create(&p, t_return_value, NULL, mpt_fork_opts()));
    ASSERT_ERR(mp_process_exitcode(p, NULL), MP_EINVAL);
    ASSERT_ERR(mp_process_set_name(p, NULL), MP_EINVAL);
    ASSERT_ERR(mp_process_join(p, -7), MP_EINVAL);
    ASSERT_ERR(mp_process_join(p, INT64_MIN), MP_EINVAL);
    mp_process_destroy(p);
}

/* --- names, daemon flag, identities ------------------------------------- */

/* Creates two processes (never started) and reports their names. */
static int
t_report_child_names(void *arg)
{
    proc_arg_t *a = arg;
    for (int i = 0; i < 2; i++) {
        mp_process_t *q = NULL;
        ASSERT_OK(mp_process_create(&q, t_return_value, NULL, mpt_fork_opts()));
        send_str(&a->out, mp_process_name(q));
        mp_process_destroy(q);
    }
    send_str(&a->out, mp_process_name(mp_current_process()));
    return 0;
}

TEST(process_names)
{
    proc_arg_t a;
    arg_open(&a);
    mp_process_t *p1 = NULL, *p2 = NULL, *p3 = NULL;
    ASSERT_OK(
        mp_process_create(&p1, t_report_child_names, &a, mpt_fork_opts()));
    ASSERT_OK(
        mp_process_create(&p2, t_report_child_names, &a, mpt_fork_opts()));
    char given[] = "worker";
    mp_process_opts_t opts = MP_PROCESS_OPTS_INIT;
    opts.start_method = MP_START_FORK;
    opts.name = given;
    ASSERT_OK(mp_process_create(&p3, t_return_value, &a, &opts));
    given[0] = 'W'; /* the name was copied */
    ASSERT_STR_EQ(mp_process_name(p1), "Process-1");
    ASSERT_STR_EQ(mp_process_name(p2), "Process-2");
    ASSERT_STR_EQ(mp_process_name(p3), "worker");

    ASSERT_OK(mp_process_start(p2));
    char buf[64];
    recv_str(&a.out, buf, sizeof buf);
    ASSERT_STR_EQ(buf, "Process-2:1");
    recv_str(&a.out, buf, sizeof buf);
    ASSERT_STR_EQ(buf, "Process-2:2");
    recv_str(&a.out, buf, sizeof buf);
    ASSERT_STR_EQ(buf, "Process-2");
    join_expect(p2, 0);

    /* A renamed process keeps its identity for its children's names. */
    ASSERT_OK(mp_process_set_name(p1, "renamed"));
    ASSERT_STR_EQ(mp_process_name(p1), "renamed");
    ASSERT_OK(mp_process_start(p1));
    recv_str(&a.out, buf, sizeof buf);
    ASSERT_STR_EQ(buf, "Process-1:1");
    recv_str(&a.out, buf, sizeof buf);
    ASSERT_STR_EQ(buf, "Process-1:2");
    recv_str(&a.out, buf, sizeof buf);
    ASSERT_STR_EQ(buf, "renamed");
    ASSERT_OK(mp_process_set_name(p1, "after start")); /* allowed */
    ASSERT_STR_EQ(mp_process_name(p1), "after start");
    join_expect(p1, 0);
    mp_process_destroy(p3);
    arg_close(&a);
}

/* Reports its current-process name, pid, daemon flag, getpid, getppid. */
static int
t_report_identity(void *arg)
{
    proc_arg_t *a = arg;
    mp_process_t *me = mp_current_process();
    send_str(&a->out, mp_process_name(me));
    send_int(&a->out, mp_process_pid(me));
    send_int(&a->out, mp_process_daemon(me));
    send_int(&a->out, getpid());
    send_int(&a->out, getppid());
    ASSERT_EQ(mp_process_is_alive(me), 1);
    ASSERT_ERR(mp_process_join(me, MP_NO_WAIT), MP_ENOTCHILD);
    return 0;
}

TEST(process_daemon_flag_and_pids)
{
    proc_arg_t a;
    arg_open(&a);
    mp_process_t *p = NULL;
    ASSERT_OK(mp_process_create(&p, t_report_identity, &a, mpt_fork_opts()));
    ASSERT(!mp_process_daemon(p));
    ASSERT_OK(mp_process_set_daemon(p, true));
    ASSERT(mp_process_daemon(p));
    ASSERT_OK(mp_process_start(p));
    ASSERT_ERR(mp_process_set_daemon(p, false), MP_ESTARTED);
    ASSERT(mp_process_daemon(p));
    char buf[64];
    recv_str(&a.out, buf, sizeof buf);
    ASSERT_STR_EQ(buf, "Process-1");
    long long pid = recv_int(&a.out);
    ASSERT_EQ(pid, mp_process_pid(p));
    ASSERT_EQ(recv_int(&a.out), 1); /* daemon */
    ASSERT_EQ(recv_int(&a.out), mp_process_pid(p));
    ASSERT_EQ(recv_int(&a.out), getpid());
    join_expect(p, 0);

    mp_process_opts_t opts = MP_PROCESS_OPTS_INIT;
    opts.start_method = MP_START_FORK;
    opts.daemon = true;
    ASSERT_OK(mp_process_create(&p, t_return_value, &a, &opts));
    ASSERT(mp_process_daemon(p));
    mp_process_destroy(p);
    arg_close(&a);
}

static int global_value = 1;

static int
t_change_global(void *arg)
{
    proc_arg_t *a = arg;
    ASSERT_EQ(global_value, 2); /* the parent's value at fork */
    global_value = 3;
    mpt_signal(&a->ready, 1);
    return 0;
}

TEST(process_globals_not_shared)
{
    proc_arg_t a;
    arg_open(&a);
    global_value = 2;
    mp_process_t *p = start(t_change_global, &a, NULL);
    ASSERT_OK(mpt_wait_signal(&a.ready, NULL));
    join_expect(p, 0);
    ASSERT_EQ(global_value, 2);
    arg_close(&a);
}

/* Tries to start a child; reports the result. */
static int
t_try_start_child(void *arg)
{
    proc_arg_t *a = arg;
    mp_process_t *q = NULL;
    ASSERT_OK(mp_process_create(&q, t_return_value, a, mpt_fork_opts()));
    int r = mp_process_start(q);
    send_int(&a->out, r);
    if (r == 0) {
        ASSERT_OK(mp_process_join(q, MP_WAIT_FOREVER));
    }
    mp_process_destroy(q);
    return 0;
}

TEST(process_daemon_may_not_start_children)
{
    proc_arg_t a;
    arg_open(&a);
    mp_process_opts_t opts = MP_PROCESS_OPTS_INIT;
    opts.start_method = MP_START_FORK;
    opts.daemon = true;
    join_expect(start(t_try_start_child, &a, &opts), 0);
    ASSERT_EQ(recv_int(&a.out), MP_EDAEMON);
    /* A non-daemonic child may. */
    join_expect(start(t_try_start_child, &a, NULL), 0);
    ASSERT_EQ(recv_int(&a.out), 0);
    arg_close(&a);
}

/* Reports the daemon flag of a process it creates with no options, with
 * daemon false, and after set_daemon(false). */
static int
t_report_child_daemon_flag(void *arg)
{
    proc_arg_t *a = arg;
    mp_process_t *q = NULL;
    ASSERT_OK(mp_process_create(&q, t_return_value, a, mpt_fork_opts()));
    send_int(&a->out, mp_process_daemon(q));
    mp_process_destroy(q);
    mp_process_opts_t opts = MP_PROCESS_OPTS_INIT;
    opts.start_method = MP_START_FORK;
    opts.daemon = false;
    ASSERT_OK(mp_process_create(&q, t_return_value, a, &opts));
    send_int(&a->out, mp_process_daemon(q));
    ASSERT_OK(mp_process_set_daemon(q, false));
    send_int(&a->out, mp_process_daemon(q));
    mp_process_destroy(q);
    return 0;
}

/* Python: a new process's daemon flag defaults to its creator's. */
TEST(process_daemon_flag_defaults_to_creators)
{
    proc_arg_t a;
    arg_open(&a);
    mp_process_opts_t opts = MP_PROCESS_OPTS_INIT;
    opts.start_method = MP_START_FORK;
    opts.daemon = true;
    join_expect(start(t_report_child_daemon_flag, &a, &opts), 0);
    ASSERT_EQ(recv_int(&a.out), 1);
    ASSERT_EQ(recv_int(&a.out), 1);
    ASSERT_EQ(recv_int(&a.out), 0);
    join_expect(start(t_report_child_daemon_flag, &a, NULL), 0);
    ASSERT_EQ(recv_int(&a.out), 0);
    ASSERT_EQ(recv_int(&a.out), 0);
    ASSERT_EQ(recv_int(&a.out), 0);
    arg_close(&a);
}

/* Handles made by the parent are the parent's: a child may not drive them
 * but may free its copies. */
typedef struct inherit_arg {
    proc_arg_t base;
    mp_process_t *unstarted; /* made by the parent, never started */
    mp_process_t *sibling;   /* started by the parent earlier */
    mp_process_t *self;      /* the handle that started this child */
} inherit_arg_t;

static int
t_use_inherited(void *arg)
{
    inherit_arg_t *a = arg;
    int code;
    mp_process_t *handles[] = {a->unstarted, a->sibling, a->self};
    for (size_t i = 0; i < 3; i++) {
        ASSERT_ERR(mp_process_start(handles[i]),
                   i == 0 ? MP_ENOTCHILD : MP_ESTARTED);
    }
    for (size_t i = 1; i < 3; i++) {
        ASSERT_ERR(mp_process_join(handles[i], MP_NO_WAIT), MP_ENOTCHILD);
        ASSERT_ERR(mp_process_terminate(handles[i]), MP_ENOTCHILD);
        ASSERT_ERR(mp_process_kill(handles[i]), MP_ENOTCHILD);
        ASSERT_ERR(mp_process_exitcode(handles[i], &code), MP_ENOTCHILD);
        ASSERT_ERR(mp_process_is_alive(handles[i]), MP_ENOTCHILD);
    }
    ASSERT_EQ(mp_active_children(NULL, 0), 0);
    for (size_t i = 0; i < 3; i++) {
        mp_process_destroy(handles[i]);
    }
    return 0;
}

TEST(process_inherited_handles_in_child)
{
    inherit_arg_t a;
    arg_open(&a.base);
    ASSERT_OK(
        mp_process_create(&a.unstarted, t_return_value, &a, mpt_fork_opts()));
    a.sibling = start(t_ready_then_wait, &a.base, NULL);
    ASSERT_OK(mpt_wait_signal(&a.base.ready, NULL));
    ASSERT_OK(mp_process_create(&a.self, t_use_inherited, &a, mpt_fork_opts()));
    ASSERT_OK(mp_process_start(a.self));
    join_expect(a.self, 0);
    mpt_signal(&a.base.go, 1);
    join_expect(a.sibling, 0);
    mp_process_destroy(a.unstarted);
    arg_close(&a.base);
}

/* What the children of process_child_names_outlive_handles share. */
typedef struct adopt_arg {
    proc_arg_t base;
    mp_process_t *self;  /* the handle the middle child was started from */
    mp_process_t *grand; /* the middle's handle of the grandchild */
} adopt_arg_t;

/* The grandchild: destroys its copies of its parent's handle and of its
 * own, then reports its parent's name and its own. */
static int
t_adopt_grandchild(void *arg)
{
    adopt_arg_t *a = arg;
    ASSERT_OK(mp_process_set_name(a->self, "renamed again"));
    mp_process_destroy(a->self);
    mp_process_destroy(a->grand);
    send_str(&a->base.out, mp_process_name(mp_parent_process()));
    send_str(&a->base.out, mp_process_name(mp_current_process()));
    return 0;
}

/* The middle child: renames and destroys its copy of the handle it was
 * started from (and starts a grandchild that does the same with its
 * copies), reporting its own name before and after. */
static int
t_adopt_middle(void *arg)
{
    adopt_arg_t *a = arg;
    send_str(&a->base.out, mp_process_name(mp_current_process()));
    ASSERT_OK(mp_process_set_name(a->self, "renamed in child"));
    ASSERT_STR_EQ(mp_process_name(a->self), "renamed in child");
    ASSERT_OK(
        mp_process_create(&a->grand, t_adopt_grandchild, a, mpt_fork_opts()));
    ASSERT_OK(mp_process_start(a->grand));
    join_expect(a->grand, 0);
    ASSERT_OK(mp_process_set_name(a->self, "and again"));
    mp_process_destroy(a->self);
    send_str(&a->base.out, mp_process_name(mp_current_process()));
    return 0;
}

/* A child's name and identity live in its copy of the handle it was
 * started from: destroying or renaming that copy (in the child or in a
 * grandchild) leaves mp_current_process() and mp_parent_process() as
 * they were (ASan builds see a use after free otherwise). */
TEST(process_child_names_outlive_handles)
{
    adopt_arg_t a;
    arg_open(&a.base);
    mp_process_opts_t opts = MP_PROCESS_OPTS_INIT;
    opts.start_method = MP_START_FORK;
    opts.name = "adopter";
    ASSERT_OK(mp_process_create(&a.self, t_adopt_middle, &a, &opts));
    ASSERT_OK(mp_process_start(a.self));
    char buf[64];
    recv_str(&a.base.out, buf, sizeof buf);
    ASSERT_STR_EQ(buf, "adopter");
    recv_str(&a.base.out, buf, sizeof buf); /* the grandchild's parent */
    ASSERT_STR_EQ(buf, "adopter");
    recv_str(&a.base.out, buf, sizeof buf); /* numbered after identity 1 */
    ASSERT_STR_EQ(buf, "Process-1:1");
    recv_str(&a.base.out, buf, sizeof buf);
    ASSERT_STR_EQ(buf, "adopter");
    join_expect(a.self, 0);
    arg_close(&a.base);
}

/* --- current and parent process ----------------------------------------- */

TEST(process_current_process_in_main)
{
    mp_process_t *me = mp_current_process();
    ASSERT_NOT_NULL(me);
    ASSERT(me == mp_current_process());
    ASSERT_STR_EQ(mp_process_name(me), "MainProcess");
    ASSERT_EQ(mp_process_pid(me), getpid());
    ASSERT(!mp_process_daemon(me));
    ASSERT_EQ(mp_process_is_alive(me), 1);
    int code;
    ASSERT_ERR(mp_process_join(me, MP_NO_WAIT), MP_ENOTCHILD);
    ASSERT_ERR(mp_process_terminate(me), MP_ENOTCHILD);
    ASSERT_ERR(mp_process_kill(me), MP_ENOTCHILD);
    ASSERT_ERR(mp_process_exitcode(me, &code), MP_ERUNNING);
    ASSERT_ERR(mp_process_sentinel(me), MP_ENOTSTARTED);
    ASSERT_ERR(mp_process_start(me), MP_ESTARTED);
    ASSERT_ERR(mp_process_close(me), MP_ERUNNING);
    ASSERT_ERR(mp_process_set_daemon(me, true), MP_ESTARTED);
    mp_process_destroy(me);
    ASSERT_NULL(mp_parent_process());
    ASSERT_OK(mp_process_set_name(me, "Main"));
    ASSERT_STR_EQ(mp_process_name(me), "Main");
    ASSERT_OK(mp_process_set_name(me, "MainProcess"));
}

/* Checks the parent handle while the parent runs; reports its name. */
static int
t_check_parent(void *arg)
{
    proc_arg_t *a = arg;
    mp_process_t *par = mp_parent_process();
    ASSERT_NOT_NULL(par);
    ASSERT(par == mp_parent_process());
    ASSERT_EQ(mp_process_pid(par), getppid());
    ASSERT_EQ(mp_process_is_alive(par), 1);
    ASSERT_ERR(mp_process_join(par, MP_NO_WAIT), MP_ETIMEDOUT);
    ASSERT_ERR(mp_process_join(par, 10), MP_ETIMEDOUT);
    ASSERT_ERR(mp_process_join(par, -3), MP_EINVAL);
    int fd = mp_process_sentinel(par);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(mp_process_sentinel(par), fd);
    ASSERT_EQ(readable_now(fd), 0);
    int code;
    ASSERT_ERR(mp_process_terminate(par), MP_ENOTCHILD);
    ASSERT_ERR(mp_process_kill(par), MP_ENOTCHILD);
    ASSERT_ERR(mp_process_exitcode(par, &code), MP_ENOTCHILD);
    ASSERT_ERR(mp_process_close(par), MP_ENOTCHILD);
    ASSERT_ERR(mp_process_start(par), MP_ESTARTED);
    mp_process_destroy(par);
    send_str(&a->out, mp_process_name(par));
    send_int(&a->out, mp_process_pid(par));
    return 0;
}

/* Starts t_check_parent as its own child: the grandchild's parent is this
 * process, not the main one. */
static int
t_start_checker(void *arg)
{
    mp_process_t *q = start(t_check_parent, arg, NULL);
    ASSERT_OK(mp_process_join(q, MP_WAIT_FOREVER));
    int code;
    ASSERT_OK(mp_process_exitcode(q, &code));
    mp_process_destroy(q);
    return code;
}

TEST(process_parent_process_in_child)
{
    proc_arg_t a;
    arg_open(&a);
    ASSERT_NULL(mp_parent_process());
    join_expect(start(t_check_parent, &a, NULL), 0);
    char buf[64];
    recv_str(&a.out, buf, sizeof buf);
    ASSERT_STR_EQ(buf, "MainProcess");
    ASSERT_EQ(recv_int(&a.out), getpid());

    mp_process_t *mid = start(t_start_checker, &a, NULL);
    recv_str(&a.out, buf, sizeof buf);
    ASSERT_STR_EQ(buf, "Process-2");
    ASSERT_EQ(recv_int(&a.out), mp_process_pid(mid));
    join_expect(mid, 0);
    ASSERT_NULL(mp_parent_process());
    arg_close(&a);
}

/* --- sentinel, active children, stdin, stdio ---------------------------- */

TEST(process_sentinel)
{
    proc_arg_t a;
    arg_open(&a);
    mp_process_t *p = start_waiting(&a);
    int fd = mp_process_sentinel(p);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(readable_now(fd), 0);
    mpt_signal(&a.go, 1);
    wait_readable(fd);
    /* Readable before and after the join; the same fd. */
    ASSERT_OK(mp_process_join(p, MP_NO_WAIT));
    ASSERT_EQ(mp_process_sentinel(p), fd);
    ASSERT_EQ(readable_now(fd), 1);
    join_expect(p, 0);
    arg_close(&a);
}

TEST(process_active_children)
{
    proc_arg_t a, b;
    arg_open(&a);
    arg_open(&b);
    ASSERT_EQ(mp_active_children(NULL, 0), 0);
    mp_process_t *unstarted = NULL;
    ASSERT_OK(
        mp_process_create(&unstarted, t_return_value, &a, mpt_fork_opts()));
    mp_process_t *p = start(t_ready_then_wait, &a, NULL);
    mp_process_t *q = start(t_ready_then_wait, &b, NULL);
    ASSERT_OK(mpt_wait_signal(&a.ready, NULL));
    ASSERT_OK(mpt_wait_signal(&b.ready, NULL));
    mp_process_t *out[4] = {NULL};
    ASSERT_EQ(mp_active_children(out, 4), 2);
    ASSERT(out[0] == p);
    ASSERT(out[1] == q);
    out[0] = NULL;
    ASSERT_EQ(mp_active_children(out, 1), 2); /* the count, capped copy */
    ASSERT(out[0] == p);
    ASSERT(out[1] == q);
    ASSERT_EQ(mp_active_children(NULL, 0), 2);

    /* A joined child leaves the list. */
    mpt_signal(&a.go, 1);
    ASSERT_OK(mp_process_join(p, MP_WAIT_FOREVER));
    ASSERT_EQ(mp_active_children(out, 4), 1);
    ASSERT(out[0] == q);

    /* An exited child nobody joined is reaped by active_children. */
    mpt_signal(&b.go, 1);
    wait_readable(mp_process_sentinel(q));
    ASSERT_EQ(mp_active_children(out, 4), 0);
    int status;
    ASSERT_EQ(waitpid(-1, &status, WNOHANG), -1);
    ASSERT_EQ(errno, ECHILD);
    int code = -1;
    ASSERT_OK(mp_process_exitcode(q, &code));
    ASSERT_EQ(code, 0);
    mp_process_destroy(p);
    mp_process_destroy(q);
    mp_process_destroy(unstarted);
    arg_close(&a);
    arg_close(&b);
}

/* Reads stdin: it must be at EOF (/dev/null). */
static int
t_read_stdin(void *arg)
{
    (void)arg;
    char c;
    ssize_t r;
    do {
        r = read(STDIN_FILENO, &c, 1);
    } while (r < 0 && errno == EINTR);
    ASSERT_EQ(r, 0);
    ASSERT_EQ(getchar(), EOF);
    return 0;
}

TEST(process_stdin_is_devnull)
{
    /* Give the test a stdin that would block forever if read. */
    mpt_pipe_t in;
    mpt_pipe_open(&in);
    int saved = dup(STDIN_FILENO);
    ASSERT_GE(saved, 0);
    ASSERT_EQ(dup2(in.rd, STDIN_FILENO), STDIN_FILENO);
    join_expect(start(t_read_stdin, NULL, NULL), 0);
    ASSERT_EQ(dup2(saved, STDIN_FILENO), STDIN_FILENO);
    close(saved);
    mpt_pipe_close(&in);
}

/* The child sees no input the parent had buffered in stdin, whether read
 * ahead into the buffer or pushed back with ungetc; the parent keeps it. */
TEST(process_stdin_buffered_input_dropped)
{
    mpt_pipe_t in;
    mpt_pipe_open(&in);
    mpt_write_all(in.wr, "xyz", 3);
    int saved = dup(STDIN_FILENO);
    ASSERT_GE(saved, 0);
    ASSERT_EQ(dup2(in.rd, STDIN_FILENO), STDIN_FILENO);
    ASSERT_EQ(getchar(), 'x'); /* "yz" stay in the buffer */
    join_expect(start(t_read_stdin, NULL, NULL), 0);
    ASSERT_EQ(getchar(), 'y');
    ASSERT_EQ(ungetc('q', stdin), 'q');
    join_expect(start(t_read_stdin, NULL, NULL), 0);
    ASSERT_EQ(getchar(), 'q');
    ASSERT_EQ(getchar(), 'z');
    __fpurge(stdin);
    clearerr(stdin);
    ASSERT_EQ(dup2(saved, STDIN_FILENO), STDIN_FILENO);
    close(saved);
    mpt_pipe_close(&in);
}

TEST(process_stdio_flushed_before_fork)
{
    mpt_pipe_t pp;
    mpt_pipe_open(&pp);
    FILE *f = fdopen(pp.wr, "w");
    ASSERT_NOT_NULL(f);
    pp.wr = -1;
    ASSERT_EQ(setvbuf(f, NULL, _IOFBF, 4096), 0);
    fputs("abc", f); /* buffered, not yet written */
    proc_arg_t a;
    arg_open(&a);
    join_expect(start(t_return_value, &a, NULL), 0);
    arg_close(&a);
    ASSERT_EQ(fclose(f), 0);
    char buf[16];
    ssize_t n = mp__plat_read_full(pp.rd, buf, sizeof buf);
    ASSERT_EQ(n, 3);
    ASSERT_MEM_EQ(buf, "abc", 3);
    mpt_pipe_close(&pp);
}

/* Writes "child|" to stdout without flushing it: the exit flushes it. */
static int
t_write_stdout(void *arg)
{
    (void)arg;
    fputs("child|", stdout);
    return 0;
}

/* Output the parent had buffered in stdout at start is written once (by
 * the parent, before the child's), and the child's buffered output is
 * written at its exit: nothing lost, nothing twice, in order. */
TEST(process_stdout_buffered_at_start_written_once)
{
    mpt_pipe_t pp;
    mpt_pipe_open(&pp);
    ASSERT_EQ(fflush(stdout), 0);
    int saved = dup(STDOUT_FILENO);
    ASSERT_GE(saved, 0);
    ASSERT_EQ(dup2(pp.wr, STDOUT_FILENO), STDOUT_FILENO);
    fputs("before|", stdout);
    bool buffered = __fpending(stdout) > 0;
    join_expect(start(t_write_stdout, NULL, NULL), 0);
    fputs("after", stdout);
    ASSERT_EQ(fflush(stdout), 0);
    ASSERT_EQ(dup2(saved, STDOUT_FILENO), STDOUT_FILENO);
    close(saved);
    close(pp.wr);
    pp.wr = -1;
    char buf[64];
    ssize_t n = mp__plat_read_full(pp.rd, buf, sizeof buf);
    ASSERT_EQ(n, (ssize_t)strlen("before|child|after"));
    ASSERT_MEM_EQ(buf, "before|child|after", (size_t)n);
    ASSERT(buffered); /* else the test proved nothing */
    mpt_pipe_close(&pp);
}

/* --- start failures, shutdown ------------------------------------------- */

TEST(process_start_failure_is_reported)
{
    proc_arg_t a;
    arg_open(&a);
    a.value = 6;
    mp_process_t *p = NULL;
    ASSERT_OK(mp_process_create(&p, t_return_value, &a, mpt_fork_opts()));
    mp__process_test_fail_setup(EMFILE);
    ASSERT_ERR(mp_process_start(p), MP_EMFILE);
    /* No child left behind, not even a zombie. */
    int status;
    ASSERT_EQ(waitpid(-1, &status, WNOHANG), -1);
    ASSERT_EQ(errno, ECHILD);
    ASSERT_EQ(mp_process_is_alive(p), 0);
    ASSERT_EQ(mp_process_pid(p), 0);
    ASSERT_EQ(mp_active_children(NULL, 0), 0);
    ASSERT_ERR(mp_process_join(p, MP_NO_WAIT), MP_ENOTSTARTED);
    /* The injection was for one start only; the handle can start again. */
    ASSERT_OK(mp_process_start(p));
    join_expect(p, 6);
    arg_close(&a);
}

TEST(process_shutdown_reaps_and_is_idempotent)
{
    ASSERT_OK(mp_shutdown());
    proc_arg_t a;
    arg_open(&a);
    a.value = 2;
    mp_process_t *p = start(t_return_value, &a, NULL);
    wait_readable(mp_process_sentinel(p));
    ASSERT_OK(mp_shutdown());
    int status;
    ASSERT_EQ(waitpid(-1, &status, WNOHANG), -1);
    ASSERT_EQ(errno, ECHILD);
    int code = -1;
    ASSERT_OK(mp_process_exitcode(p, &code)); /* the handle stays valid */
    ASSERT_EQ(code, 2);
    mp_process_destroy(p);
    ASSERT_OK(mp_shutdown());
    arg_close(&a);
}

/* --- the fork-local page: what a forked child does not inherit ---------- */

typedef struct fork_local_arg {
    uint64_t *word;  /* in the fork-local page, 1 in the parent */
    mpt_pipe_t out;  /* child -> test: its first random values */
    mpt_pipe_t held; /* holder thread -> test: "I hold the registry lock" */
    mpt_pipe_t let;  /* test -> holder thread: "release it" */
} fork_local_arg_t;

/* Holds the registry lock until told to let it go. */
static void *
registry_holder(void *arg)
{
    fork_local_arg_t *a = arg;
    mp__registry_lock();
    mpt_signal(&a->held, 1);
    (void)mpt_wait_signal(&a->let, NULL);
    mp__registry_unlock();
    return NULL;
}

static int
t_noop(void *arg)
{
    (void)arg;
    return 0;
}

/* A raw-forked child (no library start): finds the fork-local word zeroed
 * and its own write to it its own; no children of its parent's; the
 * registry lock free although a thread of the parent held it at the fork
 * (it starts and joins a child of its own); its own pid and tid; and a
 * random sequence of its own. Returns 0, or which check failed. */
static int
c_fork_local(void *arg)
{
    fork_local_arg_t *a = arg;
    if (*a->word != 0) {
        return 10;
    }
    *a->word = 2;
    if (mp_active_children(NULL, 0) != 0) {
        return 11;
    }
    if (mp__getpid() != getpid() ||
        mp__gettid() != (pid_t)syscall(SYS_gettid)) {
        return 12;
    }
    mp_process_t *p = NULL;
    if (mp_process_create(&p, t_noop, NULL, mpt_fork_opts()) != 0 ||
        mp_process_start(p) != 0 || mp_process_join(p, 60000) != 0 ||
        mp_process_close(p) != 0) {
        return 13;
    }
    mp_process_destroy(p);
    uint64_t v[4];
    for (size_t i = 0; i < 4; i++) {
        v[i] = mp__plat_random_u64();
    }
    mpt_write_all(a->out.wr, v, sizeof v);
    return 0;
}

TEST(process_fork_local_state_not_inherited)
{
    fork_local_arg_t a;
    mpt_pipe_open(&a.out);
    mpt_pipe_open(&a.held);
    mpt_pipe_open(&a.let);
    a.word = mp__fork_local(sizeof *a.word);
    ASSERT_EQ(*a.word, 0u);
    *a.word = 1;
    (void)mp__plat_random_u64(); /* the parent's generator is seeded */
    /* A child of ours runs, and another thread holds the registry lock,
     * while we fork. */
    proc_arg_t b;
    arg_open(&b);
    b.value = 7;
    mp_process_t *blocked = start(t_ready_then_wait, &b, NULL);
    ASSERT_OK(mpt_wait_signal(&b.ready, NULL));
    pthread_t holder;
    ASSERT_EQ(pthread_create(&holder, NULL, registry_holder, &a), 0);
    ASSERT_OK(mpt_wait_signal(&a.held, NULL));
    pid_t c = mpt_fork(c_fork_local, &a);
    uint64_t theirs[4], ours[4];
    mpt_read_all(a.out.rd, theirs, sizeof theirs);
    ASSERT_EQ(mpt_join(c), 0);
    for (size_t i = 0; i < 4; i++) {
        ours[i] = mp__plat_random_u64();
    }
    ASSERT(memcmp(ours, theirs, sizeof ours) != 0);
    ASSERT_EQ(*a.word, 1u); /* the child's write was its own */
    mpt_signal(&a.let, 1);
    ASSERT_EQ(pthread_join(holder, NULL), 0);
    ASSERT_EQ(mp_active_children(NULL, 0), 1);
    mpt_signal(&b.go, 1);
    join_expect(blocked, 7);
    arg_close(&b);
    mpt_pipe_close(&a.out);
    mpt_pipe_close(&a.held);
    mpt_pipe_close(&a.let);
}
