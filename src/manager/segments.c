/* SPDX-License-Identifier: MIT */
/* segments.c - SharedMemoryManager's server side (Python's
 * managers.SharedMemoryServer): the named blocks a manager's server creates
 * for its clients (MP__OP_SHM_CREATE, run by server.c) and unlinks at its
 * shutdown. The client calls are shm_manager.c's.
 *
 * Python's client creates the block itself and then asks the server to
 * track its name, so a client killed between the two leaves the block
 * behind. Here the server creates the block and the client attaches it:
 * from its first moment the block is the server's, whatever becomes of the
 * client, and the server's tracker removes it even if the server itself is
 * killed. */
#include "server_internal.h"

#include <string.h>

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
        mp__shm_discard(shm);
        rep->status = err;
        return;
    }
    rep->len = strlen(name);
}

void
mp__mgr_segments_free(mp__mgr_segments_t *s)
{
    for (size_t i = 0; i < s->n; i++) {
        mp__shm_discard(s->shm[i]); /* MP_ENOENT: a client did */
    }
    mp__free(s->shm);
    pthread_mutex_destroy(&s->mu);
    memset(s, 0, sizeof *s);
}
