/* SPDX-License-Identifier: MIT */
/* proxy_internal.h - what proxy.c and collections.c share: the proxy
 * handle's layout, the kind sets the calls check, and the helpers that
 * start and run one request for a proxy (proxy.c). */
#ifndef MP_PROXY_INTERNAL_H
#define MP_PROXY_INTERNAL_H

#include "manager_internal.h"

struct mp_proxy {
    mp_manager_t *m;
    uint32_t index, gen;
    int kind;        /* mp_proxy_kind_t */
    int type;        /* mp_type_t of a Value or Array; 0 otherwise */
    pid_t holds_ref; /* process whose reference this proxy holds */
};

/* Kind sets, for the calls that serve several kinds. */
#define KIND(k) (1u << (k))
#define KINDS_DICT (KIND(MP_PROXY_DICT) | KIND(MP_PROXY_NAMESPACE))
#define KINDS_QUEUE (KIND(MP_PROXY_QUEUE) | KIND(MP_PROXY_JOINABLE_QUEUE))
#define KINDS_ACQUIRE                                                          \
    (KIND(MP_PROXY_LOCK) | KIND(MP_PROXY_RLOCK) | KIND(MP_PROXY_SEMAPHORE) |   \
     KIND(MP_PROXY_BOUNDED_SEMAPHORE) | KIND(MP_PROXY_CONDITION))
#define KINDS_WAIT                                                             \
    (KIND(MP_PROXY_EVENT) | KIND(MP_PROXY_CONDITION) | KIND(MP_PROXY_BARRIER))

/* mp__proxy_begin starts a request for op on proxy p into *req, checking
 * that p is one of the kinds in mask. Returns 0, MP_EINVAL (p NULL) or
 * MP_EKIND. mp__proxy_run runs req for p (mp__mgr_invoke) into *rep,
 * whose data is freed when it fails, and returns the status. The
 * mp__proxy_run_* helpers run req for p and free the reply:
 * run_num returns the reply's number or the error; run_bytes stores the
 * reply's data in *out (the caller's to free; never NULL on success: an
 * empty value is a 1-byte allocation) and returns its length or the
 * error; run_snapshot unpacks a packed reply of rep.num buffers into *out
 * (one allocation of mp_buf_t, the caller's to free) with the count in *n
 * and returns 0 or the error (MP_EPROTO for a malformed reply).
 * mp__proxy_simple_num runs a request with no argument whose reply is a number
 * for a proxy of the kinds in mask; mp__proxy_simple the same for calls whose
 * success is just 0. */
int mp__proxy_begin(mp_proxy_t *p, unsigned mask, uint16_t op,
                    mp__mgr_req_t *req);
int mp__proxy_run(mp_proxy_t *p, const mp__mgr_req_t *req, mp__mgr_rep_t *rep);
int64_t mp__proxy_run_num(mp_proxy_t *p, const mp__mgr_req_t *req);
ssize_t mp__proxy_run_bytes(mp_proxy_t *p, const mp__mgr_req_t *req,
                            void **out);
int mp__proxy_run_snapshot(mp_proxy_t *p, const mp__mgr_req_t *req,
                           mp_buf_t **out, size_t *n);
int64_t mp__proxy_simple_num(mp_proxy_t *p, unsigned mask, uint16_t op);
int mp__proxy_simple(mp_proxy_t *p, unsigned mask, uint16_t op);

#endif /* MP_PROXY_INTERNAL_H */
