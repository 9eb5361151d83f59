/* SPDX-License-Identifier: MIT */
/* test-mgr-server.c - the manager's server process, wire and life cycle:
 * start/shutdown, connect (AF_UNIX and TCP, wrong key, nothing there,
 * remote only), a killed server or client, malformed, oversized and
 * unauthenticated traffic, and the per-process connection pool. The proxy
 * calls themselves are tested in test-manager.c. */
#include "runner.h"

#include "manager/server_internal.h"
#include "manager/store_internal.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

/*--- helpers ----------------------------------------------------------------*/

/* One HELLO through the handle's pool; returns the reply status. */
static int
hello(mp_manager_t *m)
{
    mp__mgr_req_t req = {.op = MP__OP_HELLO};
    mp__mgr_rep_t rep;
    int err = mp__mgr_call(m, &req, &rep);
    if (err == 0) {
        ASSERT_EQ(rep.gen, MP__MGR_VERSION);
        ASSERT_GT(rep.len, 0);
    }
    mp__mgr_rep_clear(&rep);
    return err;
}

/* An authenticated raw connection to m's server. */
static mp_conn_t *
raw_connect(mp_manager_t *m)
{
    const void *key;
    size_t klen;
    ASSERT_OK(mp_manager_authkey(m, &key, &klen));
    mp_conn_t *c = NULL;
    ASSERT_OK(mp_client_connect(&c, mp_manager_address(m), key, klen,
                                MP_WAIT_FOREVER));
    return c;
}

/* Receives and decodes one reply from c into rep (clear it after). */
static void
raw_reply(mp_conn_t *c, mp__mgr_rep_t *rep)
{
    void *in = NULL;
    ssize_t n = mp_conn_recv_bytes(c, &in, 0, MP_WAIT_FOREVER);
    ASSERT_GE(n, 0);
    ASSERT_OK(mp__mgr_rep_decode(in, (size_t)n, rep));
    mp_free(in);
}

/* Sends len bytes as one frame and returns the reply's status. */
static int
raw_exchange(mp_conn_t *c, const void *buf, size_t len)
{
    ASSERT_OK(mp_conn_send_bytes(c, buf, len, MP_WAIT_FOREVER));
    mp__mgr_rep_t rep;
    raw_reply(c, &rep);
    mp__mgr_rep_clear(&rep);
    return rep.status;
}

/* Encodes req and sends it n times without reading the replies. */
static void
raw_send(mp_conn_t *c, const mp__mgr_req_t *req, int n)
{
    void *buf;
    size_t len;
    ASSERT_OK(mp__mgr_req_encode(req, &buf, &len));
    for (int i = 0; i < n; i++) {
        ASSERT_OK(mp_conn_send_bytes(c, buf, len, MP_WAIT_FOREVER));
    }
    mp_free(buf);
}

/* Encodes req and runs raw_exchange. */
static int
raw_request(mp_conn_t *c, const mp__mgr_req_t *req)
{
    void *buf;
    size_t len;
    ASSERT_OK(mp__mgr_req_encode(req, &buf, &len));
    int status = raw_exchange(c, buf, len);
    mp_free(buf);
    return status;
}

static bool
path_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/*--- codec ------------------------------------------------------------------*/

TEST(mgr_codec_roundtrip)
{
    mp__mgr_req_t req = {.op = MP__OP_DICT_SET,
                         .index = 7,
                         .gen = 9,
                         .timeout = -1,
                         .num = {-5, INT64_MAX, INT64_MIN},
                         .arg = {{"key", 3}, {"value", 5}}};
    void *buf;
    size_t len;
    ASSERT_OK(mp__mgr_req_encode(&req, &buf, &len));
    ASSERT_EQ(len, MP__MGR_REQ_HDR + 8);
    mp__mgr_req_t back;
    ASSERT_OK(mp__mgr_req_decode(buf, len, &back));
    ASSERT_EQ(back.op, req.op);
    ASSERT_EQ(back.index, 7);
    ASSERT_EQ(back.gen, 9);
    ASSERT_EQ(back.timeout, -1);
    ASSERT_EQ(back.num[0], -5);
    ASSERT_EQ(back.num[1], INT64_MAX);
    ASSERT_EQ(back.num[2], INT64_MIN);
    ASSERT_EQ(back.arg[0].len, 3);
    ASSERT_MEM_EQ(back.arg[0].ptr, "key", 3);
    ASSERT_EQ(back.arg[1].len, 5);
    ASSERT_MEM_EQ(back.arg[1].ptr, "value", 5);

    /* Malformed: short, bad magic, bad version, lengths off by one, an
     * overflowing length pair. */
    uint8_t *p = buf;
    ASSERT_ERR(mp__mgr_req_decode(buf, MP__MGR_REQ_HDR - 1, &back), MP_EPROTO);
    ASSERT_ERR(mp__mgr_req_decode(buf, len - 1, &back), MP_EPROTO);
    ASSERT_ERR(mp__mgr_req_decode(NULL, len, &back), MP_EPROTO);
    p[0] = 'X';
    ASSERT_ERR(mp__mgr_req_decode(buf, len, &back), MP_EPROTO);
    p[0] = 'M';
    p[1] = 2;
    ASSERT_ERR(mp__mgr_req_decode(buf, len, &back), MP_EPROTO);
    p[1] = MP__MGR_VERSION;
    memset(p + 44, 0xff, 8); /* len0 = 2^64 - 1: len0 + len1 wraps to 4 */
    p[52] = 5;
    memset(p + 53, 0, 7);
    ASSERT_ERR(mp__mgr_req_decode(buf, len, &back), MP_EPROTO);
    mp_free(buf);

    mp__mgr_rep_t rep = {
        .status = MP_ENOENT, .gen = 3, .num = -2, .data = "abc", .len = 3};
    ASSERT_OK(mp__mgr_rep_encode(&rep, &buf, &len));
    ASSERT_EQ(len, MP__MGR_REP_HDR + 3);
    mp__mgr_rep_t rb;
    ASSERT_OK(mp__mgr_rep_decode(buf, len, &rb));
    ASSERT_EQ(rb.status, MP_ENOENT);
    ASSERT_EQ(rb.gen, 3);
    ASSERT_EQ(rb.num, -2);
    ASSERT_EQ(rb.len, 3);
    ASSERT_MEM_EQ(rb.data, "abc", 3);
    mp__mgr_rep_clear(&rb);
    ASSERT_ERR(mp__mgr_rep_decode(buf, len + 1, &rb), MP_EPROTO);
    ASSERT_ERR(mp__mgr_rep_decode(buf, 5, &rb), MP_EPROTO);
    p = buf;
    p[0] = 1; /* a positive status */
    p[1] = p[2] = p[3] = 0;
    ASSERT_ERR(mp__mgr_rep_decode(buf, len, &rb), MP_EPROTO);
    mp_free(buf);

    mp__mgr_rep_t empty = {0};
    ASSERT_OK(mp__mgr_rep_encode(&empty, &buf, &len));
    ASSERT_OK(mp__mgr_rep_decode(buf, len, &rb));
    ASSERT_NULL(rb.data);
    ASSERT_EQ(rb.len, 0);
    mp_free(buf);
    mp__mgr_rep_t bad = {.len = 4};
    ASSERT_ERR(mp__mgr_rep_encode(&bad, &buf, &len), MP_EINVAL);
    mp__mgr_req_t badreq = {.arg = {{NULL, 4}}};
    ASSERT_ERR(mp__mgr_req_encode(&badreq, &buf, &len), MP_EINVAL);
}

/*--- life cycle -------------------------------------------------------------*/

static int
type_create(void **obj, const void *args, size_t len, void *arg)
{
    (void)args, (void)len, (void)arg;
    *obj = NULL;
    return 0;
}

static int
type_call(void *obj, const char *method, const void *in, size_t in_len,
          void **out, size_t *out_len, void *arg)
{
    (void)obj, (void)method, (void)in, (void)in_len, (void)arg;
    *out = NULL;
    *out_len = 0;
    return 0;
}

static void
type_destroy(void *obj, void *arg)
{
    (void)obj, (void)arg;
}

TEST(mgr_create_bad_args)
{
    mp_manager_t *m = NULL;
    ASSERT_ERR(mp_manager_create(NULL, NULL), MP_EINVAL);
    mp_manager_opts_t o = MP_MANAGER_OPTS_INIT;
    o.shutdown_timeout = -2;
    ASSERT_ERR(mp_manager_create(&m, &o), MP_EINVAL);
    o.shutdown_timeout = INT64_MIN;
    ASSERT_ERR(mp_manager_create(&m, &o), MP_EINVAL);
    o.shutdown_timeout = MP_WAIT_FOREVER; /* never kill it: accepted */
    ASSERT_OK(mp_manager_create(&m, &o));
    mp_manager_destroy(m);
    m = NULL;
    o = (mp_manager_opts_t)MP_MANAGER_OPTS_INIT;
    o.authkey_len = 3;
    ASSERT_ERR(mp_manager_create(&m, &o), MP_EINVAL);
    ASSERT_NULL(m);

    ASSERT_OK(mp_manager_create(&m, NULL));
    ASSERT_NULL(mp_manager_address(m));
    ASSERT_EQ(mp_manager_pid(m), 0);
    const void *key;
    size_t klen;
    ASSERT_OK(mp_manager_authkey(m, &key, &klen));
    ASSERT_EQ(klen, 32);
    ASSERT_ERR(mp_manager_authkey(m, NULL, &klen), MP_EINVAL);
    ASSERT_ERR(mp_manager_authkey(NULL, &key, &klen), MP_EINVAL);
    ASSERT_ERR(mp_manager_shutdown(m), MP_ENOTSTARTED);
    ASSERT_ERR(mp_manager_shutdown(NULL), MP_EINVAL);
    ASSERT_ERR(mp_manager_connect(m, 30000), MP_EINVAL); /* no address */
    ASSERT_ERR(mp_manager_connect(NULL, 30000), MP_EINVAL);
    ASSERT_ERR(mp_manager_start(NULL), MP_EINVAL);
    ASSERT_ERR(hello(m), MP_ENOTSTARTED);
    ASSERT_NULL(mp__mgr_store(m));

    mp_manager_type_t t = {type_create, type_call, type_destroy, NULL};
    ASSERT_ERR(mp_manager_register(NULL, "T", &t), MP_EINVAL);
    ASSERT_ERR(mp_manager_register(m, NULL, &t), MP_EINVAL);
    ASSERT_ERR(mp_manager_register(m, "T", NULL), MP_EINVAL);
    ASSERT_ERR(mp_manager_register(m, "", &t), MP_EINVAL);
    char longname[65];
    memset(longname, 'x', 64);
    longname[64] = '\0';
    ASSERT_ERR(mp_manager_register(m, longname, &t), MP_EINVAL);
    longname[63] = '\0';
    ASSERT_OK(mp_manager_register(m, longname, &t));
    mp_manager_type_t no_call = {type_create, NULL, type_destroy, NULL};
    ASSERT_ERR(mp_manager_register(m, "U", &no_call), MP_EINVAL);
    ASSERT_OK(mp_manager_register(m, "T", &t));
    ASSERT_ERR(mp_manager_register(m, "T", &t), MP_EEXIST);
    mp_manager_destroy(m);
    mp_manager_destroy(NULL);

    /* The empty key is a key. */
    o = (mp_manager_opts_t)MP_MANAGER_OPTS_INIT;
    o.authkey = "";
    o.authkey_len = 0;
    ASSERT_OK(mp_manager_create(&m, &o));
    ASSERT_OK(mp_manager_authkey(m, &key, &klen));
    ASSERT_EQ(klen, 0);
    ASSERT_NOT_NULL(key);
    mp_manager_destroy(m);
}

TEST_TIMEOUT(mgr_start_shutdown_unix, 30)
{
    char first_dir[256] = "";
    for (int round = 0; round < 2; round++) {
        mp_manager_t *m = mpt_manager_start(NULL);
        const char *addr = mp_manager_address(m);
        ASSERT_NOT_NULL(addr);
        ASSERT_NOT_NULL(strchr(addr, '/'));
        char path[256];
        snprintf(path, sizeof path, "%s", addr);
        ASSERT(path_exists(path));
        pid_t pid = mp_manager_pid(m);
        ASSERT_GT(pid, 0);
        ASSERT_NOT_NULL(mp__mgr_store(m));
        ASSERT_OK(hello(m));

        mp_manager_type_t t = {type_create, type_call, type_destroy, NULL};
        ASSERT_ERR(mp_manager_register(m, "T", &t), MP_ESTARTED);
        ASSERT_ERR(mp_manager_start(m), MP_ESTARTED);
        ASSERT_ERR(mp_manager_connect(m, 30000), MP_ESTARTED);

        ASSERT_OK(mp_manager_shutdown(m));
        ASSERT_OK(mp_manager_shutdown(m)); /* idempotent */
        ASSERT(!path_exists(path));
        char *slash = strrchr(path, '/');
        *slash = '\0';
        /* The process's private directory stays for its next managers. */
        ASSERT(path_exists(path));
        if (round == 0) {
            snprintf(first_dir, sizeof first_dir, "%s", path);
        } else {
            ASSERT_STR_EQ(path, first_dir);
        }
        ASSERT_EQ(kill(pid, 0), -1);
        ASSERT_ERR(hello(m), MP_ENOSERVER);
        ASSERT_ERR(mp_manager_start(m), MP_ECLOSED);
        mp_manager_destroy(m);
    }
}

TEST_TIMEOUT(mgr_destroy_without_shutdown, 30)
{
    mp_manager_t *a = mpt_manager_start(NULL);
    mp_manager_t *b = mpt_manager_start(NULL);
    ASSERT(strcmp(mp_manager_address(a), mp_manager_address(b)) != 0);
    char path[256];
    snprintf(path, sizeof path, "%s", mp_manager_address(a));
    pid_t pid = mp_manager_pid(a);
    ASSERT_OK(hello(a));
    ASSERT_OK(hello(b));
    mp_manager_destroy(a);
    ASSERT(!path_exists(path));
    ASSERT_EQ(kill(pid, 0), -1);
    ASSERT_OK(hello(b));
    mp_manager_destroy(b);
}

TEST_TIMEOUT(mgr_start_bad_address, 30)
{
    mp_manager_t *m;
    mp_manager_opts_t o = MP_MANAGER_OPTS_INIT;
    o.address = "no-colon-no-slash";
    ASSERT_OK(mp_manager_create(&m, &o));
    ASSERT_ERR(mp_manager_start(m), MP_EINVAL);
    ASSERT_EQ(mp_manager_pid(m), 0);
    ASSERT_NULL(mp_manager_address(m));
    mp_manager_destroy(m);

    /* An existing path is not replaced. */
    char dir[] = "/tmp/mp-mgr-test-XXXXXX";
    ASSERT_NOT_NULL(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof path, "%s/sock", dir);
    mp_manager_opts_t o2 = MP_MANAGER_OPTS_INIT;
    o2.address = path;
    mp_manager_t *a = mpt_manager_start(&o2);
    ASSERT_STR_EQ(mp_manager_address(a), path);
    ASSERT_OK(mp_manager_create(&m, &o2));
    ASSERT_ERR(mp_manager_start(m), MP_EEXIST);
    mp_manager_destroy(m);
    ASSERT_OK(hello(a));
    mp_manager_destroy(a);
    ASSERT(!path_exists(path));
    ASSERT_OK(rmdir(dir));
}

static void *
thread_starts(void *arg)
{
    mp_manager_t *m = arg;
    return (void *)(intptr_t)mp_manager_start(m);
}

/* The server outlives the (short-lived) thread that started it: its
 * parent-death signal is tied to the manager's keeper thread. */
TEST_TIMEOUT(mgr_start_from_thread, 30)
{
    mp_manager_t *m;
    ASSERT_OK(mp_manager_create(&m, NULL));
    pthread_t th;
    ASSERT_EQ(pthread_create(&th, NULL, thread_starts, m), 0);
    void *r;
    pthread_join(th, &r);
    ASSERT_EQ((intptr_t)r, 0);
    ASSERT_OK(hello(m));
    ASSERT_EQ(kill(mp_manager_pid(m), 0), 0);
    ASSERT_OK(mp_manager_shutdown(m));
    mp_manager_destroy(m);
}

/* Child: starts a manager, sends its address up the pipe and returns
 * without shutting it down. */
static int
child_starts_and_leaves(void *arg)
{
    int fd = *(int *)arg;
    mp_manager_t *m;
    if (mp_manager_create(&m, NULL) != 0 || mp_manager_start(m) != 0 ||
        hello(m) != 0) {
        return 1;
    }
    char addr[256] = {0};
    snprintf(addr, sizeof addr, "%s", mp_manager_address(m));
    mpt_write_all(fd, addr, sizeof addr);
    return 0; /* the exit path terminates the daemon server */
}

/* A starter that exits without shutdown: the library's exit handler
 * sends the server SIGTERM, and it shuts down cleanly (socket file, its
 * directory and the store's names are removed). */
TEST_TIMEOUT(mgr_starter_exits_without_shutdown, 30)
{
    mpt_pipe_t pipe;
    mpt_pipe_open(&pipe);
    mp_process_t *p;
    /* Forked under every default method: the child writes to the
     * inherited pipe. */
    ASSERT_OK(mp_process_create(&p, child_starts_and_leaves, &pipe.wr,
                                mpt_fork_opts()));
    ASSERT_OK(mp_process_start(p));
    char addr[256];
    mpt_read_all(pipe.rd, addr, sizeof addr);
    mpt_process_finish(p, 0);
    ASSERT(!path_exists(addr));
    *strrchr(addr, '/') = '\0';
    ASSERT(!path_exists(addr));
    mpt_pipe_close(&pipe);
}

/* Starts a manager in a child and sends its address up the pipe fd;
 * shuts it down first when stop is set. Returns the child's exit code. */
static int
child_start_manager(int fd, bool stop)
{
    mp_manager_t *m;
    if (mp_manager_create(&m, NULL) != 0 || mp_manager_start(m) != 0) {
        return 1;
    }
    char addr[256] = {0};
    snprintf(addr, sizeof addr, "%s", mp_manager_address(m));
    int err = 0;
    if (stop) {
        err = mp_manager_shutdown(m);
        mp_manager_destroy(m);
    }
    mpt_write_all(fd, addr, sizeof addr);
    return err != 0;
}

/* Child: starts and shuts down a manager, sends its address up the pipe
 * and leaves through exit (plain fork: atexit) or by returning (a process
 * of the library: _exit). */
static int
child_starts_and_stops(void *arg)
{
    return child_start_manager(*(int *)arg, true);
}

/* Child of a plain fork: starts a manager, sends its address and exits
 * without shutting it down. */
static int
child_starts_and_exits(void *arg)
{
    return child_start_manager(*(int *)arg, false);
}

/* The private directory of default addresses is its process's: a child
 * makes its own (the parent's is left alone) and removes it when it
 * leaves, through exit() (even with a manager still running) or a
 * library process's return. */
TEST_TIMEOUT(mgr_private_dir_per_process, 30)
{
    mp_manager_t *m = mpt_manager_start(NULL);
    char mine[256];
    snprintf(mine, sizeof mine, "%s", mp_manager_address(m));
    *strrchr(mine, '/') = '\0';
    for (int how = 0; how < 3; how++) {
        mpt_pipe_t pipe;
        mpt_pipe_open(&pipe);
        if (how != 1) {
            pid_t pid = fork();
            ASSERT_GE(pid, 0);
            if (pid == 0) {
                exit(how == 0 ? child_starts_and_stops(&pipe.wr)
                              : child_starts_and_exits(&pipe.wr));
            }
            int status;
            ASSERT_EQ(waitpid(pid, &status, 0), pid);
            ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        } else {
            mp_process_t *p;
            /* A library process that is a fork, as the plain forks
             * above: it writes to the inherited pipe. */
            ASSERT_OK(mp_process_create(&p, child_starts_and_stops, &pipe.wr,
                                        mpt_fork_opts()));
            ASSERT_OK(mp_process_start(p));
            mpt_process_finish(p, 0);
        }
        char addr[256];
        mpt_read_all(pipe.rd, addr, sizeof addr);
        mpt_pipe_close(&pipe);
        *strrchr(addr, '/') = '\0';
        ASSERT(strcmp(addr, mine) != 0);
        ASSERT(!path_exists(addr));
        ASSERT(path_exists(mine));
    }
    ASSERT_OK(mp_manager_shutdown(m));
    mp_manager_destroy(m);
}

/*--- connect ----------------------------------------------------------------*/

TEST_TIMEOUT(mgr_connect_tcp, 30)
{
    mp_manager_opts_t o = MP_MANAGER_OPTS_INIT;
    o.address = "127.0.0.1:0";
    o.authkey = "secret";
    o.authkey_len = 6;
    mp_manager_t *m = mpt_manager_start(&o);
    const char *addr = mp_manager_address(m);
    ASSERT_EQ(strncmp(addr, "127.0.0.1:", 10), 0);
    ASSERT_NE(strcmp(addr, "127.0.0.1:0"), 0);

    mp_manager_t *c;
    ASSERT_OK(mpt_manager_connect(m, false, &c));
    ASSERT_STR_EQ(mp_manager_address(c), addr);
    ASSERT_EQ(mp_manager_pid(c), 0);
    ASSERT_NOT_NULL(mp__mgr_store(c)); /* loopback: same host */
    ASSERT_OK(hello(c));
    ASSERT_ERR(mp_manager_connect(c, 30000), MP_ESTARTED);
    ASSERT_ERR(mp_manager_start(c), MP_ESTARTED);
    ASSERT_ERR(mp_manager_shutdown(c), MP_ENOTOWNER);
    mp_manager_destroy(c);

    ASSERT_OK(mpt_manager_connect(m, true, &c));
    ASSERT_NULL(mp__mgr_store(c));
    ASSERT_OK(hello(c));
    mp_manager_destroy(c);
    mp_manager_destroy(m);
}

TEST_TIMEOUT(mgr_connect_errors, 30)
{
    mp_manager_t *c;
    mp_manager_opts_t o = MP_MANAGER_OPTS_INIT;
    o.address = "/tmp/mp-no-such-dir/manager.sock";
    ASSERT_OK(mp_manager_create(&c, &o));
    ASSERT_ERR(mp_manager_connect(c, 30000), MP_ENOENT);
    ASSERT_ERR(hello(c), MP_ENOTSTARTED);
    mp_manager_destroy(c);

    /* A TCP port nobody listens on: take a free one, then close it. */
    mp_listener_t *l;
    ASSERT_OK(mp_listener_create(&l, "127.0.0.1:0", NULL, 0, 0));
    char addr[64];
    snprintf(addr, sizeof addr, "%s", mp_listener_address(l));
    mp_listener_destroy(l);
    o = (mp_manager_opts_t)MP_MANAGER_OPTS_INIT;
    o.address = addr;
    ASSERT_OK(mp_manager_create(&c, &o));
    ASSERT_ERR(mp_manager_connect(c, 30000), -ECONNREFUSED);
    mp_manager_destroy(c);

    /* Wrong key: MP_EAUTH, and the server keeps serving. */
    mp_manager_opts_t so = MP_MANAGER_OPTS_INIT;
    so.authkey = "right";
    so.authkey_len = 5;
    mp_manager_t *m = mpt_manager_start(&so);
    o = (mp_manager_opts_t)MP_MANAGER_OPTS_INIT;
    o.address = mp_manager_address(m);
    o.authkey = "wrong";
    o.authkey_len = 5;
    ASSERT_OK(mp_manager_create(&c, &o));
    ASSERT_ERR(mp_manager_connect(c, 30000), MP_EAUTH);
    mp_manager_destroy(c);
    ASSERT_OK(mpt_manager_connect(m, false, &c));
    ASSERT_OK(hello(c));
    mp_manager_destroy(c);

    mp_manager_destroy(m);
}

/* Thread: accepts one client on a plain listener and answers its first
 * message with bytes that are no manager reply. */
static void *
fake_server(void *arg)
{
    mp_listener_t *l = arg;
    mp_conn_t *c;
    if (mp_listener_accept(l, &c, MP_WAIT_FOREVER) == 0) {
        void *in;
        ssize_t n = mp_conn_recv_bytes(c, &in, 0, MP_WAIT_FOREVER);
        if (n >= 0) {
            mp_free(in);
            (void)mp_conn_send_bytes(c, "not a manager", 13, MP_WAIT_FOREVER);
        }
        mp_conn_destroy(c);
    }
    return NULL;
}

TEST_TIMEOUT(mgr_connect_not_a_manager, 30)
{
    mp_listener_t *l;
    ASSERT_OK(mp_listener_create(&l, "127.0.0.1:0", "k", 1, 0));
    pthread_t th;
    ASSERT_EQ(pthread_create(&th, NULL, fake_server, l), 0);
    mp_manager_opts_t o = MP_MANAGER_OPTS_INIT;
    o.address = mp_listener_address(l);
    o.authkey = "k";
    o.authkey_len = 1;
    mp_manager_t *c;
    ASSERT_OK(mp_manager_create(&c, &o));
    ASSERT_ERR(mp_manager_connect(c, 30000), MP_EPROTO);
    pthread_join(th, NULL);
    mp_manager_destroy(c);
    mp_listener_destroy(l);
}

/* Child: connects to the manager at the address in arg (its key is the
 * empty key) and says HELLO; exit code 0 on success. */
static int
child_connects(void *arg)
{
    const char *addr = arg;
    for (int remote = 0; remote < 2; remote++) {
        mp_manager_opts_t o = MP_MANAGER_OPTS_INIT;
        o.address = addr;
        o.authkey = "";
        o.authkey_len = 0;
        o.remote_only = remote == 1;
        mp_manager_t *c;
        if (mp_manager_create(&c, &o) != 0 ||
            mp_manager_connect(c, 30000) != 0) {
            return 1;
        }
        if ((mp__mgr_store(c) == NULL) != (remote == 1)) {
            return 2;
        }
        if (hello(c) != 0) {
            return 3;
        }
        mp_manager_destroy(c);
    }
    return 0;
}

TEST_TIMEOUT(mgr_connect_from_child, 30)
{
    mp_manager_opts_t so = MP_MANAGER_OPTS_INIT;
    so.authkey = "";
    so.authkey_len = 0;
    mp_manager_t *m = mpt_manager_start(&so);
    char addr[256];
    snprintf(addr, sizeof addr, "%s", mp_manager_address(m));
    mp_process_t *p;
    mp_process_opts_t po = MP_PROCESS_OPTS_INIT;
    po.arg_size = sizeof addr; /* the address as bytes: any method */
    ASSERT_OK(mp_process_create(&p, child_connects, addr, &po));
    ASSERT_OK(mp_process_start(p));
    mpt_process_finish(p, 0);
    mp_manager_destroy(m);
}

/* An unrelated process: CPython's Client authenticates with our server
 * (the handshake interoperates) and sends bytes that are no request; the
 * reply's status is MP_EPROTO. */
TEST_TIMEOUT(mgr_python_client, 60)
{
    if (system("python3 -c 'import multiprocessing.connection' "
               ">/dev/null 2>&1") != 0) {
        mpt_skip("no python3");
    }
    mp_manager_opts_t so = MP_MANAGER_OPTS_INIT;
    so.authkey = "pykey";
    so.authkey_len = 5;
    mp_manager_t *m = mpt_manager_start(&so);
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "python3 -c \"import struct\n"
             "from multiprocessing.connection import Client\n"
             "c = Client('%s', authkey=b'pykey')\n"
             "c.send_bytes(b'hello')\n"
             "r = c.recv_bytes()\n"
             "st = struct.unpack('<i', r[:4])[0]\n"
             "raise SystemExit(0 if st == %d else 1)\n\"",
             mp_manager_address(m), MP_EPROTO);
    ASSERT_EQ(system(cmd), 0);
    ASSERT_OK(hello(m));
    mp_manager_destroy(m);
}

/*--- faults -----------------------------------------------------------------*/

TEST_TIMEOUT(mgr_server_killed, 30)
{
    mp_manager_t *m = mpt_manager_start(NULL);
    mp_manager_t *c;
    ASSERT_OK(mpt_manager_connect(m, true, &c));
    ASSERT_OK(hello(m));
    ASSERT_OK(hello(c));
    char path[256];
    snprintf(path, sizeof path, "%s", mp_manager_address(m));
    pid_t pid = mp_manager_pid(m);
    ASSERT_OK(kill(pid, SIGKILL));
    mpt_wait_pid_exit(pid);
    /* The pooled connections see end of stream, new ones are refused. */
    ASSERT_ERR(hello(c), MP_ENOSERVER);
    ASSERT_ERR(hello(c), MP_ENOSERVER);
    ASSERT_ERR(hello(m), MP_ENOSERVER);
    ASSERT_ERR(mp__store_alive(mp__mgr_store(m)), MP_ENOSERVER);
    mp_manager_destroy(c);
    ASSERT_OK(mp_manager_shutdown(m)); /* cleans what the server left */
    ASSERT(!path_exists(path));
    ASSERT_EQ(mpt_shm_names_left(mp__session_pid()), 0);
    mp_manager_destroy(m);
}

TEST_TIMEOUT(mgr_server_ignores_sigint, 30)
{
    mp_manager_t *m = mpt_manager_start(NULL);
    ASSERT_OK(kill(mp_manager_pid(m), SIGINT));
    ASSERT_OK(hello(m));
    mp_manager_destroy(m);
}

/* Child: sends half a frame on a fresh authenticated connection, tells
 * the parent, and waits to be killed. */
typedef struct half_frame_arg {
    mp_manager_t *m;
    mpt_pipe_t ready;
} half_frame_arg_t;

static int
child_half_frame(void *arg)
{
    half_frame_arg_t *a = arg;
    mp_conn_t *c = raw_connect(a->m);
    uint8_t hdr[4 + 10] = {0, 0, 0x10, 0}; /* announces 4096 bytes */
    mpt_write_all(mp_conn_fileno(c), hdr, sizeof hdr);
    mpt_signal(&a->ready, 1);
    for (;;) {
        pause();
    }
    return 0;
}

TEST_TIMEOUT(mgr_client_killed_mid_frame, 30)
{
    mp_manager_t *m = mpt_manager_start(NULL);
    ASSERT_OK(hello(m));
    for (int i = 0; i < 3; i++) {
        half_frame_arg_t a = {.m = m};
        mpt_pipe_open(&a.ready);
        pid_t pid = mpt_fork(child_half_frame, &a);
        uint8_t b;
        ASSERT_OK(mpt_wait_signal(&a.ready, &b));
        ASSERT_OK(hello(m));
        ASSERT_OK(kill(pid, SIGKILL));
        ASSERT_EQ(mpt_join(pid), -SIGKILL);
        mpt_pipe_close(&a.ready);
        ASSERT_OK(hello(m));
    }
    mp_manager_destroy(m);
}

TEST_TIMEOUT(mgr_malformed_requests, 30)
{
    mp_manager_opts_t o = MP_MANAGER_OPTS_INIT;
    o.store_size = 1 << 20;
    mp_manager_t *m = mpt_manager_start(&o);
    mp_conn_t *c = raw_connect(m);

    ASSERT_ERR(raw_exchange(c, "junk", 4), MP_EPROTO);
    ASSERT_ERR(raw_exchange(c, "", 0), MP_EPROTO);
    mp__mgr_req_t req = {.op = MP__OP_HELLO, .arg = {{"ab", 2}}};
    void *buf;
    size_t len;
    ASSERT_OK(mp__mgr_req_encode(&req, &buf, &len));
    uint8_t *p = buf;
    p[0] = 'Q';
    ASSERT_ERR(raw_exchange(c, buf, len), MP_EPROTO);
    p[0] = 'M';
    p[1] = 99;
    ASSERT_ERR(raw_exchange(c, buf, len), MP_EPROTO);
    p[1] = MP__MGR_VERSION;
    ASSERT_ERR(raw_exchange(c, buf, len - 1), MP_EPROTO);
    ASSERT_OK(raw_exchange(c, buf, len)); /* intact: a HELLO */
    mp_free(buf);

    /* Over the limit (store size + header): discarded, MP_EMSGSIZE, and
     * the same connection goes on. */
    size_t big = (2u << 20);
    uint8_t *huge = calloc(1, big);
    ASSERT_NOT_NULL(huge);
    ASSERT_ERR(raw_exchange(c, huge, big), MP_EMSGSIZE);
    free(huge);
    ASSERT_OK(raw_request(c, &(mp__mgr_req_t){.op = MP__OP_HELLO}));

    /* SHUTDOWN without the secret is refused. */
    ASSERT_ERR(
        raw_request(c, &(mp__mgr_req_t){.op = MP__OP_SHUTDOWN,
                                        .arg = {{"0123456789abcdef", 16}}}),
        MP_ENOTOWNER);
    ASSERT_ERR(raw_request(c, &(mp__mgr_req_t){.op = MP__OP_SHUTDOWN}),
               MP_ENOTOWNER);
    ASSERT_OK(hello(m));

    /* USER_CALL on nothing, CREATE of an unknown type. */
    mp__mgr_req_t uc = {
        .op = MP__OP_USER_CALL, .index = 12345, .arg = {{"m", 1}}};
    ASSERT_LT(raw_request(c, &uc), 0);
    uc.arg[0] = (mp__mgr_bytes_t){NULL, 0};
    ASSERT_ERR(raw_request(c, &uc), MP_EINVAL);
    mp__mgr_req_t cr = {
        .op = MP__OP_CREATE, .num = {MP_PROXY_USER}, .arg = {{"Nope", 4}}};
    ASSERT_ERR(raw_request(c, &cr), MP_ENOENT);

    /* A frame that ends early ends only this connection. */
    mpt_write_all(mp_conn_fileno(c),
                  "\0\0\0\x40"
                  "abc",
                  7);
    mp_conn_destroy(c);
    ASSERT_OK(hello(m));
    mp_manager_destroy(m);
}

TEST_TIMEOUT(mgr_unauthenticated_refused, 30)
{
    mp_manager_t *m = mpt_manager_start(NULL);
    /* No key: the server's challenge arrives first; our HELLO is no
     * answer, so the server says #FAILURE# and hangs up. */
    mp_conn_t *c;
    ASSERT_OK(
        mp_client_connect(&c, mp_manager_address(m), NULL, 0, MP_WAIT_FOREVER));
    mp__mgr_req_t req = {.op = MP__OP_HELLO};
    void *buf;
    size_t len;
    ASSERT_OK(mp__mgr_req_encode(&req, &buf, &len));
    ASSERT_OK(mp_conn_send_bytes(c, buf, len, MP_WAIT_FOREVER));
    mp_free(buf);
    void *in;
    ssize_t n = mp_conn_recv_bytes(c, &in, 0, MP_WAIT_FOREVER);
    ASSERT_GT(n, 11);
    ASSERT_MEM_EQ(in, "#CHALLENGE#", 11);
    mp_free(in);
    n = mp_conn_recv_bytes(c, &in, 0, MP_WAIT_FOREVER);
    ASSERT_EQ(n, 9);
    ASSERT_MEM_EQ(in, "#FAILURE#", 9);
    mp_free(in);
    ASSERT_ERR(mp_conn_recv_bytes(c, &in, 0, MP_WAIT_FOREVER), MP_EOF);
    mp_conn_destroy(c);

    /* A peer that connects and says nothing does not hold up others. */
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", mp_manager_address(m));
    ASSERT_OK(connect(fd, (struct sockaddr *)&sa, sizeof sa));
    ASSERT_OK(hello(m));
    mp_manager_t *c2;
    ASSERT_OK(mpt_manager_connect(m, true, &c2));
    ASSERT_OK(hello(c2));
    mp_manager_destroy(c2);
    close(fd);
    mp_manager_destroy(m);
}

/*--- the pool ---------------------------------------------------------------*/

static int
child_hellos(void *arg)
{
    mp_manager_t *m = arg;
    for (int i = 0; i < 20; i++) {
        if (hello(m) != 0) {
            return 1;
        }
    }
    /* Not the owner: a child can neither shut the server down nor take
     * it with it. */
    if (mp_manager_shutdown(m) != MP_ENOTOWNER) {
        return 2;
    }
    mp_manager_destroy(m);
    return 0;
}

TEST_TIMEOUT(mgr_pool_after_fork, 30)
{
    mp_manager_t *m = mpt_manager_start(NULL);
    ASSERT_OK(hello(m)); /* a pooled connection exists now */
    for (int i = 0; i < 3; i++) {
        mp_process_t *p;
        /* About fork: the child has the parent's pooled connection. */
        ASSERT_OK(mp_process_create(&p, child_hellos, m, mpt_fork_opts()));
        ASSERT_OK(mp_process_start(p));
        ASSERT_OK(hello(m)); /* the parent's connection is undisturbed */
        mpt_process_finish(p, 0);
        ASSERT_OK(hello(m));
    }
    mp_manager_destroy(m);
}

static void *
thread_hellos(void *arg)
{
    mp_manager_t *m = arg;
    for (int i = 0; i < 100; i++) {
        if (hello(m) != 0) {
            return (void *)1;
        }
    }
    return NULL;
}

TEST_TIMEOUT(mgr_pool_threads, 60)
{
    mp_manager_t *m = mpt_manager_start(NULL);
    pthread_t th[6];
    for (size_t i = 0; i < 6; i++) {
        ASSERT_EQ(pthread_create(&th[i], NULL, thread_hellos, m), 0);
    }
    for (size_t i = 0; i < 6; i++) {
        void *r;
        pthread_join(th[i], &r);
        ASSERT_NULL(r);
    }
    mp_manager_destroy(m);
}

/*--- requests through the server --------------------------------------------*/

/* Creates an object of kind (parameter num1) through m's server; returns
 * its id in *index / *gen. */
static void
create_obj(mp_manager_t *m, int kind, int64_t num1, uint32_t *index,
           uint32_t *gen)
{
    mp__mgr_req_t req = {.op = MP__OP_CREATE, .num = {kind, num1}};
    mp__mgr_rep_t rep;
    ASSERT_OK(mp__mgr_call(m, &req, &rep));
    *index = (uint32_t)rep.num;
    *gen = rep.gen;
    mp__mgr_rep_clear(&rep);
}

/* Sends op on object (index, gen) with the given timeout. */
static int
obj_call(mp_manager_t *m, uint16_t op, uint32_t index, uint32_t gen,
         mp_duration_t timeout)
{
    mp__mgr_req_t req = {
        .op = op, .index = index, .gen = gen, .timeout = timeout};
    mp__mgr_rep_t rep;
    int err = mp__mgr_call(m, &req, &rep);
    mp__mgr_rep_clear(&rep);
    return err;
}

TEST_TIMEOUT(mgr_remote_dict, 30)
{
    mp_manager_t *m = mpt_manager_start(NULL);
    mp_manager_t *c;
    ASSERT_OK(mpt_manager_connect(m, true, &c));
    uint32_t index, gen;
    create_obj(c, MP_PROXY_DICT, 0, &index, &gen);
    mp__mgr_req_t set = {.op = MP__OP_DICT_SET,
                         .index = index,
                         .gen = gen,
                         .arg = {{"k", 1}, {"value", 5}}};
    mp__mgr_rep_t rep;
    ASSERT_OK(mp__mgr_call(c, &set, &rep));
    mp__mgr_rep_clear(&rep);
    mp__mgr_req_t get = {
        .op = MP__OP_DICT_GET, .index = index, .gen = gen, .arg = {{"k", 1}}};
    ASSERT_OK(mp__mgr_call(c, &get, &rep));
    ASSERT_EQ(rep.len, 5);
    ASSERT_MEM_EQ(rep.data, "value", 5);
    mp__mgr_rep_clear(&rep);
    /* The starter sees it on the store directly. */
    ASSERT_OK(mp__mgr_exec(mp__mgr_store(m), NULL, &get, &rep));
    ASSERT_MEM_EQ(rep.data, "value", 5);
    mp__mgr_rep_clear(&rep);
    ASSERT_OK(obj_call(c, MP__OP_DECREF, index, gen, 0));
    ASSERT_ERR(mp__mgr_call(c, &get, &rep), MP_ECLOSED);
    mp_manager_destroy(c);
    mp_manager_destroy(m);
}

typedef struct blocked_get {
    mp_manager_t *c;
    uint32_t index, gen;
    mpt_pipe_t started;
    int result;
} blocked_get_t;

static void *
thread_blocked_get(void *arg)
{
    blocked_get_t *b = arg;
    mpt_signal(&b->started, 1);
    b->result = obj_call(b->c, MP__OP_Q_GET, b->index, b->gen, MP_WAIT_FOREVER);
    return NULL;
}

TEST_TIMEOUT(mgr_server_killed_while_blocked, 30)
{
    mp_manager_t *m = mpt_manager_start(NULL);
    blocked_get_t b = {0};
    ASSERT_OK(mpt_manager_connect(m, true, &b.c));
    create_obj(b.c, MP_PROXY_QUEUE, 0, &b.index, &b.gen);
    ASSERT_ERR(obj_call(b.c, MP__OP_Q_GET, b.index, b.gen, MP_NO_WAIT),
               MP_EEMPTY);
    mpt_pipe_open(&b.started);
    pthread_t th;
    ASSERT_EQ(pthread_create(&th, NULL, thread_blocked_get, &b), 0);
    uint8_t byte;
    ASSERT_OK(mpt_wait_signal(&b.started, &byte));
    pid_t pid = mp_manager_pid(m);
    ASSERT_OK(kill(pid, SIGKILL));
    pthread_join(th, NULL);
    ASSERT_EQ(b.result, MP_ENOSERVER);
    mpt_pipe_close(&b.started);
    mp_manager_destroy(b.c);
    mp_manager_destroy(m);
    ASSERT_EQ(mpt_shm_names_left(mp__session_pid()), 0);
}

typedef struct lock_holder {
    mp_manager_t *m;
    uint32_t index, gen;
    mpt_pipe_t held;
    bool block; /* then blocks in a second acquire */
} lock_holder_t;

/* Child: takes the lock through its own remote connection, says so, and
 * waits to be killed: idle, or in the middle of a request (a second
 * acquire that blocks in the server). */
static int
child_holds_lock(void *arg)
{
    lock_holder_t *h = arg;
    mp_manager_t *c;
    if (mpt_manager_connect(h->m, true, &c) != 0 ||
        obj_call(c, MP__OP_ACQUIRE, h->index, h->gen, MP_WAIT_FOREVER) != 0) {
        return 1;
    }
    mpt_signal(&h->held, 1);
    if (h->block) {
        (void)obj_call(c, MP__OP_ACQUIRE, h->index, h->gen, MP_WAIT_FOREVER);
    }
    for (;;) {
        pause();
    }
    return 2;
}

/* Kills a remote client holding a lock (idle, or blocked in a request)
 * and checks that its session ended: the lock is free again. */
static void
client_killed_holding_lock(bool block)
{
    mp_manager_t *m = mpt_manager_start(NULL);
    mp_manager_t *c;
    ASSERT_OK(mpt_manager_connect(m, true, &c));
    lock_holder_t h = {.m = m, .block = block};
    create_obj(c, MP_PROXY_LOCK, 0, &h.index, &h.gen);
    mpt_pipe_open(&h.held);
    pid_t pid = mpt_fork(child_holds_lock, &h);
    uint8_t byte;
    ASSERT_OK(mpt_wait_signal(&h.held, &byte));
    ASSERT_ERR(obj_call(c, MP__OP_ACQUIRE, h.index, h.gen, MP_NO_WAIT),
               MP_ETIMEDOUT);
    ASSERT_OK(kill(pid, SIGKILL));
    ASSERT_EQ(mpt_join(pid), -SIGKILL);
    ASSERT_OK(obj_call(c, MP__OP_ACQUIRE, h.index, h.gen, MP_WAIT_FOREVER));
    ASSERT_OK(obj_call(c, MP__OP_RELEASE, h.index, h.gen, 0));
    ASSERT_OK(hello(m));
    mpt_pipe_close(&h.held);
    mp_manager_destroy(c);
    mp_manager_destroy(m);
}

TEST_TIMEOUT(mgr_client_killed_holding_lock, 30)
{
    client_killed_holding_lock(false);
}

/* A cancelled session's blocking get on an empty queue ends with
 * MP_ENOSERVER, not MP_EEMPTY. */
TEST(mgr_cancelled_session_ends_wait)
{
    mp__store_t *st;
    ASSERT_OK(mp__store_create(&st, 1 << 20));
    mp__mgr_session_t *s = mp__mgr_session_new();
    ASSERT_NOT_NULL(s);
    mp__mgr_req_t req = {.op = MP__OP_CREATE, .num = {MP_PROXY_QUEUE}};
    mp__mgr_rep_t rep;
    ASSERT_OK(mp__mgr_exec(st, s, &req, &rep));
    req = (mp__mgr_req_t){.op = MP__OP_Q_GET,
                          .index = (uint32_t)rep.num,
                          .gen = rep.gen,
                          .timeout = 250};
    mp__mgr_session_cancel(s);
    int r = mp__mgr_exec(st, s, &req, &rep);
    mp__mgr_rep_clear(&rep);
    mp__mgr_session_end(st, s);
    mp__store_destroy(st);
    ASSERT_ERR(r, MP_ENOSERVER);
}

/* The client dies while its connection's thread waits in the server: the
 * watcher sees the hang-up and cancels the session. */
TEST_TIMEOUT(mgr_client_killed_while_blocked, 30)
{
    client_killed_holding_lock(true);
}

/*--- user types -------------------------------------------------------------*/

/* A counter: create takes an int64 start, "add" adds the input's int64
 * and returns the sum, "fail" returns the error in its input, destroy
 * writes a byte to the fd in arg (the server inherited it). */
static int
counter_create(void **obj, const void *args, size_t len, void *arg)
{
    (void)arg;
    if (len != sizeof(int64_t)) {
        return MP_EINVAL;
    }
    int64_t *v = malloc(sizeof *v);
    if (v == NULL) {
        return MP_ENOMEM;
    }
    memcpy(v, args, sizeof *v);
    *obj = v;
    return 0;
}

static int
counter_call(void *obj, const char *method, const void *in, size_t in_len,
             void **out, size_t *out_len, void *arg)
{
    (void)arg;
    int64_t *v = obj, x = 0;
    if (in_len == sizeof x) {
        memcpy(&x, in, sizeof x);
    }
    if (strcmp(method, "fail") == 0) {
        return (int)x;
    }
    if (strcmp(method, "add") != 0) {
        return MP_ENOENT;
    }
    *v += x;
    *out = malloc(sizeof *v);
    if (*out == NULL) {
        return MP_ENOMEM;
    }
    memcpy(*out, v, sizeof *v);
    *out_len = sizeof *v;
    return 0;
}

static void
counter_destroy(void *obj, void *arg)
{
    int fd = (int)(intptr_t)arg;
    free(obj);
    uint8_t b = 'D';
    (void)!write(fd, &b, 1);
}

/* USER_CALL of method with an int64 input; stores the int64 result. */
static int
user_call(mp_manager_t *m, uint32_t index, uint32_t gen, const char *method,
          int64_t in, int64_t *result)
{
    mp__mgr_req_t req = {.op = MP__OP_USER_CALL,
                         .index = index,
                         .gen = gen,
                         .arg = {{method, strlen(method)}, {&in, 8}}};
    mp__mgr_rep_t rep;
    int err = mp__mgr_call(m, &req, &rep);
    if (err == 0 && result != NULL) {
        ASSERT_EQ(rep.len, 8);
        memcpy(result, rep.data, 8);
    }
    mp__mgr_rep_clear(&rep);
    return err;
}

/* Opens *destroyed and starts a manager (store_size 0: the default)
 * with one user type, name, of the counter's create and call and the given
 * destroy, which reports on destroyed's write end. The server is forked
 * under every default method: a user type's callbacks and the inherited
 * pipe reach only a forked server (others refuse user types). */
static mp_manager_t *
start_with_type(const char *name, void (*destroy)(void *obj, void *arg),
                size_t store_size, mpt_pipe_t *destroyed)
{
    mpt_pipe_open(destroyed);
    mp_manager_t *m;
    mp_manager_opts_t o = MP_MANAGER_OPTS_INIT;
    o.store_size = store_size;
    o.start_method = MP_START_FORK;
    ASSERT_OK(mp_manager_create(&m, &o));
    mp_manager_type_t t = {counter_create, counter_call, destroy,
                           (void *)(intptr_t)destroyed->wr};
    ASSERT_OK(mp_manager_register(m, name, &t));
    ASSERT_OK(mp_manager_start(m));
    return m;
}

TEST_TIMEOUT(mgr_user_type, 30)
{
    mpt_pipe_t destroyed;
    mp_manager_t *m =
        start_with_type("Counter", counter_destroy, 0, &destroyed);

    int64_t start = 40;
    mp__mgr_req_t cr = {.op = MP__OP_CREATE,
                        .num = {MP_PROXY_USER},
                        .arg = {{"Counter", 7}, {&start, 8}}};
    mp__mgr_rep_t rep;
    ASSERT_OK(mp__mgr_call(m, &cr, &rep));
    uint32_t index = (uint32_t)rep.num, gen = rep.gen;
    mp__mgr_rep_clear(&rep);
    cr.arg[1].len = 3; /* create refuses */
    ASSERT_ERR(mp__mgr_call(m, &cr, &rep), MP_EINVAL);

    int64_t r = 0;
    ASSERT_OK(user_call(m, index, gen, "add", 2, &r));
    ASSERT_EQ(r, 42);
    ASSERT_ERR(user_call(m, index, gen, "nope", 0, NULL), MP_ENOENT);
    ASSERT_ERR(user_call(m, index, gen, "fail", MP_EBUSY, NULL), MP_EBUSY);
    ASSERT_ERR(user_call(m, index, gen, "fail", 7, NULL), MP_EREMOTE);
    ASSERT_ERR(user_call(m, index, gen, "fail", -99999, NULL), MP_EREMOTE);
    ASSERT_ERR(user_call(m, index, gen + 1, "add", 1, NULL), MP_ECLOSED);

    /* The last reference goes: destroy runs in the server. */
    ASSERT_OK(obj_call(m, MP__OP_DECREF, index, gen, 0));
    uint8_t b;
    ASSERT_OK(mpt_wait_signal(&destroyed, &b));
    ASSERT_EQ(b, 'D');
    ASSERT_ERR(user_call(m, index, gen, "add", 1, NULL), MP_ECLOSED);

    /* One left alive at shutdown is destroyed too. */
    cr.arg[1].len = 8;
    ASSERT_OK(mp__mgr_call(m, &cr, &rep));
    mp__mgr_rep_clear(&rep);
    ASSERT_OK(mp_manager_shutdown(m));
    ASSERT_OK(mpt_wait_signal(&destroyed, &b));
    mp_manager_destroy(m);
    mpt_pipe_close(&destroyed);
}

/*--- hardening (issue 21): references, silent peers, loop errors ----------*/

/* CREATE of kind over raw connection c; returns the id. */
static void
raw_create(mp_conn_t *c, int kind, uint32_t *index, uint32_t *gen)
{
    raw_send(c, &(mp__mgr_req_t){.op = MP__OP_CREATE, .num = {kind}}, 1);
    mp__mgr_rep_t rep;
    raw_reply(c, &rep);
    ASSERT_OK(rep.status);
    *index = (uint32_t)rep.num;
    *gen = rep.gen;
    mp__mgr_rep_clear(&rep);
}

/* Another client (its own connection) can neither DECREF away an object
 * it never referenced nor drop more references than it took. */
TEST_TIMEOUT(mgr_decref_only_own_references, 30)
{
    mp_manager_t *m = mpt_manager_start(NULL);
    mp_manager_t *c;
    ASSERT_OK(mpt_manager_connect(m, true, &c));
    uint32_t index, gen;
    create_obj(c, MP_PROXY_DICT, 0, &index, &gen);

    mp_conn_t *thief = raw_connect(m);
    mp__mgr_req_t dec = {.op = MP__OP_DECREF, .index = index, .gen = gen};
    mp__mgr_req_t inc = {.op = MP__OP_INCREF, .index = index, .gen = gen};
    ASSERT_ERR(raw_request(thief, &dec), MP_ENOTOWNER);
    ASSERT_ERR(raw_request(thief, &dec), MP_ENOTOWNER);
    ASSERT_OK(obj_call(c, MP__OP_DICT_LEN, index, gen, 0));
    ASSERT_OK(raw_request(thief, &inc));
    ASSERT_OK(raw_request(thief, &dec));
    ASSERT_ERR(raw_request(thief, &dec), MP_ENOTOWNER);
    ASSERT_OK(obj_call(c, MP__OP_DICT_LEN, index, gen, 0));
    /* The starter (another process's handle) cannot either. */
    ASSERT_ERR(obj_call(m, MP__OP_DECREF, index, gen, 0), MP_ENOTOWNER);
    mp_conn_destroy(thief);

    ASSERT_OK(obj_call(c, MP__OP_DECREF, index, gen, 0));
    ASSERT_ERR(obj_call(c, MP__OP_DICT_LEN, index, gen, 0), MP_ECLOSED);
    mp_manager_destroy(c);
    mp_manager_destroy(m);
}

/* A user type whose destroy reports the object's int64 value's low byte
 * on the fd in arg: which object went. */
static void
tagged_destroy(void *obj, void *arg)
{
    int fd = (int)(intptr_t)arg;
    int64_t value = *(int64_t *)obj;
    uint8_t b = (uint8_t)value;
    free(obj);
    (void)!write(fd, &b, 1);
}

/* CREATE of a "Tagged" object with value tag through m; returns its id. */
static void
tagged_create(mp_manager_t *m, int64_t tag, uint32_t *index, uint32_t *gen)
{
    mp__mgr_req_t cr = {.op = MP__OP_CREATE,
                        .num = {MP_PROXY_USER},
                        .arg = {{"Tagged", 6}, {&tag, 8}}};
    mp__mgr_rep_t rep;
    ASSERT_OK(mp__mgr_call(m, &cr, &rep));
    *index = (uint32_t)rep.num;
    *gen = rep.gen;
    mp__mgr_rep_clear(&rep);
}

typedef struct refs_child {
    mp_manager_t *m;
    uint32_t shared_index, shared_gen;
    mpt_pipe_t ready;
} refs_child_t;

/* Child: its own object 'X', two references of the parent's 'Y', a dict;
 * says so and waits to be killed. */
static int
child_holds_refs(void *arg)
{
    refs_child_t *rc = arg;
    uint32_t index, gen;
    tagged_create(rc->m, 'X', &index, &gen);
    create_obj(rc->m, MP_PROXY_DICT, 0, &index, &gen);
    for (int i = 0; i < 2; i++) {
        if (obj_call(rc->m, MP__OP_INCREF, rc->shared_index, rc->shared_gen,
                     0) != 0) {
            return 1;
        }
    }
    mpt_signal(&rc->ready, 1);
    for (;;) {
        pause();
    }
    return 2;
}

/* A client SIGKILLed releases exactly the references it held: its own
 * object goes, the one it shared keeps the parent's reference. */
TEST_TIMEOUT(mgr_killed_client_releases_exactly_its_references, 30)
{
    mpt_pipe_t destroyed;
    mp_manager_t *m = start_with_type("Tagged", tagged_destroy, 0, &destroyed);
    refs_child_t rc = {.m = m};
    tagged_create(m, 'Y', &rc.shared_index, &rc.shared_gen);
    mpt_pipe_open(&rc.ready);
    pid_t pid = mpt_fork(child_holds_refs, &rc);
    uint8_t b;
    ASSERT_OK(mpt_wait_signal(&rc.ready, &b));
    ASSERT_OK(kill(pid, SIGKILL));
    ASSERT_EQ(mpt_join(pid), -SIGKILL);

    /* The child's own object goes with its connection ... */
    ASSERT_OK(mpt_wait_signal(&destroyed, &b));
    ASSERT_EQ(b, 'X');
    /* ... the shared one keeps exactly the parent's reference. */
    int64_t v = 0;
    ASSERT_OK(user_call(m, rc.shared_index, rc.shared_gen, "add", 0, &v));
    ASSERT_EQ(v, 'Y');
    ASSERT_OK(obj_call(m, MP__OP_DECREF, rc.shared_index, rc.shared_gen, 0));
    ASSERT_OK(mpt_wait_signal(&destroyed, &b));
    ASSERT_EQ(b, 'Y');
    ASSERT_ERR(user_call(m, rc.shared_index, rc.shared_gen, "add", 0, NULL),
               MP_ECLOSED);
    mpt_pipe_close(&rc.ready);
    mp_manager_destroy(m);
    mpt_pipe_close(&destroyed);
}

/* Peers that connect and never answer the challenge: past
 * MP__MGR_UNAUTH_MAX of them, each new one makes the server hang up on
 * the oldest (so they cost a bounded number of threads), and a client
 * that answers is served. */
TEST_TIMEOUT(mgr_silent_peers_bounded, 60)
{
    mp_manager_t *m = mpt_manager_start(NULL);
    enum { N = MP__MGR_UNAUTH_MAX + 40 };
    static mp_conn_t *silent[N];
    for (int i = 0; i < N; i++) {
        ASSERT_OK(mp_client_connect(&silent[i], mp_manager_address(m), NULL, 0,
                                    MP_WAIT_FOREVER));
        /* Its challenge: the server's thread for it runs. */
        void *in;
        ssize_t n = mp_conn_recv_bytes(silent[i], &in, 0, MP_WAIT_FOREVER);
        ASSERT_GT(n, 11);
        ASSERT_MEM_EQ(in, "#CHALLENGE#", 11);
        mp_free(in);
        if (i >= (int)MP__MGR_UNAUTH_MAX) {
            /* Hung up on before this one's challenge was sent. */
            ASSERT_ERR(mp_conn_recv_bytes(silent[i - MP__MGR_UNAUTH_MAX], &in,
                                          0, MP_NO_WAIT),
                       MP_EOF);
        }
    }
    /* The newest are still waiting for their answer. */
    void *in;
    ASSERT_ERR(mp_conn_recv_bytes(silent[N - 1], &in, 0, MP_NO_WAIT),
               MP_ETIMEDOUT);
    mp_manager_t *c;
    ASSERT_OK(mpt_manager_connect(m, true, &c));
    ASSERT_OK(hello(c));
    mp_manager_destroy(c);
    for (int i = 0; i < N; i++) {
        mp_conn_destroy(silent[i]);
    }
    ASSERT_OK(hello(m));
    mp_manager_destroy(m);
}

/* The tid of process pid's thread named name, or -1. */
static pid_t
thread_named(pid_t pid, const char *name)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    ASSERT_NOT_NULL(d);
    pid_t found = -1;
    struct dirent *e;
    while (found < 0 && (e = readdir(d)) != NULL) {
        char comm[64], cpath[384];
        snprintf(cpath, sizeof cpath, "%s/%s/comm", path, e->d_name);
        FILE *f = fopen(cpath, "re");
        if (f == NULL) {
            continue;
        }
        if (fgets(comm, sizeof comm, f) != NULL) {
            comm[strcspn(comm, "\n")] = '\0';
            if (strcmp(comm, name) == 0) {
                found = (pid_t)atoi(e->d_name);
            }
        }
        fclose(f);
    }
    closedir(d);
    return found;
}

/* Waits until thread tid of pid has slept `more` times beyond base. */
static void
wait_sleeps(pid_t pid, pid_t tid, long base, long more)
{
    while (mpt_sleeps_of(pid, tid) < base + more) {
        sched_yield();
    }
}

/* The lowest descriptor number free in process pid. */
static int
lowest_free_fd(pid_t pid)
{
    char path[64];
    for (int fd = 0;; fd++) {
        snprintf(path, sizeof path, "/proc/%d/fd/%d", (int)pid, fd);
        struct stat st;
        if (lstat(path, &st) != 0) {
            return fd;
        }
    }
}

/* A poll or accept that fails with a real error (not EINTR) makes the
 * server's loops pause and try again, not spin: the watcher's poll of
 * more descriptors than RLIMIT_NOFILE allows (EINVAL), and an accept with
 * a full descriptor table (EMFILE). A spinning thread never sleeps. Once
 * the limit is back, the server serves on. */
TEST_TIMEOUT(mgr_server_loops_pause_on_errors, 60)
{
    mp_manager_opts_t o = MP_MANAGER_OPTS_INIT;
    o.store_size = 1 << 20;
    mp_manager_t *m = mpt_manager_start(&o);
    pid_t pid = mp_manager_pid(m);
    mp_conn_t *a = raw_connect(m); /* starts the watcher */
    uint32_t qi, qg;
    raw_create(a, MP_PROXY_QUEUE, &qi, &qg);
    pid_t watcher = thread_named(pid, MP__MGR_WATCHER_NAME);
    ASSERT_GT(watcher, 0);

    struct rlimit old, low;
    ASSERT_OK(prlimit(pid, RLIMIT_NOFILE, NULL, &old));
    low = old;
    low.rlim_cur = 1;
    ASSERT_OK(prlimit(pid, RLIMIT_NOFILE, &low, NULL));
    long base = mpt_sleeps_of(pid, watcher);
    /* A blocking get: the watcher now polls two descriptors (EINVAL). */
    mp__mgr_req_t get = {
        .op = MP__OP_Q_GET, .index = qi, .gen = qg, .timeout = MP_WAIT_FOREVER};
    raw_send(a, &get, 1);
    wait_sleeps(pid, watcher, base, 5);

    /* A full descriptor table: the waiting peer stays queued (EMFILE). */
    low.rlim_cur = (rlim_t)lowest_free_fd(pid);
    ASSERT_OK(prlimit(pid, RLIMIT_NOFILE, &low, NULL));
    base = mpt_sleeps_of(pid, pid);
    mp_conn_t *late;
    ASSERT_OK(mp_client_connect(&late, mp_manager_address(m), NULL, 0,
                                MP_WAIT_FOREVER));
    wait_sleeps(pid, pid, base, 5);

    ASSERT_OK(prlimit(pid, RLIMIT_NOFILE, &old, NULL));
    void *in;
    ssize_t n = mp_conn_recv_bytes(late, &in, 0, MP_WAIT_FOREVER);
    ASSERT_GT(n, 11);
    ASSERT_MEM_EQ(in, "#CHALLENGE#", 11);
    mp_free(in);
    mp_conn_destroy(late);
    ASSERT_OK(hello(m));
    mp_conn_destroy(a);
    mp_manager_destroy(m);
}

typedef struct ev_waiter {
    mp_proxy_t *ev;
    pthread_t th;
    int result;
} ev_waiter_t;

static void *
thread_waits(void *arg)
{
    ev_waiter_t *w = arg;
    w->result = mp_proxy_wait(w->ev, MP_WAIT_FOREVER);
    return NULL;
}

/* Every waiter that was waiting when set() ran returns 0, however soon
 * clear() follows: fast-path waiters and remote ones (waiting in server
 * threads), all known to be inside their wait (the event's waiter count in
 * the store) before set(). */
TEST_TIMEOUT(mgr_event_set_clear_wakes_every_waiter, 30)
{
    mp_manager_t *m = mpt_manager_start(NULL);
    mp_manager_t *c;
    ASSERT_OK(mpt_manager_connect(m, true, &c));
    mp_proxy_t *ev, *rev;
    ASSERT_OK(mp_manager_event(m, &ev));
    char tok[MP_PROXY_TOKEN_MAX];
    ASSERT_OK(mp_proxy_token(ev, tok, sizeof tok));
    unsigned kind, type, index, gen;
    ASSERT_EQ(sscanf(tok, "mp-proxy:1:%u:%u:%u:%u", &kind, &type, &index, &gen),
              4);
    ASSERT_OK(mp_proxy_from_token(&rev, c, tok));
    mp__store_t *st = mp__mgr_store(m);
    const void *state = mp__store_at(st, atomic_load(&st->table[index].state),
                                     mp__event_state_size());
    ASSERT_NOT_NULL(state);

    enum { W = 4 };
    ev_waiter_t w[W];
    for (int i = 0; i < W; i++) {
        w[i] = (ev_waiter_t){.ev = i % 2 ? rev : ev, .result = 1};
        ASSERT_EQ(pthread_create(&w[i].th, NULL, thread_waits, &w[i]), 0);
    }
    while (mp__event_state_waiters(state) < W) {
        sched_yield();
    }
    ASSERT_OK(mp_proxy_set(ev));
    ASSERT_OK(mp_proxy_clear(ev));
    for (int i = 0; i < W; i++) {
        pthread_join(w[i].th, NULL);
        ASSERT_OK(w[i].result);
    }
    ASSERT_EQ(mpt_proxy_is_set(ev), 0);
    mp_proxy_destroy(rev);
    mp_proxy_destroy(ev);
    mp_manager_destroy(c);
    mp_manager_destroy(m);
}

/* Sends n copies of req over c, then reads their n replies: each must be
 * status 0. */
static void
raw_pipeline(mp_conn_t *c, const mp__mgr_req_t *req, int n)
{
    raw_send(c, req, n);
    for (int i = 0; i < n; i++) {
        mp__mgr_rep_t rep;
        raw_reply(c, &rep);
        ASSERT_OK(rep.status);
        mp__mgr_rep_clear(&rep);
    }
}

/* Over the wire, a connection at MP__MGR_SESSION_REFS_MAX references gets
 * MP_ENOSPC for an INCREF and for a CREATE of any kind (a user type's
 * too), keeps being served, and drops them all when it goes. */
TEST_TIMEOUT(mgr_reference_limit_over_the_wire, 120)
{
    mpt_pipe_t destroyed;
    mp_manager_t *m =
        start_with_type("Tagged", tagged_destroy, 1 << 20, &destroyed);
    mp_conn_t *a = raw_connect(m);
    uint32_t index, gen;
    raw_create(a, MP_PROXY_EVENT, &index, &gen);
    mp__mgr_req_t inc = {.op = MP__OP_INCREF, .index = index, .gen = gen};
    int left = (int)MP__MGR_SESSION_REFS_MAX - 1;
    while (left > 0) {
        int n = left < 64 ? left : 64; /* replies fit in the buffers */
        raw_pipeline(a, &inc, n);
        left -= n;
    }
    int64_t tag = 'Z';
    mp__mgr_req_t user = {.op = MP__OP_CREATE,
                          .num = {MP_PROXY_USER},
                          .arg = {{"Tagged", 6}, {&tag, 8}}};
    mp__mgr_req_t dict = {.op = MP__OP_CREATE, .num = {MP_PROXY_DICT}};
    ASSERT_ERR(raw_request(a, &inc), MP_ENOSPC);
    ASSERT_ERR(raw_request(a, &user), MP_ENOSPC);
    ASSERT_ERR(raw_request(a, &dict), MP_ENOSPC);
    ASSERT_OK(raw_request(a, &(mp__mgr_req_t){.op = MP__OP_HELLO}));
    ASSERT_OK(raw_request(
        a, &(mp__mgr_req_t){.op = MP__OP_DECREF, .index = index, .gen = gen}));
    ASSERT_OK(raw_request(a, &user));
    mp_conn_destroy(a);
    uint8_t b;
    ASSERT_OK(mpt_wait_signal(&destroyed, &b));
    ASSERT_EQ(b, 'Z');
    ASSERT_OK(hello(m));
    mp_manager_destroy(m);
    mpt_pipe_close(&destroyed);
}
