/* SPDX-License-Identifier: MIT */
/* remote.h - the pool's hook for workers that are not forked children of
 * the pool's process (the MPI ranks of libmultiproc_mpi), and the one
 * exported entry, mp__remote_bridge, through which libmultiproc_mpi (a
 * library of its own, linked against the shared libmultiproc whose
 * internal symbols are hidden) reaches the internals it needs.
 *
 * A transport replaces how a pool starts, kills, waits for and reaps the
 * worker of a slot; everything else (dispatch, prefetch, results, task
 * accounting, close/terminate) stays the pool's own. A transport's worker
 * takes its task messages from ctx->inbox and answers on ctx->results in
 * the formats of pool_internal.h, with ctx->slot and ctx->gen, as
 * mp__pool_worker_main does. Its DONE replies may set MP__ITEM_CODE in an
 * item's flags: the item's rc is then the library code the item fails with
 * (MP_EWORKER, MP_ETIMEDOUT, ...), not a task's return value.
 * Layer: pool. */
#ifndef MP_POOL_REMOTE_H
#define MP_POOL_REMOTE_H

#include "../platform/platform.h"
#include "pool_internal.h"

/* mp__item_hdr_t.pad's flags: MP__ITEM_CODE, rc is the item's library
 * code; MP__ITEM_EXIT (with MP__ITEM_CODE), the pad's upper 16 bits are
 * the exit code of the process the item died with (an exit status, or
 * minus a signal), which mp_result_exitcode gives. MP__ITEM_EXIT_PAD
 * makes such a pad; MP__ITEM_EXIT_CODE reads the code back. */
#define MP__ITEM_CODE 1u
#define MP__ITEM_EXIT 2u
#define MP__ITEM_EXIT_PAD(code)                                                \
    (MP__ITEM_CODE | MP__ITEM_EXIT |                                           \
     ((uint32_t)(uint16_t)(int16_t)(code) << 16))
#define MP__ITEM_EXIT_CODE(pad) ((int)(int16_t)(uint16_t)((pad) >> 16))

/* How a pool's workers are started and ended; see above. Every call comes
 * from the pool's handler thread with no pool lock held.
 * start starts slot ctx->slot's worker (ctx stays valid until reap),
 *   stores its handle in *worker and a pid for mp_pool_stats (0: none);
 *   returns 0 or a negative error.
 * waitable returns what becomes ready once the worker ended; it has put
 *   every reply it will put before that.
 * kill makes the worker end soon, its tasks unfinished.
 * reap waits until the worker ended (after kill, or after its waitable was
 *   ready), stores how (an exit status, or minus a signal) in *exitcode and
 *   frees the handle.
 * release (may be NULL) is called with arg once the pool is freed, or
 * once creating it failed after the arguments were checked. */
typedef struct mp__pool_transport {
    void *arg;
    int (*start)(void *arg, const mp__worker_ctx_t *ctx, void **worker,
                 pid_t *pid);
    mp_waitable_t (*waitable)(void *worker);
    void (*kill)(void *worker);
    void (*reap)(void *worker, int *exitcode);
    void (*release)(void *arg);
} mp__pool_transport_t;

/* mp__pool_create_transport is mp_pool_create with the workers of
 * transport t (*t is copied; t NULL: forked children, as mp_pool_create).
 * Same returns. Context: any thread. */
int mp__pool_create_transport(mp_pool_t **out, const mp_pool_opts_t *opts,
                              const mp__pool_transport_t *t);

/* Where a forwarded task ends (mp__pool_submit_raw), called once, on the
 * pool's handler thread (or the thread that terminates the pool, or one
 * that takes the pool's replies: mp__pool_help_replies,
 * mp__pool_take_reply): done
 * gets its DONE reply as the worker sent it (rh, then the items at p ..
 * end, not checked); fail tells that every item failed with err and msg
 * (its worker died, the task timed out, the pool was terminated or
 * broken), with the dead worker's exit code when has_exit (an exit
 * status, or minus a signal). */
typedef struct mp__pool_sink {
    void (*done)(void *arg, const mp__reply_hdr_t *rh, const char *p,
                 const char *end);
    void (*fail)(void *arg, int err, const char *msg, bool has_exit,
                 int exitcode);
} mp__pool_sink_t;

/* mp__pool_submit_raw queues a task message as an inbox carries it (len
 * bytes at msg: header, function reference, input; copied; the reference
 * is passed on unchecked, the worker checks it) on pool, its end going
 * to sink with arg. Returns 0, MP_EPROTO (not a well-formed task), MP_ENOMEM
 * or the submission errors (MP_ECLOSED, MP_EBROKEN); on an error the sink is
 * not called. Context: any thread. */
int mp__pool_submit_raw(mp_pool_t *pool, const void *msg, size_t len,
                        const mp__pool_sink_t *sink, void *arg);

/* What libmultiproc_mpi reaches of the core library. A function (a
 * pool's initializer) is named as every task's is, by its reference
 * (fnref.h): fn_ref makes one (free it with fn_ref_free), fn_resolve
 * checks one and resolves it, with mp__fnref_encode's and
 * mp__fnref_decode's contracts. */
#define MP__REMOTE_BRIDGE_VERSION 4u
typedef struct mp__remote_bridge {
    unsigned version; /* MP__REMOTE_BRIDGE_VERSION */
    int (*pool_create)(mp_pool_t **out, const mp_pool_opts_t *opts,
                       const mp__pool_transport_t *t);
    ssize_t (*fn_ref)(void (*fn)(void), void **out);
    int (*fn_resolve)(const void *ref, size_t len, void (**fn)(void));
    void (*fn_ref_free)(void *ref);
    int64_t (*now_ns)(void);
    void (*yield)(void);
    void (*nap)(int64_t ns);
    int (*waker_open)(void);
    void (*waker_signal)(int fd);
    void (*waker_close)(int fd);
    int (*code_find)(const void *addr, mp__plat_code_object_t *out);
    void (*signal_set)(int sig, void (*handler)(int));
    int (*submit_raw)(mp_pool_t *pool, const void *msg, size_t len,
                      const mp__pool_sink_t *sink, void *arg);
    size_t (*help_replies)(mp_pool_t *pool); /* mp__pool_help_replies */
    void (*owner_takes_replies)(mp_pool_t *pool, mp_waitable_t *replies);
    bool (*take_reply)(mp_pool_t *pool, const void *msg, size_t len);
} mp__remote_bridge_t;

/* mp__remote_bridge returns the core's bridge when it is of the version
 * asked for, else NULL (a libmultiproc_mpi built against another core).
 * Exported from the shared library though internal: its only caller is
 * libmultiproc_mpi, and no public header declares it. */
__attribute__((visibility("default"))) const mp__remote_bridge_t *
mp__remote_bridge(unsigned version);

#endif /* MP_POOL_REMOTE_H */
