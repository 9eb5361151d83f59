/* SPDX-License-Identifier: MIT */
/* multiproc/shm.h - named shared memory (Python's shared_memory.SharedMemory).
 * Included by multiproc.h; including it alone works too. */
#ifndef MULTIPROC_SHM_H
#define MULTIPROC_SHM_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/*===== Shared memory =======================================================*/

/* Named shared-memory blocks: Python's shared_memory.SharedMemory. */
typedef struct mp_shm mp_shm_t;

/* Flags for mp_shm_create. */
#define MP_SHM_UNTRACKED 0x1u /* survive the creating process tree */

/* mp_shm_create creates a new block of size bytes (zero-filled) and maps it.
 * name NULL picks an unguessable one ("mp-<pid>-<16 hex>"); a given name may
 * start with one '/', holds no other '/', and is at most 250 bytes. The
 * object is created with O_EXCL and mode 0600. Unless MP_SHM_UNTRACKED is
 * given, the block is removed once every process of the creating tree has
 * exited, even if they were killed (see docs/design.md, "tracker").
 * Returns 0 or MP_EINVAL (NULL out, size 0, bad name or flags), MP_EEXIST,
 * MP_ENAMETOOLONG, MP_EFBIG (size beyond what a mapping can hold),
 * MP_ENOSPC, MP_EACCES, MP_ENOMEM. */
MP_EXTERN int mp_shm_create(mp_shm_t **out, const char *name, size_t size,
                            unsigned flags);

/* mp_shm_attach maps an existing block by name (as mp_shm_name gives it, with
 * or without the leading '/'). Attaching never takes ownership: the block is
 * not removed when the attaching process exits. Returns 0 or MP_ENOENT,
 * MP_EINVAL, MP_ENAMETOOLONG, MP_EACCES, MP_ENOMEM. */
MP_EXTERN int mp_shm_attach(mp_shm_t **out, const char *name);

/* The block's memory (NULL once closed), size in bytes, and name (without
 * leading '/'). Context: the process that has the handle. */
MP_EXTERN void *mp_shm_buf(const mp_shm_t *shm);
MP_EXTERN size_t mp_shm_size(const mp_shm_t *shm);
MP_EXTERN const char *mp_shm_name(const mp_shm_t *shm);

/* mp_shm_unlink removes the block's name; mappings stay valid until closed.
 * Returns 0 or MP_ENOENT (already removed). */
MP_EXTERN int mp_shm_unlink(mp_shm_t *shm);

/* mp_shm_close unmaps the block (Python's close(); the name stays unless
 * unlinked): mp_shm_buf is NULL afterwards, while the size, the name and
 * mp_shm_unlink still work. Idempotent. Returns 0 or MP_EINVAL (NULL).
 * mp_shm_destroy closes the block if it is open and frees the handle. NULL
 * is ignored. Context: the process that has the handle. */
MP_EXTERN int mp_shm_close(mp_shm_t *shm);
MP_EXTERN void mp_shm_destroy(mp_shm_t *shm);

#ifdef __cplusplus
}
#endif

#endif /* MULTIPROC_SHM_H */
