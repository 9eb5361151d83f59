/* SPDX-License-Identifier: MIT */
/* result.c - AsyncResult: the handle mp_pool_apply_async hands out, shared
 * by the caller and the pool's result handler through a reference count. */
#include "pool_internal.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "../platform/platform.h"

struct mp_result {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_int refs;
    bool done;
    int rc;
    void *data;
    size_t len;
    char *msg;
    char **item_msgs; /* map_async: each item's failure message, or NULL */
    size_t nitems;    /* entries of item_msgs */
    bool has_exit;
    int exitcode;
    mp_pool_callbacks_t cb; /* set before the result is shared */
    const void *view;       /* on_success's bytes when data is NULL */
    size_t view_len;
    mp_pool_t *pool;               /* an apply's without callbacks; else NULL */
    const mp__pool_taker_t *taker; /* with pool */
    atomic_int taker_fd; /* its taker's waker while it sleeps; else -1 */
};

void
mp__pool_cond_init(pthread_cond_t *cv)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(cv, &attr);
    pthread_condattr_destroy(&attr);
}

int
mp__pool_cond_wait(pthread_cond_t *cv, pthread_mutex_t *mu, int64_t deadline)
{
    if (deadline == MP__NO_DEADLINE) {
        pthread_cond_wait(cv, mu);
        return 0;
    }
    struct timespec ts = {.tv_sec = deadline / 1000000000,
                          .tv_nsec = deadline % 1000000000};
    int r = pthread_cond_timedwait(cv, mu, &ts);
    return r == ETIMEDOUT ? MP_ETIMEDOUT : 0;
}

/* mp__pool_cond_wait_spin's look: whether *seq moved from seen. */
struct seq_look {
    _Atomic uint32_t *seq;
    uint32_t seen;
};

static int
seq_moved(void *arg)
{
    const struct seq_look *l = arg;
    return atomic_load(l->seq) != l->seen;
}

int
mp__pool_cond_wait_spin(pthread_cond_t *cv, pthread_mutex_t *mu,
                        int64_t deadline, _Atomic uint32_t *seq,
                        int64_t spin_ns, mp__spin_learn_t *learn)
{
    struct seq_look look = {.seq = seq, .seen = atomic_load(seq)};
    pthread_mutex_unlock(mu);
    int w = mp__pool_watch(learn, spin_ns, deadline, seq_moved, &look, NULL);
    pthread_mutex_lock(mu);
    /* Bumped under mu before the broadcast: none is missed. */
    if (w == MP__WATCH_PAID || atomic_load(seq) != look.seen) {
        return 0;
    }
    return mp__pool_cond_wait(cv, mu, deadline);
}

mp_result_t *
mp__result_new(void)
{
    mp_result_t *r = mp__calloc(1, sizeof *r);
    if (r == NULL) {
        return NULL;
    }
    pthread_mutex_init(&r->mu, NULL);
    mp__pool_cond_init(&r->cv);
    atomic_init(&r->refs, 2);
    atomic_init(&r->taker_fd, -1);
    return r;
}

void
mp__result_set_callbacks(mp_result_t *r, const mp_pool_callbacks_t *cb,
                         const void *view, size_t view_len)
{
    if (cb != NULL) {
        r->cb = *cb;
    }
    r->view = view;
    r->view_len = view_len;
}

void
mp__result_set_pool(mp_result_t *r, mp_pool_t *pool,
                    const mp__pool_taker_t *taker)
{
    r->pool = pool;
    r->taker = taker;
}

bool
mp__result_takeable(const mp_result_t *r)
{
    return r->pool != NULL;
}

bool
mp__result_taker_sleep(mp_result_t *r, int fd)
{
    atomic_store(&r->taker_fd, fd);
    if (fd < 0) {
        return false;
    }
    /* Stored before done is read under mu: a completer that sets done
     * after this sees the fd (it reads it after its unlock). */
    return mp__result_done(r);
}

bool
mp__result_done(mp_result_t *r)
{
    pthread_mutex_lock(&r->mu);
    bool done = r->done;
    pthread_mutex_unlock(&r->mu);
    return done;
}

void
mp__result_set_item_messages(mp_result_t *r, char **errors, size_t n)
{
    /* Not done yet: only mp_result_item_error reads these, once done. */
    pthread_mutex_lock(&r->mu);
    r->item_msgs = errors;
    r->nitems = errors != NULL ? n : 0;
    pthread_mutex_unlock(&r->mu);
}

void
mp__result_complete(mp_result_t *r, int rc, void *data, size_t len,
                    const char *msg, bool has_exit, int exitcode,
                    _Atomic uint64_t *cb_errors)
{
    char *copy = msg != NULL ? mp__strdup(msg) : NULL;
    /* Python runs the callback before the result is ready: once get
     * returns, the callback has run. Nothing else writes r yet (it is not
     * done), so the fields are read without r->mu. */
    int cb_rc = 0;
    if (rc == 0 && r->cb.on_success != NULL) {
        cb_rc = data != NULL
                    ? r->cb.on_success(data, len, r->cb.arg)
                    : r->cb.on_success(r->view, r->view_len, r->cb.arg);
    } else if (rc != 0 && r->cb.on_error != NULL) {
        cb_rc = r->cb.on_error(rc, copy != NULL ? copy : mp_strerror(rc),
                               r->cb.arg);
    }
    if (cb_rc != 0 && cb_errors != NULL) {
        atomic_fetch_add(cb_errors, 1);
    }
    pthread_mutex_lock(&r->mu);
    MP__ASSERT(!r->done);
    r->rc = rc;
    r->data = data;
    r->len = len;
    r->msg = copy;
    r->has_exit = has_exit;
    r->exitcode = exitcode;
    r->done = true;
    pthread_mutex_unlock(&r->mu);
    /* After the unlock, so that a waiter it wakes does not find mu still
     * held and sleep again. r lives on: whoever completes it (its job, or
     * the map batch that holds it) keeps a reference until after this
     * returns. */
    pthread_cond_broadcast(&r->cv);
    /* A waiter taking the pool's replies sleeps on its waker, not on cv.
     * The waker stays open while it takes (the pool waits for it). */
    int fd = atomic_load(&r->taker_fd);
    if (fd >= 0) {
        mp__plat_waker_signal(fd);
    }
}

void
mp__result_unref(mp_result_t *r)
{
    if (atomic_fetch_sub(&r->refs, 1) != 1) {
        return;
    }
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    mp__free(r->data);
    mp__free(r->msg);
    for (size_t i = 0; r->item_msgs != NULL && i < r->nitems; i++) {
        mp__free(r->item_msgs[i]);
    }
    mp__free(r->item_msgs);
    mp__free(r);
}

/* While r is not done, lets its waiter take the pool's replies itself
 * (mp__pool_taker) where the pool allows it; r->mu not held. r->mu is
 * taken before the pool's mu: while r is not done its pool is alive. */
static void
waiter_takes_replies(mp_result_t *r, int64_t deadline)
{
    if (r->pool == NULL) {
        return;
    }
    pthread_mutex_lock(&r->mu);
    bool take = !r->done && r->taker->begin(r->pool);
    pthread_mutex_unlock(&r->mu);
    if (take) {
        r->taker->own(r->pool, r, deadline);
    }
}

/* Waits until r is done or the deadline passes; r->mu held. Returns 0 or
 * MP_ETIMEDOUT. */
static int
wait_done_locked(mp_result_t *r, int64_t deadline)
{
    while (!r->done) {
        if (mp__pool_cond_wait(&r->cv, &r->mu, deadline) != 0 && !r->done) {
            return MP_ETIMEDOUT;
        }
    }
    return 0;
}

ssize_t
mp_result_get(mp_result_t *r, void **out, mp_duration_t timeout)
{
    int64_t deadline;
    if (r == NULL) {
        return MP_EINVAL;
    }
    int err = mp__deadline(timeout, &deadline);
    if (err != 0) {
        return err;
    }
    waiter_takes_replies(r, deadline);
    pthread_mutex_lock(&r->mu);
    err = wait_done_locked(r, deadline);
    if (err == 0) {
        err = r->rc;
    }
    if (err == 0 && out != NULL) {
        /* Every get hands out its own copy: the result stays gettable. */
        *out = mp__pool_dup_bytes(r->data, r->len);
        err = *out == NULL ? MP_ENOMEM : 0;
    }
    /* A result's length fits: it was allocated. */
    ssize_t len = err == 0 ? (ssize_t)r->len : err;
    pthread_mutex_unlock(&r->mu);
    return len;
}

int
mp_result_wait(mp_result_t *r, mp_duration_t timeout)
{
    int64_t deadline;
    if (r == NULL) {
        return MP_EINVAL;
    }
    int err = mp__deadline(timeout, &deadline);
    if (err != 0) {
        return err;
    }
    waiter_takes_replies(r, deadline);
    pthread_mutex_lock(&r->mu);
    err = wait_done_locked(r, deadline);
    pthread_mutex_unlock(&r->mu);
    return err;
}

bool
mp_result_ready(mp_result_t *r)
{
    if (r == NULL) {
        return false;
    }
    /* Its reply may wait in the result queue for whoever asks (a handler
     * left blind by a taker, mp__pool_taker): take it now. */
    waiter_takes_replies(r, mp__now_ns());
    pthread_mutex_lock(&r->mu);
    bool done = r->done;
    pthread_mutex_unlock(&r->mu);
    return done;
}

int
mp_result_successful(mp_result_t *r, bool *successful)
{
    if (r == NULL || successful == NULL) {
        return MP_EINVAL;
    }
    waiter_takes_replies(r, mp__now_ns()); /* as mp_result_ready does */
    pthread_mutex_lock(&r->mu);
    int ret = r->done ? 0 : MP_ERUNNING;
    if (ret == 0) {
        *successful = r->rc == 0;
    }
    pthread_mutex_unlock(&r->mu);
    return ret;
}

const char *
mp_result_error_message(mp_result_t *r)
{
    if (r == NULL) {
        return NULL;
    }
    pthread_mutex_lock(&r->mu);
    /* msg is written once, before done, and never changes after. */
    const char *msg = r->done && r->rc != 0 ? r->msg : NULL;
    pthread_mutex_unlock(&r->mu);
    return msg;
}

const char *
mp_result_item_error(mp_result_t *r, size_t idx)
{
    if (r == NULL) {
        return NULL;
    }
    pthread_mutex_lock(&r->mu);
    /* Written once, before done, and never changed after. */
    const char *msg = r->done && idx < r->nitems ? r->item_msgs[idx] : NULL;
    pthread_mutex_unlock(&r->mu);
    return msg;
}

int
mp_result_exitcode(mp_result_t *r, int *code)
{
    if (r == NULL || code == NULL) {
        return MP_EINVAL;
    }
    pthread_mutex_lock(&r->mu);
    int ret = !r->done ? MP_ERUNNING : !r->has_exit ? MP_ENOENT : 0;
    if (ret == 0) {
        *code = r->exitcode;
    }
    pthread_mutex_unlock(&r->mu);
    return ret;
}

void
mp_result_destroy(mp_result_t *r)
{
    if (r != NULL) {
        mp__result_unref(r);
    }
}
