/* SPDX-License-Identifier: MIT */
/* fuzz_manager.c - fuzzes the manager server's parser and executor: the
 * input is decoded as one request (mp__mgr_req_decode) and then as a
 * sequence of length-prefixed requests, and every request that decodes is
 * run by mp__mgr_exec against a fresh scratch store with a session, the
 * way the server runs what a client sends. So both the wire decoder and
 * exec's checks of ids, kinds and arguments see hostile input, and a
 * sequence can create objects and then work on them. */
#include "fuzz.h"

#include "manager/manager_internal.h"

#include <stdlib.h>
#include <string.h>

/* The scratch store: small, so that hostile sizes hit its limits soon. */
#define FUZZ_STORE_SIZE ((size_t)1 << 20)
/* The most requests one input runs. */
#define FUZZ_MAX_REQUESTS 64

/* Decodes one request from data/size and, when it decodes, runs it. A
 * request never waits: its timeout is forced to MP_NO_WAIT (the fuzzer
 * is one thread, nobody would wake it). */
static void
run_one(mp__store_t *st, mp__mgr_session_t *session, const uint8_t *data,
        size_t size)
{
    mp__mgr_req_t req;
    if (mp__mgr_req_decode(data, size, &req) != 0) {
        return;
    }
    /* What decodes must encode back to the same bytes (the 4 padding
     * bytes of the header aside). */
    void *again;
    size_t len;
    if (mp__mgr_req_encode(&req, &again, &len) != 0) {
        abort();
    }
    if (len != size || memcmp(again, data, MP__MGR_REQ_HDR - 4) != 0 ||
        memcmp((uint8_t *)again + MP__MGR_REQ_HDR, data + MP__MGR_REQ_HDR,
               size - MP__MGR_REQ_HDR) != 0) {
        abort();
    }
    mp__free(again);
    mp__mgr_rep_t rep;
    req.timeout = MP_NO_WAIT;
    switch (req.op) {
    case MP__OP_HELLO:
    case MP__OP_SHUTDOWN:
    case MP__OP_USER_CALL:
        break; /* the server's own: not exec's */
    case MP__OP_CREATE:
        if (req.num[0] == MP_PROXY_USER) {
            break;
        }
        /* fall through */
    default:
        mp__mgr_exec(st, session, &req, &rep);
        /* A reply must encode (what the server sends back). */
        if (mp__mgr_rep_encode(&rep, &again, &len) == 0) {
            mp__mgr_rep_t back;
            if (mp__mgr_rep_decode(again, len, &back) == 0) {
                mp__mgr_rep_clear(&back);
            }
            mp__free(again);
        }
        mp__mgr_rep_clear(&rep);
        break;
    }
}

int
mp_fuzz_manager(const uint8_t *data, size_t size)
{
    if (size > MP_FUZZ_MAX_INPUT) {
        size = MP_FUZZ_MAX_INPUT;
    }
    mp__store_t *st;
    if (mp__store_create(&st, FUZZ_STORE_SIZE) != 0) {
        return 0;
    }
    mp__mgr_session_t *session = mp__mgr_session_new();
    if (session == NULL) {
        mp__store_destroy(st);
        return 0;
    }
    /* The whole input as one request. */
    run_one(st, session, data, size);
    /* The input as requests, each prefixed by a little-endian u16
     * length. */
    size_t off = 0;
    for (int i = 0; i < FUZZ_MAX_REQUESTS && size - off >= 2; i++) {
        size_t n = (size_t)data[off] | ((size_t)data[off + 1] << 8);
        off += 2;
        if (n > size - off) {
            n = size - off;
        }
        run_one(st, session, data + off, n);
        off += n;
    }
    mp__mgr_session_end(st, session);
    mp__store_destroy(st);
    return 0;
}

#ifdef MP_FUZZ_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return mp_fuzz_manager(data, size);
}
#endif
