/* SPDX-License-Identifier: MIT */
/* codec.c - manager requests and replies to and from bytes: the fixed
 * little-endian layout of manager_internal.h ("the wire"). The decoders
 * are the server's parser of untrusted input: pure, fuzzed, and they
 * accept exactly one well-formed message or answer MP_EPROTO. */
#include "manager_internal.h"

#include "../common/bytes.h"

#include <string.h>

#define MGR_MAGIC 'M'

/* Byte offsets of the request header fields. */
enum {
    REQ_MAGIC = 0,
    REQ_VERSION = 1,
    REQ_OP = 2,
    REQ_INDEX = 4,
    REQ_GEN = 8,
    REQ_TIMEOUT = 12,
    REQ_NUM = 20, /* three i64 */
    REQ_LEN0 = 44,
    REQ_LEN1 = 52,
    REQ_END = 60
};

/* The header is 64 bytes: the 4 bytes after len1 are padding, zero on the
 * wire and ignored by the decoder. */
_Static_assert(REQ_END <= MP__MGR_REQ_HDR, "request header layout");

/* Byte offsets of the reply header fields. */
enum { REP_STATUS = 0, REP_GEN = 4, REP_NUM = 8, REP_LEN = 16, REP_END = 24 };
_Static_assert(REP_END == MP__MGR_REP_HDR, "reply header layout");

/* A byte argument is valid when it has a pointer for its bytes. */
static bool
bytes_ok(const mp__mgr_bytes_t *b)
{
    return b->len == 0 || b->ptr != NULL;
}

int
mp__mgr_req_encode(const mp__mgr_req_t *req, void **buf, size_t *len)
{
    if (req == NULL || buf == NULL || len == NULL || !bytes_ok(&req->arg[0]) ||
        !bytes_ok(&req->arg[1])) {
        return MP_EINVAL;
    }
    size_t l0 = req->arg[0].len, l1 = req->arg[1].len;
    size_t total;
    if (!mp__size_add(MP__MGR_REQ_HDR, l0, &total) ||
        !mp__size_add(total, l1, &total)) {
        return MP_ENOMEM;
    }
    uint8_t *p = mp__malloc(total);
    if (p == NULL) {
        return MP_ENOMEM;
    }
    memset(p, 0, MP__MGR_REQ_HDR);
    p[REQ_MAGIC] = MGR_MAGIC;
    p[REQ_VERSION] = MP__MGR_VERSION;
    mp__put_le(p + REQ_OP, req->op, 2);
    mp__put_le(p + REQ_INDEX, req->index, 4);
    mp__put_le(p + REQ_GEN, req->gen, 4);
    mp__put_le(p + REQ_TIMEOUT, (uint64_t)req->timeout, 8);
    for (int i = 0; i < 3; i++) {
        mp__put_le(p + REQ_NUM + 8 * i, (uint64_t)req->num[i], 8);
    }
    mp__put_le(p + REQ_LEN0, l0, 8);
    mp__put_le(p + REQ_LEN1, l1, 8);
    if (l0 > 0) {
        memcpy(p + MP__MGR_REQ_HDR, req->arg[0].ptr, l0);
    }
    if (l1 > 0) {
        memcpy(p + MP__MGR_REQ_HDR + l0, req->arg[1].ptr, l1);
    }
    *buf = p;
    *len = total;
    return 0;
}

int
mp__mgr_req_decode(const void *buf, size_t len, mp__mgr_req_t *req)
{
    const uint8_t *p = buf;
    if (p == NULL || req == NULL || len < MP__MGR_REQ_HDR ||
        p[REQ_MAGIC] != MGR_MAGIC || p[REQ_VERSION] != MP__MGR_VERSION) {
        return MP_EPROTO;
    }
    uint64_t l0 = mp__get_le(p + REQ_LEN0, 8), l1 = mp__get_le(p + REQ_LEN1, 8);
    uint64_t body = len - MP__MGR_REQ_HDR;
    /* l0 + l1 == body, written so that no sum can overflow. */
    if (l0 > body || l1 != body - l0) {
        return MP_EPROTO;
    }
    memset(req, 0, sizeof *req);
    req->op = (uint16_t)mp__get_le(p + REQ_OP, 2);
    req->index = (uint32_t)mp__get_le(p + REQ_INDEX, 4);
    req->gen = (uint32_t)mp__get_le(p + REQ_GEN, 4);
    req->timeout = (int64_t)mp__get_le(p + REQ_TIMEOUT, 8);
    for (int i = 0; i < 3; i++) {
        req->num[i] = (int64_t)mp__get_le(p + REQ_NUM + 8 * i, 8);
    }
    const uint8_t *body_ptr = p + MP__MGR_REQ_HDR;
    req->arg[0].ptr = l0 > 0 ? body_ptr : NULL;
    req->arg[0].len = (size_t)l0;
    req->arg[1].ptr = l1 > 0 ? body_ptr + l0 : NULL;
    req->arg[1].len = (size_t)l1;
    return 0;
}

int
mp__mgr_rep_encode(const mp__mgr_rep_t *rep, void **buf, size_t *len)
{
    if (rep == NULL || buf == NULL || len == NULL ||
        (rep->len > 0 && rep->data == NULL)) {
        return MP_EINVAL;
    }
    size_t total;
    if (!mp__size_add(MP__MGR_REP_HDR, rep->len, &total)) {
        return MP_ENOMEM;
    }
    uint8_t *p = mp__malloc(total);
    if (p == NULL) {
        return MP_ENOMEM;
    }
    mp__put_le(p + REP_STATUS, (uint32_t)rep->status, 4);
    mp__put_le(p + REP_GEN, rep->gen, 4);
    mp__put_le(p + REP_NUM, (uint64_t)rep->num, 8);
    mp__put_le(p + REP_LEN, rep->len, 8);
    if (rep->len > 0) {
        memcpy(p + MP__MGR_REP_HDR, rep->data, rep->len);
    }
    *buf = p;
    *len = total;
    return 0;
}

int
mp__mgr_rep_decode(const void *buf, size_t len, mp__mgr_rep_t *rep)
{
    const uint8_t *p = buf;
    if (p == NULL || rep == NULL || len < MP__MGR_REP_HDR) {
        return MP_EPROTO;
    }
    int32_t status = (int32_t)(uint32_t)mp__get_le(p + REP_STATUS, 4);
    uint64_t dlen = mp__get_le(p + REP_LEN, 8);
    /* A status is 0 or a negative mp error, never positive. */
    if (status > 0 || dlen != len - MP__MGR_REP_HDR) {
        return MP_EPROTO;
    }
    void *data = NULL;
    if (dlen > 0) {
        data = mp__malloc((size_t)dlen);
        if (data == NULL) {
            return MP_ENOMEM;
        }
        memcpy(data, p + MP__MGR_REP_HDR, (size_t)dlen);
    }
    rep->status = status;
    rep->gen = (uint32_t)mp__get_le(p + REP_GEN, 4);
    rep->num = (int64_t)mp__get_le(p + REP_NUM, 8);
    rep->data = data;
    rep->len = (size_t)dlen;
    return 0;
}
