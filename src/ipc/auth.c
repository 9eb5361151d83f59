/* SPDX-License-Identifier: MIT */
/* auth.c - the authkey handshake of multiprocessing.connection
 * (deliver_challenge / answer_challenge), legacy HMAC-MD5 and "{digest}"
 * forms, with HMAC from OpenSSL's libcrypto: one non-blocking state
 * machine, driven by the listener over many sockets at once and by the
 * blocking helpers here. See ipc_internal.h. */
#include "ipc_internal.h"

#include "../platform/platform.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#define AUTH_CHALLENGE "#CHALLENGE#"
#define AUTH_WELCOME "#WELCOME#"
#define AUTH_FAILURE "#FAILURE#"
#define AUTH_LIT_LEN(s) (sizeof(s) - 1)
/* Legacy nonces are 20 bytes; a legacy MD5 answer is 16. Messages of
 * either length carry no "{digest}" prefix (Python's rule). */
#define AUTH_LEGACY_NONCE 20u
#define AUTH_MD5_LEN 16u
/* The nonce of our own challenges (Python 3.12's MESSAGE_LENGTH). */
#define AUTH_NONCE 40u
#define AUTH_OUR_PREFIX "{sha256}"
/* A "}" is looked for at indexes 1 .. 9 (the longest name is 8). */
#define AUTH_NAME_MAX 8u

/* The digests a peer may name: Python's _ALLOWED_DIGESTS. */
static const struct {
    const char *name;
    const EVP_MD *(*md)(void);
} auth_digests[] = {
    {"md5", EVP_md5},           {"sha256", EVP_sha256},
    {"sha384", EVP_sha384},     {"sha3_256", EVP_sha3_256},
    {"sha3_384", EVP_sha3_384},
};
#define AUTH_MD5 0
#define AUTH_NDIGESTS (sizeof auth_digests / sizeof auth_digests[0])

/* Classifies a challenge nonce message or a response: legacy lengths are
 * raw MD5 (*prefixed false, *off 0); otherwise it must start with an
 * allowed "{name}", whose end is stored in *off. Returns the digest's index
 * in auth_digests, or -1. */
static int
auth_classify(const uint8_t *msg, size_t len, bool *prefixed, size_t *off)
{
    *prefixed = false;
    *off = 0;
    if (len == AUTH_LEGACY_NONCE || len == AUTH_MD5_LEN) {
        return AUTH_MD5;
    }
    if (len < 2 || msg[0] != '{') {
        return -1;
    }
    size_t end = 1;
    while (end < len && end <= AUTH_NAME_MAX + 1 && msg[end] != '}') {
        end++;
    }
    if (end >= len || end > AUTH_NAME_MAX + 1 || msg[end] != '}') {
        return -1;
    }
    size_t name_len = end - 1;
    for (size_t i = 0; i < AUTH_NDIGESTS; i++) {
        if (strlen(auth_digests[i].name) == name_len &&
            memcmp(auth_digests[i].name, msg + 1, name_len) == 0) {
            *prefixed = true;
            *off = end + 1;
            return (int)i;
        }
    }
    return -1;
}

/* HMAC of msg under key with digest number d into out (EVP_MAX_MD_SIZE
 * bytes). Returns the MAC length, or 0 if the digest is unavailable. */
static unsigned
auth_hmac(int d, const void *key, size_t keylen, const uint8_t *msg, size_t len,
          uint8_t *out)
{
    /* OpenSSL reads a NULL key as "keep the previous key": give the empty
     * key a real address. */
    static const uint8_t empty_key[1];
    const EVP_MD *md = auth_digests[d].md();
    unsigned out_len = 0;
    if (md == NULL || keylen > (size_t)INT32_MAX ||
        HMAC(md, keylen > 0 ? key : empty_key, (int)keylen, msg, len, out,
             &out_len) == NULL) {
        return 0;
    }
    return out_len;
}

int
mp__auth_challenge(uint8_t out[MP__AUTH_CHALLENGE_LEN])
{
    size_t off = 0;
    memcpy(out, AUTH_CHALLENGE, AUTH_LIT_LEN(AUTH_CHALLENGE));
    off += AUTH_LIT_LEN(AUTH_CHALLENGE);
    memcpy(out + off, AUTH_OUR_PREFIX, AUTH_LIT_LEN(AUTH_OUR_PREFIX));
    off += AUTH_LIT_LEN(AUTH_OUR_PREFIX);
    MP__ASSERT(off + AUTH_NONCE == MP__AUTH_CHALLENGE_LEN);
    return mp__plat_secret_bytes(out + off, AUTH_NONCE);
}

int
mp__auth_response(const void *key, size_t keylen, const uint8_t *chal,
                  size_t chal_len, uint8_t out[MP__AUTH_RESPONSE_MAX],
                  size_t *out_len)
{
    const size_t pre = AUTH_LIT_LEN(AUTH_CHALLENGE);
    if (chal_len < pre || memcmp(chal, AUTH_CHALLENGE, pre) != 0) {
        return MP_EAUTH;
    }
    const uint8_t *m = chal + pre;
    size_t mlen = chal_len - pre;
    if (mlen < AUTH_LEGACY_NONCE) {
        return MP_EAUTH; /* Python: "challenge too short" */
    }
    bool prefixed;
    size_t off;
    int d = auth_classify(m, mlen, &prefixed, &off);
    if (d < 0) {
        return MP_EAUTH;
    }
    size_t n = 0;
    if (prefixed) {
        /* "{name}" then the MAC, which covers the whole message m. */
        memcpy(out, m, off);
        n = off;
    }
    uint8_t mac[EVP_MAX_MD_SIZE];
    unsigned mac_len = auth_hmac(d, key, keylen, m, mlen, mac);
    if (mac_len == 0 || n + mac_len > MP__AUTH_RESPONSE_MAX) {
        return MP_EAUTH;
    }
    memcpy(out + n, mac, mac_len);
    *out_len = n + mac_len;
    return 0;
}

int
mp__auth_check(const void *key, size_t keylen, const uint8_t *m, size_t mlen,
               const uint8_t *resp, size_t resp_len)
{
    bool prefixed;
    size_t off;
    int d = auth_classify(resp, resp_len, &prefixed, &off);
    if (d < 0) {
        return MP_EAUTH;
    }
    uint8_t mac[EVP_MAX_MD_SIZE];
    unsigned mac_len = auth_hmac(d, key, keylen, m, mlen, mac);
    if (mac_len == 0 || mac_len != resp_len - off ||
        CRYPTO_memcmp(mac, resp + off, mac_len) != 0) {
        return MP_EAUTH;
    }
    return 0;
}

/* The steps of a handshake (mp__auth_hs_t.prog): deliver_challenge is
 * CHALLENGE then CHECK, answer_challenge is RESPOND then WELCOMED. */
enum {
    HS_END = 0,
    HS_CHALLENGE, /* send our challenge */
    HS_CHECK,     /* read the answer; send #WELCOME# or #FAILURE# */
    HS_RESPOND,   /* read the peer's challenge; send our answer */
    HS_WELCOMED,  /* read the peer's verdict */
};

void
mp__auth_hs_init(mp__auth_hs_t *h, const void *key, size_t keylen,
                 bool deliver_first, bool both)
{
    memset(h, 0, sizeof *h);
    h->key = key;
    h->keylen = keylen;
    uint8_t deliver[2] = {HS_CHALLENGE, HS_CHECK};
    uint8_t answer[2] = {HS_RESPOND, HS_WELCOMED};
    memcpy(h->prog, deliver_first ? deliver : answer, 2);
    if (both) {
        memcpy(h->prog + 2, deliver_first ? answer : deliver, 2);
    }
}

/* Queues payload as one frame for sending. */
static void
hs_queue(mp__auth_hs_t *h, const void *payload, size_t len)
{
    MP__ASSERT(MP__FRAME_HDR_SHORT + len <= sizeof h->out);
    size_t n = mp__frame_encode(len, h->out);
    memcpy(h->out + n, payload, len);
    h->out_len = n + len;
    h->out_off = 0;
}

/* Reads what is available of the next handshake frame, never past its
 * end (bytes after it belong to the connection). Returns 1 when the frame
 * is complete (h->in_len bytes in h->in), 0 when the socket has no more
 * for now, MP_EOF (closed before the frame), MP_EPROTO (closed inside it,
 * or a malformed header), MP_EMSGSIZE (over MP__AUTH_MSG_MAX: refused from
 * its header, nothing of the payload read) or a system error. */
static int
hs_read(mp__auth_hs_t *h, int fd)
{
    for (;;) {
        uint8_t *p;
        size_t want;
        if (!h->hdr_done) {
            size_t need = h->hdr_need != 0 ? h->hdr_need : MP__FRAME_HDR_SHORT;
            if (h->hdr_have == need) {
                uint64_t len = 0;
                int r =
                    mp__frame_decode(h->hdr, h->hdr_have, &h->hdr_need, &len);
                if (r < 0) {
                    return MP_EPROTO;
                }
                if (r == 0) {
                    continue; /* the long header: read its 8 more bytes */
                }
                if (len > MP__AUTH_MSG_MAX) {
                    return MP_EMSGSIZE;
                }
                h->hdr_done = true;
                h->in_len = (size_t)len;
                h->in_have = 0;
                continue;
            }
            p = h->hdr + h->hdr_have;
            want = need - h->hdr_have;
        } else {
            if (h->in_have == h->in_len) {
                h->hdr_done = false;
                h->hdr_have = 0;
                h->hdr_need = 0;
                return 1;
            }
            p = h->in + h->in_have;
            want = h->in_len - h->in_have;
        }
        ssize_t n = mp__plat_recv_nb(fd, p, want);
        if (n == -EAGAIN) {
            return 0;
        }
        if (n < 0) {
            return (int)n;
        }
        if (n == 0) {
            return h->hdr_have == 0 ? MP_EOF : MP_EPROTO;
        }
        if (h->hdr_done) {
            h->in_have += (size_t)n;
        } else {
            h->hdr_have += (size_t)n;
        }
    }
}

/* Runs the step prog[pc] on the frame just read (or, for HS_CHALLENGE,
 * with none), queuing what it sends. Returns 0 or an error. */
static int
hs_apply(mp__auth_hs_t *h)
{
    const size_t pre = AUTH_LIT_LEN(AUTH_CHALLENGE);
    uint8_t resp[MP__AUTH_RESPONSE_MAX];
    size_t resp_len = 0;
    int r;
    switch (h->prog[h->pc]) {
    case HS_CHALLENGE:
        r = mp__auth_challenge(h->chal);
        if (r == 0) {
            hs_queue(h, h->chal, sizeof h->chal);
        }
        return r;
    case HS_CHECK:
        r = mp__auth_check(h->key, h->keylen, h->chal + pre,
                           sizeof h->chal - pre, h->in, h->in_len);
        if (r < 0) {
            /* The peer learns it failed, as from Python; our error wins
             * over any error of telling it. */
            h->fail = r;
            hs_queue(h, AUTH_FAILURE, AUTH_LIT_LEN(AUTH_FAILURE));
            return 0;
        }
        hs_queue(h, AUTH_WELCOME, AUTH_LIT_LEN(AUTH_WELCOME));
        return 0;
    case HS_RESPOND:
        r = mp__auth_response(h->key, h->keylen, h->in, h->in_len, resp,
                              &resp_len);
        if (r == 0) {
            hs_queue(h, resp, resp_len);
        }
        return r;
    default: /* HS_WELCOMED */
        if (h->in_len != AUTH_LIT_LEN(AUTH_WELCOME) ||
            memcmp(h->in, AUTH_WELCOME, h->in_len) != 0) {
            return MP_EAUTH; /* Python: "digest sent was rejected" */
        }
        return 0;
    }
}

int
mp__auth_hs_step(mp__auth_hs_t *h, int fd, short *events)
{
    for (;;) {
        if (h->out_off < h->out_len) {
            ssize_t n = mp__plat_send_nb(fd, h->out + h->out_off,
                                         h->out_len - h->out_off);
            if (n == -EAGAIN) {
                *events = POLLOUT;
                return 0;
            }
            if (n < 0) {
                return h->fail != 0 ? h->fail : (int)n;
            }
            h->out_off += (size_t)n;
            continue;
        }
        if (h->fail != 0) {
            return h->fail;
        }
        if (h->pc == sizeof h->prog || h->prog[h->pc] == HS_END) {
            return 1;
        }
        if (h->prog[h->pc] != HS_CHALLENGE) {
            int r = hs_read(h, fd);
            if (r == 0) {
                *events = POLLIN;
                return 0;
            }
            if (r < 0) {
                return r;
            }
        }
        int r = hs_apply(h);
        if (r < 0) {
            return r;
        }
        h->pc++;
    }
}

int
mp__auth_hs_run(mp__auth_hs_t *h, int fd, int64_t deadline)
{
    for (;;) {
        short events = 0;
        int r = mp__auth_hs_step(h, fd, &events);
        if (r != 0) {
            return r < 0 ? r : 0;
        }
        r = mp__plat_poll_fd(fd, events, deadline);
        if (r < 0) {
            return r;
        }
        if (r == 0) {
            return MP_ETIMEDOUT;
        }
    }
}

/* Runs half a handshake (deliver or answer) on connection c. */
static int
auth_half(mp_conn_t *c, const void *key, size_t keylen, bool deliver,
          int64_t deadline)
{
    int fd = mp_conn_fileno(c);
    if (fd < 0) {
        return fd;
    }
    mp__auth_hs_t h;
    mp__auth_hs_init(&h, key, keylen, deliver, false);
    return mp__auth_hs_run(&h, fd, deadline);
}

int
mp__auth_deliver(mp_conn_t *c, const void *key, size_t keylen, int64_t deadline)
{
    return auth_half(c, key, keylen, true, deadline);
}

int
mp__auth_answer(mp_conn_t *c, const void *key, size_t keylen, int64_t deadline)
{
    return auth_half(c, key, keylen, false, deadline);
}
