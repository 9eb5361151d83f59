/* SPDX-License-Identifier: MIT */
/* job.c - jobs: one task for a worker (an apply, or a chunk of a map or
 * imap) and its task message, built once, in place. Jobs live in blocks:
 * one allocation (a big buffer, zeroed) for one job or for all the chunk
 * jobs of a map, each job followed by its message, the block freed with
 * its last job or hold (a reference count in its header). Also how a task names
 * its function: its reference (fnref.h: its object's build-id and offset,
 * or a registered name), which the worker checks before it calls it,
 * encoded once per pool and function. Context: any thread. */
#include "../shm/fnref.h"
#include "pool_internal.h"
#include "pool_state.h"

#include <string.h>

/* A job block's header; its jobs follow (see pool_internal.h). */
typedef struct job_block {
    _Atomic size_t refs; /* jobs placed and not yet freed */
    size_t pad;
} job_block_t;

/* A function the pool has named, in its list (pool->fn_names). */
typedef struct mp__fn_entry {
    struct mp__fn_entry *next;
    mp_pool_fn fn;
    void *ref; /* from mp__fnref_encode */
    uint32_t ref_len;
} mp__fn_entry_t;

/* The entry for fn in pool's list, or NULL. The list only grows, and an
 * entry is complete before it is published: no lock needed. */
static mp__fn_entry_t *
fn_entry_find(mp_pool_t *pool, mp_pool_fn fn)
{
    for (mp__fn_entry_t *e =
             atomic_load_explicit(&pool->fn_names, memory_order_acquire);
         e != NULL; e = e->next) {
        if (e->fn == fn) {
            return e;
        }
    }
    return NULL;
}

int
mp__pool_fn_name(mp_pool_t *pool, mp_pool_fn fn, mp__fn_name_t *name)
{
    mp__fn_entry_t *e = fn_entry_find(pool, fn);
    if (e == NULL) {
        void *ref;
        ssize_t n = mp__fnref_encode((mp__fn_t)fn, &ref);
        if (n < 0) {
            return (int)n;
        }
        if ((size_t)n > UINT32_MAX / 2 || (e = mp__malloc(sizeof *e)) == NULL) {
            mp__free(ref);
            return MP_ENOMEM;
        }
        *e = (mp__fn_entry_t){.fn = fn, .ref = ref, .ref_len = (uint32_t)n};
        pthread_mutex_lock(&pool->fn_mu);
        mp__fn_entry_t *had = fn_entry_find(pool, fn); /* a racing caller */
        if (had == NULL) {
            e->next =
                atomic_load_explicit(&pool->fn_names, memory_order_relaxed);
            atomic_store_explicit(&pool->fn_names, e, memory_order_release);
        }
        pthread_mutex_unlock(&pool->fn_mu);
        if (had != NULL) {
            mp__free(e->ref);
            mp__free(e);
            e = had;
        }
    }
    *name = (mp__fn_name_t){.ref = e->ref, .ref_len = e->ref_len};
    return 0;
}

void
mp__pool_fn_names_free(mp_pool_t *pool)
{
    mp__fn_entry_t *e = atomic_load(&pool->fn_names);
    while (e != NULL) {
        mp__fn_entry_t *next = e->next;
        mp__free(e->ref);
        mp__free(e);
        e = next;
    }
    atomic_store(&pool->fn_names, NULL);
}

/* Rounds n up to 16 bytes (n well below SIZE_MAX). */
static size_t
align16(size_t n)
{
    return (n + 15) & ~(size_t)15;
}

size_t
mp__pool_job_span(const mp__fn_name_t *name, size_t data)
{
    size_t fixed =
        align16(sizeof(mp__job_t)) + mp__task_data_offset(name->ref_len);
    return data > SIZE_MAX / 2 - fixed ? 0 : align16(fixed + data);
}

void *
mp__pool_block_new(size_t total)
{
    size_t bytes;
    if (!mp__size_add(sizeof(job_block_t), total, &bytes)) {
        return NULL;
    }
    /* Zeroed: the messages' padding must be. */
    return mp__pool_big_alloc(bytes);
}

void
mp__pool_block_hold(void *block)
{
    job_block_t *bh = block;
    atomic_fetch_add(&bh->refs, 1);
}

void
mp__pool_block_release(void *block)
{
    job_block_t *bh = block;
    if (atomic_fetch_sub(&bh->refs, 1) == 1) {
        mp__pool_big_free(bh);
    }
}

mp__job_t *
mp__pool_job_place(mp_pool_t *pool, void *block, size_t *used,
                   const mp__fn_name_t *name, uint64_t item_size, size_t nitems,
                   size_t data, char **dst)
{
    char *at = (char *)block + sizeof(job_block_t) + *used;
    *used += mp__pool_job_span(name, data);
    mp__pool_block_hold(block);
    mp__job_t *j = (mp__job_t *)(void *)at;
    j->block = block;
    j->count = nitems;
    j->pool = pool;
    size_t data_at = mp__task_data_offset(name->ref_len);
    j->msg = at + align16(sizeof *j);
    j->msg_len = data_at + data;
    /* The id goes in when the job is queued. */
    mp__task_hdr_t th = {.kind = MP__TASK_RUN,
                         .ref_len = name->ref_len,
                         .item_size = item_size,
                         .nitems = nitems};
    memcpy(j->msg, &th, sizeof th);
    memcpy((char *)j->msg + sizeof th, name->ref, name->ref_len);
    *dst = (char *)j->msg + data_at;
    return j;
}

/* Builds a job running fn over nitems items (item_size bytes each, or
 * MP__ITEM_VAR) whose input takes data bytes, in a block of its own, and
 * stores it in *out and where the input goes in *dst. Returns 0, MP_ENOMEM
 * or the error of naming fn. */
int
mp__pool_job_alloc(mp_pool_t *pool, mp_pool_fn fn, uint64_t item_size,
                   size_t nitems, size_t data, char **dst, mp__job_t **out)
{
    mp__fn_name_t name;
    int err = mp__pool_fn_name(pool, fn, &name);
    if (err != 0) {
        return err;
    }
    size_t span = mp__pool_job_span(&name, data);
    void *block = span > 0 ? mp__pool_block_new(span) : NULL;
    if (block == NULL) {
        return MP_ENOMEM;
    }
    size_t used = 0;
    *out = mp__pool_job_place(pool, block, &used, &name, item_size, nitems,
                              data, dst);
    return 0;
}

/* Builds a job running fn over nitems items of item_size bytes at in, in
 * *out. Returns 0, MP_ENOMEM or the error of naming fn. */
int
mp__pool_job_new(mp_pool_t *pool, mp_pool_fn fn, const void *in,
                 size_t item_size, size_t nitems, mp__job_t **out)
{
    char *dst;
    size_t data = item_size * nitems;
    int err = mp__pool_job_alloc(pool, fn, item_size, nitems, data, &dst, out);
    if (err == 0 && data > 0) {
        memcpy(dst, in, data);
    }
    return err;
}

/* Frees a job and drops what it references. */
void
mp__pool_job_free(mp__job_t *j)
{
    if (j->res != NULL) {
        mp__result_unref(j->res);
    }
    if (j->batch != NULL) {
        mp__batch_chunk_done(j->batch, j->pool);
    }
    mp__pool_block_release(j->block);
}
