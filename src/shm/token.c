/* SPDX-License-Identifier: MIT */
/* token.c - tokens: the text that names a library object in a named arena
 * (arena.c), written by mp_<object>_token and opened by mp_<object>_attach
 * in any process of the same user, forked from the creator or not.
 *
 * A token is "mpt1:<tag>" and fields ":<field>". A reference to an object
 * is three fields: the segment name of the arena it lives in
 * ("mp-<pid>-<16 hex>"), the offset of its block there, and its
 * generation (both hex). Opening one maps the arena by name once per
 * process (the mapping is kept for the life of the process, as the fork
 * arena's is; no fd stays open) and checks, before anything there is
 * trusted, that the offset is a live block of the arena with room for the
 * object, and that the object header there has the kind and generation
 * the token says: a forged, truncated or stale token (the object
 * destroyed, its tree gone) is an error, never a crash or another
 * object. */
#include "shm_internal.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define TOKEN_MAGIC "mpt1"
#define ARENA_NAME_MAX MP__NAMED_NAME_MAX
/* Named arenas of other trees this process may have mapped. */
#define FOREIGN_MAX 16

/* Arenas of other processes mapped here, each with the count of handles
 * opened on its objects: the last handle's destroy unmaps it
 * (mp__token_release). Guarded by *foreign_mu, a lock in the fork-local
 * page; a forked child inherits the table with the mappings (and its
 * copies of the handles). */
static pthread_once_t foreign_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t *foreign_mu;
static struct foreign {
    char name[ARENA_NAME_MAX + 1];
    mp__heap_t *heap; /* NULL: a free slot */
    void *base;       /* the mapping */
    size_t size;
    uint64_t handles;
} foreign[FOREIGN_MAX];

static void
foreign_once_fn(void)
{
    foreign_mu = mp__fork_local(sizeof *foreign_mu);
}

int
mp__token_begin(char *buf, size_t buflen, size_t *pos, int tag)
{
    if (buf == NULL) {
        return MP_EINVAL;
    }
    int n = snprintf(buf, buflen, TOKEN_MAGIC ":%c", tag);
    if (n < 0 || (size_t)n >= buflen) {
        return MP_ERANGE;
    }
    *pos = (size_t)n;
    return 0;
}

/* Appends ":<s>" to the token in buf. Returns 0 or MP_ERANGE. */
static int
put_field(char *buf, size_t buflen, size_t *pos, const char *s)
{
    int n = snprintf(buf + *pos, buflen - *pos, ":%s", s);
    if (n < 0 || (size_t)n >= buflen - *pos) {
        buf[*pos] = '\0';
        return MP_ERANGE;
    }
    *pos += (size_t)n;
    return 0;
}

int
mp__token_put_u64(char *buf, size_t buflen, size_t *pos, uint64_t v)
{
    char s[17];
    (void)snprintf(s, sizeof s, "%" PRIx64, v);
    return put_field(buf, buflen, pos, s);
}

/* Tells whether p lies in the heap h (of an arena). */
static bool
in_heap(const void *p, const mp__heap_t *h)
{
    return (const char *)p > (const char *)h &&
           (const char *)p < (const char *)h + MP__ARENA_SIZE;
}

/* Finds the named arena that holds p (this process's or a mapped one):
 * copies its name into name, stores its heap in *heap and returns true;
 * false for the fork arena or memory of no arena. */
static bool
arena_of(const void *p, char name[ARENA_NAME_MAX + 1], mp__heap_t **heap)
{
    if (mp__named_current(name, heap) && in_heap(p, *heap)) {
        return true;
    }
    bool found = false;
    pthread_once(&foreign_once, foreign_once_fn);
    pthread_mutex_lock(foreign_mu);
    for (int i = 0; i < FOREIGN_MAX && !found; i++) {
        if (foreign[i].heap != NULL && in_heap(p, foreign[i].heap)) {
            strcpy(name, foreign[i].name);
            *heap = foreign[i].heap;
            found = true;
        }
    }
    pthread_mutex_unlock(foreign_mu);
    return found;
}

int
mp__token_put_ref(char *buf, size_t buflen, size_t *pos, const mp__shobj_t *obj)
{
    const mp__objhdr_t *hdr = obj->hdr;
    if (hdr == NULL || obj->state == NULL) {
        return MP_EINVAL; /* a manager's object: its proxy has tokens */
    }
    if (hdr->method == MP_START_FORK) {
        return MP_ECONTEXT;
    }
    char name[ARENA_NAME_MAX + 1];
    mp__heap_t *heap = NULL;
    if (!arena_of(hdr, name, &heap)) {
        return MP_ECONTEXT;
    }
    int err = put_field(buf, buflen, pos, name);
    if (err == 0) {
        err = mp__token_put_u64(buf, buflen, pos,
                                (uint64_t)((const char *)hdr - (char *)heap));
    }
    if (err == 0) {
        err = mp__token_put_u64(buf, buflen, pos, atomic_load(&hdr->gen));
    }
    return err;
}

int
mp__token_expect(const char **cur, int tag)
{
    const char *s = *cur;
    if (s == NULL || strncmp(s, TOKEN_MAGIC ":", 5) != 0 || s[5] != tag) {
        return MP_EINVAL;
    }
    *cur = s + 6;
    return 0;
}

/* Takes the next field ":<...>" off *cur: stores where it starts in
 * *field and its length in *len. Returns 0 or MP_EINVAL (no field). */
static int
get_field(const char **cur, const char **field, size_t *len)
{
    const char *s = *cur;
    if (*s != ':') {
        return MP_EINVAL;
    }
    s++;
    size_t n = strcspn(s, ":");
    if (n == 0) {
        return MP_EINVAL;
    }
    *field = s;
    *len = n;
    *cur = s + n;
    return 0;
}

int
mp__token_get_u64(const char **cur, uint64_t *v)
{
    const char *f;
    size_t n;
    int err = get_field(cur, &f, &n);
    if (err != 0) {
        return err;
    }
    if (n > 16) {
        return MP_EINVAL;
    }
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        char c = f[i];
        unsigned d;
        if (c >= '0' && c <= '9') {
            d = (unsigned)(c - '0');
        } else if (c >= 'a' && c <= 'f') {
            d = (unsigned)(c - 'a' + 10);
        } else {
            return MP_EINVAL;
        }
        x = x << 4 | d;
    }
    *v = x;
    return 0;
}

/* Tells whether the n bytes at s are an arena name the library makes:
 * "mp-", decimal digits, '-', 16 lower-case hex digits. */
static bool
arena_name_ok(const char *s, size_t n)
{
    if (n > ARENA_NAME_MAX || n < 3 + 1 + 1 + 16 || strncmp(s, "mp-", 3) != 0 ||
        s[n - 17] != '-') {
        return false;
    }
    for (size_t i = 3; i < n; i++) {
        bool digit = s[i] >= '0' && s[i] <= '9';
        bool hex = digit || (s[i] >= 'a' && s[i] <= 'f');
        if (i < n - 17 ? !digit : i > n - 17 && !hex) {
            return false;
        }
    }
    return true;
}

/* With the foreign lock held: the slot of the arena mapped here whose
 * heap is heap (NULL: a free one) or whose name is name (when not NULL),
 * or -1. */
static int
foreign_find_locked(const mp__heap_t *heap, const char *name)
{
    for (int i = 0; i < FOREIGN_MAX; i++) {
        if (name != NULL
                ? foreign[i].heap != NULL && strcmp(foreign[i].name, name) == 0
                : foreign[i].heap == heap) {
            return i;
        }
    }
    return -1;
}

/* Finds or maps the named arena name (NUL-terminated, checked) and stores
 * its heap in *heap and its slot in the table in *slot; the caller raises
 * the slot's handle count once it has a handle. This process's own arena
 * is mapped a second time, so that its retirement here never unmaps what
 * an opened handle uses. Takes the foreign lock, which the caller
 * releases. Returns 0, MP_ECLOSED (no such segment: its objects or its
 * tree are gone), MP_EINVAL (a segment that is not an arena), MP_ENOMEM
 * (too many arenas mapped) or an error of mapping it. */
static int
arena_open_locked(const char *name, mp__heap_t **heap, int *slot)
{
    pthread_once(&foreign_once, foreign_once_fn);
    pthread_mutex_lock(foreign_mu);
    int i = foreign_find_locked(NULL, name);
    if (i >= 0) {
        *heap = foreign[i].heap;
        *slot = i;
        return 0;
    }
    i = foreign_find_locked(NULL, NULL);
    if (i < 0) {
        return MP_ENOMEM;
    }
    char path[ARENA_NAME_MAX + 2];
    (void)snprintf(path, sizeof path, "/%s", name);
    void *p = NULL;
    size_t size = 0;
    int err = mp__plat_shm_attach(path, &p, &size);
    if (err != 0) {
        return err == MP_ENOENT ? MP_ECLOSED : err;
    }
    mp__heap_t *h = mp__named_check(p, size);
    if (h == NULL) {
        mp__plat_unmap(p, size);
        return MP_EINVAL;
    }
    strcpy(foreign[i].name, name);
    foreign[i].heap = h;
    foreign[i].base = p;
    foreign[i].size = size;
    foreign[i].handles = 0;
    *heap = h;
    *slot = i;
    return 0;
}

/* With the foreign lock held: unmaps the arena of slot i if no handle
 * uses it. */
static void
foreign_unmap_unused_locked(int i)
{
    if (foreign[i].handles == 0) {
        mp__plat_unmap(foreign[i].base, foreign[i].size);
        foreign[i].heap = NULL;
    }
}

void
mp__token_release(const mp__shobj_t *obj)
{
    pthread_once(&foreign_once, foreign_once_fn);
    pthread_mutex_lock(foreign_mu);
    for (int i = 0; i < FOREIGN_MAX; i++) {
        if (foreign[i].heap != NULL && in_heap(obj->hdr, foreign[i].heap)) {
            foreign[i].handles--;
            foreign_unmap_unused_locked(i);
            break;
        }
    }
    pthread_mutex_unlock(foreign_mu);
}

int
mp__token_get_ref(const char **cur, int kind, size_t size, mp__shobj_t *obj)
{
    const char *f;
    size_t n;
    uint64_t off, gen;
    int err = get_field(cur, &f, &n);
    if (err != 0 || !arena_name_ok(f, n)) {
        return MP_EINVAL;
    }
    char name[ARENA_NAME_MAX + 1];
    memcpy(name, f, n);
    name[n] = '\0';
    err = mp__token_get_u64(cur, &off);
    if (err == 0) {
        err = mp__token_get_u64(cur, &gen);
    }
    if (err != 0 || gen == 0) {
        return MP_EINVAL;
    }
    mp__heap_t *heap = NULL;
    int slot = -1;
    err = arena_open_locked(name, &heap, &slot);
    if (err == 0) {
        mp__objhdr_t *hdr = (mp__objhdr_t *)(void *)((char *)heap + off);
        if (!mp__heap_block_ok(heap, off, sizeof(mp__objhdr_t) + size) ||
            atomic_load(&hdr->magic) != MP__OBJHDR_MAGIC || hdr->kind != kind ||
            atomic_load(&hdr->gen) != gen) {
            err = MP_ECLOSED;
        } else {
            obj->hdr = hdr;
            obj->state = hdr + 1;
            obj->creator = 0;
            foreign[slot].handles++;
        }
    }
    if (err != 0 && slot >= 0) {
        foreign_unmap_unused_locked(slot);
    }
    pthread_mutex_unlock(foreign_mu);
    return err;
}

int
mp__shobj_token(const void *handle, int kind, char *buf, size_t buflen,
                size_t *pos)
{
    size_t at;
    if (handle == NULL) {
        return MP_EINVAL;
    }
    if (pos == NULL) {
        pos = &at;
    }
    int err = mp__token_begin(buf, buflen, pos, kind);
    return err != 0 ? err : mp__token_put_ref(buf, buflen, pos, handle);
}

int
mp__shobj_open_ref(void **out, size_t handle_size, int kind, size_t size,
                   const char **cur)
{
    mp__shobj_t *obj = mp__calloc(1, handle_size);
    if (obj == NULL) {
        return MP_ENOMEM;
    }
    int err = mp__token_get_ref(cur, kind, size, obj);
    if (err != 0) {
        mp__free(obj);
        return err;
    }
    *out = obj;
    return 0;
}

int
mp__shobj_attach(void **out, size_t handle_size, int kind, size_t size,
                 const char *token, const char **cur)
{
    const char *at = token;
    void *h;
    if (out == NULL) {
        return MP_EINVAL;
    }
    int err = mp__token_expect(&at, kind);
    if (err == 0) {
        err = mp__shobj_open_ref(&h, handle_size, kind, size, &at);
    }
    if (err != 0) {
        return err;
    }
    if (cur == NULL && (err = mp__token_end(at)) != 0) {
        mp__token_release(h);
        mp__free(h);
        return err;
    }
    if (cur != NULL) {
        *cur = at;
    }
    *out = h;
    return 0;
}

int
mp__token_end(const char *cur)
{
    return *cur == '\0' ? 0 : MP_EINVAL;
}
