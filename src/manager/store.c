/* SPDX-License-Identifier: MIT */
/* store.c - the manager's shared store: one named segment holding a header
 * (with the server's liveness word), the object table and a heap, plus
 * each process's attachment to it with its cache of process-local handles
 * (store_internal.h has the layout), and the names the store owns (its
 * segment's and its queues'). The store knows no kind's state beyond a
 * queue's name: the kinds live above it (objects.c, dict.c, list.c ...),
 * and a cached handle record carries its maker's free function.
 *
 * Liveness: the serving thread holds a robust process-shared pthread mutex
 * for as long as it runs. A trylock by anyone else answers EBUSY (alive,
 * no syscall), or EOWNERDEAD once the kernel has marked the holder dead;
 * a clean shutdown sets `closed` first, which every check reads before. */
#include "store_internal.h"

#include "../platform/platform.h"
#include "../queue/queue_internal.h"

#include <errno.h>
#include <string.h>

#define STORE_DEFAULT_SIZE ((size_t)1 << 30)
#define STORE_MIN_SIZE ((size_t)64 << 10)
#define STORE_MIN_SLOTS 64u
#define STORE_MAX_SLOTS (1u << 20)
/* Bytes of segment per table entry when sizing the table. */
#define STORE_BYTES_PER_SLOT 8192u

static int attach_mapping(mp__store_t **out, mp_shm_t *shm);

/* Bytes of the per-process handle cache of a table of nslots entries. */
static size_t
cache_bytes(uint32_t nslots)
{
    return (size_t)nslots * sizeof(_Atomic(mp__store_local_t *));
}

static uint32_t slots_for(size_t size);
static uint64_t align_up(uint64_t v, uint64_t a);

int
mp__store_create(mp__store_t **out, size_t size)
{
    if (out == NULL) {
        return MP_EINVAL;
    }
    *out = NULL;
    if (size == 0) {
        size = STORE_DEFAULT_SIZE;
    }
    if (size < STORE_MIN_SIZE) {
        return MP_EINVAL;
    }
    mp_shm_t *shm = NULL;
    int r = mp_shm_create(&shm, NULL, size, 0);
    if (r != 0) {
        return r;
    }
    mp__store_hdr_t *h = mp_shm_buf(shm);
    r = mp__plat_secret_bytes(h->hash_key, sizeof h->hash_key);
    if (r != 0) {
        mp__shm_discard(shm);
        return r;
    }
    uint32_t nslots = slots_for(size);
    h->version = MP__STORE_VERSION;
    h->nslots = nslots;
    h->size = size;
    h->table_off = align_up(sizeof *h, 64);
    h->heap_off = align_up(
        h->table_off + (uint64_t)nslots * sizeof(mp__store_entry_t), 4096);
    h->pidns = mp__plat_pidns_id();
    /* The table is left as the zero pages it is: an entry gets its first
     * generation (1: gen 0 is never a live id) when it is first handed
     * out, so that a store costs no page faults for entries never used. */
    mp__mutex_init(&h->table_lock);
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    r = -pthread_mutex_init(&h->alive, &attr);
    pthread_mutexattr_destroy(&attr);
    if (r == 0) {
        (void)mp__heap_init((uint8_t *)h + h->heap_off, size - h->heap_off);
        /* The magic last: an attach never sees a half-made store. */
        atomic_store_explicit((_Atomic uint64_t *)&h->magic, MP__STORE_MAGIC,
                              memory_order_release);
        r = attach_mapping(out, shm);
    }
    if (r != 0) {
        mp__shm_discard(shm);
    }
    return r;
}

int
mp__store_attach(mp__store_t **out, const char *name)
{
    if (out == NULL || name == NULL) {
        return MP_EINVAL;
    }
    *out = NULL;
    mp_shm_t *shm = NULL;
    int r = mp_shm_attach(&shm, name);
    if (r != 0) {
        return r == MP_EINVAL || r == MP_ENAMETOOLONG ? MP_ENOENT : r;
    }
    const mp__store_hdr_t *h = mp_shm_buf(shm);
    size_t size = mp_shm_size(shm);
    bool ok =
        size >= STORE_MIN_SIZE &&
        atomic_load_explicit((_Atomic uint64_t *)&h->magic,
                             memory_order_acquire) == MP__STORE_MAGIC &&
        h->version == MP__STORE_VERSION && h->size == size &&
        h->nslots == slots_for(size) &&
        h->table_off == align_up(sizeof *h, 64) &&
        h->heap_off == align_up(h->table_off + (uint64_t)h->nslots *
                                                   sizeof(mp__store_entry_t),
                                4096) &&
        h->heap_off + MP__HEAP_HDR_SLOT < size;
    if (!ok) {
        mp_shm_destroy(shm);
        return MP_EPROTO;
    }
    /* Unknown counts as another: the socket serves such a client. */
    if (!mp__plat_pidns_same(h->pidns, false)) {
        mp_shm_destroy(shm);
        return MP_EPIDNS;
    }
    r = attach_mapping(out, shm);
    if (r != 0) {
        mp_shm_destroy(shm);
    }
    return r;
}

const char *
mp__store_name(const mp__store_t *st)
{
    return st != NULL ? mp_shm_name(st->shm) : NULL;
}

int
mp__store_serve(mp__store_t *st)
{
    if (st == NULL) {
        return MP_EINVAL;
    }
    int r = pthread_mutex_lock(&st->hdr->alive);
    if (r == EOWNERDEAD) {
        /* A previous server died: this one takes over. */
        pthread_mutex_consistent(&st->hdr->alive);
        r = 0;
    }
    if (r != 0) {
        return -r;
    }
    st->serving = true;
    st->serve_thread = pthread_self();
    st->serve_pid = mp__getpid();
    atomic_store(&st->hdr->closed, 0);
    atomic_store(&st->hdr->served, 1);
    return 0;
}

/* Gives the liveness word back if the calling thread serves: glibc keeps
 * a held robust mutex on the thread's list, which must not point into a
 * mapping that goes away. */
static void
stop_serving(mp__store_t *st)
{
    if (st->serving && st->serve_pid == mp__getpid() &&
        pthread_equal(st->serve_thread, pthread_self())) {
        st->serving = false;
        pthread_mutex_unlock(&st->hdr->alive);
    }
}

void
mp__store_close_down(mp__store_t *st)
{
    if (st != NULL) {
        atomic_store(&st->hdr->closed, 1);
        stop_serving(st);
    }
}

int
mp__store_alive(mp__store_t *st)
{
    mp__store_hdr_t *h = st->hdr;
    if (atomic_load_explicit(&h->closed, memory_order_acquire)) {
        return MP_ENOSERVER;
    }
    if (!atomic_load_explicit(&h->served, memory_order_acquire)) {
        return 0; /* nobody serves it yet (tests drive exec directly) */
    }
    int r = pthread_mutex_trylock(&h->alive);
    if (r == EBUSY) {
        return 0;
    }
    if (r == EOWNERDEAD || r == 0) {
        /* The serving thread died, or left without closing down: either
         * way nobody serves any more. */
        atomic_store(&h->closed, 1);
        if (r == EOWNERDEAD) {
            pthread_mutex_consistent(&h->alive);
        }
        pthread_mutex_unlock(&h->alive);
    }
    return MP_ENOSERVER;
}

void
mp__store_detach(mp__store_t *st)
{
    if (st == NULL) {
        return;
    }
    if (st->serving && st->serve_pid == mp__getpid()) {
        /* Unmapping ends the service: say so before. */
        atomic_store(&st->hdr->closed, 1);
        stop_serving(st);
    }
    /* Only entries ever handed out can have cached handles. */
    uint64_t used = atomic_load(&st->hdr->next_unused);
    for (uint64_t i = 0; i < used && i < st->nslots; i++) {
        mp__store_local_t *cached = atomic_load(&st->cache[i]);
        if (cached != NULL) {
            cached->free(cached);
        }
    }
    mp__store_local_t *loc = atomic_load(&st->retired);
    while (loc != NULL) {
        mp__store_local_t *next = loc->next_retired;
        loc->free(loc);
        loc = next;
    }
    mp__plat_unmap((void *)st->cache, cache_bytes(st->nslots));
    mp_shm_destroy(st->shm);
    mp__free(st);
}

void
mp__store_remove_names(mp__store_t *st)
{
    if (st == NULL) {
        return;
    }
    /* No lock: the server may have died holding any of them. A queue whose
     * entry is half made or half freed may be missed or named twice;
     * removing a missing name is harmless, and the tracker removes what
     * is missed when the process tree ends. */
    uint64_t used = atomic_load(&st->hdr->next_unused);
    for (uint64_t i = 0; i < used && i < st->nslots; i++) {
        mp__store_entry_t *e = &st->table[i];
        uint32_t kind = atomic_load(&e->kind);
        if (kind == MP_PROXY_QUEUE || kind == MP_PROXY_JOINABLE_QUEUE) {
            const char *name = mp__store_queue_name(st, atomic_load(&e->state));
            if (name != NULL) {
                mp__queue_remove_name(name);
            }
        }
    }
    (void)mp_shm_unlink(st->shm);
}

const char *
mp__store_queue_name(mp__store_t *st, uint64_t state_off)
{
    mp__store_queue_state_t *qs =
        mp__store_at(st, state_off, sizeof(mp__store_queue_state_t));
    if (qs == NULL || memchr(qs->name, '\0', sizeof qs->name) == NULL ||
        qs->name[0] == '\0') {
        return NULL;
    }
    return qs->name;
}

void
mp__store_destroy(mp__store_t *st)
{
    mp__store_remove_names(st);
    mp__store_detach(st);
}

int
mp__store_kind(mp__store_t *st, uint32_t index, uint32_t gen)
{
    int err = MP_EINVAL;
    if (st == NULL) {
        return MP_EINVAL;
    }
    mp__store_entry_t *e = mp__store_entry(st, index, gen, &err);
    if (e == NULL) {
        return err;
    }
    return (int)atomic_load(&e->kind);
}

void
mp__store_set_user_destroy(mp__store_t *st,
                           void (*destroy)(uint64_t handle, void *arg),
                           void *arg)
{
    if (st != NULL) {
        st->user_destroy = destroy;
        st->user_arg = arg;
    }
}

int
mp__store_user_new(mp__store_t *st, uint64_t handle, uint32_t *index,
                   uint32_t *gen)
{
    if (st == NULL || index == NULL || gen == NULL) {
        return MP_EINVAL;
    }
    return mp__store_obj_new(st, MP_PROXY_USER, 0, handle, index, gen);
}

int
mp__store_user_handle(mp__store_t *st, uint32_t index, uint32_t gen,
                      uint64_t *handle)
{
    int err = MP_EINVAL;
    if (st == NULL || handle == NULL) {
        return MP_EINVAL;
    }
    mp__store_entry_t *e = mp__store_entry(st, index, gen, &err);
    if (e == NULL) {
        return err;
    }
    if (atomic_load(&e->kind) != MP_PROXY_USER) {
        return MP_EKIND;
    }
    *handle = atomic_load(&e->user);
    return 0;
}

/*--- helpers shared with dict.c, list.c, exec.c ---------------------------*/

void *
mp__store_array_new(mp__store_t *st, size_t hdr, size_t item, uint64_t n,
                    uint64_t *off)
{
    size_t bytes;
    if (!mp__size_mul(n, item, &bytes) || !mp__size_add(bytes, hdr, &bytes)) {
        return NULL;
    }
    *off = mp__store_alloc(st, bytes);
    void *p = mp__store_at(st, *off, bytes);
    if (p == NULL) {
        /* Full (off 0, which free ignores), or a block the heap does not
         * hold whole: never write through an unchecked offset. */
        mp__store_free(st, *off);
    }
    return p;
}

int
mp__store_head_new(mp__store_t *st, uint64_t body_off, uint64_t *off)
{
    uint64_t hoff = mp__store_alloc(st, sizeof(mp__store_head_t));
    mp__store_head_t *h = mp__store_at(st, hoff, sizeof *h);
    if (h == NULL) {
        mp__store_free(st, hoff);
        return MP_ENOMEM;
    }
    mp__mutex_init(&h->m);
    atomic_store(&h->body, body_off);
    *off = hoff;
    return 0;
}

uint64_t
mp__store_alloc(mp__store_t *st, uint64_t len)
{
    if (len == 0) {
        len = 1;
    }
    if (len >= st->heap_size) {
        return 0;
    }
    return mp__heap_alloc(st->heap, (size_t)len);
}

void
mp__store_free(mp__store_t *st, uint64_t off)
{
    if (off != 0) {
        mp__heap_free(st->heap, off);
    }
}

mp__store_entry_t *
mp__store_entry(mp__store_t *st, uint32_t index, uint32_t gen, int *err)
{
    if (index >= st->nslots) {
        *err = MP_EINVAL;
        return NULL;
    }
    mp__store_entry_t *e = &st->table[index];
    if (gen == 0 ||
        atomic_load_explicit(&e->gen, memory_order_acquire) != gen ||
        atomic_load_explicit(&e->kind, memory_order_acquire) == 0) {
        *err = MP_ECLOSED;
        return NULL;
    }
    return e;
}

/* Takes the table lock (never gives up: it guards a few stores). A holder
 * that died left the free list valid: every update is one store. */
static void
table_lock(mp__store_t *st)
{
    if (mp__mutex_lock(&st->hdr->table_lock, MP__NO_DEADLINE) ==
        MP_EOWNERDEAD) {
        mp__mutex_consistent(&st->hdr->table_lock);
    }
}

int
mp__store_obj_new(mp__store_t *st, uint32_t kind, uint64_t state_off,
                  uint64_t user, uint32_t *index, uint32_t *gen)
{
    mp__store_hdr_t *h = st->hdr;
    table_lock(st);
    uint64_t idx;
    uint64_t head = atomic_load(&h->free_head);
    if (head != 0 && head <= st->nslots) {
        idx = head - 1;
        atomic_store(&h->free_head, st->table[idx].next_free);
    } else if (atomic_load(&h->next_unused) < st->nslots) {
        idx = atomic_load(&h->next_unused);
        atomic_store(&st->table[idx].gen, 1);
        atomic_store(&h->next_unused, idx + 1);
    } else {
        mp__mutex_unlock(&h->table_lock);
        return MP_ENOMEM;
    }
    mp__store_entry_t *e = &st->table[idx];
    atomic_store(&e->refs, 1);
    atomic_store(&e->state, state_off);
    atomic_store(&e->user, user);
    /* The kind last: it makes the id live. */
    atomic_store_explicit(&e->kind, kind, memory_order_release);
    mp__mutex_unlock(&h->table_lock);
    *index = (uint32_t)idx;
    *gen = atomic_load(&e->gen);
    return 0;
}

int
mp__store_obj_ref(mp__store_t *st, uint32_t index, uint32_t gen)
{
    int err = MP_EINVAL;
    table_lock(st);
    mp__store_entry_t *e = mp__store_entry(st, index, gen, &err);
    if (e != NULL) {
        atomic_fetch_add(&e->refs, 1);
        err = 0;
    }
    mp__mutex_unlock(&st->hdr->table_lock);
    return err;
}

int
mp__store_obj_unref(mp__store_t *st, uint32_t index, uint32_t gen,
                    uint32_t *kind, uint64_t *state_off, uint64_t *user)
{
    int err = MP_EINVAL;
    table_lock(st);
    mp__store_entry_t *e = mp__store_entry(st, index, gen, &err);
    if (e == NULL) {
        mp__mutex_unlock(&st->hdr->table_lock);
        return err;
    }
    if (atomic_fetch_sub(&e->refs, 1) > 1) {
        mp__mutex_unlock(&st->hdr->table_lock);
        return 0;
    }
    *kind = atomic_load(&e->kind);
    *state_off = atomic_load(&e->state);
    *user = atomic_load(&e->user);
    /* Kill the id first (gen), then free the entry. */
    uint32_t next_gen = gen + 1 == 0 ? 1 : gen + 1;
    atomic_store_explicit(&e->gen, next_gen, memory_order_release);
    atomic_store(&e->kind, 0);
    atomic_store(&e->state, 0);
    e->next_free = atomic_load(&st->hdr->free_head);
    atomic_store(&st->hdr->free_head, (uint64_t)index + 1);
    mp__mutex_unlock(&st->hdr->table_lock);
    return 1;
}

mp__store_local_t *
mp__store_local_get(mp__store_t *st, uint32_t index, uint32_t gen)
{
    mp__store_local_t *loc =
        atomic_load_explicit(&st->cache[index], memory_order_acquire);
    return loc != NULL && loc->gen == gen ? loc : NULL;
}

mp__store_local_t *
mp__store_local_set(mp__store_t *st, uint32_t index, mp__store_local_t *loc)
{
    _Atomic(mp__store_local_t *) *slot = &st->cache[index];
    mp__store_local_t *cur = atomic_load(slot);
    for (;;) {
        if (cur != NULL && cur->gen == loc->gen) {
            return cur; /* another thread was first */
        }
        if (atomic_compare_exchange_weak(slot, &cur, loc)) {
            break;
        }
    }
    if (cur != NULL) {
        /* Stale handles of a freed object: another thread may still be
         * using them (a racing call on a dead id), so free them only at
         * detach. */
        mp__store_local_t *head = atomic_load(&st->retired);
        do {
            cur->next_retired = head;
        } while (!atomic_compare_exchange_weak(&st->retired, &head, cur));
    }
    return loc;
}

int
mp__store_lock(mp__store_t *st, mp__mutex_t *m, bool *dead)
{
    *dead = false;
    for (;;) {
        int r = mp__mutex_lock(m, mp__now_ns() + MP__OWNER_CHECK_NS);
        if (r == 0 || r == MP_EOWNERDEAD) {
            *dead = r == MP_EOWNERDEAD;
            return 0;
        }
        r = mp__store_alive(st);
        if (r != 0) {
            return r;
        }
    }
}

int
mp__store_reply_copy(mp__mgr_rep_t *rep, const void *src, size_t len)
{
    void *data = mp__malloc(len > 0 ? len : 1);
    if (data == NULL) {
        return MP_ENOMEM;
    }
    if (len > 0) {
        memcpy(data, src, len);
    }
    rep->data = data;
    rep->len = len;
    return 0;
}

int
mp__store_reply_pack(mp__mgr_rep_t *rep, mp_buf_t *bufs, size_t n)
{
    size_t len = 0;
    uint8_t *out = NULL;
    if (mp__mgr_pack_size(bufs, n, &len) == 0) {
        out = mp__malloc(len > 0 ? len : 1);
    }
    if (out == NULL) {
        mp__free(bufs);
        return MP_ENOMEM;
    }
    mp__mgr_pack(bufs, n, out);
    mp__free(bufs);
    rep->data = out;
    rep->len = len;
    rep->num = (int64_t)n;
    return 0;
}

/*--- local helpers --------------------------------------------------------*/

/* Makes the process-local attachment for a mapped store segment. */
static int
attach_mapping(mp__store_t **out, mp_shm_t *shm)
{
    mp__store_hdr_t *h = mp_shm_buf(shm);
    mp__store_t *st = mp__calloc(1, sizeof *st);
    if (st == NULL) {
        return MP_ENOMEM;
    }
    /* The handle cache has a slot per table entry: a private anonymous
     * mapping, so that slots never used cost no page (calloc may hand
     * out recycled heap memory and clear all of it) and a forked child
     * gets its own copy. */
    void *cache = mp__plat_map_anon(false, cache_bytes(h->nslots));
    if (cache == NULL) {
        mp__free(st);
        return MP_ENOMEM;
    }
    st->cache = cache;
    st->shm = shm;
    st->hdr = h;
    st->nslots = h->nslots;
    st->table = (mp__store_entry_t *)((uint8_t *)h + h->table_off);
    st->heap = (mp__heap_t *)((uint8_t *)h + h->heap_off);
    st->heap_size = h->size - h->heap_off;
    *out = st;
    return 0;
}

/* The table size for a segment of size bytes. */
static uint32_t
slots_for(size_t size)
{
    size_t n = size / STORE_BYTES_PER_SLOT;
    if (n < STORE_MIN_SLOTS) {
        n = STORE_MIN_SLOTS;
    }
    return n > STORE_MAX_SLOTS ? STORE_MAX_SLOTS : (uint32_t)n;
}

static uint64_t
align_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) / a * a;
}
