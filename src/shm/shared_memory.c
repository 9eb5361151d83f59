/* SPDX-License-Identifier: MIT */
/* shared_memory.c - named shared-memory blocks (Python's
 * shared_memory.SharedMemory) on POSIX shm_open/mmap.
 *
 * A created block is registered with the tracker (tracker.c) unless
 * MP_SHM_UNTRACKED is given, so it is removed once the creating process tree
 * has exited. Attaching never registers: an unrelated process that merely
 * attached must not remove the creator's block when it exits (the fix for
 * Python's gh-82300). The create/close/unlink path makes no syscall beyond
 * the raw shm_open, ftruncate, mmap, close, munmap, shm_unlink sequence and
 * one tracker message on create and one on unlink. */
#include "shm_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The longest name a caller may give, without the leading '/'. */
#define SHM_NAME_MAX 250
/* The longest generated name: "mp-", a pid, '-', 16 hex digits. */
#define SHM_GEN_NAME_MAX 40
/* Attempts at a fresh generated name before giving up with MP_EEXIST. */
#define SHM_NAME_TRIES 16

struct mp_shm {
    void *buf;
    size_t size;
    bool tracked; /* registered with this process tree's tracker */
    char path[];  /* "/name", NUL-terminated */
};

static int shm_check_name(const char *name, const char **bare, size_t *len);
static mp_shm_t *shm_handle_new(const char *bare, size_t len);
static void shm_generate_name(mp_shm_t *shm);
static int shm_create_object(mp_shm_t *shm, size_t size);

int
mp_shm_create(mp_shm_t **out, const char *name, size_t size, unsigned flags)
{
    if (out == NULL || size == 0 || (flags & ~MP_SHM_UNTRACKED) != 0) {
        return MP_EINVAL;
    }
    /* off_t and a mapping both hold at most PTRDIFF_MAX bytes. */
    if (size > (size_t)PTRDIFF_MAX) {
        return MP_EFBIG;
    }
    const char *bare = NULL;
    size_t len = 0;
    if (name != NULL) {
        int err = shm_check_name(name, &bare, &len);
        if (err != 0) {
            return err;
        }
    } else {
        mp__init();
        len = SHM_GEN_NAME_MAX;
    }
    mp_shm_t *shm = shm_handle_new(bare, len);
    if (shm == NULL) {
        return MP_ENOMEM;
    }
    int err;
    bool tracked = !(flags & MP_SHM_UNTRACKED);
    if (name != NULL) {
        err = shm_create_object(shm, size);
        /* A caller's name is registered only once the block is ours:
         * registered first, a process killed right after a failed O_EXCL
         * would make the tracker remove someone else's block. */
        if (err == 0 && tracked) {
            err = mp__tracker_register(shm->path);
            if (err != 0) {
                mp__plat_unmap(shm->buf, shm->size);
                (void)mp__plat_shm_unlink(shm->path);
            }
        }
    } else {
        /* A fresh random name is registered before it exists, so a process
         * killed at any point of the creation leaves nothing behind (the
         * tracker's unlink of a name never created is harmless). A
         * collision of 64 random bits means a guessed or reused name: draw
         * again rather than fail. */
        int tries = 0;
        do {
            shm_generate_name(shm);
            err = tracked ? mp__tracker_register(shm->path) : 0;
            if (err == 0) {
                err = shm_create_object(shm, size);
                if (err != 0 && tracked) {
                    (void)mp__tracker_unregister(shm->path);
                }
            }
        } while (err == MP_EEXIST && ++tries < SHM_NAME_TRIES);
    }
    shm->tracked = err == 0 && tracked;
    if (err != 0) {
        mp__free(shm);
        return err;
    }
    *out = shm;
    return 0;
}

int
mp_shm_attach(mp_shm_t **out, const char *name)
{
    const char *bare = NULL;
    size_t len = 0;
    if (out == NULL) {
        return MP_EINVAL;
    }
    int err = shm_check_name(name, &bare, &len);
    if (err != 0) {
        return err;
    }
    mp_shm_t *shm = shm_handle_new(bare, len);
    if (shm == NULL) {
        return MP_ENOMEM;
    }
    void *p = NULL;
    size_t size = 0;
    err = mp__plat_shm_attach(shm->path, &p, &size);
    if (err == 0) {
        shm->buf = p;
        shm->size = size;
    }
    if (err != 0) {
        goto fail;
    }
    *out = shm;
    return 0;
fail:
    /* Unlike Python (gh-153279), a failed attach never unlinks the name. */
    mp__free(shm);
    return err;
}

void *
mp_shm_buf(const mp_shm_t *shm)
{
    return shm != NULL ? shm->buf : NULL;
}

size_t
mp_shm_size(const mp_shm_t *shm)
{
    return shm != NULL ? shm->size : 0;
}

const char *
mp_shm_name(const mp_shm_t *shm)
{
    return shm != NULL ? shm->path + 1 : NULL;
}

int
mp_shm_unlink(mp_shm_t *shm)
{
    if (shm == NULL) {
        return MP_EINVAL;
    }
    int err = mp__plat_shm_unlink(shm->path);
    if (err != 0) {
        return err;
    }
    /* Unlink first, then forget: a crash in between leaves the tracker a
     * name that is already gone, never a live name it does not know. */
    if (shm->tracked) {
        shm->tracked = false;
        (void)mp__tracker_unregister(shm->path);
    }
    return 0;
}

int
mp_shm_close(mp_shm_t *shm)
{
    if (shm == NULL) {
        return MP_EINVAL;
    }
    mp__plat_unmap(shm->buf, shm->size); /* NULL (closed before): nothing */
    shm->buf = NULL;
    return 0;
}

void
mp__shm_discard(mp_shm_t *shm)
{
    if (shm != NULL) {
        (void)mp_shm_unlink(shm);
        mp_shm_destroy(shm);
    }
}

void
mp_shm_destroy(mp_shm_t *shm)
{
    if (shm != NULL) {
        (void)mp_shm_close(shm);
        mp__free(shm);
    }
}

/* ---- helpers ----------------------------------------------------------- */

/* Checks a name given by the caller (an optional leading '/', then 1 to
 * SHM_NAME_MAX bytes without '/', not "." or ".."). Stores the length of
 * the part after the optional '/' in *len. Returns 0, MP_EINVAL or
 * MP_ENAMETOOLONG. */
static int
shm_check_name(const char *name, const char **bare, size_t *len)
{
    if (name == NULL) {
        return MP_EINVAL;
    }
    if (name[0] == '/') {
        name++;
    }
    size_t n = strnlen(name, SHM_NAME_MAX + 1);
    if (n == 0) {
        return MP_EINVAL;
    }
    if (n > SHM_NAME_MAX) {
        return MP_ENAMETOOLONG;
    }
    if (memchr(name, '/', n) != NULL || strcmp(name, ".") == 0 ||
        strcmp(name, "..") == 0) {
        return MP_EINVAL;
    }
    *bare = name;
    *len = n;
    return 0;
}

/* Allocates a handle with room for a name of len bytes, and copies the
 * name bare (len bytes, no '/') into it unless bare is NULL. */
static mp_shm_t *
shm_handle_new(const char *bare, size_t len)
{
    mp_shm_t *shm = mp__malloc(sizeof *shm + len + 2);
    if (shm != NULL) {
        shm->buf = NULL;
        shm->size = 0;
        shm->tracked = false;
        shm->path[0] = '/';
        shm->path[1] = '\0';
        if (bare != NULL) {
            memcpy(shm->path + 1, bare, len);
            shm->path[len + 1] = '\0';
        }
    }
    return shm;
}

/* Writes a fresh unguessable name "mp-<session pid>-<16 hex>" into the
 * handle's path. */
static void
shm_generate_name(mp_shm_t *shm)
{
    (void)snprintf(shm->path + 1, SHM_GEN_NAME_MAX + 1, "mp-%d-%016llx",
                   (int)mp__session_pid(),
                   (unsigned long long)mp__plat_random_u64());
}

/* Creates, sizes and maps the object at shm->path with O_EXCL. On failure
 * nothing is left behind. Returns 0 or a negative error. */
static int
shm_create_object(mp_shm_t *shm, size_t size)
{
    void *p = NULL;
    int err = mp__plat_shm_create(shm->path, size, &p);
    if (err == 0) {
        shm->buf = p;
        shm->size = size;
    }
    return err;
}
