/* SPDX-License-Identifier: MIT */
/* rank.c - a worker rank: the handshake's answer, then the loop that
 * serves the parent's pools until SHUTDOWN.
 *
 * For each of the parent's pools (OPEN) the rank makes a local pool of
 * forked children (mp_pool_create), whose initializer first puts back the
 * default action of the fatal signals MPI catches (so that a crashing
 * child dies of its signal instead of printing MPI's backtrace) and then
 * runs the user's. A no-op task tells when the local pool is ready (READY)
 * or broken by its initializer (INITFAIL). Each task message (a chunk of
 * one or more items) becomes one mp_pool_imap over the local pool (one
 * local task; a message whose items have their own lengths becomes an
 * mp_pool_imap_source); the loop collects its items without blocking and,
 * once all are in, sends the DONE reply. An item that failed for a reason
 * of the rank (its child killed or crashed, the timeout, a broken local
 * pool) carries its library code (MP__ITEM_CODE) and a message naming the
 * rank and host. STOP closes the local pool and KILL terminates it; both
 * end with ENDED. All MPI calls are made by this one thread; idle, it
 * waits with the back-off of wire.c. */
#include "mpi_internal.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The user's initializer and its argument's copy, for the children. */
typedef struct init_wrap {
    const mp__remote_bridge_t *br;
    mp_pool_init_fn fn;
    void *arg;
    mp_value_t *rc; /* shared: what a failed initializer returned */
} init_wrap_t;

/* One task message in the local pool. */
typedef struct rtask {
    struct rtask *next;
    uint64_t id;
    size_t nitems, got;
    mp_imap_t *it;
    void *msg; /* the task message: the items' input */
    mp__item_hdr_t *tab;
    void **data;
    /* A var-item task's reading position, for its source. */
    const char *src_at, *src_end;
} rtask_t;

/* One of the parent's pools, as this rank runs it. */
typedef struct lpool {
    struct lpool *next;
    uint32_t id, slot;
    uint64_t gen;
    mp_pool_t *pool;
    init_wrap_t wrap;
    mp_result_t *probe;
    bool stopping;
    rtask_t *tasks;
} lpool_t;

typedef struct rank {
    const mp__remote_bridge_t *br;
    mp__mpi_wire_t wire;
    int me;
    char host[MPI_MAX_PROCESSOR_NAME + 1];
    lpool_t *pools;
    bool shutdown;
} rank_t;

/* A local pool's child starts here. */
static int
child_init(void *arg)
{
    init_wrap_t *w = arg;
    static const int fatal[] = {SIGSEGV, SIGBUS, SIGFPE, SIGABRT, SIGILL};
    for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++) {
        w->br->signal_set(fatal[i], SIG_DFL);
    }
    int rc = w->fn != NULL ? w->fn(w->arg) : 0;
    if (rc != 0) {
        long long v = rc;
        (void)mp_value_set(w->rc, &v);
    }
    return rc;
}

/* The readiness probe's task. */
static int
probe_task(const void *in, size_t in_len, mp_pool_out_t *out)
{
    (void)in;
    (void)in_len;
    (void)out;
    return 0;
}

/* Sends or aborts: the parent waits for every message. */
static void
must_send(rank_t *rk, const mp__mpi_hdr_t *h, const void *a, size_t alen,
          const void *b, size_t blen)
{
    if (mp__mpi_wire_send2(&rk->wire, 0, h, a, alen, b, blen) != 0) {
        mp__mpi_abort(rk->wire.comm, "out of memory sending a message");
    }
}

/* Sends lp's slot a reply of kind (READY, INITFAIL) with init_rc. */
static void
send_status(rank_t *rk, const lpool_t *lp, uint32_t kind, int64_t init_rc)
{
    mp__mpi_hdr_t h = {.kind = MP__MPI_REPLY,
                       .pool = lp->id,
                       .slot = lp->slot,
                       .gen = lp->gen};
    mp__reply_hdr_t rh = {
        .kind = kind, .slot = lp->slot, .gen = lp->gen, .init_rc = init_rc};
    must_send(rk, &h, &rh, sizeof rh, NULL, 0);
}

static void
send_ended(rank_t *rk, const lpool_t *lp, int code)
{
    mp__mpi_hdr_t h = {.kind = MP__MPI_ENDED,
                       .pool = lp->id,
                       .slot = lp->slot,
                       .gen = lp->gen,
                       .arg = code};
    must_send(rk, &h, NULL, 0, NULL, 0);
}

static void
rtask_free(rtask_t *t)
{
    if (t->it != NULL) {
        mp_imap_destroy(t->it);
    }
    for (size_t i = 0; t->data != NULL && i < t->nitems; i++) {
        /* A failure's text is this file's, a result imap's. */
        if (t->tab[i].pad & MP__ITEM_CODE) {
            free(t->data[i]);
        } else {
            mp_free(t->data[i]);
        }
    }
    free(t->data);
    free(t->tab);
    free(t->msg);
    free(t);
}

/* Frees lp: terminates its local pool first unless it was joined. */
static void
lpool_free(lpool_t *lp)
{
    while (lp->tasks != NULL) {
        rtask_t *t = lp->tasks;
        lp->tasks = t->next;
        rtask_free(t);
    }
    mp_result_destroy(lp->probe);
    mp_pool_destroy(lp->pool);
    mp_value_destroy(lp->wrap.rc);
    free(lp->wrap.arg);
    free(lp);
}

/* What lp's initializer returned where it failed (-1: it did not, the
 * children died before it could tell). */
static int64_t
init_failure(lpool_t *lp)
{
    long long v = 0;
    (void)mp_value_get(lp->wrap.rc, &v);
    return v != 0 ? v : -1;
}

/* Starts the parent's pool described by an OPEN. */
static void
open_pool(rank_t *rk, const mp__mpi_hdr_t *h, const char *p, size_t len)
{
    lpool_t *lp = calloc(1, sizeof *lp);
    mp__mpi_open_t op;
    if (lp == NULL || len < sizeof op) {
        mp__mpi_abort(rk->wire.comm, "cannot take a pool's OPEN");
    }
    memcpy(&op, p, sizeof op);
    lp->id = h->pool;
    lp->slot = h->slot;
    lp->gen = h->gen;
    lp->wrap.br = rk->br;
    size_t flen = op.init_fname_len == UINT32_MAX ? 0 : op.init_fname_len;
    if (flen > len - sizeof op || op.initarg_len > len - sizeof op - flen) {
        mp__mpi_abort(rk->wire.comm, "a malformed OPEN");
    }
    bool init_found = true;
    if (op.init_fname_len != UINT32_MAX) {
        lp->wrap.fn = (mp_pool_init_fn)(uintptr_t)rk->br->resolve_fn(
            p + sizeof op, flen, op.init_offset);
        init_found = lp->wrap.fn != NULL;
    }
    if (op.initarg_len > 0) {
        lp->wrap.arg = malloc(op.initarg_len);
        if (lp->wrap.arg == NULL) {
            mp__mpi_abort(rk->wire.comm, "out of memory opening a pool");
        }
        memcpy(lp->wrap.arg, p + sizeof op + flen, op.initarg_len);
    }
    lp->next = rk->pools;
    rk->pools = lp;
    if (!init_found) {
        fprintf(stderr,
                "multiproc: MPI: rank %d on %s: the pool's initializer is in "
                "no module loaded here\n",
                rk->me, rk->host);
        send_status(rk, lp, MP__REPLY_INITFAIL, -1);
        return;
    }
    mp_pool_opts_t po = MP_POOL_OPTS_INIT;
    po.processes = (int)op.processes;
    po.initializer = child_init;
    po.initarg = &lp->wrap;
    po.maxtasksperchild = op.maxtasks;
    po.task_timeout = op.task_timeout;
    int err = mp_raw_value_create(&lp->wrap.rc, MP_TYPE_LLONG, NULL);
    if (err == 0) {
        err = mp_pool_create(&lp->pool, &po);
    }
    if (err == 0 &&
        mp_pool_apply_async(lp->pool, probe_task, NULL, 0, &lp->probe) != 0) {
        /* Broken already (its initializer failed at once). */
        lp->probe = NULL;
        send_status(rk, lp, MP__REPLY_INITFAIL, init_failure(lp));
        return;
    }
    if (err != 0) {
        /* The parent counts it as a worker that died at start. */
        rk->pools = lp->next;
        send_ended(rk, lp, err);
        lpool_free(lp);
    }
}

static lpool_t *
find_pool(rank_t *rk, const mp__mpi_hdr_t *h)
{
    for (lpool_t *lp = rk->pools; lp != NULL; lp = lp->next) {
        if (lp->id == h->pool && lp->slot == h->slot && lp->gen == h->gen) {
            return lp;
        }
    }
    return NULL;
}

/* imap_source's source over a var-item task's items. */
static int
var_source(void *arg, const void **item, size_t *len)
{
    rtask_t *t = arg;
    if ((size_t)(t->src_end - t->src_at) < 16) {
        return 0;
    }
    uint64_t n;
    memcpy(&n, t->src_at, sizeof n);
    size_t room = (size_t)(t->src_end - t->src_at) - 16;
    if (n > room) {
        return MP_EPROTO;
    }
    *item = t->src_at + 16;
    *len = (size_t)n;
    t->src_at += mp__var_item_span((size_t)n);
    if (t->src_at > t->src_end) {
        t->src_at = t->src_end;
    }
    return 1;
}

/* Records item i of t as failed with code and text (copied; the rank's
 * place is added unless the task itself failed). */
static void
fail_item(rank_t *rk, rtask_t *t, size_t i, int code, const char *text)
{
    char buf[MP__POOL_MSG_MAX];
    if (code == MP_EREMOTE) {
        snprintf(buf, sizeof buf, "%s", text);
    } else {
        snprintf(buf, sizeof buf, "%s (rank %d on %s)", text, rk->me, rk->host);
    }
    size_t n = strlen(buf) + 1;
    char *m = malloc(n);
    if (m != NULL) {
        memcpy(m, buf, n);
    }
    t->data[i] = m;
    t->tab[i] = (mp__item_hdr_t){
        .rc = code, .pad = MP__ITEM_CODE, .len = m != NULL ? n : 0};
}

/* Starts a task message of lp in its local pool; takes msg. */
static void
start_task(rank_t *rk, lpool_t *lp, void *msg, size_t len)
{
    mp__task_hdr_t th;
    memcpy(&th, msg, sizeof th);
    rtask_t *t = calloc(1, sizeof *t);
    size_t at = mp__task_data_offset(th.fname_len);
    if (t == NULL || th.nitems == 0 || th.nitems > len || at > len) {
        mp__mpi_abort(rk->wire.comm, "cannot take a task");
    }
    t->id = th.id;
    t->nitems = (size_t)th.nitems;
    t->msg = msg;
    t->tab = calloc(t->nitems, sizeof *t->tab);
    t->data = calloc(t->nitems, sizeof *t->data);
    if (t->tab == NULL || t->data == NULL) {
        mp__mpi_abort(rk->wire.comm, "out of memory taking a task");
    }
    t->next = lp->tasks;
    lp->tasks = t;
    const char *data = (const char *)msg + at;
    mp_pool_fn fn = rk->br->resolve_fn((const char *)msg + sizeof th,
                                       th.fname_len, th.offset);
    int err = MP_ENOENT;
    if (fn != NULL && th.item_size == MP__ITEM_VAR) {
        t->src_at = data;
        t->src_end = (const char *)msg + len;
        err = mp_pool_imap_source(lp->pool, fn, var_source, t, t->nitems, true,
                                  &t->it);
    } else if (fn != NULL && th.item_size * th.nitems <= len - at) {
        err = mp_pool_imap(lp->pool, fn, data, (size_t)th.item_size, t->nitems,
                           (long)t->nitems, &t->it);
    }
    if (err != 0) {
        char why[256];
        snprintf(why, sizeof why, "%s",
                 fn == NULL ? "the task's function is in no module loaded "
                              "on this rank"
                            : mp_strerror(err));
        for (size_t i = 0; i < t->nitems; i++) {
            fail_item(rk, t, i, fn == NULL ? MP_ENOENT : err, why);
        }
        t->got = t->nitems;
    }
}

/* Sends t's DONE reply. */
static void
send_done(rank_t *rk, const lpool_t *lp, const rtask_t *t)
{
    size_t total = 0;
    for (size_t i = 0; i < t->nitems; i++) {
        total += t->tab[i].len;
    }
    mp__reply_hdr_t rh = {.kind = MP__REPLY_DONE,
                          .slot = lp->slot,
                          .gen = lp->gen,
                          .id = t->id,
                          .nitems = t->nitems,
                          .uniform_len = MP__ITEM_VAR};
    size_t tab = t->nitems * sizeof *t->tab;
    size_t n = sizeof rh + tab + total;
    char *buf = malloc(n);
    if (buf == NULL) {
        mp__mpi_abort(rk->wire.comm, "out of memory building a reply");
    }
    memcpy(buf, &rh, sizeof rh);
    memcpy(buf + sizeof rh, t->tab, tab);
    char *at = buf + sizeof rh + tab;
    for (size_t i = 0; i < t->nitems; i++) {
        if (t->tab[i].len > 0) {
            memcpy(at, t->data[i], t->tab[i].len);
            at += t->tab[i].len;
        }
    }
    mp__mpi_hdr_t h = {.kind = MP__MPI_REPLY,
                       .pool = lp->id,
                       .slot = lp->slot,
                       .gen = lp->gen};
    must_send(rk, &h, buf, n, NULL, 0);
    free(buf);
}

/* Collects what t's items have finished, waiting up to timeout for the
 * first; returns whether all have. */
static bool
collect(rank_t *rk, rtask_t *t, mp_duration_t timeout)
{
    while (t->got < t->nitems) {
        void *out = NULL;
        size_t idx = SIZE_MAX;
        ssize_t got = mp_imap_next(t->it, &out, &idx, timeout);
        timeout = MP_NO_WAIT;
        int rc = got < 0 ? (int)got : 0;
        /* MP_ETIMEDOUT is also an item's code (the task timeout): that one
         * comes with its index and message. */
        if (rc == MP_ETIMEDOUT && out == NULL && idx == SIZE_MAX) {
            return false;
        }
        size_t i = t->got++;
        if (rc == 0) {
            t->data[i] = out;
            t->tab[i] = (mp__item_hdr_t){.len = (uint64_t)got};
        } else {
            fail_item(rk, t, i, rc == MP_EOF ? MP_EPROTO : rc,
                      out != NULL ? (const char *)out : mp_strerror(rc));
            mp_free(out);
        }
    }
    return true;
}

/* Moves lp on: the probe, finished tasks, a stop. Returns whether
 * anything happened; frees lp (and returns true) once it ended. */
static bool
serve_pool(rank_t *rk, lpool_t *lp, bool *freed)
{
    bool busy = false;
    *freed = false;
    if (lp->probe != NULL && mp_result_ready(lp->probe)) {
        /* A length (>= 0) when the probe succeeded. */
        bool failed = mp_result_get(lp->probe, NULL, MP_NO_WAIT) < 0;
        send_status(rk, lp, failed ? MP__REPLY_INITFAIL : MP__REPLY_READY,
                    failed ? init_failure(lp) : 0);
        mp_result_destroy(lp->probe);
        lp->probe = NULL;
        busy = true;
    }
    for (rtask_t **pp = &lp->tasks; *pp != NULL;) {
        rtask_t *t = *pp;
        if (collect(rk, t, MP_NO_WAIT)) {
            send_done(rk, lp, t);
            *pp = t->next;
            rtask_free(t);
            busy = true;
        } else {
            pp = &t->next;
        }
    }
    if (lp->stopping && lp->tasks == NULL &&
        (lp->pool == NULL || mp_pool_join(lp->pool, MP_NO_WAIT) == 0)) {
        send_ended(rk, lp, 0);
        *freed = true;
        return true;
    }
    return busy;
}

/* Handles one message from the parent; takes p. */
static void
handle(rank_t *rk, const mp__mpi_hdr_t *h, void *p, size_t len)
{
    lpool_t *lp = h->kind == MP__MPI_TASK || h->kind == MP__MPI_KILL
                      ? find_pool(rk, h)
                      : NULL;
    if (h->kind == MP__MPI_PING) {
        mp__mpi_hdr_t pong = {.kind = MP__MPI_PONG};
        must_send(rk, &pong, NULL, 0, NULL, 0);
    } else if (h->kind == MP__MPI_OPEN) {
        open_pool(rk, h, p, len);
    } else if (h->kind == MP__MPI_TASK && lp != NULL &&
               len >= sizeof(mp__task_hdr_t)) {
        mp__task_hdr_t th;
        memcpy(&th, p, sizeof th);
        if (th.kind == MP__TASK_STOP) {
            lp->stopping = true;
            if (lp->pool != NULL) {
                (void)mp_pool_close(lp->pool);
            }
        } else if (lp->pool != NULL) {
            start_task(rk, lp, p, len);
            p = NULL;
        }
    } else if (h->kind == MP__MPI_KILL && lp != NULL) {
        for (lpool_t **pp = &rk->pools; *pp != NULL; pp = &(*pp)->next) {
            if (*pp == lp) {
                *pp = lp->next;
                break;
            }
        }
        send_ended(rk, lp, -SIGKILL);
        lpool_free(lp);
    } else if (h->kind == MP__MPI_SHUTDOWN) {
        rk->shutdown = true;
    }
    free(p);
}

/* Returns a task still running (the last one of the first pool that has
 * one: tasks are listed newest first), or NULL. */
static rtask_t *
oldest_task(rank_t *rk)
{
    for (lpool_t *lp = rk->pools; lp != NULL; lp = lp->next) {
        rtask_t *t = lp->tasks;
        while (t != NULL && t->next != NULL) {
            t = t->next;
        }
        if (t != NULL && t->got < t->nitems) {
            return t;
        }
    }
    return NULL;
}

/* Answers the parent's hello. Returns whether this rank accepted it. */
static bool
answer_hello(rank_t *rk, const void *caller)
{
    mp__mpi_idle_t idle;
    mp__mpi_idle_busy(&idle, rk->br);
    for (;;) {
        mp__mpi_hdr_t h;
        void *p;
        size_t len;
        if (mp__mpi_wire_poll(&rk->wire, 0, &h, &p, &len) < 0) {
            mp__mpi_idle_wait(&idle, rk->br);
            continue;
        }
        if (h.kind != MP__MPI_HELLO) {
            free(p);
            continue;
        }
        mp__mpi_hello_t mine, theirs = {0};
        mp__mpi_hello_fill(&mine, caller, rk->br);
        memcpy(&theirs, p, len < sizeof theirs ? len : sizeof theirs);
        free(p);
        mp__mpi_ack_t ack = {.pid = (int32_t)getpid()};
        snprintf(ack.host, sizeof ack.host, "%.*s", (int)sizeof ack.host - 1,
                 rk->host);
        ack.ok = len == sizeof theirs &&
                 mp__mpi_hello_check(&mine, &theirs, ack.why, sizeof ack.why);
        if (len != sizeof theirs) {
            snprintf(ack.why, sizeof ack.why, "a hello of another size");
        }
        mp__mpi_hdr_t ah = {.kind = MP__MPI_ACK};
        must_send(rk, &ah, &ack, sizeof ack, NULL, 0);
        return ack.ok;
    }
}

int
mp__mpi_rank_main(MPI_Comm comm, const mp__remote_bridge_t *br,
                  const void *caller)
{
    rank_t rk = {.br = br};
    mp__mpi_wire_init(&rk.wire, comm, br);
    MPI_Comm_rank(comm, &rk.me);
    int hl = 0;
    MPI_Get_processor_name(rk.host, &hl);
    rk.host[hl > 0 && hl <= MPI_MAX_PROCESSOR_NAME ? hl : 0] = '\0';
    bool accepted = answer_hello(&rk, caller);
    mp__mpi_idle_t idle;
    mp__mpi_idle_busy(&idle, br);
    while (!rk.shutdown) {
        bool busy = false;
        for (;;) {
            mp__mpi_hdr_t h;
            void *p;
            size_t len;
            if (mp__mpi_wire_poll(&rk.wire, 0, &h, &p, &len) < 0) {
                break;
            }
            busy = true;
            if (accepted || h.kind == MP__MPI_SHUTDOWN ||
                h.kind == MP__MPI_PING) {
                handle(&rk, &h, p, len);
            } else {
                free(p);
            }
        }
        for (lpool_t **pp = &rk.pools; *pp != NULL;) {
            lpool_t *lp = *pp;
            bool freed;
            busy |= serve_pool(&rk, lp, &freed);
            if (freed) {
                *pp = lp->next;
                lpool_free(lp);
            } else {
                pp = &lp->next;
            }
        }
        (void)mp__mpi_wire_progress(&rk.wire);
        /* With tasks running, wait for the oldest one's result (woken at
         * once) rather than nap; without, the parent's next task is
         * probably near after an answer: spin longer. */
        rtask_t *oldest = oldest_task(&rk);
        if (busy) {
            mp__mpi_idle_busy(&idle, br);
        } else if (!mp__mpi_idle_spin(&idle, br,
                                      oldest != NULL ? MP__MPI_SPIN_NS
                                                     : MP__MPI_SPIN_LONG_NS)) {
            if (oldest != NULL) {
                (void)collect(&rk, oldest, MP__MPI_WAIT_MS);
            } else {
                mp__mpi_idle_nap(&idle, br);
            }
        }
    }
    while (rk.pools != NULL) {
        lpool_t *lp = rk.pools;
        rk.pools = lp->next;
        lpool_free(lp);
    }
    mp__mpi_hdr_t bye = {.kind = MP__MPI_BYE};
    must_send(&rk, &bye, NULL, 0, NULL, 0);
    mp__mpi_wire_flush(&rk.wire);
    return accepted ? 0 : MP_EPROTO;
}
