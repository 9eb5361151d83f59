/* SPDX-License-Identifier: MIT */
/* client.c - the client side of a manager's wire: this process's pool of
 * connections to the server (one per concurrent call, made lazily, never
 * shared with a forked child), the one references connection that carries
 * this process's CREATE, INCREF and DECREF (the server counts references
 * per connection), one request/reply exchange, and mp__mgr_call, which
 * picks the connection and the deadline of a call.
 *
 * A connection whose stream may be out of step (a reply that came late or
 * not at all, a malformed one) is closed, never reused; the references
 * connection waits without deadline, since dropping it would drop every
 * reference it holds. */
#include "server_internal.h"

#include "../platform/platform.h"

#include <string.h>

void
mp__mgr_pool_clear(mp_manager_t *m)
{
    pthread_mutex_lock(&m->ref_mu);
    mp_conn_t *rc = m->ref_conn;
    m->ref_conn = NULL;
    pthread_mutex_unlock(&m->ref_mu);
    mp_conn_destroy(rc);
    pthread_mutex_lock(&m->pool_mu);
    mp__mgr_conn_t *pc = m->conns;
    m->conns = NULL;
    pthread_mutex_unlock(&m->pool_mu);
    while (pc != NULL) {
        mp__mgr_conn_t *next = pc->next;
        mp_conn_destroy(pc->conn);
        mp__free(pc);
        pc = next;
    }
}

/* Adds c to the pool as busy (the caller uses it). Returns the entry, or
 * NULL (ENOMEM: c is destroyed). */
static mp__mgr_conn_t *
pool_add_busy(mp_manager_t *m, mp_conn_t *c)
{
    mp__mgr_conn_t *pc = mp__calloc(1, sizeof *pc);
    if (pc == NULL) {
        mp_conn_destroy(c);
        return NULL;
    }
    pc->conn = c;
    pc->busy = true;
    pthread_mutex_lock(&m->pool_mu);
    pc->next = m->conns;
    m->conns = pc;
    pthread_mutex_unlock(&m->pool_mu);
    return pc;
}

/* Maps an error of connecting to, or talking with, the server to what a
 * call reports: resource shortages as they are, the rest MP_ENOSERVER. */
static int
transport_error(int err)
{
    switch (err) {
    case MP_ENOMEM:
    case MP_EMFILE:
    case MP_ENFILE:
        return err;
    default:
        return MP_ENOSERVER;
    }
}

int
mp__mgr_connect_server(const mp_manager_t *m, const char *address,
                       mp_duration_t timeout, mp_conn_t **out)
{
    mp_conn_t *c;
    int err =
        mp_client_connect(&c, address, m->authkey, m->authkey_len, timeout);
    if (err != 0) {
        return err;
    }
    err = mp__plat_tcp_keepalive(mp_conn_fileno(c));
    if (err != 0) {
        mp_conn_destroy(c);
        return err;
    }
    *out = c;
    return 0;
}

/* Takes an idle connection of this process, or opens a new one, by
 * deadline (a new connection's handshake takes at most
 * MP__MGR_HANDSHAKE_MS, also without a deadline). Returns 0 with *out set,
 * or an error for the caller. */
static int
pool_take(mp_manager_t *m, int64_t deadline, mp__mgr_conn_t **out)
{
    pthread_mutex_lock(&m->pool_mu);
    for (mp__mgr_conn_t *pc = m->conns; pc != NULL; pc = pc->next) {
        if (!pc->busy) {
            pc->busy = true;
            pthread_mutex_unlock(&m->pool_mu);
            *out = pc;
            return 0;
        }
    }
    pthread_mutex_unlock(&m->pool_mu);
    mp_conn_t *c;
    int64_t handshake_deadline =
        mp__deadline_after_ns(MP__MGR_HANDSHAKE_MS * INT64_C(1000000));
    int err = mp__mgr_connect_server(
        m, m->address,
        mp__remaining_ms(deadline < handshake_deadline ? deadline
                                                       : handshake_deadline),
        &c);
    if (err != 0) {
        return err == MP_ETIMEDOUT && deadline <= handshake_deadline
                   ? MP_ETIMEDOUT
                   : transport_error(err);
    }
    *out = pool_add_busy(m, c);
    return *out != NULL ? 0 : MP_ENOMEM;
}

/* Gives pc back: idle again when keep, else closed and removed. */
static void
pool_give(mp_manager_t *m, mp__mgr_conn_t *pc, bool keep)
{
    pthread_mutex_lock(&m->pool_mu);
    if (keep) {
        pc->busy = false;
        pthread_mutex_unlock(&m->pool_mu);
        return;
    }
    for (mp__mgr_conn_t **pp = &m->conns; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == pc) {
            *pp = pc->next;
            break;
        }
    }
    pthread_mutex_unlock(&m->pool_mu);
    mp_conn_destroy(pc->conn);
    mp__free(pc);
}

void
mp__mgr_pool_adopt(mp_manager_t *m, mp_conn_t *c)
{
    mp__mgr_conn_t *pc = pool_add_busy(m, c);
    if (pc != NULL) {
        pool_give(m, pc, true);
    }
}

void
mp__mgr_pool_forget(mp_manager_t *m)
{
    mp__mgr_conn_t *pc = m->conns;
    while (pc != NULL) {
        mp__mgr_conn_t *next = pc->next;
        mp_conn_destroy(pc->conn);
        mp__free(pc);
        pc = next;
    }
    m->conns = NULL;
    if (m->ref_conn != NULL) {
        mp_conn_destroy(m->ref_conn);
        m->ref_conn = NULL;
    }
}

int
mp__mgr_exchange(mp_conn_t *c, const mp__mgr_req_t *req, mp__mgr_rep_t *rep,
                 mp_duration_t timeout, bool *keep)
{
    void *buf;
    size_t len;
    *keep = true;
    int err = mp__mgr_req_encode(req, &buf, &len);
    if (err != 0) {
        return err;
    }
    *keep = false;
    err = mp_conn_send_bytes(c, buf, len, MP_WAIT_FOREVER);
    mp__free(buf);
    if (err != 0) {
        return err;
    }
    void *in;
    ssize_t n = mp_conn_recv_bytes(c, &in, 0, timeout);
    if (n < 0) {
        return (int)n;
    }
    err = mp__mgr_rep_decode(in, (size_t)n, rep);
    mp__free(in);
    *keep = err != MP_EPROTO;
    return err;
}

/* Whether op changes the references this process holds in the server. */
static bool
op_refs(uint16_t op)
{
    return op == MP__OP_CREATE || op == MP__OP_INCREF || op == MP__OP_DECREF;
}

/* Runs a CREATE, INCREF or DECREF over the references connection (made
 * here when there is none), one at a time. None of them blocks in the
 * server. Returns 0 or the error that left the connection unusable (then
 * it is closed, and with it go the references it held). */
static int
ref_exchange(mp_manager_t *m, const mp__mgr_req_t *req, mp__mgr_rep_t *rep)
{
    pthread_mutex_lock(&m->ref_mu);
    int err = 0;
    if (m->ref_conn == NULL) {
        err = mp__mgr_connect_server(m, m->address, MP__MGR_HANDSHAKE_MS,
                                     &m->ref_conn);
        if (err != 0) {
            m->ref_conn = NULL;
        }
    }
    if (err == 0) {
        bool keep;
        /* No deadline: giving up would drop the connection and with it
         * every reference it holds. A dead or cut-off server still ends the
         * wait (end of stream, or keep-alive on TCP). */
        err = mp__mgr_exchange(m->ref_conn, req, rep, MP_WAIT_FOREVER, &keep);
        if (!keep) {
            mp_conn_destroy(m->ref_conn);
            m->ref_conn = NULL;
        }
    }
    pthread_mutex_unlock(&m->ref_mu);
    return err;
}

/* The deadline by which req's reply must have come: a timed operation may
 * wait its own timeout on the server, plus MP__MGR_REPLY_GRACE_MS for the
 * reply to travel; any other call waits the manager's call_timeout. Either
 * may be forever: a dead server still ends the wait (end of stream on
 * AF_UNIX, TCP keep-alive within MP__PLAT_KEEPALIVE_MS on a silent link). */
static int64_t
reply_deadline(const mp_manager_t *m, const mp__mgr_req_t *req)
{
    if (!req->timed) {
        int64_t deadline;
        (void)mp__deadline(m->call_timeout, &deadline); /* checked at create */
        return deadline;
    }
    if (req->timeout == MP_WAIT_FOREVER) {
        return MP__NO_DEADLINE;
    }
    int64_t grace_ns = MP__MGR_REPLY_GRACE_MS * INT64_C(1000000);
    int64_t timeout_ns = req->timeout > (INT64_MAX - grace_ns) / 1000000
                             ? INT64_MAX - grace_ns
                             : req->timeout * INT64_C(1000000);
    return mp__deadline_after_ns(timeout_ns + grace_ns);
}

int
mp__mgr_call(mp_manager_t *m, const mp__mgr_req_t *req, mp__mgr_rep_t *rep)
{
    if (rep == NULL) {
        return MP_EINVAL;
    }
    memset(rep, 0, sizeof *rep);
    if (m == NULL || req == NULL) {
        return rep->status = MP_EINVAL;
    }
    if (m->role == MP__MGR_NEW) {
        return rep->status = MP_ENOTSTARTED;
    }
    if (atomic_load(&m->shut)) {
        return rep->status = MP_ENOSERVER;
    }
    int err;
    if (op_refs(req->op)) {
        err = ref_exchange(m, req, rep);
    } else {
        int64_t deadline = reply_deadline(m, req);
        mp__mgr_conn_t *pc;
        err = pool_take(m, deadline, &pc);
        if (err != 0) {
            return rep->status = err;
        }
        bool keep;
        err = mp__mgr_exchange(pc->conn, req, rep, mp__remaining_ms(deadline),
                               &keep);
        /* A reply that did not come in time may still come: the stream is
         * out of step, so the connection is dropped (keep is false then). */
        pool_give(m, pc, keep);
    }
    if (err != 0) {
        memset(rep, 0, sizeof *rep);
        rep->status = err == MP_EPROTO || err == MP_ETIMEDOUT
                          ? err
                          : transport_error(err);
    }
    return rep->status;
}
