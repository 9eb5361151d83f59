/* SPDX-License-Identifier: MIT */
/* ipc_internal.h - the message frame codec shared by every connection
 * (pipes today, Listener/Client later) and by fuzzers.
 *
 * The wire format is Python's multiprocessing.connection framing:
 *   len <= 0x7FFFFFFF : [int32 big-endian len] [payload]
 *   len >  0x7FFFFFFF : [FF FF FF FF] [uint64 big-endian len] [payload]
 * The codec functions are pure: they touch only the buffers they are given,
 * so any I/O loop (blocking, with deadlines, or event-driven) can use them. */
#ifndef MP_IPC_INTERNAL_H
#define MP_IPC_INTERNAL_H

#include "../common/mp_internal.h"

#include <stddef.h>
#include <stdint.h>

/* The short header, and the long one (escape word + 64-bit length). */
#define MP__FRAME_HDR_SHORT 4u
#define MP__FRAME_HDR_MAX 12u
/* The largest length that still fits the short header (Python sends
 * exactly 0x7FFFFFFF with the short header, anything above escaped). */
#define MP__FRAME_SHORT_MAX UINT32_C(0x7FFFFFFF)
/* The largest length the decoder accepts: what ssize_t can return. */
#define MP__FRAME_LEN_MAX ((uint64_t)INT64_MAX)

/* mp__frame_encode writes the header announcing a payload of len bytes into
 * hdr and returns its size (4 or 12). Never fails. */
size_t mp__frame_encode(uint64_t len, uint8_t hdr[MP__FRAME_HDR_MAX]);

/* mp__frame_decode looks at the first have bytes of a header (have >= 4;
 * read exactly 4 first). Returns 1 with *len set when the header is
 * complete; 0 when more header bytes are needed, with *need set to the full
 * header size (12) to read before calling again; -EPROTO for a header no
 * correct sender produces (a negative length other than the -1 escape, or
 * an escaped length above MP__FRAME_LEN_MAX). */
int mp__frame_decode(const uint8_t *hdr, size_t have, size_t *need,
                     uint64_t *len);

#endif /* MP_IPC_INTERNAL_H */
