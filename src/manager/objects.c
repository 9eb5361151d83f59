/* SPDX-License-Identifier: MIT */
/* objects.c - managed objects as a whole, whatever their kind: the state
 * each kind keeps in the store, made for a CREATE (with the table entry
 * that names it) and freed with the last reference (mp__obj_create,
 * mp__obj_decref), and this process's handles of the sync objects and
 * queues (mp__obj_local_of), cached in the store's attachment.
 *
 * A dict's, list's, Value's or Array's state is made and freed by its own
 * file (dict.c, list.c, values.c); a sync object's state is the sync
 * layer's shared state, wrapped here into a handle; a queue's state is its
 * segment's name (store_internal.h), the queue itself an ordinary
 * mp_queue_t; a condition's state names its lock, its own or another
 * object's (holding a reference to it); a user object's state is the
 * server's handle, freed through the store's user destroy hook. */
#include "store_internal.h"

#include "../queue/queue_internal.h"

#include <limits.h>
#include <string.h>

/* A condition's state: its lock (its own RLock, or another object's),
 * then the condition's own state at cond_off. */
typedef struct cond_obj_state {
    uint32_t lock_index, lock_gen; /* another object's lock; gen 0: own */
    uint64_t lock_off;             /* heap offset of the lock's state */
    uint64_t cond_off;             /* heap offset of the condition state */
} cond_obj_state_t;

static void local_free(mp__store_local_t *loc);
static void state_free(mp__store_t *st, uint32_t kind, uint64_t state_off,
                       uint64_t user);

/* The state of a new object of kind (req's parameters), into *off. */
static int
state_new(mp__store_t *st, const mp__mgr_req_t *req, uint32_t kind,
          uint64_t *off)
{
    uint64_t size;
    void *p;
    switch (kind) {
    case MP_PROXY_DICT:
    case MP_PROXY_NAMESPACE:
        return mp__dict_new(st, off);
    case MP_PROXY_LIST:
        return mp__list_new(st, off);
    case MP_PROXY_LOCK:
    case MP_PROXY_RLOCK:
        size = mp__lock_state_size();
        break;
    case MP_PROXY_SEMAPHORE:
    case MP_PROXY_BOUNDED_SEMAPHORE:
        if (req->num[1] < 0 || req->num[1] > MP_SEM_VALUE_MAX) {
            return MP_EINVAL;
        }
        size = mp__semaphore_state_size();
        break;
    case MP_PROXY_EVENT:
        size = mp__event_state_size();
        break;
    case MP_PROXY_BARRIER:
        if (req->num[1] <= 0 || req->num[1] > INT32_MAX) {
            return MP_EINVAL;
        }
        size = mp__barrier_state_size();
        break;
    default:
        return MP_EINVAL;
    }
    *off = mp__store_alloc(st, size);
    p = mp__store_at(st, *off, size);
    if (p == NULL) {
        return MP_ENOMEM;
    }
    switch (kind) {
    case MP_PROXY_LOCK:
    case MP_PROXY_RLOCK:
        mp__lock_state_init(p, kind == MP_PROXY_RLOCK);
        break;
    case MP_PROXY_SEMAPHORE:
    case MP_PROXY_BOUNDED_SEMAPHORE:
        mp__semaphore_state_init(p, (unsigned)req->num[1],
                                 kind == MP_PROXY_BOUNDED_SEMAPHORE);
        break;
    case MP_PROXY_EVENT:
        mp__event_state_init(p);
        break;
    default:
        mp__barrier_state_init(p, (unsigned)req->num[1]);
        break;
    }
    return 0;
}

/* A queue made here (the server), named in its state. */
static int
queue_new(mp__store_t *st, const mp__mgr_req_t *req, bool joinable,
          uint64_t *off, mp_queue_t **q)
{
    mp_queue_opts_t opts = MP_QUEUE_OPTS_INIT;
    opts.joinable = joinable;
    /* <= 0: unbounded. */
    opts.maxsize = req->num[1] <= 0         ? 0
                   : req->num[1] > LONG_MAX ? LONG_MAX
                                            : (long)req->num[1];
    *off = mp__store_alloc(st, sizeof(mp__store_queue_state_t));
    mp__store_queue_state_t *qs = mp__store_at(st, *off, sizeof *qs);
    if (qs == NULL) {
        return MP_ENOMEM;
    }
    int r = mp_queue_create(q, &opts);
    const char *name = r == 0 ? mp_queue_name(*q) : NULL;
    if (r == 0 && strlen(name) >= MP__STORE_QUEUE_NAME_MAX) {
        mp_queue_destroy(*q);
        r = MP_ENAMETOOLONG;
    }
    if (r != 0) {
        mp__store_free(st, *off);
        return r;
    }
    memset(qs, 0, sizeof *qs);
    memcpy(qs->name, name, strlen(name));
    return 0;
}

/* A condition on the lock req names (num1 index, num2 gen) or, with num1
 * -1, on a new RLock of its own. */
static int
condition_new(mp__store_t *st, const mp__mgr_req_t *req, uint64_t *off)
{
    bool own = req->num[1] == -1;
    uint64_t lock_off = 0;
    if (!own) {
        if (req->num[1] < 0 || req->num[1] > UINT32_MAX || req->num[2] < 0 ||
            req->num[2] > UINT32_MAX) {
            return MP_EINVAL;
        }
        int kind =
            mp__store_kind(st, (uint32_t)req->num[1], (uint32_t)req->num[2]);
        if (kind < 0) {
            return kind;
        }
        if (kind != MP_PROXY_LOCK && kind != MP_PROXY_RLOCK) {
            return MP_EKIND;
        }
        lock_off = atomic_load(&st->table[req->num[1]].state);
    }
    size_t csize = mp__condition_state_size();
    size_t lsize = own ? mp__lock_state_size() : 0;
    uint64_t cs_bytes = (sizeof(cond_obj_state_t) + 15) / 16 * 16;
    uint64_t cd_bytes = (csize + 15) / 16 * 16;
    *off = mp__store_alloc(st, cs_bytes + cd_bytes + lsize);
    cond_obj_state_t *cs = mp__store_at(st, *off, cs_bytes + cd_bytes + lsize);
    if (cs == NULL) {
        return MP_ENOMEM;
    }
    cs->cond_off = *off + cs_bytes;
    mp__condition_state_init(mp__store_at(st, cs->cond_off, csize));
    if (own) {
        cs->lock_index = 0;
        cs->lock_gen = 0;
        cs->lock_off = cs->cond_off + cd_bytes;
        mp__lock_state_init(mp__store_at(st, cs->lock_off, lsize), true);
        return 0;
    }
    int r = mp__store_obj_ref(st, (uint32_t)req->num[1], (uint32_t)req->num[2]);
    if (r != 0) {
        mp__store_free(st, *off);
        return r;
    }
    cs->lock_index = (uint32_t)req->num[1];
    cs->lock_gen = (uint32_t)req->num[2];
    cs->lock_off = lock_off;
    return 0;
}

int
mp__obj_create(mp__store_t *st, const mp__mgr_req_t *req, mp__mgr_rep_t *rep)
{
    if (req->num[0] <= 0 || req->num[0] >= MP_PROXY_USER) {
        return MP_EINVAL;
    }
    uint32_t kind = (uint32_t)req->num[0];
    uint64_t off = 0;
    mp_queue_t *q = NULL;
    int r;
    switch (kind) {
    case MP_PROXY_VALUE:
    case MP_PROXY_ARRAY:
        r = mp__values_new(st, req, kind == MP_PROXY_ARRAY, &off);
        break;
    case MP_PROXY_QUEUE:
    case MP_PROXY_JOINABLE_QUEUE:
        r = queue_new(st, req, kind == MP_PROXY_JOINABLE_QUEUE, &off, &q);
        break;
    case MP_PROXY_CONDITION:
        r = condition_new(st, req, &off);
        break;
    default:
        r = state_new(st, req, kind, &off);
        break;
    }
    if (r != 0) {
        return r;
    }
    uint32_t index, gen;
    r = mp__store_obj_new(st, kind, off, 0, &index, &gen);
    if (r != 0) {
        state_free(st, kind, off, 0);
        mp_queue_destroy(q);
        return r;
    }
    if (q != NULL) {
        /* Keep the creating handle: its destroy (at detach) removes the
         * queue, and the server needs no attach of its own. */
        mp__store_local_t *loc = mp__calloc(1, sizeof *loc);
        if (loc != NULL) {
            loc->gen = gen;
            loc->kind = kind;
            loc->handle = q;
            loc->free = local_free;
            if (mp__store_local_set(st, index, loc) != loc) {
                local_free(loc);
            }
        } else {
            mp_queue_destroy(q); /* removes it: the object is unusable */
        }
    }
    rep->num = index;
    rep->gen = gen;
    return 0;
}

int
mp__obj_decref(mp__store_t *st, uint32_t index, uint32_t gen)
{
    uint32_t kind;
    uint64_t off, user;
    int r = mp__store_obj_unref(st, index, gen, &kind, &off, &user);
    if (r == 1) {
        state_free(st, kind, off, user);
        r = 0;
    }
    return r;
}

/* Frees the kind-specific state of a dead object: queues are removed,
 * user objects handed to the user destroy hook. */
static void
state_free(mp__store_t *st, uint32_t kind, uint64_t state_off, uint64_t user)
{
    switch (kind) {
    case MP_PROXY_DICT:
    case MP_PROXY_NAMESPACE:
        mp__dict_free(st, state_off);
        return;
    case MP_PROXY_LIST:
        mp__list_free(st, state_off);
        return;
    case MP_PROXY_QUEUE:
    case MP_PROXY_JOINABLE_QUEUE: {
        const char *name = mp__store_queue_name(st, state_off);
        if (name != NULL) {
            mp__queue_remove_name(name);
        }
        break;
    }
    case MP_PROXY_CONDITION: {
        cond_obj_state_t *cs =
            mp__store_at(st, state_off, sizeof(cond_obj_state_t));
        if (cs != NULL && cs->lock_gen != 0) {
            (void)mp__obj_decref(st, cs->lock_index, cs->lock_gen);
        }
        break;
    }
    case MP_PROXY_USER:
        if (st->user_destroy != NULL) {
            st->user_destroy(user, st->user_arg);
        }
        return;
    default:
        break;
    }
    mp__store_free(st, state_off);
}

/* Makes this process's handles of an object of kind whose state is at
 * state into loc. */
static int
local_new(mp__store_t *st, uint32_t kind, uint64_t state,
          mp__store_local_t *loc)
{
    void *p;
    switch (kind) {
    case MP_PROXY_LOCK:
    case MP_PROXY_RLOCK:
        p = mp__store_at(st, state, mp__lock_state_size());
        return mp__lock_wrap(p, (mp_lock_t **)&loc->handle);
    case MP_PROXY_SEMAPHORE:
    case MP_PROXY_BOUNDED_SEMAPHORE:
        p = mp__store_at(st, state, mp__semaphore_state_size());
        return mp__semaphore_wrap(p, (mp_semaphore_t **)&loc->handle);
    case MP_PROXY_EVENT:
        p = mp__store_at(st, state, mp__event_state_size());
        return mp__event_wrap(p, (mp_event_t **)&loc->handle);
    case MP_PROXY_BARRIER:
        p = mp__store_at(st, state, mp__barrier_state_size());
        return mp__barrier_wrap(p, (mp_barrier_t **)&loc->handle);
    case MP_PROXY_CONDITION: {
        cond_obj_state_t *cs = mp__store_at(st, state, sizeof *cs);
        if (cs == NULL) {
            return MP_ECLOSED;
        }
        p = mp__store_at(st, cs->lock_off, mp__lock_state_size());
        int r = mp__lock_wrap(p, &loc->lock);
        if (r != 0) {
            return r;
        }
        p = mp__store_at(st, cs->cond_off, mp__condition_state_size());
        return mp__condition_wrap(p, loc->lock,
                                  (mp_condition_t **)&loc->handle);
    }
    case MP_PROXY_QUEUE:
    case MP_PROXY_JOINABLE_QUEUE: {
        const char *name = mp__store_queue_name(st, state);
        if (name == NULL) {
            return MP_ECLOSED;
        }
        int r = mp_queue_attach((mp_queue_t **)&loc->handle, name);
        return r == MP_ENOENT ? MP_ECLOSED : r;
    }
    default:
        return MP_EKIND;
    }
}

int
mp__obj_local_of(mp__store_t *st, uint32_t index, uint32_t gen, uint32_t kind,
                 uint64_t state, mp__store_local_t **out)
{
    *out = mp__store_local_get(st, index, gen);
    if (*out != NULL) {
        return 0;
    }
    mp__store_local_t *loc = mp__calloc(1, sizeof *loc);
    if (loc == NULL) {
        return MP_ENOMEM;
    }
    loc->gen = gen;
    loc->kind = kind;
    loc->free = local_free;
    int r = local_new(st, kind, state, loc);
    if (r != 0) {
        local_free(loc);
        return r;
    }
    *out = mp__store_local_set(st, index, loc);
    if (*out != loc) {
        local_free(loc);
    }
    return 0;
}

/* Frees handles made by local_of (their record's free function). */
static void
local_free(mp__store_local_t *loc)
{
    if (loc == NULL) {
        return;
    }
    switch (loc->kind) {
    case MP_PROXY_LOCK:
    case MP_PROXY_RLOCK:
        mp_lock_destroy(loc->handle);
        break;
    case MP_PROXY_SEMAPHORE:
    case MP_PROXY_BOUNDED_SEMAPHORE:
        mp_semaphore_destroy(loc->handle);
        break;
    case MP_PROXY_EVENT:
        mp_event_destroy(loc->handle);
        break;
    case MP_PROXY_BARRIER:
        mp_barrier_destroy(loc->handle);
        break;
    case MP_PROXY_CONDITION:
        mp_condition_destroy(loc->handle);
        mp_lock_destroy(loc->lock);
        break;
    case MP_PROXY_QUEUE:
    case MP_PROXY_JOINABLE_QUEUE:
        mp_queue_destroy(loc->handle);
        break;
    default:
        break;
    }
    mp__free(loc);
}
