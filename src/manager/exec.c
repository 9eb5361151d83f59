/* SPDX-License-Identifier: MIT */
/* exec.c - mp__mgr_exec: runs one request against the store, the same code
 * for a proxy's fast path and for the server. It checks the request, then
 * hands it to the kind's file (dict.c, list.c, values.c; objects.c for
 * CREATE and DECREF) or runs a sync object's or queue's op on this
 * process's handles of it (objects.c makes them), keeping the session's
 * record (session.c); and mp__mgr_session_end, which releases what a
 * session's client held when its connection ends.
 *
 * Every request is treated as hostile (it may come from the network): the
 * id must name a live object of a kind the op serves, numbers must be in
 * range, byte arguments of the right size. Blocking ops wait in slices of
 * at most 100 ms and check the server's liveness between them. */
#include "store_internal.h"

#include <limits.h>
#include <string.h>

#define KIND(k) (1u << (k))
#define KINDS_LOCK (KIND(MP_PROXY_LOCK) | KIND(MP_PROXY_RLOCK))
#define KINDS_SEM (KIND(MP_PROXY_SEMAPHORE) | KIND(MP_PROXY_BOUNDED_SEMAPHORE))
#define KINDS_DICT (KIND(MP_PROXY_DICT) | KIND(MP_PROXY_NAMESPACE))
#define KINDS_QUEUE (KIND(MP_PROXY_QUEUE) | KIND(MP_PROXY_JOINABLE_QUEUE))
#define KINDS_ALL 0xfffeu /* every kind but user types */
#define SLICE_MS 100

/* One op in progress. */
typedef struct exec_ctx {
    mp__store_t *st;
    const mp__mgr_req_t *req;
    mp__mgr_rep_t *rep;
    uint32_t kind;
    uint64_t state;
    mp__store_local_t *loc;
    mp__mgr_session_t *session;
} exec_ctx_t;

static uint32_t kinds_of_op(uint16_t op);
static bool op_blocks(uint16_t op);
static int exec_sync(exec_ctx_t *c);
static int exec_sliced(exec_ctx_t *c);
static int check_alive(void *arg);

int
mp__mgr_exec(mp__store_t *st, mp__mgr_session_t *session,
             const mp__mgr_req_t *req, mp__mgr_rep_t *rep)
{
    if (rep == NULL) {
        return MP_EINVAL;
    }
    memset(rep, 0, sizeof *rep);
    if (st == NULL || req == NULL) {
        return rep->status = MP_EINVAL;
    }
    int r = mp__store_alive(st);
    if (r != 0) {
        return rep->status = r;
    }
    if (req->op == MP__OP_CREATE) {
        /* Room first, so that a new object never lacks its record. */
        r = session != NULL ? mp__mgr_session_ref_room(session) : 0;
        if (r == 0) {
            r = mp__obj_create(st, req, rep);
        }
        if (r == 0 && session != NULL) {
            mp__mgr_session_ref_note(session, (uint32_t)rep->num, rep->gen);
        }
        return rep->status = r;
    }
    uint32_t allowed = kinds_of_op(req->op);
    if (allowed == 0) {
        return rep->status = MP_EINVAL; /* unknown or server-level op */
    }
    if (req->timeout < 0 && req->timeout != MP_WAIT_FOREVER) {
        return rep->status = MP_EINVAL;
    }
    mp__store_entry_t *e = mp__store_entry(st, req->index, req->gen, &r);
    if (e == NULL) {
        return rep->status = r;
    }
    exec_ctx_t c = {.st = st, .req = req, .rep = rep, .session = session};
    c.kind = atomic_load(&e->kind);
    c.state = atomic_load(&e->state);
    if (req->op == MP__OP_DECREF) {
        /* A client drops only a reference it holds. */
        r = session != NULL
                ? mp__mgr_session_ref_drop(session, req->index, req->gen)
                : 0;
        return rep->status =
                   r != 0 ? r : mp__obj_decref(st, req->index, req->gen);
    }
    if (c.kind >= 32 || !(allowed & KIND(c.kind))) {
        return rep->status = MP_EKIND;
    }
    switch (req->op) {
    case MP__OP_INCREF:
        r = session != NULL ? mp__mgr_session_ref_room(session) : 0;
        if (r == 0) {
            r = mp__store_obj_ref(st, req->index, req->gen);
        }
        if (r == 0 && session != NULL) {
            mp__mgr_session_ref_note(session, req->index, req->gen);
        }
        break;
    case MP__OP_DESCRIBE:
        rep->num = c.kind;
        break;
    default:
        if (req->op >= MP__OP_DICT_SET && req->op <= MP__OP_DICT_ITEMS) {
            r = mp__dict_exec(st, c.state, req, rep);
        } else if (req->op >= MP__OP_LIST_LEN && req->op <= MP__OP_LIST_CLEAR) {
            r = mp__list_exec(st, c.state, req, rep);
        } else if (req->op >= MP__OP_VALUE_GET && req->op <= MP__OP_ARRAY_LEN) {
            r = mp__values_exec(st, c.state, c.kind, req, rep);
        } else {
            r = mp__obj_local_of(st, req->index, req->gen, c.kind, c.state,
                                 &c.loc);
            if (r == 0) {
                r = op_blocks(req->op) ? exec_sliced(&c) : exec_sync(&c);
            }
        }
        break;
    }
    if (session != NULL && (r == 0 || r == MP_EOWNERDEAD)) {
        if (req->op == MP__OP_ACQUIRE) {
            mp__mgr_session_hold_note(session, req->index, req->gen, 1);
        } else if (req->op == MP__OP_RELEASE) {
            mp__mgr_session_hold_note(session, req->index, req->gen, -1);
        }
    }
    if (r != 0 && r != MP_EOWNERDEAD) {
        mp__mgr_rep_clear(rep);
    }
    return rep->status = r;
}

/*--- sync objects and queues ------------------------------------------------*/

/* Runs a non-blocking op on a sync object or queue. */
static int
exec_sync(exec_ctx_t *c)
{
    void *h = c->loc->handle;
    mp__mgr_rep_t *rep = c->rep;
    int r;
    switch (c->req->op) {
    case MP__OP_RELEASE:
        if (c->kind == MP_PROXY_LOCK || c->kind == MP_PROXY_RLOCK) {
            return mp_lock_release(h);
        }
        if (c->kind == MP_PROXY_CONDITION) {
            return mp_condition_release(h);
        }
        return mp_semaphore_release(h);
    case MP__OP_NOTIFY:
        if (c->req->num[0] < 0) {
            return MP_EINVAL;
        }
        return mp_condition_notify(
            h, c->req->num[0] > UINT_MAX ? UINT_MAX : (unsigned)c->req->num[0]);
    case MP__OP_NOTIFY_ALL:
        return mp_condition_notify_all(h);
    case MP__OP_EV_SET:
        return mp_event_set(h);
    case MP__OP_EV_CLEAR:
        return mp_event_clear(h);
    case MP__OP_EV_IS_SET:
        r = mp_event_is_set(h);
        rep->num = r;
        return r < 0 ? r : 0;
    case MP__OP_BAR_ABORT:
        return mp_barrier_abort(h);
    case MP__OP_BAR_RESET:
        return mp_barrier_reset(h);
    case MP__OP_BAR_INFO:
        rep->num = (int64_t)((uint64_t)mp_barrier_parties(h) |
                             (uint64_t)mp_barrier_n_waiting(h) << 16 |
                             (uint64_t)mp_barrier_broken(h) << 32);
        return 0;
    case MP__OP_Q_QSIZE: {
        long n = mp_queue_qsize(h);
        rep->num = n;
        return n < 0 ? (int)n : 0;
    }
    case MP__OP_Q_TASK_DONE:
        return c->kind == MP_PROXY_JOINABLE_QUEUE ? mp_queue_task_done(h)
                                                  : MP_EKIND;
    default:
        return MP_EINVAL;
    }
}

/* One attempt of a blocking op, waiting at most slice. Returns its result
 * (a time-out is MP_ETIMEDOUT, MP_EEMPTY or MP_EFULL). */
static int
attempt(exec_ctx_t *c, mp_duration_t slice)
{
    void *h = c->loc->handle;
    const mp__mgr_req_t *req = c->req;
    int r;
    switch (req->op) {
    case MP__OP_ACQUIRE:
        if (c->kind == MP_PROXY_SEMAPHORE ||
            c->kind == MP_PROXY_BOUNDED_SEMAPHORE) {
            return mp_semaphore_acquire(h, slice);
        }
        mp_lock_t *lock = c->kind == MP_PROXY_CONDITION ? c->loc->lock : h;
        r = mp_lock_acquire(lock, slice);
        if (r == MP_EOWNERDEAD) {
            /* Reported once; the next holder gets a clean lock. */
            (void)mp_lock_consistent(lock);
        }
        return r;
    case MP__OP_WAIT: /* a condition (exec_sliced runs the others) */
        r = mp_condition_wait(h, slice);
        if (r == MP_EOWNERDEAD) {
            (void)mp_lock_consistent(c->loc->lock);
        }
        return r;
    case MP__OP_Q_PUT:
        if (req->arg[0].len > 0 && req->arg[0].ptr == NULL) {
            return MP_EINVAL;
        }
        return mp_queue_put(h, req->arg[0].ptr, req->arg[0].len, slice);
    case MP__OP_Q_GET: {
        void *out = NULL;
        ssize_t n = mp_queue_get(h, &out, slice);
        if (n < 0) {
            return (int)n;
        }
        c->rep->data = out;
        c->rep->len = (size_t)n;
        c->rep->num = n;
        return 0;
    }
    case MP__OP_Q_JOIN:
        return c->kind == MP_PROXY_JOINABLE_QUEUE ? mp_queue_join(h, slice)
                                                  : MP_EKIND;
    default:
        return MP_EINVAL;
    }
}

/* Runs a blocking op in slices of at most SLICE_MS, checking the server
 * between them, until it succeeds, fails or the request's timeout ends. */
static int
exec_sliced(exec_ctx_t *c)
{
    mp_duration_t timeout = c->req->timeout;
    if (c->req->op == MP__OP_WAIT && c->kind == MP_PROXY_BARRIER) {
        int r =
            mp__barrier_wait_checked(c->loc->handle, timeout, check_alive, c);
        if (r >= 0) {
            c->rep->num = r;
            r = 0;
        }
        return r;
    }
    if (c->req->op == MP__OP_WAIT && c->kind == MP_PROXY_EVENT) {
        /* One wait across the slices, so that a set() undone by a
         * clear() between two of them still wakes it (Python's rule). */
        return mp__event_wait_checked(c->loc->handle, timeout, check_alive, c);
    }
    int64_t deadline;
    int err = mp__deadline(timeout, &deadline);
    if (err != 0) {
        return err; /* a peer's request may carry any number */
    }
    for (;;) {
        int64_t left_ms = SLICE_MS;
        if (deadline != MP__NO_DEADLINE) {
            int64_t left_ns = deadline - mp__now_ns();
            left_ms = left_ns <= 0 ? 0 : (left_ns + 999999) / 1000000;
            left_ms = left_ms > SLICE_MS ? SLICE_MS : left_ms;
        }
        int r = attempt(c, left_ms);
        bool timed_out = r == MP_ETIMEDOUT || r == MP_EEMPTY || r == MP_EFULL;
        if (!timed_out || left_ms == 0 ||
            (deadline != MP__NO_DEADLINE && mp__now_ns() >= deadline)) {
            return r;
        }
        int alive = check_alive(c);
        if (alive != 0) {
            return alive;
        }
    }
}

/* The liveness check of a blocking op (arg: its exec_ctx_t): the server,
 * and the client of its session. */
static int
check_alive(void *arg)
{
    exec_ctx_t *c = arg;
    if (mp__mgr_session_cancelled(c->session)) {
        return MP_ENOSERVER;
    }
    return mp__store_alive(c->st);
}

/*--- the end of a session: what it held is released -----------------------*/

void
mp__mgr_session_end(mp__store_t *st, mp__mgr_session_t *s)
{
    if (s == NULL) {
        return;
    }
    uint32_t index, gen;
    int64_t held;
    for (size_t i = 0;
         st != NULL && mp__mgr_session_hold_at(s, i, &index, &gen, &held);
         i++) {
        mp__mgr_req_t req = {.op = MP__OP_RELEASE, .index = index, .gen = gen};
        /* A Lock is held once however often it was counted; the others
         * count levels or units. */
        int kind = mp__store_kind(st, index, gen);
        int64_t n = kind == MP_PROXY_LOCK && held > 0 ? 1 : held;
        for (int64_t k = 0; k < n; k++) {
            mp__mgr_rep_t rep;
            if (mp__mgr_exec(st, NULL, &req, &rep) != 0) {
                mp__mgr_rep_clear(&rep);
                break;
            }
        }
    }
    /* Then the references (a lock must live until it is released); a
     * store already shut down frees nothing more. */
    bool stop = st == NULL;
    uint64_t count;
    for (size_t i = 0;
         !stop && mp__mgr_session_ref_at(s, i, &index, &gen, &count); i++) {
        mp__mgr_req_t req = {.op = MP__OP_DECREF, .index = index, .gen = gen};
        for (uint64_t k = 0; k < count && !stop; k++) {
            mp__mgr_rep_t rep;
            stop = mp__mgr_exec(st, NULL, &req, &rep) == MP_ENOSERVER;
            mp__mgr_rep_clear(&rep);
        }
    }
    mp__mgr_session_free(s);
}

/*--- which op serves which kinds ------------------------------------------*/

static uint32_t
kinds_of_op(uint16_t op)
{
    if (op >= MP__OP_DICT_SET && op <= MP__OP_DICT_ITEMS) {
        return KINDS_DICT;
    }
    if (op >= MP__OP_LIST_LEN && op <= MP__OP_LIST_CLEAR) {
        return KIND(MP_PROXY_LIST);
    }
    if (op >= MP__OP_VALUE_GET && op <= MP__OP_ARRAY_LEN) {
        return KIND(MP_PROXY_VALUE) | KIND(MP_PROXY_ARRAY);
    }
    switch (op) {
    case MP__OP_INCREF:
    case MP__OP_DECREF:
    case MP__OP_DESCRIBE:
        return KINDS_ALL | KIND(MP_PROXY_USER);
    case MP__OP_Q_PUT:
    case MP__OP_Q_GET:
    case MP__OP_Q_QSIZE:
    case MP__OP_Q_TASK_DONE:
    case MP__OP_Q_JOIN:
        return KINDS_QUEUE;
    case MP__OP_ACQUIRE:
    case MP__OP_RELEASE:
        return KINDS_LOCK | KINDS_SEM | KIND(MP_PROXY_CONDITION);
    case MP__OP_WAIT:
        return KIND(MP_PROXY_EVENT) | KIND(MP_PROXY_CONDITION) |
               KIND(MP_PROXY_BARRIER);
    case MP__OP_NOTIFY:
    case MP__OP_NOTIFY_ALL:
        return KIND(MP_PROXY_CONDITION);
    case MP__OP_EV_SET:
    case MP__OP_EV_CLEAR:
    case MP__OP_EV_IS_SET:
        return KIND(MP_PROXY_EVENT);
    case MP__OP_BAR_ABORT:
    case MP__OP_BAR_RESET:
    case MP__OP_BAR_INFO:
        return KIND(MP_PROXY_BARRIER);
    default:
        return 0;
    }
}

static bool
op_blocks(uint16_t op)
{
    return op == MP__OP_ACQUIRE || op == MP__OP_WAIT || op == MP__OP_Q_PUT ||
           op == MP__OP_Q_GET || op == MP__OP_Q_JOIN;
}
