/* SPDX-License-Identifier: MIT */
/* fnref.c - function references that survive an exec: the encoding of
 * fnref.h, the name registry, and resolving a reference to a pointer only
 * after the build-id check (the loaded objects themselves are the platform
 * layer's, src/platform/linux_elf.c). */
#include "fnref.h"

#include "../common/bytes.h"
#include "../platform/platform.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#define FNREF_MAGIC "MPFN"
#define FNREF_VERSION 1
#define HEAD_LEN 6 /* magic, version, kind */

enum { KIND_OBJECT = 1, KIND_NAME = 2 };

/*--- the name registry ------------------------------------------------------*/

/* Registered names, in a list that only grows: a reference resolved by
 * name must find the same function for the life of the process. Readers
 * walk it without a lock (entries are complete before they are published,
 * and never freed), so that a child forked while another thread held
 * registry_mu (a pool worker resolving each task's reference) never waits
 * on it; registry_mu only orders the writers. */
typedef struct named_fn {
    struct named_fn *next;
    mp__fn_t fn;
    char name[];
} named_fn_t;

static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static named_fn_t *_Atomic registry;

/* The entry named name (len bytes), or NULL. */
static named_fn_t *
find_name(const char *name, size_t len)
{
    for (named_fn_t *e = atomic_load_explicit(&registry, memory_order_acquire);
         e != NULL; e = e->next) {
        if (strlen(e->name) == len && memcmp(e->name, name, len) == 0) {
            return e;
        }
    }
    return NULL;
}

/* The entry for fn, or NULL. */
static named_fn_t *
find_fn(mp__fn_t fn)
{
    for (named_fn_t *e = atomic_load_explicit(&registry, memory_order_acquire);
         e != NULL; e = e->next) {
        if (e->fn == fn) {
            return e;
        }
    }
    return NULL;
}

int
mp__fnref_register(const char *name, mp__fn_t fn)
{
    if (name == NULL || fn == NULL) {
        return MP_EINVAL;
    }
    size_t len = strnlen(name, MP__FNREF_NAME_MAX + 1);
    if (len == 0 || len > MP__FNREF_NAME_MAX) {
        return MP_EINVAL;
    }
    pthread_mutex_lock(&registry_mu);
    int err = 0;
    named_fn_t *e = find_name(name, len);
    named_fn_t *other = find_fn(fn);
    if (e != NULL) {
        err = e->fn == fn ? 0 : MP_EEXIST;
    } else if (other != NULL) {
        err = MP_EEXIST; /* one name per function: references use it */
    } else if ((e = mp__malloc(sizeof *e + len + 1)) == NULL) {
        err = MP_ENOMEM;
    } else {
        e->fn = fn;
        memcpy(e->name, name, len + 1);
        e->next = atomic_load_explicit(&registry, memory_order_relaxed);
        atomic_store_explicit(&registry, e, memory_order_release);
    }
    pthread_mutex_unlock(&registry_mu);
    return err;
}

int
mp_register_function(const char *name, mp_function_t fn)
{
    return mp__fnref_register(name, (mp__fn_t)fn);
}

/*--- encoding ---------------------------------------------------------------*/

/* Writes the common head of a reference of kind at p. */
static void
put_head(uint8_t *p, uint8_t kind)
{
    memcpy(p, FNREF_MAGIC, 4);
    p[4] = FNREF_VERSION;
    p[5] = kind;
}

/* A reference by name: head, u16 length, the name. */
static ssize_t
encode_name(const char *name, void **out)
{
    size_t len = strlen(name);
    uint8_t *p = mp__malloc(HEAD_LEN + 2 + len);
    if (p == NULL) {
        return MP_ENOMEM;
    }
    put_head(p, KIND_NAME);
    mp__put_le(p + HEAD_LEN, len, 2);
    memcpy(p + HEAD_LEN + 2, name, len);
    *out = p;
    return (ssize_t)(HEAD_LEN + 2 + len);
}

/* A reference by object: head, build-id, path, offset. */
static ssize_t
encode_object(mp__fn_t fn, void **out)
{
    mp__plat_code_object_t obj;
    int err = mp__plat_code_find((const void *)(uintptr_t)fn, &obj);
    if (err != 0) {
        return err;
    }
    if (obj.build_id_len == 0) {
        return MP_ENOTSUP;
    }
    size_t path_len = strnlen(obj.path, UINT16_MAX);
    size_t len = HEAD_LEN + 1 + obj.build_id_len + 2 + path_len + 8;
    uint8_t *p = mp__malloc(len);
    if (p == NULL) {
        return MP_ENOMEM;
    }
    put_head(p, KIND_OBJECT);
    size_t off = HEAD_LEN;
    p[off++] = (uint8_t)obj.build_id_len;
    memcpy(p + off, obj.build_id, obj.build_id_len);
    off += obj.build_id_len;
    mp__put_le(p + off, path_len, 2);
    off += 2;
    memcpy(p + off, obj.path, path_len);
    off += path_len;
    mp__put_le(p + off, (uint64_t)((uintptr_t)fn - obj.base), 8);
    *out = p;
    return (ssize_t)len;
}

ssize_t
mp__fnref_encode(mp__fn_t fn, void **out)
{
    if (fn == NULL || out == NULL) {
        return MP_EINVAL;
    }
    named_fn_t *e = find_fn(fn);
    return e != NULL ? encode_name(e->name, out) : encode_object(fn, out);
}

/*--- decoding ---------------------------------------------------------------*/

/* Resolves a name reference (the bytes after the head). */
static int
decode_name(const uint8_t *p, size_t len, mp__fn_t *fn)
{
    if (len < 2) {
        return MP_EPROTO;
    }
    size_t name_len = (size_t)mp__get_le(p, 2);
    if (name_len == 0 || name_len > MP__FNREF_NAME_MAX || len != 2 + name_len) {
        return MP_EPROTO;
    }
    named_fn_t *e = find_name((const char *)p + 2, name_len);
    *fn = e != NULL ? e->fn : NULL;
    return e != NULL ? 0 : MP_ENOENT;
}

/* Resolves an object reference (the bytes after the head); may_load: an
 * object not loaded here may be loaded from the path it names. */
static int
decode_object(const uint8_t *p, size_t len, bool may_load, mp__fn_t *fn)
{
    if (len < 1) {
        return MP_EPROTO;
    }
    size_t id_len = p[0];
    if (id_len == 0 || id_len > MP__FNREF_ID_MAX || len < 1 + id_len + 2) {
        return MP_EPROTO;
    }
    const uint8_t *id = p + 1;
    size_t path_len = (size_t)mp__get_le(p + 1 + id_len, 2);
    size_t off = 1 + id_len + 2;
    if (len != off + path_len + 8) {
        return MP_EPROTO;
    }
    uint64_t offset = mp__get_le(p + off + path_len, 8);
    mp__plat_code_object_t obj;
    int err = mp__plat_code_by_build_id(id, id_len, offset, &obj);
    if (err == MP_ENOENT && may_load && path_len > 0 &&
        memchr(p + off, '\0', path_len) == NULL) {
        /* A shared object the sender had loaded (dlopen) and we have not:
         * load it, and accept it only if it carries the same build-id. */
        char *path = mp__malloc(path_len + 1);
        if (path == NULL) {
            return MP_ENOMEM;
        }
        memcpy(path, p + off, path_len);
        path[path_len] = '\0';
        if (mp__plat_code_load(path) == 0) {
            err = mp__plat_code_by_build_id(id, id_len, offset, &obj);
        }
        mp__free(path);
    }
    if (err != 0) {
        return err;
    }
    *fn = (mp__fn_t)(obj.base + (uintptr_t)offset);
    return 0;
}

/* mp__fnref_decode and mp__fnref_decode_loaded. */
static int
decode(const void *ref, size_t len, bool may_load, mp__fn_t *fn)
{
    if (ref == NULL || fn == NULL) {
        return MP_EINVAL;
    }
    const uint8_t *p = ref;
    if (len < HEAD_LEN || memcmp(p, FNREF_MAGIC, 4) != 0 ||
        p[4] != FNREF_VERSION) {
        return MP_EPROTO;
    }
    switch (p[5]) {
    case KIND_OBJECT:
        return decode_object(p + HEAD_LEN, len - HEAD_LEN, may_load, fn);
    case KIND_NAME:
        return decode_name(p + HEAD_LEN, len - HEAD_LEN, fn);
    default:
        return MP_EPROTO;
    }
}

int
mp__fnref_decode(const void *ref, size_t len, mp__fn_t *fn)
{
    return decode(ref, len, true, fn);
}

int
mp__fnref_decode_loaded(const void *ref, size_t len, mp__fn_t *fn)
{
    return decode(ref, len, false, fn);
}
