/* SPDX-License-Identifier: MIT */
/* worker.c - a pool worker's main loop: run the initializer, say READY,
 * then take tasks from its own inbox, resolve each task's function from
 * its reference (fnref.h: checked against the loaded objects' build-ids
 * before anything is called), run it per item, and put the results on the
 * shared result queue. Also the task side of mp_pool_out_t.
 *
 * Nothing here calls the allocator: a worker's buffers are mappings it
 * keeps from task to task (see mp__pool_map_grow for why). */
#include "../shm/fnref.h"
#include "pool_internal.h"
#include "remote.h"

#include <stdio.h>
#include <string.h>

struct mp_pool_out {
    char *buf; /* from mp__pool_map_grow */
    size_t len, cap;
    char *err; /* the error text set, if err_set; from mp__pool_map_grow */
    size_t err_cap;
    bool err_set;
};

/* Makes room for need bytes in out (keeping its bytes). The worker keeps
 * this buffer from task to task: large replies then reuse warm (huge)
 * pages. Returns 0 or MP_ENOMEM. */
static int
out_reserve(mp_pool_out_t *out, size_t need)
{
    return mp__pool_map_grow(&out->buf, &out->cap, need, out->len);
}

/* Copies len bytes from src to dst, which do not overlap. The sizes of
 * the common scalar results are copied with one move each: a call of
 * memcpy per item costs a map of trivial items a visible part of its time
 * (issue 20). */
static inline void
copy_small(char *dst, const void *src, size_t len)
{
    switch (len) {
    case 8:
        memcpy(dst, src, 8);
        break;
    case 4:
        memcpy(dst, src, 4);
        break;
    case 16:
        memcpy(dst, src, 16);
        break;
    default:
        memcpy(dst, src, len);
    }
}

int
mp_pool_out_write(mp_pool_out_t *out, const void *buf, size_t len)
{
    /* The common case first: bytes that fit the room the buffer has (a
     * task's reply buffer is sized for its results up front). cap >= len
     * always holds, so the difference cannot wrap. */
    if (out != NULL && buf != NULL && len > 0 && len <= out->cap - out->len) {
        copy_small(out->buf + out->len, buf, len);
        out->len += len;
        return 0;
    }
    if (out == NULL || (buf == NULL && len > 0) || len > SIZE_MAX / 2 ||
        out->len > SIZE_MAX / 2 - len) {
        return MP_EINVAL;
    }
    if (out_reserve(out, out->len + len) != 0) {
        return MP_ENOMEM;
    }
    if (len > 0) {
        memcpy(out->buf + out->len, buf, len);
    }
    out->len += len;
    return 0;
}

int
mp_pool_out_error(mp_pool_out_t *out, const char *msg)
{
    if (out == NULL || msg == NULL) {
        return MP_EINVAL;
    }
    size_t len = strlen(msg) + 1;
    if (len > SIZE_MAX / 2 ||
        mp__pool_map_grow(&out->err, &out->err_cap, len, 0) != 0) {
        return MP_ENOMEM;
    }
    memcpy(out->err, msg, len);
    out->err_set = true;
    return 0;
}

/* The worker's last resolved task function and the reference that named
 * it (in a mapping from mp__pool_map_grow): the tasks of a map, and
 * usually all of a worker's tasks, name one function, which is then
 * checked once (its object's build-id, its offset in that object's code)
 * and found again by comparing the reference's few bytes. */
typedef struct fn_cache {
    char *ref;
    size_t len, cap;
    mp_pool_fn fn;
} fn_cache_t;

/* Resolves the task function that the len bytes at ref name into *fn,
 * among the objects loaded here (loading one would allocate). Returns 0 or
 * the error (MP_ENOENT: no loaded object has its build-id, or its name is
 * not registered here; MP_EPROTO: not a reference, or not code of its
 * object), with nothing called. */
static int
resolve_task_fn(fn_cache_t *c, const char *ref, size_t len, mp_pool_fn *fn)
{
    if (len > 0 && len == c->len && memcmp(ref, c->ref, len) == 0) {
        *fn = c->fn;
        return 0;
    }
    mp__fn_t f;
    int err = mp__fnref_decode_loaded(ref, len, &f);
    if (err != 0) {
        return err;
    }
    *fn = (mp_pool_fn)f;
    /* Without room it is resolved again next time. */
    if (mp__pool_map_grow(&c->ref, &c->cap, len, 0) == 0) {
        memcpy(c->ref, ref, len);
        c->len = len;
        c->fn = *fn;
    }
    return 0;
}

/* What a worker builds replies in, kept from task to task: out holds
 * room for the reply header, then the items' bytes one after the other
 * (tasks write straight into it); tab each item's code and length;
 * joined a reply whose items differ (header, table, bytes). */
typedef struct reply_buf {
    mp_pool_out_t out;
    mp__item_hdr_t *tab; /* in tab_mem, of tab_bytes bytes */
    char *tab_mem;
    size_t tab_bytes;
    char *joined;
    size_t joined_cap;
} reply_buf_t;

/* The rest of run_item for an item that failed (rc != 0), or that could
 * not run (fn_err != 0): its message replaces whatever it wrote since at.
 * Out of the item loop's way: the common item succeeds. Returns 0 or
 * MP_ENOMEM. */
static __attribute__((noinline, cold)) int
item_failed(int fn_err, int rc, size_t at, reply_buf_t *rb, mp__item_hdr_t *ih)
{
    mp_pool_out_t *out = &rb->out;
    int err = 0;
    if (fn_err != 0) {
        char why[192];
        snprintf(why, sizeof why,
                 "the task's function cannot be called in this worker: %s "
                 "(its reference names another build of the program, or a "
                 "name not registered here)",
                 mp_strerror(fn_err));
        *ih = (mp__item_hdr_t){.rc = fn_err, .pad = MP__ITEM_CODE};
        err = mp_pool_out_error(out, why);
    } else {
        *ih = (mp__item_hdr_t){.rc = rc};
    }
    if (err == 0) {
        /* Failed: what it wrote is dropped, its message takes its place. */
        char text[64];
        const char *m = out->err_set ? out->err : NULL;
        if (m == NULL) {
            snprintf(text, sizeof text, "task returned %d", ih->rc);
            m = text;
        }
        size_t mlen = strlen(m) + 1;
        out->len = at;
        err = mp_pool_out_write(out, m, mlen);
        ih->len = mlen;
    } else {
        ih->len = out->len - at;
    }
    out->err_set = false;
    return err;
}

/* Runs fn on one item, appending its result (or error text) to rb->out
 * and its code and length to *ih; with fn_err set (fn could not be
 * resolved) the item fails with that library code and why, fn uncalled.
 * Inline: it runs once per item of a map. Returns 0 or MP_ENOMEM. */
static inline int
run_item(mp_pool_fn fn, int fn_err, const void *in, size_t in_len,
         reply_buf_t *rb, mp__item_hdr_t *ih)
{
    mp_pool_out_t *out = &rb->out;
    size_t at = out->len;
    int rc = fn_err != 0 ? fn_err : fn(in, in_len, out);
    if (fn_err != 0 || rc != 0) {
        return item_failed(fn_err, rc, at, rb, ih);
    }
    *ih = (mp__item_hdr_t){.rc = 0, .len = out->len - at};
    /* A message set by a task that then succeeded is not the next one's. */
    out->err_set = false;
    return 0;
}

/* Switches a reply to the per-item table (its items differ) at item
 * done: makes room for nitems entries and records items 0 .. done-1, which
 * all succeeded with results of len bytes. Returns 0 or MP_ENOMEM. */
static int
tab_start(reply_buf_t *rb, uint64_t nitems, uint64_t done, size_t len)
{
    if (nitems > SIZE_MAX / 2 / sizeof *rb->tab ||
        mp__pool_map_grow(&rb->tab_mem, &rb->tab_bytes,
                          nitems * sizeof *rb->tab, 0) != 0) {
        return MP_ENOMEM;
    }
    rb->tab = (mp__item_hdr_t *)(void *)rb->tab_mem;
    for (uint64_t i = 0; i < done; i++) {
        rb->tab[i] = (mp__item_hdr_t){.rc = 0, .len = len};
    }
    return 0;
}

/* Runs every item of one task message and builds its reply, storing where
 * it is in *reply and *reply_len. The table of item codes and lengths is
 * written only once an item differs from the first (a uniform reply, the
 * common case, needs none: no memory touched for it). Returns 0 or
 * MP_ENOMEM (the worker then exits: the pool fails the task). */
static int
run_task(const mp__worker_ctx_t *w, const char *msg, size_t len,
         reply_buf_t *rb, fn_cache_t *fc, const void **reply, size_t *reply_len)
{
    mp__task_hdr_t th;
    memcpy(&th, msg, sizeof th);
    size_t data_at = mp__task_data_offset(th.ref_len);
    bool var = th.item_size == MP__ITEM_VAR;
    MP__ASSERT(var ? len >= data_at
                   : len == data_at + th.nitems * th.item_size);
    const char *items = msg + data_at;
    const char *end = msg + len;
    mp_pool_fn fn = NULL;
    int fn_err = resolve_task_fn(fc, msg + sizeof th, th.ref_len, &fn);
    /* From here on the task counts as started: should the worker die, the
     * pool fails it instead of giving it to another worker. */
    atomic_store(w->started, th.id);
    mp__reply_hdr_t rh = {.kind = MP__REPLY_DONE,
                          .slot = w->slot,
                          .gen = w->gen,
                          .id = th.id,
                          .nitems = th.nitems};
    rb->out.len = 0;
    /* Room for as many result bytes as the task has input bytes (x -> f(x)
     * maps mostly keep sizes), so that the buffer is not grown by
     * doubling, a copy of all it holds each time, while the items run. A
     * guess only: the buffer still grows as needed. */
    size_t guess = len - data_at;
    int err =
        out_reserve(&rb->out, sizeof rh + (guess < SIZE_MAX / 4 ? guess : 0));
    if (err == 0) {
        err = mp_pool_out_write(&rb->out, &rh, sizeof rh);
    }
    bool uniform = true;
    size_t first_len = 0; /* the first item's result length */
    for (uint64_t i = 0; err == 0 && i < th.nitems; i++) {
        mp__item_hdr_t ih;
        if (var) {
            /* The pool built the message: the lengths fit in it. */
            uint64_t ilen;
            MP__ASSERT((size_t)(end - items) >= 16);
            memcpy(&ilen, items, sizeof ilen);
            MP__ASSERT(ilen <= (uint64_t)(end - items) - 16);
            err = run_item(fn, fn_err, items + 16, (size_t)ilen, rb, &ih);
            items += mp__var_item_span((size_t)ilen);
        } else {
            err = run_item(fn, fn_err, items + i * th.item_size, th.item_size,
                           rb, &ih);
        }
        if (i == 0) {
            first_len = ih.len;
        }
        if (uniform && (ih.rc != 0 || ih.len != first_len)) {
            uniform = false;
            err = err != 0 ? err : tab_start(rb, th.nitems, i, first_len);
        }
        if (!uniform && err == 0) {
            rb->tab[i] = ih;
        }
    }
    if (err != 0) {
        return err;
    }
    if (uniform) {
        rh.uniform_len = first_len;
        memcpy(rb->out.buf, &rh, sizeof rh);
        *reply = rb->out.buf;
        *reply_len = rb->out.len;
        return 0;
    }
    rh.uniform_len = MP__ITEM_VAR;
    size_t tab_len = th.nitems * sizeof *rb->tab;
    size_t data_len = rb->out.len - sizeof rh;
    if (mp__pool_map_grow(&rb->joined, &rb->joined_cap,
                          sizeof rh + tab_len + data_len, 0) != 0) {
        return MP_ENOMEM;
    }
    memcpy(rb->joined, &rh, sizeof rh);
    memcpy(rb->joined + sizeof rh, rb->tab, tab_len);
    memcpy(rb->joined + sizeof rh + tab_len, rb->out.buf + sizeof rh, data_len);
    *reply = rb->joined;
    *reply_len = sizeof rh + tab_len + data_len;
    return 0;
}

/* Puts a header-only reply of kind with init_rc. Returns 0 or an error. */
static int
put_status(const mp__worker_ctx_t *w, uint32_t kind, int64_t init_rc)
{
    mp__reply_hdr_t rh = {
        .kind = kind, .slot = w->slot, .gen = w->gen, .init_rc = init_rc};
    return mp_queue_put(w->results, &rh, sizeof rh, MP_WAIT_FOREVER);
}

int
mp__pool_worker_main(void *arg)
{
    const mp__worker_ctx_t *w = arg;
    if (w->init_err != 0 || w->init != NULL) {
        int rc = w->init_err != 0 ? w->init_err : w->init(w->initarg);
        if (rc != 0) {
            (void)put_status(w, MP__REPLY_INITFAIL, rc);
            return 1;
        }
    }
    if (put_status(w, MP__REPLY_READY, 0) != 0) {
        return 1;
    }
    reply_buf_t rb = {0};
    fn_cache_t fc = {0};
    int code = 0;
    for (long done = 0; code == 0 && (w->maxtasks == 0 || done < w->maxtasks);
         done++) {
        /* A task is read where it lies in the inbox's memory, given back
         * once its reply is built: no copy of a chunk's items into a
         * buffer of the worker's first (issue 20). Should the worker die
         * holding it, the pool still has the task (its job). */
        void *in = NULL;
        ssize_t n = mp_queue_get_begin(w->inbox, &in, MP_WAIT_FOREVER);
        if (n < (ssize_t)sizeof(mp__task_hdr_t)) {
            if (n >= 0) {
                (void)mp_queue_get_release(w->inbox, in);
            }
            code = n < 0 ? 1 : 0;
            break;
        }
        uint32_t kind;
        memcpy(&kind, in, sizeof kind);
        if (kind == MP__TASK_STOP) {
            (void)mp_queue_get_release(w->inbox, in);
            break;
        }
        const void *reply;
        size_t reply_len;
        int err = run_task(w, in, (size_t)n, &rb, &fc, &reply, &reply_len);
        (void)mp_queue_get_release(w->inbox, in);
        if (err == 0) {
            err = mp_queue_put(w->results, reply, reply_len, MP_WAIT_FOREVER);
        }
        if (err != 0) {
            code = 1;
        }
    }
    mp__pool_big_free(rb.out.buf);
    mp__pool_big_free(rb.out.err);
    mp__pool_big_free(rb.tab_mem);
    mp__pool_big_free(rb.joined);
    mp__pool_big_free(fc.ref);
    return code;
}
