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
 * MP_ENOSPC, MP_EACCES, MP_ENOMEM. Context: any process, any thread; the
 * mapping is shared with the children forked after it. */
MP_EXTERN int mp_shm_create(mp_shm_t **out, const char *name, size_t size,
                            unsigned flags);

/* mp_shm_attach maps an existing block by name (as mp_shm_name gives it, with
 * or without the leading '/'). Attaching never takes ownership: the block is
 * not removed when the attaching process exits. Returns 0 or MP_ENOENT,
 * MP_EINVAL, MP_ENAMETOOLONG, MP_EACCES, MP_ENOMEM. Context: any process,
 * any thread. */
MP_EXTERN int mp_shm_attach(mp_shm_t **out, const char *name);

/* The block's memory (NULL once closed), size in bytes, and name (without
 * leading '/'). Context: the process that has the handle. */
MP_EXTERN void *mp_shm_buf(const mp_shm_t *shm);
MP_EXTERN size_t mp_shm_size(const mp_shm_t *shm);
MP_EXTERN const char *mp_shm_name(const mp_shm_t *shm);

/* mp_shm_unlink removes the block's name; mappings stay valid until closed.
 * Returns 0 or MP_ENOENT (already removed), MP_EINVAL (NULL). Context: any
 * process that has the handle, one thread at a time per handle. */
MP_EXTERN int mp_shm_unlink(mp_shm_t *shm);

/* mp_shm_close unmaps the block (Python's close(); the name stays unless
 * unlinked): mp_shm_buf is NULL afterwards, while the size, the name and
 * mp_shm_unlink still work. Idempotent. Returns 0 or MP_EINVAL (NULL).
 * mp_shm_destroy closes the block if it is open and frees the handle. NULL
 * is ignored. Context: the process that has the handle. */
MP_EXTERN int mp_shm_close(mp_shm_t *shm);
MP_EXTERN void mp_shm_destroy(mp_shm_t *shm);

/*===== ShareableList =======================================================*/

/* A fixed-length list of typed items in one named block: Python's
 * shared_memory.ShareableList, in its exact byte layout, so that a C process
 * and a Python process attach the same list by name and see each other's
 * writes. Items are int (int64), float (double), bool, str (UTF-8 text),
 * bytes and None; a str or bytes item keeps the room it was created with
 * (its length rounded up to the next multiple of 8, plus 8 when it already
 * is one). As in Python there is no lock: a reader racing a writer of the
 * same item may see a torn value; guard the list with a lock if processes
 * write concurrently. Layout and limits: docs/design.md, "ShareableList". */
typedef struct mp_shareable_list mp_shareable_list_t;

/* The type of an item (Python's int, float, bool, str, bytes, None). */
typedef enum {
    MP_SHAREABLE_INT64 = 1, /* struct format "q" */
    MP_SHAREABLE_DOUBLE,    /* format "d" */
    MP_SHAREABLE_BOOL,      /* format "xxxxxxx?" */
    MP_SHAREABLE_STR,       /* format "<room>s", UTF-8 */
    MP_SHAREABLE_BYTES,     /* format "<room>s" */
    MP_SHAREABLE_NONE       /* format "xxxxxx?x" */
} mp_shareable_type_t;

/* One item for mp_shareable_list_create: type says which field holds it
 * (data/len for str and bytes; none for None). */
typedef struct mp_shareable_item {
    mp_shareable_type_t type;
    int64_t i64;
    double f64;
    bool b;
    const void *data;
    size_t len;
} mp_shareable_item_t;

/* The longest struct format of one item, terminator included. */
#define MP_SHAREABLE_FORMAT_MAX 9

/* mp_shareable_list_create makes a new block holding the n items in order
 * (n may be 0) and attaches it. name and flags are mp_shm_create's (NULL:
 * a fresh name; tracked unless MP_SHM_UNTRACKED). Returns 0 or MP_EINVAL
 * (NULL out, items NULL with n > 0, an unknown type, a str that is not
 * UTF-8, a NULL data with len > 0, a str or bytes of 9,999,992 bytes or
 * more: its format would not fit 8 characters, Python's AssertionError),
 * or an error of mp_shm_create. Context: any thread. */
MP_EXTERN int mp_shareable_list_create(mp_shareable_list_t **out,
                                       const char *name,
                                       const mp_shareable_item_t *items,
                                       size_t n, unsigned flags);

/* mp_shareable_list_attach attaches the list in block name (made by this
 * library or by Python), reading its length and item offsets once, as
 * Python does. Returns 0 or MP_EPROTO (the block holds no valid list
 * header), or an error of mp_shm_attach. Context: any thread. */
MP_EXTERN int mp_shareable_list_attach(mp_shareable_list_t **out,
                                       const char *name);

/* The number of items (Python's len()), or MP_EINVAL (NULL), MP_ECLOSED.
 * Context: any process that has the list, any thread. */
MP_EXTERN ssize_t mp_shareable_list_len(const mp_shareable_list_t *l);

/* The block under the list (Python's .shm): its name, and mp_shm_unlink to
 * remove it (the list owns the handle: do not close or destroy it). NULL
 * for NULL. Context: any process that has the list, any thread. */
MP_EXTERN mp_shm_t *mp_shareable_list_shm(const mp_shareable_list_t *l);

/* Every call below takes Python's indexes: a negative one counts from the
 * end; out of range is MP_ERANGE (IndexError). Each returns MP_EINVAL for a
 * NULL list or output, MP_ECLOSED once closed, and MP_EPROTO when the
 * item's format or type code in the block is not one Python writes (or its
 * value would lie outside the item's room). */

/* mp_shareable_list_type returns the item's type (an
 * mp_shareable_type_t) or an error. Context: any process that has the list,
 * any thread. */
MP_EXTERN int mp_shareable_list_type(const mp_shareable_list_t *l,
                                     ssize_t index);

/* mp_shareable_list_format writes the item's struct format ("q", "d",
 * "xxxxxxx?", "xxxxxx?x" or "<room>s") into buf. Returns 0 or MP_ERANGE
 * (also for buflen < MP_SHAREABLE_FORMAT_MAX), or an error above. Context:
 * any process that has the list, any thread. */
MP_EXTERN int mp_shareable_list_format(const mp_shareable_list_t *l,
                                       ssize_t index, char *buf, size_t buflen);

/* Reading an item: each getter reads one type and returns MP_EKIND for an
 * item of another type (see mp_shareable_list_type). A str or bytes item
 * loses its trailing NUL bytes, as in Python; get_str and get_bytes hand
 * out a malloc()ed copy (free with mp_free; get_str's is NUL-terminated)
 * and return its length (without the terminator). Context: any process
 * that has the list, any thread (a read racing a write of the same item may
 * see a torn value). */
MP_EXTERN int mp_shareable_list_get_int64(const mp_shareable_list_t *l,
                                          ssize_t index, int64_t *out);
MP_EXTERN int mp_shareable_list_get_double(const mp_shareable_list_t *l,
                                           ssize_t index, double *out);
MP_EXTERN int mp_shareable_list_get_bool(const mp_shareable_list_t *l,
                                         ssize_t index, bool *out);
MP_EXTERN ssize_t mp_shareable_list_get_str(const mp_shareable_list_t *l,
                                            ssize_t index, char **out);
MP_EXTERN ssize_t mp_shareable_list_get_bytes(const mp_shareable_list_t *l,
                                              ssize_t index, void **out);

/* Writing an item: any item may take a value of any type, as in Python (its
 * format and type code change with it); a str or bytes longer than the
 * item's room is MP_EOVERFLOW (Python's ValueError), and nothing changes.
 * set_str takes UTF-8 text (else MP_EINVAL) of len bytes. Context: any
 * process that has the list, any thread; writers of one item must be
 * serialised by the caller (a lock). */
MP_EXTERN int mp_shareable_list_set_int64(mp_shareable_list_t *l, ssize_t index,
                                          int64_t value);
MP_EXTERN int mp_shareable_list_set_double(mp_shareable_list_t *l,
                                           ssize_t index, double value);
MP_EXTERN int mp_shareable_list_set_bool(mp_shareable_list_t *l, ssize_t index,
                                         bool value);
MP_EXTERN int mp_shareable_list_set_str(mp_shareable_list_t *l, ssize_t index,
                                        const char *text, size_t len);
MP_EXTERN int mp_shareable_list_set_bytes(mp_shareable_list_t *l, ssize_t index,
                                          const void *data, size_t len);
MP_EXTERN int mp_shareable_list_set_none(mp_shareable_list_t *l, ssize_t index);

/* mp_shareable_list_close unmaps the block (the name stays: unlink it
 * through mp_shareable_list_shm); later calls but destroy and shm return
 * MP_ECLOSED. Idempotent. Returns 0 or MP_EINVAL (NULL).
 * mp_shareable_list_destroy closes it if needed and frees the handle. NULL
 * is ignored. Context: the process that has the handle. */
MP_EXTERN int mp_shareable_list_close(mp_shareable_list_t *l);
MP_EXTERN void mp_shareable_list_destroy(mp_shareable_list_t *l);

#ifdef __cplusplus
}
#endif

#endif /* MULTIPROC_SHM_H */
