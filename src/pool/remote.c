/* SPDX-License-Identifier: MIT */
/* remote.c - the bridge table that libmultiproc_mpi reaches the core's
 * internals through (see remote.h). */
#include "remote.h"

static const mp__remote_bridge_t bridge = {
    .version = MP__REMOTE_BRIDGE_VERSION,
    .pool_create = mp__pool_create_transport,
    .fn_name = mp__pool_fn_name,
    .resolve_fn = mp__pool_resolve_fn,
    .now_ns = mp__now_ns,
    .yield = mp__plat_yield,
    .nap = mp__plat_nap,
    .waker_open = mp__plat_waker_open,
    .waker_signal = mp__plat_waker_signal,
    .waker_close = mp__plat_waker_close,
    .code_find = mp__plat_code_find,
    .signal_set = mp__plat_signal_set,
};

const mp__remote_bridge_t *
mp__remote_bridge(unsigned version)
{
    return version == MP__REMOTE_BRIDGE_VERSION ? &bridge : NULL;
}
