/* SPDX-License-Identifier: MIT */
/* framing.c - encode and decode message headers in Python's
 * multiprocessing.connection format (see ipc_internal.h). */
#include "ipc_internal.h"

#include "../common/bytes.h"

#include <errno.h>

size_t
mp__frame_encode(uint64_t len, uint8_t hdr[MP__FRAME_HDR_MAX])
{
    if (len <= MP__FRAME_SHORT_MAX) {
        mp__put_be(hdr, len, MP__FRAME_HDR_SHORT);
        return MP__FRAME_HDR_SHORT;
    }
    mp__put_be(hdr, UINT32_C(0xFFFFFFFF), MP__FRAME_HDR_SHORT);
    mp__put_be(hdr + MP__FRAME_HDR_SHORT, len, 8);
    return MP__FRAME_HDR_MAX;
}

int
mp__frame_decode(const uint8_t *hdr, size_t have, size_t *need, uint64_t *len)
{
    MP__ASSERT(have >= MP__FRAME_HDR_SHORT);
    uint32_t word = (uint32_t)mp__get_be(hdr, MP__FRAME_HDR_SHORT);
    if (word <= MP__FRAME_SHORT_MAX) {
        *len = word;
        return 1;
    }
    /* Python reads any other negative int32 as an empty message; such a
     * header only comes from a broken or hostile peer, so reject it. */
    if (word != UINT32_C(0xFFFFFFFF)) {
        return -EPROTO;
    }
    if (have < MP__FRAME_HDR_MAX) {
        *need = MP__FRAME_HDR_MAX;
        return 0;
    }
    /* Python accepts any escaped length, even a small one; so do we, up to
     * what a signed size can report. */
    uint64_t v = mp__get_be(hdr + MP__FRAME_HDR_SHORT, 8);
    if (v > MP__FRAME_LEN_MAX) {
        return -EPROTO;
    }
    *len = v;
    return 1;
}
