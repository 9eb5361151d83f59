/* SPDX-License-Identifier: MIT */
/* batch.c - a batch: what a many-item call (map, map_buffers, starmap,
 * their async forms, imap) shares with its chunk jobs, and where the
 * handler thread stores the items' outcomes: into the caller's arrays
 * (map), fresh buffers (map_buffers) or the imap ring. A batch holds a
 * reference for the caller and one for each unfinished chunk job; the
 * handler stores a chunk's items under one lock (mp__batch_lock,
 * mp__batch_store_locked or mp__batch_store_run_locked, mp__batch_unlock)
 * and ends each chunk (mp__batch_chunk_done: the last one of a map_async
 * completes its result handle). A caller that left (a timeout, an early
 * mp_imap_destroy) marks the batch abandoned: nothing more is stored.
 *
 * Locking: b->mu guards everything a batch's results touch; the pool's
 * own lock is never taken while it is held. The waiters are woken after
 * the unlock. */
#include "batch_internal.h"

#include <stdio.h>
#include <string.h>

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
batch_free(mp__batch_t *b)
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
void
mp__batch_unref(mp__batch_t *b)
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
mp__batch_chunk_done(mp__batch_t *b, mp_pool_t *pool)
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
        mp__batch_unref(b);
    } else if (last) {
        batch_free(b);
    }
}

/* Keeps failed item idx's message (msg, or rc's text when NULL) where
 * map batch b keeps messages, if it does; out of memory, the item keeps
 * only its code. b->mu held. */
static void
map_keep_message(mp__batch_t *b, size_t idx, int rc, const char *msg)
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
map_note(mp__batch_t *b, size_t idx, int rc, const char *msg)
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
map_store(mp__batch_t *b, size_t idx, const mp__outcome_t *o)
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
bufs_store(mp__batch_t *b, size_t idx, const mp__outcome_t *o)
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
imap_widen(mp__batch_t *b, size_t k)
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
imap_store(mp__batch_t *b, size_t idx, const mp__outcome_t *o)
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
mp__batch_lock(mp__batch_t *b)
{
    pthread_mutex_lock(&b->mu);
}

void
mp__batch_unlock(mp__batch_t *b, mp_pool_t *pool, const mp__tally_t *t)
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
mp__batch_store_run_locked(mp__batch_t *b, size_t idx, size_t count,
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
mp__batch_store_locked(mp__batch_t *b, size_t idx, const mp__outcome_t *o,
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

/* Makes a batch of kind holding the caller's reference, or returns
 * NULL. */
mp__batch_t *
mp__batch_new(int kind)
{
    mp__batch_t *b = mp__calloc(1, sizeof *b);
    if (b != NULL) {
        pthread_mutex_init(&b->mu, NULL);
        mp__pool_cond_init(&b->cv);
        b->refs = 1;
        b->kind = kind;
    }
    return b;
}
