/* SPDX-License-Identifier: MIT */
/* server.c - the manager's server process: the accept loop in the main
 * thread (which also holds the store's liveness word), one thread per
 * client connection running the authkey handshake and then
 * request -> reply, the user types' objects, and shutdown.
 *
 * Robustness rules: whatever a peer sends or does (wrong key, malformed or
 * oversized requests, dying in the middle of a frame) costs at most its own
 * connection; the server keeps serving everyone else. A request over the
 * limit (the store's size plus the request header) is read and discarded
 * by the connection layer and answered MP_EMSGSIZE, and the connection
 * stays usable; a frame that ends early or has a malformed header ends
 * that connection (the stream cannot be trusted any more).
 *
 * Bounds (docs/design.md, "Managers"): at most MP__MGR_UNAUTH_MAX
 * connections in the handshake (one more hangs up on the oldest), each for
 * at most MP__MGR_HANDSHAKE_MS; a logged-in connection's references are
 * counted and capped by its session (exec.c); the loops pause after an
 * error that would repeat instead of spinning on it.
 *
 * A client that hangs up while its connection's thread waits in a
 * blocking op (a lock, a queue get ...) is noticed by the watcher thread,
 * which polls the sockets of exactly those connections for a hang-up and
 * cancels the session, so that the wait ends and what the client held is
 * released. */
#include "server_internal.h"

#include "../ipc/ipc_internal.h"
#include "../platform/platform.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* A user type's object, kept in server memory. Records are never freed
 * while the server runs (freed ones are reused), so a handle read from the
 * store can always be dereferenced; index/gen/alive, checked under
 * users_mu, tell whether it is still the object the caller means. */
typedef struct srv_user {
    const mp__mgr_type_t *type;
    void *obj;
    pthread_mutex_t call_mu; /* one call at a time per object */
    uint32_t index, gen;
    bool alive; /* the store still holds it */
    int pins;   /* the store's reference (while alive) + running calls */
    struct srv_user *next_all;  /* every record */
    struct srv_user *next_free; /* reusable records */
} srv_user_t;

typedef struct server server_t;

/* One client connection and the thread serving it. */
typedef struct srv_conn {
    server_t *srv;
    pthread_t thread;
    mp_conn_t *conn; /* NULL once the thread closed it (under srv->mu) */
    bool done;       /* the thread finished (under srv->mu) */
    /* Handshake state (under srv->mu): handshaking from the accept until
     * the handshake ends or the accept loop hangs up on the peer to make
     * room (evicted); counted in srv->n_unauth meanwhile. */
    bool handshaking, evicted;
    bool same_host;
    mp__mgr_session_t *session;
    /* Watched while in a request with a timeout (under srv->mu): the
     * watcher cancels the session if the client hangs up meanwhile. */
    bool watched;
    uint64_t watch_ticket; /* server-wide unique per watched request */
    struct srv_conn *next;
} srv_conn_t;

struct server {
    mp_manager_t *m;
    mp__store_t *st;
    mp_listener_t *lst;
    size_t max_request;
    int wake;                    /* a waker: its signal stops the accept loop */
    mp__mgr_segments_t segments; /* SharedMemoryManager's blocks */

    pthread_mutex_t mu; /* conns, their watch fields, stopping */
    srv_conn_t *conns;  /* newest first */
    bool stopping;
    unsigned n_unauth; /* conns in the handshake, not evicted (under mu) */
    _Atomic uint32_t backoff_word; /* bumped to cut pauses short */

    pthread_t watcher;
    bool watcher_started;
    int watch_wake;         /* a waker: the watched set changed */
    uint64_t watch_tickets; /* the last ticket handed out (under mu) */

    pthread_mutex_t users_mu; /* every srv_user_t field but obj */
    srv_user_t *users, *users_free;
};

/*--- user types -------------------------------------------------------------*/

/* Maps a callback's result to what the caller gets: 0 or a known negative
 * mp error as is, anything else MP_EREMOTE. */
static int
user_status(int rc)
{
    if (rc == 0) {
        return 0;
    }
    if (rc < 0 && strcmp(mp_err_name(rc), "UNKNOWN") != 0) {
        return rc;
    }
    return MP_EREMOTE;
}

/* Drops one pin of u; the last one destroys the object and recycles the
 * record. Takes users_mu. */
static void
user_unpin(server_t *srv, srv_user_t *u)
{
    pthread_mutex_lock(&srv->users_mu);
    bool last = --u->pins == 0;
    pthread_mutex_unlock(&srv->users_mu);
    if (!last) {
        return;
    }
    u->type->type.destroy(u->obj, u->type->type.arg);
    u->obj = NULL;
    pthread_mutex_lock(&srv->users_mu);
    u->next_free = srv->users_free;
    srv->users_free = u;
    pthread_mutex_unlock(&srv->users_mu);
}

/* The store's destroy hook: the object's last reference went. */
static void
user_destroy_hook(uint64_t handle, void *arg)
{
    server_t *srv = arg;
    srv_user_t *u = (srv_user_t *)(uintptr_t)handle;
    pthread_mutex_lock(&srv->users_mu);
    bool was_alive = u->alive;
    u->alive = false;
    pthread_mutex_unlock(&srv->users_mu);
    if (was_alive) {
        user_unpin(srv, u);
    }
}

/* Finds a registered type by name. */
static const mp__mgr_type_t *
user_type_find(const mp_manager_t *m, const void *name, size_t len)
{
    for (size_t i = 0; i < m->n_types; i++) {
        if (strlen(m->types[i].name) == len &&
            memcmp(m->types[i].name, name, len) == 0) {
            return &m->types[i];
        }
    }
    return NULL;
}

/* CREATE of MP_PROXY_USER: arg0 = typeid, arg1 = the create arguments. */
static void
user_create(server_t *srv, const mp__mgr_req_t *req, mp__mgr_rep_t *rep)
{
    const mp__mgr_type_t *t =
        user_type_find(srv->m, req->arg[0].ptr, req->arg[0].len);
    if (t == NULL) {
        rep->status = MP_ENOENT;
        return;
    }
    pthread_mutex_lock(&srv->users_mu);
    srv_user_t *u = srv->users_free;
    if (u != NULL) {
        srv->users_free = u->next_free;
    }
    pthread_mutex_unlock(&srv->users_mu);
    if (u == NULL) {
        u = mp__calloc(1, sizeof *u);
        if (u == NULL) {
            rep->status = MP_ENOMEM;
            return;
        }
        pthread_mutex_init(&u->call_mu, NULL);
        pthread_mutex_lock(&srv->users_mu);
        u->next_all = srv->users;
        srv->users = u;
        pthread_mutex_unlock(&srv->users_mu);
    }
    void *obj = NULL;
    int rc = user_status(
        t->type.create(&obj, req->arg[1].ptr, req->arg[1].len, t->type.arg));
    uint32_t index = 0, gen = 0;
    if (rc == 0) {
        u->type = t;
        u->obj = obj;
        rc = mp__store_user_new(srv->st, (uint64_t)(uintptr_t)u, &index, &gen);
        if (rc != 0) {
            t->type.destroy(obj, t->type.arg);
            u->obj = NULL;
        }
    }
    pthread_mutex_lock(&srv->users_mu);
    if (rc == 0) {
        u->index = index;
        u->gen = gen;
        u->alive = true;
        u->pins = 1;
    } else {
        u->next_free = srv->users_free;
        srv->users_free = u;
    }
    pthread_mutex_unlock(&srv->users_mu);
    rep->status = rc;
    rep->num = index;
    rep->gen = gen;
}

/* USER_CALL: arg0 = method name (1..63 bytes), arg1 = input. */
static void
user_call(server_t *srv, const mp__mgr_req_t *req, mp__mgr_rep_t *rep)
{
    char method[MP__MGR_TYPEID_MAX + 1];
    size_t mlen = req->arg[0].len;
    if (mlen == 0 || mlen > MP__MGR_TYPEID_MAX ||
        memchr(req->arg[0].ptr, '\0', mlen) != NULL) {
        rep->status = MP_EINVAL;
        return;
    }
    memcpy(method, req->arg[0].ptr, mlen);
    method[mlen] = '\0';

    uint64_t handle = 0;
    int rc = mp__store_user_handle(srv->st, req->index, req->gen, &handle);
    if (rc != 0) {
        rep->status = rc;
        return;
    }
    srv_user_t *u = (srv_user_t *)(uintptr_t)handle;
    pthread_mutex_lock(&srv->users_mu);
    bool ok = u->alive && u->index == req->index && u->gen == req->gen;
    if (ok) {
        u->pins++;
    }
    pthread_mutex_unlock(&srv->users_mu);
    if (!ok) {
        rep->status = MP_ECLOSED;
        return;
    }
    void *out = NULL;
    size_t out_len = 0;
    pthread_mutex_lock(&u->call_mu);
    rc = user_status(u->type->type.call(u->obj, method, req->arg[1].ptr,
                                        req->arg[1].len, &out, &out_len,
                                        u->type->type.arg));
    pthread_mutex_unlock(&u->call_mu);
    user_unpin(srv, u);
    /* The callback's result is malloc()ed; the reply's data is ours. */
    if (rc == 0 && out != NULL && out_len > 0) {
        rep->data = mp__malloc(out_len);
        if (rep->data == NULL) {
            rc = MP_ENOMEM;
        } else {
            memcpy(rep->data, out, out_len);
            rep->len = out_len;
        }
    }
    free(out);
    rep->status = rc;
}

/* Destroys every object still alive and frees every record (shutdown,
 * after every connection thread has ended). */
static void
users_free_all(server_t *srv)
{
    srv_user_t *u = srv->users;
    while (u != NULL) {
        srv_user_t *next = u->next_all;
        if (u->obj != NULL) {
            u->type->type.destroy(u->obj, u->type->type.arg);
        }
        pthread_mutex_destroy(&u->call_mu);
        mp__free(u);
        u = next;
    }
    srv->users = srv->users_free = NULL;
}

/*--- requests ---------------------------------------------------------------*/

/* Whether the peer of fd runs on this host: AF_UNIX, or TCP from a
 * loopback address. */
static bool
peer_same_host(int fd)
{
    struct sockaddr_storage ss;
    unsigned len;
    if (mp__plat_peername(fd, (struct sockaddr *)&ss, sizeof ss, &len) != 0) {
        return false;
    }
    if (ss.ss_family == AF_UNIX) {
        return true;
    }
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (ss.ss_family == AF_INET6) {
        const struct in6_addr *a =
            &((const struct sockaddr_in6 *)&ss)->sin6_addr;
        return IN6_IS_ADDR_LOOPBACK(a) ||
               (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
    }
    return false;
}

/* Whether a SHUTDOWN request carries the owner's secret (constant time). */
static bool
secret_ok(const server_t *srv, const mp__mgr_req_t *req)
{
    if (req->arg[0].len != MP__MGR_SECRET_LEN) {
        return false;
    }
    const uint8_t *given = req->arg[0].ptr;
    uint8_t diff = 0;
    for (size_t i = 0; i < MP__MGR_SECRET_LEN; i++) {
        diff |= (uint8_t)(given[i] ^ srv->m->secret[i]);
    }
    return diff == 0;
}

/* Runs one decoded request and fills rep. Sets *stop for an authorised
 * SHUTDOWN. */
static void
handle_request(srv_conn_t *sc, mp__mgr_session_t *session,
               const mp__mgr_req_t *req, mp__mgr_rep_t *rep, bool *stop)
{
    server_t *srv = sc->srv;
    switch (req->op) {
    case MP__OP_HELLO: {
        const char *name = mp__store_name(srv->st);
        rep->data = mp__strdup(name);
        if (rep->data == NULL) {
            rep->status = MP_ENOMEM;
            return;
        }
        rep->len = strlen(name);
        rep->num = sc->same_host ? 1 : 0;
        rep->gen = MP__MGR_VERSION;
        return;
    }
    case MP__OP_SHUTDOWN:
        if (!secret_ok(srv, req)) {
            rep->status = MP_ENOTOWNER;
            return;
        }
        *stop = true;
        return;
    case MP__OP_USER_CALL:
        rep->status = mp__store_alive(srv->st);
        if (rep->status == 0) {
            user_call(srv, req, rep);
        }
        return;
    case MP__OP_SHM_CREATE:
        rep->status = mp__store_alive(srv->st);
        if (rep->status == 0) {
            mp__mgr_segments_create(&srv->segments, req, rep);
        }
        return;
    case MP__OP_CREATE:
        if (req->num[0] == MP_PROXY_USER) {
            /* The client holds the new object's reference, as exec
             * records it for the built-in kinds. */
            rep->status = mp__store_alive(srv->st);
            if (rep->status == 0) {
                rep->status = mp__mgr_session_ref_room(session);
            }
            if (rep->status == 0) {
                user_create(srv, req, rep);
                if (rep->status == 0) {
                    mp__mgr_session_ref_note(session, (uint32_t)rep->num,
                                             rep->gen);
                }
            }
            return;
        }
        break;
    default:
        break;
    }
    mp__mgr_exec(srv->st, session, req, rep);
}

/* Encodes and sends rep. Returns 0 or the send error. */
static int
send_reply(mp_conn_t *c, const mp__mgr_rep_t *rep)
{
    void *out;
    size_t len;
    int err = mp__mgr_rep_encode(rep, &out, &len);
    if (err != 0) {
        /* The data could not be sent: say why instead. */
        mp__mgr_rep_t small = {.status = err};
        err = mp__mgr_rep_encode(&small, &out, &len);
        if (err != 0) {
            return err;
        }
    }
    err = mp_conn_send_bytes(c, out, len, MP_WAIT_FOREVER);
    mp__free(out);
    return err;
}

/* Wakes the accept loop so that it shuts the server down. */
static void
request_stop(server_t *srv)
{
    mp__plat_waker_signal(srv->wake);
}

/* Pauses the calling loop for MP__MGR_BACKOFF_MS after an error that
 * retrying at once would only repeat, so that the loop cannot spin; a
 * futex wait, which needs no memory and no descriptor. Teardown cuts it
 * short (backoff_stop). */
static void
backoff(server_t *srv)
{
    uint32_t seen = atomic_load(&srv->backoff_word);
    (void)mp__plat_futex_wait(&srv->backoff_word, seen,
                              mp__now_ns() +
                                  MP__MGR_BACKOFF_MS * INT64_C(1000000));
}

/* Ends every pause of backoff now and soon after (teardown). */
static void
backoff_stop(server_t *srv)
{
    atomic_fetch_add(&srv->backoff_word, 1);
    (void)mp__plat_futex_wake(&srv->backoff_word, INT32_MAX);
}

/*--- the watcher ------------------------------------------------------------*/

/* The most connections the watcher polls at once; more wait their turn
 * (a request with a timeout is rarely cut short by a hang-up anyway). */
#define WATCH_MAX 256

/* Tells the watcher that the watched set changed. */
static void
watch_poke(server_t *srv)
{
    mp__plat_waker_signal(srv->watch_wake);
}

/* Marks sc watched (on) or not for the request it is about to run. */
static void
watch_set(srv_conn_t *sc, bool on)
{
    server_t *srv = sc->srv;
    pthread_mutex_lock(&srv->mu);
    sc->watched = on;
    sc->watch_ticket = ++srv->watch_tickets;
    pthread_mutex_unlock(&srv->mu);
    watch_poke(srv);
}

/* The watcher thread: polls the sockets of watched connections for a
 * hang-up and cancels their sessions. */
static void *
watcher_main(void *arg)
{
    server_t *srv = arg;
    struct pollfd pfd[WATCH_MAX + 1];
    srv_conn_t *who[WATCH_MAX + 1];
    uint64_t ticket[WATCH_MAX + 1];
    for (;;) {
        nfds_t n = 1;
        pfd[0] = (struct pollfd){.fd = srv->watch_wake, .events = POLLIN};
        pthread_mutex_lock(&srv->mu);
        if (srv->stopping) {
            pthread_mutex_unlock(&srv->mu);
            return NULL;
        }
        for (srv_conn_t *sc = srv->conns; sc != NULL && n <= WATCH_MAX;
             sc = sc->next) {
            if (sc->watched && sc->conn != NULL) {
                pfd[n] = (struct pollfd){.fd = mp_conn_fileno(sc->conn),
                                         .events = POLLRDHUP};
                who[n] = sc;
                ticket[n] = sc->watch_ticket;
                n++;
            }
        }
        pthread_mutex_unlock(&srv->mu);
        if (mp__plat_poll_many(pfd, n, MP__NO_DEADLINE) < 0) {
            /* Not EINTR (retried at once): a real error (ENOMEM; EINVAL:
             * more descriptors than RLIMIT_NOFILE) would repeat: pause,
             * then rebuild the set. Meanwhile a hang-up is noticed late;
             * each watched request still ends at its timeout or
             * shutdown. */
            backoff(srv);
            continue;
        }
        if (pfd[0].revents != 0) {
            (void)mp__plat_waker_drain(srv->watch_wake);
        }
        bool hangup = false;
        for (nfds_t i = 1; i < n; i++) {
            hangup = hangup || pfd[i].revents != 0;
        }
        if (!hangup) {
            continue;
        }
        pthread_mutex_lock(&srv->mu);
        /* Only a connection still in the same request (same ticket): its
         * socket cannot have been closed and its fd number reused. The
         * list is searched because an ended connection may be freed. */
        for (srv_conn_t *sc = srv->conns; sc != NULL; sc = sc->next) {
            for (nfds_t i = 1; i < n; i++) {
                if (who[i] == sc && pfd[i].revents != 0 && sc->watched &&
                    sc->watch_ticket == ticket[i]) {
                    mp__mgr_session_cancel(sc->session);
                    sc->watched = false;
                }
            }
        }
        pthread_mutex_unlock(&srv->mu);
    }
}

/* A connection's thread: handshake, then requests until the peer goes. */
static void *
conn_main(void *arg)
{
    srv_conn_t *sc = arg;
    server_t *srv = sc->srv;
    mp_manager_t *m = srv->m;
    mp_conn_t *c = sc->conn;
    mp__mgr_session_t *session = NULL;

    int64_t deadline = mp__now_ns() + MP__MGR_HANDSHAKE_MS * INT64_C(1000000);
    /* Listener.accept's order: deliver the challenge, then answer one. */
    bool authed =
        mp__auth_deliver(c, m->authkey, m->authkey_len, deadline) == 0 &&
        mp__auth_answer(c, m->authkey, m->authkey_len, deadline) == 0;
    pthread_mutex_lock(&srv->mu);
    if (sc->handshaking) {
        sc->handshaking = false; /* out of the handshake either way */
        srv->n_unauth--;
    }
    authed = authed && !sc->evicted;
    pthread_mutex_unlock(&srv->mu);
    if (!authed) {
        goto out; /* unauthenticated (or hung up on): dropped */
    }
    session = mp__mgr_session_new();
    if (session == NULL) {
        goto out;
    }
    sc->session = session;
    sc->same_host = peer_same_host(mp_conn_fileno(c));
    for (;;) {
        void *buf = NULL;
        ssize_t n =
            mp_conn_recv_bytes(c, &buf, srv->max_request, MP_WAIT_FOREVER);
        mp__mgr_rep_t rep = {0};
        bool stop = false;
        if (n == MP_EMSGSIZE || n == MP_ENOMEM) {
            rep.status = (int32_t)n; /* discarded; the stream is intact */
        } else if (n < 0) {
            break; /* the peer went, or the stream broke */
        } else {
            mp__mgr_req_t req;
            if (mp__mgr_req_decode(buf, (size_t)n, &req) != 0) {
                rep.status = MP_EPROTO;
            } else {
                /* Only a request with a timeout can block: watch for a
                 * hang-up meanwhile. */
                bool watch = req.timeout != MP_NO_WAIT;
                if (watch) {
                    watch_set(sc, true);
                }
                handle_request(sc, session, &req, &rep, &stop);
                if (watch) {
                    watch_set(sc, false);
                }
            }
            mp__free(buf);
        }
        int err = send_reply(c, &rep);
        mp__mgr_rep_clear(&rep);
        if (stop) {
            request_stop(srv);
        }
        if (err != 0) {
            break;
        }
    }
out:
    pthread_mutex_lock(&srv->mu);
    sc->session = NULL;
    pthread_mutex_unlock(&srv->mu);
    if (session != NULL) {
        mp__mgr_session_end(srv->st, session);
    }
    pthread_mutex_lock(&srv->mu);
    sc->conn = NULL;
    sc->done = true;
    pthread_mutex_unlock(&srv->mu);
    mp_conn_destroy(c);
    return NULL;
}

/* Joins and frees the threads of connections that ended. */
static void
reap_connections(server_t *srv)
{
    pthread_mutex_lock(&srv->mu);
    srv_conn_t **pp = &srv->conns;
    while (*pp != NULL) {
        srv_conn_t *sc = *pp;
        if (sc->done) {
            *pp = sc->next;
            pthread_mutex_unlock(&srv->mu);
            pthread_join(sc->thread, NULL);
            mp__free(sc);
            pthread_mutex_lock(&srv->mu);
            pp = &srv->conns; /* the list may have changed meanwhile */
        } else {
            pp = &sc->next;
        }
    }
    pthread_mutex_unlock(&srv->mu);
}

/* Hangs up on the connection that has been in the handshake longest (the
 * last such in the newest-first list): its thread's handshake fails at
 * once and the thread ends. Called with srv->mu held. */
static void
evict_oldest_unauth(server_t *srv)
{
    srv_conn_t *oldest = NULL;
    for (srv_conn_t *sc = srv->conns; sc != NULL; sc = sc->next) {
        if (sc->handshaking && sc->conn != NULL) {
            oldest = sc;
        }
    }
    if (oldest == NULL) {
        return;
    }
    oldest->handshaking = false;
    oldest->evicted = true;
    srv->n_unauth--;
    int fd = mp_conn_fileno(oldest->conn);
    if (fd >= 0) {
        (void)mp__plat_shutdown(fd, SHUT_RDWR);
    }
}

/* Starts a thread for accepted connection c (or drops c), first making
 * room in the handshake (MP__MGR_UNAUTH_MAX). */
static void
serve_connection(server_t *srv, mp_conn_t *c)
{
    /* The watcher starts with the first connection: a manager whose
     * clients all map the store never needs it, and the start is quicker
     * without it. */
    if (!srv->watcher_started) {
        if (srv->watch_wake < 0) {
            srv->watch_wake = mp__plat_waker_open();
        }
        if (srv->watch_wake < 0 ||
            pthread_create(&srv->watcher, NULL, watcher_main, srv) != 0) {
            mp_conn_destroy(c);
            return;
        }
        srv->watcher_started = true;
        /* Named, so that tools (and tests) can tell it in /proc. */
        (void)pthread_setname_np(srv->watcher, MP__MGR_WATCHER_NAME);
    }
    srv_conn_t *sc = mp__calloc(1, sizeof *sc);
    /* A client that vanishes without closing (its host crashed, the link
     * was cut) is found by keep-alive, and its references and locks are
     * released as for one that closed. */
    if (sc == NULL || mp__plat_tcp_keepalive(mp_conn_fileno(c)) != 0) {
        mp__free(sc);
        mp_conn_destroy(c);
        return;
    }
    sc->srv = srv;
    sc->conn = c;
    pthread_mutex_lock(&srv->mu);
    if (srv->n_unauth >= MP__MGR_UNAUTH_MAX) {
        evict_oldest_unauth(srv);
    }
    if (pthread_create(&sc->thread, NULL, conn_main, sc) != 0) {
        pthread_mutex_unlock(&srv->mu);
        mp_conn_destroy(c);
        mp__free(sc);
        return;
    }
    sc->handshaking = true;
    srv->n_unauth++;
    sc->next = srv->conns;
    srv->conns = sc;
    pthread_mutex_unlock(&srv->mu);
}

/* Wakes every connection thread blocked on its socket, then joins them
 * all. Threads blocked in a wait notice the closed-down store within
 * 100 ms (mp__mgr_exec's contract). */
static void
end_connections(server_t *srv)
{
    pthread_mutex_lock(&srv->mu);
    for (srv_conn_t *sc = srv->conns; sc != NULL; sc = sc->next) {
        if (sc->conn != NULL) {
            int fd = mp_conn_fileno(sc->conn);
            if (fd >= 0) {
                (void)mp__plat_shutdown(fd, SHUT_RDWR);
            }
        }
    }
    for (srv_conn_t *sc = srv->conns; sc != NULL; sc = sc->next) {
        sc->done = true; /* so that reap_connections joins every one */
    }
    pthread_mutex_unlock(&srv->mu);
    reap_connections(srv);
}

/* The accept loop: runs until a SHUTDOWN wakes it. */
static void
accept_loop(server_t *srv)
{
    /* The stop pipe is readable once the starter wrote its byte (or
     * exited: then this daemon is being killed anyway). */
    struct pollfd pfd[3] = {
        {.fd = mp_listener_fileno(srv->lst), .events = POLLIN},
        {.fd = srv->wake, .events = POLLIN},
        {.fd = srv->m->stop_fd[0], .events = POLLIN}};
    for (;;) {
        /* poll itself, not mp_wait_any: no allocation (a heap page written
         * is a page fault in this new process). */
        if (mp__plat_poll_many(pfd, 3, MP__NO_DEADLINE) < 0) {
            /* Not EINTR (retried at once: SIGTERM has then signalled
             * wake): a real error would repeat: pause instead of
             * spinning. */
            backoff(srv);
            continue;
        }
        if (pfd[1].revents != 0 || pfd[2].revents != 0) {
            return;
        }
        reap_connections(srv);
        mp_conn_t *c = NULL;
        /* The handshake runs in the connection's thread, so a peer that
         * connects and stalls never holds up the others. */
        int err = mp_listener_accept(srv->lst, &c, MP_NO_WAIT);
        if (err == 0) {
            serve_connection(srv, c);
        } else if (err != MP_ETIMEDOUT) {
            /* EMFILE, ENFILE, ENOMEM ...: the peer stays queued and the
             * listener readable, so trying again at once would spin. */
            backoff(srv);
        }
    }
}

/* The accept loop's waker, for the SIGTERM handler (one server per
 * process). */
static volatile sig_atomic_t term_wake_fd = -1;
/* Set by SIGTERM: the starter is exiting (or someone asked for it). */
static volatile sig_atomic_t term_received;

/* SIGTERM (the library's exit handler sends it to daemon children when
 * the starter exits without shutting down): shut down cleanly, so that
 * the socket file and the store's names are removed. */
static void
on_sigterm(int sig)
{
    (void)sig;
    term_received = 1;
    if (term_wake_fd >= 0) {
        mp__plat_waker_signal(term_wake_fd); /* AS-safe, keeps errno */
    }
}

/* Tells the starter how the start went: one write (so one wake-up),
 * from a buffer on the stack for the usual short address (a fresh
 * stack page would cost this new process a page fault). */
static void
report_ready(mp_manager_t *m, int32_t status, const char *address)
{
    size_t alen = status == 0 ? strlen(address) : 0;
    if (alen > MP__MGR_ADDRESS_MAX) {
        alen = 0;
        status = MP_ENAMETOOLONG;
    }
    uint8_t small[8 + 248];
    uint8_t *msg = 8 + alen <= sizeof small ? small : mp__malloc(8 + alen);
    if (msg == NULL) {
        msg = small;
        alen = 0;
        status = MP_ENOMEM;
    }
    uint32_t len32 = (uint32_t)alen;
    memcpy(msg, &status, 4);
    memcpy(msg + 4, &len32, 4);
    memcpy(msg + 8, address != NULL ? address : "", alen);
    (void)mp__plat_write_full(m->ready_fd[1], msg, 8 + alen);
    if (msg != small) {
        mp__free(msg);
    }
    mp__plat_close(m->ready_fd[1]);
    m->ready_fd[1] = -1;
}

/* Runs m's initializer, if any. Returns 0, its known negative mp error,
 * or MP_EREMOTE for any other failure it reports (user_status). */
static int
run_initializer(const mp_manager_t *m)
{
    if (m->initializer == NULL) {
        return 0;
    }
    return user_status(m->initializer(m->initargs, m->initargs_len));
}

/* Sets up what the server needs before it reports ready: the listener,
 * the accept loop's waker and the store's liveness word (the watcher and
 * its waker start with the first connection). Returns 0 or the
 * error to report (what was made is undone by server_teardown). */
static int
server_setup(server_t *srv)
{
    mp_manager_t *m = srv->m;
    const char *where = m->sock_path != NULL ? m->sock_path : m->listen_address;
    /* No authkey on the listener: each connection's thread runs the
     * handshake itself, bounded by MP__MGR_HANDSHAKE_MS, so that a peer
     * that connects and stalls never holds up the accept loop. */
    int err = mp_listener_create(&srv->lst, where, NULL, 0, MP__MGR_BACKLOG);
    if (err != 0) {
        srv->lst = NULL;
        return err;
    }
    srv->wake = mp__plat_waker_open();
    if (srv->wake < 0) {
        return srv->wake;
    }
    term_wake_fd = srv->wake;
    mp__plat_signal_set(SIGTERM, on_sigterm);
    mp__store_set_user_destroy(srv->st, user_destroy_hook, srv);
    return mp__store_serve(srv->st);
}

/* Stops the watcher, ends every connection and frees what setup made. */
static void
server_teardown(server_t *srv)
{
    /* Removes the socket file too. The private directory is the
     * starter's process's, shared by its managers: after SIGTERM (sent
     * to daemons when a starter exits, which may be through _exit) it
     * goes once empty; the starter makes it again if it starts more. */
    mp_listener_destroy(srv->lst);
    if (term_received && srv->m->sock_path != NULL) {
        char *slash = strrchr(srv->m->sock_path, '/');
        if (slash != NULL) {
            *slash = '\0';
            /* fails while not empty */
            (void)mp__plat_rmdir(srv->m->sock_path);
            *slash = '/';
        }
    }
    mp__plat_signal_set(SIGTERM, SIG_DFL);
    term_wake_fd = -1;
    if (srv->watcher_started) {
        pthread_mutex_lock(&srv->mu);
        srv->stopping = true;
        pthread_mutex_unlock(&srv->mu);
        watch_poke(srv);
        backoff_stop(srv);
        pthread_join(srv->watcher, NULL);
    }
    end_connections(srv);
    users_free_all(srv);
    mp__plat_waker_close(srv->wake);
    mp__plat_waker_close(srv->watch_wake);
    pthread_mutex_destroy(&srv->mu);
    pthread_mutex_destroy(&srv->users_mu);
}

int
mp__mgr_server_main(void *arg)
{
    mp_manager_t *m = arg;
    server_t srv = {.m = m, .st = m->srv_store, .wake = -1, .watch_wake = -1};
    mp__plat_close(m->ready_fd[0]);
    m->ready_fd[0] = -1;
    mp__plat_close(m->stop_fd[1]);
    m->stop_fd[1] = -1;
    /* Python's manager server ignores SIGINT: ^C in a terminal reaches
     * the whole foreground group, and the server must outlive its users'
     * handlers so that they can still shut it down cleanly. */
    mp__plat_signal_set(SIGINT, SIG_IGN);
    pthread_mutex_init(&srv.mu, NULL);
    pthread_mutex_init(&srv.users_mu, NULL);
    mp__mgr_segments_init(&srv.segments);
    srv.max_request = m->store_size + MP__MGR_REQ_HDR;

    /* Python's BaseManager runs the initializer before it serves. */
    int err = m->boot_err != 0 ? m->boot_err : run_initializer(m);
    if (err != 0) {
        report_ready(m, err, NULL);
        pthread_mutex_destroy(&srv.mu);
        pthread_mutex_destroy(&srv.users_mu);
        mp__mgr_segments_free(&srv.segments);
        return 1;
    }
    err = server_setup(&srv);
    if (err != 0) {
        /* The starter removes the store. */
        report_ready(m, err, NULL);
        server_teardown(&srv);
        mp__mgr_segments_free(&srv.segments);
        return 1;
    }
    report_ready(m, 0, mp_listener_address(srv.lst));

    accept_loop(&srv);

    /* Shutdown: no new clients, every proxy sees MP_ENOSERVER (blocked
     * waits within 100 ms), then the connections end and the store's
     * names go. */
    mp__store_close_down(srv.st);
    server_teardown(&srv);
    /* SharedMemoryManager: every block made through us goes now. */
    mp__mgr_segments_free(&srv.segments);
    /* The process exits next: its exit unmaps the store (an explicit
     * unmap first would only add work on the way to the exit, which the
     * starter waits for). The store's names: a starter that stopped us
     * removes them once we are gone (it does so after a kill anyway);
     * after SIGTERM the starter may be exiting, so the server does. */
    if (term_received) {
        mp__store_remove_names(srv.st);
    }
    return 0;
}
