/* SPDX-License-Identifier: MIT */
/* worker_boot.c - how a pool starts its workers under each start method:
 * what the pool makes differently per method (its queues, its started
 * slots, the initializer's argument), starting one worker, and the boot
 * record and entry of a worker that is not a fork of the pool (spawn,
 * forkserver).
 *
 * A forked worker gets its mp__worker_ctx_t as a pointer (its memory is a
 * copy of the pool's). A spawn or forkserver worker shares no memory with
 * the pool, so everything it needs is named: the pool's queues are named
 * queues (private ones only forks inherit), the started slots a named
 * segment, the initializer a function reference (fnref.h: build-id and
 * offset, checked before the call) and its argument bytes that the pool
 * copied at create. The record is the process argument (bytes, copied to
 * the child by the process layer), in host order (the worker is an exec of
 * the same program):
 *   mp__pool_boot_t, then init_ref_len bytes of the initializer's
 *   reference, zero padding to 16 bytes, then initarg_size bytes of its
 *   argument (16-aligned in the child's copy, which is malloc'd).
 * The worker attaches the queues and the segment, resolves the
 * initializer, and runs the worker loop (worker.c) as a forked worker
 * does. */
#include "pool_internal.h"

#include "../process/process_internal.h"
#include "../shm/fnref.h"

#include <stdio.h>
#include <string.h>

#define BOOT_MAGIC "MPPW"
#define BOOT_VERSION 1u
/* Room for a queue's or a segment's name with its NUL (the library makes
 * names of ~30 bytes; mp_shm_create refuses names over 250). */
#define BOOT_NAME_MAX 256

typedef struct mp__pool_boot {
    char magic[4];
    uint32_t version;
    uint32_t slot;
    uint32_t init_ref_len; /* 0: no initializer */
    uint64_t gen;
    int64_t maxtasks;
    uint64_t initarg_size;
    char inbox[BOOT_NAME_MAX];
    char results[BOOT_NAME_MAX];
    char slots[BOOT_NAME_MAX];
} mp__pool_boot_t;

/* Rounds n up to 16 bytes (n far below SIZE_MAX). */
static size_t
up16(size_t n)
{
    return (n + 15) & ~(size_t)15;
}

int
mp__pool_launch_init(mp__pool_launch_t *l, const mp_pool_opts_t *o, int nproc)
{
    *l = (mp__pool_launch_t){.init = o->initializer};
    int m = mp__start_resolve(o->start_method);
    if (m < 0 || mp_start_method_name((mp_start_method_t)m) == NULL) {
        return MP_EINVAL;
    }
    l->method = (mp_start_method_t)m;
    size_t bytes = (size_t)nproc * sizeof *l->started;
    if (l->method == MP_START_FORK) {
        /* Forks share the arena: the argument stays a pointer. */
        l->initarg = o->initarg;
        l->started = mp__shared_alloc(bytes);
        return l->started != NULL ? 0 : MP_ENOMEM;
    }
    if (o->initarg != NULL && o->initarg_size == 0) {
        return MP_EINVAL; /* a pointer cannot reach an exec */
    }
    int err = 0;
    if (o->initializer != NULL) {
        ssize_t n = mp__fnref_encode((mp__fn_t)o->initializer, &l->init_ref);
        err = n < 0 ? (int)n : 0;
        l->init_ref_len = n > 0 ? (size_t)n : 0;
    }
    if (err == 0 && o->initarg_size > 0) {
        /* Copied now: replacements started later get the same bytes. */
        l->initarg = mp__malloc(o->initarg_size);
        if (l->initarg == NULL) {
            err = MP_ENOMEM;
        } else {
            memcpy(l->initarg, o->initarg, o->initarg_size);
            l->initarg_size = o->initarg_size;
        }
    }
    if (err == 0) {
        err = mp_shm_create(&l->slots, NULL, bytes, 0);
        l->started = err == 0 ? mp_shm_buf(l->slots) : NULL;
    }
    if (err != 0) {
        mp__pool_launch_fini(l);
    }
    return err;
}

void
mp__pool_launch_fini(mp__pool_launch_t *l)
{
    if (l->method == MP_START_FORK) {
        mp__shared_free((void *)l->started);
    } else {
        if (l->slots != NULL) {
            (void)mp_shm_unlink(l->slots);
            mp_shm_destroy(l->slots);
        }
        mp__free(l->init_ref);
        mp__free(l->initarg);
    }
    *l = (mp__pool_launch_t){0};
}

int
mp__pool_launch_queue(const mp__pool_launch_t *l, size_t maxsize,
                      mp_queue_t **out)
{
    mp_queue_opts_t qo = MP_QUEUE_OPTS_INIT;
    qo.maxsize = maxsize;
    return l->method == MP_START_FORK ? mp__queue_create_private(out, &qo)
                                      : mp_queue_create(out, &qo);
}

/* Copies name into a record's field of BOOT_NAME_MAX bytes. Returns 0 or
 * MP_ENAMETOOLONG. */
static int
put_name(char *field, const char *name)
{
    size_t len = strlen(name);
    if (len >= BOOT_NAME_MAX) {
        return MP_ENAMETOOLONG;
    }
    memcpy(field, name, len + 1);
    return 0;
}

/* Builds the boot record of the worker ctx describes (see the top of the
 * file) in a fresh buffer *out (mp__free) of *len bytes. Returns 0,
 * MP_ENAMETOOLONG or MP_ENOMEM. */
static int
boot_build(const mp__pool_launch_t *l, const mp__worker_ctx_t *ctx, void **out,
           size_t *len)
{
    size_t ref_end = sizeof(mp__pool_boot_t) + l->init_ref_len;
    size_t total;
    if (!mp__size_add(up16(ref_end), l->initarg_size, &total)) {
        return MP_ENOMEM;
    }
    char *rec = mp__calloc(1, total);
    if (rec == NULL) {
        return MP_ENOMEM;
    }
    mp__pool_boot_t *b = (mp__pool_boot_t *)(void *)rec;
    memcpy(b->magic, BOOT_MAGIC, 4);
    b->version = BOOT_VERSION;
    b->slot = ctx->slot;
    b->gen = ctx->gen;
    b->maxtasks = ctx->maxtasks;
    b->init_ref_len = (uint32_t)l->init_ref_len;
    b->initarg_size = l->initarg_size;
    int err = put_name(b->inbox, mp_queue_name(ctx->inbox));
    if (err == 0) {
        err = put_name(b->results, mp_queue_name(ctx->results));
    }
    if (err == 0) {
        err = put_name(b->slots, mp_shm_name(l->slots));
    }
    if (err != 0) {
        mp__free(rec);
        return err;
    }
    if (l->init_ref_len > 0) {
        memcpy(rec + sizeof *b, l->init_ref, l->init_ref_len);
    }
    if (l->initarg_size > 0) {
        memcpy(rec + up16(ref_end), l->initarg, l->initarg_size);
    }
    *out = rec;
    *len = total;
    return 0;
}

/* The worker of a record: attaches what it names, then runs the worker
 * loop. The target of a spawn or forkserver worker; arg is the child's
 * copy of the record. Returns the worker's exit code. */
static int
boot_worker_main(void *arg)
{
    const char *rec = arg;
    const mp__pool_boot_t *b = arg;
    if (memcmp(b->magic, BOOT_MAGIC, 4) != 0 || b->version != BOOT_VERSION) {
        return 2;
    }
    mp__worker_ctx_t ctx = {
        .maxtasks = (long)b->maxtasks, .slot = b->slot, .gen = b->gen};
    mp_shm_t *slots = NULL;
    int err = mp_queue_attach(&ctx.results, b->results);
    if (err == 0) {
        err = mp_queue_attach(&ctx.inbox, b->inbox);
    }
    if (err == 0) {
        err = mp_shm_attach(&slots, b->slots);
    }
    int code = 2;
    if (err == 0 &&
        ((size_t)b->slot + 1) * sizeof *ctx.started <= mp_shm_size(slots)) {
        ctx.started = (_Atomic uint64_t *)mp_shm_buf(slots) + b->slot;
        if (b->init_ref_len > 0) {
            mp__fn_t fn = NULL;
            /* A reference that does not resolve here fails the worker's
             * start as its initializer would, with the reason. */
            ctx.init_err =
                mp__fnref_decode(rec + sizeof *b, b->init_ref_len, &fn);
            ctx.init = (mp_pool_init_fn)fn;
        }
        size_t at = up16(sizeof *b + b->init_ref_len);
        ctx.initarg = b->initarg_size > 0 ? (void *)(rec + at) : NULL;
        code = mp__pool_worker_main(&ctx);
    }
    mp_shm_destroy(slots);
    mp_queue_destroy(ctx.inbox);
    mp_queue_destroy(ctx.results);
    return code;
}

int
mp__pool_launch_worker(const mp__pool_launch_t *l, mp__worker_ctx_t *ctx,
                       mp_process_t **out)
{
    /* Python's worker names: ForkPoolWorker-N, SpawnPoolWorker-N,
     * ForkServerPoolWorker-N. */
    static const char *const kinds[] = {
        [MP_START_FORK] = "Fork",
        [MP_START_FORKSERVER] = "ForkServer",
        [MP_START_SPAWN] = "Spawn",
    };
    char name[64];
    snprintf(name, sizeof name, "%sPoolWorker-%llu", kinds[l->method],
             (unsigned long long)ctx->gen);
    mp_process_opts_t po = MP_PROCESS_OPTS_INIT;
    po.name = name;
    po.daemon = true;
    po.start_method = l->method;
    ctx->init = l->init;
    ctx->initarg = l->initarg;
    ctx->started = &l->started[ctx->slot];
    void *rec = NULL;
    int err = 0;
    if (l->method == MP_START_FORK) {
        err = mp_process_create(out, mp__pool_worker_main, ctx, &po);
    } else {
        err = boot_build(l, ctx, &rec, &po.arg_size);
        if (err == 0) {
            err = mp_process_create(out, boot_worker_main, rec, &po);
        }
    }
    if (err == 0) {
        /* The record is copied to the child by the time start returns. */
        err = mp_process_start(*out);
        if (err != 0) {
            mp_process_destroy(*out);
        }
    }
    mp__free(rec);
    if (err != 0) {
        *out = NULL;
    }
    return err;
}
