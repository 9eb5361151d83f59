/* SPDX-License-Identifier: MIT */
/* ipc_internal.h - the message frame codec shared by every connection
 * (pipes today, Listener/Client later) and by fuzzers, and the test hook
 * of a connection's receive (mp__conn_test_hook).
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
#include <sys/socket.h>

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

/* Test hook of connection.c's receive (tests count calls, never time):
 * when non-NULL it is called with one of these points. */
/* A read of a connection's socket or pipe was made (header or payload). */
#define MP__CONN_HOOK_READ 1
/* That read found no data (EAGAIN): a spin's retry or a readiness wait
 * follows. */
#define MP__CONN_HOOK_READ_EMPTY 2
/* A receive's spin yields the CPU once (conn_spin_again). */
#define MP__CONN_HOOK_YIELD 3
extern void (*mp__conn_test_hook)(int point);

/* --- authentication handshake (auth.c) ------------------------------------
 * Python's multiprocessing.connection challenge/response (deliver_challenge
 * and answer_challenge), both the legacy HMAC-MD5 form (CPython <= 3.11)
 * and the "{digest}"-prefixed form (>= 3.12). */

/* The most a handshake message may hold (Python reads them with
 * maxlength 256); larger ones are refused before their payload is read. */
#define MP__AUTH_MSG_MAX 256u
/* The challenge this library sends: "#CHALLENGE#{sha256}" + 40 random
 * bytes (59 bytes), which Python 3.11 and 3.12+ answerers both accept. */
#define MP__AUTH_CHALLENGE_LEN 59u
/* Room for any response mp__auth_response writes ("{sha3_384}" + 48). */
#define MP__AUTH_RESPONSE_MAX 80u

/* mp__auth_challenge fills out with a fresh challenge message (payload of
 * the first frame deliver_challenge sends), its nonce from the kernel's
 * CSPRNG (mp__plat_secret_bytes). Returns 0, or that call's error when no
 * random bytes could be had. */
int mp__auth_challenge(uint8_t out[MP__AUTH_CHALLENGE_LEN]);

/* mp__auth_response computes the answer to the received challenge payload
 * chal (which must start with "#CHALLENGE#"): a raw HMAC-MD5 for a legacy
 * 20-byte nonce, else "{name}" + HMAC-name over the whole nonce message.
 * Pure. Returns 0 with out/out_len set, or MP_EAUTH (not a challenge, too
 * short, unknown digest, or the digest is unavailable). */
int mp__auth_response(const void *key, size_t keylen, const uint8_t *chal,
                      size_t chal_len, uint8_t out[MP__AUTH_RESPONSE_MAX],
                      size_t *out_len);

/* mp__auth_check verifies response resp to the nonce message m (the
 * challenge payload after "#CHALLENGE#") in constant time. Pure. Returns 0
 * when it matches, else MP_EAUTH. */
int mp__auth_check(const void *key, size_t keylen, const uint8_t *m,
                   size_t mlen, const uint8_t *resp, size_t resp_len);

/* A handshake in progress on a socket, advanced without blocking by
 * mp__auth_hs_step: a program of steps (deliver_challenge, then
 * answer_challenge, or the other way round), a frame being read (never
 * past its end) and a frame being sent. Holds no resources: a caller may
 * drop it at any point. */
typedef struct {
    const void *key; /* borrowed for the handshake's life */
    size_t keylen;
    uint8_t prog[4]; /* the steps, 0-terminated when fewer than 4 */
    uint8_t pc;      /* the step under way */
    bool hdr_done;   /* the frame's header is read; h->in_len is known */
    int fail;        /* the error to return once #FAILURE# is sent */
    size_t hdr_have, hdr_need;
    uint8_t hdr[MP__FRAME_HDR_MAX];
    size_t in_len, in_have;
    uint8_t in[MP__AUTH_MSG_MAX];
    size_t out_len, out_off;
    uint8_t out[MP__FRAME_HDR_SHORT + MP__AUTH_RESPONSE_MAX];
    uint8_t chal[MP__AUTH_CHALLENGE_LEN]; /* ours, while delivering */
} mp__auth_hs_t;

/* mp__auth_hs_init sets h up for a handshake with key (kept by pointer):
 * deliver_challenge first (the listener's order) or answer_challenge first
 * (the client's), and with both the other half after it. Never fails. */
void mp__auth_hs_init(mp__auth_hs_t *h, const void *key, size_t keylen,
                      bool deliver_first, bool both);

/* mp__auth_hs_step advances h on socket fd as far as it can go without
 * blocking. Returns 1 when the handshake succeeded (no byte after it was
 * read), 0 when it waits for the socket (*events: POLLIN or POLLOUT), or an
 * error: MP_EAUTH (wrong key or a malformed handshake; a peer that answered
 * wrongly was sent "#FAILURE#"), MP_EOF (closed before a frame),
 * MP_EPROTO (closed inside one, or a malformed header), MP_EMSGSIZE (a
 * frame over MP__AUTH_MSG_MAX, refused from its header) or a system error.
 * After 1 or an error, h must not be stepped again. */
int mp__auth_hs_step(mp__auth_hs_t *h, int fd, short *events);

/* mp__auth_hs_run steps h on fd until it ends, waiting no later than
 * deadline. Returns 0, MP_ETIMEDOUT, or an error of mp__auth_hs_step. */
int mp__auth_hs_run(mp__auth_hs_t *h, int fd, int64_t deadline);

/* mp__auth_deliver runs deliver_challenge on c (send a challenge, check the
 * answer, send #WELCOME# or #FAILURE#); mp__auth_answer runs
 * answer_challenge (answer, then expect #WELCOME#). Reads are bounded by
 * deadline. Both return 0, MP_EAUTH (wrong key or a malformed handshake),
 * or an error of mp__auth_hs_step, or MP_ETIMEDOUT. */
int mp__auth_deliver(mp_conn_t *c, const void *key, size_t keylen,
                     int64_t deadline);
int mp__auth_answer(mp_conn_t *c, const void *key, size_t keylen,
                    int64_t deadline);

/* --- listener addresses (listener.c) ------------------------------------- */

/* A parsed listener address: what socket(), bind() and connect() need. */
typedef struct {
    struct sockaddr_storage sa;
    socklen_t len;
    int family;
} mp__lst_addr_t;

/* mp__lst_parse_address parses address: a string with a '/' is an AF_UNIX
 * path; anything else must be HOST:PORT ("[v6]:PORT" for an IPv6 literal,
 * port 0 .. 65535), resolved with getaddrinfo (first result; with
 * numeric_only a host must be a numeric address, so no name service is
 * asked: the fuzzer's mode). Returns 0 or MP_EINVAL, MP_ENAMETOOLONG,
 * MP_ENOENT (unknown host) and other resolver errors. */
int mp__lst_parse_address(const char *address, bool numeric_only,
                          mp__lst_addr_t *a);

/* mp__lst_format_inet writes the text form ("1.2.3.4:80", "[::1]:80") of
 * an AF_INET or AF_INET6 address into buf, which the parser reads back as
 * the same address. */
void mp__lst_format_inet(const struct sockaddr_storage *ss, char *buf,
                         size_t buflen);

/* mp__wait_fds waits up to timeout until at least one of the n fds is
 * readable or hung up; ready (n entries, may be NULL) receives which ones.
 * With n 0 it just waits out the timeout. Returns how many are ready (0
 * when the timeout passed), or MP_EINVAL (NULL fds with n > 0, a negative
 * fd, n too large, bad timeout), MP_EBADF (an fd that is not open),
 * MP_ENOMEM. mp_wait_any's engine (src/wait/wait_any.c). */
int mp__wait_fds(const int *fds, size_t n, bool *ready, mp_duration_t timeout);

#endif /* MP_IPC_INTERNAL_H */
