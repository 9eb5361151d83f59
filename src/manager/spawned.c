/* SPDX-License-Identifier: MIT */
/* spawned.c - a manager's server started by spawn or forkserver: a fresh
 * exec of the program, which inherits nothing of the starter's memory. The
 * starter hands it a boot record as the process's argument bytes
 * (mp__mgr_boot_encode); the server's target (mp__mgr_spawned_main)
 * rebuilds a manager handle from it, attaches the store the starter made,
 * opens the ready channel by path, and runs the same server main as a
 * forked server. start.c decides which way a server starts.
 *
 * The boot record, integers little-endian, each string a u32 length and
 * its bytes:
 *
 *     "MPMB" u8 version(1) u8[3] 0 u32 total length
 *     u8 default_path   1: listen is the starter's private socket path
 *     str listen        where to listen (mp_listener_create's syntax)
 *     str ready         the ready channel: a named waker (FIFO) path
 *     str store         the store's segment name
 *     u64 store_size
 *     str authkey
 *     u8[16] secret     the shutdown secret
 *     str initializer   its function reference (fnref.c); empty: none
 *     str initargs
 *     u32 n_types       user types (mp_manager_register), then each:
 *       str name, str create, str call, str destroy   (function references)
 *
 * What a forked server inherits and an exec'd one does not: the stop
 * socket (the starter stops it with a SHUTDOWN request carrying the
 * secret instead). A user type's callbacks cross as checked references
 * (fnref.h); one whose arg is not NULL is refused at start (MP_ENOTSUP: a
 * pointer does not cross an exec). */
#include "server_internal.h"

#include "../common/bytes.h"
#include "../platform/platform.h"
#include "../shm/fnref.h"

#include <string.h>

#define BOOT_MAGIC "MPMB"
#define BOOT_VERSION 2u
#define BOOT_HDR 12u

/*--- the starter's side -----------------------------------------------------*/

/* A growing output buffer; err latches the first failure. */
typedef struct boot_out {
    uint8_t *p;
    size_t len, cap;
    int err;
} boot_out_t;

/* Appends n bytes (NULL: zeros). */
static void
out_put(boot_out_t *o, const void *src, size_t n)
{
    if (o->err != 0) {
        return;
    }
    size_t need;
    if (!mp__size_add(o->len, n, &need) || need > UINT32_MAX) {
        o->err = MP_EINVAL;
        return;
    }
    if (need > o->cap) {
        size_t cap = o->cap > 0 ? o->cap : 256;
        while (cap < need) {
            cap *= 2;
        }
        uint8_t *grown = mp__realloc(o->p, cap);
        if (grown == NULL) {
            o->err = MP_ENOMEM;
            return;
        }
        o->p = grown;
        o->cap = cap;
    }
    if (src != NULL) {
        memcpy(o->p + o->len, src, n);
    } else {
        memset(o->p + o->len, 0, n);
    }
    o->len = need;
}

static void
out_u64(boot_out_t *o, uint64_t v, size_t n)
{
    uint8_t b[8];
    mp__put_le(b, v, n);
    out_put(o, b, n);
}

static void
out_str(boot_out_t *o, const void *s, size_t n)
{
    if (n > UINT32_MAX) {
        o->err = MP_EINVAL;
        return;
    }
    out_u64(o, n, 4);
    if (n > 0) {
        out_put(o, s, n);
    }
}

static void
out_cstr(boot_out_t *o, const char *s)
{
    out_str(o, s, s != NULL ? strlen(s) : 0);
}

/* Appends fn's reference as a string field (NULL: an empty one). */
static void
out_fnref(boot_out_t *o, mp__fn_t fn)
{
    void *ref = NULL;
    ssize_t len = fn != NULL ? mp__fnref_encode(fn, &ref) : 0;
    if (len < 0) {
        if (o->err == 0) {
            o->err = (int)len;
        }
        return;
    }
    out_str(o, ref, (size_t)len);
    mp__free(ref);
}

ssize_t
mp__mgr_boot_encode(const mp_manager_t *m, const char *ready_path, void **out)
{
    for (size_t i = 0; i < m->n_types; i++) {
        if (m->types[i].type.arg != NULL) {
            return MP_ENOTSUP; /* a pointer does not cross an exec */
        }
    }
    boot_out_t o = {0};
    const char *listen =
        m->listen_address != NULL ? m->listen_address : m->sock_path;
    out_put(&o, BOOT_MAGIC, 4);
    out_u64(&o, BOOT_VERSION, 1);
    out_put(&o, NULL, 3);
    out_u64(&o, 0, 4); /* the total, below */
    out_u64(&o, m->listen_address == NULL ? 1 : 0, 1);
    out_cstr(&o, listen);
    out_cstr(&o, ready_path);
    out_cstr(&o, mp__store_name(m->srv_store));
    out_u64(&o, m->store_size, 8);
    out_str(&o, m->authkey, m->authkey_len);
    out_put(&o, m->secret, MP__MGR_SECRET_LEN);
    out_fnref(&o, (mp__fn_t)m->initializer);
    out_str(&o, m->initargs, m->initargs_len);
    out_u64(&o, m->n_types, 4);
    for (size_t i = 0; i < m->n_types; i++) {
        const mp__mgr_type_t *t = &m->types[i];
        out_cstr(&o, t->name);
        out_fnref(&o, (mp__fn_t)t->type.create);
        out_fnref(&o, (mp__fn_t)t->type.call);
        out_fnref(&o, (mp__fn_t)t->type.destroy);
    }
    if (o.err != 0) {
        mp__free(o.p);
        return o.err;
    }
    mp__put_le(o.p + 8, o.len, 4);
    *out = o.p;
    return (ssize_t)o.len;
}

/*--- the server's side ------------------------------------------------------*/

/* A reader over the record; ok turns false at the first short field. */
typedef struct boot_in {
    const uint8_t *p;
    size_t len, at;
    bool ok;
} boot_in_t;

static const uint8_t *
in_take(boot_in_t *in, size_t n)
{
    if (!in->ok || in->len - in->at < n) {
        in->ok = false;
        return NULL;
    }
    const uint8_t *at = in->p + in->at;
    in->at += n;
    return at;
}

static uint64_t
in_u64(boot_in_t *in, size_t n)
{
    const uint8_t *p = in_take(in, n);
    return p != NULL ? mp__get_le(p, n) : 0;
}

/* Takes a string field: *len its length, returns its bytes (or NULL). */
static const uint8_t *
in_str(boot_in_t *in, size_t *len)
{
    *len = (size_t)in_u64(in, 4);
    return in_take(in, *len);
}

/* Takes a string field as a fresh C string (no NUL inside; empty: NULL
 * when may_be_empty). */
static char *
in_cstr(boot_in_t *in, bool may_be_empty)
{
    size_t len;
    const uint8_t *s = in_str(in, &len);
    if (!in->ok || (len == 0 && !may_be_empty) ||
        memchr(s, '\0', len) != NULL) {
        in->ok = false;
        return NULL;
    }
    if (len == 0) {
        return NULL;
    }
    char *c = mp__malloc(len + 1);
    if (c == NULL) {
        in->ok = false;
        return NULL;
    }
    memcpy(c, s, len);
    c[len] = '\0';
    return c;
}

/* Copies a byte field into a fresh buffer (one byte more, so never NULL
 * unless out of memory). */
static uint8_t *
in_bytes(boot_in_t *in, size_t *len)
{
    const uint8_t *s = in_str(in, len);
    uint8_t *c = in->ok ? mp__malloc(*len + 1) : NULL;
    if (c == NULL) {
        in->ok = false;
        return NULL;
    }
    if (*len > 0) {
        memcpy(c, s, *len);
    }
    return c;
}

/* Takes a function reference field and resolves it into *fn (an empty
 * one: MP_EPROTO). Returns 0, MP_EPROTO or mp__fnref_decode's error. */
static int
in_fn(boot_in_t *in, mp__fn_t *fn)
{
    size_t len;
    const uint8_t *ref = in_str(in, &len);
    if (!in->ok || len == 0) {
        in->ok = false;
        return MP_EPROTO;
    }
    return mp__fnref_decode(ref, len, fn);
}

/* Takes the user types into m->types (m->n_types). Returns 0, MP_EPROTO
 * (malformed), MP_ENOMEM or the error of resolving a callback. */
static int
in_types(boot_in_t *in, mp_manager_t *m)
{
    size_t n = (size_t)in_u64(in, 4);
    /* Each type takes at least 16 bytes: a forged count allocates none. */
    if (!in->ok || n > (in->len - in->at) / 16) {
        return MP_EPROTO;
    }
    if (n == 0) {
        return 0;
    }
    m->types = mp__calloc(n, sizeof *m->types);
    if (m->types == NULL) {
        return MP_ENOMEM;
    }
    for (; m->n_types < n; m->n_types++) {
        mp__mgr_type_t *t = &m->types[m->n_types];
        size_t len;
        const uint8_t *name = in_str(in, &len);
        if (!in->ok || len == 0 || len > MP__MGR_TYPEID_MAX ||
            memchr(name, '\0', len) != NULL) {
            return MP_EPROTO;
        }
        memcpy(t->name, name, len);
        mp__fn_t create, call, destroy;
        int err = in_fn(in, &create);
        if (err == 0) {
            err = in_fn(in, &call);
        }
        if (err == 0) {
            err = in_fn(in, &destroy);
        }
        if (err != 0) {
            return err;
        }
        t->type.create = (int (*)(void **, const void *, size_t, void *))create;
        t->type.call = (int (*)(void *, const char *, const void *, size_t,
                                void **, size_t *, void *))call;
        t->type.destroy = (void (*)(void *, void *))destroy;
    }
    return 0;
}

/* Fills the fresh handle m from the record at rec. Returns 0, MP_EPROTO
 * (a malformed record) or the error of attaching the store or resolving
 * the initializer (m->ready_fd[1] is open whenever the ready path could be
 * read, so that the error can be reported). */
static int
boot_decode(mp_manager_t *m, const uint8_t *rec)
{
    if (memcmp(rec, BOOT_MAGIC, 4) != 0 || rec[4] != BOOT_VERSION) {
        return MP_EPROTO;
    }
    boot_in_t in = {.p = rec,
                    .len = (size_t)mp__get_le(rec + 8, 4),
                    .at = BOOT_HDR,
                    .ok = true};
    if (in.len < BOOT_HDR) {
        return MP_EPROTO;
    }
    bool default_path = in_u64(&in, 1) == 1;
    char *listen = in_cstr(&in, false);
    char *ready = in_cstr(&in, false);
    if (!in.ok) {
        mp__free(listen);
        mp__free(ready);
        return MP_EPROTO;
    }
    if (default_path) {
        m->sock_path = listen;
    } else {
        m->listen_address = listen;
    }
    int fd = mp__plat_waker_open_named(ready);
    mp__free(ready);
    if (fd < 0) {
        return fd;
    }
    m->ready_fd[1] = fd;
    char *store = in_cstr(&in, false);
    m->store_size = (size_t)in_u64(&in, 8);
    m->authkey = in_bytes(&in, &m->authkey_len);
    const uint8_t *secret = in_take(&in, MP__MGR_SECRET_LEN);
    if (secret != NULL) {
        memcpy(m->secret, secret, MP__MGR_SECRET_LEN);
    }
    size_t fn_len;
    const uint8_t *fn = in_str(&in, &fn_len);
    m->initargs = in_bytes(&in, &m->initargs_len);
    int err = in.ok ? in_types(&in, m) : MP_EPROTO;
    if (err != 0 || !in.ok || in.at != in.len) {
        mp__free(store);
        return err != 0 ? err : MP_EPROTO;
    }
    if (fn_len > 0) {
        mp__fn_t f;
        err = mp__fnref_decode(fn, fn_len, &f);
        if (err == 0) {
            m->initializer = (int (*)(const void *, size_t))f;
        }
    }
    if (err == 0) {
        err = mp__store_attach(&m->srv_store, store);
    }
    mp__free(store);
    return err;
}

int
mp__mgr_spawned_main(void *arg)
{
    mp_manager_t *m = mp__calloc(1, sizeof *m);
    if (m == NULL) {
        return 1;
    }
    m->ready_fd[0] = m->ready_fd[1] = -1;
    m->stop_fd[0] = m->stop_fd[1] = -1;
    m->boot_err = boot_decode(m, arg);
    if (m->ready_fd[1] < 0) {
        return 1; /* nothing to report on: the starter sees the exit */
    }
    return mp__mgr_server_main(m);
}
