/* SPDX-License-Identifier: MIT */
/* remote.c - the bridge table that libmultiproc_mpi reaches the core's
 * internals through, and forwarded tasks: a task message submitted as it
 * came (an MPI rank's local pool runs its parent's tasks so), whose reply
 * goes back as it came (see remote.h). */
#include "remote.h"

#include "../shm/fnref.h"

#include <string.h>

int
mp__pool_submit_raw(mp_pool_t *pool, const void *msg, size_t len,
                    const mp__pool_sink_t *sink, void *arg)
{
    mp__task_hdr_t th;
    if (len < sizeof th) {
        return MP_EPROTO;
    }
    memcpy(&th, msg, sizeof th);
    size_t at = mp__task_data_offset(th.ref_len);
    size_t data = at <= len ? len - at : 0;
    bool fixed_ok = th.item_size != MP__ITEM_VAR &&
                    (th.item_size == 0 || th.nitems <= data / th.item_size) &&
                    th.nitems * th.item_size == data;
    if (th.kind != MP__TASK_RUN || th.nitems == 0 || at > len ||
        (th.item_size != MP__ITEM_VAR && !fixed_ok)) {
        return MP_EPROTO;
    }
    /* The reference goes on as it came: the worker checks it. */
    mp__fn_name_t name = {.ref = (const char *)msg + sizeof th,
                          .ref_len = th.ref_len};
    size_t span = mp__pool_job_span(&name, data);
    void *block = span > 0 ? mp__pool_block_new(span) : NULL;
    if (block == NULL) {
        return MP_ENOMEM;
    }
    size_t used = 0;
    char *dst;
    mp__job_t *j = mp__pool_job_place(pool, block, &used, &name, th.item_size,
                                      (size_t)th.nitems, data, &dst);
    memcpy(dst, (const char *)msg + at, data);
    j->sink = sink;
    j->sink_arg = arg;
    int err = mp__pool_submit(pool, j, j);
    if (err != 0) {
        j->sink = NULL;
        mp__pool_job_free(j);
    }
    return err;
}

static const mp__remote_bridge_t bridge = {
    .version = MP__REMOTE_BRIDGE_VERSION,
    .pool_create = mp__pool_create_transport,
    .fn_ref = mp__fnref_encode,
    .fn_resolve = mp__fnref_decode,
    .fn_ref_free = mp__free,
    .now_ns = mp__now_ns,
    .yield = mp__plat_yield,
    .nap = mp__plat_nap,
    .waker_open = mp__plat_waker_open,
    .waker_signal = mp__plat_waker_signal,
    .waker_close = mp__plat_waker_close,
    .code_find = mp__plat_code_find,
    .signal_set = mp__plat_signal_set,
    .submit_raw = mp__pool_submit_raw,
    .help_replies = mp__pool_help_replies,
    .owner_takes_replies = mp__pool_owner_takes_replies,
    .take_reply = mp__pool_take_reply,
};

const mp__remote_bridge_t *
mp__remote_bridge(unsigned version)
{
    return version == MP__REMOTE_BRIDGE_VERSION ? &bridge : NULL;
}
