/* SPDX-License-Identifier: MIT */
/* shm_manager.c - SharedMemoryManager's client calls (Python's
 * smm.SharedMemory(size) and smm.ShareableList(sequence)):
 * mp_manager_shared_memory and mp_manager_shareable_list ask the server
 * for a fresh block (MP__OP_SHM_CREATE, served by segments.c) and attach
 * it; the block is the server's, unlinked at its shutdown. */
#include "server_internal.h"

#include <string.h>

/* The longest block name a reply may carry (mp_shm_create's limit). */
#define SEGMENT_NAME_MAX 255u

/* Has m's server create a block of size bytes and attaches it. Returns 0
 * or an error of the request or of mp_shm_attach. */
static int
segment_new(mp_manager_t *m, size_t size, mp_shm_t **out)
{
    if (size > (size_t)PTRDIFF_MAX) {
        return MP_EFBIG;
    }
    mp__mgr_req_t req = {.op = MP__OP_SHM_CREATE, .num = {(int64_t)size}};
    mp__mgr_rep_t rep;
    int err = mp__mgr_invoke(m, &req, &rep, false);
    char name[SEGMENT_NAME_MAX + 1];
    if (err == 0 && (rep.len == 0 || rep.len > SEGMENT_NAME_MAX ||
                     memchr(rep.data, '\0', rep.len) != NULL)) {
        err = MP_EPROTO;
    }
    if (err == 0) {
        memcpy(name, rep.data, rep.len);
        name[rep.len] = '\0';
    }
    mp__mgr_rep_clear(&rep);
    return err != 0 ? err : mp_shm_attach(out, name);
}

int
mp_manager_shared_memory(mp_manager_t *m, size_t size, mp_shm_t **out)
{
    if (m == NULL || out == NULL || size == 0) {
        return MP_EINVAL;
    }
    return segment_new(m, size, out);
}

int
mp_manager_shareable_list(mp_manager_t *m, const mp_shareable_item_t *items,
                          size_t n, mp_shareable_list_t **out)
{
    size_t size;
    if (m == NULL || out == NULL ||
        mp__shareable_list_size(items, n, &size) != 0) {
        return MP_EINVAL;
    }
    mp_shm_t *shm;
    int err = segment_new(m, size, &shm);
    if (err != 0) {
        return err;
    }
    err = mp__shareable_list_init(out, shm, items, n);
    if (err != 0) {
        mp_shm_destroy(shm); /* the server unlinks it at its shutdown */
    }
    return err;
}
