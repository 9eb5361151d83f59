/* SPDX-License-Identifier: MIT */
/* multiproc/manager.h - managers: a server process owning shared objects, and
 * the proxies that reach them. Included by multiproc.h; including it alone
 * works too. */
#ifndef MULTIPROC_MANAGER_H
#define MULTIPROC_MANAGER_H

#include "process.h"
#include "shm.h"
#include "values.h"

#ifdef __cplusplus
extern "C" {
#endif

/*===== Managers ============================================================*/

/* A manager: Python's multiprocessing.managers.SyncManager. A server
 * process owns shared objects (dict, list, Namespace, queues, Value, Array,
 * locks, semaphores, conditions, events, barriers and registered user
 * types) and hands out proxies that work from any process: children forked
 * after the proxy was made, processes that are already running (pass them
 * a token, see mp_proxy_token), and other machines over TCP.
 *
 * Two transports, one set of semantics: a proxy in a process that can map
 * the manager's shared store (its own process tree, or any process of the
 * same user on the same host that connects) runs each call directly on the
 * shared memory; any other proxy sends the call to the server, which runs
 * the very same code on the same memory. Calls made after the server died
 * or was shut down return MP_ENOSERVER; a call blocked in a wait notices
 * soon (docs/design.md, "Managers"). Byte strings stored in a dict, list or
 * Namespace are copied in and copied out (Python: values are returned by
 * value).
 *
 * The server guards itself against its peers: it bounds the connections in
 * the authkey handshake at once (one more hangs up on the oldest of them)
 * and the time each has for it (docs/design.md, "Managers"); it counts
 * every object reference against the client connection that took it, so a
 * client can drop only references it holds, and a client that goes (even
 * SIGKILLed) releases exactly its own; one client process holds at most
 * 65,536 references to one manager's objects (MP_ENOSPC beyond); a request
 * is at most the store's size (MP_EMSGSIZE beyond). */
typedef struct mp_manager mp_manager_t;
typedef struct mp_proxy mp_proxy_t;

/* What a proxy refers to. */
typedef enum {
    MP_PROXY_DICT = 1,
    MP_PROXY_LIST,
    MP_PROXY_NAMESPACE,
    MP_PROXY_QUEUE,
    MP_PROXY_JOINABLE_QUEUE,
    MP_PROXY_VALUE,
    MP_PROXY_ARRAY,
    MP_PROXY_LOCK,
    MP_PROXY_RLOCK,
    MP_PROXY_SEMAPHORE,
    MP_PROXY_BOUNDED_SEMAPHORE,
    MP_PROXY_CONDITION,
    MP_PROXY_EVENT,
    MP_PROXY_BARRIER,
    MP_PROXY_USER /* a type registered with mp_manager_register */
} mp_proxy_kind_t;

/* A byte string handed out by the snapshot calls (keys, items, slices). */
typedef struct mp_buf {
    void *data;
    size_t len;
} mp_buf_t;

/* Options for mp_manager_create; MP_MANAGER_OPTS_INIT (or NULL) means the
 * defaults. */
typedef struct mp_manager_opts {
    size_t size; /* sizeof(mp_manager_opts_t): set by MP_MANAGER_OPTS_INIT */
    /* Where the server listens (mp_listener_create's syntax): NULL picks a
     * fresh AF_UNIX path; "HOST:PORT" is TCP (port 0: any free port; use
     * "0.0.0.0:PORT" to be reachable from other machines). For
     * mp_manager_connect it is the server's address. */
    const char *address;
    /* The key clients must prove they know (Python's authkey). NULL: 32
     * random bytes from the kernel's CSPRNG (mp_manager_authkey tells
     * them). */
    const void *authkey;
    size_t authkey_len;
    /* Bytes reserved for the shared state (sparse: only what is used costs
     * memory); 0: 1 GiB. */
    size_t store_size;
    /* mp_manager_shutdown waits this long for the server to exit before it
     * kills it; 0: 1000 ms; MP_WAIT_FOREVER: it never kills it. */
    mp_duration_t shutdown_timeout;
    /* How long a proxy call that takes no timeout of its own (a dict, list,
     * Namespace, Value or Array call ...) waits for the server's reply
     * before it returns MP_ETIMEDOUT (the call may or may not have taken
     * effect on the server); 0: MP_WAIT_FOREVER. A call with a timeout of
     * its own (a queue put or get, an acquire, a wait, a join) waits that
     * timeout plus a short grace for its reply. Whatever the timeouts, a
     * server that died or whose link went silent ends every waiting call
     * with MP_ENOSERVER: at once over AF_UNIX or when the server exits,
     * within seconds over TCP (keep-alive; docs/design.md, "Managers"). */
    mp_duration_t call_timeout;
    /* mp_manager_connect only: never map the store, send every call to the
     * server (what a client on another machine does). */
    bool remote_only;
    /* Python's start(initializer, initargs): when set, mp_manager_start's
     * server process calls initializer(initargs, initargs_len) before it
     * listens (initargs_len bytes at initargs are copied at
     * mp_manager_create; initargs may be NULL when initargs_len is 0). It
     * returns 0, or a negative mp error that mp_manager_start then returns
     * (any other value: MP_EREMOTE; a server that dies in it:
     * MP_ENOSERVER), and no server is left running. */
    int (*initializer)(const void *initargs, size_t initargs_len);
    const void *initargs;
    size_t initargs_len;
    /* How mp_manager_start starts the server (Python: the manager's
     * context); 0: mp_start_method() at start. fork copies the starter;
     * spawn and forkserver start a fresh exec of the program (which must
     * call mp_main), handing it the address, keys and options as bytes:
     * the initializer and user types' callbacks (mp_manager_register) are
     * then named by their code (as a spawn target is); a user type whose
     * arg is not NULL is refused with MP_ENOTSUP. */
    mp_start_method_t start_method;
} mp_manager_opts_t;
/* MP_MANAGER_OPTS_INIT: an mp_manager_opts_t with its size set and every other
 * field at its default (see common.h, "Options structs"). */
#define MP_MANAGER_OPTS_INIT MP__OPTS_INIT(mp_manager_opts_t)

/* mp_manager_create makes a manager handle (nothing runs yet): start it
 * with mp_manager_start, or attach to a running server with
 * mp_manager_connect. Returns 0 or MP_EINVAL (NULL out, opts not
 * initialised with MP_MANAGER_OPTS_INIT: a wrong size, negative timeout,
 * authkey_len > 0 with a NULL key, initargs_len > 0 with NULL initargs, a
 * start_method outside the enum), MP_ENOMEM, or the kernel's error when
 * no random authkey can be had from getrandom (MP_ENOSYS ...). Context: any
 * process, any thread. */
MP_EXTERN int mp_manager_create(mp_manager_t **out,
                                const mp_manager_opts_t *opts);

/* A user type the server can hold (Python: BaseManager.register). The
 * callbacks run in the server process, one call at a time per object.
 * create builds an object from args (args_len bytes) and stores it in *obj;
 * call runs method on it with in/in_len and stores a malloc()ed result in
 * *out / *out_len (NULL/0 for none); destroy frees it. create and call
 * return 0 or a negative mp error (passed to the caller as is); any other
 * value reaches the caller as MP_EREMOTE. arg is passed to every callback.*/
typedef struct mp_manager_type {
    int (*create)(void **obj, const void *args, size_t args_len, void *arg);
    int (*call)(void *obj, const char *method, const void *in, size_t in_len,
                void **out, size_t *out_len, void *arg);
    void (*destroy)(void *obj, void *arg);
    void *arg;
} mp_manager_type_t;

/* Experimental (not yet under the ABI promise of docs/api-conventions.md):
 * mp_manager_register adds a user type named type_id (1..63 bytes) before
 * mp_manager_start (a forked server inherits it; under spawn and
 * forkserver its callbacks cross as checked function references and arg
 * must be NULL). Returns 0 or MP_EINVAL
 * (NULL, bad name, NULL create/call/destroy), MP_EEXIST (name taken),
 * MP_ESTARTED (already started or connected), MP_ENOMEM. Context: the
 * process that will start the manager, any thread, before the start. */
MP_EXTERN int mp_manager_register(mp_manager_t *m, const char *type_id,
                                  const mp_manager_type_t *type);

/* mp_manager_start starts the server by the options' start method and
 * returns once it listens (after the options' initializer ran there). The
 * server is a daemon of the calling process: it dies with it (even under
 * SIGKILL), and everything it held (shared memory, sockets) is removed.
 * Returns 0 or MP_EINVAL (also: the default method is unset and
 * MULTIPROC_START_METHOD names none), MP_ESTARTED (started or connected
 * before), MP_ECLOSED (shut down), MP_ENOTSUP (a user type with an arg
 * under spawn or forkserver), MP_ENOENT or MP_EPROTO (a user type's
 * callback names no code of the exec'd server), an error of
 * mp_listener_create (-EADDRINUSE, MP_EEXIST ...) or of starting the
 * process (MP_ENOMAIN ...: see mp_process_start), or the initializer's
 * failure (see mp_manager_opts_t). Context: the creating process, any
 * thread (a second start gets MP_ESTARTED). */
MP_EXTERN int mp_manager_start(mp_manager_t *m);

/* mp_manager_connect attaches to the running server at opts->address,
 * authenticating with opts->authkey (Python: BaseManager.connect), within
 * timeout (connect, handshake and the first exchange together). Returns 0
 * or MP_EINVAL (NULL, no address, bad timeout), MP_ESTARTED, MP_EAUTH
 * (wrong key), -ECONNREFUSED / MP_ENOENT (nothing listens there),
 * MP_ETIMEDOUT, MP_EPROTO (not a manager). A client on the server's host
 * maps the server's store and runs calls there itself, unless it is in
 * another pid namespace (or cannot map it): then every call goes to the
 * server. Context: any thread; the handle then belongs to the calling
 * process. */
MP_EXTERN int mp_manager_connect(mp_manager_t *m, mp_duration_t timeout);

/* The server's address (valid while m lives), or NULL before start or
 * connect. Context: any process that has the handle, any thread. */
MP_EXTERN const char *mp_manager_address(const mp_manager_t *m);

/* mp_manager_authkey points *key at the authkey (valid while m lives) and
 * sets *len. Returns 0 or MP_EINVAL. Context: any process that has the
 * handle, any thread. */
MP_EXTERN int mp_manager_authkey(const mp_manager_t *m, const void **key,
                                 size_t *len);

/* The server's pid for a started manager; 0 otherwise. Context: any process
 * that has the handle, any thread. */
MP_EXTERN pid_t mp_manager_pid(const mp_manager_t *m);

/* mp_manager_shutdown stops the server (Python: shutdown()): asks it to
 * exit, waits up to shutdown_timeout, then kills it. Every proxy of it,
 * in any process, then returns MP_ENOSERVER. Idempotent. Returns 0 or
 * MP_EINVAL, MP_ENOTSTARTED (never started), MP_ENOTOWNER (a connected
 * handle, or a process other than the starter). Context: the starting
 * process, any thread. */
MP_EXTERN int mp_manager_shutdown(mp_manager_t *m);

/* mp_manager_destroy shuts a started manager down (in its starting
 * process) and frees the handle. Destroy its proxies first. NULL is
 * ignored. Context: any process that has the handle (a forked child's copy
 * only drops that copy). */
MP_EXTERN void mp_manager_destroy(mp_manager_t *m);

/* Object factories: each makes a new object in the server and a proxy to
 * it in *out (free with mp_proxy_destroy). Python's defaults apply: a
 * queue with maxsize <= 0 is unbounded; init NULL is zeroes; a condition
 * made with lock NULL gets a new RLock. Return 0 or MP_EINVAL (NULL m or
 * out, bad type, parties 0, length 0, a lock proxy of another manager),
 * MP_EKIND (lock is no Lock/RLock), MP_ENOTSTARTED, MP_ENOSERVER, MP_ENOMEM
 * (the store is full), MP_ENOSPC (this process already holds 65,536
 * references to m's objects), MP_ENOENT (create_object: no such type_id),
 * or the error the user type's create returned. Context: any process that
 * has the handle, any thread. */
MP_EXTERN int mp_manager_dict(mp_manager_t *m, mp_proxy_t **out);
MP_EXTERN int mp_manager_list(mp_manager_t *m, mp_proxy_t **out);
MP_EXTERN int mp_manager_namespace(mp_manager_t *m, mp_proxy_t **out);
MP_EXTERN int mp_manager_queue(mp_manager_t *m, size_t maxsize,
                               mp_proxy_t **out);
MP_EXTERN int mp_manager_joinable_queue(mp_manager_t *m, size_t maxsize,
                                        mp_proxy_t **out);
MP_EXTERN int mp_manager_value(mp_manager_t *m, mp_type_t type,
                               const void *init, mp_proxy_t **out);
MP_EXTERN int mp_manager_array(mp_manager_t *m, mp_type_t type, size_t length,
                               const void *init, mp_proxy_t **out);
MP_EXTERN int mp_manager_lock(mp_manager_t *m, mp_proxy_t **out);
MP_EXTERN int mp_manager_rlock(mp_manager_t *m, mp_proxy_t **out);
MP_EXTERN int mp_manager_semaphore(mp_manager_t *m, unsigned value,
                                   mp_proxy_t **out);
MP_EXTERN int mp_manager_bounded_semaphore(mp_manager_t *m, unsigned value,
                                           mp_proxy_t **out);
MP_EXTERN int mp_manager_condition(mp_manager_t *m, mp_proxy_t *lock,
                                   mp_proxy_t **out);
MP_EXTERN int mp_manager_event(mp_manager_t *m, mp_proxy_t **out);
MP_EXTERN int mp_manager_barrier(mp_manager_t *m, unsigned parties,
                                 mp_proxy_t **out);
MP_EXTERN int mp_manager_create_object(mp_manager_t *m, const char *type_id,
                                       const void *args, size_t args_len,
                                       mp_proxy_t **out);

/* SharedMemoryManager (Python: multiprocessing.managers.SharedMemoryManager;
 * here every manager is one). mp_manager_shared_memory has the server create
 * a named block of size bytes (zero-filled; Python's smm.SharedMemory(size))
 * and attaches it in *out; mp_manager_shareable_list does the same for a
 * ShareableList of the n items (smm.ShareableList(sequence)). The block
 * belongs to the server from its first moment: it outlives the client that
 * asked for it (even one killed with SIGKILL) and is unlinked at the
 * manager's shutdown (a server that is killed leaves it to the tracker,
 * which removes it once the server's process tree is gone). A client may
 * unlink it sooner (mp_shm_unlink); destroy the handle (mp_shm_destroy,
 * mp_shareable_list_destroy) in any case. Returns 0 or MP_EINVAL (NULL m
 * or out, size 0, an item mp_shareable_list_create refuses), MP_EFBIG,
 * MP_ENOSPC (errors of mp_shm_create in the server), MP_ENOTSTARTED,
 * MP_ENOSERVER, MP_ENOMEM, or an error of mp_shm_attach (MP_ENOENT for a
 * client on another host: the block is the server host's). Context: any
 * process or thread that has the handle. */
MP_EXTERN int mp_manager_shared_memory(mp_manager_t *m, size_t size,
                                       mp_shm_t **out);
MP_EXTERN int mp_manager_shareable_list(mp_manager_t *m,
                                        const mp_shareable_item_t *items,
                                        size_t n, mp_shareable_list_t **out);

/* The longest token mp_proxy_token writes, terminator included. */
#define MP_PROXY_TOKEN_MAX 64

/* mp_proxy_token writes a text token naming the object (not the manager)
 * into buf, to hand the object to a process that did not inherit the proxy
 * (through a queue, a pipe, a pool task, a file ...). Returns 0 or
 * MP_EINVAL, MP_ERANGE (buflen < MP_PROXY_TOKEN_MAX). Context: any process
 * that has the proxy, any thread. */
MP_EXTERN int mp_proxy_token(const mp_proxy_t *p, char *buf, size_t buflen);

/* mp_proxy_from_token makes a proxy of m (started or connected in this
 * process or inherited) for the object a token names; the object lives at
 * least as long as this proxy. Returns 0 or MP_EINVAL (NULL, malformed
 * token), MP_ECLOSED (the object no longer exists), MP_ENOTSTARTED,
 * MP_ENOSERVER, MP_ENOMEM, MP_ENOSPC (this process already holds 65,536
 * references to m's objects). Context: any process that has m, any
 * thread. */
MP_EXTERN int mp_proxy_from_token(mp_proxy_t **out, mp_manager_t *m,
                                  const char *token);

/* The kind of object a proxy refers to, or MP_EINVAL for NULL. Context: any
 * process that has the proxy, any thread. */
MP_EXTERN int mp_proxy_kind(const mp_proxy_t *p);

/* mp_proxy_destroy drops the proxy. An object lives while a proxy made by
 * a factory or by mp_proxy_from_token exists; a proxy a child inherited
 * through fork does not hold it (destroying it in the child only frees
 * the child's copy). The server counts each process's references on its
 * own connection: a process that ends, or destroys its manager handle,
 * without destroying its proxies drops their references all the same.
 * NULL is ignored. Context: any process that has the proxy. */
MP_EXTERN void mp_proxy_destroy(mp_proxy_t *p);

/* Every call below returns MP_EINVAL for a NULL proxy or argument, MP_EKIND
 * for a proxy of another kind, MP_ENOSERVER once the server is gone,
 * MP_ECLOSED when the object was destroyed, MP_ENOMEM when the store or
 * the caller's memory is exhausted. Results handed out (void **out,
 * mp_buf_t **out) are malloc()ed: free them with mp_free. Timeouts are
 * mp_duration_t: MP_WAIT_FOREVER, MP_NO_WAIT or milliseconds; any other
 * negative value is MP_EINVAL. */

/* Dict (and Namespace, whose keys are attribute names): byte-string keys
 * of 1 byte or more and values of 0 bytes or more.
 * mp_dict_set stores a copy. mp_dict_get copies the value into *out and
 * returns its length, or MP_ENOENT (Python: KeyError). mp_dict_delete and
 * mp_dict_pop remove the key (MP_ENOENT when absent); pop hands the value
 * out like get. mp_dict_contains stores in *found whether the key is there
 * (returns 0 or an error); mp_dict_len returns the count.
 * mp_dict_keys and mp_dict_items take a snapshot: *out is one allocation
 * holding *n buffers (keys; or key, value, key, value ...) in no
 * particular order. Context: any process that has the proxy, any thread. */
MP_EXTERN int mp_dict_set(mp_proxy_t *d, const void *key, size_t klen,
                          const void *val, size_t vlen);
MP_EXTERN ssize_t mp_dict_get(mp_proxy_t *d, const void *key, size_t klen,
                              void **out);
MP_EXTERN int mp_dict_delete(mp_proxy_t *d, const void *key, size_t klen);
MP_EXTERN ssize_t mp_dict_pop(mp_proxy_t *d, const void *key, size_t klen,
                              void **out);
MP_EXTERN int mp_dict_contains(mp_proxy_t *d, const void *key, size_t klen,
                               bool *found);
MP_EXTERN ssize_t mp_dict_len(mp_proxy_t *d);
MP_EXTERN int mp_dict_clear(mp_proxy_t *d);
MP_EXTERN int mp_dict_keys(mp_proxy_t *d, mp_buf_t **out, size_t *n);
MP_EXTERN int mp_dict_items(mp_proxy_t *d, mp_buf_t **out, size_t *n);

/* Namespace: attributes by name (a C string of 1..255 bytes). get returns
 * the value's length or MP_ENOENT (Python: AttributeError). names works
 * like mp_dict_keys (the buffers hold the names without terminator).
 * Context: any process that has the proxy, any thread. */
MP_EXTERN int mp_namespace_set(mp_proxy_t *ns, const char *name,
                               const void *val, size_t vlen);
MP_EXTERN ssize_t mp_namespace_get(mp_proxy_t *ns, const char *name,
                                   void **out);
MP_EXTERN int mp_namespace_delete(mp_proxy_t *ns, const char *name);
MP_EXTERN int mp_namespace_names(mp_proxy_t *ns, mp_buf_t **out, size_t *n);

/* List of byte strings. Indexes are Python's: negative ones count from the
 * end; out of range is MP_ERANGE (IndexError). mp_list_insert clamps like
 * list.insert; mp_list_slice clamps like lst[start:stop] (step 1) and
 * hands out a snapshot like mp_dict_keys; mp_list_index returns the first
 * index holding an equal value, or MP_ENOENT (ValueError); mp_list_pop
 * removes and hands out the element at index (MP_ERANGE on an empty
 * list); mp_list_extend appends n buffers in order as one atomic step.
 * Context: any process that has the proxy, any thread. */
MP_EXTERN ssize_t mp_list_len(mp_proxy_t *l);
MP_EXTERN int mp_list_append(mp_proxy_t *l, const void *val, size_t len);
MP_EXTERN int mp_list_extend(mp_proxy_t *l, const mp_buf_t *vals, size_t n);
MP_EXTERN ssize_t mp_list_get(mp_proxy_t *l, ssize_t index, void **out);
MP_EXTERN int mp_list_set(mp_proxy_t *l, ssize_t index, const void *val,
                          size_t len);
MP_EXTERN int mp_list_delete(mp_proxy_t *l, ssize_t index);
MP_EXTERN int mp_list_insert(mp_proxy_t *l, ssize_t index, const void *val,
                             size_t len);
MP_EXTERN ssize_t mp_list_pop(mp_proxy_t *l, ssize_t index, void **out);
MP_EXTERN ssize_t mp_list_index(mp_proxy_t *l, const void *val, size_t len);
MP_EXTERN int mp_list_slice(mp_proxy_t *l, ssize_t start, ssize_t stop,
                            mp_buf_t **out, size_t *n);
MP_EXTERN int mp_list_reverse(mp_proxy_t *l);
MP_EXTERN int mp_list_clear(mp_proxy_t *l);

/* Queue and JoinableQueue proxies: put and get as mp_queue_put /
 * mp_queue_get (MP_EFULL / MP_EEMPTY when the timeout runs out, also for
 * MP_NO_WAIT), qsize, and for a JoinableQueue task_done (MP_EOVERRELEASE
 * when called more often than put) and join (MP_ETIMEDOUT). Context: any
 * process that has the proxy, any thread. */
MP_EXTERN int mp_proxy_put(mp_proxy_t *q, const void *buf, size_t len,
                           mp_duration_t timeout);
MP_EXTERN ssize_t mp_proxy_get(mp_proxy_t *q, void **out,
                               mp_duration_t timeout);
MP_EXTERN ssize_t mp_proxy_qsize(mp_proxy_t *q);
MP_EXTERN int mp_proxy_task_done(mp_proxy_t *q);
MP_EXTERN int mp_proxy_join(mp_proxy_t *q, mp_duration_t timeout);

/* Lock, RLock, Semaphore, BoundedSemaphore, Condition: acquire (0,
 * MP_ETIMEDOUT, or MP_EOWNERDEAD when a holder's process died: held anyway)
 * and release (MP_ENOTOWNER for an RLock or Condition the caller does not
 * hold; MP_EOVERRELEASE for a free Lock or a BoundedSemaphore at its
 * value). The holder is the calling process when the proxy maps the store,
 * else the server's thread for the caller's connection: a remote client
 * that disconnects releases what it held. Context: any process that has
 * the proxy, any thread; a release where the holder is (above). */
MP_EXTERN int mp_proxy_acquire(mp_proxy_t *p, mp_duration_t timeout);
MP_EXTERN int mp_proxy_release(mp_proxy_t *p);

/* Event: set, clear, is_set (the answer in *is_set; returns 0 or an error,
 * so that a dead server never reads as "set"), wait (0 once set, MP_ETIMEDOUT;
 * a waiter that was waiting when set() ran returns 0 even if clear() followed
 * at once, as in Python). Condition: wait (the caller must hold it:
 * MP_ENOTOWNER), notify n, notify_all. Barrier: wait returns this party's index
 * (0..parties-1) or MP_EBROKEN / MP_ETIMEDOUT; abort, reset; parties and
 * n_waiting return those numbers, broken stores the answer in *broken (returns
 * 0 or an error). Context: any process that has the proxy, any thread. */
MP_EXTERN int mp_proxy_set(mp_proxy_t *ev);
MP_EXTERN int mp_proxy_clear(mp_proxy_t *ev);
MP_EXTERN int mp_proxy_is_set(mp_proxy_t *ev, bool *is_set);
MP_EXTERN int mp_proxy_wait(mp_proxy_t *p, mp_duration_t timeout);
MP_EXTERN int mp_proxy_notify(mp_proxy_t *cond, unsigned n);
MP_EXTERN int mp_proxy_notify_all(mp_proxy_t *cond);
MP_EXTERN int mp_proxy_abort(mp_proxy_t *bar);
MP_EXTERN int mp_proxy_reset(mp_proxy_t *bar);
MP_EXTERN int mp_proxy_parties(mp_proxy_t *bar);
MP_EXTERN int mp_proxy_n_waiting(mp_proxy_t *bar);
MP_EXTERN int mp_proxy_broken(mp_proxy_t *bar, bool *broken);

/* Value and Array (elements of an mp_type_t): get copies out one value of
 * mp_type_size(type) bytes, set copies one in; each call is atomic.
 * Arrays: index out of range is MP_ERANGE; mp_proxy_array_len returns the
 * length. Context: any process that has the proxy, any thread. */
MP_EXTERN int mp_proxy_value_get(mp_proxy_t *v, void *out);
MP_EXTERN int mp_proxy_value_set(mp_proxy_t *v, const void *in);
MP_EXTERN int mp_proxy_array_get(mp_proxy_t *a, size_t index, void *out);
MP_EXTERN int mp_proxy_array_set(mp_proxy_t *a, size_t index, const void *in);
MP_EXTERN ssize_t mp_proxy_array_len(mp_proxy_t *a);

/* Experimental (not yet under the ABI promise of docs/api-conventions.md):
 * mp_proxy_call runs method (1..63 bytes) of a registered user type's object in
 * the server and hands its result out in *out / *out_len (NULL / 0 when it gave
 * none). Returns 0, the negative mp error the callback returned, MP_EREMOTE for
 * any other failure, MP_EKIND for a built-in object. Context: any process
 * that has the proxy, any thread; the server runs the calls on one object
 * one at a time. */
MP_EXTERN int mp_proxy_call(mp_proxy_t *p, const char *method, const void *in,
                            size_t in_len, void **out, size_t *out_len);

#ifdef __cplusplus
}
#endif

#endif /* MULTIPROC_MANAGER_H */
