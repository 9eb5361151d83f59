/* SPDX-License-Identifier: MIT */
/* start.c - starting and stopping a manager's server: mp_manager_start
 * (the keeper thread that forks the server, the wait for its ready
 * report) and mp_manager_shutdown (the stop pipe, else a SHUTDOWN request,
 * then the join, a kill if it must, and the removal of what it left).
 *
 * Start: the starter creates the store (and, for a default AF_UNIX path,
 * its process's private directory: handles.c), then forks the server (a
 * daemon process: it dies with the starter) which creates the listener
 * itself (so that the starter never holds the listening socket: once the
 * server is gone a client gets ECONNREFUSED or ENOENT at once) and
 * reports "serving" or its error over a pipe. The starter's fast path
 * uses the mapping of the store it made for the server. */
#include "server_internal.h"

#include "../platform/platform.h"
#include "../process/process_internal.h"

#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

/* Waits for the server's report on ready_fd[0]. Returns its status (0:
 * serving, and m->address set) or MP_ENOSERVER when it died first. */
static int
await_ready(mp_manager_t *m)
{
    /* poll itself, not mp_wait_any: no allocation (after a fork every heap
     * page this process writes first costs a copy-on-write fault). */
    struct pollfd pfd[2] = {
        {.fd = m->ready_fd[0], .events = POLLIN},
        {.fd = mp_process_sentinel(m->server), .events = POLLIN}};
    int n = mp__plat_poll_many(pfd, 2, MP__NO_DEADLINE);
    if (n < 0) {
        return n;
    }
    if (pfd[0].revents == 0) {
        return MP_ENOSERVER;
    }
    /* The report is one write: one read gets it all unless the address
     * is long. */
    uint8_t msg[8 + 248];
    ssize_t n_read = mp__plat_read_some(m->ready_fd[0], msg, sizeof msg);
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

/* Makes the channels of a forked server: the ready pipe and the stop
 * socket, and the process object that forks it. Returns 0 or an error. */
static int
make_forked(mp_manager_t *m)
{
    int err = mp__plat_pipe(m->ready_fd);
    if (err != 0) {
        m->ready_fd[0] = m->ready_fd[1] = -1;
        return err;
    }
    /* The starter's own way to stop the server: a byte on a socketpair
     * only the two hold (no connection, handshake or thread needed; a
     * socket, so that sending to a dead server is EPIPE, not SIGPIPE). */
    err = mp__plat_socketpair(SOCK_STREAM, m->stop_fd);
    if (err != 0) {
        m->stop_fd[0] = m->stop_fd[1] = -1;
        return err;
    }
    /* The server starts from m itself, a pointer. */
    mp_process_opts_t po = MP_PROCESS_OPTS_INIT;
    po.name = "SyncManager";
    po.daemon = true;
    po.start_method = MP_START_FORK;
    return mp_process_create(&m->server, mp__mgr_server_main, m, &po);
}

/* Makes what an exec'd server (spawn, forkserver) starts from: a named
 * waker beside the socket path for its ready report (it inherits no
 * pipe; the starter stops it with a SHUTDOWN request, having no stop
 * socket) and the process object, whose argument is the boot record
 * (spawned.c). *ready_path: the waker's path, to remove once the server
 * reported. Returns 0 or an error. */
static int
make_exec(mp_manager_t *m, mp_start_method_t method, char **ready_path)
{
    if (m->sock_path == NULL) {
        /* TCP: the private directory still holds the waker. */
        int err = mp__mgr_private_path_make(m);
        if (err != 0) {
            return err;
        }
    }
    size_t n = strlen(m->sock_path) + sizeof ".ready";
    *ready_path = mp__malloc(n);
    if (*ready_path == NULL) {
        return MP_ENOMEM;
    }
    snprintf(*ready_path, n, "%s.ready", m->sock_path);
    int err = mp__plat_waker_create_named(*ready_path);
    if (err != 0) {
        mp__free(*ready_path);
        *ready_path = NULL;
        return err;
    }
    int fd = mp__plat_waker_open_named(*ready_path);
    if (fd < 0) {
        return fd;
    }
    m->ready_fd[0] = fd;
    void *rec;
    ssize_t len = mp__mgr_boot_encode(m, *ready_path, &rec);
    if (len < 0) {
        return (int)len;
    }
    mp_process_opts_t po = MP_PROCESS_OPTS_INIT;
    po.name = "SyncManager";
    po.daemon = true;
    po.start_method = method;
    po.arg_size = (size_t)len;
    err = mp_process_create(&m->server, mp__mgr_spawned_main, rec, &po);
    if (err == 0) {
        err = keeper_start(m); /* copies the record to the child */
    }
    mp__free(rec);
    return err;
}

/* Registers the socket file an exec'd server bound (in this process's
 * private directory) with this tree's tracker as well: the server
 * registered it with its own tracker, another tree's, so after a SIGKILL
 * of this process the two trackers would race, and this one would find
 * the directory still holding the file and leave both. Best effort: a
 * failure leaves the file to the server's tracker. */
static void
track_socket_file(mp_manager_t *m)
{
    if (mp__plat_stat(m->sock_path, false, &m->sock_st) == 0 &&
        mp__tracker_register_file(m->sock_path, &m->sock_st) == 0) {
        m->sock_tracked = true;
    }
}

/* Starts the server by m's start method and waits until it serves.
 * life_mu held. */
static int
start_locked(mp_manager_t *m)
{
    int method = m->start_method != MP_START_DEFAULT ? (int)m->start_method
                                                     : mp_start_method();
    if (method < 0) {
        return method;
    }
    char *ready_path = NULL;
    int err = 0;
    if (m->listen_address == NULL) {
        err = mp__mgr_private_path_make(m);
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
    if (method == MP_START_FORK) {
        err = make_forked(m);
        if (err == 0) {
            err = keeper_start(m);
        }
    } else {
        err = make_exec(m, (mp_start_method_t)method, &ready_path);
    }
    mp__plat_close(m->ready_fd[1]);
    m->ready_fd[1] = -1;
    if (err == 0) {
        err = await_ready(m);
    }
    if (ready_path != NULL) {
        (void)mp__plat_unlink(ready_path);
        mp__free(ready_path);
        ready_path = NULL;
    }
    mp__plat_close(m->ready_fd[0]);
    m->ready_fd[0] = -1;
    mp__plat_close(m->stop_fd[0]);
    m->stop_fd[0] = -1;
    if (err != 0) {
        goto fail;
    }
    if (method != MP_START_FORK && m->listen_address == NULL) {
        track_socket_file(m);
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
        mp_process_destroy(m->server);
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
    mp__mgr_stop_pipe_close(m);
    mp__free(m->address);
    m->address = NULL;
    mp__mgr_private_path_remove(m);
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

/*--- shutdown ---------------------------------------------------------------*/

void
mp__mgr_stop_pipe_close(mp_manager_t *m)
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
    if (m->stop_fd[1] >= 0 && mp__plat_send_nb(m->stop_fd[1], &byte, 1) == 1) {
        mp__mgr_stop_pipe_close(m);
        return;
    }
    mp__mgr_stop_pipe_close(m);
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

void
mp__mgr_shutdown_locked(mp_manager_t *m)
{
    int64_t deadline;
    (void)mp__deadline(m->shutdown_timeout, &deadline); /* checked at create */
    atomic_store(&m->shut, true);
    send_shutdown(m, deadline);
    if (mp_process_join(m->server, mp__remaining_ms(deadline)) != 0) {
        (void)mp_process_kill(m->server);
        (void)mp_process_join(m->server, MP_WAIT_FOREVER);
    }
    mp_process_destroy(m->server);
    m->server = NULL;
    keeper_stop(m);
    mp__mgr_pool_clear(m);
    /* The store's names (a server stopped by its starter leaves them to
     * it; after a kill nobody else would). The mapping stays until
     * destroy (it is m->store), for proxies still in use: they see
     * MP_ENOSERVER. */
    mp__store_remove_names(m->srv_store);
    m->srv_store = NULL;
    mp__mgr_private_path_remove(m);
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
        mp__mgr_shutdown_locked(m);
    }
    pthread_mutex_unlock(&m->life_mu);
    return err;
}
