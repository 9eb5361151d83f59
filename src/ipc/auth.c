/* SPDX-License-Identifier: MIT */
/* auth.c - the authkey handshake of multiprocessing.connection
 * (deliver_challenge / answer_challenge), legacy HMAC-MD5 and "{digest}"
 * forms, with HMAC from OpenSSL's libcrypto. See ipc_internal.h. */
#include "ipc_internal.h"

#include "../platform/platform.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

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
    if (RAND_bytes(out + off, (int)AUTH_NONCE) != 1) {
        return MP_EAUTH;
    }
    return 0;
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

int
mp__auth_recv(mp_conn_t *c, uint8_t buf[MP__AUTH_MSG_MAX], size_t *len,
              int64_t deadline)
{
    int r = mp_conn_fileno(c);
    if (r < 0) {
        return r;
    }
    bool started = false;
    uint64_t n = 0;
    /* Strict: every read of a handshake is bounded by the deadline, so a
     * peer that stalls mid-message cannot hold the caller. */
    r = mp__conn_read_header(c, deadline, true, &started, &n);
    if (r < 0) {
        return r;
    }
    /* Refused before a byte of the payload is read: an unauthenticated
     * peer gets no memory and no reading time out of us. */
    if (n > MP__AUTH_MSG_MAX) {
        return MP_EMSGSIZE;
    }
    r = mp__conn_read_exact(c, buf, (size_t)n, deadline, true, &started);
    if (r < 0) {
        return r;
    }
    *len = (size_t)n;
    return 0;
}

int
mp__auth_deliver(mp_conn_t *c, const void *key, size_t keylen, int64_t deadline)
{
    uint8_t chal[MP__AUTH_CHALLENGE_LEN];
    int r = mp__auth_challenge(chal);
    if (r == 0) {
        r = mp_conn_send_bytes(c, chal, sizeof chal);
    }
    uint8_t resp[MP__AUTH_MSG_MAX];
    size_t resp_len = 0;
    if (r == 0) {
        r = mp__auth_recv(c, resp, &resp_len, deadline);
    }
    if (r < 0) {
        return r;
    }
    const size_t pre = AUTH_LIT_LEN(AUTH_CHALLENGE);
    r = mp__auth_check(key, keylen, chal + pre, sizeof chal - pre, resp,
                       resp_len);
    if (r < 0) {
        /* The peer learns it failed, as from Python; our error wins over
         * any error of telling it. */
        (void)mp_conn_send_bytes(c, AUTH_FAILURE, AUTH_LIT_LEN(AUTH_FAILURE));
        return r;
    }
    return mp_conn_send_bytes(c, AUTH_WELCOME, AUTH_LIT_LEN(AUTH_WELCOME));
}

int
mp__auth_answer(mp_conn_t *c, const void *key, size_t keylen, int64_t deadline)
{
    uint8_t msg[MP__AUTH_MSG_MAX];
    size_t len = 0;
    int r = mp__auth_recv(c, msg, &len, deadline);
    if (r < 0) {
        return r;
    }
    uint8_t resp[MP__AUTH_RESPONSE_MAX];
    size_t resp_len = 0;
    r = mp__auth_response(key, keylen, msg, len, resp, &resp_len);
    if (r == 0) {
        r = mp_conn_send_bytes(c, resp, resp_len);
    }
    if (r == 0) {
        r = mp__auth_recv(c, msg, &len, deadline);
    }
    if (r < 0) {
        return r;
    }
    if (len != AUTH_LIT_LEN(AUTH_WELCOME) ||
        memcmp(msg, AUTH_WELCOME, len) != 0) {
        return MP_EAUTH; /* Python: "digest sent was rejected" */
    }
    return 0;
}
