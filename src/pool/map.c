/* SPDX-License-Identifier: MIT */
/* map.c - the map family: mp_pool_map, _map_errors, _starmap,
 * _map_buffers, _map_async, _starmap_async, and the chunk size they use
 * (mp_pool_chunksize, docs/design.md "Pool chunk size"). Also what imap.c
 * shares: checking a many-item call's arguments and cutting its input into
 * chunk jobs, built in one block and queued in parts as they are built
 * (mp__batch_submit).
 * A map waits on its batch (batch.c) until every chunk ended or its
 * timeout ran out; then the batch is abandoned, so that the handler never
 * writes to the caller's arrays after the call returned. Context: any
 * thread of the pool's creating process; no pool lock held. */
#include "batch_internal.h"

#include <limits.h>
#include <string.h>

size_t
mp__pool_chunksize(size_t nitems, int nproc, size_t item_bytes)
{
    size_t div = 4 * (size_t)(nproc > 0 ? nproc : 1);
    size_t chunk = nitems / div + (nitems % div != 0);
    size_t fit = MP__POOL_CHUNK_BYTES / (item_bytes > 0 ? item_bytes : 1);
    if (chunk > fit) {
        chunk = fit;
    }
    return chunk > 0 ? chunk : 1;
}

ssize_t
mp_pool_chunksize(const mp_pool_t *pool, size_t nitems, size_t item_bytes)
{
    if (pool == NULL) {
        return MP_EINVAL;
    }
    /* At most MP__POOL_CHUNK_BYTES: it fits. */
    return (ssize_t)mp__pool_chunksize(nitems, mp_pool_processes(pool),
                                       item_bytes);
}

/* Returns the input bytes the job of items start .. start + count - 1 of
 * inp takes (lengths checked by check_bufs_args when they vary). */
static size_t
chunk_data(const mp__batch_input_t *inp, size_t start, size_t count)
{
    if (inp->bufs == NULL) {
        return inp->in_size * count;
    }
    size_t data = 0;
    for (size_t i = start; i < start + count; i++) {
        data += mp__var_item_span(inp->lens[i]);
    }
    return data;
}

/* Returns the bytes of input the job of items start .. start + count - 1
 * of inp holds in its block: none where it reads them in place. */
static size_t
chunk_block_data(const mp__batch_input_t *inp, size_t start, size_t count)
{
    return inp->in_gone != NULL ? 0 : chunk_data(inp, start, count);
}

/* Builds the job of items start .. start + count - 1 of inp in block (at
 * *used, advanced; see mp__pool_job_place). */
static mp__job_t *
job_place_chunk(mp_pool_t *pool, void *block, size_t *used,
                const mp__fn_name_t *name, const mp__batch_input_t *inp,
                size_t start, size_t count)
{
    char *dst;
    size_t data = chunk_data(inp, start, count);
    if (inp->bufs == NULL) {
        const char *src = (const char *)inp->in + start * inp->in_size;
        size_t held = chunk_block_data(inp, start, count);
        mp__job_t *j = mp__pool_job_place(pool, block, used, name, inp->in_size,
                                          count, held, &dst);
        if (held == 0 && data > 0) {
            j->ext = src;
            j->ext_len = data;
            j->ext_gone = inp->in_gone;
        } else if (data > 0) {
            memcpy(dst, src, data);
        }
        return j;
    }
    mp__job_t *j = mp__pool_job_place(pool, block, used, name, MP__ITEM_VAR,
                                      count, data, &dst);
    for (size_t i = start; i < start + count; i++) {
        uint64_t len = inp->lens[i];
        memcpy(dst, &len, sizeof len); /* the rest is the block's zeros */
        if (len > 0) {
            memcpy(dst + 16, inp->bufs[i], inp->lens[i]);
        }
        dst += mp__var_item_span(inp->lens[i]);
    }
    return j;
}

/* Frees a list of jobs that were never queued. */
static void
free_job_list(mp__job_t *j)
{
    while (j != NULL) {
        mp__job_t *next = j->next;
        mp__pool_job_free(j);
        j = next;
    }
}

/* Checks the arguments that map and imap share. Returns 0 or MP_EINVAL. */
int
mp__batch_check_args(const mp_pool_t *pool, mp_pool_fn fn, const void *in,
                     size_t in_size, size_t nitems)
{
    if (pool == NULL || fn == NULL ||
        (nitems > 0 && in == NULL && in_size > 0) ||
        (in_size > 0 && nitems > SIZE_MAX / in_size)) {
        return MP_EINVAL;
    }
    return 0;
}

void (*mp__pool_part_hook)(void);

/* The chunks of a batch's first part: enough to fill the inboxes of a
 * pool of that many workers. The later parts take SUBMIT_PART chunks. */
#define FIRST_PART(nproc) (2 * (size_t)(nproc))
#define SUBMIT_PART 16

/* Drops b's references of chunks that will never be queued (a part was
 * refused), after marking b abandoned: jobs is the list of the refused
 * part, unbuilt the chunks not built yet. */
static void
drop_unqueued(mp_pool_t *pool, mp__batch_t *b, mp__job_t *jobs, size_t unbuilt)
{
    pthread_mutex_lock(&b->mu);
    b->abandoned = true;
    pthread_mutex_unlock(&b->mu);
    free_job_list(jobs);
    for (size_t k = 0; k < unbuilt; k++) {
        mp__batch_chunk_done(b, pool);
    }
}

/* Cuts the items of inp (at least one) into chunk jobs of b, all in one
 * block, and queues them in parts as they are built (mp__pool_submit_part:
 * the workers start on the first chunks while the rest are copied).
 * Returns 0 or an error: then b is abandoned and its references of the
 * chunks not queued are dropped; nothing was queued when the pool refused
 * the first part (closed, broken) or memory ran out, and a pool broken or
 * terminated while later parts came runs (or fails) the parts it took. */
int
mp__batch_submit(mp_pool_t *pool, mp__batch_t *b, mp_pool_fn fn,
                 const mp__batch_input_t *inp, size_t chunk)
{
    mp__fn_name_t name;
    int err = mp__pool_fn_name(pool, fn, &name);
    size_t total = 0, njobs = 0;
    /* Advancing by count, which never passes nitems (a chunk size may be
     * anything up to SIZE_MAX). */
    size_t count;
    for (size_t start = 0; start < inp->nitems && err == 0; start += count) {
        count = inp->nitems - start < chunk ? inp->nitems - start : chunk;
        size_t span =
            mp__pool_job_span(&name, chunk_block_data(inp, start, count));
        if (span == 0 || total > SIZE_MAX / 2 - span) {
            err = MP_ENOMEM;
        }
        total += span;
        njobs++;
    }
    void *block = err == 0 ? mp__pool_block_new(total) : NULL;
    if (block == NULL) {
        pthread_mutex_lock(&b->mu);
        b->abandoned = true;
        pthread_mutex_unlock(&b->mu);
        return err != 0 ? err : MP_ENOMEM;
    }
    /* Held while jobs are placed in it: the first parts' jobs may all be
     * done and freed before the last part is built. */
    mp__pool_block_hold(block);
    /* Every chunk's reference, taken before the first part is queued: a
     * chunk that ends early must not find the batch finished. */
    pthread_mutex_lock(&b->mu);
    b->refs += (int)njobs;
    b->chunks_left += njobs;
    pthread_mutex_unlock(&b->mu);
    size_t part_max = FIRST_PART(mp_pool_processes(pool));
    bool parts = njobs > part_max;
    mp__submit_part_t part = parts ? MP__SUBMIT_FIRST : MP__SUBMIT_ALL;
    mp__job_t *first = NULL, *last = NULL;
    size_t used = 0, built = 0, part_len = 0;
    for (size_t start = 0; start < inp->nitems; start += count) {
        count = inp->nitems - start < chunk ? inp->nitems - start : chunk;
        mp__job_t *j =
            job_place_chunk(pool, block, &used, &name, inp, start, count);
        j->batch = b;
        j->start = start;
        built++;
        if (last != NULL) {
            last->next = j;
        } else {
            first = j;
        }
        last = j;
        bool end = built == njobs;
        if (!end && (!parts || ++part_len < part_max)) {
            continue;
        }
        if (end && parts) {
            part = MP__SUBMIT_REST;
        }
        err = mp__pool_submit_part(pool, first, last, part);
        if (err != 0) {
            drop_unqueued(pool, b, first, njobs - built);
            mp__pool_block_release(block);
            return err;
        }
        if (part != MP__SUBMIT_ALL && mp__pool_part_hook != NULL) {
            mp__pool_part_hook();
        }
        first = last = NULL;
        part_len = 0;
        part_max = SUBMIT_PART;
        part = MP__SUBMIT_MORE;
    }
    mp__pool_block_release(block);
    return 0;
}

/* Checks map's and map_async's arguments. Returns 0 or MP_EINVAL. */
static int
check_map_args(const mp_pool_t *pool, mp_pool_fn fn, const void *in,
               size_t in_size, size_t nitems, const void *out, size_t out_size)
{
    if (mp__batch_check_args(pool, fn, in, in_size, nitems) != 0 ||
        (nitems > 0 && out == NULL && out_size > 0) ||
        (out_size > 0 && nitems > SIZE_MAX / out_size)) {
        return MP_EINVAL;
    }
    return 0;
}

/* Returns the bytes an item of inp takes in a chunk's task or reply,
 * whichever is larger (the average input for items of their own lengths),
 * for the default chunk size. */
static size_t
item_bytes(const mp__batch_t *b, const mp__batch_input_t *inp)
{
    size_t in = inp->bufs == NULL ? inp->in_size : inp->bufs_span / inp->nitems;
    size_t out = b->kind == BATCH_MAP ? b->out_size : 0;
    return in > out ? in : out;
}

/* Queues the chunks of a map-like batch b (kind and destinations set; the
 * caller's reference) over inp (at least one item). On success res, when
 * not NULL, is completed by the last chunk and the batch takes the job's
 * reference to it. Returns 0 or an error: nothing queued and b freed. */
static int
start_map(mp_pool_t *pool, mp__batch_t *b, mp_pool_fn fn,
          const mp__batch_input_t *inp, size_t chunksize, mp_result_t *res)
{
    int err = mp__pool_submit_error(pool);
    if (err == 0) {
        b->res = res;
        size_t chunk =
            chunksize == 0
                ? mp__pool_chunksize(inp->nitems, mp_pool_processes(pool),
                                     item_bytes(b, inp))
                : chunksize;
        err = mp__batch_submit(pool, b, fn, inp, chunk);
    }
    if (err != 0) {
        b->res = NULL; /* not taken: the caller keeps both references */
        mp__batch_unref(b);
    }
    return err;
}

/* Waits until every chunk of map batch b ended or deadline passed, then
 * drops the caller's reference. Returns the first failed item's code, 0,
 * or MP_ETIMEDOUT (nothing more is stored). */
static int
wait_map(mp__batch_t *b, int64_t deadline)
{
    int err = 0;
    pthread_mutex_lock(&b->mu);
    while (b->chunks_left > 0 && err == 0) {
        err = mp__pool_cond_wait(&b->cv, &b->mu, deadline);
    }
    if (b->chunks_left > 0) {
        /* Still running: the handler must not write to out any more. */
        b->abandoned = true;
        err = MP_ETIMEDOUT;
    } else {
        err = b->first_err;
    }
    pthread_mutex_unlock(&b->mu);
    mp__batch_unref(b);
    return err;
}

/* Runs the map-like batch b (the caller's reference) over inp and waits
 * for it. Fixed-size items are not copied: the chunks read them in the
 * caller's array, which stays valid until this returns, when the chunks
 * that did not run yet (timed out, or a later part refused) are failed
 * instead of queued. Returns what mp_pool_map returns. */
static int
run_map(mp_pool_t *pool, mp__batch_t *b, mp_pool_fn fn, mp__batch_input_t *inp,
        size_t chunksize, int64_t deadline)
{
    if (inp->nitems == 0) {
        mp__batch_unref(b);
        return mp__pool_submit_error(pool);
    }
    if (inp->bufs != NULL) {
        int err = start_map(pool, b, fn, inp, chunksize, NULL);
        return err != 0 ? err : wait_map(b, deadline);
    }
    /* The chunks' flag lives in b: a reference of this call's keeps b
     * until the flag is set (queued chunks hold their own). */
    pthread_mutex_lock(&b->mu);
    b->refs++;
    pthread_mutex_unlock(&b->mu);
    inp->in_gone = &b->input_gone;
    int err = start_map(pool, b, fn, inp, chunksize, NULL);
    if (err == 0) {
        err = wait_map(b, deadline);
    }
    mp__pool_input_gone(pool, &b->input_gone);
    mp__batch_unref(b);
    return err;
}

int
mp_pool_map_errors(mp_pool_t *pool, mp_pool_fn fn, const void *in,
                   size_t in_size, size_t nitems, size_t chunksize, void *out,
                   size_t out_size, int *status, char **errors,
                   mp_duration_t timeout)
{
    int64_t deadline;
    if (check_map_args(pool, fn, in, in_size, nitems, out, out_size) != 0) {
        return MP_EINVAL;
    }
    int err = mp__deadline(timeout, &deadline);
    if (err != 0) {
        return err;
    }
    for (size_t i = 0; errors != NULL && i < nitems; i++) {
        errors[i] = NULL;
    }
    mp__batch_t *b = mp__batch_new(BATCH_MAP);
    if (b == NULL) {
        return MP_ENOMEM;
    }
    b->out = out;
    b->out_size = out_size;
    b->status = status;
    b->errors = errors;
    b->nitems = nitems;
    mp__batch_input_t inp = {.in = in, .in_size = in_size, .nitems = nitems};
    return run_map(pool, b, fn, &inp, chunksize, deadline);
}

int
mp_pool_map(mp_pool_t *pool, mp_pool_fn fn, const void *in, size_t in_size,
            size_t nitems, size_t chunksize, void *out, size_t out_size,
            int *status, mp_duration_t timeout)
{
    return mp_pool_map_errors(pool, fn, in, in_size, nitems, chunksize, out,
                              out_size, status, NULL, timeout);
}

int
mp_pool_starmap(mp_pool_t *pool, mp_pool_fn fn, const void *in, size_t in_size,
                size_t nitems, size_t chunksize, void *out, size_t out_size,
                int *status, mp_duration_t timeout)
{
    return mp_pool_map(pool, fn, in, in_size, nitems, chunksize, out, out_size,
                       status, timeout);
}

/* Checks map_buffers' arguments: every length must fit a task message.
 * Returns 0 with the sum of the items' task spans in *span, or
 * MP_EINVAL. */
static int
check_bufs_args(const mp_pool_t *pool, mp_pool_fn fn, const void *const *bufs,
                const size_t *lens, size_t n, void **outs,
                const size_t *out_lens, size_t *span)
{
    if (mp__batch_check_args(pool, fn, NULL, 0, n) != 0 ||
        (n > 0 &&
         (bufs == NULL || lens == NULL || outs == NULL || out_lens == NULL))) {
        return MP_EINVAL;
    }
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        /* Bounded so that the sum of the spans cannot wrap. */
        if ((bufs[i] == NULL && lens[i] > 0) || lens[i] > SIZE_MAX / 4 ||
            SIZE_MAX / 2 - total < mp__var_item_span(lens[i])) {
            return MP_EINVAL;
        }
        total += mp__var_item_span(lens[i]);
    }
    *span = total;
    return 0;
}

int
mp_pool_map_buffers(mp_pool_t *pool, mp_pool_fn fn, const void *const *bufs,
                    const size_t *lens, size_t n, size_t chunksize, void **outs,
                    size_t *out_lens, int *status, mp_duration_t timeout)
{
    int64_t deadline;
    size_t span;
    if (check_bufs_args(pool, fn, bufs, lens, n, outs, out_lens, &span) != 0) {
        return MP_EINVAL;
    }
    int err = mp__deadline(timeout, &deadline);
    if (err != 0) {
        return err;
    }
    for (size_t i = 0; i < n; i++) {
        outs[i] = NULL;
        out_lens[i] = 0;
        if (status != NULL) {
            status[i] = MP_ETIMEDOUT; /* what an item left unfinished says */
        }
    }
    mp__batch_t *b = mp__batch_new(BATCH_BUFS);
    if (b == NULL) {
        return MP_ENOMEM;
    }
    b->outs = outs;
    b->out_lens = out_lens;
    b->status = status;
    mp__batch_input_t inp = {
        .bufs = bufs, .lens = lens, .bufs_span = span, .nitems = n};
    return run_map(pool, b, fn, &inp, chunksize, deadline);
}

int
mp_pool_map_async(mp_pool_t *pool, mp_pool_fn fn, const void *in,
                  size_t in_size, size_t nitems, size_t chunksize,
                  const mp_pool_callbacks_t *cb, void *out, size_t out_size,
                  int *status, mp_result_t **res)
{
    if (res == NULL ||
        check_map_args(pool, fn, in, in_size, nitems, out, out_size) != 0) {
        return MP_EINVAL;
    }
    mp_result_t *r = mp__result_new();
    if (r == NULL) {
        return MP_ENOMEM;
    }
    mp__result_set_callbacks(r, cb, out, nitems * out_size);
    mp__pool_note_callbacks(pool, cb);
    int err;
    if (nitems == 0) {
        err = mp__pool_submit_error(pool);
        if (err == 0) {
            /* Nothing to run: done now, in this thread. */
            mp__result_complete(r, 0, NULL, 0, NULL, false, 0,
                                mp__pool_cb_counter(pool));
        }
        mp__result_unref(r); /* the job's reference: there is no job */
    } else {
        mp__batch_t *b = mp__batch_new(BATCH_MAP);
        err = b == NULL ? MP_ENOMEM : 0;
        if (err == 0) {
            b->out = out;
            b->out_size = out_size;
            b->status = status;
            b->own_errors = true;
            b->nitems = nitems;
            mp__batch_input_t inp = {
                .in = in, .in_size = in_size, .nitems = nitems};
            err = start_map(pool, b, fn, &inp, chunksize, r);
        }
        if (err == 0) {
            mp__batch_unref(b); /* the chunks keep it */
        } else {
            mp__result_unref(r); /* the job's: no batch took it */
        }
    }
    if (err != 0) {
        mp__result_unref(r);
        return err;
    }
    *res = r;
    return 0;
}

int
mp_pool_starmap_async(mp_pool_t *pool, mp_pool_fn fn, const void *in,
                      size_t in_size, size_t nitems, size_t chunksize,
                      const mp_pool_callbacks_t *cb, void *out, size_t out_size,
                      int *status, mp_result_t **res)
{
    return mp_pool_map_async(pool, fn, in, in_size, nitems, chunksize, cb, out,
                             out_size, status, res);
}
