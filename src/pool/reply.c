/* SPDX-License-Identifier: MIT */
/* reply.c - how a job ends: decoding a worker's DONE reply (uniform
 * results packed, or a table of item headers; see pool_internal.h),
 * completing the job's result handle or storing its items in their batch
 * (batch.c) under one lock, and failing a job's items with a code and a
 * message (a dead worker, a timeout, a terminated or broken pool). Items
 * a malformed reply lacks fail with MP_EPROTO; nothing a worker sends is
 * trusted. Every function here frees the job it settles. Context: the
 * handler thread, or a caller's thread for a job never queued; no pool
 * lock held. */
#include "pool_state.h"

#include <string.h>

/* Completes the result handle of an apply job j with outcome o. */
static void
deliver_result(mp__job_t *j, const mp__outcome_t *o)
{
    void *data = o->rc == 0 ? mp__pool_dup_bytes(o->data, o->len) : NULL;
    if (o->rc == 0 && data == NULL) {
        mp__pool_count_item(j->pool, MP_ENOMEM);
        mp__result_complete(j->res, MP_ENOMEM, NULL, 0, "out of memory", false,
                            0, mp__pool_cb_counter(j->pool));
    } else {
        mp__pool_count_item(j->pool, o->rc);
        mp__result_complete(j->res, o->rc, data, o->len, o->msg, o->has_exit,
                            o->exitcode, mp__pool_cb_counter(j->pool));
    }
}

/* Fails items from..count-1 of job j with err and msg (exitcode when
 * has_exit), then frees it. */
static void
job_fail_from(mp__job_t *j, size_t from, int err, const char *msg,
              bool has_exit, int exitcode)
{
    mp__outcome_t o = {
        .rc = err, .msg = msg, .has_exit = has_exit, .exitcode = exitcode};
    if (j->sink != NULL) {
        j->sink->fail(j->sink_arg, err, msg, has_exit, exitcode);
    } else if (j->res != NULL && from == 0) {
        deliver_result(j, &o);
    } else if (j->batch != NULL && from < j->count) {
        mp__tally_t t = {0};
        mp__batch_lock(j->batch);
        for (size_t i = from; i < j->count; i++) {
            mp__batch_store_locked(j->batch, j->start + i, &o, &t);
        }
        mp__batch_unlock(j->batch, j->pool, &t);
    }
    mp__pool_job_free(j);
}

/* Fails every item of job j, then frees it. */
void
mp__pool_job_fail(mp__job_t *j, int err, const char *msg, bool has_exit,
                  int exitcode)
{
    job_fail_from(j, 0, err, msg, has_exit, exitcode);
}

/* Reads the items of a DONE reply, in order (see pool_internal.h). */
typedef struct reply_reader {
    const char *tab; /* the items' table; NULL: uniform */
    const char *data, *end;
    uint64_t uniform_len;
    size_t next; /* the item read next */
} reply_reader_t;

/* Starts reading the items of reply rh (p .. end after the header) for a
 * job of count items. Returns false when the reply does not fit them. */
static bool
reply_reader_init(reply_reader_t *r, const mp__reply_hdr_t *rh, const char *p,
                  const char *end, size_t count)
{
    size_t avail = (size_t)(end - p);
    *r =
        (reply_reader_t){.data = p, .end = end, .uniform_len = rh->uniform_len};
    if (rh->nitems != count) {
        return false;
    }
    if (rh->uniform_len != MP__ITEM_VAR) {
        return rh->uniform_len == 0 ? avail == 0
                                    : count == avail / rh->uniform_len &&
                                          avail % rh->uniform_len == 0;
    }
    if (count > avail / sizeof(mp__item_hdr_t)) {
        return false;
    }
    r->tab = p;
    r->data = p + count * sizeof(mp__item_hdr_t);
    return true;
}

/* Reads the next item's outcome into *o (an error text goes to msg, of
 * msg_len bytes). Returns false when the reply is malformed. */
static bool
reply_next(reply_reader_t *r, mp__outcome_t *o, char *msg, size_t msg_len)
{
    if (r->tab == NULL) {
        *o = (mp__outcome_t){.data = r->data + r->next * r->uniform_len,
                             .len = (size_t)r->uniform_len};
        r->next++;
        return true;
    }
    mp__item_hdr_t ih;
    memcpy(&ih, r->tab + r->next * sizeof ih, sizeof ih);
    r->next++;
    if ((size_t)(r->end - r->data) < ih.len) {
        return false;
    }
    *o = (mp__outcome_t){.data = r->data, .len = ih.len};
    if (ih.rc != 0) {
        /* The worker sent the text with its NUL; trust nothing. */
        size_t n = ih.len < msg_len ? ih.len : msg_len - 1;
        memcpy(msg, r->data, n);
        msg[n] = '\0';
        /* A transport's worker may give the item's library code
         * (remote.h); a negative one only, so that it reads as failed. */
        bool code = (ih.pad & MP__ITEM_CODE) && ih.rc < 0;
        *o = (mp__outcome_t){.rc = code ? ih.rc : MP_EREMOTE,
                             .msg = msg,
                             .has_exit = code && (ih.pad & MP__ITEM_EXIT),
                             .exitcode = code ? MP__ITEM_EXIT_CODE(ih.pad) : 0};
    }
    r->data += ih.len;
    return true;
}

/* Completes job j from a DONE reply rh (its items at p .. end), then
 * frees it. Items a malformed reply lacks fail with MP_EPROTO. A map's
 * items are stored under one lock of their batch. */
void
mp__pool_job_complete(mp__job_t *j, const mp__reply_hdr_t *rh, const char *p,
                      const char *end)
{
    if (j->sink != NULL) {
        /* A forwarded task: the reply goes on as it came. */
        j->sink->done(j->sink_arg, rh, p, end);
        mp__pool_job_free(j);
        return;
    }
    reply_reader_t r;
    bool ok = reply_reader_init(&r, rh, p, end, j->count);
    char msg[1024];
    size_t i = 0;
    mp__outcome_t o;
    if (j->res != NULL) {
        if (ok && reply_next(&r, &o, msg, sizeof msg)) {
            deliver_result(j, &o);
            i = 1;
        }
    } else if (ok) {
        mp__tally_t t = {0};
        mp__batch_lock(j->batch);
        if (r.tab == NULL) {
            mp__batch_store_run_locked(j->batch, j->start, j->count, r.data,
                                       (size_t)r.uniform_len, &t);
            i = j->count;
        }
        for (; i < j->count && reply_next(&r, &o, msg, sizeof msg); i++) {
            mp__batch_store_locked(j->batch, j->start + i, &o, &t);
        }
        mp__batch_unlock(j->batch, j->pool, &t);
    }
    job_fail_from(j, i, MP_EPROTO, "malformed reply from a worker", false, 0);
}
