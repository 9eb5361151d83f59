/* SPDX-License-Identifier: MIT */
/* test-start-methods.c - Python's cases for start methods (test_context,
 * test_set_get, test_forkserver_*): the process-wide default (set once,
 * force, MULTIPROC_START_METHOD), a child reporting its method, arguments
 * as bytes, exit codes, terminate, kill and daemons under each method, an
 * fd of the parent not inherited under spawn and forkserver, a killed
 * forkserver replaced, the forkserver ending with its program, no spawn from a
 * program without mp_main, and a threaded program starting processes under
 * forkserver and spawn. */
#include "runner.h"

#include "process/process_internal.h"
#include "shm/fnref.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static const mp_start_method_t methods[] = {MP_START_FORK, MP_START_SPAWN,
                                            MP_START_FORKSERVER};
#define NMETHODS 3

/* Creates and starts a process of target with arg bytes under method. */
static mp_process_t *
start_with(mp_start_method_t m, mp_target_fn target, const void *arg,
           size_t size, bool daemon, const char *name)
{
    mp_process_opts_t o = MP_PROCESS_OPTS_INIT;
    o.name = name;
    o.daemon = daemon;
    o.start_method = m;
    o.arg_size = size;
    mp_process_t *p = NULL;
    ASSERT_OK(mp_process_create(&p, target, (void *)arg, &o));
    ASSERT_OK(mp_process_start(p));
    return p;
}

static int
return_7(void *arg)
{
    (void)arg;
    return 7;
}

TEST(start_method_default_set_force_env)
{
    unsetenv("MULTIPROC_START_METHOD");
    ASSERT_STR_EQ(mp_start_method_name(MP_START_FORK), "fork");
    ASSERT_STR_EQ(mp_start_method_name(MP_START_FORKSERVER), "forkserver");
    ASSERT_STR_EQ(mp_start_method_name(MP_START_SPAWN), "spawn");
    ASSERT_NULL(mp_start_method_name(MP_START_DEFAULT));
    ASSERT_NULL(mp_start_method_name((mp_start_method_t)7));
    mp_start_method_t m;
    ASSERT_OK(mp_start_method_parse("spawn", &m));
    ASSERT_EQ(m, MP_START_SPAWN);
    ASSERT_ERR(mp_start_method_parse("vfork", &m), MP_EINVAL);
    ASSERT_ERR(mp_set_start_method((mp_start_method_t)9, true), MP_EINVAL);

    /* Python: set once; a second set is an error unless forced. */
    ASSERT_OK(mp_set_start_method(MP_START_SPAWN, false));
    ASSERT_EQ(mp_start_method(), MP_START_SPAWN);
    ASSERT_ERR(mp_set_start_method(MP_START_FORK, false), MP_EBUSY);
    ASSERT_EQ(mp_start_method(), MP_START_SPAWN);
    ASSERT_OK(mp_set_start_method(MP_START_FORKSERVER, true));
    ASSERT_EQ(mp_start_method(), MP_START_FORKSERVER);

    /* Unset: the first get fixes fork, after which a set is an error. */
    ASSERT_OK(mp_set_start_method(MP_START_DEFAULT, true));
    ASSERT_EQ(mp_start_method(), MP_START_FORK);
    ASSERT_ERR(mp_set_start_method(MP_START_SPAWN, false), MP_EBUSY);

    /* The environment names the default when the program set none. */
    ASSERT_OK(mp_set_start_method(MP_START_DEFAULT, true));
    setenv("MULTIPROC_START_METHOD", "forkserver", 1);
    ASSERT_EQ(mp_start_method(), MP_START_FORKSERVER);
    ASSERT_OK(mp_set_start_method(MP_START_DEFAULT, true));
    setenv("MULTIPROC_START_METHOD", "spawn", 1);
    ASSERT_OK(mp_set_start_method(MP_START_FORK, false)); /* program wins */
    ASSERT_EQ(mp_start_method(), MP_START_FORK);
    ASSERT_OK(mp_set_start_method(MP_START_DEFAULT, true));
    setenv("MULTIPROC_START_METHOD", "bogus", 1);
    ASSERT_ERR(mp_start_method(), MP_EINVAL);
    mp_process_t *p = NULL;
    ASSERT_OK(mp_process_create(&p, return_7, NULL, NULL));
    ASSERT_ERR(mp_process_start(p), MP_EINVAL);
    ASSERT_EQ(mp_process_start_method(p), MP_START_DEFAULT);
    mp_process_destroy(p);
    unsetenv("MULTIPROC_START_METHOD");

    mp_process_opts_t bad = MP_PROCESS_OPTS_INIT;
    bad.start_method = (mp_start_method_t)5;
    ASSERT_ERR(mp_process_create(&p, return_7, NULL, &bad), MP_EINVAL);
    ASSERT_EQ(mp_process_start_method(mp_current_process()), MP_START_DEFAULT);
    ASSERT_EQ(mp_process_start_method(NULL), MP_START_DEFAULT);
}

/* Exits with 10 * how it was started + its default method, or 99 when its
 * name or parent is not what the creator gave. */
static int
report_method(void *arg)
{
    const pid_t *creator = arg;
    mp_process_t *par = mp_parent_process();
    if (strcmp(mp_process_name(mp_current_process()), "reporter") != 0 ||
        par == NULL || mp_process_pid(par) != *creator ||
        strcmp(mp_process_name(par), "MainProcess") != 0) {
        return 99;
    }
    return 10 * (int)mp_process_start_method(mp_current_process()) +
           mp_start_method();
}

TEST(start_method_child_reports_its_method)
{
    unsetenv("MULTIPROC_START_METHOD");
    pid_t self = getpid();
    for (int i = 0; i < NMETHODS; i++) {
        mp_process_t *p = start_with(methods[i], report_method, &self,
                                     sizeof self, false, "reporter");
        ASSERT_EQ(mp_process_start_method(p), methods[i]);
        /* A spawn or forkserver child's default is its own method, as in
         * Python; a forked one inherits ours (fixed to fork by then). */
        int want = 10 * methods[i] +
                   (methods[i] == MP_START_FORK ? MP_START_FORK : methods[i]);
        mpt_process_finish(p, want);
    }
    /* The default method, chosen by the environment. */
    setenv("MULTIPROC_START_METHOD", "spawn", 1);
    mp_process_t *p = NULL;
    mp_process_opts_t o = MP_PROCESS_OPTS_INIT;
    o.name = "reporter";
    o.arg_size = sizeof self;
    ASSERT_OK(mp_process_create(&p, report_method, &self, &o));
    ASSERT_EQ(mp_process_start_method(p), MP_START_DEFAULT);
    ASSERT_OK(mp_process_start(p));
    ASSERT_EQ(mp_process_start_method(p), MP_START_SPAWN);
    mpt_process_finish(p, 10 * MP_START_SPAWN + MP_START_SPAWN);
}

/* Sums its argument's bytes (a copy under spawn and forkserver). */
static int
sum_bytes(void *arg)
{
    const unsigned char *b = arg;
    int sum = 0;
    for (int i = 0; i < 1000; i++) {
        sum += b[i];
    }
    return sum % 251;
}

static int
return_arg_or_zero(void *arg)
{
    return arg == NULL ? 42 : 1;
}

TEST(start_method_arguments_are_bytes)
{
    unsigned char buf[1000];
    int sum = 0;
    for (int i = 0; i < 1000; i++) {
        buf[i] = (unsigned char)(i * 7);
        sum += buf[i];
    }
    for (int i = 0; i < NMETHODS; i++) {
        mpt_process_finish(
            start_with(methods[i], sum_bytes, buf, sizeof buf, false, NULL),
            sum % 251);
        mpt_process_finish(
            start_with(methods[i], return_arg_or_zero, NULL, 0, false, NULL),
            42);
    }
    /* A bare pointer cannot cross an exec. */
    for (int i = 1; i < NMETHODS; i++) {
        mp_process_opts_t o = MP_PROCESS_OPTS_INIT;
        o.start_method = methods[i];
        mp_process_t *p = NULL;
        ASSERT_OK(mp_process_create(&p, sum_bytes, buf, &o));
        ASSERT_ERR(mp_process_start(p), MP_EINVAL);
        mp_process_destroy(p);
    }
}

/* Waits for ever (until a signal). */
static int
wait_forever(void *arg)
{
    (void)arg;
    for (;;) {
        pause();
    }
    return 0; /* not reached */
}

static int
exit_with(void *arg)
{
    mp_process_exit(*(const int *)arg);
}

TEST(start_method_exitcode_terminate_kill)
{
    for (int i = 0; i < NMETHODS; i++) {
        int code = 17 + i;
        mpt_process_finish(
            start_with(methods[i], exit_with, &code, sizeof code, false, NULL),
            code);
        mp_process_t *p =
            start_with(methods[i], wait_forever, NULL, 0, false, NULL);
        ASSERT_EQ(mp_process_is_alive(p), 1);
        ASSERT_ERR(mp_process_join(p, 0), MP_ETIMEDOUT);
        int c;
        ASSERT_ERR(mp_process_exitcode(p, &c), MP_ERUNNING);
        struct pollfd pf = {.fd = mp_process_sentinel(p), .events = POLLIN};
        ASSERT_GE(pf.fd, 0);
        ASSERT_EQ(poll(&pf, 1, 0), 0);
        ASSERT_OK(mp_process_terminate(p));
        ASSERT_EQ(poll(&pf, 1, -1), 1);
        mpt_process_finish(p, -SIGTERM);
        p = start_with(methods[i], wait_forever, NULL, 0, false, NULL);
        ASSERT_OK(mp_process_kill(p));
        mpt_process_finish(p, -SIGKILL);
    }
}

/* In a raw child: starts a daemon that waits for ever with the method in
 * *arg, reports its pid on the pipe of fd 'wr' in the method slot, then
 * waits to be killed. */
static int daemon_report_fd;
static int
start_daemon_and_wait(void *arg)
{
    mp_start_method_t m = *(const mp_start_method_t *)arg;
    mp_process_t *p = start_with(m, wait_forever, NULL, 0, true, NULL);
    pid_t pid = mp_process_pid(p);
    mpt_write_all(daemon_report_fd, &pid, sizeof pid);
    for (;;) {
        pause();
    }
    return 0; /* not reached */
}

TEST(start_method_daemon_dies_with_parent)
{
    for (int i = 0; i < NMETHODS; i++) {
        int fds[2];
        ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
        daemon_report_fd = fds[1];
        pid_t mid = mpt_fork(start_daemon_and_wait, (void *)&methods[i]);
        close(fds[1]);
        pid_t daemon;
        mpt_read_all(fds[0], &daemon, sizeof daemon);
        close(fds[0]);
        ASSERT_GT(daemon, 0);
        ASSERT_EQ(kill(daemon, 0), 0);
        /* SIGKILL: no exit handler runs; the daemon must die anyway. */
        kill(mid, SIGKILL);
        ASSERT_EQ(mpt_join(mid), -SIGKILL);
        mpt_wait_pid_exit(daemon);
    }
}

/* Returns 0 when fd *arg is not open here, 1 when it is. */
static int
fd_is_closed(void *arg)
{
    return fcntl(*(const int *)arg, F_GETFD) < 0 && errno == EBADF ? 0 : 1;
}

TEST(start_method_parent_fd_not_inherited)
{
    /* An fd without close-on-exec, which a fork would pass on, above the
     * fds a spawned child gets from its creator (3..5), so that it is not
     * taken for one of them. */
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    int high = fcntl(fds[0], F_DUPFD, 40);
    ASSERT_GE(high, 40);
    close(fds[0]);
    fds[0] = high;
    mpt_process_finish(start_with(MP_START_FORK, fd_is_closed, &fds[0],
                                  sizeof fds[0], false, NULL),
                       1);
    for (int i = 1; i < NMETHODS; i++) {
        mpt_process_finish(start_with(methods[i], fd_is_closed, &fds[0],
                                      sizeof fds[0], false, NULL),
                           0);
    }
    /* One made after the forkserver started. */
    int late = dup(fds[1]);
    ASSERT_GE(late, 0);
    mpt_process_finish(start_with(MP_START_FORKSERVER, fd_is_closed, &late,
                                  sizeof late, false, NULL),
                       0);
    close(late);
    close(fds[0]);
    close(fds[1]);
}

TEST(start_method_forkserver_killed_is_replaced)
{
    mpt_process_finish(
        start_with(MP_START_FORKSERVER, return_7, NULL, 0, false, NULL), 7);
    pid_t first = mp__forkserver_pid();
    ASSERT_GT(first, 0);
    /* ^C: the server ignores it, and keeps serving. */
    ASSERT_EQ(kill(first, SIGINT), 0);
    mpt_process_finish(
        start_with(MP_START_FORKSERVER, return_7, NULL, 0, false, NULL), 7);
    /* SIGKILL: the next start gets a new one (whether or not the death
     * was seen before its request). */
    ASSERT_EQ(kill(first, SIGKILL), 0);
    mpt_process_finish(
        start_with(MP_START_FORKSERVER, return_7, NULL, 0, false, NULL), 7);
    pid_t second = mp__forkserver_pid();
    ASSERT_GT(second, 0);
    ASSERT_NE(second, first);
    /* Killed while a child of it runs: that child's code is lost (255, as
     * Python's), and the next start works. */
    mp_process_t *p =
        start_with(MP_START_FORKSERVER, wait_forever, NULL, 0, false, NULL);
    pid_t orphan = mp_process_pid(p);
    ASSERT_EQ(kill(second, SIGKILL), 0);
    ASSERT_OK(mp_process_join(p, MP_WAIT_FOREVER));
    int code;
    ASSERT_OK(mp_process_exitcode(p, &code));
    ASSERT_EQ(code, 255);
    mp_process_destroy(p);
    kill(orphan, SIGKILL);
    mpt_wait_pid_exit(orphan);
    mpt_process_finish(
        start_with(MP_START_FORKSERVER, return_7, NULL, 0, false, NULL), 7);
    ASSERT_NE(mp__forkserver_pid(), second);
}

/* In a raw child: starts a forkserver child, reports the server's pid on
 * daemon_report_fd, and waits to be killed. */
static int
start_server_and_wait(void *arg)
{
    (void)arg;
    mpt_process_finish(
        start_with(MP_START_FORKSERVER, return_7, NULL, 0, false, NULL), 7);
    pid_t server = mp__forkserver_pid();
    mpt_write_all(daemon_report_fd, &server, sizeof server);
    for (;;) {
        pause();
    }
    return 0; /* not reached */
}

TEST(start_method_forkserver_dies_with_program)
{
    int fds[2];
    ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
    daemon_report_fd = fds[1];
    pid_t prog = mpt_fork(start_server_and_wait, NULL);
    close(fds[1]);
    pid_t server;
    mpt_read_all(fds[0], &server, sizeof server);
    close(fds[0]);
    ASSERT_GT(server, 0);
    /* No exit handler, no mp_shutdown: the server sees its channel end. */
    kill(prog, SIGKILL);
    ASSERT_EQ(mpt_join(prog), -SIGKILL);
    mpt_wait_pid_exit(server);
}

/* In a raw child: starts the forkserver, then a forked child X (which
 * holds a copy of the server's channel), then a forkserver daemon D;
 * reports the pids of X, D and the server, and waits to be killed. */
static int
start_daemon_beside_fork_child(void *arg)
{
    (void)arg;
    mpt_process_finish(
        start_with(MP_START_FORKSERVER, return_7, NULL, 0, false, NULL), 7);
    mp_process_t *x =
        start_with(MP_START_FORK, wait_forever, NULL, 0, false, NULL);
    mp_process_t *d =
        start_with(MP_START_FORKSERVER, wait_forever, NULL, 0, true, NULL);
    pid_t pids[3] = {mp_process_pid(x), mp_process_pid(d),
                     mp__forkserver_pid()};
    mpt_write_all(daemon_report_fd, pids, sizeof pids);
    for (;;) {
        pause();
    }
    return 0; /* not reached */
}

TEST(start_method_forkserver_daemon_dies_with_creator)
{
    int fds[2];
    ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
    daemon_report_fd = fds[1];
    pid_t prog = mpt_fork(start_daemon_beside_fork_child, NULL);
    close(fds[1]);
    pid_t pids[3];
    mpt_read_all(fds[0], pids, sizeof pids);
    close(fds[0]);
    kill(prog, SIGKILL);
    ASSERT_EQ(mpt_join(prog), -SIGKILL);
    /* The server lives on (X holds its channel), and kills the daemon
     * whose creator is gone. */
    mpt_wait_pid_exit(pids[1]);
    ASSERT_EQ(kill(pids[2], 0), 0);
    /* X's end closes the channel: the server ends too. */
    kill(pids[0], SIGKILL);
    mpt_wait_pid_exit(pids[0]);
    mpt_wait_pid_exit(pids[2]);
}

/* A program that did not call mp_main: no spawn, no forkserver. */
TEST_HELPER(start_without_main)
{
    mp__start_test_forget_hook();
    for (int i = 1; i < NMETHODS; i++) {
        mp_process_opts_t o = MP_PROCESS_OPTS_INIT;
        o.start_method = methods[i];
        mp_process_t *p = NULL;
        ASSERT_OK(mp_process_create(&p, return_7, NULL, &o));
        ASSERT_ERR(mp_process_start(p), MP_ENOMAIN);
        ASSERT_EQ(mp_process_is_alive(p), 0);
        mp_process_destroy(p);
    }
    ASSERT_EQ(mp__forkserver_pid(), 0);
    /* fork still works. */
    mp_process_opts_t o = MP_PROCESS_OPTS_INIT;
    o.start_method = MP_START_FORK;
    mp_process_t *p = NULL;
    ASSERT_OK(mp_process_create(&p, return_7, NULL, &o));
    ASSERT_OK(mp_process_start(p));
    mpt_process_finish(p, 7);
}

static int
run_helper_start_without_main(void *arg)
{
    (void)arg;
    mpt_exec_helper("start_without_main");
}

TEST(start_method_no_spawn_without_main)
{
    ASSERT_EQ(mpt_join(mpt_fork(run_helper_start_without_main, NULL)), 0);
    ASSERT_STR_EQ(mp_err_name(MP_ENOMAIN), "ENOMAIN");
}

/*--- a threaded program ------------------------------------------------*/

/* A child that allocates and locks, as its creator's threads do: under
 * fork it could deadlock on a lock copied in the held state. */
static int
malloc_and_exit(void *arg)
{
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&mu);
    free(malloc(1000));
    pthread_mutex_unlock(&mu);
    return *(const int *)arg % 100;
}

/* Issue 17's check: with MPT_HAMMERS threads busy in malloc and mutexes of
 * their own, 1,000 processes per method start and end (fewer in the slow
 * builds, whose start costs ten times more). */
TEST_TIMEOUT(start_method_threaded_program, 300)
{
    mpt_hammer_start();
    int n = mpt_slow() ? 40 : 1000;
    for (int k = 1; k < NMETHODS; k++) {
        mp_process_t *ps[4];
        for (int i = 0; i < n; i += 4) {
            int codes[4];
            for (int j = 0; j < 4; j++) {
                codes[j] = i + j;
                ps[j] = start_with(methods[k], malloc_and_exit, &codes[j],
                                   sizeof codes[j], false, NULL);
            }
            for (int j = 0; j < 4; j++) {
                mpt_process_finish(ps[j], codes[j] % 100);
            }
        }
    }
    mpt_hammer_stop();
}

/* A program run with MULTIPROC_START_METHOD=spawn keeps working: its pool
 * starts its workers by spawn (test-pool-start-methods.c checks that), its
 * manager its server by spawn too (test-mgr-methods.c checks that). */
TEST(start_method_pool_and_manager_under_spawn_default)
{
    setenv("MULTIPROC_START_METHOD", "spawn", 1);
    ASSERT_EQ(mp_start_method(), MP_START_SPAWN);
    mp_pool_t *pool = mpt_pool_make(2, 0);
    int64_t x = 12, *y = NULL;
    ASSERT_EQ(mp_pool_apply(pool, mpt_task_square, &x, sizeof x, (void **)&y,
                            MP_WAIT_FOREVER),
              (ssize_t)sizeof *y);
    ASSERT_EQ(*y, 144);
    mp_free(y);
    mpt_pool_finish(pool);
    mp_manager_t *m = mpt_manager_start(NULL);
    pid_t server = mp_manager_pid(m);
    ASSERT_OK(mp_manager_shutdown(m));
    mpt_wait_pid_exit(server);
    mp_manager_destroy(m);
    unsetenv("MULTIPROC_START_METHOD");
}

static int
return_8(void *arg)
{
    (void)arg;
    return 8;
}

/* A target the child cannot find (here: sent by a name registered only in
 * this process) is reported by start, and no child is left. */
TEST(start_method_unknown_target_reported)
{
    ASSERT_OK(mp__fnref_register("registered-only-in-the-creator",
                                 (mp__fn_t)return_8));
    for (int i = 1; i < NMETHODS; i++) {
        mp_process_opts_t o = MP_PROCESS_OPTS_INIT;
        o.start_method = methods[i];
        mp_process_t *p = NULL;
        ASSERT_OK(mp_process_create(&p, return_8, NULL, &o));
        ASSERT_ERR(mp_process_start(p), MP_ENOENT);
        ASSERT_EQ(mp_process_is_alive(p), 0);
        ASSERT_EQ(mp_active_children(NULL, 0), 0);
        mp_process_destroy(p);
    }
    /* fork shares the registration. */
    mpt_process_finish(
        start_with(MP_START_FORK, return_8, NULL, 0, false, NULL), 8);
}
