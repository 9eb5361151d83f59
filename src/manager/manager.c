/* SPDX-License-Identifier: MIT */
/* manager.c - the manager handle: mp_manager_* life cycle (create,
 * register, start, connect, shutdown, destroy). The client side of the
 * wire (the per-process pool of connections, the references connection,
 * mp__mgr_call) is client.c's.
 *
 * Start: the starter creates the store (and, for a default AF_UNIX path,
 * its process's private directory: see below), then forks the server (a
 * daemon process: it dies with the starter) which creates the listener
 * itself (so that the starter never holds the listening socket: once the
 * server is gone a client gets ECONNREFUSED or ENOENT at once) and
 * reports "serving" or its error over a pipe. The starter's fast path
 * uses the mapping of the store it made for the server.
 *
 * Fork: a forked child must not use its parent's sockets (replies would
 * reach the wrong process), so the fork handlers drop every pooled
 * connection in the child (closing only the child's copies of the fds). */
#include "server_internal.h"

#include "../platform/platform.h"
#include "../process/process_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Default shared-state size and shutdown wait (public contract). */
#define DEFAULT_STORE_SIZE ((size_t)1 << 30)
#define DEFAULT_SHUTDOWN_MS 1000
/* Bytes of a generated authkey. */
#define RANDOM_AUTHKEY_LEN 32u

/*--- the private directory of default addresses: its state -----------------*/

/* Like Python's util.get_temp_dir: one private directory (mode 0700) per
 * process, made at its first start of a manager with a default address
 * and shared by all of them (each has its own socket file in it). It is
 * removed at exit (atexit), or, in a process other than the session's
 * first (a child may leave through _exit), when its last such manager
 * shuts down. Per manager, removing a directory can cost a synchronous
 * block discard (~1 ms on ext4 mounted with "discard"); unlinking a
 * socket file frees no block. dir_* are guarded by dir_mu; a forked
 * child's copies are its parent's (dir_pid tells). */
static pthread_mutex_t dir_mu = PTHREAD_MUTEX_INITIALIZER;
static char *dir_path;     /* the directory, or NULL */
static pid_t dir_pid;      /* the process that made dir_path */
static unsigned dir_users; /* started handles with a socket in it */
static uint64_t dir_seq;   /* numbers the socket files */
static bool dir_atexit;    /* dir_at_exit registered (inherited by fork) */

/*--- the fork handlers ------------------------------------------------------*/

static pthread_mutex_t handles_mu = PTHREAD_MUTEX_INITIALIZER;
static mp_manager_t *handles; /* every live handle of this process */
static pthread_once_t handles_once = PTHREAD_ONCE_INIT;

/* atfork prepare: no pool may change while fork copies memory. */
static void
handles_prepare(void)
{
    pthread_mutex_lock(&dir_mu);
    pthread_mutex_lock(&handles_mu);
    for (mp_manager_t *m = handles; m != NULL; m = m->next) {
        pthread_mutex_lock(&m->pool_mu);
    }
}

static void
handles_parent(void)
{
    for (mp_manager_t *m = handles; m != NULL; m = m->next) {
        pthread_mutex_unlock(&m->pool_mu);
    }
    pthread_mutex_unlock(&handles_mu);
    pthread_mutex_unlock(&dir_mu);
}

/* atfork child: the pooled connections are the parent's; close the
 * child's copies (the parent's sockets stay as they are). life_mu may have
 * been held by the forking thread (mp_manager_start forks the server while
 * holding it), so it starts over unlocked. */
static void
handles_child(void)
{
    for (mp_manager_t *m = handles; m != NULL; m = m->next) {
        /* The references connection too: the child holds no reference
         * (an inherited proxy uses its parent's). */
        mp__mgr_pool_forget(m);
        pthread_mutex_unlock(&m->pool_mu);
        /* ref_mu may have been held by another thread of the parent. */
        pthread_mutex_init(&m->ref_mu, NULL);
        pthread_mutex_init(&m->life_mu, NULL);
        /* The keeper thread is the parent's. */
        pthread_mutex_init(&m->keeper_mu, NULL);
        pthread_cond_init(&m->keeper_cv, NULL);
        m->keeper_running = false;
        /* The parent's socket file: the parent removes it. */
        m->dir_user = false;
    }
    pthread_mutex_unlock(&handles_mu);
    pthread_mutex_unlock(&dir_mu);
}

static void
handles_init(void)
{
    pthread_atfork(handles_prepare, handles_parent, handles_child);
}

static void
handles_add(mp_manager_t *m)
{
    pthread_once(&handles_once, handles_init);
    pthread_mutex_lock(&handles_mu);
    m->prev = NULL;
    m->next = handles;
    if (handles != NULL) {
        handles->prev = m;
    }
    handles = m;
    pthread_mutex_unlock(&handles_mu);
}

static void
handles_remove(mp_manager_t *m)
{
    pthread_mutex_lock(&handles_mu);
    if (m->prev != NULL) {
        m->prev->next = m->next;
    } else {
        handles = m->next;
    }
    if (m->next != NULL) {
        m->next->prev = m->prev;
    }
    pthread_mutex_unlock(&handles_mu);
}

/*--- the fast path's store -------------------------------------------------*/

mp__store_t *
mp__mgr_store(mp_manager_t *m)
{
    return m != NULL ? m->store : NULL;
}

/*--- create / register ------------------------------------------------------*/

int
mp_manager_create(mp_manager_t **out, const mp_manager_opts_t *opts)
{
    mp_manager_opts_t none = {0};
    if (opts == NULL) {
        opts = &none;
    }
    int64_t unused_deadline;
    if (out == NULL || opts->shutdown_timeout_ms < 0 ||
        mp__deadline(opts->call_timeout, &unused_deadline) != 0 ||
        (opts->authkey == NULL && opts->authkey_len > 0)) {
        return MP_EINVAL;
    }
    mp__init();
    mp_manager_t *m = mp__calloc(1, sizeof *m);
    if (m == NULL) {
        return MP_ENOMEM;
    }
    m->ready_fd[0] = m->ready_fd[1] = -1;
    m->stop_fd[0] = m->stop_fd[1] = -1;
    m->store_size =
        opts->store_size > 0 ? opts->store_size : DEFAULT_STORE_SIZE;
    m->shutdown_timeout_ms = opts->shutdown_timeout_ms > 0
                                 ? opts->shutdown_timeout_ms
                                 : DEFAULT_SHUTDOWN_MS;
    m->call_timeout =
        opts->call_timeout != 0 ? opts->call_timeout : MP_WAIT_FOREVER;
    m->remote_only = opts->remote_only;
    m->authkey_len =
        opts->authkey != NULL ? opts->authkey_len : RANDOM_AUTHKEY_LEN;
    /* One byte more, so that an empty key still has a non-NULL pointer. */
    size_t key_bytes;
    m->authkey = mp__size_add(m->authkey_len, 1, &key_bytes)
                     ? mp__malloc(key_bytes)
                     : NULL;
    if (opts->address != NULL) {
        m->listen_address = mp__strdup(opts->address);
    }
    if (m->authkey == NULL ||
        (opts->address != NULL && m->listen_address == NULL)) {
        mp__free(m->authkey);
        mp__free(m->listen_address);
        mp__free(m);
        return MP_ENOMEM;
    }
    if (opts->authkey != NULL) {
        memcpy(m->authkey, opts->authkey, m->authkey_len);
    } else {
        /* A secret: from the kernel, never from the names' generator. */
        int r = mp__plat_secret_bytes(m->authkey, m->authkey_len);
        if (r != 0) {
            mp__free(m->authkey);
            mp__free(m->listen_address);
            mp__free(m);
            return r;
        }
    }
    pthread_mutex_init(&m->life_mu, NULL);
    pthread_mutex_init(&m->pool_mu, NULL);
    pthread_mutex_init(&m->ref_mu, NULL);
    pthread_mutex_init(&m->keeper_mu, NULL);
    pthread_cond_init(&m->keeper_cv, NULL);
    handles_add(m);
    *out = m;
    return 0;
}

int
mp_manager_register(mp_manager_t *m, const char *typeid,
                    const mp_manager_type_t *type)
{
    if (m == NULL || typeid == NULL || type == NULL || type->create == NULL ||
        type->call == NULL || type->destroy == NULL) {
        return MP_EINVAL;
    }
    size_t len = strlen(typeid);
    if (len == 0 || len > MP__MGR_TYPEID_MAX) {
        return MP_EINVAL;
    }
    pthread_mutex_lock(&m->life_mu);
    int err = 0;
    if (m->role != MP__MGR_NEW) {
        err = MP_ESTARTED;
        goto out;
    }
    for (size_t i = 0; i < m->n_types; i++) {
        if (strcmp(m->types[i].name, typeid) == 0) {
            err = MP_EEXIST;
            goto out;
        }
    }
    mp__mgr_type_t *types =
        mp__realloc(m->types, (m->n_types + 1) * sizeof *types);
    if (types == NULL) {
        err = MP_ENOMEM;
        goto out;
    }
    m->types = types;
    memcpy(types[m->n_types].name, typeid, len + 1);
    types[m->n_types].type = *type;
    m->n_types++;
out:
    pthread_mutex_unlock(&m->life_mu);
    return err;
}

/*--- the private directory of default addresses ----------------------------*/

/* (Its state is above, with the fork handlers that guard it.) */

/* atexit: removes this process's directory, first unlinking the socket
 * files of servers still running (they are being stopped: the process
 * registry SIGTERMs daemons at exit). */
static void
dir_at_exit(void)
{
    if (dir_path == NULL || dir_pid != mp__getpid()) {
        return;
    }
    if (rmdir(dir_path) == 0 || errno != ENOTEMPTY) {
        return;
    }
    if (pthread_mutex_trylock(&handles_mu) != 0) {
        return;
    }
    for (mp_manager_t *m = handles; m != NULL; m = m->next) {
        if (m->dir_user) {
            (void)unlink(m->sock_path);
        }
    }
    pthread_mutex_unlock(&handles_mu);
    (void)rmdir(dir_path);
}

/* Makes this process's directory unless it has one. dir_mu held. */
static int
dir_make_locked(void)
{
    pid_t self = mp__getpid();
    /* A server stopped by SIGTERM removes it once empty. */
    if (dir_path != NULL && dir_pid == self && access(dir_path, F_OK) == 0) {
        return 0;
    }
    if (dir_pid != self) {
        dir_users = 0; /* the parent's count */
    }
    mp__free(dir_path); /* gone, or this process's copy of its parent's */
    dir_path = NULL;
    const char *base = getenv("TMPDIR");
    if (base == NULL || base[0] == '\0') {
        base = "/tmp";
    }
    size_t n = strlen(base) + sizeof "/mp-mgr-XXXXXX";
    char *path = mp__malloc(n);
    if (path == NULL) {
        return MP_ENOMEM;
    }
    snprintf(path, n, "%s/mp-mgr-XXXXXX", base);
    if (mkdtemp(path) == NULL) {
        int err = -errno;
        mp__free(path);
        return err;
    }
    dir_path = path;
    dir_pid = self;
    /* Should this process die without its exit handler (SIGKILL), the
     * tracker removes the directory, once empty, with the tree. */
    (void)mp__tracker_register_file(path, NULL);
    if (!dir_atexit) {
        dir_atexit = atexit(dir_at_exit) == 0;
    }
    return 0;
}

/* Gives up m's use of the directory: the last user in a process other
 * than the session's first removes it. dir_mu not held. */
static void
dir_release(mp_manager_t *m)
{
    if (!m->dir_user) {
        return;
    }
    m->dir_user = false;
    pthread_mutex_lock(&dir_mu);
    if (dir_pid == mp__getpid() && dir_users > 0 && --dir_users == 0 &&
        dir_pid != mp__session_pid()) {
        (void)rmdir(dir_path);
        (void)mp__tracker_unregister_file(dir_path, NULL);
        mp__free(dir_path);
        dir_path = NULL;
    }
    pthread_mutex_unlock(&dir_mu);
}

/*--- start ------------------------------------------------------------------*/

/* Picks a fresh socket path in this process's private directory. */
static int
make_private_path(mp_manager_t *m)
{
    pthread_mutex_lock(&dir_mu);
    int err = dir_make_locked();
    if (err == 0) {
        size_t n = strlen(dir_path) + sizeof "/manager-.sock" + 20;
        m->sock_path = mp__malloc(n);
        if (m->sock_path == NULL) {
            err = MP_ENOMEM;
        } else {
            snprintf(m->sock_path, n, "%s/manager-%" PRIu64 ".sock", dir_path,
                     ++dir_seq);
            dir_users++;
            m->dir_user = true;
        }
    }
    pthread_mutex_unlock(&dir_mu);
    return err;
}

/* Removes the default socket path (if this handle made it) and forgets
 * it. */
static void
remove_private_path(mp_manager_t *m)
{
    if (m->dir_user) {
        (void)unlink(m->sock_path);
        dir_release(m);
    }
    mp__free(m->sock_path);
    m->sock_path = NULL;
}

static void close_stop_pipe(mp_manager_t *m);

/* Waits for the server's report on ready_fd[0]. Returns its status (0:
 * serving, and m->address set) or MP_ENOSERVER when it died first. */
static int
await_ready(mp_manager_t *m)
{
    /* poll itself, not mp_wait: no allocation (after a fork every heap
     * page this process writes first costs a copy-on-write fault). */
    struct pollfd pfd[2] = {
        {.fd = m->ready_fd[0], .events = POLLIN},
        {.fd = mp_process_sentinel(m->server), .events = POLLIN}};
    int n;
    do {
        n = poll(pfd, 2, -1);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        return -errno;
    }
    if (pfd[0].revents == 0) {
        return MP_ENOSERVER;
    }
    /* The report is one write: one read gets it all unless the address
     * is long. */
    uint8_t msg[8 + 248];
    ssize_t n_read;
    do {
        n_read = read(m->ready_fd[0], msg, sizeof msg);
    } while (n_read < 0 && errno == EINTR);
    if (n_read < 8) {
        return MP_ENOSERVER;
    }
    int32_t status;
    uint32_t alen;
    memcpy(&status, msg, 4);
    memcpy(&alen, msg + 4, 4);
    if (status != 0) {
        return status;
    }
    if (alen > MP__MGR_ADDRESS_MAX) {
        return MP_EPROTO;
    }
    char *addr = mp__malloc((size_t)alen + 1);
    if (addr == NULL) {
        return MP_ENOMEM;
    }
    size_t have = (size_t)n_read - 8 < alen ? (size_t)n_read - 8 : alen;
    memcpy(addr, msg + 8, have);
    if (have < alen &&
        mp__plat_read_full(m->ready_fd[0], addr + have, alen - have) !=
            (ssize_t)(alen - have)) {
        mp__free(addr);
        return MP_ENOSERVER;
    }
    addr[alen] = '\0';
    m->address = addr;
    return 0;
}

/* The keeper thread: forks the server, reports how that went, and waits
 * until keeper_stop says the server is gone. */
static void *
keeper_main(void *arg)
{
    mp_manager_t *m = arg;
    int err = mp_process_start(m->server);
    pthread_mutex_lock(&m->keeper_mu);
    m->keeper_err = err;
    m->keeper_forked = true;
    pthread_cond_broadcast(&m->keeper_cv);
    while (!m->keeper_quit) {
        pthread_cond_wait(&m->keeper_cv, &m->keeper_mu);
    }
    pthread_mutex_unlock(&m->keeper_mu);
    return NULL;
}

/* Starts the keeper and waits until it forked the server. Returns
 * mp_process_start's result, or an error of creating the thread. */
static int
keeper_start(mp_manager_t *m)
{
    if (mp__gettid() == mp__getpid()) {
        /* The main thread lives as long as the process (unless it calls
         * pthread_exit while other threads go on): it forks the server
         * itself, which saves a thread and two hand-overs per start. */
        return mp_process_start(m->server);
    }
    m->keeper_forked = m->keeper_quit = false;
    int err = -pthread_create(&m->keeper, NULL, keeper_main, m);
    if (err != 0) {
        return err;
    }
    m->keeper_running = true;
    pthread_mutex_lock(&m->keeper_mu);
    while (!m->keeper_forked) {
        pthread_cond_wait(&m->keeper_cv, &m->keeper_mu);
    }
    err = m->keeper_err;
    pthread_mutex_unlock(&m->keeper_mu);
    return err;
}

/* Ends the keeper (once the server has been reaped). */
static void
keeper_stop(mp_manager_t *m)
{
    if (!m->keeper_running) {
        return;
    }
    pthread_mutex_lock(&m->keeper_mu);
    m->keeper_quit = true;
    pthread_cond_broadcast(&m->keeper_cv);
    pthread_mutex_unlock(&m->keeper_mu);
    pthread_join(m->keeper, NULL);
    m->keeper_running = false;
}

/* Forks the server and waits until it serves. life_mu held. */
static int
start_locked(mp_manager_t *m)
{
    int err = 0;
    if (m->listen_address == NULL) {
        err = make_private_path(m);
        if (err != 0) {
            goto fail;
        }
    }
    err = mp__plat_secret_bytes(m->secret, MP__MGR_SECRET_LEN);
    if (err != 0) {
        goto fail;
    }
    err = mp__store_create(&m->srv_store, m->store_size);
    if (err != 0) {
        m->srv_store = NULL;
        goto fail;
    }
    err = mp__plat_pipe(m->ready_fd);
    if (err != 0) {
        m->ready_fd[0] = m->ready_fd[1] = -1;
        goto fail;
    }
    /* The starter's own way to stop the server: a byte on a socketpair
     * only the two hold (no connection, handshake or thread needed; a
     * socket, so that sending to a dead server is EPIPE, not SIGPIPE). */
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, m->stop_fd) != 0) {
        err = -errno;
        m->stop_fd[0] = m->stop_fd[1] = -1;
        goto fail;
    }
    mp_process_opts_t po = {.name = "SyncManager", .daemon = true};
    err = mp_process_create(&m->server, mp__mgr_server_main, m, &po);
    if (err == 0) {
        err = keeper_start(m);
    }
    mp__plat_close(m->ready_fd[1]);
    m->ready_fd[1] = -1;
    if (err == 0) {
        err = await_ready(m);
    }
    mp__plat_close(m->ready_fd[0]);
    m->ready_fd[0] = -1;
    mp__plat_close(m->stop_fd[0]);
    m->stop_fd[0] = -1;
    if (err != 0) {
        goto fail;
    }
    /* The fast path: the mapping made for the server serves this
     * process too (one mapping, no second attach). */
    m->store = m->srv_store;
    m->owner = mp__getpid();
    m->server_pid = mp_process_pid(m->server);
    m->role = MP__MGR_STARTED;
    return 0;

fail:
    if (m->server != NULL) {
        if (mp_process_pid(m->server) > 0) {
            /* It failed by itself (or died): just make sure it is gone. */
            (void)mp_process_kill(m->server);
            (void)mp_process_join(m->server, MP_WAIT_FOREVER);
        }
        (void)mp_process_destroy(m->server);
        m->server = NULL;
    }
    keeper_stop(m);
    if (m->srv_store != NULL) {
        mp__store_destroy(m->srv_store);
        m->srv_store = NULL;
    }
    if (m->ready_fd[0] >= 0) {
        mp__plat_close(m->ready_fd[0]);
        m->ready_fd[0] = -1;
    }
    close_stop_pipe(m);
    mp__free(m->address);
    m->address = NULL;
    remove_private_path(m);
    return err;
}

int
mp_manager_start(mp_manager_t *m)
{
    if (m == NULL) {
        return MP_EINVAL;
    }
    pthread_mutex_lock(&m->life_mu);
    int err;
    if (atomic_load(&m->shut)) {
        err = MP_ECLOSED;
    } else if (m->role != MP__MGR_NEW) {
        err = MP_ESTARTED;
    } else {
        err = start_locked(m);
    }
    pthread_mutex_unlock(&m->life_mu);
    return err;
}

/*--- connect ----------------------------------------------------------------*/

/* Says HELLO on c by deadline and, unless remote_only, attaches the store
 * when the server says this client is on its host. life_mu held. */
static int
hello_locked(mp_manager_t *m, mp_conn_t *c, int64_t deadline)
{
    mp__mgr_req_t req = {.op = MP__OP_HELLO};
    mp__mgr_rep_t rep = {0};
    bool keep;
    int err =
        mp__mgr_exchange(c, &req, &rep, mp__remaining_ms(deadline), &keep);
    if (err != 0) {
        return err == MP_EOF ? MP_EPROTO : err;
    }
    err = rep.status;
    if (err == 0 && rep.gen != MP__MGR_VERSION) {
        err = MP_EPROTO;
    }
    if (err == 0 && rep.num == 1 && !m->remote_only && rep.len > 0) {
        char *name = mp__malloc(rep.len + 1);
        if (name == NULL) {
            err = MP_ENOMEM;
        } else {
            memcpy(name, rep.data, rep.len);
            name[rep.len] = '\0';
            /* Not mappable after all (another user, another mount
             * namespace, another pid namespace - whose pids in lock
             * words would name other processes ...): every call goes to
             * the server. */
            if (mp__store_attach(&m->store, name) != 0) {
                m->store = NULL;
            }
            mp__free(name);
        }
    }
    mp__mgr_rep_clear(&rep);
    return err;
}

int
mp_manager_connect(mp_manager_t *m, mp_duration_t timeout)
{
    int64_t deadline;
    if (m == NULL || mp__deadline(timeout, &deadline) != 0) {
        return MP_EINVAL;
    }
    pthread_mutex_lock(&m->life_mu);
    int err = 0;
    mp_conn_t *c = NULL;
    if (m->role != MP__MGR_NEW || atomic_load(&m->shut)) {
        err = MP_ESTARTED;
        goto out;
    }
    if (m->listen_address == NULL) {
        err = MP_EINVAL;
        goto out;
    }
    err = mp__mgr_connect_server(m, m->listen_address,
                                 mp__remaining_ms(deadline), &c);
    if (err != 0) {
        goto out;
    }
    err = hello_locked(m, c, deadline);
    if (err != 0) {
        mp_conn_destroy(c);
        goto out;
    }
    m->address = mp__strdup(m->listen_address);
    if (m->address == NULL) {
        mp_conn_destroy(c);
        if (m->store != NULL) {
            mp__store_detach(m->store);
            m->store = NULL;
        }
        err = MP_ENOMEM;
        goto out;
    }
    m->owner = mp__getpid();
    m->role = MP__MGR_CONNECTED;
    /* The handshake's connection becomes the first pooled one. */
    mp__mgr_pool_adopt(m, c);
out:
    pthread_mutex_unlock(&m->life_mu);
    return err;
}

/*--- accessors --------------------------------------------------------------*/

const char *
mp_manager_address(const mp_manager_t *m)
{
    return m != NULL ? m->address : NULL;
}

int
mp_manager_authkey(const mp_manager_t *m, const void **key, size_t *len)
{
    if (m == NULL || key == NULL || len == NULL) {
        return MP_EINVAL;
    }
    *key = m->authkey;
    *len = m->authkey_len;
    return 0;
}

pid_t
mp_manager_pid(const mp_manager_t *m)
{
    return m != NULL && m->role == MP__MGR_STARTED ? m->server_pid : 0;
}

/*--- shutdown / destroy -----------------------------------------------------*/

/* Closes the starter's ends of the stop pipe. */
static void
close_stop_pipe(mp_manager_t *m)
{
    for (int i = 0; i < 2; i++) {
        if (m->stop_fd[i] >= 0) {
            mp__plat_close(m->stop_fd[i]);
            m->stop_fd[i] = -1;
        }
    }
}

/* Asks the server to exit: a byte on the stop pipe (never blocking), or
 * else a SHUTDOWN request with the secret over a fresh
 * connection, all within deadline. */
static void
send_shutdown(mp_manager_t *m, int64_t deadline)
{
    uint8_t byte = 1;
    if (m->stop_fd[1] >= 0 &&
        send(m->stop_fd[1], &byte, 1, MSG_NOSIGNAL | MSG_DONTWAIT) == 1) {
        close_stop_pipe(m);
        return;
    }
    close_stop_pipe(m);
    mp_conn_t *c;
    if (mp_client_connect(&c, m->address, m->authkey, m->authkey_len,
                          mp__remaining_ms(deadline)) != 0) {
        return;
    }
    mp__mgr_req_t req = {.op = MP__OP_SHUTDOWN,
                         .arg = {{m->secret, MP__MGR_SECRET_LEN}}};
    mp__mgr_rep_t rep = {0};
    bool keep;
    if (mp__mgr_exchange(c, &req, &rep, mp__remaining_ms(deadline), &keep) ==
        0) {
        mp__mgr_rep_clear(&rep);
    }
    mp_conn_destroy(c);
}

/* Stops the server and removes what it left. life_mu held; started
 * handle in its starting process. */
static void
shutdown_locked(mp_manager_t *m)
{
    int64_t deadline;
    (void)mp__deadline(m->shutdown_timeout_ms, &deadline); /* it is > 0 */
    atomic_store(&m->shut, true);
    send_shutdown(m, deadline);
    if (mp_process_join(m->server, mp__remaining_ms(deadline)) != 0) {
        (void)mp_process_kill(m->server);
        (void)mp_process_join(m->server, MP_WAIT_FOREVER);
    }
    (void)mp_process_destroy(m->server);
    m->server = NULL;
    keeper_stop(m);
    mp__mgr_pool_clear(m);
    /* The store's names (a server stopped by its starter leaves them to
     * it; after a kill nobody else would). The mapping stays until
     * destroy (it is m->store), for proxies still in use: they see
     * MP_ENOSERVER. */
    mp__store_remove_names(m->srv_store);
    m->srv_store = NULL;
    remove_private_path(m);
}

int
mp_manager_shutdown(mp_manager_t *m)
{
    if (m == NULL) {
        return MP_EINVAL;
    }
    pthread_mutex_lock(&m->life_mu);
    int err = 0;
    if (m->role == MP__MGR_NEW) {
        err = MP_ENOTSTARTED;
    } else if (m->role == MP__MGR_CONNECTED || m->owner != mp__getpid()) {
        err = MP_ENOTOWNER;
    } else if (!atomic_load(&m->shut)) {
        shutdown_locked(m);
    }
    pthread_mutex_unlock(&m->life_mu);
    return err;
}

void
mp_manager_destroy(mp_manager_t *m)
{
    if (m == NULL) {
        return;
    }
    pthread_mutex_lock(&m->life_mu);
    bool mine = m->owner == mp__getpid();
    if (m->role == MP__MGR_STARTED && mine && !atomic_load(&m->shut)) {
        shutdown_locked(m);
    }
    pthread_mutex_unlock(&m->life_mu);
    close_stop_pipe(m); /* a child's inherited copy */
    handles_remove(m);
    mp__mgr_pool_clear(m);
    if (m->store != NULL) {
        mp__store_detach(m->store);
    }
    /* A forked child's copies of the starter's handles: only drop them
     * (the starter's srv_store is its store as well). */
    if (m->srv_store != NULL && m->srv_store != m->store) {
        mp__store_detach(m->srv_store);
    }
    if (m->server != NULL) {
        (void)mp_process_destroy(m->server);
    }
    remove_private_path(m); /* a forked child's copy is no dir_user */
    pthread_mutex_destroy(&m->life_mu);
    pthread_mutex_destroy(&m->pool_mu);
    pthread_mutex_destroy(&m->ref_mu);
    pthread_mutex_destroy(&m->keeper_mu);
    pthread_cond_destroy(&m->keeper_cv);
    mp__free(m->types);
    mp__free(m->listen_address);
    mp__free(m->address);
    mp__free(m->authkey);
    mp__free(m);
}
