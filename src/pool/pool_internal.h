/* SPDX-License-Identifier: MIT */
/* pool_internal.h - what the files of the pool share: the messages between
 * the pool and its workers, result handles, the worker's main loop.
 *
 * Messages (all fields in host order; the peers are forks of one program):
 *   inbox (one mp_queue per worker, pool -> worker):
 *     mp__task_hdr_t, the function's module path (fname_len bytes, no NUL),
 *     zero padding up to mp__task_data_offset(), then nitems * item_size
 *     bytes of input; or a header of kind STOP.
 *   results (one mp_queue, every worker -> pool):
 *     mp__reply_hdr_t, then per item an mp__item_hdr_t and len bytes (the
 *     result, or the error message when rc != 0).
 * Layer: above process, queue and api (mp_wait_any). */
#ifndef MP_POOL_INTERNAL_H
#define MP_POOL_INTERNAL_H

#include "../common/mp_internal.h"
#include "../shm/shm_internal.h"

#include <pthread.h>

enum { MP__TASK_RUN = 1, MP__TASK_STOP = 2 };
enum { MP__REPLY_READY = 1, MP__REPLY_INITFAIL = 2, MP__REPLY_DONE = 3 };

typedef struct mp__task_hdr {
    uint32_t kind;
    uint32_t fname_len; /* 0: offset is the function's absolute address */
    uint64_t id;
    uint64_t offset; /* the function's offset in its module */
    uint64_t item_size;
    uint64_t nitems;
} mp__task_hdr_t;

/* mp__task_data_offset returns where a task message's input starts: after
 * the header and the module path, rounded up to 16 bytes, so that the task
 * function gets its input aligned as malloc would align it (the worker
 * receives the message in a fresh malloc'd buffer). */
static inline size_t
mp__task_data_offset(uint32_t fname_len)
{
    size_t end = sizeof(mp__task_hdr_t) + fname_len;
    return (end + 15) & ~(size_t)15;
}

typedef struct mp__reply_hdr {
    uint32_t kind;
    uint32_t slot; /* the worker's slot in the pool */
    uint64_t gen;  /* which incarnation of the slot */
    uint64_t id;   /* DONE: the task */
    uint64_t nitems;
    int64_t init_rc; /* INITFAIL: what the initializer returned */
} mp__reply_hdr_t;

typedef struct mp__item_hdr {
    int32_t rc; /* 0, or what the task returned */
    uint32_t pad;
    uint64_t len;
} mp__item_hdr_t;

/* What a forked worker needs; the pool's copy, read after fork. */
typedef struct mp__worker_ctx {
    mp_queue_t *inbox;
    mp_queue_t *results;
    mp_pool_init_fn init;
    void *initarg;
    long maxtasks;
    _Atomic uint64_t *started; /* shared: the id of the task it started */
    uint32_t slot;
    uint64_t gen;
} mp__worker_ctx_t;

/* The worker process's target: arg is an mp__worker_ctx_t. */
int mp__pool_worker_main(void *arg);

/* The default chunk size of map: ceil(nitems / (4 * nproc)), at least 1. */
size_t mp__pool_chunksize(size_t nitems, int nproc);

/* Conditions on CLOCK_MONOTONIC, and a wait until a deadline (mu held).
 * Returns 0 when woken, MP_ETIMEDOUT when the deadline passed. */
void mp__pool_cond_init(pthread_cond_t *cv);
int mp__pool_cond_wait(pthread_cond_t *cv, pthread_mutex_t *mu,
                       int64_t deadline);

/* Result handles: a new one holds two references (the caller's and the
 * job's). complete takes ownership of data (mp__malloc'd) and copies msg;
 * has_exit marks an exitcode for MP_EWORKER. Context: any thread. */
mp_result_t *mp__result_new(void);
/* Sets r's callbacks (cb may be NULL) and the bytes on_success gets when
 * the result carries none; before r is shared. */
void mp__result_set_callbacks(mp_result_t *r, const mp_pool_callbacks_t *cb,
                              const void *view, size_t view_len);
/* Runs r's callback (counting a non-zero return in *cb_errors unless it
 * is NULL), then marks r done. */
void mp__result_complete(mp_result_t *r, int rc, void *data, size_t len,
                         const char *msg, bool has_exit, int exitcode,
                         _Atomic uint64_t *cb_errors);
void mp__result_unref(mp_result_t *r);

#endif /* MP_POOL_INTERNAL_H */
