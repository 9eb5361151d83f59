/* SPDX-License-Identifier: MIT */
/* soak-manager.c - manager clients and the manager server SIGKILLed.
 * Clients (some forked with the round's proxies, using the shared-memory
 * fast path; some connected over the socket with remote_only, holding
 * their locks through the server) loop on a Lock and a dict. After each
 * client's kill the round must get the lock within 10 s (a killed client's
 * lock is released: MP_EOWNERDEAD or the server dropping its session).
 * Then the server is killed at a random moment: every client's call must
 * return MP_ENOSERVER (or succeed) and every client exit, never hang. */
#include "soak.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLIENTS 4

typedef struct mledger {
    mp_manager_t *m;
    mp_proxy_t *lock, *dict;
    char lock_token[MP_PROXY_TOKEN_MAX], dict_token[MP_PROXY_TOKEN_MAX];
    atomic_int last_err, bad_err, enoserver, ownerdead;
    int slot_arg[CLIENTS];
    uint64_t seed;
} mledger_t;

static mledger_t *M;

/* A client's loop on lock and dict until MP_ENOSERVER (exit 0). */
static int
client_loop(int slot, mp_proxy_t *lock, mp_proxy_t *dict)
{
    soak_round_t rr = {.rng = M->seed ^ (uint64_t)(slot + 1) * 0x51u};
    char key[16];
    snprintf(key, sizeof key, "client-%d", slot);
    soak_say_ready();
    for (long turn = 0;; turn++) {
        int rc = mp_proxy_acquire(lock, 10000);
        if (rc == MP_EOWNERDEAD) {
            atomic_fetch_add(&M->ownerdead, 1);
        } else if (rc == MP_ENOSERVER) {
            atomic_fetch_add(&M->enoserver, 1);
            return 0;
        } else if (rc != 0) {
            atomic_store(&M->last_err, rc);
            atomic_fetch_add(&M->bad_err, 1);
            return 3; /* MP_ETIMEDOUT: a dead client's lock stays held */
        }
        rc = mp_dict_set(dict, key, strlen(key), &turn, sizeof turn);
        void *out = NULL;
        if (rc == 0) {
            ssize_t n = mp_dict_get(dict, key, strlen(key), &out);
            rc = n == (ssize_t)sizeof turn &&
                         memcmp(out, &turn, sizeof turn) == 0
                     ? 0
                     : (n < 0 ? (int)n : MP_EPROTO);
            mp_free(out);
        }
        int rel = mp_proxy_release(lock);
        if (rc == 0) {
            rc = rel;
        }
        if (rc == MP_ENOSERVER) {
            atomic_fetch_add(&M->enoserver, 1);
            return 0;
        }
        if (rc != 0) {
            atomic_store(&M->last_err, rc);
            atomic_fetch_add(&M->bad_err, 1);
            return 4;
        }
        soak_pause_us(&rr, 400);
    }
}

/* A client using the proxies it inherited (the fast path). */
static int
local_client(void *arg)
{
    return client_loop(*(int *)arg, M->lock, M->dict);
}

/* A client that connects to the server's address with remote_only. */
static int
remote_client(void *arg)
{
    const void *key;
    size_t len;
    mp_manager_authkey(M->m, &key, &len);
    mp_manager_opts_t o = MP_MANAGER_OPTS_INIT;
    o.address = mp_manager_address(M->m);
    o.authkey = key;
    o.authkey_len = len;
    o.remote_only = true;
    mp_manager_t *m = NULL;
    mp_proxy_t *lock = NULL, *dict = NULL;
    int rc = mp_manager_create(&m, &o);
    if (rc == 0) {
        rc = mp_manager_connect(m, 10000);
    }
    if (rc == 0) {
        rc = mp_proxy_from_token(&lock, m, M->lock_token);
    }
    if (rc == 0) {
        rc = mp_proxy_from_token(&dict, m, M->dict_token);
    }
    if (rc == MP_ENOSERVER || rc == -ECONNREFUSED || rc == MP_ENOENT) {
        atomic_fetch_add(&M->enoserver, 1);
        soak_say_ready();
        return 0; /* the server died before we got in */
    }
    if (rc != 0) {
        atomic_store(&M->last_err, rc);
        atomic_fetch_add(&M->bad_err, 1);
        soak_say_ready();
        return 5;
    }
    rc = client_loop(*(int *)arg, lock, dict);
    mp_proxy_destroy(lock);
    mp_proxy_destroy(dict);
    mp_manager_destroy(m);
    return rc;
}

int
soak_manager(soak_round_t *r)
{
    M = soak_shared_map(sizeof *M);
    if (M == NULL) {
        soak_fail(r, "no memory for the ledger");
        return SOAK_FAIL;
    }
    M->seed = soak_rand(&r->rng);
    int rc = mp_manager_create(&M->m, NULL);
    if (rc == 0) {
        rc = mp_manager_start(M->m);
    }
    if (rc == 0) {
        rc = mp_manager_lock(M->m, &M->lock);
    }
    if (rc == 0) {
        rc = mp_manager_dict(M->m, &M->dict);
    }
    if (rc == 0) {
        rc = mp_proxy_token(M->lock, M->lock_token, sizeof M->lock_token);
    }
    if (rc == 0) {
        rc = mp_proxy_token(M->dict, M->dict_token, sizeof M->dict_token);
    }
    if (rc != 0) {
        soak_fail(r, "setting up the manager: %s", mp_err_name(rc));
        return SOAK_FAIL;
    }
    mp_process_t *c[CLIENTS];
    mp_target_fn fn[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        M->slot_arg[i] = i;
        fn[i] = i % 2 == 0 ? local_client : remote_client;
        c[i] = soak_start_ready(r, fn[i], &M->slot_arg[i]);
    }
    int client_kills = 0;
    for (int k = 0; k < r->kills - 1 && r->shared->failures == 0; k++) {
        int v = (int)soak_below(r, CLIENTS), code = 0;
        soak_pause_us(r, 20000);
        int killed = soak_kill(r, &c[v], &code);
        if (killed < 0) {
            break;
        }
        if (killed == 0) {
            soak_fail(r, "client %d exited early with %d (%s)", v, code,
                      mp_err_name(atomic_load(&M->last_err)));
        }
        client_kills += killed;
        rc = mp_proxy_acquire(M->lock, 10000);
        if (rc != 0 && rc != MP_EOWNERDEAD) {
            soak_fail(r,
                      "after killing %s client %d the round's acquire "
                      "got %s: a killed client's lock stays held",
                      fn[v] == local_client ? "fast-path" : "remote", v,
                      mp_err_name(rc));
        } else {
            mp_proxy_release(M->lock);
        }
        c[v] = soak_start_ready(r, fn[v], &M->slot_arg[v]);
    }
    /* The server's turn. */
    soak_pause_us(r, 20000);
    pid_t server = mp_manager_pid(M->m);
    if (server > 0 && kill(server, SIGKILL) == 0) {
        soak_count_kill(r);
    }
    for (int i = 0; i < CLIENTS; i++) {
        int code = soak_finish(r, c[i], 20000,
                               "a client after the "
                               "server's kill");
        if (code != 0 && code != -1000) {
            soak_fail(r,
                      "client %d exited with %d (%s) after the server's "
                      "kill",
                      i, code, mp_err_name(atomic_load(&M->last_err)));
        }
    }
    rc = mp_proxy_acquire(M->lock, 10000);
    if (rc != MP_ENOSERVER) {
        soak_fail(r, "acquire after the server's kill: %s, not ENOSERVER",
                  mp_err_name(rc));
    }
    ssize_t n = mp_dict_len(M->dict);
    if (n != MP_ENOSERVER) {
        soak_fail(r, "dict len after the server's kill: %zd", n);
    }
    soak_note(r, "%d client kills, %d clients saw ENOSERVER, %d owner-dead",
              client_kills, atomic_load(&M->enoserver),
              atomic_load(&M->ownerdead));
    mp_proxy_destroy(M->lock);
    mp_proxy_destroy(M->dict);
    mp_manager_destroy(M->m);
    return SOAK_PASS;
}
