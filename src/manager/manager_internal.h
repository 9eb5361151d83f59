/* SPDX-License-Identifier: MIT */
/* manager_internal.h - the pieces of a manager and the contracts between
 * them (docs/design.md, "Managers").
 *
 *   proxy.c    the proxy handle, its request helpers (proxy_internal.h),
 *              factories, tokens, and the public calls of queues, sync
 *              objects, Values/Arrays and user types: each builds one
 *              request and hands it to mp__mgr_invoke (fast path or server)
 *   collections.c  the public dict, Namespace and list calls
 *   store.c    the shared store: a named segment holding a heap and the
 *              object table, plus the server's liveness word
 *   dict.c     dict/Namespace state in the store
 *   list.c     list state in the store
 *   values.c   Value/Array state in the store
 *   objects.c  objects of every kind: state made at CREATE, freed with the
 *              last reference; this process's handles of sync objects and
 *              queues
 *   session.c  a server connection's record of what its client holds
 *   exec.c     mp__mgr_exec: runs one request against the store; the same
 *              code serves a proxy's fast path and the server; the end of
 *              a session (what it held is released)
 *   pack.c     packed byte lists, reply cleanup
 *   codec.c    request/reply <-> bytes (the server's parser: fuzzed)
 *   server.c   the server process: listener, one thread per connection,
 *              user types, shutdown
 *   client.c   the client side of the wire (per-process pool of
 *              connections, the references connection, mp__mgr_call)
 *   handles.c  what a process's handles share: fork handlers, the private
 *              socket directory
 *   start.c    starting and stopping the server
 *   manager.c  mp_manager_* life cycle: create, register, connect, destroy
 *
 * This header declares what proxies, the executor, the codec and the
 * server share: requests and replies, the wire, the store's public face,
 * sessions, mp__mgr_exec, mp__mgr_call. store_internal.h adds the store's
 * layout and the kinds' states (for the files that work on the store);
 * server_internal.h the manager handle and the contracts between the
 * handle's files and the server; proxy_internal.h the proxy handle.
 *
 * Layering (each calls only down): pack <- store <- dict, list, values <-
 * objects <- exec <- server, proxy ; session <- exec ; pack <- codec <- client
 * <- handles <- start <- manager <- proxy <- collections ; start forks
 * server's main. */
#ifndef MP_MANAGER_INTERNAL_H
#define MP_MANAGER_INTERNAL_H

#include "../shm/shm_internal.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*--- requests and replies ---------------------------------------------------*/

/* Operations. Numbers are wire values: append only. */
enum mp__mgr_op {
    /* server-level (index/gen 0) */
    MP__OP_HELLO = 1,  /* rep: data = store name, num = 1 if the store may
                          be mapped (same host), gen = protocol version */
    MP__OP_CREATE,     /* num0 = kind, num1 = kind parameter (queue maxsize,
                          semaphore value, barrier parties, value/array
                          type, array length in num2), arg0 = init bytes
                          (value/array) or typeid (user) ; condition: num1 =
                          lock index, num2 = lock gen, or num1 = -1 for a
                          new RLock. rep: num = index, gen = gen */
    MP__OP_INCREF,     /* object: +1 reference */
    MP__OP_DECREF,     /* object: -1 reference; frees it at 0 */
    MP__OP_SHUTDOWN,   /* server: exit (owner only: arg0 = shutdown secret) */
    MP__OP_DESCRIBE,   /* object: rep num = kind (for tokens) */
    MP__OP_SHM_CREATE, /* server: a named block of num0 bytes, unlinked at
                          the server's shutdown; rep data = its name */

    /* dict and namespace: arg0 = key, arg1 = value */
    MP__OP_DICT_SET = 16,
    MP__OP_DICT_GET, /* rep data = value */
    MP__OP_DICT_DELETE,
    MP__OP_DICT_POP,      /* rep data = value */
    MP__OP_DICT_CONTAINS, /* rep num = 1/0 */
    MP__OP_DICT_LEN,      /* rep num */
    MP__OP_DICT_CLEAR,
    MP__OP_DICT_KEYS,  /* rep data = packed list, num = count */
    MP__OP_DICT_ITEMS, /* rep data = packed k,v,k,v, num = 2*pairs */

    /* list: num0 = index (python rules), num1 = stop (slice) */
    MP__OP_LIST_LEN = 40,
    MP__OP_LIST_APPEND, /* arg0 */
    MP__OP_LIST_EXTEND, /* arg0 = packed list, num0 = count */
    MP__OP_LIST_GET,    /* rep data */
    MP__OP_LIST_SET,    /* num0, arg0 */
    MP__OP_LIST_DELETE, /* num0 */
    MP__OP_LIST_INSERT, /* num0, arg0 */
    MP__OP_LIST_POP,    /* num0, rep data */
    MP__OP_LIST_INDEX,  /* arg0, rep num */
    MP__OP_LIST_SLICE,  /* num0 start, num1 stop, rep packed, num count */
    MP__OP_LIST_REVERSE,
    MP__OP_LIST_CLEAR,

    /* queues: timeout = the caller's mp_duration_t */
    MP__OP_Q_PUT = 64, /* arg0 */
    MP__OP_Q_GET,      /* rep data */
    MP__OP_Q_QSIZE,    /* rep num */
    MP__OP_Q_TASK_DONE,
    MP__OP_Q_JOIN,

    /* locks, semaphores, conditions, events, barriers */
    MP__OP_ACQUIRE = 80,
    MP__OP_RELEASE,
    MP__OP_WAIT,   /* event/condition; barrier: rep num = index */
    MP__OP_NOTIFY, /* num0 = n */
    MP__OP_NOTIFY_ALL,
    MP__OP_EV_SET,
    MP__OP_EV_CLEAR,
    MP__OP_EV_IS_SET, /* rep num */
    MP__OP_BAR_ABORT,
    MP__OP_BAR_RESET,
    MP__OP_BAR_INFO, /* rep num = parties | n_waiting << 16 | broken << 32 */

    /* Value / Array: num0 = index; arg0 = element bytes for set */
    MP__OP_VALUE_GET = 100, /* rep data = element */
    MP__OP_VALUE_SET,
    MP__OP_ARRAY_GET,
    MP__OP_ARRAY_SET,
    MP__OP_ARRAY_LEN, /* rep num */

    /* user types (server only): arg0 = method name, arg1 = input */
    MP__OP_USER_CALL = 120, /* rep data = output */
};

/* A byte argument or result: caller's memory, never owned by the request. */
typedef struct mp__mgr_bytes {
    const void *ptr;
    size_t len;
} mp__mgr_bytes_t;

/* One request. Object ids are (index, gen) of the store's object table. */
typedef struct mp__mgr_req {
    uint16_t op;
    uint32_t index, gen;
    int64_t timeout; /* mp_duration_t of the caller */
    bool timed;      /* not on the wire: the op waits up to timeout on the
                        server (queue put/get/join, acquire, wait) */
    int64_t num[3];
    mp__mgr_bytes_t arg[2];
} mp__mgr_req_t;

/* One reply. data (when not NULL) is mp__malloc()ed and owned by whoever
 * holds the reply; free it with mp__mgr_rep_clear. */
typedef struct mp__mgr_rep {
    int32_t status; /* 0 or a negative mp error */
    uint32_t gen;
    int64_t num;
    void *data;
    size_t len;
} mp__mgr_rep_t;

void mp__mgr_rep_clear(mp__mgr_rep_t *rep);

/* Packed lists (keys, items, slices, extend): count entries, each a
 * little-endian uint64 length followed by that many bytes.
 * mp__mgr_pack_size/mp__mgr_pack build one (pack_size stores the bytes
 * needed in *len and returns 0, or MP_ENOMEM when they do not fit in a
 * size_t); mp__mgr_unpack turns one into
 * a single allocation of count mp_buf_t followed by their bytes (what the
 * public snapshot calls hand out); it returns MP_EPROTO if the packed
 * bytes do not hold exactly count well-formed entries. */
int mp__mgr_pack_size(const mp_buf_t *bufs, size_t count, size_t *len);
void mp__mgr_pack(const mp_buf_t *bufs, size_t count, uint8_t *dst);
int mp__mgr_unpack(const void *packed, size_t len, size_t count,
                   mp_buf_t **out);

/*--- the wire (codec.c) -----------------------------------------------------
 * Request: fixed little-endian header, then arg0 then arg1 bytes:
 *   u8 'M', u8 version (1), u16 op, u32 index, u32 gen, i64 timeout,
 *   i64 num[3], u64 len0, u64 len1            (64 bytes)
 * Reply: i32 status, u32 gen, i64 num, u64 len, then len bytes (24 bytes).
 * Decoders accept exactly one well-formed message: lengths must add up
 * to the buffer size, the magic and version must match. */
#define MP__MGR_REQ_HDR 64u
#define MP__MGR_REP_HDR 24u
#define MP__MGR_VERSION 1u

/* mp__mgr_req_encode returns a fresh mp__malloc()ed buffer in *buf and *len.
 * Returns 0 or MP_ENOMEM. */
int mp__mgr_req_encode(const mp__mgr_req_t *req, void **buf, size_t *len);
/* mp__mgr_req_decode fills req from buf (its args point into buf).
 * Returns 0 or MP_EPROTO. Pure; fuzzed. */
int mp__mgr_req_decode(const void *buf, size_t len, mp__mgr_req_t *req);
int mp__mgr_rep_encode(const mp__mgr_rep_t *rep, void **buf, size_t *len);
/* mp__mgr_rep_decode fills rep from buf, copying the data into a fresh
 * allocation. Returns 0, MP_EPROTO or MP_ENOMEM. */
int mp__mgr_rep_decode(const void *buf, size_t len, mp__mgr_rep_t *rep);

/*--- the store (store.c) ----------------------------------------------------*/

/* A process's attachment to a store (opaque). The server creates the
 * store; a client on the same host attaches it by name. The attachment
 * also caches, per object, the process-local handles exec needs (wrapped
 * sync objects, attached queues), so it is never shared across processes
 * except by fork (the child's copy stays valid). */
typedef struct mp__store mp__store_t;

/* mp__store_create makes a new named store segment of size bytes (sparse),
 * registered with the tracker, and formats it (with a fresh secret key for
 * its dicts' hash, from the kernel). Returns 0 or an mp error. */
int mp__store_create(mp__store_t **out, size_t size);

/* mp__store_serve marks the store as served by the calling thread: it
 * holds the liveness word (a robust process-shared mutex) until it exits,
 * or until mp__store_close_down. Call it in the server's main thread. */
int mp__store_serve(mp__store_t *st);

/* mp__store_close_down marks a clean shutdown: from now on every
 * mp__store_alive reports MP_ENOSERVER. */
void mp__store_close_down(mp__store_t *st);

/* mp__store_alive returns 0 while the server lives, else MP_ENOSERVER.
 * No syscall on the live path. */
int mp__store_alive(mp__store_t *st);

/* mp__store_attach maps an existing store by name. Returns 0 or MP_ENOENT,
 * MP_EACCES, MP_EPROTO (not a store), MP_EPIDNS (made in another pid
 * namespace: the client is then served over its socket), MP_ENOMEM. */
int mp__store_attach(mp__store_t **out, const char *name);

/* mp__store_name returns the segment's name. */
const char *mp__store_name(const mp__store_t *st);

/* mp__store_detach drops this process's attachment (and its cached
 * handles). mp__store_remove_names removes the names of the store and of
 * every queue it holds (shm_unlink + tracker unregister) without taking
 * any lock, so the server after SIGTERM and the starting process after
 * the server's exit both use it; the mapping stays. mp__store_destroy
 * does both. */
void mp__store_detach(mp__store_t *st);
void mp__store_remove_names(mp__store_t *st);
void mp__store_destroy(mp__store_t *st);

/* The kind of an object, checking its id: returns the kind (> 0) or
 * MP_ECLOSED (no such object any more), MP_EINVAL (index out of table). */
int mp__store_kind(mp__store_t *st, uint32_t index, uint32_t gen);

/* mp__store_set_user_hooks lets the server run user types: destroy is
 * called with the value create stored when a user object's last reference
 * goes. */
void mp__store_set_user_destroy(mp__store_t *st,
                                void (*destroy)(uint64_t handle, void *arg),
                                void *arg);

/* mp__store_user_new / mp__store_user_handle: server only, the table entry
 * of a user object and the value (a pointer in the server) stored in it. */
int mp__store_user_new(mp__store_t *st, uint64_t handle, uint32_t *index,
                       uint32_t *gen);
int mp__store_user_handle(mp__store_t *st, uint32_t index, uint32_t gen,
                          uint64_t *handle);

/*--- sessions (session.c) and execution (exec.c) ---------------------------*/

/* Per-connection state in the server: what the connection's thread holds
 * (locks, semaphore units, RLock levels) and the object references its
 * client holds, all released by mp__mgr_session_end when the client goes.
 * NULL on the fast path (the calling process holds, and death is detected
 * by pid).
 *
 * References: with a session, mp__mgr_exec records every reference a
 * CREATE or INCREF hands out, and a DECREF drops only one the session
 * holds (else MP_ENOTOWNER): a client can never free what another holds,
 * and a connection that ends drops exactly its own. One session holds at
 * most MP__MGR_SESSION_REFS_MAX references (the same object counted as
 * often as it was referenced); a CREATE or INCREF beyond that is refused
 * with MP_ENOSPC and changes nothing. */
#define MP__MGR_SESSION_REFS_MAX 65536u
typedef struct mp__mgr_session mp__mgr_session_t;
mp__mgr_session_t *mp__mgr_session_new(void);
void mp__mgr_session_end(mp__store_t *st, mp__mgr_session_t *s);
/* mp__mgr_session_ref_room makes room for one more reference in s:
 * returns 0 (the next mp__mgr_session_ref_note cannot fail), MP_ENOSPC
 * (s is at MP__MGR_SESSION_REFS_MAX) or MP_ENOMEM. mp__mgr_session_ref_note
 * records that s now holds one more reference of object (index, gen). The
 * server uses the pair for the objects it makes itself (user types). */
int mp__mgr_session_ref_room(mp__mgr_session_t *s);
void mp__mgr_session_ref_note(mp__mgr_session_t *s, uint32_t index,
                              uint32_t gen);
/* mp__mgr_session_refs returns how many references s holds (tests). */
uint64_t mp__mgr_session_refs(const mp__mgr_session_t *s);
/* mp__mgr_session_cancel marks s as abandoned by its client (the server
 * calls it from another thread when the client hangs up in the middle of a
 * blocking request): the blocking op mp__mgr_exec runs for s then returns
 * MP_ENOSERVER at its next liveness check (within 100 ms), so that the
 * connection's thread can end the session and release what it holds. */
void mp__mgr_session_cancel(mp__mgr_session_t *s);

/* What mp__mgr_exec and mp__mgr_session_end use of a session (session.c;
 * s not NULL unless said). mp__mgr_session_cancelled says whether
 * mp__mgr_session_cancel ran (false for NULL). mp__mgr_session_hold_note
 * adds delta to what s holds of object (index, gen) (a release of what
 * s does not hold is ignored; on no memory a new hold is not recorded,
 * and then not released at the end). mp__mgr_session_ref_drop drops one of
 * s's references of (index, gen) from its record: returns 0, or
 * MP_ENOTOWNER when s holds none (nothing changes). mp__mgr_session_hold_at
 * and mp__mgr_session_ref_at read the i-th hold (count: levels or units)
 * or reference slot (count 0: an empty slot) of s into the out-parameters
 * and return true, or false once i is past the last. mp__mgr_session_free
 * frees s's record, releasing nothing (NULL: nothing). */
bool mp__mgr_session_cancelled(const mp__mgr_session_t *s);
void mp__mgr_session_hold_note(mp__mgr_session_t *s, uint32_t index,
                               uint32_t gen, int64_t delta);
int mp__mgr_session_ref_drop(mp__mgr_session_t *s, uint32_t index,
                             uint32_t gen);
bool mp__mgr_session_hold_at(const mp__mgr_session_t *s, size_t i,
                             uint32_t *index, uint32_t *gen, int64_t *count);
bool mp__mgr_session_ref_at(const mp__mgr_session_t *s, size_t i,
                            uint32_t *index, uint32_t *gen, uint64_t *count);
void mp__mgr_session_free(mp__mgr_session_t *s);

/* mp__mgr_exec runs req against st and fills rep (status 0 or an error).
 * Every op of the built-in kinds, CREATE/INCREF/DECREF included (run by
 * the server only; with a session they keep its references, above, and
 * may also fail with MP_ENOSPC, MP_ENOTOWNER); not HELLO, SHUTDOWN,
 * USER_CALL, or CREATE of MP_PROXY_USER: the server does those itself.
 * Checks the object id
 * and kind (MP_ECLOSED, MP_EKIND, MP_EINVAL), the arguments (MP_EINVAL,
 * MP_ERANGE), and the server's liveness (MP_ENOSERVER) before it starts
 * and, for a blocking op, at least every 100 ms while it waits. Returns
 * rep->status. Context: any thread, any process attached to st. */
int mp__mgr_exec(mp__store_t *st, mp__mgr_session_t *session,
                 const mp__mgr_req_t *req, mp__mgr_rep_t *rep);

/*--- the manager handle (manager.c) -----------------------------------------*/

/* mp__mgr_store returns the store m maps in this process for the fast
 * path, or NULL (remote only, or not started/connected). */
mp__store_t *mp__mgr_store(mp_manager_t *m);

/*--- the client side of the wire (client.c) ---------------------------------*/

/* mp__mgr_call sends req to m's server over one of this process's pooled
 * connections (made lazily, per process, reset after fork) and waits for
 * the reply. A lost connection or a dead server is MP_ENOSERVER. Returns
 * rep->status (transport errors are also stored there). */
int mp__mgr_call(mp_manager_t *m, const mp__mgr_req_t *req, mp__mgr_rep_t *rep);

/* mp__mgr_invoke runs req the fastest way: mp__mgr_exec on the mapped
 * store when there is one and the object is built-in, else mp__mgr_call.
 * CREATE, INCREF, DECREF, HELLO, SHUTDOWN and USER_CALL always go to the
 * server: objects are created and freed by the server process, so that
 * what they own (a queue's segment) belongs to the server. (proxy.c) */
int mp__mgr_invoke(mp_manager_t *m, const mp__mgr_req_t *req,
                   mp__mgr_rep_t *rep, bool user_kind);

#endif /* MP_MANAGER_INTERNAL_H */
