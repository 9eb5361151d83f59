/* SPDX-License-Identifier: MIT */
/* list.c - list state in the store: a vector of element offsets guarded
 * by a death-surviving mutex, with Python's index rules.
 *
 * The state holds the mutex and the offset of the current vector; a vector
 * holds its capacity, its length and the offsets of the element blocks
 * (each a length and the bytes). Crash safety: appends (and extends that
 * fit) write the new offsets past the end, then publish them by storing the
 * length; set swaps one offset; every other change (insert, delete, pop,
 * reverse, clear, growth) builds a new vector and publishes it by storing
 * the state's vector offset. Old blocks are freed after publication, so a
 * process killed at any point leaves a valid list (at worst a leak). */
#include "store_internal.h"

#include <string.h>

#define VEC_MIN_CAP 8u

/* The head: body is the offset of the list_vec. */
typedef mp__store_head_t list_state_t;

typedef struct list_vec {
    uint64_t cap;
    _Atomic uint64_t len;
    uint64_t items[]; /* offsets of list_elem blocks */
} list_vec_t;

typedef struct list_elem {
    uint64_t len;
    uint8_t bytes[];
} list_elem_t;

/* What one op works on, with its lock held. */
typedef struct list_op {
    mp__store_t *st;
    list_state_t *s;
    list_vec_t *v;
    uint64_t len;
} list_op_t;

static list_vec_t *vec_new(mp__store_t *st, uint64_t cap, uint64_t *off);
static void vec_publish(list_op_t *op, list_vec_t *nv, uint64_t noff);
static uint64_t elem_new(mp__store_t *st, const void *p, size_t len);
static list_elem_t *elem_at(mp__store_t *st, uint64_t off);
static int resolve_index(int64_t index, uint64_t len, uint64_t *out);
static uint64_t clamp_index(int64_t index, uint64_t len);
static int op_append(list_op_t *op, const uint64_t *elems, uint64_t n);
static int op_extend(list_op_t *op, const mp__mgr_req_t *req);
static int op_insert(list_op_t *op, uint64_t at, uint64_t elem);
static int op_remove(list_op_t *op, uint64_t at, mp__mgr_rep_t *rep,
                     bool hand_out);
static int op_reverse(list_op_t *op);
static int op_clear(list_op_t *op);
static int op_slice(list_op_t *op, int64_t start, int64_t stop,
                    mp__mgr_rep_t *rep);
static int reply_elem(mp__store_t *st, uint64_t off, mp__mgr_rep_t *rep);

int
mp__list_new(mp__store_t *st, uint64_t *off)
{
    uint64_t voff;
    if (vec_new(st, VEC_MIN_CAP, &voff) == NULL) {
        return MP_ENOMEM;
    }
    int r = mp__store_head_new(st, voff, off);
    if (r != 0) {
        mp__store_free(st, voff);
    }
    return r;
}

void
mp__list_free(mp__store_t *st, uint64_t off)
{
    list_state_t *s = mp__store_at(st, off, sizeof *s);
    if (s == NULL) {
        return;
    }
    uint64_t voff = atomic_load(&s->body);
    list_vec_t *v = mp__store_at(st, voff, sizeof(list_vec_t));
    if (v != NULL) {
        for (uint64_t i = 0; i < atomic_load(&v->len); i++) {
            mp__store_free(st, v->items[i]);
        }
        mp__store_free(st, voff);
    }
    mp__store_free(st, off);
}

int
mp__list_exec(mp__store_t *st, uint64_t off, const mp__mgr_req_t *req,
              mp__mgr_rep_t *rep)
{
    list_state_t *s = mp__store_at(st, off, sizeof *s);
    if (s == NULL) {
        return MP_ECLOSED;
    }
    const mp__mgr_bytes_t *arg = &req->arg[0];
    if (arg->len > 0 && arg->ptr == NULL) {
        return MP_EINVAL;
    }
    /* Elements are made before the lock is taken (no heap work under it
     * that can be avoided), and freed again when the op fails. */
    uint64_t elem = 0;
    if (req->op == MP__OP_LIST_APPEND || req->op == MP__OP_LIST_SET ||
        req->op == MP__OP_LIST_INSERT) {
        elem = elem_new(st, arg->ptr, arg->len);
        if (elem == 0) {
            return MP_ENOMEM;
        }
    }
    bool dead;
    int r = mp__store_lock(st, &s->m, &dead);
    if (r != 0) {
        mp__store_free(st, elem);
        return r;
    }
    if (dead) {
        mp__mutex_consistent(&s->m); /* every state is valid (see top) */
    }
    list_op_t op = {.st = st, .s = s};
    op.v = mp__store_at(st, atomic_load(&s->body), sizeof(list_vec_t));
    op.len = atomic_load(&op.v->len);
    uint64_t at = 0;
    switch (req->op) {
    case MP__OP_LIST_LEN:
        rep->num = (int64_t)op.len;
        break;
    case MP__OP_LIST_APPEND:
        r = op_append(&op, &elem, 1);
        elem = r == 0 ? 0 : elem;
        break;
    case MP__OP_LIST_EXTEND:
        r = op_extend(&op, req);
        break;
    case MP__OP_LIST_GET:
        r = resolve_index(req->num[0], op.len, &at);
        if (r == 0) {
            r = reply_elem(st, op.v->items[at], rep);
        }
        break;
    case MP__OP_LIST_SET:
        r = resolve_index(req->num[0], op.len, &at);
        if (r == 0) {
            uint64_t old = op.v->items[at];
            op.v->items[at] = elem; /* publishes */
            elem = old;             /* freed below */
        }
        break;
    case MP__OP_LIST_DELETE:
        r = resolve_index(req->num[0], op.len, &at);
        r = r != 0 ? r : op_remove(&op, at, rep, false);
        break;
    case MP__OP_LIST_POP:
        r = resolve_index(req->num[0], op.len, &at);
        r = r != 0 ? r : op_remove(&op, at, rep, true);
        break;
    case MP__OP_LIST_INSERT:
        r = op_insert(&op, clamp_index(req->num[0], op.len), elem);
        elem = r == 0 ? 0 : elem;
        break;
    case MP__OP_LIST_INDEX:
        r = MP_ENOENT;
        for (uint64_t i = 0; i < op.len; i++) {
            list_elem_t *e = elem_at(st, op.v->items[i]);
            if (e != NULL && e->len == arg->len &&
                (arg->len == 0 || memcmp(e->bytes, arg->ptr, arg->len) == 0)) {
                rep->num = (int64_t)i;
                r = 0;
                break;
            }
        }
        break;
    case MP__OP_LIST_SLICE:
        r = op_slice(&op, req->num[0], req->num[1], rep);
        break;
    case MP__OP_LIST_REVERSE:
        r = op_reverse(&op);
        break;
    case MP__OP_LIST_CLEAR:
        r = op_clear(&op);
        break;
    default:
        r = MP_EKIND;
        break;
    }
    mp__mutex_unlock(&s->m);
    mp__store_free(st, elem);
    return r;
}

/*--- the ops (lock held) --------------------------------------------------*/

/* Appends n elements in order, growing the vector when needed. */
static int
op_append(list_op_t *op, const uint64_t *elems, uint64_t n)
{
    if (n > op->v->cap - op->len) {
        uint64_t cap = op->v->cap;
        while (cap - op->len < n) {
            if (cap > UINT64_MAX / 16) {
                return MP_ENOMEM;
            }
            cap *= 2;
        }
        uint64_t noff;
        list_vec_t *nv = vec_new(op->st, cap, &noff);
        if (nv == NULL) {
            return MP_ENOMEM;
        }
        memcpy(nv->items, op->v->items, op->len * sizeof(uint64_t));
        memcpy(nv->items + op->len, elems, n * sizeof(uint64_t));
        atomic_store(&nv->len, op->len + n);
        vec_publish(op, nv, noff);
        return 0;
    }
    memcpy(op->v->items + op->len, elems, n * sizeof(uint64_t));
    atomic_store(&op->v->len, op->len + n); /* publishes */
    op->len += n;
    return 0;
}

/* Appends the packed elements of req (arg0, num0 of them) as one step. */
static int
op_extend(list_op_t *op, const mp__mgr_req_t *req)
{
    if (req->num[0] < 0) {
        return MP_EINVAL;
    }
    mp_buf_t *bufs = NULL;
    size_t n = (size_t)req->num[0];
    int r = mp__mgr_unpack(req->arg[0].ptr, req->arg[0].len, n, &bufs);
    if (r != 0) {
        return r == MP_EPROTO ? MP_EINVAL : r;
    }
    uint64_t *elems = mp__malloc((n > 0 ? n : 1) * sizeof *elems);
    size_t made = 0;
    r = elems != NULL ? 0 : MP_ENOMEM;
    for (; r == 0 && made < n; made++) {
        elems[made] = elem_new(op->st, bufs[made].data, bufs[made].len);
        if (elems[made] == 0) {
            r = MP_ENOMEM;
            break;
        }
    }
    if (r == 0) {
        r = op_append(op, elems, n);
    }
    if (r != 0 && elems != NULL) {
        for (size_t i = 0; i < made; i++) {
            mp__store_free(op->st, elems[i]);
        }
    }
    mp__free(elems);
    mp__free(bufs);
    return r;
}

/* Inserts elem before position at (0..len). */
static int
op_insert(list_op_t *op, uint64_t at, uint64_t elem)
{
    if (at == op->len) {
        return op_append(op, &elem, 1);
    }
    uint64_t cap = op->v->cap;
    if (op->len + 1 > cap) {
        cap *= 2;
    }
    uint64_t noff;
    list_vec_t *nv = vec_new(op->st, cap, &noff);
    if (nv == NULL) {
        return MP_ENOMEM;
    }
    memcpy(nv->items, op->v->items, at * sizeof(uint64_t));
    nv->items[at] = elem;
    memcpy(nv->items + at + 1, op->v->items + at,
           (op->len - at) * sizeof(uint64_t));
    atomic_store(&nv->len, op->len + 1);
    vec_publish(op, nv, noff);
    return 0;
}

/* Removes the element at position at; with hand_out its bytes go to rep. */
static int
op_remove(list_op_t *op, uint64_t at, mp__mgr_rep_t *rep, bool hand_out)
{
    uint64_t elem = op->v->items[at];
    if (hand_out) {
        int r = reply_elem(op->st, elem, rep);
        if (r != 0) {
            return r;
        }
    }
    if (at + 1 == op->len) {
        atomic_store(&op->v->len, op->len - 1); /* publishes */
        op->len--;
    } else {
        uint64_t noff;
        list_vec_t *nv = vec_new(op->st, op->v->cap, &noff);
        if (nv == NULL) {
            mp__mgr_rep_clear(rep);
            return MP_ENOMEM;
        }
        memcpy(nv->items, op->v->items, at * sizeof(uint64_t));
        memcpy(nv->items + at, op->v->items + at + 1,
               (op->len - at - 1) * sizeof(uint64_t));
        atomic_store(&nv->len, op->len - 1);
        vec_publish(op, nv, noff);
    }
    mp__store_free(op->st, elem);
    return 0;
}

static int
op_reverse(list_op_t *op)
{
    uint64_t noff;
    list_vec_t *nv = vec_new(op->st, op->v->cap, &noff);
    if (nv == NULL) {
        return MP_ENOMEM;
    }
    for (uint64_t i = 0; i < op->len; i++) {
        nv->items[i] = op->v->items[op->len - 1 - i];
    }
    atomic_store(&nv->len, op->len);
    vec_publish(op, nv, noff);
    return 0;
}

/* Empties the list: the length goes to 0 first, then the elements are
 * freed. */
static int
op_clear(list_op_t *op)
{
    atomic_store(&op->v->len, 0); /* publishes */
    for (uint64_t i = 0; i < op->len; i++) {
        mp__store_free(op->st, op->v->items[i]);
    }
    op->len = 0;
    return 0;
}

/* Packs the elements of lst[start:stop] into rep. */
static int
op_slice(list_op_t *op, int64_t start, int64_t stop, mp__mgr_rep_t *rep)
{
    uint64_t a = clamp_index(start, op->len);
    uint64_t b = clamp_index(stop, op->len);
    uint64_t n = b > a ? b - a : 0;
    mp_buf_t *bufs = mp__malloc((n > 0 ? n : 1) * sizeof *bufs);
    if (bufs == NULL) {
        return MP_ENOMEM;
    }
    for (uint64_t i = 0; i < n; i++) {
        list_elem_t *e = elem_at(op->st, op->v->items[a + i]);
        bufs[i] = e != NULL ? (mp_buf_t){e->bytes, e->len} : (mp_buf_t){0};
    }
    return mp__store_reply_pack(rep, bufs, n);
}

/*--- helpers --------------------------------------------------------------*/

/* Publishes a new vector and frees the old one. */
static void
vec_publish(list_op_t *op, list_vec_t *nv, uint64_t noff)
{
    uint64_t old = atomic_exchange(&op->s->body, noff);
    mp__store_free(op->st, old);
    op->v = nv;
    op->len = atomic_load(&nv->len);
}

static list_vec_t *
vec_new(mp__store_t *st, uint64_t cap, uint64_t *off)
{
    list_vec_t *v =
        mp__store_array_new(st, sizeof(list_vec_t), sizeof(uint64_t), cap, off);
    if (v == NULL) {
        return NULL;
    }
    v->cap = cap;
    atomic_store(&v->len, 0);
    return v;
}

/* A new element block holding len bytes at p; 0 when the store is full. */
static uint64_t
elem_new(mp__store_t *st, const void *p, size_t len)
{
    size_t bytes;
    if (!mp__size_add(sizeof(list_elem_t), len, &bytes)) {
        return 0;
    }
    uint64_t off = mp__store_alloc(st, bytes);
    if (off != 0) {
        list_elem_t *e = mp__store_at(st, off, bytes);
        e->len = len;
        if (len > 0) {
            memcpy(e->bytes, p, len);
        }
    }
    return off;
}

static list_elem_t *
elem_at(mp__store_t *st, uint64_t off)
{
    return mp__store_at(st, off, sizeof(list_elem_t));
}

/* Copies an element's bytes into rep (num = length). */
static int
reply_elem(mp__store_t *st, uint64_t off, mp__mgr_rep_t *rep)
{
    list_elem_t *e = elem_at(st, off);
    if (e == NULL) {
        return MP_EPROTO;
    }
    int r = mp__store_reply_copy(rep, e->bytes, e->len);
    if (r == 0) {
        rep->num = (int64_t)e->len;
    }
    return r;
}

/* Python's lst[index]: a negative index counts from the end. Returns 0
 * with the position in *out, or MP_ERANGE. */
static int
resolve_index(int64_t index, uint64_t len, uint64_t *out)
{
    if (index < 0) {
        if ((uint64_t) - (index + 1) >= len) {
            return MP_ERANGE;
        }
        *out = len - (uint64_t) - (index + 1) - 1;
        return 0;
    }
    if ((uint64_t)index >= len) {
        return MP_ERANGE;
    }
    *out = (uint64_t)index;
    return 0;
}

/* Python's clamping for insert positions and slice bounds: 0..len. */
static uint64_t
clamp_index(int64_t index, uint64_t len)
{
    if (index < 0) {
        uint64_t back = (uint64_t) - (index + 1) + 1;
        return back >= len ? 0 : len - back;
    }
    return (uint64_t)index > len ? len : (uint64_t)index;
}
