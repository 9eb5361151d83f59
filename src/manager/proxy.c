/* SPDX-License-Identifier: MIT */
/* proxy.c - the public face of managed objects: the factories
 * (mp_manager_dict ...), tokens, and every mp_dict_* / mp_list_* /
 * mp_namespace_* / mp_proxy_* call. Each call checks its arguments and the
 * proxy's kind here, builds one request, and hands it to mp__mgr_invoke,
 * which runs it on the mapped store (fast path) or in the server. */
#include "manager_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

struct mp_proxy {
    mp_manager_t *m;
    uint32_t index, gen;
    int kind;        /* mp_proxy_kind_t */
    int type;        /* mp_type_t of a Value or Array; 0 otherwise */
    pid_t holds_ref; /* process whose reference this proxy holds */
};

/* Kind sets, for the calls that serve several kinds. */
#define KIND(k) (1u << (k))
#define KINDS_DICT (KIND(MP_PROXY_DICT) | KIND(MP_PROXY_NAMESPACE))
#define KINDS_QUEUE (KIND(MP_PROXY_QUEUE) | KIND(MP_PROXY_JOINABLE_QUEUE))
#define KINDS_ACQUIRE                                                        \
    (KIND(MP_PROXY_LOCK) | KIND(MP_PROXY_RLOCK) | KIND(MP_PROXY_SEMAPHORE) | \
     KIND(MP_PROXY_BOUNDED_SEMAPHORE) | KIND(MP_PROXY_CONDITION))
#define KINDS_WAIT                                                           \
    (KIND(MP_PROXY_EVENT) | KIND(MP_PROXY_CONDITION) | KIND(MP_PROXY_BARRIER))

/* The longest Namespace attribute name (public contract). */
#define NAMESPACE_NAME_MAX 255u
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
static int
begin(mp_proxy_t *p, unsigned mask, uint16_t op, mp__mgr_req_t *req)
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
static int
run(mp_proxy_t *p, const mp__mgr_req_t *req, mp__mgr_rep_t *rep)
{
    int r = mp__mgr_invoke(p->m, req, rep, p->kind == MP_PROXY_USER);
    if (r != 0) {
        mp__mgr_rep_clear(rep);
    }
    return r;
}

/* Runs req and returns the reply's number (or the error). */
static int64_t
run_num(mp_proxy_t *p, const mp__mgr_req_t *req)
{
    mp__mgr_rep_t rep;
    int r = run(p, req, &rep);
    int64_t num = rep.num;
    mp__mgr_rep_clear(&rep);
    return r != 0 ? r : num;
}

/* Runs req and hands the reply's bytes to *out (never NULL on success:
 * an empty value is a 1-byte allocation). Returns the length or error. */
static ssize_t
run_bytes(mp_proxy_t *p, const mp__mgr_req_t *req, void **out)
{
    mp__mgr_rep_t rep;
    int r = run(p, req, &rep);
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
    int r = run(p, req, &rep);
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
static int
run_snapshot(mp_proxy_t *p, const mp__mgr_req_t *req, mp_buf_t **out,
             size_t *n)
{
    mp__mgr_rep_t rep;
    int r = run(p, req, &rep);
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

/*--- factories --------------------------------------------------------------*/

static int
proxy_new(mp_proxy_t **out, mp_manager_t *m, int kind, int type,
          uint32_t index, uint32_t gen)
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
create(mp_manager_t *m, int kind, mp__mgr_req_t *req, mp_proxy_t **out)
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
    int type = kind == MP_PROXY_VALUE || kind == MP_PROXY_ARRAY
                   ? (int)req->num[1]
                   : 0;
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
    return create(m, kind, &req, out);
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

int
mp_manager_queue(mp_manager_t *m, long maxsize, mp_proxy_t **out)
{
    return create_plain(m, MP_PROXY_QUEUE, maxsize > 0 ? maxsize : 0, out);
}

int
mp_manager_joinable_queue(mp_manager_t *m, long maxsize, mp_proxy_t **out)
{
    return create_plain(m, MP_PROXY_JOINABLE_QUEUE, maxsize > 0 ? maxsize : 0,
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
mp_manager_bounded_semaphore(mp_manager_t *m, unsigned value,
                             mp_proxy_t **out)
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
    return create(m, MP_PROXY_CONDITION, &req, out);
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
    return create(m, MP_PROXY_VALUE, &req, out);
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
    return create(m, MP_PROXY_ARRAY, &req, out);
}

int
mp_manager_create_object(mp_manager_t *m, const char *typeid,
                         const void *args, size_t args_len, mp_proxy_t **out)
{
    if (typeid == NULL || (args == NULL && args_len > 0)) {
        return MP_EINVAL;
    }
    size_t tlen = strlen(typeid);
    if (tlen == 0 || tlen > USER_NAME_MAX) {
        return MP_EINVAL;
    }
    mp__mgr_req_t req = {.arg = {{typeid, tlen}, {args, args_len}}};
    return create(m, MP_PROXY_USER, &req, out);
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
    snprintf(buf, buflen, "%s%d:%d:%" PRIu32 ":%" PRIu32, TOKEN_PREFIX,
             p->kind, p->type, p->index, p->gen);
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
    mp__mgr_req_t req = {.op = MP__OP_INCREF,
                         .index = (uint32_t)index,
                         .gen = (uint32_t)gen};
    mp__mgr_rep_t rep;
    int r = mp__mgr_invoke(m, &req, &rep, kind == MP_PROXY_USER);
    mp__mgr_rep_clear(&rep);
    if (r != 0) {
        return r;
    }
    r = proxy_new(out, m, (int)kind, (int)type, (uint32_t)index,
                  (uint32_t)gen);
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

/*--- dict and namespace -----------------------------------------------------*/

/* Starts a keyed dict/namespace request. */
static int
begin_key(mp_proxy_t *d, uint16_t op, const void *key, size_t klen,
          mp__mgr_req_t *req)
{
    if (key == NULL || klen == 0) {
        return MP_EINVAL;
    }
    int r = begin(d, KINDS_DICT, op, req);
    req->arg[0] = (mp__mgr_bytes_t){key, klen};
    return r;
}

int
mp_dict_set(mp_proxy_t *d, const void *key, size_t klen, const void *val,
            size_t vlen)
{
    mp__mgr_req_t req;
    mp__mgr_rep_t rep;
    if (val == NULL && vlen > 0) {
        return MP_EINVAL;
    }
    int r = begin_key(d, MP__OP_DICT_SET, key, klen, &req);
    if (r != 0) {
        return r;
    }
    req.arg[1] = (mp__mgr_bytes_t){val, vlen};
    r = run(d, &req, &rep);
    mp__mgr_rep_clear(&rep);
    return r;
}

/* get and pop: a keyed request whose reply is the value. */
static ssize_t
dict_take(mp_proxy_t *d, uint16_t op, const void *key, size_t klen,
          void **out)
{
    mp__mgr_req_t req;
    if (out == NULL) {
        return MP_EINVAL;
    }
    int r = begin_key(d, op, key, klen, &req);
    return r != 0 ? r : run_bytes(d, &req, out);
}

ssize_t
mp_dict_get(mp_proxy_t *d, const void *key, size_t klen, void **out)
{
    return dict_take(d, MP__OP_DICT_GET, key, klen, out);
}

ssize_t
mp_dict_pop(mp_proxy_t *d, const void *key, size_t klen, void **out)
{
    return dict_take(d, MP__OP_DICT_POP, key, klen, out);
}

/* delete and contains: a keyed request whose reply is a number. */
static int
dict_keyed_num(mp_proxy_t *d, uint16_t op, const void *key, size_t klen)
{
    mp__mgr_req_t req;
    int r = begin_key(d, op, key, klen, &req);
    return r != 0 ? r : (int)run_num(d, &req);
}

int
mp_dict_delete(mp_proxy_t *d, const void *key, size_t klen)
{
    int r = dict_keyed_num(d, MP__OP_DICT_DELETE, key, klen);
    return r > 0 ? 0 : r;
}

int
mp_dict_contains(mp_proxy_t *d, const void *key, size_t klen)
{
    return dict_keyed_num(d, MP__OP_DICT_CONTAINS, key, klen);
}

/* A request with no argument whose reply is a number, for proxies of the
 * kinds in mask. */
static int64_t
simple_num(mp_proxy_t *p, unsigned mask, uint16_t op)
{
    mp__mgr_req_t req;
    int r = begin(p, mask, op, &req);
    return r != 0 ? r : run_num(p, &req);
}

/* The same for calls whose success is just 0. */
static int
simple(mp_proxy_t *p, unsigned mask, uint16_t op)
{
    int64_t r = simple_num(p, mask, op);
    return r > 0 ? 0 : (int)r;
}

ssize_t
mp_dict_len(mp_proxy_t *d)
{
    return (ssize_t)simple_num(d, KINDS_DICT, MP__OP_DICT_LEN);
}

int
mp_dict_clear(mp_proxy_t *d)
{
    return simple(d, KINDS_DICT, MP__OP_DICT_CLEAR);
}

/* A snapshot request with no argument. */
static int
snapshot(mp_proxy_t *p, unsigned mask, uint16_t op, mp_buf_t **out,
         size_t *n)
{
    mp__mgr_req_t req;
    if (out == NULL || n == NULL) {
        return MP_EINVAL;
    }
    int r = begin(p, mask, op, &req);
    return r != 0 ? r : run_snapshot(p, &req, out, n);
}

int
mp_dict_keys(mp_proxy_t *d, mp_buf_t **out, size_t *n)
{
    return snapshot(d, KINDS_DICT, MP__OP_DICT_KEYS, out, n);
}

int
mp_dict_items(mp_proxy_t *d, mp_buf_t **out, size_t *n)
{
    return snapshot(d, KINDS_DICT, MP__OP_DICT_ITEMS, out, n);
}

/* A Namespace attribute name: its length, or 0 when it is not one. */
static size_t
attr_len(mp_proxy_t *ns, const char *name)
{
    if (ns == NULL || name == NULL) {
        return 0;
    }
    size_t len = strnlen(name, NAMESPACE_NAME_MAX + 1);
    return len > NAMESPACE_NAME_MAX ? 0 : len;
}

/* Namespace calls are dict calls on a namespace proxy only. */
#define CHECK_NAMESPACE(ns)                                                  \
    do {                                                                     \
        if ((ns) != NULL && (ns)->kind != MP_PROXY_NAMESPACE) {              \
            return MP_EKIND;                                                 \
        }                                                                    \
    } while (0)

int
mp_namespace_set(mp_proxy_t *ns, const char *name, const void *val,
                 size_t vlen)
{
    CHECK_NAMESPACE(ns);
    return mp_dict_set(ns, name, attr_len(ns, name), val, vlen);
}

ssize_t
mp_namespace_get(mp_proxy_t *ns, const char *name, void **out)
{
    CHECK_NAMESPACE(ns);
    return mp_dict_get(ns, name, attr_len(ns, name), out);
}

int
mp_namespace_delete(mp_proxy_t *ns, const char *name)
{
    CHECK_NAMESPACE(ns);
    return mp_dict_delete(ns, name, attr_len(ns, name));
}

int
mp_namespace_names(mp_proxy_t *ns, mp_buf_t **out, size_t *n)
{
    CHECK_NAMESPACE(ns);
    return mp_dict_keys(ns, out, n);
}

/*--- list -------------------------------------------------------------------*/

#define KINDS_LIST KIND(MP_PROXY_LIST)

/* Starts a list request with an index and an optional value. */
static int
begin_list(mp_proxy_t *l, uint16_t op, ssize_t index, const void *val,
           size_t len, mp__mgr_req_t *req)
{
    if (val == NULL && len > 0) {
        return MP_EINVAL;
    }
    int r = begin(l, KINDS_LIST, op, req);
    req->num[0] = index;
    req->arg[0] = (mp__mgr_bytes_t){val, len};
    return r;
}

/* A list request whose success is 0 (set, delete, insert, append). */
static int
list_simple(mp_proxy_t *l, uint16_t op, ssize_t index, const void *val,
            size_t len)
{
    mp__mgr_req_t req;
    int r = begin_list(l, op, index, val, len, &req);
    if (r != 0) {
        return r;
    }
    int64_t v = run_num(l, &req);
    return v > 0 ? 0 : (int)v;
}

ssize_t
mp_list_len(mp_proxy_t *l)
{
    return (ssize_t)simple_num(l, KINDS_LIST, MP__OP_LIST_LEN);
}

int
mp_list_append(mp_proxy_t *l, const void *val, size_t len)
{
    return list_simple(l, MP__OP_LIST_APPEND, 0, val, len);
}

int
mp_list_extend(mp_proxy_t *l, const mp_buf_t *vals, size_t n)
{
    mp__mgr_req_t req;
    if (vals == NULL && n > 0) {
        return MP_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        if (vals[i].data == NULL && vals[i].len > 0) {
            return MP_EINVAL;
        }
    }
    int r = begin(l, KINDS_LIST, MP__OP_LIST_EXTEND, &req);
    if (r != 0 || n == 0) {
        return r;
    }
    if (n > (size_t)INT64_MAX) {
        return MP_EINVAL;
    }
    size_t size;
    r = mp__mgr_pack_size(vals, n, &size);
    if (r != 0) {
        return r; /* the lengths' sum does not fit in a size_t */
    }
    uint8_t *packed = mp__malloc(size);
    if (packed == NULL) {
        return MP_ENOMEM;
    }
    mp__mgr_pack(vals, n, packed);
    req.num[0] = (int64_t)n;
    req.arg[0] = (mp__mgr_bytes_t){packed, size};
    int64_t v = run_num(l, &req);
    mp__free(packed);
    return v > 0 ? 0 : (int)v;
}

ssize_t
mp_list_get(mp_proxy_t *l, ssize_t index, void **out)
{
    mp__mgr_req_t req;
    if (out == NULL) {
        return MP_EINVAL;
    }
    int r = begin_list(l, MP__OP_LIST_GET, index, NULL, 0, &req);
    return r != 0 ? r : run_bytes(l, &req, out);
}

int
mp_list_set(mp_proxy_t *l, ssize_t index, const void *val, size_t len)
{
    return list_simple(l, MP__OP_LIST_SET, index, val, len);
}

int
mp_list_delete(mp_proxy_t *l, ssize_t index)
{
    return list_simple(l, MP__OP_LIST_DELETE, index, NULL, 0);
}

int
mp_list_insert(mp_proxy_t *l, ssize_t index, const void *val, size_t len)
{
    return list_simple(l, MP__OP_LIST_INSERT, index, val, len);
}

ssize_t
mp_list_pop(mp_proxy_t *l, ssize_t index, void **out)
{
    mp__mgr_req_t req;
    if (out == NULL) {
        return MP_EINVAL;
    }
    int r = begin_list(l, MP__OP_LIST_POP, index, NULL, 0, &req);
    return r != 0 ? r : run_bytes(l, &req, out);
}

ssize_t
mp_list_index(mp_proxy_t *l, const void *val, size_t len)
{
    mp__mgr_req_t req;
    int r = begin_list(l, MP__OP_LIST_INDEX, 0, val, len, &req);
    return r != 0 ? r : (ssize_t)run_num(l, &req);
}

int
mp_list_slice(mp_proxy_t *l, ssize_t start, ssize_t stop, mp_buf_t **out,
              size_t *n)
{
    mp__mgr_req_t req;
    if (out == NULL || n == NULL) {
        return MP_EINVAL;
    }
    int r = begin_list(l, MP__OP_LIST_SLICE, start, NULL, 0, &req);
    if (r != 0) {
        return r;
    }
    req.num[1] = stop;
    return run_snapshot(l, &req, out, n);
}

int
mp_list_reverse(mp_proxy_t *l)
{
    return simple(l, KINDS_LIST, MP__OP_LIST_REVERSE);
}

int
mp_list_clear(mp_proxy_t *l)
{
    return simple(l, KINDS_LIST, MP__OP_LIST_CLEAR);
}

/*--- queues -----------------------------------------------------------------*/

int
mp_proxy_put(mp_proxy_t *q, const void *buf, size_t len,
             mp_duration_t timeout)
{
    mp__mgr_req_t req;
    mp__mgr_rep_t rep;
    if ((buf == NULL && len > 0) || !timeout_ok(timeout)) {
        return MP_EINVAL;
    }
    int r = begin(q, KINDS_QUEUE, MP__OP_Q_PUT, &req);
    if (r != 0) {
        return r;
    }
    req.timeout = timeout;
    req.timed = true;
    req.arg[0] = (mp__mgr_bytes_t){buf, len};
    r = run(q, &req, &rep);
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
    int r = begin(q, KINDS_QUEUE, MP__OP_Q_GET, &req);
    if (r != 0) {
        return r;
    }
    req.timeout = timeout;
    req.timed = true;
    return run_bytes(q, &req, out);
}

long
mp_proxy_qsize(mp_proxy_t *q)
{
    return (long)simple_num(q, KINDS_QUEUE, MP__OP_Q_QSIZE);
}

int
mp_proxy_task_done(mp_proxy_t *q)
{
    return simple(q, KIND(MP_PROXY_JOINABLE_QUEUE), MP__OP_Q_TASK_DONE);
}

/* A blocking request with a timeout and no other argument. */
static int64_t
timed(mp_proxy_t *p, unsigned mask, uint16_t op, mp_duration_t timeout)
{
    mp__mgr_req_t req;
    if (!timeout_ok(timeout)) {
        return MP_EINVAL;
    }
    int r = begin(p, mask, op, &req);
    if (r != 0) {
        return r;
    }
    req.timeout = timeout;
    req.timed = true;
    return run_num(p, &req);
}

int
mp_proxy_join(mp_proxy_t *q, mp_duration_t timeout)
{
    int64_t r = timed(q, KIND(MP_PROXY_JOINABLE_QUEUE), MP__OP_Q_JOIN,
                      timeout);
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
    return simple(p, KINDS_ACQUIRE, MP__OP_RELEASE);
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
    int r = begin(cond, KIND(MP_PROXY_CONDITION), MP__OP_NOTIFY, &req);
    if (r != 0) {
        return r;
    }
    req.num[0] = n;
    int64_t v = run_num(cond, &req);
    return v > 0 ? 0 : (int)v;
}

int
mp_proxy_notify_all(mp_proxy_t *cond)
{
    return simple(cond, KIND(MP_PROXY_CONDITION), MP__OP_NOTIFY_ALL);
}

int
mp_proxy_set(mp_proxy_t *ev)
{
    return simple(ev, KIND(MP_PROXY_EVENT), MP__OP_EV_SET);
}

int
mp_proxy_clear(mp_proxy_t *ev)
{
    return simple(ev, KIND(MP_PROXY_EVENT), MP__OP_EV_CLEAR);
}

int
mp_proxy_is_set(mp_proxy_t *ev)
{
    return (int)simple_num(ev, KIND(MP_PROXY_EVENT), MP__OP_EV_IS_SET);
}

int
mp_proxy_abort(mp_proxy_t *bar)
{
    return simple(bar, KIND(MP_PROXY_BARRIER), MP__OP_BAR_ABORT);
}

int
mp_proxy_reset(mp_proxy_t *bar)
{
    return simple(bar, KIND(MP_PROXY_BARRIER), MP__OP_BAR_RESET);
}

/* One field of a barrier's packed BAR_INFO reply (shift 0, 16 or 32). */
static int
barrier_info(mp_proxy_t *bar, unsigned shift)
{
    int64_t v = simple_num(bar, KIND(MP_PROXY_BARRIER), MP__OP_BAR_INFO);
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
mp_proxy_broken(mp_proxy_t *bar)
{
    return barrier_info(bar, 32);
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
    int r = begin(p, KIND(kind), op, &req);
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
element_set(mp_proxy_t *p, int kind, uint16_t op, size_t index,
            const void *in)
{
    mp__mgr_req_t req;
    mp__mgr_rep_t rep;
    if (in == NULL) {
        return MP_EINVAL;
    }
    int r = begin(p, KIND(kind), op, &req);
    if (r != 0) {
        return r;
    }
    if (index > (size_t)INT64_MAX) {
        return MP_ERANGE; /* past any array's end */
    }
    req.num[0] = (int64_t)index;
    req.arg[0] = (mp__mgr_bytes_t){in, element_size(p)};
    r = run(p, &req, &rep);
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
    return (ssize_t)simple_num(a, KIND(MP_PROXY_ARRAY), MP__OP_ARRAY_LEN);
}

/*--- user types -------------------------------------------------------------*/

int
mp_proxy_call(mp_proxy_t *p, const char *method, const void *in,
              size_t in_len, void **out, size_t *out_len)
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
    int r = begin(p, KIND(MP_PROXY_USER), MP__OP_USER_CALL, &req);
    if (r != 0) {
        return r;
    }
    req.arg[0] = (mp__mgr_bytes_t){method, mlen};
    req.arg[1] = (mp__mgr_bytes_t){in, in_len};
    r = run(p, &req, &rep);
    if (r == 0) {
        *out = rep.data;
        *out_len = rep.len;
    }
    return r;
}
