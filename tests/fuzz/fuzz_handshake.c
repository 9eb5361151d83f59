/* SPDX-License-Identifier: MIT */
/* fuzz_handshake.c - fuzzes the authkey handshake: the input is parsed as
 * a challenge and as a response, and is fed as the peer's bytes to both
 * sides of the handshake (answer_challenge and deliver_challenge). */
#include "fuzz.h"

#include "ipc/ipc_internal.h"

#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#define HS_KEY "fuzz key"
#define HS_KEYLEN 8u

/* Parses the input as a challenge payload and as a response to a fixed
 * challenge; an answer we compute must always verify. */
static void
handshake_parse(const uint8_t *data, size_t size)
{
    uint8_t resp[MP__AUTH_RESPONSE_MAX];
    size_t rlen = 0;
    if (mp__auth_response(HS_KEY, HS_KEYLEN, data, size, resp, &rlen) == 0) {
        if (rlen == 0 || rlen > sizeof resp ||
            mp__auth_check(HS_KEY, HS_KEYLEN, data + 11, size - 11, resp,
                           rlen) != 0) {
            abort();
        }
    }
    static const uint8_t m[] =
        "{sha256}0123456789012345678901234567890123456789";
    (void)mp__auth_check(HS_KEY, HS_KEYLEN, m, sizeof m - 1, data, size);
}

/* Runs one side of the handshake on a socketpair whose peer end sent the
 * input and then closed. */
static void
handshake_side(const uint8_t *data, size_t size, bool server)
{
    mp_conn_t *a = NULL, *b = NULL;
    if (mp_pipe(&a, &b, true) != 0) {
        abort();
    }
    int fd = mp_conn_fileno(b);
    size_t off = 0;
    while (off < size) {
        ssize_t n = write(fd, data + off, size - off);
        if (n <= 0) {
            abort();
        }
        off += (size_t)n;
    }
    (void)shutdown(fd, SHUT_WR);
    /* The input is all there: reads never wait, the deadline only guards
     * against a bug. */
    int64_t deadline = mp__now_ns() + INT64_C(5000000000);
    int r = server ? mp__auth_deliver(a, HS_KEY, HS_KEYLEN, deadline)
                   : mp__auth_answer(a, HS_KEY, HS_KEYLEN, deadline);
    if (r == MP_ETIMEDOUT) {
        abort();
    }
    mp_conn_destroy(a);
    mp_conn_destroy(b);
}

int
mp_fuzz_handshake(const uint8_t *data, size_t size)
{
    if (size > MP_FUZZ_MAX_INPUT) {
        size = MP_FUZZ_MAX_INPUT;
    }
    handshake_parse(data, size);
    handshake_side(data, size, false);
    handshake_side(data, size, true);
    return 0;
}

#ifdef MP_FUZZ_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return mp_fuzz_handshake(data, size);
}
#endif
