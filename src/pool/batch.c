/* SPDX-License-Identifier: MIT */
/* batch.c - the Pool's many-item calls: map, map_buffers, starmap and
 * their async forms, imap over an array or a lazy source, and the results
 * they keep. A batch is shared by the caller and its chunk jobs (a
 * reference each); the handler thread stores the outcomes of a chunk's
 * items into it under one lock (mp__batch_lock, mp__batch_store_locked or
 * mp__batch_store_run_locked, mp__batch_unlock) and ends each chunk
 * (mp__batch_chunk_done).
 *
 * Locking: b->mu guards everything a batch's results touch; the pool's
 * own lock is never taken while it is held (mp__pool_submit is called
 * without it). */
#include "pool_internal.h"

#include <stdio.h>
#include <string.h>

/* How long mp_imap_next watches for the next result before it sleeps:
 * while a stream of results comes in, the next one is about this close. */
#define IMAP_SPIN_NS 20000

/* Results up to this size wait in their imap slot; next() copies them to
 * a buffer of the caller's thread, so that the handler mallocs nothing
 * the caller frees (a free into another thread's arena takes its lock). */
#define IMAP_INLINE 24

/* The first window of an imap ring, in slots (see struct mp_imap). */
#define IMAP_FIRST_WIN 256

/* Where a batch's results go. */
enum { BATCH_MAP, BATCH_BUFS, BATCH_IMAP };

/* The context a map or imap call shares with its chunk jobs: the handle
 * mp_pool_imap hands out is this too. */
struct mp_imap {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    _Atomic uint32_t seq; /* bumped at each broadcast of cv */
    int refs;             /* the caller + unfinished chunk jobs; under mu */
    size_t chunks_left;
    bool abandoned; /* the caller left (timed out): store nothing more */
    int kind;       /* BATCH_* */
    /* map: results go to the caller's arrays */
    char *out;
    size_t out_size;
    int *status;
    int first_err;
    size_t first_err_idx;
    /* map: each failed item's message (map_keep_message): the caller's
     * array (mp_pool_map_errors), the batch's own (map_async: allocated at
     * the first failure, handed to the result handle at the end), or NULL
     * (messages not kept) */
    char **errors;
    bool own_errors;
    size_t nitems;
    /* map_buffers: fresh result buffers go to outs and out_lens */
    void **outs;
    size_t *out_lens;
    /* imap: results are kept until next() takes them, in a ring where at most
     * cap items are submitted and not yet taken. Only the first win slots are
     * in use: ordered, item i waits in slot i % win (items are taken in order,
     * so the ones in flight span less than cap numbers); unordered, the ring is
     * a queue in completion order (finished k-th: slot k % win). The window
     * doubles (up to slots) when a result finds no slot, so a caller that keeps
     * up reuses a few cached slots rather than faulting in a page of a
     * cap-sized array every hundred items. */
    bool ordered;
    size_t cap, slots, win;
    struct imap_item {
        bool done;
        bool inline_data; /* the result is in bytes, not in data */
        int rc;
        size_t idx; /* the item's number */
        size_t len;
        union {
            void *data; /* result, or the error message (a string) */
            unsigned char bytes[IMAP_INLINE];
        } u;
    } * items;
    size_t nfinished, next;
    size_t nsubmitted; /* items queued so far */
    bool src_done;     /* no more items will be queued */
    int src_err;       /* why the input ended early; 0 once reported */
    /* imap from a source: the caller's thread calls src for more input
     * (imap_fill), never under a lock. */
    mp_pool_source_fn src;
    void *src_arg;
    mp_pool_t *pool;
    mp_pool_fn fn;
    /* map_async: the handle completed when the last chunk ends (the
     * batch holds the job's reference to it). */
    mp_result_t *res;
};
typedef struct mp_imap batch_t;

/* Frees errors, an array of n messages (NULL entries allowed; NULL: no
 * array). */
static void
free_messages(char **errors, size_t n)
{
    for (size_t i = 0; errors != NULL && i < n; i++) {
        mp__free(errors[i]);
    }
    mp__free(errors);
}

/* Frees a batch whose last reference went. */
static void
batch_free(batch_t *b)
{
    for (size_t i = 0; b->items != NULL && i < b->win; i++) {
        if (!b->items[i].inline_data) {
            mp__free(b->items[i].u.data);
        }
    }
    mp__pool_big_free(b->items);
    if (b->own_errors) {
        free_messages(b->errors, b->nitems);
    }
    if (b->res != NULL) {
        mp__result_unref(b->res);
    }
    pthread_cond_destroy(&b->cv);
    pthread_mutex_destroy(&b->mu);
    mp__free(b);
}

/* Drops one reference to a batch (mu not held). */
static void
batch_unref(batch_t *b)
{
    pthread_mutex_lock(&b->mu);
    bool last = --b->refs == 0;
    pthread_mutex_unlock(&b->mu);
    if (last) {
        batch_free(b);
    }
}

/* Ends a chunk job: one fewer chunk, one fewer reference; the last chunk
 * of a map_async completes its handle (and runs its callback). */
void
mp__batch_chunk_done(batch_t *b, mp_pool_t *pool)
{
    mp_result_t *res = NULL;
    int rc = 0;
    size_t idx = 0;
    char **errors = NULL;
    pthread_mutex_lock(&b->mu);
    bool finished = --b->chunks_left == 0;
    if (finished) {
        atomic_fetch_add(&b->seq, 1);
        res = b->abandoned ? NULL : b->res;
        rc = b->first_err;
        idx = b->first_err_idx;
        if (res != NULL && b->own_errors) {
            errors = b->errors; /* the handle's from now on */
            b->errors = NULL;
        }
    }
    /* The job's reference goes in the same turn, unless waiters are to be
     * woken or the handle (which the batch holds) completed first. */
    bool last = !finished && --b->refs == 0;
    pthread_mutex_unlock(&b->mu);
    if (finished) {
        /* After the unlock: a woken waiter finds mu free (see
         * mp__result_complete). */
        pthread_cond_broadcast(&b->cv);
        if (res != NULL) {
            /* Python re-raises the first failed item's own exception. */
            char msg[MP__POOL_MSG_MAX + 64];
            const char *why = errors != NULL && rc != 0 && errors[idx] != NULL
                                  ? errors[idx]
                                  : mp_strerror(rc);
            snprintf(msg, sizeof msg, "item %zu failed: %s", idx, why);
            mp__result_set_item_messages(res, errors, b->nitems);
            mp__result_complete(res, rc, NULL, 0, rc != 0 ? msg : NULL, false,
                                0, mp__pool_cb_counter(pool));
        }
        batch_unref(b);
    } else if (last) {
        batch_free(b);
    }
}

/* Keeps failed item idx's message (msg, or rc's text when NULL) where
 * map batch b keeps messages, if it does; out of memory, the item keeps
 * only its code. b->mu held. */
static void
map_keep_message(batch_t *b, size_t idx, int rc, const char *msg)
{
    if (b->own_errors && b->errors == NULL) {
        b->errors = mp__calloc(b->nitems, sizeof *b->errors);
    }
    if (b->errors != NULL) {
        b->errors[idx] = mp__strdup(msg != NULL ? msg : mp_strerror(rc));
    }
}

/* Records item idx's final code rc (and its message msg, which may be
 * NULL) in the status array, the messages and the first error of a map
 * batch; b->mu held. */
static void
map_note(batch_t *b, size_t idx, int rc, const char *msg)
{
    if (b->status != NULL) {
        b->status[idx] = rc;
    }
    if (rc != 0) {
        map_keep_message(b, idx, rc, msg);
    }
    if (rc != 0 && (b->first_err == 0 || idx < b->first_err_idx)) {
        b->first_err = rc;
        b->first_err_idx = idx;
    }
}

/* Stores item idx's outcome in a map batch; b->mu held. Returns the
 * item's final code. */
static int
map_store(batch_t *b, size_t idx, const mp__outcome_t *o)
{
    int rc = o->rc == 0 && o->len > b->out_size ? MP_EMSGSIZE : o->rc;
    const char *msg = o->msg;
    char why[96];
    if (rc == MP_EMSGSIZE) {
        snprintf(why, sizeof why,
                 "the result of %zu bytes is longer than out_size (%zu)",
                 o->len, b->out_size);
        msg = why;
    }
    if (rc == 0 && b->out_size > 0) {
        char *dst = b->out + idx * b->out_size;
        memcpy(dst, o->data, o->len);
        memset(dst + o->len, 0, b->out_size - o->len);
    }
    map_note(b, idx, rc, msg);
    return rc;
}

/* Stores item idx's outcome in a map_buffers batch (a fresh buffer in
 * outs[idx]); b->mu held. Returns the item's final code. */
static int
bufs_store(batch_t *b, size_t idx, const mp__outcome_t *o)
{
    int rc = o->rc;
    if (rc == 0) {
        b->outs[idx] = mp__pool_dup_bytes(o->data, o->len);
        b->out_lens[idx] = o->len;
        if (b->outs[idx] == NULL) {
            b->out_lens[idx] = 0;
            rc = MP_ENOMEM;
        }
    }
    map_note(b, idx, rc, rc == o->rc ? o->msg : NULL);
    return rc;
}

/* Widens b's imap window until it has a slot for the result numbered k
 * (an item number when ordered, a completion count when not): the live
 * results, numbered next .. next + win - 1 at most, move from slot
 * n % win to n % wider. wider is a multiple of win, so a result either
 * stays or moves to a slot at or past win, which was never used; two live
 * numbers, less than win apart, never share a slot. b->mu held. */
static void
imap_widen(batch_t *b, size_t k)
{
    size_t wider = b->win;
    while (k - b->next >= wider) {
        wider *= 2; /* at most slots: k - next < cap */
    }
    for (size_t n = b->next; n < b->next + b->win; n++) {
        size_t from = n % b->win, to = n % wider;
        if (to != from) {
            b->items[to] = b->items[from];
            b->items[from] = (struct imap_item){0};
        }
    }
    b->win = wider;
}

/* Stores item idx's outcome in an imap batch; b->mu held. */
static void
imap_store(batch_t *b, size_t idx, const mp__outcome_t *o)
{
    size_t k = b->ordered ? idx : b->nfinished;
    if (k - b->next >= b->win) {
        imap_widen(b, k);
    }
    struct imap_item *it = &b->items[k % b->win];
    b->nfinished++;
    it->idx = idx;
    it->rc = o->rc;
    if (o->rc == 0 && o->len <= IMAP_INLINE) {
        it->inline_data = true;
        it->len = o->len;
        if (o->len > 0) {
            memcpy(it->u.bytes, o->data, o->len);
        }
    } else if (o->rc == 0) {
        it->u.data = mp__pool_dup_bytes(o->data, o->len);
        it->len = o->len;
    } else {
        const char *msg = o->msg != NULL ? o->msg : mp_strerror(o->rc);
        it->len = strlen(msg) + 1;
        it->u.data = mp__pool_dup_bytes(msg, it->len);
    }
    if (!it->inline_data && it->u.data == NULL) {
        it->rc = MP_ENOMEM;
        it->len = 0;
    }
    it->done = true;
}

void
mp__batch_lock(batch_t *b)
{
    pthread_mutex_lock(&b->mu);
}

void
mp__batch_unlock(batch_t *b, mp_pool_t *pool, const mp__tally_t *t)
{
    bool wake = b->kind == BATCH_IMAP && t->done + t->failed > 0;
    if (wake) {
        atomic_fetch_add(&b->seq, 1);
    }
    /* Counted before anyone can see the items, as for an apply. */
    mp__pool_count_items(pool, t);
    pthread_mutex_unlock(&b->mu);
    /* The caller's job holds a reference: b outlives the broadcast. */
    if (wake) {
        pthread_cond_broadcast(&b->cv);
    }
}

void
mp__batch_store_run_locked(batch_t *b, size_t idx, size_t count,
                           const char *data, size_t len, mp__tally_t *t)
{
    if (b->kind == BATCH_MAP && !b->abandoned && len == b->out_size) {
        /* The common map: results of exactly the output size, copied at
         * once. */
        if (len > 0) {
            memcpy(b->out + idx * len, data, count * len);
        }
        if (b->status != NULL) {
            memset(&b->status[idx], 0, count * sizeof *b->status);
        }
        t->done += count;
        return;
    }
    for (size_t i = 0; i < count; i++) {
        mp__outcome_t o = {.data = data + i * len, .len = len};
        mp__batch_store_locked(b, idx + i, &o, t);
    }
}

void
mp__batch_store_locked(batch_t *b, size_t idx, const mp__outcome_t *o,
                       mp__tally_t *t)
{
    int rc = o->rc;
    if (b->kind == BATCH_MAP && rc == 0 && o->len > b->out_size) {
        rc = MP_EMSGSIZE; /* counted so even when nobody stores it */
    }
    if (!b->abandoned) {
        if (b->kind == BATCH_MAP) {
            rc = map_store(b, idx, o);
        } else if (b->kind == BATCH_BUFS) {
            rc = bufs_store(b, idx, o);
        } else {
            imap_store(b, idx, o);
        }
    }
    mp__tally_add(t, rc);
}

/* The input of a batch: nitems items of in_size bytes at in or, when bufs
 * is not NULL, buffers of their own lengths (lens), whose task spans sum
 * to bufs_span. */
typedef struct batch_input {
    const void *in;
    size_t in_size;
    const void *const *bufs;
    const size_t *lens;
    size_t bufs_span;
    size_t nitems;
} batch_input_t;

/* Returns the input bytes the job of items start .. start + count - 1 of
 * inp takes (lengths checked by check_bufs_args when they vary). */
static size_t
chunk_data(const batch_input_t *inp, size_t start, size_t count)
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

/* Builds the job of items start .. start + count - 1 of inp in block (at
 * *used, advanced; see mp__pool_job_place). */
static mp__job_t *
job_place_chunk(mp_pool_t *pool, void *block, size_t *used,
                const mp__fn_name_t *name, const batch_input_t *inp,
                size_t start, size_t count)
{
    char *dst;
    size_t data = chunk_data(inp, start, count);
    if (inp->bufs == NULL) {
        mp__job_t *j = mp__pool_job_place(pool, block, used, name, inp->in_size,
                                          count, data, &dst);
        if (data > 0) {
            memcpy(dst, (const char *)inp->in + start * inp->in_size, data);
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
static int
check_batch_args(const mp_pool_t *pool, mp_pool_fn fn, const void *in,
                 size_t in_size, size_t nitems, long chunksize)
{
    if (pool == NULL || fn == NULL ||
        (nitems > 0 && in == NULL && in_size > 0) || chunksize == 0 ||
        chunksize < MP_POOL_CHUNKSIZE_AUTO ||
        (in_size > 0 && nitems > SIZE_MAX / in_size)) {
        return MP_EINVAL;
    }
    return 0;
}

/* Registers one more chunk job j of b, for items from start. */
static void
batch_add_chunk(batch_t *b, mp__job_t *j, size_t start)
{
    j->batch = b;
    j->start = start;
    pthread_mutex_lock(&b->mu);
    b->refs++;
    b->chunks_left++;
    pthread_mutex_unlock(&b->mu);
}

/* Cuts the items of inp (at least one) into chunk jobs of b, all in one
 * block, and queues them. Returns 0 or an error, with nothing queued and
 * b's chunk references dropped. */
static int
submit_batch(mp_pool_t *pool, batch_t *b, mp_pool_fn fn,
             const batch_input_t *inp, size_t chunk)
{
    mp__fn_name_t name;
    mp__pool_fn_name(fn, &name);
    size_t total = 0;
    int err = 0;
    for (size_t start = 0; start < inp->nitems && err == 0; start += chunk) {
        size_t count =
            inp->nitems - start < chunk ? inp->nitems - start : chunk;
        size_t span = mp__pool_job_span(&name, chunk_data(inp, start, count));
        if (span == 0 || total > SIZE_MAX / 2 - span) {
            err = MP_ENOMEM;
        }
        total += span;
    }
    void *block = err == 0 ? mp__pool_block_new(total) : NULL;
    if (block == NULL) {
        pthread_mutex_lock(&b->mu);
        b->abandoned = true;
        pthread_mutex_unlock(&b->mu);
        return MP_ENOMEM;
    }
    mp__job_t *first = NULL, *last = NULL;
    size_t used = 0, njobs = 0;
    for (size_t start = 0; start < inp->nitems; start += chunk) {
        size_t count =
            inp->nitems - start < chunk ? inp->nitems - start : chunk;
        mp__job_t *j =
            job_place_chunk(pool, block, &used, &name, inp, start, count);
        j->batch = b;
        j->start = start;
        njobs++;
        if (last != NULL) {
            last->next = j;
        } else {
            first = j;
        }
        last = j;
    }
    /* Their references, taken at once. */
    pthread_mutex_lock(&b->mu);
    b->refs += (int)njobs;
    b->chunks_left += njobs;
    pthread_mutex_unlock(&b->mu);
    err = mp__pool_submit(pool, first, last);
    if (err != 0) {
        pthread_mutex_lock(&b->mu);
        b->abandoned = true;
        pthread_mutex_unlock(&b->mu);
        free_job_list(first);
    }
    return err;
}

/* Makes a batch of kind holding the caller's reference, or returns
 * NULL. */
static batch_t *
batch_new(int kind)
{
    batch_t *b = mp__calloc(1, sizeof *b);
    if (b != NULL) {
        pthread_mutex_init(&b->mu, NULL);
        mp__pool_cond_init(&b->cv);
        b->refs = 1;
        b->kind = kind;
    }
    return b;
}

/* Checks map's and map_async's arguments. Returns 0 or MP_EINVAL. */
static int
check_map_args(const mp_pool_t *pool, mp_pool_fn fn, const void *in,
               size_t in_size, size_t nitems, const void *out, size_t out_size,
               long chunksize)
{
    if (check_batch_args(pool, fn, in, in_size, nitems, chunksize) != 0 ||
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
item_bytes(const batch_t *b, const batch_input_t *inp)
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
start_map(mp_pool_t *pool, batch_t *b, mp_pool_fn fn, const batch_input_t *inp,
          long chunksize, mp_result_t *res)
{
    int err = mp__pool_submit_error(pool);
    if (err == 0) {
        b->res = res;
        size_t chunk =
            chunksize == MP_POOL_CHUNKSIZE_AUTO
                ? mp__pool_chunksize(inp->nitems, mp_pool_processes(pool),
                                     item_bytes(b, inp))
                : (size_t)chunksize;
        err = submit_batch(pool, b, fn, inp, chunk);
    }
    if (err != 0) {
        b->res = NULL; /* not taken: the caller keeps both references */
        batch_unref(b);
    }
    return err;
}

/* Waits until every chunk of map batch b ended or deadline passed, then
 * drops the caller's reference. Returns the first failed item's code, 0,
 * or MP_ETIMEDOUT (nothing more is stored). */
static int
wait_map(batch_t *b, int64_t deadline)
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
    batch_unref(b);
    return err;
}

/* Runs the map-like batch b (the caller's reference) over inp and waits
 * for it. Returns what mp_pool_map returns. */
static int
run_map(mp_pool_t *pool, batch_t *b, mp_pool_fn fn, const batch_input_t *inp,
        long chunksize, int64_t deadline)
{
    if (inp->nitems == 0) {
        batch_unref(b);
        return mp__pool_submit_error(pool);
    }
    int err = start_map(pool, b, fn, inp, chunksize, NULL);
    return err != 0 ? err : wait_map(b, deadline);
}

int
mp_pool_map_errors(mp_pool_t *pool, mp_pool_fn fn, const void *in,
                   size_t in_size, size_t nitems, long chunksize, void *out,
                   size_t out_size, int *status, char **errors,
                   mp_duration_t timeout)
{
    int64_t deadline;
    if (check_map_args(pool, fn, in, in_size, nitems, out, out_size,
                       chunksize) != 0) {
        return MP_EINVAL;
    }
    int err = mp__deadline(timeout, &deadline);
    if (err != 0) {
        return err;
    }
    for (size_t i = 0; errors != NULL && i < nitems; i++) {
        errors[i] = NULL;
    }
    batch_t *b = batch_new(BATCH_MAP);
    if (b == NULL) {
        return MP_ENOMEM;
    }
    b->out = out;
    b->out_size = out_size;
    b->status = status;
    b->errors = errors;
    b->nitems = nitems;
    batch_input_t inp = {.in = in, .in_size = in_size, .nitems = nitems};
    return run_map(pool, b, fn, &inp, chunksize, deadline);
}

int
mp_pool_map(mp_pool_t *pool, mp_pool_fn fn, const void *in, size_t in_size,
            size_t nitems, long chunksize, void *out, size_t out_size,
            int *status, mp_duration_t timeout)
{
    return mp_pool_map_errors(pool, fn, in, in_size, nitems, chunksize, out,
                              out_size, status, NULL, timeout);
}

int
mp_pool_starmap(mp_pool_t *pool, mp_pool_fn fn, const void *in, size_t in_size,
                size_t nitems, long chunksize, void *out, size_t out_size,
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
                const size_t *out_lens, long chunksize, size_t *span)
{
    if (check_batch_args(pool, fn, NULL, 0, n, chunksize) != 0 ||
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
                    const size_t *lens, size_t n, long chunksize, void **outs,
                    size_t *out_lens, int *status, mp_duration_t timeout)
{
    int64_t deadline;
    size_t span;
    if (check_bufs_args(pool, fn, bufs, lens, n, outs, out_lens, chunksize,
                        &span) != 0) {
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
    batch_t *b = batch_new(BATCH_BUFS);
    if (b == NULL) {
        return MP_ENOMEM;
    }
    b->outs = outs;
    b->out_lens = out_lens;
    b->status = status;
    batch_input_t inp = {
        .bufs = bufs, .lens = lens, .bufs_span = span, .nitems = n};
    return run_map(pool, b, fn, &inp, chunksize, deadline);
}

int
mp_pool_map_async(mp_pool_t *pool, mp_pool_fn fn, const void *in,
                  size_t in_size, size_t nitems, long chunksize,
                  const mp_pool_callbacks_t *cb, void *out, size_t out_size,
                  int *status, mp_result_t **res)
{
    if (res == NULL || check_map_args(pool, fn, in, in_size, nitems, out,
                                      out_size, chunksize) != 0) {
        return MP_EINVAL;
    }
    mp_result_t *r = mp__result_new();
    if (r == NULL) {
        return MP_ENOMEM;
    }
    mp__result_set_callbacks(r, cb, out, nitems * out_size);
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
        batch_t *b = batch_new(BATCH_MAP);
        err = b == NULL ? MP_ENOMEM : 0;
        if (err == 0) {
            b->out = out;
            b->out_size = out_size;
            b->status = status;
            b->own_errors = true;
            b->nitems = nitems;
            batch_input_t inp = {
                .in = in, .in_size = in_size, .nitems = nitems};
            err = start_map(pool, b, fn, &inp, chunksize, r);
        }
        if (err == 0) {
            batch_unref(b); /* the chunks keep it */
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
                      size_t in_size, size_t nitems, long chunksize,
                      const mp_pool_callbacks_t *cb, void *out, size_t out_size,
                      int *status, mp_result_t **res)
{
    return mp_pool_map_async(pool, fn, in, in_size, nitems, chunksize, cb, out,
                             out_size, status, res);
}

/* Makes an imap batch whose ring holds cap items. Returns 0 or MP_EINVAL,
 * MP_ENOMEM, or the pool's submission error. */
static int
imap_new(mp_pool_t *pool, size_t cap, bool ordered, batch_t **bp)
{
    if (cap > SIZE_MAX / 4 / sizeof(struct imap_item)) {
        return MP_EINVAL;
    }
    batch_t *b = batch_new(BATCH_IMAP);
    if (b == NULL) {
        return MP_ENOMEM;
    }
    b->ordered = ordered;
    b->cap = cap > 0 ? cap : 1;
    b->slots = b->cap;
    if (b->cap > IMAP_FIRST_WIN) {
        /* Each window is a multiple of the one before (imap_widen). */
        b->slots = IMAP_FIRST_WIN;
        while (b->slots < b->cap) {
            b->slots *= 2;
        }
    }
    b->win = b->slots > IMAP_FIRST_WIN ? IMAP_FIRST_WIN : b->slots;
    /* Zeroed; when big, a mapping whose pages cost nothing until the
     * window reaches them. */
    b->items = mp__pool_big_alloc(b->slots * sizeof *b->items);
    int err = b->items == NULL ? MP_ENOMEM : 0;
    if (err == 0) {
        err = mp__pool_submit_error(pool);
    }
    if (err != 0) {
        batch_unref(b);
        return err;
    }
    *bp = b;
    return 0;
}

/* imap and imap_unordered: the same, but results are kept for next(). */
static int
start_imap(mp_pool_t *pool, mp_pool_fn fn, const void *in, size_t in_size,
           size_t nitems, long chunksize, bool ordered, mp_imap_t **out)
{
    if (check_batch_args(pool, fn, in, in_size, nitems, chunksize) != 0 ||
        out == NULL) {
        return MP_EINVAL;
    }
    batch_t *b;
    int err = imap_new(pool, nitems, ordered, &b);
    if (err != 0) {
        return err;
    }
    b->nsubmitted = nitems;
    b->src_done = true;
    if (nitems > 0) {
        size_t chunk =
            chunksize == MP_POOL_CHUNKSIZE_AUTO ? 1 : (size_t)chunksize;
        batch_input_t inp = {.in = in, .in_size = in_size, .nitems = nitems};
        err = submit_batch(pool, b, fn, &inp, chunk);
    }
    if (err != 0) {
        batch_unref(b);
        return err;
    }
    *out = b;
    return 0;
}

int
mp_pool_imap(mp_pool_t *pool, mp_pool_fn fn, const void *in, size_t in_size,
             size_t nitems, long chunksize, mp_imap_t **out)
{
    return start_imap(pool, fn, in, in_size, nitems, chunksize, true, out);
}

int
mp_pool_imap_unordered(mp_pool_t *pool, mp_pool_fn fn, const void *in,
                       size_t in_size, size_t nitems, long chunksize,
                       mp_imap_t **out)
{
    return start_imap(pool, fn, in, in_size, nitems, chunksize, false, out);
}

/* Ends the input of source batch b with err (0: the source ended); b->mu
 * not held. */
static void
imap_end_input(batch_t *b, int err)
{
    pthread_mutex_lock(&b->mu);
    b->src_done = true;
    b->src_err = err;
    pthread_mutex_unlock(&b->mu);
}

/* Calls b's source and queues what it gives until cap items are in flight
 * (queued and not taken by next()) or the input ended (the caller's
 * thread, no lock held). */
static void
imap_fill(batch_t *b)
{
    for (;;) {
        pthread_mutex_lock(&b->mu);
        bool full = b->src_done || b->nsubmitted - b->next >= b->cap;
        size_t idx = b->nsubmitted;
        pthread_mutex_unlock(&b->mu);
        if (full) {
            return;
        }
        const void *item = NULL;
        size_t len = 0;
        int r = b->src(b->src_arg, &item, &len);
        if (r <= 0) {
            /* 0: the end; a negative code: the source's error. */
            imap_end_input(b, r);
            continue;
        }
        if (item == NULL && len > 0) {
            imap_end_input(b, MP_EINVAL);
            continue;
        }
        mp__job_t *j = mp__pool_job_new(b->pool, b->fn, item, len, 1);
        if (j == NULL) {
            imap_end_input(b, MP_ENOMEM);
            continue;
        }
        batch_add_chunk(b, j, idx);
        int err = mp__pool_submit(b->pool, j, j);
        if (err != 0) {
            mp__pool_job_free(j);
            imap_end_input(b, err);
            continue;
        }
        pthread_mutex_lock(&b->mu);
        b->nsubmitted++;
        pthread_mutex_unlock(&b->mu);
    }
}

int
mp_pool_imap_source(mp_pool_t *pool, mp_pool_fn fn, mp_pool_source_fn src,
                    void *src_arg, size_t max_in_flight, bool ordered,
                    mp_imap_t **out)
{
    if (pool == NULL || fn == NULL || src == NULL || max_in_flight == 0 ||
        out == NULL) {
        return MP_EINVAL;
    }
    batch_t *b;
    int err = imap_new(pool, max_in_flight, ordered, &b);
    if (err != 0) {
        return err;
    }
    b->src = src;
    b->src_arg = src_arg;
    b->pool = pool;
    b->fn = fn;
    imap_fill(b);
    *out = b;
    return 0;
}

/* Whether the next result of it is there; it->mu held, an item in
 * flight. */
static bool
imap_ready(const mp_imap_t *it)
{
    return it->ordered ? it->items[it->next % it->win].done
                       : it->nfinished > it->next;
}

int
mp_imap_next(mp_imap_t *it, void **out, size_t *out_len, size_t *index,
             mp_duration_t timeout)
{
    int64_t deadline;
    if (it == NULL) {
        return MP_EINVAL;
    }
    int err = mp__deadline(timeout, &deadline);
    if (err != 0) {
        return err;
    }
    if (it->src != NULL) {
        imap_fill(it); /* the previous next() made room */
    }
    pthread_mutex_lock(&it->mu);
    if (it->next == it->nsubmitted) {
        /* Every queued item was taken; the input ended (imap_fill). */
        err = it->src_err != 0 ? it->src_err : MP_EOF;
        it->src_err = 0; /* reported once, then MP_EOF */
        if (err != MP_EOF && index != NULL) {
            *index = it->nsubmitted;
        }
        pthread_mutex_unlock(&it->mu);
        return err;
    }
    while (!imap_ready(it)) {
        if (mp__pool_cond_wait_spin(&it->cv, &it->mu, deadline, &it->seq,
                                    IMAP_SPIN_NS) != 0 &&
            !imap_ready(it)) {
            pthread_mutex_unlock(&it->mu);
            return MP_ETIMEDOUT;
        }
    }
    struct imap_item *item = &it->items[it->next % it->win];
    struct imap_item taken = *item;
    it->next++;
    /* The slot is free again. */
    *item = (struct imap_item){0};
    pthread_mutex_unlock(&it->mu);
    void *data = taken.u.data;
    err = taken.rc;
    if (taken.inline_data) {
        /* Copied here, outside the lock, by the thread that frees it. */
        data =
            out != NULL ? mp__pool_dup_bytes(taken.u.bytes, taken.len) : NULL;
        if (out != NULL && data == NULL) {
            err = MP_ENOMEM;
            taken.len = 0;
        }
    }
    /* The item is handed over: its buffer now belongs to the caller. */
    if (out != NULL) {
        *out = data;
        data = NULL;
    }
    if (out_len != NULL) {
        *out_len = taken.len;
    }
    if (index != NULL) {
        *index = taken.idx;
    }
    mp__free(data); /* not taken (out NULL) */
    return err;
}

void
mp_imap_destroy(mp_imap_t *it)
{
    if (it == NULL) {
        return;
    }
    pthread_mutex_lock(&it->mu);
    it->abandoned = true;
    pthread_mutex_unlock(&it->mu);
    batch_unref(it);
}
