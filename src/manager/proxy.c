/* SPDX-License-Identifier: MIT */
/* proxy.c - the public face of managed objects: the proxy handle and the
 * plumbing every call shares (mp__mgr_invoke, the request helpers of
 * proxy_internal.h), the factories (mp_manager_dict ...), tokens, and the
 * mp_proxy_* calls of queues, sync objects, Values and Arrays and user
 * types (the dict, Namespace and list calls are collections.c's). Each
 * call checks its arguments and the proxy's kind here, builds one
 * request, and hands it to mp__mgr_invoke, which runs it on the mapped
 * store (fast path) or in the server. */
#include "proxy_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* The longest user typeid / method name (public contract). */
#define USER_NAME_MAX 63u

static const char TOKEN_PREFIX[] = "mp-proxy:1:";

/*--- plumbing ---------------------------------------------------------------*/

static bool
server_only_op(uint16_t op)
{
    switch (op) {
    case MP__OP_HELLO:
    case MP__OP_CREATE:
    case MP__OP_INCREF:
    case MP__OP_DECREF:
    case MP__OP_SHUTDOWN:
    case MP__OP_USER_CALL:
    case MP__OP_SHM_CREATE:
        return true;
    default:
        return false;
    }
}

int
mp__mgr_invoke(mp_manager_t *m, const mp__mgr_req_t *req, mp__mgr_rep_t *rep,
               bool user_kind)
{
    memset(rep, 0, sizeof(*rep));
    if (!user_kind && !server_only_op(req->op)) {
        mp__store_t *st = mp__mgr_store(m);
        if (st != NULL) {
            return mp__mgr_exec(st, NULL, req, rep);
        }
    }
    return mp__mgr_call(m, req, rep);
}

/* A timeout argument as the public contract allows it. */
static bool
timeout_ok(mp_duration_t timeout)
{
    return timeout >= 0 || timeout == MP_WAIT_FOREVER;
}

/* Starts a request for an op on proxy p, checking that p is one of the
 * kinds in mask. Returns 0, MP_EINVAL or MP_EKIND. */
int
mp__proxy_begin(mp_proxy_t *p, unsigned mask, uint16_t op, mp__mgr_req_t *req)
{
    if (p == NULL) {
        return MP_EINVAL;
    }
    if ((mask & KIND(p->kind)) == 0) {
        return MP_EKIND;
    }
    memset(req, 0, sizeof(*req));
    req->op = op;
    req->index = p->index;
    req->gen = p->gen;
    return 0;
}

/* Runs req for p; the reply's data is freed. Returns the status. */
int
mp__proxy_run(mp_proxy_t *p, const mp__mgr_req_t *req, mp__mgr_rep_t *rep)
{
    int r = mp__mgr_invoke(p->m, req, rep, p->kind == MP_PROXY_USER);
    if (r != 0) {
        mp__mgr_rep_clear(rep);
    }
    return r;
}

/* Runs req and returns the reply's number (or the error). */
int64_t
mp__proxy_run_num(mp_proxy_t *p, const mp__mgr_req_t *req)
{
    mp__mgr_rep_t rep;
    int r = mp__proxy_run(p, req, &rep);
    int64_t num = rep.num;
    mp__mgr_rep_clear(&rep);
    return r != 0 ? r : num;
}

/* Runs req and hands the reply's bytes to *out (never NULL on success:
 * an empty value is a 1-byte allocation). Returns the length or error. */
ssize_t
mp__proxy_run_bytes(mp_proxy_t *p, const mp__mgr_req_t *req, void **out)
{
    mp__mgr_rep_t rep;
    int r = mp__proxy_run(p, req, &rep);
    if (r != 0) {
        return r;
    }
    if (rep.data == NULL) {
        rep.data = mp__malloc(1);
        if (rep.data == NULL) {
            return MP_ENOMEM;
        }
        rep.len = 0;
    }
    *out = rep.data;
    return (ssize_t)rep.len;
}

/* Runs req and copies exactly want bytes of its reply into dst. */
static int
run_copy(mp_proxy_t *p, const mp__mgr_req_t *req, void *dst, size_t want)
{
    mp__mgr_rep_t rep;
    int r = mp__proxy_run(p, req, &rep);
    if (r == 0) {
        if (rep.len != want || (want > 0 && rep.data == NULL)) {
            r = MP_EPROTO;
        } else {
            memcpy(dst, rep.data, want);
        }
    }
    mp__mgr_rep_clear(&rep);
    return r;
}

/* Runs req whose reply is a packed list of rep.num buffers, and hands it
 * out as one allocation of mp_buf_t. */
int
mp__proxy_run_snapshot(mp_proxy_t *p, const mp__mgr_req_t *req, mp_buf_t **out,
                       size_t *n)
{
    mp__mgr_rep_t rep;
    int r = mp__proxy_run(p, req, &rep);
    if (r == 0) {
        if (rep.num < 0) {
            r = MP_EPROTO;
        } else {
            r = mp__mgr_unpack(rep.data, rep.len, (size_t)rep.num, out);
            if (r == 0) {
                *n = (size_t)rep.num;
            }
        }
    }
    mp__mgr_rep_clear(&rep);
    return r;
}

/* A request with no argument whose reply is a number, for proxies of the
 * kinds in mask. */
int64_t
mp__proxy_simple_num(mp_proxy_t *p, unsigned mask, uint16_t op)
{
    mp__mgr_req_t req;
    int r = mp__proxy_begin(p, mask, op, &req);
    return r != 0 ? r : mp__proxy_run_num(p, &req);
}

/* The same for calls whose success is just 0. */
int
mp__proxy_simple(mp_proxy_t *p, unsigned mask, uint16_t op)
{
    int64_t r = mp__proxy_simple_num(p, mask, op);
    return r > 0 ? 0 : (int)r;
}

/*--- factories --------------------------------------------------------------*/

static int
proxy_new(mp_proxy_t **out, mp_manager_t *m, int kind, int type, uint32_t index,
          uint32_t gen)
{
    mp_proxy_t *p = mp__calloc(1, sizeof(*p));
    if (p == NULL) {
        return MP_ENOMEM;
    }
    p->m = m;
    p->kind = kind;
    p->type = type;
    p->index = index;
    p->gen = gen;
    p->holds_ref = mp__getpid();
    *out = p;
    return 0;
}

/* Drops the server's reference for an object whose proxy could not be
 * made (best effort: the server may be gone). */
static void
drop_ref(mp_manager_t *m, uint32_t index, uint32_t gen, int kind)
{
    mp__mgr_req_t req = {.op = MP__OP_DECREF, .index = index, .gen = gen};
    mp__mgr_rep_t rep;
    mp__mgr_invoke(m, &req, &rep, kind == MP_PROXY_USER);
    mp__mgr_rep_clear(&rep);
}

/* Sends a CREATE request filled in by the caller (op, num[], arg[0]) and
 * wraps the new object. */
static int
create_object(mp_manager_t *m, int kind, mp__mgr_req_t *req, mp_proxy_t **out)
{
    if (m == NULL || out == NULL) {
        return MP_EINVAL;
    }
    req->op = MP__OP_CREATE;
    req->num[0] = kind;
    mp__mgr_rep_t rep;
    int r = mp__mgr_invoke(m, req, &rep, kind == MP_PROXY_USER);
    uint32_t index = (uint32_t)rep.num, gen = rep.gen;
    mp__mgr_rep_clear(&rep);
    if (r != 0) {
        return r;
    }
    if (rep.num < 0 || rep.num > UINT32_MAX) {
        return MP_EPROTO;
    }
    int type =
        kind == MP_PROXY_VALUE || kind == MP_PROXY_ARRAY ? (int)req->num[1] : 0;
    r = proxy_new(out, m, kind, type, index, gen);
    if (r != 0) {
        drop_ref(m, index, gen, kind);
    }
    return r;
}

static int
create_plain(mp_manager_t *m, int kind, int64_t param, mp_proxy_t **out)
{
    mp__mgr_req_t req = {.num = {0, param, 0}};
    return create_object(m, kind, &req, out);
}

int
mp_manager_dict(mp_manager_t *m, mp_proxy_t **out)
{
    return create_plain(m, MP_PROXY_DICT, 0, out);
}

int
mp_manager_list(mp_manager_t *m, mp_proxy_t **out)
{
    return create_plain(m, MP_PROXY_LIST, 0, out);
}

int
mp_manager_namespace(mp_manager_t *m, mp_proxy_t **out)
{
    return create_plain(m, MP_PROXY_NAMESPACE, 0, out);
}

/* A queue's maxsize as the request carries it (an int64; 0: unbounded). */
static int64_t
clamp_maxsize(size_t maxsize)
{
    return maxsize > INT64_MAX ? INT64_MAX : (int64_t)maxsize;
}

int
mp_manager_queue(mp_manager_t *m, size_t maxsize, mp_proxy_t **out)
{
    return create_plain(m, MP_PROXY_QUEUE, clamp_maxsize(maxsize), out);
}

int
mp_manager_joinable_queue(mp_manager_t *m, size_t maxsize, mp_proxy_t **out)
{
    return create_plain(m, MP_PROXY_JOINABLE_QUEUE, clamp_maxsize(maxsize),
                        out);
}

int
mp_manager_lock(mp_manager_t *m, mp_proxy_t **out)
{
    return create_plain(m, MP_PROXY_LOCK, 0, out);
}

int
mp_manager_rlock(mp_manager_t *m, mp_proxy_t **out)
{
    return create_plain(m, MP_PROXY_RLOCK, 0, out);
}

int
mp_manager_semaphore(mp_manager_t *m, unsigned value, mp_proxy_t **out)
{
    return create_plain(m, MP_PROXY_SEMAPHORE, value, out);
}

int
mp_manager_bounded_semaphore(mp_manager_t *m, unsigned value, mp_proxy_t **out)
{
    return create_plain(m, MP_PROXY_BOUNDED_SEMAPHORE, value, out);
}

int
mp_manager_event(mp_manager_t *m, mp_proxy_t **out)
{
    return create_plain(m, MP_PROXY_EVENT, 0, out);
}

int
mp_manager_barrier(mp_manager_t *m, unsigned parties, mp_proxy_t **out)
{
    if (parties == 0) {
        return MP_EINVAL;
    }
    return create_plain(m, MP_PROXY_BARRIER, parties, out);
}

int
mp_manager_condition(mp_manager_t *m, mp_proxy_t *lock, mp_proxy_t **out)
{
    mp__mgr_req_t req = {.num = {0, -1, 0}};
    if (lock != NULL) {
        if (lock->m != m) {
            return MP_EINVAL;
        }
        if (lock->kind != MP_PROXY_LOCK && lock->kind != MP_PROXY_RLOCK) {
            return MP_EKIND;
        }
        req.num[1] = lock->index;
        req.num[2] = lock->gen;
    }
    return create_object(m, MP_PROXY_CONDITION, &req, out);
}

int
mp_manager_value(mp_manager_t *m, mp_type_t type, const void *init,
                 mp_proxy_t **out)
{
    size_t size = mp_type_size(type);
    if (size == 0) {
        return MP_EINVAL;
    }
    mp__mgr_req_t req = {.num = {0, (int64_t)type, 1}};
    if (init != NULL) {
        req.arg[0] = (mp__mgr_bytes_t){init, size};
    }
    return create_object(m, MP_PROXY_VALUE, &req, out);
}

int
mp_manager_array(mp_manager_t *m, mp_type_t type, size_t length,
                 const void *init, mp_proxy_t **out)
{
    size_t size = mp_type_size(type);
    if (size == 0 || length == 0 || length > INT64_MAX / size) {
        return MP_EINVAL;
    }
    mp__mgr_req_t req = {.num = {0, (int64_t)type, (int64_t)length}};
    if (init != NULL) {
        req.arg[0] = (mp__mgr_bytes_t){init, size * length};
    }
    return create_object(m, MP_PROXY_ARRAY, &req, out);
}

int
mp_manager_create_object(mp_manager_t *m, const char *typeid, const void *args,
                         size_t args_len, mp_proxy_t **out)
{
    if (typeid == NULL || (args == NULL && args_len > 0)) {
        return MP_EINVAL;
    }
    size_t tlen = strlen(typeid);
    if (tlen == 0 || tlen > USER_NAME_MAX) {
        return MP_EINVAL;
    }
    mp__mgr_req_t req = {.arg = {{typeid, tlen}, {args, args_len}}};
    return create_object(m, MP_PROXY_USER, &req, out);
}

/*--- tokens and lifetime ----------------------------------------------------*/

int
mp_proxy_token(const mp_proxy_t *p, char *buf, size_t buflen)
{
    if (p == NULL || buf == NULL) {
        return MP_EINVAL;
    }
    if (buflen < MP_PROXY_TOKEN_MAX) {
        return MP_ERANGE;
    }
    snprintf(buf, buflen, "%s%d:%d:%" PRIu32 ":%" PRIu32, TOKEN_PREFIX, p->kind,
             p->type, p->index, p->gen);
    return 0;
}

/* Parses one unsigned decimal field of a token ending at sep. */
static bool
parse_field(const char **s, char sep, uint64_t max, uint64_t *val)
{
    const char *c = *s;
    uint64_t v = 0;
    if (*c < '0' || *c > '9') {
        return false;
    }
    while (*c >= '0' && *c <= '9') {
        v = v * 10 + (uint64_t)(*c - '0');
        if (v > max) {
            return false;
        }
        c++;
    }
    if (*c != sep) {
        return false;
    }
    *val = v;
    *s = sep == '\0' ? c : c + 1;
    return true;
}

int
mp_proxy_from_token(mp_proxy_t **out, mp_manager_t *m, const char *token)
{
    uint64_t kind, type, index, gen;
    if (out == NULL || m == NULL || token == NULL ||
        strncmp(token, TOKEN_PREFIX, sizeof(TOKEN_PREFIX) - 1) != 0) {
        return MP_EINVAL;
    }
    const char *s = token + sizeof(TOKEN_PREFIX) - 1;
    if (!parse_field(&s, ':', MP_PROXY_USER, &kind) || kind == 0 ||
        !parse_field(&s, ':', 127, &type) ||
        ((kind == MP_PROXY_VALUE || kind == MP_PROXY_ARRAY) &&
         mp_type_size((mp_type_t)type) == 0) ||
        !parse_field(&s, ':', UINT32_MAX, &index) ||
        !parse_field(&s, '\0', UINT32_MAX, &gen)) {
        return MP_EINVAL;
    }
    /* The reference first: it also proves the object still exists. */
    mp__mgr_req_t req = {
        .op = MP__OP_INCREF, .index = (uint32_t)index, .gen = (uint32_t)gen};
    mp__mgr_rep_t rep;
    int r = mp__mgr_invoke(m, &req, &rep, kind == MP_PROXY_USER);
    mp__mgr_rep_clear(&rep);
    if (r != 0) {
        return r;
    }
    r = proxy_new(out, m, (int)kind, (int)type, (uint32_t)index, (uint32_t)gen);
    if (r != 0) {
        drop_ref(m, (uint32_t)index, (uint32_t)gen, (int)kind);
    }
    return r;
}

int
mp_proxy_kind(const mp_proxy_t *p)
{
    return p == NULL ? MP_EINVAL : p->kind;
}

void
mp_proxy_destroy(mp_proxy_t *p)
{
    if (p == NULL) {
        return;
    }
    if (p->holds_ref == mp__getpid()) {
        drop_ref(p->m, p->index, p->gen, p->kind);
    }
    mp__free(p);
}

/*--- queues -----------------------------------------------------------------*/

int
mp_proxy_put(mp_proxy_t *q, const void *buf, size_t len, mp_duration_t timeout)
{
    mp__mgr_req_t req;
    mp__mgr_rep_t rep;
    if ((buf == NULL && len > 0) || !timeout_ok(timeout)) {
        return MP_EINVAL;
    }
    int r = mp__proxy_begin(q, KINDS_QUEUE, MP__OP_Q_PUT, &req);
    if (r != 0) {
        return r;
    }
    req.timeout = timeout;
    req.timed = true;
    req.arg[0] = (mp__mgr_bytes_t){buf, len};
    r = mp__proxy_run(q, &req, &rep);
    mp__mgr_rep_clear(&rep);
    return r;
}

ssize_t
mp_proxy_get(mp_proxy_t *q, void **out, mp_duration_t timeout)
{
    mp__mgr_req_t req;
    if (out == NULL || !timeout_ok(timeout)) {
        return MP_EINVAL;
    }
    int r = mp__proxy_begin(q, KINDS_QUEUE, MP__OP_Q_GET, &req);
    if (r != 0) {
        return r;
    }
    req.timeout = timeout;
    req.timed = true;
    return mp__proxy_run_bytes(q, &req, out);
}

ssize_t
mp_proxy_qsize(mp_proxy_t *q)
{
    return (ssize_t)mp__proxy_simple_num(q, KINDS_QUEUE, MP__OP_Q_QSIZE);
}

int
mp_proxy_task_done(mp_proxy_t *q)
{
    return mp__proxy_simple(q, KIND(MP_PROXY_JOINABLE_QUEUE),
                            MP__OP_Q_TASK_DONE);
}

/* A blocking request with a timeout and no other argument. */
static int64_t
timed(mp_proxy_t *p, unsigned mask, uint16_t op, mp_duration_t timeout)
{
    mp__mgr_req_t req;
    if (!timeout_ok(timeout)) {
        return MP_EINVAL;
    }
    int r = mp__proxy_begin(p, mask, op, &req);
    if (r != 0) {
        return r;
    }
    req.timeout = timeout;
    req.timed = true;
    return mp__proxy_run_num(p, &req);
}

int
mp_proxy_join(mp_proxy_t *q, mp_duration_t timeout)
{
    int64_t r = timed(q, KIND(MP_PROXY_JOINABLE_QUEUE), MP__OP_Q_JOIN, timeout);
    return r > 0 ? 0 : (int)r;
}

/*--- locks, semaphores, conditions, events, barriers ------------------------*/

int
mp_proxy_acquire(mp_proxy_t *p, mp_duration_t timeout)
{
    int64_t r = timed(p, KINDS_ACQUIRE, MP__OP_ACQUIRE, timeout);
    return r > 0 ? 0 : (int)r;
}

int
mp_proxy_release(mp_proxy_t *p)
{
    return mp__proxy_simple(p, KINDS_ACQUIRE, MP__OP_RELEASE);
}

int
mp_proxy_wait(mp_proxy_t *p, mp_duration_t timeout)
{
    int64_t r = timed(p, KINDS_WAIT, MP__OP_WAIT, timeout);
    if (r >= 0 && p->kind != MP_PROXY_BARRIER) {
        return 0;
    }
    return (int)r;
}

int
mp_proxy_notify(mp_proxy_t *cond, unsigned n)
{
    mp__mgr_req_t req;
    int r =
        mp__proxy_begin(cond, KIND(MP_PROXY_CONDITION), MP__OP_NOTIFY, &req);
    if (r != 0) {
        return r;
    }
    req.num[0] = n;
    int64_t v = mp__proxy_run_num(cond, &req);
    return v > 0 ? 0 : (int)v;
}

int
mp_proxy_notify_all(mp_proxy_t *cond)
{
    return mp__proxy_simple(cond, KIND(MP_PROXY_CONDITION), MP__OP_NOTIFY_ALL);
}

int
mp_proxy_set(mp_proxy_t *ev)
{
    return mp__proxy_simple(ev, KIND(MP_PROXY_EVENT), MP__OP_EV_SET);
}

int
mp_proxy_clear(mp_proxy_t *ev)
{
    return mp__proxy_simple(ev, KIND(MP_PROXY_EVENT), MP__OP_EV_CLEAR);
}

int
mp_proxy_is_set(mp_proxy_t *ev, bool *is_set)
{
    if (is_set == NULL) {
        return MP_EINVAL;
    }
    int64_t r =
        mp__proxy_simple_num(ev, KIND(MP_PROXY_EVENT), MP__OP_EV_IS_SET);
    if (r < 0) {
        return (int)r;
    }
    *is_set = r != 0;
    return 0;
}

int
mp_proxy_abort(mp_proxy_t *bar)
{
    return mp__proxy_simple(bar, KIND(MP_PROXY_BARRIER), MP__OP_BAR_ABORT);
}

int
mp_proxy_reset(mp_proxy_t *bar)
{
    return mp__proxy_simple(bar, KIND(MP_PROXY_BARRIER), MP__OP_BAR_RESET);
}

/* One field of a barrier's packed BAR_INFO reply (shift 0, 16 or 32). */
static int
barrier_info(mp_proxy_t *bar, unsigned shift)
{
    int64_t v =
        mp__proxy_simple_num(bar, KIND(MP_PROXY_BARRIER), MP__OP_BAR_INFO);
    return v < 0 ? (int)v : (int)(((uint64_t)v >> shift) & 0xffffu);
}

int
mp_proxy_parties(mp_proxy_t *bar)
{
    return barrier_info(bar, 0);
}

int
mp_proxy_n_waiting(mp_proxy_t *bar)
{
    return barrier_info(bar, 16);
}

int
mp_proxy_broken(mp_proxy_t *bar, bool *broken)
{
    if (broken == NULL) {
        return MP_EINVAL;
    }
    int r = barrier_info(bar, 32);
    if (r < 0) {
        return r;
    }
    *broken = r != 0;
    return 0;
}

/*--- Value and Array --------------------------------------------------------*/

/* The size of one element of a Value or Array proxy (0 for a bad type). */
static size_t
element_size(const mp_proxy_t *p)
{
    return mp_type_size((mp_type_t)p->type);
}

/* get of a Value (index ignored) or an Array element. */
static int
element_get(mp_proxy_t *p, int kind, uint16_t op, size_t index, void *out)
{
    mp__mgr_req_t req;
    if (out == NULL) {
        return MP_EINVAL;
    }
    int r = mp__proxy_begin(p, KIND(kind), op, &req);
    if (r != 0) {
        return r;
    }
    if (index > (size_t)INT64_MAX) {
        return MP_ERANGE; /* past any array's end */
    }
    req.num[0] = (int64_t)index;
    return run_copy(p, &req, out, element_size(p));
}

/* set of a Value (index ignored) or an Array element. */
static int
element_set(mp_proxy_t *p, int kind, uint16_t op, size_t index, const void *in)
{
    mp__mgr_req_t req;
    mp__mgr_rep_t rep;
    if (in == NULL) {
        return MP_EINVAL;
    }
    int r = mp__proxy_begin(p, KIND(kind), op, &req);
    if (r != 0) {
        return r;
    }
    if (index > (size_t)INT64_MAX) {
        return MP_ERANGE; /* past any array's end */
    }
    req.num[0] = (int64_t)index;
    req.arg[0] = (mp__mgr_bytes_t){in, element_size(p)};
    r = mp__proxy_run(p, &req, &rep);
    mp__mgr_rep_clear(&rep);
    return r;
}

int
mp_proxy_value_get(mp_proxy_t *v, void *out)
{
    return element_get(v, MP_PROXY_VALUE, MP__OP_VALUE_GET, 0, out);
}

int
mp_proxy_value_set(mp_proxy_t *v, const void *in)
{
    return element_set(v, MP_PROXY_VALUE, MP__OP_VALUE_SET, 0, in);
}

int
mp_proxy_array_get(mp_proxy_t *a, size_t index, void *out)
{
    return element_get(a, MP_PROXY_ARRAY, MP__OP_ARRAY_GET, index, out);
}

int
mp_proxy_array_set(mp_proxy_t *a, size_t index, const void *in)
{
    return element_set(a, MP_PROXY_ARRAY, MP__OP_ARRAY_SET, index, in);
}

ssize_t
mp_proxy_array_len(mp_proxy_t *a)
{
    return (ssize_t)mp__proxy_simple_num(a, KIND(MP_PROXY_ARRAY),
                                         MP__OP_ARRAY_LEN);
}

/*--- user types -------------------------------------------------------------*/

int
mp_proxy_call(mp_proxy_t *p, const char *method, const void *in, size_t in_len,
              void **out, size_t *out_len)
{
    mp__mgr_req_t req;
    mp__mgr_rep_t rep;
    if (method == NULL || (in == NULL && in_len > 0) || out == NULL ||
        out_len == NULL) {
        return MP_EINVAL;
    }
    size_t mlen = strlen(method);
    if (mlen == 0 || mlen > USER_NAME_MAX) {
        return MP_EINVAL;
    }
    int r = mp__proxy_begin(p, KIND(MP_PROXY_USER), MP__OP_USER_CALL, &req);
    if (r != 0) {
        return r;
    }
    req.arg[0] = (mp__mgr_bytes_t){method, mlen};
    req.arg[1] = (mp__mgr_bytes_t){in, in_len};
    r = mp__proxy_run(p, &req, &rep);
    if (r == 0) {
        *out = rep.data;
        *out_len = rep.len;
    }
    return r;
}
