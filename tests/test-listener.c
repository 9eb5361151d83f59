/* SPDX-License-Identifier: MIT */
/* test-listener.c - Listener and Client: C to C over AF_UNIX and TCP, the
 * authkey handshake (right, wrong, stalled and hostile peers, run side by
 * side and bounded), a full backlog, bad input, socket files left by
 * killed processes (listeners' and managers'), and interop with CPython's
 * multiprocessing.connection through py_listener_peer.py. */
#include "runner.h"

#include "ipc/ipc_internal.h"
#include "shm/shm_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define BIG_LEN (4u << 20)
#define KEY "secret key"
#define KEY_HEX "736563726574206b6579"
#define TMO 20000

/* A private temporary directory holding one socket path. */
typedef struct {
    char dir[64];
    char path[96];
} tmp_sock_t;

/* Makes a fresh directory and a socket path inside it. */
static void
tmp_sock_open(tmp_sock_t *t)
{
    snprintf(t->dir, sizeof t->dir, "/tmp/mpt-lst-XXXXXX");
    ASSERT_NOT_NULL(mkdtemp(t->dir));
    snprintf(t->path, sizeof t->path, "%s/sock", t->dir);
}

/* Removes the directory (the socket file must already be gone). */
static void
tmp_sock_close(tmp_sock_t *t)
{
    ASSERT_EQ(rmdir(t->dir), 0);
}

/* Fills buf with a pattern that depends on the offset. */
static void
fill(uint8_t *buf, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        buf[i] = (uint8_t)(i * 7 + (i >> 12));
    }
}

/* Sends msg on c and checks that the same bytes come back. */
static void
expect_echo(mp_conn_t *c, const void *msg, size_t n)
{
    ASSERT_OK(mp_conn_send_bytes(c, msg, n, MP_WAIT_FOREVER));
    void *got = NULL;
    ssize_t r = mp_conn_recv_bytes(c, &got, 0, TMO);
    ASSERT_EQ(r, (ssize_t)n);
    ASSERT(n == 0 || memcmp(got, msg, n) == 0);
    mp_free(got);
}

/* Echoes every message on c until end of stream. */
static void
echo_until_eof(mp_conn_t *c)
{
    for (;;) {
        void *msg = NULL;
        ssize_t n = mp_conn_recv_bytes(c, &msg, 0, TMO);
        if (n == MP_EOF) {
            return;
        }
        ASSERT_OK(n);
        ASSERT_OK(mp_conn_send_bytes(c, msg, (size_t)n, MP_WAIT_FOREVER));
        mp_free(msg);
    }
}

/* What a client child does: connect to address with key (NULL: none),
 * then either expect failure code expect (< 0) or run the echo exchange
 * (empty, small and 4 MiB messages). */
typedef struct {
    const char *address;
    const char *key;
    int expect;
} client_job_t;

/* The client child's body (mpt_fork); returns 0 when all went as told. */
static int
client_child(void *arg)
{
    const client_job_t *job = arg;
    mp_conn_t *c = NULL;
    int r = mp_client_connect(&c, job->address, job->key,
                              job->key ? strlen(job->key) : 0, TMO);
    if (job->expect < 0) {
        ASSERT_ERR(r, job->expect);
        ASSERT_NULL(c);
        return 0;
    }
    ASSERT_OK(r);
    uint8_t *big = malloc(BIG_LEN);
    ASSERT_NOT_NULL(big);
    fill(big, BIG_LEN);
    expect_echo(c, "", 0);
    expect_echo(c, "small", 5);
    expect_echo(c, big, BIG_LEN);
    free(big);
    mp_conn_destroy(c);
    return 0;
}

/* Runs a C client child against listener l and echoes for it; checks both
 * ends' results. */
static void
c_to_c(mp_listener_t *l, const char *client_key, int expect)
{
    client_job_t job = {mp_listener_address(l), client_key, expect};
    pid_t pid = mpt_fork(client_child, &job);
    mp_conn_t *c = NULL;
    int r = mp_listener_accept(l, &c, TMO);
    if (expect < 0) {
        ASSERT_ERR(r, expect);
        ASSERT_NULL(c);
    } else {
        ASSERT_OK(r);
        echo_until_eof(c);
        mp_conn_destroy(c);
    }
    ASSERT_EQ(mpt_join(pid), 0);
}

TEST(listener_unix_echo_without_key)
{
    tmp_sock_t t;
    tmp_sock_open(&t);
    mp_listener_t *l = NULL;
    ASSERT_OK(mp_listener_create(&l, t.path, NULL, 0, 0));
    ASSERT_STR_EQ(mp_listener_address(l), t.path);
    ASSERT_GE(mp_listener_fileno(l), 0);
    struct stat st;
    ASSERT_EQ(stat(t.path, &st), 0);
    ASSERT(S_ISSOCK(st.st_mode));
    ASSERT_EQ(st.st_mode & 0777, 0600);
    c_to_c(l, NULL, 0);
    mp_listener_destroy(l);
    ASSERT_EQ(stat(t.path, &st), -1);
    ASSERT_EQ(errno, ENOENT);
    tmp_sock_close(&t);
}

TEST(listener_unix_echo_with_key)
{
    tmp_sock_t t;
    tmp_sock_open(&t);
    mp_listener_t *l = NULL;
    ASSERT_OK(mp_listener_create(&l, t.path, KEY, strlen(KEY), 1));
    c_to_c(l, KEY, 0);
    /* The listener serves one client after another. */
    c_to_c(l, KEY, 0);
    ASSERT_OK(mp_listener_close(l));
    ASSERT_OK(mp_listener_close(l));
    ASSERT_EQ(access(t.path, F_OK), -1);
    mp_listener_destroy(l);
    tmp_sock_close(&t);
}

TEST(listener_tcp_echo_with_and_without_key)
{
    mp_listener_t *l = NULL;
    ASSERT_OK(mp_listener_create(&l, "127.0.0.1:0", NULL, 0, 0));
    const char *addr = mp_listener_address(l);
    ASSERT_EQ(strncmp(addr, "127.0.0.1:", 10), 0);
    ASSERT_NE(strcmp(addr, "127.0.0.1:0"), 0);
    c_to_c(l, NULL, 0);
    mp_listener_destroy(l);

    ASSERT_OK(mp_listener_create(&l, "localhost:0", KEY, strlen(KEY), 4));
    c_to_c(l, KEY, 0);
    mp_listener_destroy(l);
}

TEST(listener_tcp_ipv6_loopback)
{
    mp_listener_t *l = NULL;
    int r = mp_listener_create(&l, "[::1]:0", KEY, strlen(KEY), 0);
    if (r < 0) {
        mpt_skip("no IPv6 loopback here");
    }
    ASSERT_EQ(strncmp(mp_listener_address(l), "[::1]:", 6), 0);
    c_to_c(l, KEY, 0);
    mp_listener_destroy(l);
}

TEST(auth_wrong_key_fails_on_both_sides)
{
    tmp_sock_t t;
    tmp_sock_open(&t);
    mp_listener_t *l = NULL;
    ASSERT_OK(mp_listener_create(&l, t.path, KEY, strlen(KEY), 0));
    c_to_c(l, "another key", MP_EAUTH);
    /* The listener still works for the right key afterwards. */
    c_to_c(l, KEY, 0);
    mp_listener_destroy(l);
    tmp_sock_close(&t);
}

TEST(auth_empty_key_is_a_key)
{
    mp_listener_t *l = NULL;
    ASSERT_OK(mp_listener_create(&l, "127.0.0.1:0", "", 0, 0));
    c_to_c(l, "", 0);
    c_to_c(l, "x", MP_EAUTH);
    mp_listener_destroy(l);
}

TEST(listener_accept_timeout)
{
    mp_listener_t *l = NULL;
    ASSERT_OK(mp_listener_create(&l, "127.0.0.1:0", NULL, 0, 0));
    mp_conn_t *c = NULL;
    ASSERT_ERR(mp_listener_accept(l, &c, MP_NO_WAIT), MP_ETIMEDOUT);
    ASSERT_ERR(mp_listener_accept(l, &c, 30), MP_ETIMEDOUT);
    ASSERT_NULL(c);
    ASSERT_ERR(mp_listener_accept(l, &c, -5), MP_EINVAL);
    mp_listener_destroy(l);
}

/* Opens a raw socket connected to the listener's AF_UNIX path. */
static int
raw_connect(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0);
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    snprintf(un.sun_path, sizeof un.sun_path, "%s", path);
    ASSERT_EQ(connect(fd, (struct sockaddr *)&un, sizeof un), 0);
    return fd;
}

TEST(auth_stalled_peer_times_out)
{
    tmp_sock_t t;
    tmp_sock_open(&t);
    mp_listener_t *l = NULL;
    ASSERT_OK(mp_listener_create(&l, t.path, KEY, strlen(KEY), 0));
    mp_conn_t *c = NULL;
    /* Connects and sends nothing: the call times out, the handshake goes
     * on, and the peer's hang-up (with our challenge unread: a reset) is
     * reported by the next call. */
    int fd = raw_connect(t.path);
    ASSERT_ERR(mp_listener_accept(l, &c, 50), MP_ETIMEDOUT);
    close(fd);
    ASSERT_ERR(mp_listener_accept(l, &c, TMO), -ECONNRESET);
    /* Sends half of a frame header, then stalls: the call's deadline
     * holds inside a handshake message. */
    fd = raw_connect(t.path);
    mpt_write_all(fd, "\0\0", 2);
    ASSERT_ERR(mp_listener_accept(l, &c, 50), MP_ETIMEDOUT);
    close(fd);
    ASSERT_ERR(mp_listener_accept(l, &c, TMO), -ECONNRESET);
    /* Closes before answering. */
    fd = raw_connect(t.path);
    ASSERT_EQ(shutdown(fd, SHUT_WR), 0);
    ASSERT_ERR(mp_listener_accept(l, &c, TMO), MP_EOF);
    close(fd);
    ASSERT_NULL(c);
    mp_listener_destroy(l);
    tmp_sock_close(&t);
}

TEST(auth_oversized_handshake_message_refused)
{
    tmp_sock_t t;
    tmp_sock_open(&t);
    mp_listener_t *l = NULL;
    ASSERT_OK(mp_listener_create(&l, t.path, KEY, strlen(KEY), 0));
    mp_conn_t *c = NULL;
    /* A 10,000-byte answer to the challenge. */
    int fd = raw_connect(t.path);
    size_t n = 10000;
    uint8_t *msg = calloc(1, 4 + n);
    ASSERT_NOT_NULL(msg);
    msg[2] = (uint8_t)(n >> 8);
    msg[3] = (uint8_t)n;
    mpt_write_all(fd, msg, 4 + n);
    free(msg);
    ASSERT_ERR(mp_listener_accept(l, &c, TMO), MP_EMSGSIZE);
    close(fd);
    /* A header announcing 2 GiB - 1 and nothing else: refused at once,
     * without waiting for (or allocating) the payload. */
    fd = raw_connect(t.path);
    mpt_write_all(fd, "\x7f\xff\xff\xff", 4);
    ASSERT_ERR(mp_listener_accept(l, &c, TMO), MP_EMSGSIZE);
    close(fd);
    /* A malformed header, and a well-framed answer of the wrong form. */
    fd = raw_connect(t.path);
    mpt_write_all(fd, "\xff\xff\xff\xfe", 4);
    ASSERT_ERR(mp_listener_accept(l, &c, TMO), MP_EPROTO);
    close(fd);
    fd = raw_connect(t.path);
    mpt_write_all(fd, "\0\0\0\5hello", 9);
    ASSERT_ERR(mp_listener_accept(l, &c, TMO), MP_EAUTH);
    close(fd);
    ASSERT_NULL(c);
    mp_listener_destroy(l);
    tmp_sock_close(&t);
}

/* A fake server child: accepts one client on the key-less listener and
 * sends it the message in arg ("big": 10,000 bytes), then waits for it to
 * hang up. */
static int
fake_server_child(void *arg)
{
    mp_listener_t *l = arg;
    mp_conn_t *c = NULL;
    ASSERT_OK(mp_listener_accept(l, &c, TMO));
    static uint8_t big[10000];
    ASSERT_OK(mp_conn_send_bytes(c, big, sizeof big, MP_WAIT_FOREVER));
    /* The client closes with our message unread: a reset, not an EOF. */
    void *m = NULL;
    ssize_t r = mp_conn_recv_bytes(c, &m, 0, TMO);
    ASSERT(r == MP_EOF || r == -ECONNRESET);
    mp_conn_destroy(c);
    return 0;
}

TEST(client_refuses_oversized_or_bad_challenge)
{
    tmp_sock_t t;
    tmp_sock_open(&t);
    mp_listener_t *l = NULL;
    ASSERT_OK(mp_listener_create(&l, t.path, NULL, 0, 0));
    pid_t pid = mpt_fork(fake_server_child, l);
    mp_conn_t *c = NULL;
    ASSERT_ERR(
        mp_client_connect(&c, mp_listener_address(l), KEY, strlen(KEY), TMO),
        MP_EMSGSIZE);
    ASSERT_NULL(c);
    ASSERT_EQ(mpt_join(pid), 0);
    /* A listener without a key never sends a challenge: the client's
     * handshake times out instead of hanging (Python would hang). */
    ASSERT_ERR(
        mp_client_connect(&c, mp_listener_address(l), KEY, strlen(KEY), 50),
        MP_ETIMEDOUT);
    mp_listener_destroy(l);
    tmp_sock_close(&t);
}

TEST(auth_response_forms)
{
    static const char *const names[] = {"md5", "sha256", "sha384", "sha3_256",
                                        "sha3_384"};
    static const size_t sizes[] = {16, 32, 48, 32, 48};
    uint8_t chal[MP__AUTH_MSG_MAX], resp[MP__AUTH_RESPONSE_MAX];
    size_t rlen = 0;
    /* Legacy: a bare 20-byte nonce gets a raw 16-byte HMAC-MD5. */
    memcpy(chal, "#CHALLENGE#", 11);
    memset(chal + 11, 0xab, 20);
    ASSERT_OK(mp__auth_response("k", 1, chal, 31, resp, &rlen));
    ASSERT_EQ(rlen, 16);
    ASSERT_OK(mp__auth_check("k", 1, chal + 11, 20, resp, rlen));
    ASSERT_ERR(mp__auth_check("K", 1, chal + 11, 20, resp, rlen), MP_EAUTH);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        int pre = snprintf((char *)chal + 11, 40, "{%s}", names[i]);
        memset(chal + 11 + pre, 0x5a, 40);
        size_t mlen = (size_t)pre + 40;
        ASSERT_OK(mp__auth_response("k", 1, chal, 11 + mlen, resp, &rlen));
        ASSERT_EQ(rlen, (size_t)pre + sizes[i]);
        ASSERT_MEM_EQ(resp, chal + 11, (size_t)pre);
        ASSERT_OK(mp__auth_check("k", 1, chal + 11, mlen, resp, rlen));
        resp[rlen - 1] ^= 1;
        ASSERT_ERR(mp__auth_check("k", 1, chal + 11, mlen, resp, rlen),
                   MP_EAUTH);
        /* A truncated MAC is refused too. */
        ASSERT_ERR(mp__auth_check("k", 1, chal + 11, mlen, resp, rlen - 1),
                   MP_EAUTH);
    }
    /* Malformed challenges. */
    ASSERT_ERR(mp__auth_response("k", 1, (const uint8_t *)"#CHALLENGE", 10,
                                 resp, &rlen),
               MP_EAUTH);
    memcpy(chal + 11, "{sha256}", 8);
    ASSERT_ERR(mp__auth_response("k", 1, chal, 11 + 19, resp, &rlen), MP_EAUTH);
    memcpy(chal + 11, "{sha1}xxxxxxxxxxxxxxxxxxxxxxxxxxxxx", 35);
    ASSERT_ERR(mp__auth_response("k", 1, chal, 11 + 35, resp, &rlen), MP_EAUTH);
    memcpy(chal + 11, "{sha256xxxxxxxxxxxxxxxxxxxxxxxxxxxx", 35);
    ASSERT_ERR(mp__auth_response("k", 1, chal, 11 + 35, resp, &rlen), MP_EAUTH);
    ASSERT_ERR(mp__auth_check("k", 1, chal, 20, (const uint8_t *)"{}", 2),
               MP_EAUTH);
    /* Our challenges: "#CHALLENGE#{sha256}" and 40 fresh bytes. */
    uint8_t a[MP__AUTH_CHALLENGE_LEN], b[MP__AUTH_CHALLENGE_LEN];
    ASSERT_OK(mp__auth_challenge(a));
    ASSERT_OK(mp__auth_challenge(b));
    ASSERT_MEM_EQ(a, "#CHALLENGE#{sha256}", 19);
    ASSERT(memcmp(a + 19, b + 19, 40) != 0);
}

TEST(listener_bad_input)
{
    mp_listener_t *l = NULL;
    ASSERT_ERR(mp_listener_create(NULL, "127.0.0.1:0", NULL, 0, 0), MP_EINVAL);
    ASSERT_ERR(mp_listener_create(&l, NULL, NULL, 0, 0), MP_EINVAL);
    static const char *const bad[] = {
        "",      "nohost",       "1.2.3.4:99999", "127.0.0.1:",
        ":80",   "[::1:80",      "127.0.0.1:-1",  "127.0.0.1:+5",
        "[]:80", "127.0.0.1:8x",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ASSERT_ERR(mp_listener_create(&l, bad[i], NULL, 0, 0), MP_EINVAL);
        mp_conn_t *c = NULL;
        ASSERT_ERR(mp_client_connect(&c, bad[i], NULL, 0, 100), MP_EINVAL);
        ASSERT_NULL(c);
    }
    ASSERT_NULL(l);
    char longpath[200];
    memset(longpath, 'a', sizeof longpath - 1);
    longpath[0] = '/';
    longpath[sizeof longpath - 1] = '\0';
    ASSERT_ERR(mp_listener_create(&l, longpath, NULL, 0, 0), MP_ENAMETOOLONG);
    ASSERT_ERR(mp_listener_create(&l, "127.0.0.1:0", NULL, 0, -1), MP_EINVAL);
    ASSERT_ERR(mp_listener_create(&l, "127.0.0.1:0", NULL, 3, 0), MP_EINVAL);
    ASSERT_ERR(mp_listener_create(&l, "/nonexistent-dir/x/sock", NULL, 0, 0),
               MP_ENOENT);

    ASSERT_OK(mp_listener_create(&l, "127.0.0.1:0", NULL, 0, 0));
    mp_conn_t *c = NULL;
    ASSERT_ERR(mp_listener_accept(NULL, &c, 0), MP_EINVAL);
    ASSERT_ERR(mp_listener_accept(l, NULL, 0), MP_EINVAL);
    ASSERT_ERR(mp_listener_fileno(NULL), MP_EINVAL);
    ASSERT_ERR(mp_listener_close(NULL), MP_EINVAL);
    ASSERT_NULL(mp_listener_address(NULL));
    char addr[64];
    snprintf(addr, sizeof addr, "%s", mp_listener_address(l));
    ASSERT_OK(mp_listener_close(l));
    ASSERT_ERR(mp_listener_accept(l, &c, 0), MP_ECLOSED);
    ASSERT_ERR(mp_listener_fileno(l), MP_ECLOSED);
    ASSERT_STR_EQ(mp_listener_address(l), addr);
    mp_listener_destroy(l);
    mp_listener_destroy(NULL);
    /* Nobody listens there any more. */
    ASSERT_ERR(mp_client_connect(&c, addr, NULL, 0, TMO), -ECONNREFUSED);
    ASSERT_NULL(c);
}

TEST(client_bad_input)
{
    mp_conn_t *c = NULL;
    ASSERT_ERR(mp_client_connect(NULL, "127.0.0.1:1", NULL, 0, 0), MP_EINVAL);
    ASSERT_ERR(mp_client_connect(&c, NULL, NULL, 0, 0), MP_EINVAL);
    ASSERT_ERR(mp_client_connect(&c, "127.0.0.1:1", NULL, 1, 0), MP_EINVAL);
    ASSERT_ERR(mp_client_connect(&c, "127.0.0.1:1", NULL, 0, -7), MP_EINVAL);
    ASSERT_ERR(mp_client_connect(&c, "/nonexistent-dir/sock", NULL, 0, TMO),
               MP_ENOENT);
    ASSERT_NULL(c);
}

TEST(listener_existing_socket_path_not_replaced)
{
    tmp_sock_t t;
    tmp_sock_open(&t);
    mp_listener_t *a = NULL, *b = NULL;
    ASSERT_OK(mp_listener_create(&a, t.path, NULL, 0, 0));
    ASSERT_ERR(mp_listener_create(&b, t.path, NULL, 0, 0), MP_EEXIST);
    ASSERT_NULL(b);
    /* The check that found it alive connected and left at once. */
    mp_conn_t *c = NULL;
    ASSERT_OK(mp_listener_accept(a, &c, TMO));
    void *msg = NULL;
    ASSERT_ERR(mp_conn_recv_bytes(c, &msg, 0, TMO), MP_EOF);
    mp_conn_destroy(c);
    /* The first listener still owns and serves the path. */
    c_to_c(a, NULL, 0);
    mp_listener_destroy(a);
    tmp_sock_close(&t);
}

/* --- socket files outlive no process tree (issue 21, item 9) ------------ *
 * A listener or a manager whose process is SIGKILLed leaves its socket
 * file behind only until its tree is gone (the tracker removes it, and a
 * manager's mp-mgr-* directory), and the path can be listened on again at
 * once (a stale socket is replaced; a live one is not). */

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
        mp_manager_opts_t o = MP_MANAGER_OPTS_INIT;
        o.address = a->address;
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

TEST(listener_socket_file_removed_after_sigkill)
{
    tmp_sock_t t;
    tmp_sock_open(&t);
    sock_report_t r;
    kill_a_listening_child(t.path, false, &r);
    /* The tree is gone once the tracker is: it took the file with it. */
    mpt_wait_pid_exit(r.tracker);
    ASSERT_EQ(access(t.path, F_OK), -1);
    ASSERT_EQ(errno, ENOENT);
    tmp_sock_close(&t);
}

TEST(listener_replaces_a_stale_socket_file)
{
    tmp_sock_t t;
    tmp_sock_open(&t);
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
    ASSERT_OK(mp_conn_send_bytes(cl, "hi", 2, MP_WAIT_FOREVER));
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
    tmp_sock_close(&t);
}

/* A manager's server and then its starter SIGKILLed: once the tree is
 * gone, its socket file and private directory are too. */
static void
manager_files_removed_after_sigkill(void)
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

TEST_TIMEOUT(manager_socket_files_removed_after_sigkill, 60)
{
    manager_files_removed_after_sigkill();
}

/* The same with a server started by forkserver and by spawn: the server
 * is then another tree, with a tracker of its own, and the starter's
 * tracker must not find the directory still holding its socket file. */
TEST_TIMEOUT(manager_exec_server_files_removed_after_sigkill, 60)
{
    setenv("MULTIPROC_START_METHOD", "forkserver", 1);
    manager_files_removed_after_sigkill();
    setenv("MULTIPROC_START_METHOD", "spawn", 1);
    manager_files_removed_after_sigkill();
}

TEST_TIMEOUT(manager_restarts_at_the_address_of_a_killed_one, 60)
{
    tmp_sock_t t;
    tmp_sock_open(&t);
    sock_report_t r;
    kill_a_listening_child(t.path, true, &r);
    /* At once, the tracker or not: the killed server's socket is stale. */
    mp_manager_opts_t o = MP_MANAGER_OPTS_INIT;
    o.address = t.path;
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
    tmp_sock_close(&t);
}

/* --- interop with CPython ------------------------------------------------ */

/* Returns true if an executable python3 is on PATH. */
static bool
have_python3(void)
{
    const char *path = getenv("PATH");
    char dirs[4096], file[4200];
    snprintf(dirs, sizeof dirs, "%s", path != NULL ? path : "");
    for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d != NULL;
         d = strtok_r(NULL, ":", &save)) {
        snprintf(file, sizeof file, "%s/python3", d);
        if (access(file, X_OK) == 0) {
            return true;
        }
    }
    return false;
}

/* A running py_listener_peer.py, its stdout readable on out. */
typedef struct {
    pid_t pid;
    int out;
} py_peer_t;

/* Starts py_listener_peer.py MODE ADDRESS KEY_HEX ("-": no key). */
static void
py_start(py_peer_t *p, const char *mode, const char *address,
         const char *key_hex)
{
    if (!have_python3()) {
        mpt_skip("python3 not found");
    }
    int fds[2];
    ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
    p->pid = fork();
    ASSERT_GE(p->pid, 0);
    if (p->pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        execlp("python3", "python3", MP_TEST_SOURCE_DIR "/py_listener_peer.py",
               mode, address, key_hex, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    p->out = fds[0];
}

/* Reads one line of the peer's output into buf (without the newline). */
static void
py_read_line(py_peer_t *p, char *buf, size_t size)
{
    size_t n = 0;
    while (n + 1 < size) {
        char ch;
        ssize_t r = read(p->out, &ch, 1);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        ASSERT_EQ(r, 1);
        if (ch == '\n') {
            break;
        }
        buf[n++] = ch;
    }
    buf[n] = '\0';
}

/* Waits for the peer and returns its exit status. */
static int
py_finish(py_peer_t *p)
{
    close(p->out);
    int st;
    while (waitpid(p->pid, &st, 0) < 0) {
        ASSERT_EQ(errno, EINTR);
    }
    ASSERT(WIFEXITED(st));
    return WEXITSTATUS(st);
}

/* A Python Client talks to a C Listener at address (key: C side's key,
 * key_hex: Python side's); expect 0 (echoes) or MP_EAUTH. */
static void
python_client_to_c(const char *address, const char *key, const char *key_hex,
                   int expect)
{
    mp_listener_t *l = NULL;
    ASSERT_OK(mp_listener_create(&l, address, key, key ? strlen(key) : 0, 0));
    py_peer_t p;
    py_start(&p, "client", mp_listener_address(l), key_hex);
    mp_conn_t *c = NULL;
    int r = mp_listener_accept(l, &c, TMO);
    if (expect < 0) {
        ASSERT_ERR(r, expect);
        ASSERT_EQ(py_finish(&p), 3); /* AuthenticationError */
    } else {
        ASSERT_OK(r);
        echo_until_eof(c);
        mp_conn_destroy(c);
        ASSERT_EQ(py_finish(&p), 0);
    }
    mp_listener_destroy(l);
}

TEST_TIMEOUT(listener_python_client, 60)
{
    python_client_to_c("127.0.0.1:0", NULL, "-", 0);
    python_client_to_c("127.0.0.1:0", KEY, KEY_HEX, 0);
    tmp_sock_t t;
    tmp_sock_open(&t);
    python_client_to_c(t.path, KEY, KEY_HEX, 0);
    python_client_to_c(t.path, NULL, "-", 0);
    tmp_sock_close(&t);
}

TEST_TIMEOUT(auth_python_client_wrong_key, 60)
{
    python_client_to_c("127.0.0.1:0", KEY, "77726f6e67", MP_EAUTH);
}

/* A C Client talks to a Python Listener at address; expect as above. */
static void
c_client_to_python(const char *address, const char *key, const char *key_hex,
                   int expect)
{
    py_peer_t p;
    py_start(&p, "server", address, key_hex);
    char line[256];
    py_read_line(&p, line, sizeof line);
    ASSERT_EQ(strncmp(line, "listening on ", 13), 0);
    client_job_t job = {line + 13, key, expect};
    ASSERT_EQ(client_child(&job), 0);
    ASSERT_EQ(py_finish(&p), expect < 0 ? 3 : 0);
}

TEST_TIMEOUT(client_python_listener, 60)
{
    c_client_to_python("127.0.0.1:0", NULL, "-", 0);
    c_client_to_python("127.0.0.1:0", KEY, KEY_HEX, 0);
    tmp_sock_t t;
    tmp_sock_open(&t);
    c_client_to_python(t.path, KEY, KEY_HEX, 0);
    tmp_sock_close(&t);
}

TEST_TIMEOUT(auth_python_listener_wrong_key, 60)
{
    c_client_to_python("127.0.0.1:0", "wrong", KEY_HEX, MP_EAUTH);
}

/* --- a full backlog (issue 21, item 8) ------------------------------------ */

/* Connects raw AF_UNIX sockets to path without blocking until the
 * listener's backlog is full (connect says EAGAIN); closes them, which
 * leaves their connections queued. Returns how many were queued. */
static int
fill_backlog(const char *path)
{
    int n = 0;
    for (;;) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        ASSERT_GE(fd, 0);
        struct sockaddr_un un = {.sun_family = AF_UNIX};
        snprintf(un.sun_path, sizeof un.sun_path, "%s", path);
        int r = connect(fd, (struct sockaddr *)&un, sizeof un);
        int e = errno;
        close(fd);
        if (r != 0) {
            ASSERT_EQ(e, EAGAIN);
            return n;
        }
        ASSERT_LT(++n, 1000);
    }
}

/* A client child with the right key: connects to the address in arg with
 * a long timeout (waiting for room in a full backlog too) and echoes one
 * message through the parent. */
static int
keyed_echo_child(void *arg)
{
    mp_conn_t *c = NULL;
    ASSERT_OK(mp_client_connect(&c, arg, KEY, strlen(KEY), TMO));
    expect_echo(c, "served", 6);
    mp_conn_destroy(c);
    return 0;
}

/* Forks keyed_echo_child for path and accepts on l until that client is
 * served: before it, accept may fail at most max_failed times, each with
 * one of the n_ok codes in ok[]. */
static void
serve_keyed_client(mp_listener_t *l, const char *path, const int *ok,
                   size_t n_ok, int max_failed)
{
    pid_t pid = mpt_fork(keyed_echo_child, (void *)path);
    mp_conn_t *c = NULL;
    int failed = 0;
    for (;;) {
        /* The timeout is the suite's generous one, no bound on speed. */
        int r = mp_listener_accept(l, &c, TMO);
        if (r == 0) {
            break;
        }
        size_t i = 0;
        while (i < n_ok && ok[i] != r) {
            i++;
        }
        if (i == n_ok) {
            ASSERT_ERR(r, ok[0]);
        }
        ASSERT_LE(++failed, max_failed);
    }
    void *msg = NULL;
    ASSERT_EQ(mp_conn_recv_bytes(c, &msg, 0, TMO), 6);
    ASSERT_MEM_EQ(msg, "served", 6);
    ASSERT_OK(mp_conn_send_bytes(c, msg, 6, MP_WAIT_FOREVER));
    mp_free(msg);
    ASSERT_EQ(mpt_join(pid), 0);
    mp_conn_destroy(c);
}

TEST(client_waits_for_room_in_a_full_backlog)
{
    tmp_sock_t t;
    tmp_sock_open(&t);
    mp_listener_t *l = NULL;
    ASSERT_OK(mp_listener_create(&l, t.path, KEY, strlen(KEY), 1));
    int queued = fill_backlog(t.path);
    ASSERT_GT(queued, 0);
    /* Nobody accepts: a short timeout ends in MP_ETIMEDOUT, with or
     * without a key, never in success on an unconnected socket. */
    mp_conn_t *c = NULL;
    ASSERT_ERR(mp_client_connect(&c, t.path, KEY, strlen(KEY), 50),
               MP_ETIMEDOUT);
    ASSERT_ERR(mp_client_connect(&c, t.path, NULL, 0, 50), MP_ETIMEDOUT);
    ASSERT_NULL(c);
    /* A client that waits gets in once accept makes room: the queued
     * (closed) peers fail their handshakes, then it is served. */
    static const int gone[] = {MP_EOF, MP_EPIPE, -ECONNRESET};
    serve_keyed_client(l, t.path, gone, 3, queued);
    mp_listener_destroy(l);
    tmp_sock_close(&t);
}

/* --- hostile peers do not starve accept (issue 21, item 5) ---------------- */

/* The peers the starvation test connects before its real client. */
#define HOSTILE_SILENT 120   /* connect and say nothing */
#define HOSTILE_SLOW 40      /* half a frame header, then nothing */
#define HOSTILE_GARBAGE 20   /* a malformed header */
#define HOSTILE_OVERSIZED 20 /* a 10,000-byte answer */
#define HOSTILE_ALL                                                            \
    (HOSTILE_SILENT + HOSTILE_SLOW + HOSTILE_GARBAGE + HOSTILE_OVERSIZED)

/* Connects the hostile peers to the AF_UNIX path; they stay connected,
 * their fds (HOSTILE_ALL of them) go into fds[]. */
static void
connect_hostile_peers(const char *path, int *fds)
{
    static uint8_t big[4 + 10000];
    big[2] = (uint8_t)(10000 >> 8);
    big[3] = (uint8_t)10000;
    for (int i = 0; i < HOSTILE_ALL; i++) {
        fds[i] = raw_connect(path);
        if (i >= HOSTILE_SILENT + HOSTILE_SLOW + HOSTILE_GARBAGE) {
            mpt_write_all(fds[i], big, sizeof big);
        } else if (i >= HOSTILE_SILENT + HOSTILE_SLOW) {
            mpt_write_all(fds[i], "\xff\xff\xff\xfe", 4);
        } else if (i >= HOSTILE_SILENT) {
            mpt_write_all(fds[i], "\0\0", 2);
        }
    }
}

/* Connects the hostile peers to path (see connect_hostile_peers), then a
 * real client, and accepts: the real client must be served while every
 * hostile peer is still there. Only the garbage and oversized peers may
 * make accept fail, once each. */
static void
serve_past_hostile_peers(mp_listener_t *l, const char *path, int *fds)
{
    connect_hostile_peers(path, fds);
    /* Before the fix the first silent peer held accept until its timeout
     * ran out. */
    static const int bad[] = {MP_EPROTO, MP_EMSGSIZE};
    serve_keyed_client(l, path, bad, 2, HOSTILE_GARBAGE + HOSTILE_OVERSIZED);
}

/* A forked child's use of an inherited keyed listener: it serves a client
 * of its own and leaves the parent's handshakes and socket file alone. */
static int
forked_listener_child(void *arg)
{
    mp_listener_t *l = arg;
    static const int none[] = {0};
    serve_keyed_client(l, mp_listener_address(l), none, 1, 0);
    mp_listener_destroy(l);
    return 0;
}

TEST(listener_shared_across_fork)
{
    tmp_sock_t t;
    tmp_sock_open(&t);
    mp_listener_t *l = NULL;
    ASSERT_OK(mp_listener_create(&l, t.path, KEY, strlen(KEY), 0));
    /* A handshake under way in the parent when it forks. */
    int fd = raw_connect(t.path);
    mp_conn_t *c = NULL;
    ASSERT_ERR(mp_listener_accept(l, &c, 10), MP_ETIMEDOUT);
    ASSERT_EQ(mpt_join(mpt_fork(forked_listener_child, l)), 0);
    /* The child's destroy left the file (the parent made it) and the
     * parent's handshake: the peer's hang-up reaches the parent. */
    ASSERT_EQ(access(t.path, F_OK), 0);
    close(fd);
    ASSERT_ERR(mp_listener_accept(l, &c, TMO), -ECONNRESET);
    static const int none[] = {0};
    serve_keyed_client(l, t.path, none, 1, 0);
    mp_listener_destroy(l);
    tmp_sock_close(&t);
}

TEST_TIMEOUT(listener_hostile_peers_do_not_starve_accept, 60)
{
    tmp_sock_t t;
    tmp_sock_open(&t);
    mp_listener_t *l = NULL;
    ASSERT_OK(mp_listener_create(&l, t.path, KEY, strlen(KEY), 0));
    static int fds[2 * HOSTILE_ALL];
    serve_past_hostile_peers(l, t.path, fds);
    /* Once more on the same listener, its table now full of old peers
     * that are all still connected. */
    serve_past_hostile_peers(l, t.path, fds + HOSTILE_ALL);
    mp_listener_destroy(l);
    for (int i = 0; i < 2 * HOSTILE_ALL; i++) {
        close(fds[i]);
    }
    tmp_sock_close(&t);
}

/* The manager's server, the library's other listening socket, serves a
 * real client past the same crowd (its handshakes run in threads of their
 * own, bounded by the server). */
TEST_TIMEOUT(manager_serves_past_hostile_peers, 60)
{
    mp_manager_t *m = mpt_manager_start(NULL);
    static int fds[HOSTILE_ALL];
    connect_hostile_peers(mp_manager_address(m), fds);
    mp_manager_t *c = NULL;
    ASSERT_OK(mpt_manager_connect(m, true, &c));
    mp_manager_destroy(c);
    for (int i = 0; i < HOSTILE_ALL; i++) {
        close(fds[i]);
    }
    mp_manager_destroy(m);
}

/* 1 if fd has something to read (or was hung up on), 0 if not yet. */
static int
readable_now(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int n = poll(&p, 1, 0);
    ASSERT_GE(n, 0);
    return n;
}

/* Reads the listener's challenge frame on raw peer fd. */
static void
read_challenge(int fd)
{
    uint8_t frame[4 + MP__AUTH_CHALLENGE_LEN];
    mpt_read_all(fd, frame, sizeof frame);
    ASSERT_EQ(frame[3], MP__AUTH_CHALLENGE_LEN);
    ASSERT_MEM_EQ(frame + 4, "#CHALLENGE#", 11);
}

/* 1 if raw peer fd has been hung up on (end of stream), 0 if it is still
 * waiting (nothing to read). */
static int
hung_up(int fd)
{
    uint8_t b;
    ssize_t n = recv(fd, &b, 1, MSG_DONTWAIT);
    if (n < 0) {
        ASSERT(errno == EAGAIN || errno == EWOULDBLOCK);
        return 0;
    }
    ASSERT_EQ(n, 0);
    return 1;
}

TEST(listener_pending_handshakes_bounded_in_number)
{
    tmp_sock_t t;
    tmp_sock_open(&t);
    mp_listener_t *l = NULL;
    ASSERT_OK(mp_listener_create(&l, t.path, KEY, strlen(KEY), 0));
    enum { EXTRA = 10, N = MP_LISTENER_PENDING_MAX + EXTRA };
    static int fds[N];
    for (int i = 0; i < N; i++) {
        fds[i] = raw_connect(t.path);
    }
    /* Accept calls take them all in: each gets its challenge. */
    mp_conn_t *c = NULL;
    for (int i = 0; i < N; i++) {
        while (!readable_now(fds[i])) {
            ASSERT_ERR(mp_listener_accept(l, &c, 10), MP_ETIMEDOUT);
        }
        read_challenge(fds[i]);
    }
    /* The oldest were dropped to make room; the newest still wait. */
    for (int i = 0; i < N; i++) {
        ASSERT_EQ(hung_up(fds[i]), i < EXTRA);
        close(fds[i]);
    }
    ASSERT_NULL(c);
    mp_listener_destroy(l);
    tmp_sock_close(&t);
}

TEST_TIMEOUT(listener_pending_handshake_bounded_in_time, 90)
{
    tmp_sock_t t;
    tmp_sock_open(&t);
    mp_listener_t *l = NULL;
    ASSERT_OK(mp_listener_create(&l, t.path, KEY, strlen(KEY), 0));
    int fd = raw_connect(t.path);
    /* One call that lasts past the peer's handshake limit: the peer is
     * dropped within it, and the call still just times out. */
    mp_conn_t *c = NULL;
    ASSERT_ERR(mp_listener_accept(l, &c, MP_LISTENER_HANDSHAKE_MS + 1000),
               MP_ETIMEDOUT);
    read_challenge(fd);
    ASSERT_EQ(hung_up(fd), 1);
    close(fd);
    mp_listener_destroy(l);
    tmp_sock_close(&t);
}
