/* SPDX-License-Identifier: MIT */
/* job.c - jobs: one task for a worker (an apply, or a chunk of a map or
 * imap) and its task message, built once, in place. Jobs live in blocks:
 * one allocation (a big buffer, zeroed) for one job or for all the chunk
 * jobs of a map, each job followed by its message, the block freed with
 * its last job (a reference count in its header). Also how a task names
 * its function: the module path and offset that a worker resolves
 * (worker.c), found with dladdr once per call. Context: any thread. */
#include "pool_internal.h"

#include <dlfcn.h>
#include <string.h>

/* A job block's header; its jobs follow (see pool_internal.h). */
typedef struct job_block {
    _Atomic size_t refs; /* jobs placed and not yet freed */
    size_t pad;
} job_block_t;

void
mp__pool_fn_name(mp_pool_fn fn, mp__fn_name_t *name)
{
    Dl_info di;
    void *addr = (void *)(uintptr_t)fn;
    if (dladdr(addr, &di) != 0 && di.dli_fname != NULL &&
        di.dli_fbase != NULL) {
        name->fname = di.dli_fname;
        name->offset = (uintptr_t)addr - (uintptr_t)di.dli_fbase;
    } else {
        name->fname = "";
        name->offset = (uintptr_t)addr; /* not in a module: the fork's */
    }
    name->fname_len = (uint32_t)strlen(name->fname);
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
        align16(sizeof(mp__job_t)) + mp__task_data_offset(name->fname_len);
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

mp__job_t *
mp__pool_job_place(mp_pool_t *pool, void *block, size_t *used,
                   const mp__fn_name_t *name, uint64_t item_size, size_t nitems,
                   size_t data, char **dst)
{
    job_block_t *bh = block;
    char *at = (char *)block + sizeof *bh + *used;
    *used += mp__pool_job_span(name, data);
    atomic_fetch_add(&bh->refs, 1);
    mp__job_t *j = (mp__job_t *)(void *)at;
    j->block = block;
    j->count = nitems;
    j->pool = pool;
    size_t data_at = mp__task_data_offset(name->fname_len);
    j->msg = at + align16(sizeof *j);
    j->msg_len = data_at + data;
    /* The id goes in when the job is queued. */
    mp__task_hdr_t th = {.kind = MP__TASK_RUN,
                         .fname_len = name->fname_len,
                         .offset = name->offset,
                         .item_size = item_size,
                         .nitems = nitems};
    memcpy(j->msg, &th, sizeof th);
    memcpy((char *)j->msg + sizeof th, name->fname, name->fname_len);
    *dst = (char *)j->msg + data_at;
    return j;
}

/* Builds a job running fn over nitems items (item_size bytes each, or
 * MP__ITEM_VAR) whose input takes data bytes, in a block of its own, and
 * stores where the input goes in *dst. Returns it, or NULL when out of
 * memory. */
mp__job_t *
mp__pool_job_alloc(mp_pool_t *pool, mp_pool_fn fn, uint64_t item_size,
                   size_t nitems, size_t data, char **dst)
{
    mp__fn_name_t name;
    mp__pool_fn_name(fn, &name);
    size_t span = mp__pool_job_span(&name, data);
    void *block = span > 0 ? mp__pool_block_new(span) : NULL;
    if (block == NULL) {
        return NULL;
    }
    size_t used = 0;
    return mp__pool_job_place(pool, block, &used, &name, item_size, nitems,
                              data, dst);
}

/* Builds a job running fn over nitems items of item_size bytes at in.
 * Returns it, or NULL when out of memory. */
mp__job_t *
mp__pool_job_new(mp_pool_t *pool, mp_pool_fn fn, const void *in,
                 size_t item_size, size_t nitems)
{
    char *dst;
    size_t data = item_size * nitems;
    mp__job_t *j = mp__pool_job_alloc(pool, fn, item_size, nitems, data, &dst);
    if (j != NULL && data > 0) {
        memcpy(dst, in, data);
    }
    return j;
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
    job_block_t *bh = j->block;
    if (atomic_fetch_sub(&bh->refs, 1) == 1) {
        mp__pool_big_free(bh);
    }
}
