/* SPDX-License-Identifier: MIT */
/* pack.c - packed lists of byte strings (keys, items, slices, extend) and
 * the reply's cleanup: the format manager_internal.h describes. */
#include "manager_internal.h"

#include "../common/bytes.h"

#include <string.h>

void
mp__mgr_rep_clear(mp__mgr_rep_t *rep)
{
    if (rep == NULL) {
        return;
    }
    mp__free(rep->data);
    rep->data = NULL;
    rep->len = 0;
}

int
mp__mgr_pack_size(const mp_buf_t *bufs, size_t count, size_t *len)
{
    size_t n = 0;
    for (size_t i = 0; i < count; i++) {
        if (!mp__size_add(n, 8, &n) || !mp__size_add(n, bufs[i].len, &n)) {
            return MP_ENOMEM;
        }
    }
    *len = n;
    return 0;
}

void
mp__mgr_pack(const mp_buf_t *bufs, size_t count, uint8_t *dst)
{
    for (size_t i = 0; i < count; i++) {
        mp__put_le(dst, bufs[i].len, 8);
        dst += 8;
        if (bufs[i].len > 0) {
            memcpy(dst, bufs[i].data, bufs[i].len);
        }
        dst += bufs[i].len;
    }
}

int
mp__mgr_unpack(const void *packed, size_t len, size_t count, mp_buf_t **out)
{
    const uint8_t *p = packed;
    if (out == NULL || (len > 0 && p == NULL)) {
        return MP_EINVAL;
    }
    *out = NULL;
    /* Every entry takes at least 8 bytes: bounds count before allocating. */
    if (count > len / 8) {
        return MP_EPROTO;
    }
    size_t off = 0;
    for (size_t i = 0; i < count; i++) {
        if (len - off < 8) {
            return MP_EPROTO;
        }
        uint64_t n = mp__get_le(p + off, 8);
        off += 8;
        if (n > len - off) {
            return MP_EPROTO;
        }
        off += (size_t)n;
    }
    if (off != len) {
        return MP_EPROTO;
    }
    size_t data_bytes = len - 8 * count;
    size_t bytes;
    mp_buf_t *bufs = NULL;
    if (mp__size_mul(count, sizeof *bufs, &bytes) &&
        mp__size_add(bytes, data_bytes, &bytes) &&
        mp__size_add(bytes, 1, &bytes)) {
        bufs = mp__malloc(bytes);
    }
    if (bufs == NULL) {
        return MP_ENOMEM;
    }
    uint8_t *dst = (uint8_t *)(bufs + count);
    off = 0;
    for (size_t i = 0; i < count; i++) {
        size_t n = (size_t)mp__get_le(p + off, 8);
        off += 8;
        bufs[i].data = dst;
        bufs[i].len = n;
        if (n > 0) {
            memcpy(dst, p + off, n);
        }
        dst += n;
        off += n;
    }
    *out = bufs;
    return 0;
}
