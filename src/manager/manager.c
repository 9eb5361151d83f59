/* SPDX-License-Identifier: MIT */
/* manager.c - the manager handle: mp_manager_create and _register (the
 * options and user types a start takes), mp_manager_connect (a client of
 * a running server: the HELLO that tells whether it may map the store),
 * the accessors, and mp_manager_destroy. Starting and stopping the server
 * are start.c's, the client side of the wire client.c's, and what the
 * handles of a process share (fork handlers, the private directory)
 * handles.c's. */
#include "server_internal.h"

#include "../platform/platform.h"

#include <string.h>

/* Default shared-state size and shutdown wait (public contract). */
#define DEFAULT_STORE_SIZE ((size_t)1 << 30)
#define DEFAULT_SHUTDOWN_MS 1000
/* Bytes of a generated authkey. */
#define RANDOM_AUTHKEY_LEN 32u

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
    mp_manager_opts_t none = MP_MANAGER_OPTS_INIT;
    if (opts == NULL) {
        opts = &none;
    }
    int64_t unused_deadline;
    if (out == NULL || MP__OPTS_BAD(opts) ||
        mp__deadline(opts->shutdown_timeout, &unused_deadline) != 0 ||
        mp__deadline(opts->call_timeout, &unused_deadline) != 0 ||
        (opts->authkey == NULL && opts->authkey_len > 0) ||
        (opts->initargs == NULL && opts->initargs_len > 0) ||
        (unsigned)opts->start_method > MP_START_SPAWN) {
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
    m->shutdown_timeout = opts->shutdown_timeout != 0 ? opts->shutdown_timeout
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
    m->initializer = opts->initializer;
    m->start_method = opts->start_method;
    m->initargs_len = opts->initargs_len;
    if (opts->initargs_len > 0) {
        m->initargs = mp__malloc(opts->initargs_len);
        if (m->initargs != NULL) {
            memcpy(m->initargs, opts->initargs, opts->initargs_len);
        }
    }
    if (m->authkey == NULL ||
        (opts->address != NULL && m->listen_address == NULL) ||
        (opts->initargs_len > 0 && m->initargs == NULL)) {
        mp__free(m->initargs);
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
            mp__free(m->initargs);
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
    mp__mgr_handles_add(m);
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

/*--- destroy ----------------------------------------------------------------*/

void
mp_manager_destroy(mp_manager_t *m)
{
    if (m == NULL) {
        return;
    }
    pthread_mutex_lock(&m->life_mu);
    bool mine = m->owner == mp__getpid();
    if (m->role == MP__MGR_STARTED && mine && !atomic_load(&m->shut)) {
        mp__mgr_shutdown_locked(m);
    }
    pthread_mutex_unlock(&m->life_mu);
    mp__mgr_stop_pipe_close(m); /* a child's inherited copy */
    mp__mgr_handles_remove(m);
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
        mp_process_destroy(m->server);
    }
    mp__mgr_private_path_remove(m); /* a forked child's copy is no dir_user */
    pthread_mutex_destroy(&m->life_mu);
    pthread_mutex_destroy(&m->pool_mu);
    pthread_mutex_destroy(&m->ref_mu);
    pthread_mutex_destroy(&m->keeper_mu);
    pthread_cond_destroy(&m->keeper_cv);
    mp__free(m->types);
    mp__free(m->initargs);
    mp__free(m->listen_address);
    mp__free(m->address);
    mp__free(m->authkey);
    mp__free(m);
}
