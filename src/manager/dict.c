/* SPDX-License-Identifier: MIT */
/* dict.c - dict and Namespace state in the store: an open-addressing hash
 * table of byte keys and values, guarded by a death-surviving mutex.
 *
 * The state holds the mutex and the offset of the current table; a table
 * holds slots of (hash, entry offset), and an entry holds the key and the
 * value bytes in one heap block. Crash safety: a process killed mid-op
 * leaves a valid table because every change is published by one store
 * after the new blocks are fully written: set writes a fresh entry then
 * swaps the slot's offset; delete stores a tombstone; a resize or clear
 * builds a whole new table then swaps the state's table offset. Old blocks
 * are freed after the swap (a kill in between only leaks them). The counts
 * in the table are recomputed by the next holder after a death.
 *
 * Keys are hashed with SipHash-1-3 under the store's secret key (made from
 * the kernel's CSPRNG when the store is created): keys chosen by a client
 * cannot be precomputed to collide and pile into one probe run. */
#include "store_internal.h"

#include <string.h>

#define SLOT_EMPTY 0u
#define SLOT_TOMB 1u
#define TABLE_MIN_CAP 8u

/* The head: body is the offset of the dict_table. */
typedef mp__store_head_t dict_state_t;

typedef struct dict_slot {
    _Atomic uint64_t hash;
    _Atomic uint64_t entry; /* offset, SLOT_EMPTY or SLOT_TOMB */
} dict_slot_t;

typedef struct dict_table {
    uint64_t cap;   /* power of two */
    uint64_t count; /* live keys */
    uint64_t used;  /* live keys and tombstones */
    dict_slot_t slots[];
} dict_table_t;

typedef struct dict_entry {
    uint64_t klen;
    uint64_t vlen;
    uint8_t bytes[]; /* key, then value */
} dict_entry_t;

/* What one op works on, with its lock held. */
typedef struct dict_op {
    mp__store_t *st;
    dict_state_t *s;
    dict_table_t *t;
    const uint8_t *key;
    size_t klen;
    uint64_t hash;
} dict_op_t;

static uint64_t hash_bytes(const mp__store_t *st, const void *p, size_t len);
static int op_lock(dict_op_t *op);
static dict_table_t *table_new(mp__store_t *st, uint64_t cap, uint64_t *off);
static int64_t find_slot(const dict_op_t *op);
static dict_entry_t *entry_at(mp__store_t *st, uint64_t off);
static void repair(dict_op_t *op);
static int op_set(dict_op_t *op, const mp__mgr_bytes_t *val);
static int op_remove(dict_op_t *op, mp__mgr_rep_t *rep, bool hand_out);
static int op_clear(dict_op_t *op);
static int op_snapshot(dict_op_t *op, mp__mgr_rep_t *rep, bool items);

int
mp__dict_new(mp__store_t *st, uint64_t *off)
{
    uint64_t toff;
    if (table_new(st, TABLE_MIN_CAP, &toff) == NULL) {
        return MP_ENOMEM;
    }
    int r = mp__store_head_new(st, toff, off);
    if (r != 0) {
        mp__store_free(st, toff);
    }
    return r;
}

void
mp__dict_free(mp__store_t *st, uint64_t off)
{
    dict_state_t *s = mp__store_at(st, off, sizeof *s);
    if (s == NULL) {
        return;
    }
    dict_op_t op = {.st = st, .s = s};
    op.t = mp__store_at(st, atomic_load(&s->body), sizeof(dict_table_t));
    if (op.t != NULL) {
        (void)op_clear(&op); /* frees the entries and the table */
        mp__store_free(st, atomic_load(&s->body));
    }
    mp__store_free(st, off);
}

int
mp__dict_exec(mp__store_t *st, uint64_t off, const mp__mgr_req_t *req,
              mp__mgr_rep_t *rep)
{
    dict_state_t *s = mp__store_at(st, off, sizeof *s);
    if (s == NULL) {
        return MP_ECLOSED;
    }
    const mp__mgr_bytes_t *key = &req->arg[0];
    bool keyed = req->op == MP__OP_DICT_SET || req->op == MP__OP_DICT_GET ||
                 req->op == MP__OP_DICT_DELETE || req->op == MP__OP_DICT_POP ||
                 req->op == MP__OP_DICT_CONTAINS;
    if (keyed && (key->len == 0 || key->ptr == NULL)) {
        return MP_EINVAL;
    }
    if (req->op == MP__OP_DICT_SET && req->arg[1].len > 0 &&
        req->arg[1].ptr == NULL) {
        return MP_EINVAL;
    }
    if (keyed && key->len > st->heap_size) {
        /* No such key fits in the store: answer without reading (hashing)
         * a length the caller's buffer cannot have. */
        if (req->op == MP__OP_DICT_CONTAINS) {
            rep->num = 0;
            return 0;
        }
        return req->op == MP__OP_DICT_SET ? MP_ENOMEM : MP_ENOENT;
    }
    dict_op_t op = {.st = st, .s = s, .key = key->ptr, .klen = key->len};
    int r = op_lock(&op);
    if (r != 0) {
        return r;
    }
    if (keyed) {
        op.hash = hash_bytes(st, op.key, op.klen);
    }
    switch (req->op) {
    case MP__OP_DICT_SET:
        r = op_set(&op, &req->arg[1]);
        break;
    case MP__OP_DICT_GET: {
        int64_t i = find_slot(&op);
        dict_entry_t *e =
            i < 0 ? NULL : entry_at(st, atomic_load(&op.t->slots[i].entry));
        r = e == NULL ? MP_ENOENT
                      : mp__store_reply_copy(rep, e->bytes + e->klen, e->vlen);
        if (e != NULL && r == 0) {
            rep->num = (int64_t)e->vlen;
        }
        break;
    }
    case MP__OP_DICT_DELETE:
        r = op_remove(&op, rep, false);
        break;
    case MP__OP_DICT_POP:
        r = op_remove(&op, rep, true);
        break;
    case MP__OP_DICT_CONTAINS:
        rep->num = find_slot(&op) >= 0;
        break;
    case MP__OP_DICT_LEN:
        rep->num = (int64_t)op.t->count;
        break;
    case MP__OP_DICT_CLEAR:
        r = op_clear(&op);
        break;
    case MP__OP_DICT_KEYS:
        r = op_snapshot(&op, rep, false);
        break;
    case MP__OP_DICT_ITEMS:
        r = op_snapshot(&op, rep, true);
        break;
    default:
        r = MP_EKIND;
        break;
    }
    mp__mutex_unlock(&s->m);
    return r;
}

/*--- the ops (lock held) --------------------------------------------------*/

/* Stores a copy of key -> val, replacing any value the key had. */
static int
op_set(dict_op_t *op, const mp__mgr_bytes_t *val)
{
    mp__store_t *st = op->st;
    size_t need;
    if (!mp__size_add(sizeof(dict_entry_t), op->klen, &need) ||
        !mp__size_add(need, val->len, &need)) {
        return MP_ENOMEM;
    }
    uint64_t eoff = mp__store_alloc(st, need);
    if (eoff == 0) {
        return MP_ENOMEM;
    }
    dict_entry_t *e = mp__store_at(st, eoff, need);
    e->klen = op->klen;
    e->vlen = val->len;
    memcpy(e->bytes, op->key, op->klen);
    if (val->len > 0) {
        memcpy(e->bytes + op->klen, val->ptr, val->len);
    }
    int64_t i = find_slot(op);
    if (i >= 0) {
        uint64_t old = atomic_exchange(&op->t->slots[i].entry, eoff);
        mp__store_free(st, old);
        return 0;
    }
    if ((op->t->used + 1) * 2 > op->t->cap) {
        /* Rebuild into a table with room for growth, dropping tombstones. */
        uint64_t cap = TABLE_MIN_CAP;
        while (cap < (op->t->count + 1) * 4) {
            cap *= 2;
        }
        uint64_t toff;
        dict_table_t *nt = table_new(st, cap, &toff);
        if (nt == NULL) {
            mp__store_free(st, eoff);
            return MP_ENOMEM;
        }
        for (uint64_t k = 0; k < op->t->cap; k++) {
            uint64_t ent = atomic_load(&op->t->slots[k].entry);
            if (ent <= SLOT_TOMB) {
                continue;
            }
            uint64_t h = atomic_load(&op->t->slots[k].hash);
            uint64_t j = h & (cap - 1);
            while (atomic_load(&nt->slots[j].entry) != SLOT_EMPTY) {
                j = (j + 1) & (cap - 1);
            }
            atomic_store(&nt->slots[j].hash, h);
            atomic_store(&nt->slots[j].entry, ent);
            nt->count++;
        }
        nt->used = nt->count;
        uint64_t old = atomic_exchange(&op->s->body, toff);
        op->t = nt;
        mp__store_free(st, old);
    }
    /* The first free slot on the probe path (a tombstone may be reused). */
    dict_table_t *t = op->t;
    uint64_t j = op->hash & (t->cap - 1);
    while (atomic_load(&t->slots[j].entry) > SLOT_TOMB) {
        j = (j + 1) & (t->cap - 1);
    }
    bool was_empty = atomic_load(&t->slots[j].entry) == SLOT_EMPTY;
    atomic_store(&t->slots[j].hash, op->hash);
    atomic_store(&t->slots[j].entry, eoff); /* publishes */
    t->count++;
    if (was_empty) {
        t->used++;
    }
    return 0;
}

/* Removes the key; with hand_out, its value goes into rep first. */
static int
op_remove(dict_op_t *op, mp__mgr_rep_t *rep, bool hand_out)
{
    int64_t i = find_slot(op);
    if (i < 0) {
        return MP_ENOENT;
    }
    uint64_t eoff = atomic_load(&op->t->slots[i].entry);
    if (hand_out) {
        dict_entry_t *e = entry_at(op->st, eoff);
        int r = mp__store_reply_copy(rep, e->bytes + e->klen, e->vlen);
        if (r != 0) {
            return r; /* nothing removed */
        }
        rep->num = (int64_t)e->vlen;
    }
    atomic_store(&op->t->slots[i].entry, SLOT_TOMB);
    op->t->count--;
    mp__store_free(op->st, eoff);
    return 0;
}

/* Empties the dict: a fresh empty table is published first (when one can
 * be had), then the old entries are freed. */
static int
op_clear(dict_op_t *op)
{
    dict_table_t *old = op->t;
    uint64_t toff;
    dict_table_t *nt = table_new(op->st, TABLE_MIN_CAP, &toff);
    if (nt != NULL) {
        uint64_t old_off = atomic_exchange(&op->s->body, toff);
        op->t = nt;
        for (uint64_t k = 0; k < old->cap; k++) {
            uint64_t ent = atomic_load(&old->slots[k].entry);
            if (ent > SLOT_TOMB) {
                mp__store_free(op->st, ent);
            }
        }
        mp__store_free(op->st, old_off);
        return 0;
    }
    /* Store full: tombstone every slot in place, one at a time. */
    for (uint64_t k = 0; k < old->cap; k++) {
        uint64_t ent = atomic_load(&old->slots[k].entry);
        if (ent > SLOT_TOMB) {
            atomic_store(&old->slots[k].entry, SLOT_TOMB);
            old->count--;
            mp__store_free(op->st, ent);
        }
    }
    return 0;
}

/* Packs the keys (or key, value pairs) into rep. */
static int
op_snapshot(dict_op_t *op, mp__mgr_rep_t *rep, bool items)
{
    dict_table_t *t = op->t;
    size_t per = items ? 2 : 1;
    size_t n = (size_t)t->count * per;
    mp_buf_t *bufs = mp__malloc((n > 0 ? n : 1) * sizeof *bufs);
    if (bufs == NULL) {
        return MP_ENOMEM;
    }
    size_t k = 0;
    for (uint64_t j = 0; j < t->cap && k < n; j++) {
        dict_entry_t *e = entry_at(op->st, atomic_load(&t->slots[j].entry));
        if (e == NULL) {
            continue;
        }
        bufs[k++] = (mp_buf_t){e->bytes, e->klen};
        if (items) {
            bufs[k++] = (mp_buf_t){e->bytes + e->klen, e->vlen};
        }
    }
    return mp__store_reply_pack(rep, bufs, k);
}

/*--- helpers --------------------------------------------------------------*/

/* Takes op->s's lock for an op and loads its table into op->t, repairing
 * the counts when the last holder died. Returns 0 (locked), or an error
 * (not locked). */
static int
op_lock(dict_op_t *op)
{
    bool dead;
    int r = mp__store_lock(op->st, &op->s->m, &dead);
    if (r != 0) {
        return r;
    }
    op->t =
        mp__store_at(op->st, atomic_load(&op->s->body), sizeof(dict_table_t));
    if (op->t == NULL) {
        mp__mutex_unlock(&op->s->m);
        return MP_EPROTO; /* never happens in a store we formatted */
    }
    if (dead) {
        repair(op);
        mp__mutex_consistent(&op->s->m);
    }
    return 0;
}

/* After a holder died: recount live keys and used slots. */
static void
repair(dict_op_t *op)
{
    dict_table_t *t = op->t;
    uint64_t count = 0, used = 0;
    for (uint64_t k = 0; k < t->cap; k++) {
        uint64_t ent = atomic_load(&t->slots[k].entry);
        count += ent > SLOT_TOMB;
        used += ent != SLOT_EMPTY;
    }
    t->count = count;
    t->used = used;
}

/* The slot holding op's key, or -1. */
static int64_t
find_slot(const dict_op_t *op)
{
    dict_table_t *t = op->t;
    uint64_t j = op->hash & (t->cap - 1);
    for (uint64_t probes = 0; probes < t->cap; probes++) {
        uint64_t ent = atomic_load(&t->slots[j].entry);
        if (ent == SLOT_EMPTY) {
            return -1;
        }
        if (ent != SLOT_TOMB && atomic_load(&t->slots[j].hash) == op->hash) {
            dict_entry_t *e = entry_at(op->st, ent);
            if (e != NULL && e->klen == op->klen &&
                memcmp(e->bytes, op->key, op->klen) == 0) {
                return (int64_t)j;
            }
        }
        j = (j + 1) & (t->cap - 1);
    }
    return -1;
}

/* The entry at a slot's offset, or NULL for an empty or tombstone slot. */
static dict_entry_t *
entry_at(mp__store_t *st, uint64_t off)
{
    if (off <= SLOT_TOMB) {
        return NULL;
    }
    return mp__store_at(st, off, sizeof(dict_entry_t));
}

/* Allocates an empty table of cap slots; its offset goes to *off. Returns
 * NULL (nothing allocated) when the store has no room. */
static dict_table_t *
table_new(mp__store_t *st, uint64_t cap, uint64_t *off)
{
    dict_table_t *t = mp__store_array_new(st, sizeof(dict_table_t),
                                          sizeof(dict_slot_t), cap, off);
    if (t == NULL) {
        return NULL;
    }
    /* Fits: the block was allocated. */
    memset(t, 0, sizeof(dict_table_t) + (size_t)cap * sizeof(dict_slot_t));
    t->cap = cap;
    return t;
}

/* The hash of a key: SipHash-1-3 under the store's secret key. */
static uint64_t
hash_bytes(const mp__store_t *st, const void *p, size_t len)
{
    return mp__siphash13(st->hdr->hash_key, p, len);
}

uint64_t
mp__dict_longest_probe(mp__store_t *st, uint64_t off)
{
    dict_op_t op = {.st = st, .s = mp__store_at(st, off, sizeof *op.s)};
    if (op.s == NULL || op_lock(&op) != 0) {
        return 0;
    }
    const dict_table_t *t = op.t;
    uint64_t longest = 0;
    for (uint64_t j = 0; j < t->cap; j++) {
        if (atomic_load(&t->slots[j].entry) <= SLOT_TOMB) {
            continue;
        }
        uint64_t home = atomic_load(&t->slots[j].hash) & (t->cap - 1);
        uint64_t dist = (j - home) & (t->cap - 1);
        if (dist + 1 > longest) {
            longest = dist + 1;
        }
    }
    mp__mutex_unlock(&op.s->m);
    return longest;
}
