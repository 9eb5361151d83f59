/* SPDX-License-Identifier: MIT */
/* batch_internal.h - what the files of the pool's many-item calls share
 * (batch.c: a batch and the handler's stores into it; map.c: the map
 * family and cutting input into chunks; imap.c: imap and its iterator):
 * the batch's layout and the contracts between them. They call downward
 * only: batch.c <- map.c <- imap.c. */
#ifndef MP_BATCH_INTERNAL_H
#define MP_BATCH_INTERNAL_H

#include "pool_internal.h"

/* Results up to this size wait in their imap slot; next() copies them to
 * a buffer of the caller's thread, so that the handler mallocs nothing
 * the caller frees (a free into another thread's arena takes its lock). */
#define IMAP_INLINE 24

/* Where a batch's results go. */
enum { BATCH_MAP, BATCH_BUFS, BATCH_IMAP };

/* The context a map or imap call shares with its chunk jobs: the handle
 * mp_pool_imap hands out is this too. */
struct mp_imap {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    _Atomic uint32_t seq;   /* bumped at each broadcast of cv */
    mp__spin_learn_t learn; /* whether mp_imap_next's spins pay */
    int refs;               /* the caller + unfinished chunk jobs; under mu */
    size_t chunks_left;
    bool abandoned; /* the caller left (timed out): store nothing more */
    /* A synchronous map's chunks read the caller's input in place until
     * it returns (mp__pool_input_gone; under the pool's mu). */
    bool input_gone;
    int kind; /* BATCH_* */
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
typedef struct mp_imap mp__batch_t;

/* batch.c. batch_new makes a batch of kind (BATCH_*) holding the caller's
 * reference, or returns NULL; batch_unref drops one reference (b->mu not
 * held) and frees the batch with the last. */
mp__batch_t *mp__batch_new(int kind);
void mp__batch_unref(mp__batch_t *b);

/* The input of a batch: nitems items of in_size bytes at in or, when bufs
 * is not NULL, buffers of their own lengths (lens), whose task spans sum
 * to bufs_span. */
typedef struct mp__batch_input {
    const void *in;
    size_t in_size;
    /* Where the chunks of in are read in place rather than copied (a
     * synchronous map of fixed-size items): the flag that says in is
     * gone; NULL: copied. */
    const bool *in_gone;
    const void *const *bufs;
    const size_t *lens;
    size_t bufs_span;
    size_t nitems;
} mp__batch_input_t;

/* map.c, for imap.c. batch_check_args checks the arguments that map and
 * imap share and returns 0 or MP_EINVAL; batch_submit cuts the items of
 * inp (at least one) into chunk jobs of chunk items for b, all in one
 * block, and queues them: returns 0, or an error with nothing queued, b
 * abandoned and its chunk references dropped. */
int mp__batch_check_args(const mp_pool_t *pool, mp_pool_fn fn, const void *in,
                         size_t in_size, size_t nitems);
int mp__batch_submit(mp_pool_t *pool, mp__batch_t *b, mp_pool_fn fn,
                     const mp__batch_input_t *inp, size_t chunk);

#endif /* MP_BATCH_INTERNAL_H */
