/* SPDX-License-Identifier: MIT */
/* world.c - world mode: mp_mpi_init (MPI start-up, the roles of the ranks,
 * the handshake that refuses another program or ABI), mp_mpi_workers and
 * mp_mpi_finalize. The parent's funnel thread lives in parent.c, the
 * worker ranks' loop in rank.c. */
#include "mpi_internal.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The parent's side of the handshake: every rank gets the hello and
 * answers. Returns 0, or MP_EPROTO after printing each refusal. */
static int
parent_handshake(mp_mpi_t *mpi, const void *caller)
{
    mp__mpi_hello_t hello;
    mp__mpi_hello_fill(&hello, caller, mpi->br);
    hello.heartbeat_ms = mpi->heartbeat_ns / 1000000;
    mp__mpi_hdr_t h = {.kind = MP__MPI_HELLO};
    for (int r = 1; r < mpi->size; r++) {
        if (mp__mpi_wire_send(&mpi->wire, r, &h, &hello, sizeof hello) != 0) {
            mp__mpi_abort(mpi->comm, "out of memory in the handshake");
        }
    }
    int answered = 0, refused = 0;
    int64_t start = mpi->br->now_ns();
    mp__mpi_idle_t idle;
    mp__mpi_idle_busy(&idle, mpi->br);
    while (answered < mpi->size - 1) {
        mp__mpi_hdr_t rh;
        void *p;
        size_t len;
        int from = mp__mpi_wire_poll(&mpi->wire, MPI_ANY_SOURCE, &rh, &p, &len);
        if (from < 0) {
            mp__mpi_wire_progress(&mpi->wire);
            if (mpi->heartbeat_ns > 0 &&
                mpi->br->now_ns() - start > mpi->heartbeat_ns) {
                mp__mpi_abort(mpi->comm, "a worker rank did not answer the "
                                         "handshake within the heartbeat "
                                         "timeout");
            }
            mp__mpi_idle_wait(&idle, mpi->br);
            continue;
        }
        mp__mpi_idle_busy(&idle, mpi->br);
        if (rh.kind == MP__MPI_ACK && len == sizeof(mp__mpi_ack_t) &&
            from > 0 && from < mpi->size) {
            mp__mpi_ack_t ack;
            memcpy(&ack, p, sizeof ack);
            ack.host[sizeof ack.host - 1] = '\0';
            ack.why[sizeof ack.why - 1] = '\0';
            mp__mpi_peer_t *peer = &mpi->peers[from];
            snprintf(peer->host, sizeof peer->host, "%s", ack.host);
            peer->pid = ack.pid;
            peer->last_seen = mpi->br->now_ns();
            answered++;
            if (!ack.ok) {
                refused++;
                fprintf(stderr,
                        "multiproc: MPI: rank %d on %s refused to work for "
                        "rank 0: %s\n",
                        from, ack.host, ack.why);
            }
        }
        free(p);
    }
    return refused > 0 ? MP_EPROTO : 0;
}

/* Frees the parent's context (the funnel not running). */
static void
mpi_free(mp_mpi_t *mpi)
{
    pthread_mutex_destroy(&mpi->mu);
    free(mpi->peers);
    free(mpi->work);
    free(mpi);
}

/* Ends MPI's part of this process: the job's communicator, the
 * connection to the other side in spawn mode, and MPI itself when we
 * initialized it. */
static void
mpi_end(MPI_Comm *comm, MPI_Comm *inter, bool initialized)
{
    MPI_Comm_free(comm);
    if (*inter != MPI_COMM_NULL) {
        MPI_Comm_disconnect(inter);
    }
    if (initialized) {
        MPI_Finalize();
    }
}

/* Makes the job's communicator in *comm: in world mode a duplicate of
 * MPI_COMM_WORLD; in a spawned worker, or in a one-rank job that spawns
 * (spawn workers of /proc/self/exe with argv's arguments), the
 * intercommunicator to the other side (*inter) merged, the parent as rank
 * 0, so that the rest is world mode's. Returns 0, or MP_ENOTSUP (one rank,
 * nothing to spawn; *comm is still made). */
static int
job_comm(int spawn, char **argv, MPI_Comm *comm, MPI_Comm *inter)
{
    *inter = MPI_COMM_NULL;
    MPI_Comm parent;
    MPI_Comm_get_parent(&parent);
    if (parent != MPI_COMM_NULL) {
        *inter = parent;
        MPI_Intercomm_merge(parent, 1, comm);
        return 0;
    }
    int size = 0;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    char exe[PATH_MAX];
    if (size > 1 || spawn <= 0 || realpath("/proc/self/exe", exe) == NULL) {
        MPI_Comm_dup(MPI_COMM_WORLD, comm);
        return size > 1 ? 0 : MP_ENOTSUP;
    }
    char **args = argv != NULL && argv[0] != NULL ? argv + 1 : MPI_ARGV_NULL;
    MPI_Comm_spawn(exe, args, spawn, MPI_INFO_NULL, 0, MPI_COMM_SELF, inter,
                   MPI_ERRCODES_IGNORE);
    MPI_Intercomm_merge(*inter, 0, comm);
    return 0;
}

int
mp_mpi_init(mp_mpi_t **out, int *argc, char ***argv, const mp_mpi_opts_t *opts)
{
    const void *caller = __builtin_return_address(0);
    mp_mpi_opts_t o = opts != NULL ? *opts : (mp_mpi_opts_t)MP_MPI_OPTS_INIT;
    if (out == NULL || MP__OPTS_BAD(opts) ||
        (o.heartbeat_timeout < 0 && o.heartbeat_timeout != MP_WAIT_FOREVER)) {
        return MP_EINVAL;
    }
    *out = NULL;
    const mp__remote_bridge_t *br =
        mp__remote_bridge(MP__REMOTE_BRIDGE_VERSION);
    if (br == NULL) {
        return MP_ENOTSUP;
    }
    int inited = 0, provided = 0;
    bool we_init = false;
    MPI_Initialized(&inited);
    if (!inited) {
        MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided);
        we_init = true;
    } else {
        MPI_Query_thread(&provided);
    }
    MPI_Comm comm, inter;
    if (provided < MPI_THREAD_SERIALIZED) {
        MPI_Comm_dup(MPI_COMM_WORLD, &comm);
        inter = MPI_COMM_NULL;
        mpi_end(&comm, &inter, we_init);
        return MP_ENOTSUP;
    }
    if (job_comm(o.spawn, argv != NULL ? *argv : NULL, &comm, &inter) != 0) {
        mpi_end(&comm, &inter, we_init);
        return MP_ENOTSUP;
    }
    int rank = 0, size = 0;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    if (rank != 0) {
        int rc = mp__mpi_rank_main(comm, br, caller);
        mpi_end(&comm, &inter, we_init);
        return rc == 0 ? MP_MPI_WORKER : rc;
    }
    mp_mpi_t *mpi = calloc(1, sizeof *mpi);
    mp__mpi_peer_t *peers = calloc((size_t)size, sizeof *peers);
    int *work = calloc((size_t)size, sizeof *work);
    if (mpi == NULL || peers == NULL || work == NULL) {
        free(mpi);
        free(peers);
        free(work);
        mp__mpi_abort(comm, "out of memory at start-up");
    }
    mpi->work = work;
    mpi->br = br;
    mpi->comm = comm;
    mpi->inter = inter;
    mpi->size = size;
    mpi->peers = peers;
    mpi->initialized_mpi = we_init;
    mpi->heartbeat_ns =
        o.heartbeat_timeout == MP_WAIT_FOREVER
            ? 0
            : (int64_t)(o.heartbeat_timeout > 0 ? o.heartbeat_timeout : 30000) *
                  1000000;
    mpi->next_pool = 1;
    pthread_mutex_init(&mpi->mu, NULL);
    mp__mpi_wire_init(&mpi->wire, comm, br);
    int rc = parent_handshake(mpi, caller);
    if (rc != 0) {
        /* Every rank waits for the end: tell them, hear them out. */
        mpi->stopping = true;
        (void)mp__mpi_funnel_main(mpi);
        mpi_end(&mpi->comm, &mpi->inter, we_init);
        mpi_free(mpi);
        return rc;
    }
    int err = pthread_create(&mpi->funnel, NULL, mp__mpi_funnel_main, mpi);
    if (err != 0) {
        mp__mpi_abort(comm, "cannot start the funnel thread");
    }
    mpi->funnel_running = true;
    *out = mpi;
    return MP_MPI_PARENT;
}

int
mp_mpi_workers(const mp_mpi_t *mpi)
{
    return mpi != NULL ? mpi->size - 1 : MP_EINVAL;
}

int
mp_mpi_finalize(mp_mpi_t *mpi, mp_duration_t timeout)
{
    if (mpi == NULL || (timeout < 0 && timeout != MP_WAIT_FOREVER)) {
        return MP_EINVAL;
    }
    pthread_mutex_lock(&mpi->mu);
    if (mpi->pools > 0) {
        pthread_mutex_unlock(&mpi->mu);
        return MP_EBUSY;
    }
    mpi->stopping = true;
    pthread_mutex_unlock(&mpi->mu);
    int64_t deadline = timeout == MP_WAIT_FOREVER
                           ? INT64_MAX
                           : mpi->br->now_ns() + (int64_t)timeout * 1000000;
    mp__mpi_idle_t idle;
    mp__mpi_idle_busy(&idle, mpi->br);
    for (;;) {
        pthread_mutex_lock(&mpi->mu);
        bool done = mpi->funnel_done;
        pthread_mutex_unlock(&mpi->mu);
        if (done) {
            break;
        }
        if (mpi->br->now_ns() >= deadline) {
            return MP_ETIMEDOUT;
        }
        mp__mpi_idle_wait(&idle, mpi->br);
    }
    pthread_join(mpi->funnel, NULL);
    mpi_end(&mpi->comm, &mpi->inter, mpi->initialized_mpi);
    mpi_free(mpi);
    return 0;
}
