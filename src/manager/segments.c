/* SPDX-License-Identifier: MIT */
/* segments.c - SharedMemoryManager (Python's managers.SharedMemoryManager):
 * named blocks that a manager's server creates for its clients and unlinks
 * at its shutdown. The server side (the list of blocks and
 * MP__OP_SHM_CREATE, run by server.c) and the client calls
 * mp_manager_shared_memory and mp_manager_shareable_list.
 *
 * Python's client creates the block itself and then asks the server to
 * track its name, so a client killed between the two leaves the block
 * behind. Here the server creates the block and the client attaches it:
 * from its first moment the block is the server's, whatever becomes of the
 * client, and the server's tracker removes it even if the server itself is
 * killed. */
#include "server_internal.h"

#include <string.h>

/* The longest block name a reply may carry (mp_shm_create's limit). */
#define SEGMENT_NAME_MAX 255u

/*--- the server side --------------------------------------------------------*/

void
mp__mgr_segments_init(mp__mgr_segments_t *s)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
}

/* Adds shm to s, growing the array. Returns 0 or MP_ENOMEM. s->mu held. */
static int
segments_add(mp__mgr_segments_t *s, mp_shm_t *shm)
{
    if (s->n == s->cap) {
        size_t cap = s->cap > 0 ? s->cap * 2 : 8, bytes;
        if (!mp__size_mul(cap, sizeof *s->shm, &bytes)) {
            return MP_ENOMEM;
        }
        mp_shm_t **grown = mp__realloc(s->shm, bytes);
        if (grown == NULL) {
            return MP_ENOMEM;
        }
        s->shm = grown;
        s->cap = cap;
    }
    s->shm[s->n++] = shm;
    return 0;
}

void
mp__mgr_segments_create(mp__mgr_segments_t *s, const mp__mgr_req_t *req,
                        mp__mgr_rep_t *rep)
{
    if (req->num[0] <= 0) {
        rep->status = MP_EINVAL;
        return;
    }
    mp_shm_t *shm;
    int err = mp_shm_create(&shm, NULL, (size_t)req->num[0], 0);
    if (err != 0) {
        rep->status = err;
        return;
    }
    /* The server never uses the memory: only the name and unlink. */
    (void)mp_shm_close(shm);
    const char *name = mp_shm_name(shm);
    rep->data = mp__strdup(name);
    pthread_mutex_lock(&s->mu);
    err = rep->data != NULL ? segments_add(s, shm) : MP_ENOMEM;
    pthread_mutex_unlock(&s->mu);
    if (err != 0) {
        mp__free(rep->data);
        rep->data = NULL;
        (void)mp_shm_unlink(shm);
        mp_shm_destroy(shm);
        rep->status = err;
        return;
    }
    rep->len = strlen(name);
}

void
mp__mgr_segments_free(mp__mgr_segments_t *s)
{
    for (size_t i = 0; i < s->n; i++) {
        (void)mp_shm_unlink(s->shm[i]); /* MP_ENOENT: a client did */
        mp_shm_destroy(s->shm[i]);
    }
    mp__free(s->shm);
    pthread_mutex_destroy(&s->mu);
    memset(s, 0, sizeof *s);
}

/*--- the client calls -------------------------------------------------------*/

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
