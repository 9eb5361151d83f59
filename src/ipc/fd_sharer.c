/* SPDX-License-Identifier: MIT */
/* fd_sharer.c - connections as tokens: mp_conn_token registers a copy of a
 * connection's fd with this process's fd sharer, and mp_conn_attach, in any
 * process of the same user, fetches it from there (SCM_RIGHTS), as
 * Python's resource_sharer.DupFd does for spawn and forkserver children.
 *
 * The sharer (one per process, started by the first mp_conn_token) is a
 * Listener on a socket file "$TMPDIR/mp-fds-<pid>-<16 hex>.sock" (mode
 * 0600, tracked: listener.c) served by one thread. A token is
 *
 *     mpt1:P:<id>:<secret, 4 x 64 bits>:<socket path>
 *
 * (numbers in hex; the path is the rest of the text). The opener connects
 * and sends one request of SHARER_REQ_LEN bytes: "mpF1", 4 zero bytes, the
 * id (64 bits, big-endian) and the 32 secret bytes. The sharer answers
 * with 2 bytes: 'Y' and the directions (bit 0 readable, bit 1 writable)
 * with the fd attached, or 'N' (no such id, or the wrong secret) without
 * one, and closes. A registration is used once: the answer 'Y' removes it.
 * The thread serves up to SHARER_PENDING_MAX peers at once without
 * blocking (a newer one drops the oldest); a peer whose request is not
 * whole SHARER_REQUEST_MS after it was accepted is dropped; no more than
 * the request is ever read. mp_shutdown and the exit handler stop the
 * thread, remove the socket file and close the fds not fetched. */
#include "ipc_internal.h"

#include "../platform/platform.h"
#include "../shm/shm_internal.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define SHARER_PENDING_MAX 16
#define SHARER_REQUEST_MS 5000
#define SHARER_SECRET_LEN 32
#define SHARER_REQ_LEN (8 + 8 + SHARER_SECRET_LEN)
#define SHARER_MAGIC "mpF1"
#define SHARER_PATH_MAX 108 /* sun_path */

/* A registered fd: what one token fetches. */
typedef struct reg {
    struct reg *next;
    uint64_t id;
    uint8_t secret[SHARER_SECRET_LEN];
    int fd;        /* a dup of the connection's fd, owned here */
    uint8_t flags; /* bit 0 readable, bit 1 writable */
} reg_t;

/* What the serving thread owns besides the table: its listener and the
 * waker that stops it. */
typedef struct {
    mp_listener_t *lst;
    int wake;
} server_t;

/* A peer accepted whose request is not whole yet. */
typedef struct {
    mp_conn_t *c;
    int fd;
    size_t have;
    int64_t deadline;
    uint8_t req[SHARER_REQ_LEN];
} peer_t;

/* This process's sharer. Guarded by *sh_mu, a lock in the fork-local page
 * (a forked child finds it unlocked); a forked child's copy is its
 * parent's (pid tells), whose fds it closes at its first use. */
static pthread_once_t sh_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t *sh_mu;
static struct {
    pid_t pid; /* the process serving; 0: none */
    server_t *srv;
    pthread_t thread;
    uint64_t next_id;
    reg_t *regs;
    char path[SHARER_PATH_MAX];
} sh;

static void sharer_stop(void);

static void
sh_once_fn(void)
{
    sh_mu = mp__fork_local(sizeof *sh_mu);
    (void)mp__shutdown_hook_add(sharer_stop);
    (void)atexit(sharer_stop);
}

/* Closes the fds of the registrations of list regs and frees them. */
static void
regs_free(reg_t *regs)
{
    while (regs != NULL) {
        reg_t *next = regs->next;
        mp__plat_close(regs->fd);
        mp__free(regs);
        regs = next;
    }
}

/* Closes the listener and the waker of srv and frees it (NULL: nothing).
 * In a forked child the socket file stays (it is the parent's). */
static void
server_free(server_t *srv)
{
    if (srv != NULL) {
        mp_listener_destroy(srv->lst);
        mp__plat_waker_close(srv->wake);
        mp__free(srv);
    }
}

/* Drops peer i of the n in p, closing it. */
static void
peer_drop(peer_t *p, size_t *n, size_t i)
{
    mp_conn_destroy(p[i].c);
    memmove(&p[i], &p[i + 1], (*n - i - 1) * sizeof *p);
    (*n)--;
}

/* Answers the whole request of peer q: takes the registration it names
 * out of the table when its secret matches and sends its fd, else 'N'. */
static void
peer_answer(peer_t *q)
{
    uint8_t reply[2] = {'N', 0};
    reg_t *found = NULL;
    if (memcmp(q->req, SHARER_MAGIC "\0\0\0\0", 8) == 0) {
        uint64_t id = 0;
        for (int i = 0; i < 8; i++) {
            id = id << 8 | q->req[8 + i];
        }
        pthread_mutex_lock(sh_mu);
        for (reg_t **r = &sh.regs; *r != NULL; r = &(*r)->next) {
            if ((*r)->id == id && CRYPTO_memcmp((*r)->secret, q->req + 16,
                                                SHARER_SECRET_LEN) == 0) {
                found = *r;
                *r = found->next;
                break;
            }
        }
        pthread_mutex_unlock(sh_mu);
    }
    if (found == NULL) {
        (void)mp__plat_send_nb(q->fd, reply, sizeof reply);
        return;
    }
    reply[0] = 'Y';
    reply[1] = found->flags;
    /* The socket has sent nothing yet: two bytes never wait for room. */
    (void)mp__plat_send_fds(q->fd, reply, sizeof reply, &found->fd, 1);
    found->next = NULL;
    regs_free(found);
}

/* Reads what peer i has sent, no more than its request; answers and drops
 * it once the request is whole, drops it at its end of stream. */
static void
peer_step(peer_t *p, size_t *n, size_t i)
{
    peer_t *q = &p[i];
    ssize_t r =
        mp__plat_recv_nb(q->fd, q->req + q->have, SHARER_REQ_LEN - q->have);
    if (r == -EAGAIN) {
        return;
    }
    if (r > 0) {
        q->have += (size_t)r;
        if (q->have < SHARER_REQ_LEN) {
            return;
        }
        peer_answer(q);
    }
    peer_drop(p, n, i);
}

/* Accepts the peers the listener has queued (a table's worth at most). */
static void
peers_take(server_t *srv, peer_t *p, size_t *n)
{
    for (int k = 0; k < SHARER_PENDING_MAX; k++) {
        mp_conn_t *c;
        if (mp_listener_accept(srv->lst, &c, MP_NO_WAIT) != 0) {
            return;
        }
        if (*n == SHARER_PENDING_MAX) {
            peer_drop(p, n, 0);
        }
        peer_t *q = &p[(*n)++];
        q->c = c;
        q->fd = mp_conn_fileno(c);
        q->have = 0;
        q->deadline =
            mp__deadline_after_ns((int64_t)SHARER_REQUEST_MS * 1000000);
    }
}

/* The serving thread: until its waker is signalled, waits on the
 * listener and the peers under way, and serves them. */
static void *
server_main(void *arg)
{
    server_t *srv = arg;
    peer_t peers[SHARER_PENDING_MAX];
    size_t n = 0;
    struct pollfd pf[2 + SHARER_PENDING_MAX];
    for (;;) {
        int64_t now = mp__now_ns(), next = MP__NO_DEADLINE;
        for (size_t i = n; i-- > 0;) {
            if (peers[i].deadline <= now) {
                peer_drop(peers, &n, i);
            } else if (peers[i].deadline < next) {
                next = peers[i].deadline;
            }
        }
        pf[0] = (struct pollfd){.fd = srv->wake, .events = POLLIN};
        pf[1] = (struct pollfd){.fd = mp_listener_fileno(srv->lst),
                                .events = POLLIN};
        for (size_t i = 0; i < n; i++) {
            pf[2 + i] = (struct pollfd){.fd = peers[i].fd, .events = POLLIN};
        }
        int r = mp__plat_poll_many(pf, 2 + n, next);
        if (r < 0 || pf[0].revents != 0) {
            break;
        }
        for (size_t i = n; i-- > 0;) {
            if (pf[2 + i].revents != 0) {
                peer_step(peers, &n, i);
            }
        }
        if (pf[1].revents != 0) {
            peers_take(srv, peers, &n);
        }
    }
    while (n > 0) {
        peer_drop(peers, &n, n - 1);
    }
    return NULL;
}

/* With sh_mu held: makes sh this process's running sharer. A copy
 * inherited by fork is forgotten first (the child's copies of its fds
 * closed; its thread is the parent's). Returns 0 or an error of making
 * the socket, the waker or the thread. */
static int
sharer_own_locked(void)
{
    pid_t me = mp__getpid();
    if (sh.pid == me) {
        return 0;
    }
    if (sh.pid != 0) {
        server_free(sh.srv);
        regs_free(sh.regs);
        sh.srv = NULL;
        sh.regs = NULL;
        sh.pid = 0;
    }
    const char *tmp = getenv("TMPDIR");
    if (tmp == NULL || tmp[0] != '/') {
        tmp = "/tmp";
    }
    int w = snprintf(sh.path, sizeof sh.path, "%s/mp-fds-%d-%016llx.sock", tmp,
                     (int)me, (unsigned long long)mp__plat_random_u64());
    if (w < 0 || (size_t)w >= sizeof sh.path) {
        return MP_ENAMETOOLONG;
    }
    server_t *srv = mp__calloc(1, sizeof *srv);
    if (srv == NULL) {
        return MP_ENOMEM;
    }
    srv->wake = mp__plat_waker_open();
    int err = srv->wake < 0
                  ? srv->wake
                  : mp_listener_create(&srv->lst, sh.path, NULL, 0, 0);
    if (err == 0) {
        err = -pthread_create(&sh.thread, NULL, server_main, srv);
    }
    if (err != 0) {
        server_free(srv);
        return err;
    }
    sh.srv = srv;
    sh.pid = me;
    return 0;
}

/* Stops this process's sharer, if it runs: the thread ends, the socket
 * file goes, and the fds no token fetched are closed (their tokens then
 * fail with MP_ECLOSED). In a forked child it forgets the parent's. The
 * shutdown hook and the exit handler. */
static void
sharer_stop(void)
{
    pthread_once(&sh_once, sh_once_fn);
    pthread_mutex_lock(sh_mu);
    bool mine = sh.pid == mp__getpid();
    server_t *srv = sh.pid != 0 ? sh.srv : NULL;
    reg_t *regs = sh.regs;
    pthread_t thread = sh.thread;
    sh.pid = 0;
    sh.srv = NULL;
    sh.regs = NULL;
    pthread_mutex_unlock(sh_mu);
    if (srv != NULL && mine) {
        mp__plat_waker_signal(srv->wake);
        pthread_join(thread, NULL);
    }
    server_free(srv);
    regs_free(regs);
}

/* Writes the token of registration r, served at path, into buf. Returns
 * 0 or MP_ERANGE. */
static int
token_write(char *buf, size_t buflen, const reg_t *r, const char *path)
{
    size_t pos;
    int err = mp__token_begin(buf, buflen, &pos, MP__KIND_CONN);
    if (err == 0) {
        err = mp__token_put_u64(buf, buflen, &pos, r->id);
    }
    for (int i = 0; i < SHARER_SECRET_LEN / 8 && err == 0; i++) {
        uint64_t v;
        memcpy(&v, r->secret + 8 * i, 8);
        err = mp__token_put_u64(buf, buflen, &pos, v);
    }
    if (err == 0) {
        int w = snprintf(buf + pos, buflen - pos, ":%s", path);
        err = w < 0 || (size_t)w >= buflen - pos ? MP_ERANGE : 0;
    }
    return err;
}

int
mp_conn_token(const mp_conn_t *c, char *buf, size_t buflen)
{
    if (c == NULL || buf == NULL) {
        return MP_EINVAL;
    }
    int fd = mp_conn_fileno(c);
    if (fd < 0) {
        return fd;
    }
    mp__init();
    reg_t *r = mp__calloc(1, sizeof *r);
    if (r == NULL) {
        return MP_ENOMEM;
    }
    r->flags = (uint8_t)((mp_conn_readable(c) ? 1 : 0) |
                         (mp_conn_writable(c) ? 2 : 0));
    int err = mp__plat_secret_bytes(r->secret, sizeof r->secret);
    if (err == 0) {
        r->fd = mp__plat_dup(fd, 0);
        err = r->fd < 0 ? r->fd : 0;
    }
    if (err != 0) {
        mp__free(r);
        return err;
    }
    pthread_once(&sh_once, sh_once_fn);
    pthread_mutex_lock(sh_mu);
    err = sharer_own_locked();
    if (err == 0) {
        r->id = ++sh.next_id;
        err = token_write(buf, buflen, r, sh.path);
    }
    if (err == 0) {
        r->next = sh.regs;
        sh.regs = r;
    }
    pthread_mutex_unlock(sh_mu);
    if (err != 0) {
        regs_free(r);
    }
    return err;
}

/* Parses token into the request it sends and the sharer's address.
 * Returns 0 or MP_EINVAL (not a connection's token), MP_ENAMETOOLONG. */
static int
token_parse(const char *token, uint8_t req[SHARER_REQ_LEN], mp__lst_addr_t *a)
{
    const char *cur = token;
    uint64_t id = 0;
    int err = mp__token_expect(&cur, MP__KIND_CONN);
    if (err == 0) {
        err = mp__token_get_u64(&cur, &id);
    }
    memcpy(req, SHARER_MAGIC "\0\0\0\0", 8);
    for (int i = 0; i < 8; i++) {
        req[8 + i] = (uint8_t)(id >> (56 - 8 * i));
    }
    for (int i = 0; i < SHARER_SECRET_LEN / 8 && err == 0; i++) {
        uint64_t v = 0;
        err = mp__token_get_u64(&cur, &v);
        memcpy(req + 16 + 8 * i, &v, 8);
    }
    if (err != 0 || cur[0] != ':' || cur[1] != '/') {
        return MP_EINVAL;
    }
    return mp__lst_parse_address(cur + 1, true, a);
}

int
mp_conn_attach(mp_conn_t **out, const char *token, mp_duration_t timeout)
{
    int64_t deadline;
    if (out == NULL || token == NULL) {
        return MP_EINVAL;
    }
    int err = mp__deadline(timeout, &deadline);
    uint8_t req[SHARER_REQ_LEN];
    mp__lst_addr_t a;
    if (err == 0) {
        err = token_parse(token, req, &a);
    }
    if (err != 0) {
        return err;
    }
    mp__init();
    int s = mp__plat_socket(AF_UNIX, false);
    if (s < 0) {
        return s;
    }
    err = mp__plat_connect(s, (const struct sockaddr *)&a.sa, a.len, deadline);
    if (err == -ENOENT || err == -ECONNREFUSED) {
        err = MP_ECLOSED; /* its creator stopped sharing or is gone */
    }
    if (err == 0) {
        err = mp__plat_send_full(s, req, sizeof req);
    }
    if (err == 0) {
        err = mp__plat_poll_in(s, deadline);
        err = err == 0 ? MP_ETIMEDOUT : err < 0 ? err : 0;
    }
    uint8_t reply[2];
    int fd = -1, nfds = 0;
    if (err == 0) {
        ssize_t r = mp__plat_recv_fds(s, reply, sizeof reply, &fd, 1, &nfds);
        /* 0: the sharer stopped before it answered; 'N': no such token. */
        err = r < 0                       ? (int)r
              : r == 0 || reply[0] == 'N' ? MP_ECLOSED
              : r != 2 || reply[0] != 'Y' || nfds != 1 || (reply[1] & 3) == 0
                  ? MP_EPROTO
                  : 0;
    }
    mp__plat_close(s);
    if (err == 0) {
        err = mp_conn_from_fd(out, fd, reply[1] & 1, reply[1] & 2);
    }
    if (err != 0 && nfds == 1) {
        mp__plat_close(fd);
    }
    return err;
}
