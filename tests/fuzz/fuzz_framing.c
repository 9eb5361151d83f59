/* SPDX-License-Identifier: MIT */
/* fuzz_framing.c - fuzzes Python's message framing: the header codec
 * (decode, and encode/decode agreement) and a connection reading a stream
 * made of the input until it ends or breaks. */
#include "fuzz.h"

#include "ipc/ipc_internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Refusals above this keep a hostile length from allocating much. */
#define FRAMING_MAXLEN 65536u

/* Decodes the input's first bytes as a header and, when it is valid,
 * checks that encoding the length gives a header that decodes back. */
static void
framing_codec(const uint8_t *data, size_t size)
{
    uint8_t hdr[MP__FRAME_HDR_MAX] = {0};
    memcpy(hdr, data, size < sizeof hdr ? size : sizeof hdr);
    size_t need = 0;
    uint64_t len = 0;
    int r = mp__frame_decode(hdr, MP__FRAME_HDR_SHORT, &need, &len);
    if (r == 0) {
        if (need != MP__FRAME_HDR_MAX) {
            abort();
        }
        r = mp__frame_decode(hdr, MP__FRAME_HDR_MAX, &need, &len);
    }
    if (r != 1) {
        return;
    }
    uint8_t again[MP__FRAME_HDR_MAX];
    size_t n = mp__frame_encode(len, again);
    uint64_t back = 0;
    if (mp__frame_decode(again, n, &need, &back) != 1 || back != len) {
        abort();
    }
}

/* Writes the input into one end of a socketpair, closes it, and reads
 * messages from the other until an error: the first input byte picks
 * fresh buffers or a small fixed one. */
static void
framing_stream(const uint8_t *data, size_t size)
{
    mp_conn_t *a = NULL, *b = NULL;
    if (mp_pipe(&a, &b, true) != 0) {
        abort();
    }
    bool into = size > 0 && (data[0] & 1);
    size_t off = 0;
    int fd = mp_conn_fileno(b);
    while (off < size) {
        ssize_t n = write(fd, data + off, size - off);
        if (n <= 0) {
            abort();
        }
        off += (size_t)n;
    }
    mp_conn_destroy(b);
    for (;;) {
        ssize_t n;
        if (into) {
            uint8_t buf[64];
            n = mp_conn_recv_bytes_into(a, buf, sizeof buf, MP_NO_WAIT);
        } else {
            void *msg = NULL;
            n = mp_conn_recv_bytes(a, &msg, FRAMING_MAXLEN, MP_NO_WAIT);
            if (n >= 0) {
                mp_free(msg);
            }
        }
        /* A refused message was skipped: the stream goes on. */
        if (n < 0 && n != MP_EMSGSIZE) {
            break;
        }
    }
    mp_conn_destroy(a);
}

int
mp_fuzz_framing(const uint8_t *data, size_t size)
{
    if (size > MP_FUZZ_MAX_INPUT) {
        size = MP_FUZZ_MAX_INPUT;
    }
    framing_codec(data, size);
    framing_stream(data, size);
    return 0;
}

#ifdef MP_FUZZ_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return mp_fuzz_framing(data, size);
}
#endif
