/* SPDX-License-Identifier: MIT */
/* collections.c - the public calls of the managed collections: every
 * mp_dict_*, mp_namespace_* and mp_list_* call. Each checks its arguments
 * and the proxy's kind, builds one request with the helpers of
 * proxy_internal.h and hands it to mp__mgr_invoke (fast path or server). */
#include "proxy_internal.h"

#include <string.h>

/* The longest Namespace attribute name (public contract). */
#define NAMESPACE_NAME_MAX 255u

/*--- dict and namespace -----------------------------------------------------*/

/* Starts a keyed dict/namespace request. */
static int
begin_key(mp_proxy_t *d, uint16_t op, const void *key, size_t klen,
          mp__mgr_req_t *req)
{
    if (key == NULL || klen == 0) {
        return MP_EINVAL;
    }
    int r = mp__proxy_begin(d, KINDS_DICT, op, req);
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
    r = mp__proxy_run(d, &req, &rep);
    mp__mgr_rep_clear(&rep);
    return r;
}

/* get and pop: a keyed request whose reply is the value. */
static ssize_t
dict_take(mp_proxy_t *d, uint16_t op, const void *key, size_t klen, void **out)
{
    mp__mgr_req_t req;
    if (out == NULL) {
        return MP_EINVAL;
    }
    int r = begin_key(d, op, key, klen, &req);
    return r != 0 ? r : mp__proxy_run_bytes(d, &req, out);
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
    return r != 0 ? r : (int)mp__proxy_run_num(d, &req);
}

int
mp_dict_delete(mp_proxy_t *d, const void *key, size_t klen)
{
    int r = dict_keyed_num(d, MP__OP_DICT_DELETE, key, klen);
    return r > 0 ? 0 : r;
}

int
mp_dict_contains(mp_proxy_t *d, const void *key, size_t klen, bool *found)
{
    if (found == NULL) {
        return MP_EINVAL;
    }
    int r = dict_keyed_num(d, MP__OP_DICT_CONTAINS, key, klen);
    if (r >= 0) {
        *found = r > 0;
    }
    return r > 0 ? 0 : r;
}

ssize_t
mp_dict_len(mp_proxy_t *d)
{
    return (ssize_t)mp__proxy_simple_num(d, KINDS_DICT, MP__OP_DICT_LEN);
}

int
mp_dict_clear(mp_proxy_t *d)
{
    return mp__proxy_simple(d, KINDS_DICT, MP__OP_DICT_CLEAR);
}

/* A snapshot request with no argument. */
static int
snapshot(mp_proxy_t *p, unsigned mask, uint16_t op, mp_buf_t **out, size_t *n)
{
    mp__mgr_req_t req;
    if (out == NULL || n == NULL) {
        return MP_EINVAL;
    }
    int r = mp__proxy_begin(p, mask, op, &req);
    return r != 0 ? r : mp__proxy_run_snapshot(p, &req, out, n);
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
#define CHECK_NAMESPACE(ns)                                                    \
    do {                                                                       \
        if ((ns) != NULL && (ns)->kind != MP_PROXY_NAMESPACE) {                \
            return MP_EKIND;                                                   \
        }                                                                      \
    } while (0)

int
mp_namespace_set(mp_proxy_t *ns, const char *name, const void *val, size_t vlen)
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
    int r = mp__proxy_begin(l, KINDS_LIST, op, req);
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
    int64_t v = mp__proxy_run_num(l, &req);
    return v > 0 ? 0 : (int)v;
}

ssize_t
mp_list_len(mp_proxy_t *l)
{
    return (ssize_t)mp__proxy_simple_num(l, KINDS_LIST, MP__OP_LIST_LEN);
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
    int r = mp__proxy_begin(l, KINDS_LIST, MP__OP_LIST_EXTEND, &req);
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
    int64_t v = mp__proxy_run_num(l, &req);
    mp__free(packed);
    return v > 0 ? 0 : (int)v;
}

/* A list call that hands out the item at index (get, pop). */
static ssize_t
list_item(mp_proxy_t *l, uint16_t op, ssize_t index, void **out)
{
    mp__mgr_req_t req;
    if (out == NULL) {
        return MP_EINVAL;
    }
    int r = begin_list(l, op, index, NULL, 0, &req);
    return r != 0 ? r : mp__proxy_run_bytes(l, &req, out);
}

ssize_t
mp_list_get(mp_proxy_t *l, ssize_t index, void **out)
{
    return list_item(l, MP__OP_LIST_GET, index, out);
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
    return list_item(l, MP__OP_LIST_POP, index, out);
}

ssize_t
mp_list_index(mp_proxy_t *l, const void *val, size_t len)
{
    mp__mgr_req_t req;
    int r = begin_list(l, MP__OP_LIST_INDEX, 0, val, len, &req);
    return r != 0 ? r : (ssize_t)mp__proxy_run_num(l, &req);
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
    return mp__proxy_run_snapshot(l, &req, out, n);
}

int
mp_list_reverse(mp_proxy_t *l)
{
    return mp__proxy_simple(l, KINDS_LIST, MP__OP_LIST_REVERSE);
}

int
mp_list_clear(mp_proxy_t *l)
{
    return mp__proxy_simple(l, KINDS_LIST, MP__OP_LIST_CLEAR);
}
