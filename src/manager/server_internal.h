/* SPDX-License-Identifier: MIT */
/* server_internal.h - what the files of a manager's handle (manager.c:
 * life cycle; start.c: starting and stopping the server; handles.c: what a
 * process's handles share; client.c: the client side of the wire) and
 * server.c (the server process) share: the manager handle's layout, which the
 * server process inherits through fork, the contracts between those files, and
 * the server's entry point. */
#ifndef MP_SERVER_INTERNAL_H
#define MP_SERVER_INTERNAL_H

#include "manager_internal.h"

#include <pthread.h>
#include <sys/stat.h>

/* The longest user typeid (public contract: 1..63 bytes). */
#define MP__MGR_TYPEID_MAX 63u
/* Bytes of the shutdown secret (arg0 of MP__OP_SHUTDOWN). */
#define MP__MGR_SECRET_LEN 16u
/* The listener's backlog. */
#define MP__MGR_BACKLOG 128
/* How long a peer may take for the authkey handshake (server side) and
 * for connect + handshake + HELLO (client side), in ms. */
#define MP__MGR_HANDSHAKE_MS 10000
/* A timed call (a queue get, an acquire ...) waits its own timeout on the
 * server; its client waits this much longer for the reply to come back
 * before it gives the call up with MP_ETIMEDOUT. */
#define MP__MGR_REPLY_GRACE_MS 2000
/* The most connections the server keeps in the handshake at once (each
 * has a thread): accepting one more first hangs up on the oldest that has
 * not finished, so silent peers cost a bounded number of threads and
 * cannot keep a client that answers at once from being served. */
#define MP__MGR_UNAUTH_MAX 64u
/* How long the server's loops pause after an error that retrying at once
 * would only repeat (no memory, a full descriptor table), in ms. */
#define MP__MGR_BACKOFF_MS 100
/* The name of the server's watcher thread (its /proc comm). */
#define MP__MGR_WATCHER_NAME "mp-mgr-watch"

/* A registered user type. */
typedef struct mp__mgr_type {
    char name[MP__MGR_TYPEID_MAX + 1];
    mp_manager_type_t type;
} mp__mgr_type_t;

/* One pooled client connection of this process. */
typedef struct mp__mgr_conn {
    mp_conn_t *conn;
    bool busy; /* taken by a call */
    struct mp__mgr_conn *next;
} mp__mgr_conn_t;

/* What a handle has been used for. */
typedef enum mp__mgr_role {
    MP__MGR_NEW,      /* created: register, start or connect next */
    MP__MGR_STARTED,  /* mp_manager_start succeeded */
    MP__MGR_CONNECTED /* mp_manager_connect succeeded */
} mp__mgr_role_t;

struct mp_manager {
    /* options (copied at create) */
    char *listen_address; /* opts.address, or NULL */
    uint8_t *authkey;     /* owned copy (random when none was given) */
    size_t authkey_len;
    size_t store_size;
    mp_duration_t shutdown_timeout; /* opts.shutdown_timeout, or 1000 ms */
    mp_duration_t call_timeout;     /* opts.call_timeout; MP_WAIT_FOREVER */
    bool remote_only;
    /* opts.initializer and a copy of its initargs (run by the server) */
    int (*initializer)(const void *initargs, size_t initargs_len);
    void *initargs;
    size_t initargs_len;
    mp_start_method_t start_method; /* opts.start_method (0: the default) */
    /* A server started by spawn or forkserver: an error of rebuilding its
     * handle (spawned.c), reported instead of running the initializer. */
    int boot_err;

    /* user types, registered before start */
    mp__mgr_type_t *types;
    size_t n_types;

    /* life cycle: guarded by life_mu in the owning process */
    pthread_mutex_t life_mu;
    mp__mgr_role_t role;
    _Atomic bool shut; /* shut down: every call is MP_ENOSERVER */
    pid_t owner;       /* the process that started or connected */
    char *address;     /* the server's address, once known */
    char *sock_path;   /* a default AF_UNIX path (removed at shutdown) */
    bool dir_user;     /* sock_path is in this process's private dir
                        * (handles.c) and counts as one of its users */
    /* An exec'd server's socket file, registered with this process
     * tree's tracker too (its own tracker is another tree's): sock_st is
     * the file's identity for the tracker. */
    bool sock_tracked;
    struct stat sock_st;
    mp_process_t *server; /* started handles: the server process */
    pid_t server_pid;     /* its pid (kept after shutdown) */
    uint8_t secret[MP__MGR_SECRET_LEN];
    mp__store_t *srv_store; /* the created store (the server's copy) */
    mp__store_t *store;     /* this process's attachment, or NULL */
    int ready_fd[2];        /* server -> starter "I serve" pipe */
    int stop_fd[2];         /* starter -> server "shut down" socketpair */
    /* The keeper thread forks the server and lives until it is gone: a
     * daemon's parent-death signal follows the thread that forked it, so
     * the server must not be forked by a caller's short-lived thread.
     * A start from the main thread forks directly (no keeper). */
    pthread_t keeper;
    bool keeper_running;
    pthread_mutex_t keeper_mu; /* keeper_* below */
    pthread_cond_t keeper_cv;
    bool keeper_forked; /* mp_process_start returned keeper_err */
    int keeper_err;
    bool keeper_quit; /* the server is gone: the keeper may end */

    /* this process's connections to the server (reset after fork) */
    pthread_mutex_t pool_mu;
    mp__mgr_conn_t *conns;
    /* The server counts each object reference against the connection
     * that took it (manager_internal.h, sessions), so this process's
     * CREATE, INCREF and DECREF all go over this one connection: its
     * references live exactly as long as it does. ref_mu is held across
     * each such call (reset after fork: the child holds no reference). */
    pthread_mutex_t ref_mu;
    mp_conn_t *ref_conn; /* made at the first such call, or NULL */

    /* every live handle of this process, for the fork handlers */
    struct mp_manager *prev, *next;
};

/*--- the client side of the wire (client.c) ---------------------------------*/

/* mp__mgr_connect_server opens a connection to address with m's authkey
 * and arms TCP keep-alive on it (a no-op for AF_UNIX), all within
 * timeout. Returns 0 with *out set, or the error of connecting. */
int mp__mgr_connect_server(const mp_manager_t *m, const char *address,
                           mp_duration_t timeout, mp_conn_t **out);

/* mp__mgr_exchange sends req over c and reads the reply into rep, waiting
 * for it at most timeout. Returns 0 (rep filled, its status may be an
 * error) or the error that left the connection unusable (the stream is
 * then out of step: the caller drops it); *keep says whether c may be
 * reused. */
int mp__mgr_exchange(mp_conn_t *c, const mp__mgr_req_t *req, mp__mgr_rep_t *rep,
                     mp_duration_t timeout, bool *keep);

/* mp__mgr_pool_adopt adds c to m's pool as an idle connection (on no
 * memory, c is destroyed). */
void mp__mgr_pool_adopt(mp_manager_t *m, mp_conn_t *c);

/* mp__mgr_pool_clear closes and frees every pooled connection and the
 * references connection (none may be busy): the server then drops every
 * reference this process held. Takes pool_mu and ref_mu. */
void mp__mgr_pool_clear(mp_manager_t *m);

/* mp__mgr_pool_forget closes this process's copies of m's pooled
 * connections and of its references connection and forgets them, taking
 * no lock: for a forked child (the fork handlers), whose copies are its
 * parent's streams. */
void mp__mgr_pool_forget(mp_manager_t *m);

/*--- what a process's handles share (handles.c) -----------------------------*/

/* mp__mgr_handles_add / mp__mgr_handles_remove put m on / take it off this
 * process's list of live handles, which the fork handlers (installed at
 * the first add) walk: in a forked child every handle's pool is forgotten
 * (mp__mgr_pool_forget), its locks and keeper state start over, and its
 * socket file is left to the parent. */
void mp__mgr_handles_add(mp_manager_t *m);
void mp__mgr_handles_remove(mp_manager_t *m);

/* mp__mgr_private_path_make sets m->sock_path to a fresh socket path in
 * this process's private directory (made mode 0700 under $TMPDIR or /tmp
 * unless it exists, registered with the tracker, removed at exit) and
 * counts m as one of its users (m->dir_user). Returns 0, MP_ENOMEM or
 * mkdtemp's error. mp__mgr_private_path_remove unlinks that socket file
 * if m made it, gives up m's use of the directory (the last user in a
 * process other than the session's first removes it) and frees
 * m->sock_path. */
int mp__mgr_private_path_make(mp_manager_t *m);
void mp__mgr_private_path_remove(mp_manager_t *m);

/*--- starting and stopping the server (start.c) -----------------------------*/

/* mp__mgr_stop_pipe_close closes whichever ends of m->stop_fd are open
 * (a forked child's inherited copies included). */
void mp__mgr_stop_pipe_close(mp_manager_t *m);

/* mp__mgr_shutdown_locked stops the server within m->shutdown_timeout
 * (then kills it), reaps it, closes the pool and removes the names the
 * store and the socket path held; the store stays mapped for proxies
 * still in use (they see MP_ENOSERVER). life_mu held; a started handle in
 * its starting process. */
void mp__mgr_shutdown_locked(mp_manager_t *m);

/*--- SharedMemoryManager: the server's blocks (segments.c) ------------------*/

/* The named blocks a server made for its clients (MP__OP_SHM_CREATE),
 * each unlinked at the server's shutdown, whoever created it and whether
 * or not that client still lives (Python's SharedMemoryServer). */
typedef struct mp__mgr_segments {
    pthread_mutex_t mu;
    mp_shm_t **shm; /* closed handles: the name and unlink stay usable */
    size_t n, cap;
} mp__mgr_segments_t;

/* mp__mgr_segments_init makes an empty list. */
void mp__mgr_segments_init(mp__mgr_segments_t *s);

/* mp__mgr_segments_create runs MP__OP_SHM_CREATE: a fresh block of
 * req->num[0] bytes (tracked by the server's tracker as well, so a killed
 * server's blocks go with its process tree), recorded in s; rep->data its
 * name. rep->status: 0, or an error of mp_shm_create, MP_ENOMEM. Takes
 * s->mu. */
void mp__mgr_segments_create(mp__mgr_segments_t *s, const mp__mgr_req_t *req,
                             mp__mgr_rep_t *rep);

/* mp__mgr_segments_free unlinks every block of s (one a client already
 * unlinked is skipped) and frees the list. At the server's shutdown, no
 * request running. */
void mp__mgr_segments_free(mp__mgr_segments_t *s);

/*--- the server process (server.c) ------------------------------------------*/

/* mp__mgr_server_main is the server process's target: arg is the manager
 * handle (the forked copy). It listens on m->sock_path or
 * m->listen_address, serves the store m->srv_store and user types, and
 * reports on m->ready_fd[1]: an int32 status, then (status 0) a uint32
 * length and the bound address. Returns the exit code (0 after a
 * SHUTDOWN). */
int mp__mgr_server_main(void *arg);

/*--- a server started by spawn or forkserver (spawned.c) --------------------*/

/* mp__mgr_boot_encode makes the boot record that an exec'd server of m
 * starts from (m's address or socket path, store, keys, initializer and
 * its arguments; ready_path: the named waker it reports on) in a fresh
 * buffer *out (mp__free). Returns its length, or MP_ENOMEM, MP_EINVAL (a
 * field over 4 GiB), MP_ENOENT / MP_ENOTSUP (the initializer cannot be
 * named: see mp__fnref_encode). */
ssize_t mp__mgr_boot_encode(const mp_manager_t *m, const char *ready_path,
                            void **out);

/* mp__mgr_spawned_main is an exec'd server's target: arg is the boot
 * record. It rebuilds a handle, reports a failure to do so on the ready
 * channel (or exits 1 when it cannot even open that), and otherwise runs
 * mp__mgr_server_main. */
int mp__mgr_spawned_main(void *arg);

/* The longest address the ready report carries. */
#define MP__MGR_ADDRESS_MAX 4096u

#endif /* MP_SERVER_INTERNAL_H */
