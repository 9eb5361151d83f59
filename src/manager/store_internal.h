/* SPDX-License-Identifier: MIT */
/* store_internal.h - what the files that work on the store share (store.c,
 * dict.c, list.c, values.c, objects.c, exec.c): the layout of the store
 * segment (header, object table, heap), the helpers that turn heap offsets
 * into pointers and object ids into table entries, the per-process cache
 * of wrapped handles, and the contracts of the kinds' states. They call
 * downward only: store.c <- dict.c, list.c, values.c <- objects.c <-
 * exec.c.
 *
 * Segment layout: [store_hdr | object table | heap]. Every reference inside
 * the segment is an offset (table entries name their state by heap offset),
 * so any process may map it at any address. Objects are created and freed
 * by one process at a time in practice (the server), but the table has its
 * own death-surviving lock so tests and a dying server cannot wedge it. */
#ifndef MP_STORE_INTERNAL_H
#define MP_STORE_INTERNAL_H

#include "../sync/sync_internal.h"
#include "manager_internal.h"

#include <pthread.h>

#define MP__STORE_MAGIC 0x3130305453504d4dull /* "MMPST001" */
#define MP__STORE_VERSION 2u

/* One object table entry (shared). An id (index, gen) is valid while the
 * entry's gen equals it and kind is non-zero; freeing bumps gen. */
typedef struct mp__store_entry {
    _Atomic uint32_t gen;
    _Atomic uint32_t kind;  /* mp_proxy_kind_t; 0 = free */
    _Atomic int64_t refs;   /* references (proxies) */
    _Atomic uint64_t state; /* heap offset of the kind's state; 0 none */
    _Atomic uint64_t user;  /* MP_PROXY_USER: the server's handle */
    uint64_t next_free;     /* free list link: index + 1, 0 = end */
} mp__store_entry_t;

/* The segment header (shared). */
typedef struct mp__store_hdr {
    uint64_t magic;
    uint32_t version;
    uint32_t nslots;              /* entries in the table */
    uint64_t size;                /* bytes of the segment */
    uint64_t table_off;           /* from the segment start */
    uint64_t heap_off;            /* from the segment start */
    pthread_mutex_t alive;        /* held by the serving thread (robust) */
    _Atomic uint32_t served;      /* mp__store_serve ran */
    _Atomic uint32_t closed;      /* shut down, or the server died */
    mp__mutex_t table_lock;       /* guards free_head and next_unused */
    _Atomic uint64_t free_head;   /* index + 1 of a freed entry, 0 none */
    _Atomic uint64_t next_unused; /* entries from here were never used */
    /* The SipHash key of every dict in the store, from the kernel's CSPRNG
     * at creation: the same in every process that maps the store (the
     * server and fast-path clients), unknown to anyone who cannot. */
    uint64_t hash_key[2];
    /* The creator's pid namespace (mp__plat_pidns_id): lock words and
     * queue cells in the store name processes by pid, so a process of
     * another pid namespace may not map it (mp__store_attach). */
    uint64_t pidns;
} mp__store_hdr_t;

/* The process-local handles of one object, made on first use. */
typedef struct mp__store_local {
    uint32_t gen; /* of the object they belong to */
    uint32_t kind;
    void *handle;    /* mp_lock_t *, mp_semaphore_t *, mp_event_t *,
                        mp_condition_t *, mp_barrier_t *, mp_queue_t * */
    mp_lock_t *lock; /* a condition's lock wrapper */
    /* Frees this record and its handles (set by their maker, objects.c:
     * the store frees what it caches without knowing the kinds). */
    void (*free)(struct mp__store_local *loc);
    struct mp__store_local *next_retired;
} mp__store_local_t;

/* A queue object's state: the name of its segment, NUL-terminated. */
#define MP__STORE_QUEUE_NAME_MAX 256u
typedef struct mp__store_queue_state {
    char name[MP__STORE_QUEUE_NAME_MAX];
} mp__store_queue_state_t;

struct mp__store {
    mp_shm_t *shm;
    mp__store_hdr_t *hdr;
    mp__store_entry_t *table;
    mp__heap_t *heap;
    uint64_t heap_size;
    uint32_t nslots;
    _Atomic(mp__store_local_t *) *cache;  /* nslots slots */
    _Atomic(mp__store_local_t *) retired; /* replaced, freed at detach */
    void (*user_destroy)(uint64_t handle, void *arg);
    void *user_arg;
    bool serving;           /* this process's thread holds `alive` */
    pthread_t serve_thread; /* which one */
    pid_t serve_pid;        /* and in which process (not a forked copy) */
};

/* The bytes at heap offset off, or NULL when off and len do not lie inside
 * the heap (offset 0 included). */
static inline void *
mp__store_at(mp__store_t *st, uint64_t off, uint64_t len)
{
    if (off < MP__HEAP_HDR_SLOT || off > st->heap_size ||
        len > st->heap_size - off) {
        return NULL;
    }
    return (uint8_t *)st->heap + off;
}

/* mp__store_alloc returns the heap offset of len bytes (not zeroed), or 0
 * when the store is full or len is absurd. mp__store_free frees one (0 is
 * ignored). */
uint64_t mp__store_alloc(mp__store_t *st, uint64_t len);
void mp__store_free(mp__store_t *st, uint64_t off);

/* mp__store_array_new allocates a block of a hdr-byte header followed by n
 * items of item bytes each (a dict's table, a list's vector), not zeroed,
 * and returns it with its offset in *off; NULL, with nothing allocated,
 * when the size overflows or the store has no room for it whole. */
void *mp__store_array_new(mp__store_t *st, size_t hdr, size_t item, uint64_t n,
                          uint64_t *off);

/* The state of a dict or a list in the store: the mutex of its ops and the
 * offset of its body (a dict's table, a list's vector), which an op that
 * grows the body replaces with one store. */
typedef struct mp__store_head {
    mp__mutex_t m;
    _Atomic uint64_t body;
} mp__store_head_t;

/* mp__store_head_new allocates a head for the body at body_off and stores
 * its offset in *off. Returns 0, or MP_ENOMEM (the body stays the
 * caller's). */
int mp__store_head_new(mp__store_t *st, uint64_t body_off, uint64_t *off);

/* mp__store_entry checks an id: returns the entry, or NULL with *err set to
 * MP_EINVAL (index outside the table) or MP_ECLOSED (freed/stale). */
mp__store_entry_t *mp__store_entry(mp__store_t *st, uint32_t index,
                                   uint32_t gen, int *err);

/* mp__store_obj_new adds an object of kind whose state is at state_off
 * with one reference. Returns 0 or MP_ENOMEM (table full). */
int mp__store_obj_new(mp__store_t *st, uint32_t kind, uint64_t state_off,
                      uint64_t user, uint32_t *index, uint32_t *gen);

/* mp__store_obj_ref adds a reference to a live object. Returns 0 or
 * MP_ECLOSED / MP_EINVAL for a bad id. */
int mp__store_obj_ref(mp__store_t *st, uint32_t index, uint32_t gen);

/* mp__store_obj_unref drops one reference. Returns 0 while some remain, 1
 * when this was the last: the id is then dead and the entry's kind, state
 * and user value are handed to the caller to free (and the entry is back in
 * the free list), or MP_ECLOSED / MP_EINVAL for a bad id. */
int mp__store_obj_unref(mp__store_t *st, uint32_t index, uint32_t gen,
                        uint32_t *kind, uint64_t *state_off, uint64_t *user);

/* mp__store_local_get returns this process's handles of object (index,
 * gen), or NULL when none are made yet. mp__store_local_set installs fresh
 * ones (replacing stale ones) and returns those now in the slot: loc, or
 * the ones another thread installed first (then loc is the caller's to
 * free). Lock-free (fork-safe). */
mp__store_local_t *mp__store_local_get(mp__store_t *st, uint32_t index,
                                       uint32_t gen);
mp__store_local_t *mp__store_local_set(mp__store_t *st, uint32_t index,
                                       mp__store_local_t *loc);

/* mp__store_queue_name returns the queue name a queue object's state
 * (mp__store_queue_state_t at state_off) holds, or NULL when the state
 * does not hold a well-formed one. */
const char *mp__store_queue_name(mp__store_t *st, uint64_t state_off);

/* objects.c: mp__obj_create makes the object a CREATE request asks for
 * (num0: its mp_proxy_kind_t, not a user type; num1, num2 and arg0 its
 * parameters) with one reference, and puts its id in rep (num: index,
 * gen). Returns 0, MP_EINVAL (bad parameters), MP_EKIND / MP_ECLOSED (a
 * condition's lock that is no lock or is gone), MP_ENOMEM (store or table
 * full) or a queue's creation error. mp__obj_decref drops one reference
 * of (index, gen) and at the last frees the object's state (a queue's
 * segment removed, a condition's reference to another object's lock
 * dropped, a user object handed to the store's user destroy hook).
 * Returns 0, MP_ECLOSED or MP_EINVAL. mp__obj_local_of finds, or makes
 * and caches, this process's handles of the sync object or queue (index,
 * gen) of kind whose state is at state into *out (valid until the store
 * is detached). Returns 0, MP_ENOMEM, MP_ECLOSED (a queue already gone),
 * MP_EKIND (no handles for that kind) or an error of wrapping. */
int mp__obj_create(mp__store_t *st, const mp__mgr_req_t *req,
                   mp__mgr_rep_t *rep);
int mp__obj_decref(mp__store_t *st, uint32_t index, uint32_t gen);
int mp__obj_local_of(mp__store_t *st, uint32_t index, uint32_t gen,
                     uint32_t kind, uint64_t state, mp__store_local_t **out);

/* dict.c: a dict (or Namespace) state. mp__dict_new makes an empty one;
 * mp__dict_free frees it and everything in it (no other user left);
 * mp__dict_exec runs one MP__OP_DICT_* op on it. */
int mp__dict_new(mp__store_t *st, uint64_t *off);
void mp__dict_free(mp__store_t *st, uint64_t off);
int mp__dict_exec(mp__store_t *st, uint64_t off, const mp__mgr_req_t *req,
                  mp__mgr_rep_t *rep);

/* mp__dict_longest_probe returns the longest probe run among the dict's
 * live keys: the slots a lookup of the worst-placed key visits (0 for an
 * empty dict). An internal probe for tests: with a keyed hash, keys chosen
 * to collide under any fixed hash still spread out. */
uint64_t mp__dict_longest_probe(mp__store_t *st, uint64_t off);

/* list.c: the same for a list (MP__OP_LIST_*). */
int mp__list_new(mp__store_t *st, uint64_t *off);
void mp__list_free(mp__store_t *st, uint64_t off);
int mp__list_exec(mp__store_t *st, uint64_t off, const mp__mgr_req_t *req,
                  mp__mgr_rep_t *rep);

/* values.c: a Value's or Array's state. mp__values_new makes one for a
 * CREATE request (num1: the mp_type_t; for an Array, array true and num2
 * the length; arg0 the initial elements or empty for zeroes) into *off:
 * returns 0, MP_EINVAL or MP_ENOMEM. It holds no other block, so
 * mp__store_free frees it. mp__values_exec runs one MP__OP_VALUE_* or
 * MP__OP_ARRAY_* op on the state at off of an object of kind (a Value's
 * ops on an Array, or the other way, are MP_EKIND). */
int mp__values_new(mp__store_t *st, const mp__mgr_req_t *req, bool array,
                   uint64_t *off);
int mp__values_exec(mp__store_t *st, uint64_t off, uint32_t kind,
                    const mp__mgr_req_t *req, mp__mgr_rep_t *rep);

/* mp__store_lock takes a structure's mutex for an op: a holder that died
 * is reported through *dead (the caller repairs, then calls
 * mp__mutex_consistent). Waits in slices, checking the server's liveness
 * between them. Returns 0 or MP_ENOSERVER. */
int mp__store_lock(mp__store_t *st, mp__mutex_t *m, bool *dead);

/* mp__store_reply_copy stores a fresh copy of len bytes at src in rep.
 * Returns 0 or MP_ENOMEM. */
int mp__store_reply_copy(mp__mgr_rep_t *rep, const void *src, size_t len);

/* mp__store_reply_pack packs the n buffers of bufs (mp__mgr_pack) into a
 * fresh buffer stored in rep, with rep->num = n, and frees bufs (an
 * mp__malloc'd array) either way. Returns 0 or MP_ENOMEM. */
int mp__store_reply_pack(mp__mgr_rep_t *rep, mp_buf_t *bufs, size_t n);

#endif /* MP_STORE_INTERNAL_H */
