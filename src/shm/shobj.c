/* SPDX-License-Identifier: MIT */
/* shobj.c - the shared half of every library object's handle
 * (mp__shobj_t): where its state is allocated (the fork arena or the named
 * arena, by the object's context), the object header before the state
 * that tokens name (its kind and a random generation, cleared when the
 * creator frees it, so a stale or forged token is refused), and who frees
 * it (only its creator; a handle a token opened gives back its arena's
 * mapping). */
#include "shm_internal.h"

int
mp__shobj_alloc(mp__shobj_t *obj, int kind, const mp_context_t *ctx,
                size_t size)
{
    mp__init();
    obj->state = NULL;
    obj->hdr = NULL;
    obj->creator = mp__getpid();
    int m = mp__context_method(ctx);
    if (m < 0) {
        return m;
    }
    size_t total;
    if (!mp__size_add(size, sizeof(mp__objhdr_t), &total)) {
        return MP_ENOMEM;
    }
    mp__objhdr_t *hdr =
        m == MP_START_FORK ? mp__shared_alloc(total) : mp__named_alloc(total);
    if (hdr == NULL) {
        return MP_ENOMEM;
    }
    hdr->kind = (uint8_t)kind;
    hdr->method = (uint8_t)m;
    uint64_t gen;
    do {
        gen = mp__plat_random_u64();
    } while (gen == 0);
    atomic_store(&hdr->gen, gen);
    atomic_store(&hdr->magic, MP__OBJHDR_MAGIC);
    obj->hdr = hdr;
    obj->state = hdr + 1;
    return 0;
}

int
mp__shobj_new(void **out, size_t handle_size, int kind, const mp_context_t *ctx,
              size_t size)
{
    mp__shobj_t *obj = mp__calloc(1, handle_size);
    if (obj == NULL) {
        return MP_ENOMEM;
    }
    int err = mp__shobj_alloc(obj, kind, ctx, size);
    if (err != 0) {
        mp__free(obj);
        return err;
    }
    *out = obj;
    return 0;
}

int
mp__shobj_wrap(void **out, size_t handle_size, void *state)
{
    if (out == NULL || state == NULL) {
        return MP_EINVAL;
    }
    mp__shobj_t *obj = mp__calloc(1, handle_size);
    if (obj == NULL) {
        return MP_ENOMEM;
    }
    obj->state = state; /* creator 0: no release frees it */
    *out = obj;
    return 0;
}

void
mp__shobj_release(mp__shobj_t *obj)
{
    if (obj->state != NULL && obj->creator == mp__getpid()) {
        mp__objhdr_t *hdr = obj->hdr;
        /* Stale tokens of the object fail from here on. */
        atomic_store(&hdr->gen, 0);
        atomic_store(&hdr->magic, 0);
        if (hdr->method == MP_START_FORK) {
            mp__shared_free(hdr);
        } else {
            mp__named_free(hdr);
        }
    } else if (obj->state != NULL && obj->creator == 0 && obj->hdr != NULL) {
        mp__token_release(obj); /* a handle a token opened */
    }
    obj->state = NULL;
}

void
mp__shobj_destroy(void *handle)
{
    if (handle == NULL) {
        return;
    }
    mp__shobj_release(handle);
    mp__free(handle);
}

size_t
mp__shobj_room(const mp__shobj_t *obj)
{
    size_t room = mp__heap_block_room(obj->hdr);
    return room > sizeof(mp__objhdr_t) ? room - sizeof(mp__objhdr_t) : 0;
}
