/* SPDX-License-Identifier: MIT */
/* test-socket-files.c - socket files outlive no process tree (issue 21,
 * item 9): a listener or a manager whose process is SIGKILLed leaves its
 * socket file behind only until its tree is gone (the tracker removes it,
 * and a manager's mp-mgr-* directory), and the path can be listened on
 * again at once (a stale socket is replaced; a live one is not). */
#include "runner.h"

#include "shm/shm_internal.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TMO 20000

/* What a killed child reports: its listening address, its tracker and
 * its manager's server. */
typedef struct {
    char address[160];
    pid_t tracker;
    pid_t server;
} sock_report_t;

typedef struct {
    mpt_pipe_t report;   /* child -> parent: a sock_report_t */
    mpt_pipe_t hold;     /* never written: the child waits on it */
    const char *address; /* where to listen; NULL (manager): its default */
    bool manager;
} sock_child_t;

/* Child: listens at a->address with a listener (or starts a manager),
 * reports, then waits to be killed. A listener's process also holds a
 * shared-memory block, so that it has a tracker with or without
 * listeners. Returns non-zero on failure. */
static int
listen_then_wait(void *arg)
{
    sock_child_t *a = arg;
    close(a->hold.wr);
    sock_report_t r;
    memset(&r, 0, sizeof r);
    mp_listener_t *l = NULL;
    mp_manager_t *m = NULL;
    if (a->manager) {
        mp_manager_opts_t o = {.address = a->address};
        if (mp_manager_create(&m, &o) != 0 || mp_manager_start(m) != 0) {
            return 1;
        }
        snprintf(r.address, sizeof r.address, "%s", mp_manager_address(m));
        r.server = mp_manager_pid(m);
    } else {
        mp_shm_t *shm = NULL;
        if (mp_shm_create(&shm, NULL, 4096, 0) != 0 ||
            mp_listener_create(&l, a->address, "k", 1, 0) != 0) {
            return 1;
        }
        snprintf(r.address, sizeof r.address, "%s", mp_listener_address(l));
    }
    r.tracker = mp__tracker_pid();
    mpt_write_all(a->report.wr, &r, sizeof r);
    (void)mpt_wait_signal(&a->hold, NULL);
    return 0;
}

/* Runs listen_then_wait in a child (its own tracker: this process has
 * none), SIGKILLs it once it listens (a manager's server first, so that
 * neither can clean up), and returns its report. */
static void
kill_a_listening_child(const char *address, bool manager, sock_report_t *r)
{
    ASSERT_EQ(mp__tracker_pid(), 0);
    sock_child_t a = {.address = address, .manager = manager};
    mpt_pipe_open(&a.report);
    mpt_pipe_open(&a.hold);
    pid_t pid = mpt_fork(listen_then_wait, &a);
    mpt_read_all(a.report.rd, r, sizeof *r);
    ASSERT_GT(r->tracker, 0);
    struct stat st;
    ASSERT_EQ(stat(r->address, &st), 0);
    ASSERT(S_ISSOCK(st.st_mode));
    if (manager) {
        ASSERT_GT(r->server, 0);
        ASSERT_EQ(kill(r->server, SIGKILL), 0);
        mpt_wait_pid_exit(r->server);
    }
    ASSERT_EQ(kill(pid, SIGKILL), 0);
    ASSERT_EQ(mpt_join(pid), -SIGKILL);
    mpt_pipe_close(&a.report);
    mpt_pipe_close(&a.hold);
}

/* A private temporary directory and a socket path inside it. */
typedef struct {
    char dir[64];
    char path[96];
} tmp_path_t;

static void
tmp_path_open(tmp_path_t *t)
{
    snprintf(t->dir, sizeof t->dir, "/tmp/mpt-sf-XXXXXX");
    ASSERT_NOT_NULL(mkdtemp(t->dir));
    snprintf(t->path, sizeof t->path, "%s/sock", t->dir);
}

TEST(listener_socket_file_removed_after_sigkill)
{
    tmp_path_t t;
    tmp_path_open(&t);
    sock_report_t r;
    kill_a_listening_child(t.path, false, &r);
    /* The tree is gone once the tracker is: it took the file with it. */
    mpt_wait_pid_exit(r.tracker);
    ASSERT_EQ(access(t.path, F_OK), -1);
    ASSERT_EQ(errno, ENOENT);
    ASSERT_EQ(rmdir(t.dir), 0);
}

TEST(listener_replaces_a_stale_socket_file)
{
    tmp_path_t t;
    tmp_path_open(&t);
    sock_report_t r;
    kill_a_listening_child(t.path, false, &r);
    /* Whether or not the tracker got to it yet, the path is free to
     * listen on: a socket nobody listens on is stale. */
    mp_listener_t *l = NULL;
    ASSERT_OK(mp_listener_create(&l, t.path, NULL, 0, 0));
    /* A live one is not replaced: the probe that finds it alive is a
     * client that connects and leaves at once. */
    mp_listener_t *again = NULL;
    ASSERT_ERR(mp_listener_create(&again, t.path, NULL, 0, 0), MP_EEXIST);
    ASSERT_NULL(again);
    mp_conn_t *c = NULL;
    ASSERT_OK(mp_listener_accept(l, &c, TMO));
    void *msg = NULL;
    ASSERT_ERR(mp_conn_recv_bytes(c, &msg, 0, TMO), MP_EOF);
    mp_conn_destroy(c);
    /* The path still leads to the first listener. */
    mp_conn_t *cl = NULL;
    ASSERT_OK(mp_client_connect(&cl, t.path, NULL, 0, TMO));
    ASSERT_OK(mp_listener_accept(l, &c, TMO));
    ASSERT_OK(mp_conn_send_bytes(cl, "hi", 2));
    ASSERT_EQ(mp_conn_recv_bytes(c, &msg, 0, TMO), 2);
    mp_free(msg);
    mp_conn_destroy(c);
    mp_conn_destroy(cl);
    /* Any other kind of file is never replaced. */
    mp_listener_destroy(l);
    mpt_wait_pid_exit(r.tracker);
    FILE *f = fopen(t.path, "w");
    ASSERT_NOT_NULL(f);
    fclose(f);
    ASSERT_ERR(mp_listener_create(&l, t.path, NULL, 0, 0), MP_EEXIST);
    ASSERT_EQ(unlink(t.path), 0);
    ASSERT_EQ(rmdir(t.dir), 0);
}

TEST_TIMEOUT(manager_socket_files_removed_after_sigkill, 60)
{
    sock_report_t r;
    kill_a_listening_child(NULL, true, &r);
    /* Default address: <tmp>/mp-mgr-XXXXXX/manager-N.sock. */
    char dir[sizeof r.address];
    snprintf(dir, sizeof dir, "%s", r.address);
    char *slash = strrchr(dir, '/');
    ASSERT_NOT_NULL(slash);
    *slash = '\0';
    ASSERT_NOT_NULL(strstr(dir, "/mp-mgr-"));
    /* The tracker, with the last of the tree, removes the socket file
     * and the directory. */
    mpt_wait_pid_exit(r.tracker);
    ASSERT_EQ(access(r.address, F_OK), -1);
    ASSERT_EQ(access(dir, F_OK), -1);
    ASSERT_EQ(errno, ENOENT);
}

TEST_TIMEOUT(manager_restarts_at_the_address_of_a_killed_one, 60)
{
    tmp_path_t t;
    tmp_path_open(&t);
    sock_report_t r;
    kill_a_listening_child(t.path, true, &r);
    /* At once, the tracker or not: the killed server's socket is stale. */
    mp_manager_opts_t o = {.address = t.path};
    mp_manager_t *m = NULL;
    ASSERT_OK(mp_manager_create(&m, &o));
    ASSERT_OK(mp_manager_start(m));
    ASSERT_STR_EQ(mp_manager_address(m), t.path);
    mp_manager_t *c = NULL;
    ASSERT_OK(mpt_manager_connect(m, true, &c));
    mp_manager_destroy(c);
    mp_manager_destroy(m);
    mpt_wait_pid_exit(r.tracker);
    ASSERT_EQ(access(t.path, F_OK), -1);
    ASSERT_EQ(rmdir(t.dir), 0);
}
