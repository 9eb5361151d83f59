/* SPDX-License-Identifier: MIT */
/* test-tracker.c - the shared-memory tracker: blocks a process tree leaves
 * behind are removed once the whole tree has exited, however it ended
 * (SIGKILL included), never while a member lives, never because a process
 * merely attached; the tracker survives signals meant for the tree, is
 * restarted after being killed, and stays out of the caller's way. */
#include "runner.h"

#include "shm/shm_internal.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define NAME_LEN 64
#define NBLOCKS 3

/* What a child reports: its blocks' names and its tracker's pid. */
typedef struct report {
    char names[NBLOCKS][NAME_LEN];
    pid_t tracker;
    pid_t pid; /* the reporting process */
} report_t;

typedef struct child_arg {
    mpt_pipe_t report; /* child -> parent: a report_t */
    mpt_pipe_t hold;   /* never written: closing it lets holders go */
    int nblocks;
    char attach[NAME_LEN]; /* a block to attach to, or "" */
} child_arg_t;

/* Sets up the pipes of an argument block. */
static void
arg_open(child_arg_t *a, int nblocks)
{
    memset(a, 0, sizeof *a);
    mpt_pipe_open(&a->report);
    mpt_pipe_open(&a->hold);
    a->nblocks = nblocks;
}

/* Undoes arg_open. */
static void
arg_close(child_arg_t *a)
{
    mpt_pipe_close(&a->report);
    mpt_pipe_close(&a->hold);
}

/* 1 if /dev/shm/<name> exists. */
static int
shm_exists(const char *name)
{
    char path[NAME_LEN + 16];
    snprintf(path, sizeof path, "/dev/shm/%s", name);
    return access(path, F_OK) == 0;
}

/* In a child: creates a->nblocks tracked blocks (the first stays mapped,
 * the others are closed but not unlinked) and fills r. Returns 0. */
static int
make_blocks(child_arg_t *a, report_t *r)
{
    memset(r, 0, sizeof *r);
    for (int i = 0; i < a->nblocks; i++) {
        mp_shm_t *shm = NULL;
        if (mp_shm_create(&shm, NULL, 4096, 0) != 0) {
            return 1;
        }
        snprintf(r->names[i], NAME_LEN, "%s", mp_shm_name(shm));
        if (i > 0) {
            mp_shm_destroy(shm);
        }
    }
    r->tracker = mp__tracker_pid();
    r->pid = getpid();
    return r->tracker > 0 ? 0 : 1;
}

/* Writes r to the parent. */
static int
send_report(child_arg_t *a, const report_t *r)
{
    return write(a->report.wr, r, sizeof *r) == (ssize_t)sizeof *r ? 0 : 1;
}

/* Reads a report in the parent. */
static void
recv_report(child_arg_t *a, report_t *r)
{
    ASSERT_EQ(read(a->report.rd, r, sizeof *r), (ssize_t)sizeof *r);
}

/* Child: makes blocks, reports, then blocks until killed or released. */
static int
child_blocks_then_waits(void *arg)
{
    child_arg_t *a = arg;
    report_t r;
    close(a->hold.wr); /* keep only the read end */
    if (make_blocks(a, &r) != 0 || send_report(a, &r) != 0) {
        return 1;
    }
    (void)mpt_wait_signal(&a->hold, NULL); /* EOF once released */
    return 0;
}

/* Waits for a reported tracker to exit and checks its blocks are gone. */
static void
assert_cleaned(const report_t *r, int nblocks)
{
    mpt_wait_pid_exit(r->tracker);
    for (int i = 0; i < nblocks; i++) {
        ASSERT(!shm_exists(r->names[i]));
    }
}

/* --- tests -------------------------------------------------------------- */

TEST(tracker_cleans_up_after_sigkill)
{
    child_arg_t a;
    arg_open(&a, NBLOCKS);
    pid_t pid = mpt_fork(child_blocks_then_waits, &a);
    report_t r;
    recv_report(&a, &r);
    for (int i = 0; i < NBLOCKS; i++) {
        ASSERT(shm_exists(r.names[i]));
    }
    ASSERT_EQ(kill(pid, SIGKILL), 0);
    ASSERT_EQ(mpt_join(pid), -SIGKILL);
    assert_cleaned(&r, NBLOCKS);
    arg_close(&a);
    ASSERT_EQ(mp__tracker_pid(), 0); /* the parent never connected */
}

TEST(tracker_cleans_up_after_normal_exit)
{
    child_arg_t a;
    arg_open(&a, NBLOCKS);
    pid_t pid = mpt_fork(child_blocks_then_waits, &a);
    report_t r;
    recv_report(&a, &r);
    /* Closing the hold pipe lets the child return without unlinking. */
    mpt_pipe_close(&a.hold);
    ASSERT_EQ(mpt_join(pid), 0);
    assert_cleaned(&r, NBLOCKS);
    arg_close(&a);
}

/* Child of tracker_grandchild_keeps_it_alive: makes a block, forks a
 * grandchild that waits on the hold pipe, reports both, exits. */
static int
child_with_grandchild(void *arg)
{
    child_arg_t *a = arg;
    report_t r;
    if (make_blocks(a, &r) != 0) {
        return 1;
    }
    /* The grandchild inherits the tracker connection; this child exits
     * without reaping it, so it is re-parented to the test (a subreaper). */
    pid_t g = fork();
    if (g < 0) {
        return 1;
    }
    if (g == 0) {
        close(a->hold.wr);
        (void)mpt_wait_signal(&a->hold, NULL);
        _exit(0);
    }
    r.pid = g;
    return send_report(a, &r);
}

TEST(tracker_grandchild_keeps_it_alive)
{
    /* Adopt the orphaned grandchild, so that we can reap it. */
    ASSERT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0);
    child_arg_t a;
    arg_open(&a, 1);
    ASSERT_EQ(mpt_join(mpt_fork(child_with_grandchild, &a)), 0);
    report_t r;
    recv_report(&a, &r);
    /* The creator has exited, but the grandchild is part of its tree. */
    ASSERT_EQ(kill(r.tracker, 0), 0);
    ASSERT(shm_exists(r.names[0]));
    /* Release the grandchild: the tree is gone, the block with it. */
    mpt_pipe_close(&a.hold);
    ASSERT_EQ(mpt_join(r.pid), 0);
    /* As a subreaper we adopted the tracker too (its parent, the
     * intermediate child, exited at once): reap it as well. */
    ASSERT_EQ(mpt_join(r.tracker), 0);
    ASSERT(!shm_exists(r.names[0]));
    arg_close(&a);
}

/* Child of tracker_attach_does_not_take_ownership: forked before the
 * parent has a tracker, it makes a block of its own (so it runs its own
 * tracker), attaches to the parent's block (whose name comes through the
 * hold pipe), writes to it, and exits. */
static int
child_attaches(void *arg)
{
    child_arg_t *a = arg;
    report_t r;
    char name[NAME_LEN];
    if (read(a->hold.rd, name, sizeof name) != (ssize_t)sizeof name ||
        make_blocks(a, &r) != 0) {
        return 1;
    }
    mp_shm_t *att = NULL;
    if (mp_shm_attach(&att, name) != 0) {
        return 2;
    }
    ((char *)mp_shm_buf(att))[0] = 'x';
    mp_shm_destroy(att);
    return send_report(a, &r);
}

TEST(tracker_attach_does_not_take_ownership)
{
    child_arg_t a;
    arg_open(&a, 1);
    /* Fork first, so that the child does not share our tracker. */
    pid_t pid = mpt_fork(child_attaches, &a);
    mp_shm_t *shm = NULL;
    ASSERT_OK(mp_shm_create(&shm, NULL, 64, 0));
    char name[NAME_LEN] = {0};
    snprintf(name, sizeof name, "%s", mp_shm_name(shm));
    ASSERT_EQ(write(a.hold.wr, name, sizeof name), (ssize_t)sizeof name);
    ASSERT_EQ(mpt_join(pid), 0);
    report_t r;
    recv_report(&a, &r);
    ASSERT_NE(r.tracker, mp__tracker_pid());
    /* The attaching tree is gone and its tracker has cleaned up its own
     * block, but not ours. */
    assert_cleaned(&r, 1);
    ASSERT(shm_exists(name));
    ASSERT_EQ(((char *)mp_shm_buf(shm))[0], 'x');
    ASSERT_OK(mp_shm_unlink(shm));
    mp_shm_destroy(shm);
    arg_close(&a);
}

TEST(tracker_is_detached_from_the_caller)
{
    mp_shm_t *shm = NULL;
    ASSERT_EQ(mp__tracker_pid(), 0);
    ASSERT_OK(mp_shm_create(&shm, NULL, 8, 0));
    pid_t t = mp__tracker_pid();
    ASSERT_GT(t, 0);
    /* Not our child (nothing to reap), in its own session and group. */
    int status;
    ASSERT_EQ(waitpid(t, &status, WNOHANG), -1);
    ASSERT_EQ(errno, ECHILD);
    ASSERT_EQ(waitpid(-1, &status, WNOHANG), -1);
    ASSERT_EQ(getsid(t), t);
    ASSERT_NE(getpgid(t), getpgrp());
    /* It holds none of our descriptors, only its pipe end (3) and stderr;
     * (4 is the pipe it reported its pid on, closed just after). */
    static const int fds[] = {0, 1, 5, 6, 7};
    char path[64];
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++) {
        snprintf(path, sizeof path, "/proc/%d/fd/%d", (int)t, fds[i]);
        ASSERT_NE(access(path, F_OK), 0);
    }
    snprintf(path, sizeof path, "/proc/%d/fd/3", (int)t);
    ASSERT_EQ(access(path, F_OK), 0);
    /* A second block reuses the same tracker. */
    mp_shm_t *other = NULL;
    ASSERT_OK(mp_shm_create(&other, NULL, 8, 0));
    ASSERT_EQ(mp__tracker_pid(), t);
    ASSERT_OK(mp_shm_unlink(other));
    mp_shm_destroy(other);
    ASSERT_OK(mp_shm_unlink(shm));
    mp_shm_destroy(shm);
    /* Disconnecting ends it once no one else holds the pipe. */
    mp__tracker_disconnect();
    mp__tracker_disconnect(); /* idempotent */
    ASSERT_EQ(mp__tracker_pid(), 0);
    mpt_wait_pid_exit(t);
}

TEST(tracker_ignores_terminal_signals)
{
    mp_shm_t *shm = NULL;
    ASSERT_OK(mp_shm_create(&shm, NULL, 8, 0));
    report_t r = {.tracker = mp__tracker_pid()};
    snprintf(r.names[0], NAME_LEN, "%s", mp_shm_name(shm));
    ASSERT_EQ(kill(r.tracker, SIGINT), 0);
    ASSERT_EQ(kill(r.tracker, SIGTERM), 0);
    ASSERT_EQ(kill(r.tracker, SIGHUP), 0);
    ASSERT_EQ(kill(r.tracker, SIGPIPE), 0);
    /* Had any signal ended it, the block would survive the disconnect. */
    mp_shm_destroy(shm);
    mp_shutdown();
    assert_cleaned(&r, 1);
}

TEST(tracker_unregister_on_unlink)
{
    /* A tracked block unlinked by its creator is forgotten: a block made
     * later under the same name, untracked, survives the tracker. */
    char name[NAME_LEN];
    snprintf(name, sizeof name, "mp-%d-reused", (int)getpid());
    mp_shm_t *shm = NULL;
    ASSERT_OK(mp_shm_create(&shm, name, 8, 0));
    pid_t t = mp__tracker_pid();
    ASSERT_OK(mp_shm_unlink(shm));
    mp_shm_destroy(shm);
    ASSERT_OK(mp_shm_create(&shm, name, 8, MP_SHM_UNTRACKED));
    mp__tracker_disconnect();
    mpt_wait_pid_exit(t);
    ASSERT(shm_exists(name));
    ASSERT_OK(mp_shm_unlink(shm));
    mp_shm_destroy(shm);
}

TEST(tracker_disconnect_removes_leftovers)
{
    /* mp_shutdown's contract: what this process created and did not
     * unlink goes once the rest of the tree has exited (here: at once). */
    mp_shm_t *shm = NULL;
    ASSERT_OK(mp_shm_create(&shm, NULL, 8, 0));
    report_t r = {.tracker = mp__tracker_pid()};
    snprintf(r.names[0], NAME_LEN, "%s", mp_shm_name(shm));
    mp__tracker_disconnect();
    assert_cleaned(&r, 1);
    /* The mapping is still ours; a new block starts a new tracker. */
    ((char *)mp_shm_buf(shm))[0] = 1;
    mp_shm_destroy(shm);
    ASSERT_OK(mp_shm_create(&shm, NULL, 8, 0));
    ASSERT_GT(mp__tracker_pid(), 0);
    ASSERT_OK(mp_shm_unlink(shm));
    mp_shm_destroy(shm);
}

TEST_TIMEOUT(tracker_restarted_after_kill, 60)
{
    mp_shm_t *shm = NULL;
    ASSERT_OK(mp_shm_create(&shm, NULL, 8, 0));
    pid_t old = mp__tracker_pid();
    ASSERT_OK(mp_shm_unlink(shm));
    mp_shm_destroy(shm);
    ASSERT_EQ(kill(old, SIGKILL), 0);
    mpt_wait_pid_exit(old);
    /* Writing to the dead tracker's socket must not raise SIGPIPE; the
     * first message notices the death and starts a new tracker. */
    ASSERT_OK(mp_shm_create(&shm, NULL, 8, 0));
    ASSERT_OK(mp_shm_unlink(shm));
    mp_shm_destroy(shm);
    ASSERT_NE(mp__tracker_pid(), old);
    ASSERT_GT(mp__tracker_pid(), 0);
    /* The new tracker does its job. */
    ASSERT_OK(mp_shm_create(&shm, NULL, 8, 0));
    pid_t fresh = mp__tracker_pid();
    ASSERT_NE(fresh, old);
    ASSERT_GT(fresh, 0);
    report_t r = {.tracker = fresh};
    snprintf(r.names[0], NAME_LEN, "%s", mp_shm_name(shm));
    mp_shm_destroy(shm);
    mp__tracker_disconnect();
    assert_cleaned(&r, 1);
}

/* Child of tracker_replacement_takes_over_names: makes blocks, reports;
 * once released (the tracker was killed meanwhile) makes one more,
 * reports again and exits without unlinking any. */
static int
child_blocks_across_tracker_death(void *arg)
{
    child_arg_t *a = arg;
    report_t r;
    close(a->hold.wr);
    if (make_blocks(a, &r) != 0 || send_report(a, &r) != 0) {
        return 1;
    }
    (void)mpt_wait_signal(&a->hold, NULL); /* EOF: the tracker is dead */
    a->nblocks = 1;
    if (make_blocks(a, &r) != 0 || send_report(a, &r) != 0) {
        return 1;
    }
    return 0;
}

/* The contract: a killed tracker is replaced, and its replacement removes
 * what the dead one held as well as what came after, once the tree has
 * exited. */
TEST(tracker_replacement_takes_over_names)
{
    child_arg_t a;
    arg_open(&a, NBLOCKS);
    pid_t pid = mpt_fork(child_blocks_across_tracker_death, &a);
    report_t before, after;
    recv_report(&a, &before);
    ASSERT_EQ(kill(before.tracker, SIGKILL), 0);
    mpt_wait_pid_exit(before.tracker);
    mpt_pipe_close(&a.hold);
    recv_report(&a, &after);
    ASSERT_NE(after.tracker, before.tracker);
    ASSERT_EQ(mpt_join(pid), 0);
    assert_cleaned(&after, 1);
    for (int i = 0; i < NBLOCKS; i++) {
        ASSERT(!shm_exists(before.names[i]));
    }
    arg_close(&a);
}

/* A child that inherited the connection and notices the death first
 * registers only its own names with its replacement: its parent's live
 * block must survive the child's exit, and go with the parent's tree. */
TEST(tracker_replacement_in_child_leaves_parent_names)
{
    mp_shm_t *mine = NULL, *more = NULL;
    ASSERT_OK(mp_shm_create(&mine, NULL, 8, 0));
    pid_t old = mp__tracker_pid();
    child_arg_t a;
    arg_open(&a, 1);
    pid_t pid = mpt_fork(child_blocks_across_tracker_death, &a);
    report_t first, second;
    recv_report(&a, &first);
    ASSERT_EQ(first.tracker, old);
    ASSERT_EQ(kill(old, SIGKILL), 0);
    mpt_wait_pid_exit(old);
    mpt_pipe_close(&a.hold);
    recv_report(&a, &second);
    ASSERT_NE(second.tracker, old);
    ASSERT_EQ(mpt_join(pid), 0);
    assert_cleaned(&second, 1);
    ASSERT(!shm_exists(first.names[0])); /* the child's first: its own */
    ASSERT(shm_exists(mp_shm_name(mine)));
    /* The parent's next message replaces the tracker for it. */
    ASSERT_OK(mp_shm_create(&more, NULL, 8, 0));
    report_t r = {.tracker = mp__tracker_pid()};
    ASSERT_NE(r.tracker, old);
    ASSERT_NE(r.tracker, second.tracker);
    snprintf(r.names[0], NAME_LEN, "%s", mp_shm_name(mine));
    snprintf(r.names[1], NAME_LEN, "%s", mp_shm_name(more));
    mp_shm_destroy(mine);
    mp_shm_destroy(more);
    mp__tracker_disconnect();
    assert_cleaned(&r, 2);
    arg_close(&a);
}

#define THREADS 4
#define PER_THREAD 100

/* Thread body of tracker_threads_and_forks: creates, then unlinks blocks. */
static void *
thread_churn(void *arg)
{
    (void)arg;
    for (int i = 0; i < PER_THREAD; i++) {
        mp_shm_t *shm = NULL;
        if (mp_shm_create(&shm, NULL, 64, 0) != 0 || mp_shm_unlink(shm) != 0) {
            return (void *)1;
        }
        mp_shm_destroy(shm);
    }
    return NULL;
}

/* Child of tracker_threads_and_forks: one more block, left behind. */
static int
child_leaves_block(void *arg)
{
    (void)arg;
    mp_shm_t *shm = NULL;
    return mp_shm_create(&shm, NULL, 64, 0) != 0;
}

TEST(tracker_threads_and_forks)
{
    /* Threads race to start the tracker and to write to it while the
     * main thread forks children that register with the same tracker. */
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        ASSERT_EQ(pthread_create(&th[i], NULL, thread_churn, NULL), 0);
    }
    for (int i = 0; i < 3; i++) {
        ASSERT_EQ(mpt_join(mpt_fork(child_leaves_block, NULL)), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        void *ret;
        ASSERT_EQ(pthread_join(th[i], &ret), 0);
        ASSERT_NULL(ret);
    }
    pid_t t = mp__tracker_pid();
    ASSERT_GT(t, 0);
    /* The children's blocks go with the tree (a child forked before the
     * first registration ran its own tracker, already gone). */
    mp__tracker_disconnect();
    mpt_wait_pid_exit(t);
    ASSERT_EQ(mpt_shm_names_left(getpid()), 0);
}

/*--- sockets pending between bind and registration -------------------------*/

/* What a child that binds a socket at a pending path tells the test. */
typedef struct pending_child {
    const char *path;  /* absolute */
    bool bind_it;      /* bind a socket there (else the path is another's) */
    mpt_pipe_t report; /* child -> test: the tracker's pid, once bound */
    mpt_pipe_t hold;   /* never written: the child waits to be killed */
} pending_child_t;

/* Registers a->path as pending, binds a socket there without listening
 * (as mp_listener_create does between bind and registering the file),
 * reports the tracker's pid and waits to be killed: the worst moment. */
static int
bind_pending_then_wait(void *arg)
{
    pending_child_t *a = arg;
    ASSERT_OK(mp__tracker_register_pending(a->path));
    if (a->bind_it) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ASSERT(fd >= 0);
        struct sockaddr_un sun = {.sun_family = AF_UNIX};
        snprintf(sun.sun_path, sizeof sun.sun_path, "%s", a->path);
        ASSERT_EQ(bind(fd, (struct sockaddr *)&sun, sizeof sun), 0);
    }
    pid_t tracker = mp__tracker_pid();
    mpt_write_all(a->report.wr, &tracker, sizeof tracker);
    char b;
    mpt_read_all(a->hold.rd, &b, 1); /* killed first */
    return 1;
}

/* Runs bind_pending_then_wait for path in a child, SIGKILLs it at its
 * worst moment, and waits until its tree (and so its tracker) is gone. */
static void
kill_pending_binder(const char *path, bool bind_it)
{
    ASSERT_EQ(mp__tracker_pid(), 0);
    pending_child_t a = {.path = path, .bind_it = bind_it};
    mpt_pipe_open(&a.report);
    mpt_pipe_open(&a.hold);
    pid_t pid = mpt_fork(bind_pending_then_wait, &a);
    pid_t tracker;
    mpt_read_all(a.report.rd, &tracker, sizeof tracker);
    ASSERT_GT(tracker, 0);
    ASSERT_EQ(kill(pid, SIGKILL), 0);
    ASSERT_EQ(mpt_join(pid), -SIGKILL);
    mpt_wait_pid_exit(tracker);
    mpt_pipe_close(&a.report);
    mpt_pipe_close(&a.hold);
}

TEST(tracker_removes_a_socket_killed_between_bind_and_registration)
{
    char dir[] = "/tmp/mp-pending.XXXXXX";
    ASSERT_NOT_NULL(mkdtemp(dir));
    char path[sizeof dir + 16];
    snprintf(path, sizeof path, "%s/s.sock", dir);
    kill_pending_binder(path, true);
    ASSERT_EQ(access(path, F_OK), -1); /* the tracker took it */
    ASSERT_EQ(rmdir(dir), 0);
}

TEST(tracker_keeps_a_live_socket_at_a_pending_path)
{
    char dir[] = "/tmp/mp-pending.XXXXXX";
    ASSERT_NOT_NULL(mkdtemp(dir));
    char path[sizeof dir + 16];
    snprintf(path, sizeof path, "%s/s.sock", dir);
    /* The path is this (live) test's socket, not the killed tree's: a
     * plain one, so that this process starts no tracker of its own. */
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT(fd >= 0);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
    ASSERT_EQ(bind(fd, (struct sockaddr *)&sun, sizeof sun), 0);
    ASSERT_EQ(listen(fd, 4), 0);
    kill_pending_binder(path, false);
    ASSERT_EQ(access(path, F_OK), 0);
    /* The tracker's probe was a client that connected and left. */
    int probe = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
    ASSERT(probe >= 0);
    close(probe);
    close(fd);
    ASSERT_EQ(unlink(path), 0);
    ASSERT_EQ(rmdir(dir), 0);
}
