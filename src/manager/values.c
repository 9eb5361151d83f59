/* SPDX-License-Identifier: MIT */
/* values.c - Value and Array state in the store: a typed element vector
 * (one element for a Value) behind a death-surviving mutex, and the
 * MP__OP_VALUE_* / MP__OP_ARRAY_* ops on it. A process killed while it
 * holds the mutex leaves at worst one torn element: the next holder takes
 * the mutex over and goes on. */
#include "store_internal.h"

#include <string.h>

/* A Value's or Array's state: the elements behind a mutex. */
typedef struct values_state {
    mp__mutex_t m;
    uint32_t type;
    uint32_t esize;
    uint64_t length;
    uint8_t data[];
} values_state_t;

/* Value (num1 = type) or Array (num1 = type, num2 = length): arg0 holds
 * the initial elements, or nothing for zeroes. */
int
mp__values_new(mp__store_t *st, const mp__mgr_req_t *req, bool array,
               uint64_t *off)
{
    if (req->num[1] <= 0 || req->num[1] > 0x7f) {
        return MP_EINVAL;
    }
    size_t esize = mp_type_size((mp_type_t)req->num[1]);
    int64_t length = array ? req->num[2] : 1;
    if (esize == 0 || length <= 0 || (uint64_t)length > UINT32_MAX / esize) {
        return MP_EINVAL;
    }
    uint64_t bytes = (uint64_t)length * esize;
    const mp__mgr_bytes_t *init = &req->arg[0];
    if (init->len != 0 && (init->len != bytes || init->ptr == NULL)) {
        return MP_EINVAL;
    }
    *off = mp__store_alloc(st, sizeof(values_state_t) + bytes);
    values_state_t *v = mp__store_at(st, *off, sizeof *v + bytes);
    if (v == NULL) {
        return MP_ENOMEM;
    }
    mp__mutex_init(&v->m);
    v->type = (uint32_t)req->num[1];
    v->esize = (uint32_t)esize;
    v->length = (uint64_t)length;
    if (init->len != 0) {
        memcpy(v->data, init->ptr, bytes);
    } else {
        memset(v->data, 0, bytes);
    }
    return 0;
}

int
mp__values_exec(mp__store_t *st, uint64_t off, uint32_t kind,
                const mp__mgr_req_t *req, mp__mgr_rep_t *rep)
{
    values_state_t *v = mp__store_at(st, off, sizeof *v);
    if (v == NULL) {
        return MP_ECLOSED;
    }
    bool is_array = kind == MP_PROXY_ARRAY;
    if ((req->op == MP__OP_VALUE_GET || req->op == MP__OP_VALUE_SET) ==
        is_array) {
        return MP_EKIND;
    }
    if (req->op == MP__OP_ARRAY_LEN) {
        rep->num = (int64_t)v->length;
        return 0;
    }
    uint64_t index = 0;
    if (is_array) {
        if (req->num[0] < 0 || (uint64_t)req->num[0] >= v->length) {
            return MP_ERANGE;
        }
        index = (uint64_t)req->num[0];
    }
    bool set = req->op == MP__OP_VALUE_SET || req->op == MP__OP_ARRAY_SET;
    if (set && (req->arg[0].len != v->esize || req->arg[0].ptr == NULL)) {
        return MP_EINVAL;
    }
    void *out = NULL;
    if (!set && (out = mp__malloc(v->esize)) == NULL) {
        return MP_ENOMEM;
    }
    bool dead;
    int r = mp__store_lock(st, &v->m, &dead);
    if (r != 0) {
        mp__free(out);
        return r;
    }
    if (dead) {
        mp__mutex_consistent(&v->m); /* a torn element at worst */
    }
    uint8_t *elem = v->data + index * v->esize;
    if (set) {
        memcpy(elem, req->arg[0].ptr, v->esize);
    } else {
        memcpy(out, elem, v->esize);
    }
    mp__mutex_unlock(&v->m);
    if (!set) {
        rep->data = out;
        rep->len = v->esize;
        rep->num = v->esize;
    }
    return 0;
}
