/* SPDX-License-Identifier: MIT */
/* fnref.h - naming a function so that another process, which was not
 * forked from this one (an exec of the same program, a forkserver's child,
 * another rank of an MPI job), can call the same code: the start methods
 * and the pool send a task's function as these bytes.
 *
 * A reference names the ELF object the function lives in by its GNU
 * build-id (and, as a hint, its path) and the function by its offset from
 * the object's load address, so static functions work too. The receiving
 * side looks for a loaded object with that build-id (loading the path with
 * dlopen when it is a shared object not loaded yet), checks that the offset
 * falls in one of its executable segments, and only then returns a pointer:
 * a reference never leads into the wrong code. A function registered by
 * name (mp_register_function) is sent by name instead, for programs whose
 * workers are another binary. This is the library's one way to name a
 * function for another process: process targets, initializers (pool,
 * manager, the distributed pool) and every pool task use it.
 *
 * Encoding (little-endian), version 1:
 *   "MPFN" u8 version u8 kind
 *   kind 1 (object): u8 id_len, id[id_len], u16 path_len, path[path_len],
 *                    u64 offset
 *   kind 2 (name):   u16 name_len, name[name_len] */
#ifndef MP_FNREF_H
#define MP_FNREF_H

#include "../common/mp_internal.h"

#include <stddef.h>
#include <sys/types.h>

/* Any function: callers cast to and from their own function type. */
typedef void (*mp__fn_t)(void);

/* The longest registered name, and the most build-id bytes kept. */
#define MP__FNREF_NAME_MAX MP_FUNCTION_NAME_MAX
#define MP__FNREF_ID_MAX 64

/* mp__fnref_register names fn for references made in this process (and
 * resolved in any process that registered the same name): a name is
 * 1..MP__FNREF_NAME_MAX bytes. Registering the same name again for the
 * same function is a no-op. Returns 0 or MP_EINVAL (NULL, bad name),
 * MP_EEXIST (the name is taken by another function, or fn has another
 * name), MP_ENOMEM. The public mp_register_function is this. Lookups take
 * no lock (a forked child resolves names safely). Context: any thread;
 * register before the references are made or resolved. */
int mp__fnref_register(const char *name, mp__fn_t fn);

/* mp__fnref_encode makes the reference to fn: by name if fn is
 * registered, else by object and offset. On success *out holds a fresh
 * buffer (free with mp__free) and the return value is its length.
 * Returns MP_EINVAL (NULL), MP_ENOENT (fn is in no loaded object),
 * MP_ENOTSUP (its object has no build-id, so a receiver could not check
 * it: register the function by name), MP_ENOMEM. Context: any thread. */
ssize_t mp__fnref_encode(mp__fn_t fn, void **out);

/* mp__fnref_decode resolves the len bytes at ref to a function of this
 * process in *fn. Returns 0, MP_EPROTO (not a reference, truncated, or an
 * offset outside its object's code), MP_ENOENT (no object with that
 * build-id can be found, i.e. this is not the program that made the
 * reference, or the name is not registered here), MP_EINVAL (NULL),
 * MP_ENOMEM. A reference is trusted input, as a function pointer is: it
 * comes from a process of the same program and user over a channel the
 * library authenticated, and resolving it may load the shared object whose
 * path it carries. Context: any thread. */
int mp__fnref_decode(const void *ref, size_t len, mp__fn_t *fn);

/* mp__fnref_decode_loaded is mp__fnref_decode among the objects already
 * loaded: it never loads one (MP_ENOENT instead) and so never allocates,
 * for a pool worker, which may be a fork of a threaded program (see
 * mp__pool_map_grow). Context: any thread. */
int mp__fnref_decode_loaded(const void *ref, size_t len, mp__fn_t *fn);

#endif /* MP_FNREF_H */
