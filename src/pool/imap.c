/* SPDX-License-Identifier: MIT */
/* imap.c - the lazy many-item calls: mp_pool_imap and _imap_unordered
 * over an array, mp_pool_imap_source over items a callback hands out, and
 * the iterator they return (mp_imap_next, mp_imap_destroy). Results wait
 * in the batch's ring (batch.c, docs/design.md "Pool results") until
 * mp_imap_next takes them, in item order or in completion order. A source
 * is called in the caller's thread (never under a lock), and only while
 * fewer than max_in_flight items are queued and not yet taken. Context:
 * the thread that iterates; no pool lock held. */
#include "batch_internal.h"

#include <string.h>

/* How long mp_imap_next watches for the next result before it sleeps:
 * while a stream of results comes in, the next one is about this close
 * (and only while such watches pay: the iterator's learner). */
#define IMAP_SPIN_NS 20000

/* The first window of an imap ring, in slots (see struct mp_imap). */
#define IMAP_FIRST_WIN 256

/* Makes an imap batch whose ring holds cap items. Returns 0 or MP_EINVAL,
 * MP_ENOMEM, or the pool's submission error. */
static int
imap_new(mp_pool_t *pool, size_t cap, bool ordered, mp__batch_t **bp)
{
    if (cap > SIZE_MAX / 4 / sizeof(struct imap_item)) {
        return MP_EINVAL;
    }
    mp__batch_t *b = mp__batch_new(BATCH_IMAP);
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
        mp__batch_unref(b);
        return err;
    }
    *bp = b;
    return 0;
}

/* imap and imap_unordered: the same, but results are kept for next(). */
static int
start_imap(mp_pool_t *pool, mp_pool_fn fn, const void *in, size_t in_size,
           size_t nitems, size_t chunksize, bool ordered, mp_imap_t **out)
{
    if (mp__batch_check_args(pool, fn, in, in_size, nitems) != 0 ||
        out == NULL) {
        return MP_EINVAL;
    }
    mp__batch_t *b;
    int err = imap_new(pool, nitems, ordered, &b);
    if (err != 0) {
        return err;
    }
    b->nsubmitted = nitems;
    b->src_done = true;
    if (nitems > 0) {
        size_t chunk = chunksize == 0 ? 1 : chunksize;
        mp__batch_input_t inp = {
            .in = in, .in_size = in_size, .nitems = nitems};
        err = mp__batch_submit(pool, b, fn, &inp, chunk);
    }
    if (err != 0) {
        mp__batch_unref(b);
        return err;
    }
    *out = b;
    return 0;
}

int
mp_pool_imap(mp_pool_t *pool, mp_pool_fn fn, const void *in, size_t in_size,
             size_t nitems, size_t chunksize, mp_imap_t **out)
{
    return start_imap(pool, fn, in, in_size, nitems, chunksize, true, out);
}

int
mp_pool_imap_unordered(mp_pool_t *pool, mp_pool_fn fn, const void *in,
                       size_t in_size, size_t nitems, size_t chunksize,
                       mp_imap_t **out)
{
    return start_imap(pool, fn, in, in_size, nitems, chunksize, false, out);
}

/* Registers one more chunk job j of b, for items from start. */
static void
batch_add_chunk(mp__batch_t *b, mp__job_t *j, size_t start)
{
    j->batch = b;
    j->start = start;
    pthread_mutex_lock(&b->mu);
    b->refs++;
    b->chunks_left++;
    pthread_mutex_unlock(&b->mu);
}

/* Ends the input of source batch b with err (0: the source ended); b->mu
 * not held. */
static void
imap_end_input(mp__batch_t *b, int err)
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
imap_fill(mp__batch_t *b)
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
        mp__job_t *j = NULL;
        int err = mp__pool_job_new(b->pool, b->fn, item, len, 1, &j);
        if (err != 0) {
            imap_end_input(b, err);
            continue;
        }
        batch_add_chunk(b, j, idx);
        err = mp__pool_submit(b->pool, j, j);
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
    mp__batch_t *b;
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

ssize_t
mp_imap_next(mp_imap_t *it, void **out, size_t *index, mp_duration_t timeout)
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
                                    IMAP_SPIN_NS, &it->learn) != 0 &&
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
    if (index != NULL) {
        *index = taken.idx;
    }
    mp__free(data); /* not taken (out NULL) */
    /* A result's length fits: it was allocated. */
    return err != 0 ? err : (ssize_t)taken.len;
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
    mp__batch_unref(it);
}
