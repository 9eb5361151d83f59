/* SPDX-License-Identifier: MIT */
/* mpi_internal.h - what the files of libmultiproc_mpi share: the messages
 * between the parent (rank 0) and the worker ranks, the sending and
 * receiving of them (wire.c), the idle back-off, the parent's funnel
 * thread (parent.c) and the worker ranks' loop (rank.c).
 *
 * Every message travels on one tag of a duplicate of MPI_COMM_WORLD as
 * MPI_BYTE: an mp__mpi_hdr_t, then its payload. MPI keeps the messages of
 * one sender on one tag in order, which the protocol relies on (a pool's
 * OPEN before its tasks, a task before the STOP after it). A message
 * longer than the part size (1 GiB; the environment variable
 * MP_MPI_PART_MAX sets it, for tests) goes as a header alone whose total
 * is the payload's length, followed at once by the payload in parts of at
 * most the part size (MPI counts are ints).
 *
 *   HELLO    parent -> rank   mp__mpi_hello_t: protocol, ABI, build-ids
 *   ACK      rank -> parent   mp__mpi_ack_t: accepted or why not, host
 *   OPEN     parent -> rank   mp__mpi_open_t, the initializer's module
 *                             path, the initializer's argument bytes:
 *                             start pool `pool`'s local pool (slot `slot`,
 *                             incarnation `gen`)
 *   TASK     parent -> rank   a message of the slot's inbox, as the pool
 *                             put it (a task, or STOP: close the local
 *                             pool once its tasks are done)
 *   REPLY    rank -> parent   a message for the pool's result queue
 *                             (READY, INITFAIL, DONE), slot and gen set
 *   KILL     parent -> rank   terminate the local pool now
 *   ENDED    rank -> parent   the local pool is gone; arg: exit code
 *   PING     parent -> rank   heartbeat; the rank answers PONG
 *   SHUTDOWN parent -> rank   end: the rank answers BYE and returns
 * Layer: above pool (libmultiproc_mpi, linked to libmultiproc and MPI). */
#ifndef MP_MPI_INTERNAL_H
#define MP_MPI_INTERNAL_H

#include "../pool/remote.h"

#include <mpi.h>
#include <multiproc/mpi.h>
#include <pthread.h>

#define MP__MPI_TAG 7171
#define MP__MPI_MAGIC 0x4d504d49u /* "MPMI" */
#define MP__MPI_PROTO 1u

enum {
    MP__MPI_HELLO = 1,
    MP__MPI_ACK,
    MP__MPI_OPEN,
    MP__MPI_TASK,
    MP__MPI_REPLY,
    MP__MPI_KILL,
    MP__MPI_ENDED,
    MP__MPI_PING,
    MP__MPI_PONG,
    MP__MPI_SHUTDOWN,
    MP__MPI_BYE,
};

typedef struct mp__mpi_hdr {
    uint32_t kind;
    uint32_t pool; /* the pool's number (0: none) */
    uint32_t slot; /* the pool's slot this rank serves */
    uint32_t pad;
    uint64_t gen;   /* the slot's incarnation */
    uint64_t total; /* non-zero: the payload follows in parts */
    int64_t arg;    /* ENDED: the exit code */
} mp__mpi_hdr_t;

/* The most build-id bytes compared. */
#define MP__MPI_ID_MAX 64

typedef struct mp__mpi_ident {
    uint32_t len;
    uint8_t id[MP__MPI_ID_MAX];
} mp__mpi_ident_t;

/* What must be equal on every rank. */
typedef struct mp__mpi_hello {
    uint32_t magic, proto;
    uint32_t byte_order; /* 0x01020304 as the sender stores it */
    uint32_t sizes;      /* long, pointer, task and reply headers */
    mp__mpi_ident_t program, core, mpi_lib;
    int64_t heartbeat_ms; /* the rank answers within a quarter of it */
} mp__mpi_hello_t;

typedef struct mp__mpi_ack {
    int32_t ok;
    int32_t pid;
    char host[256]; /* MPI_Get_processor_name */
    char why[512];  /* !ok: the difference */
} mp__mpi_ack_t;

typedef struct mp__mpi_open {
    int64_t processes;
    uint64_t maxtasks;
    int64_t task_timeout;
    uint32_t init_ref_len; /* its reference (fnref.h) follows; UINT32_MAX:
                              no initializer */
    uint32_t pad;
    uint64_t initarg_len;
} mp__mpi_open_t;

/* Sending and receiving (wire.c). Sends never block: each is an MPI_Isend
 * of a buffer the wire owns until it completed. */
typedef struct mp__mpi_send mp__mpi_send_t;
typedef struct mp__mpi_wire {
    MPI_Comm comm;
    size_t part_max;
    mp__mpi_send_t *sends; /* in flight */
    const mp__remote_bridge_t *br;
} mp__mpi_wire_t;

/* wire_init sets w up over comm; br is the core's bridge. */
void mp__mpi_wire_init(mp__mpi_wire_t *w, MPI_Comm comm,
                       const mp__remote_bridge_t *br);
/* wire_send sends h and the len bytes at payload (copied) to rank dest.
 * Returns 0 or MP_ENOMEM. */
int mp__mpi_wire_send(mp__mpi_wire_t *w, int dest, const mp__mpi_hdr_t *h,
                      const void *payload, size_t len);
/* wire_send2 is wire_send of the payload a then b, one after the other. */
int mp__mpi_wire_send2(mp__mpi_wire_t *w, int dest, const mp__mpi_hdr_t *h,
                       const void *a, size_t alen, const void *b, size_t blen);
/* wire_progress frees the sends that completed; returns how many are left. */
size_t mp__mpi_wire_progress(mp__mpi_wire_t *w);
/* wire_flush waits until every send completed (idle back-off). */
void mp__mpi_wire_flush(mp__mpi_wire_t *w);
/* wire_poll takes one message from source (MPI_ANY_SOURCE: any) if one
 * is there: stores its header in *h, its payload in *payload (malloc'd,
 * the caller frees; NULL when empty) and *len, and returns the sender's
 * rank; returns -1 when none is there, or MP_ENOMEM (the message stays
 * unreceived only when it was not yet taken: see wire.c). */
int mp__mpi_wire_poll(mp__mpi_wire_t *w, int source, mp__mpi_hdr_t *h,
                      void **payload, size_t *len);

/* Idle waiting: spin (yielding) for MP__MPI_SPIN_NS after the last
 * activity, then sleep in naps that double from MP__MPI_NAP_MIN_NS to
 * MP__MPI_NAP_MAX_NS; any activity starts over. Where the next message is
 * probably near (the parent has tasks out, a rank has just answered),
 * the spin lasts MP__MPI_SPIN_LONG_NS; where something local can be waited
 * for instead of a nap (the parent's inboxes, a rank's oldest task), the
 * wait is at most MP__MPI_WAIT_MS: an MPI message that comes meanwhile
 * waits no longer than it would for a nap. */
#define MP__MPI_SPIN_NS 50000
#define MP__MPI_SPIN_LONG_NS 2000000
#define MP__MPI_WAIT_MS 1
#define MP__MPI_NAP_MIN_NS 50000
#define MP__MPI_NAP_MAX_NS 1000000
typedef struct mp__mpi_idle {
    int64_t last_busy;
    int64_t nap;
} mp__mpi_idle_t;
/* idle_busy records activity; idle_spin yields and returns true while
 * less than spin_ns passed since it, else returns false (time to sleep);
 * idle_nap sleeps one nap; idle_wait is idle_spin(MP__MPI_SPIN_NS), then
 * idle_nap. */
void mp__mpi_idle_busy(mp__mpi_idle_t *i, const mp__remote_bridge_t *br);
bool mp__mpi_idle_spin(mp__mpi_idle_t *i, const mp__remote_bridge_t *br,
                       int64_t spin_ns);
void mp__mpi_idle_nap(mp__mpi_idle_t *i, const mp__remote_bridge_t *br);
void mp__mpi_idle_wait(mp__mpi_idle_t *i, const mp__remote_bridge_t *br);

/* The handshake (hello.c): fills *hello with what this
 * process runs; caller is an address in the program. */
void mp__mpi_hello_fill(mp__mpi_hello_t *hello, const void *caller,
                        const mp__remote_bridge_t *br);
/* Compares a parent's hello with this process's; returns true when equal,
 * else writes the difference into why. */
bool mp__mpi_hello_check(const mp__mpi_hello_t *mine,
                         const mp__mpi_hello_t *theirs, char *why,
                         size_t why_len);

/* A rank's places for tasks in flight, shared by the pools that have
 * work for it (parent.c: "the sharing of the ranks"); a pool alone gets
 * them all, as many as a local pool queues ahead per worker. */
#define MP__MPI_RANK_WINDOW 32

/* One worker rank as the parent sees it. */
typedef struct mp__mpi_peer {
    char host[256];
    int pid;
    int64_t last_seen; /* ns: its last message */
    bool bye;
} mp__mpi_peer_t;

typedef struct mp__mpi_remote mp__mpi_remote_t;

/* The parent's context (rank 0). mu guards remotes, stopping and
 * funnel_done; everything MPI belongs to the funnel thread once it runs. */
struct mp_mpi {
    const mp__remote_bridge_t *br;
    mp__mpi_wire_t wire;
    MPI_Comm comm;
    MPI_Comm inter; /* spawn mode: to the other side; else MPI_COMM_NULL */
    int size;
    bool initialized_mpi;  /* mp_mpi_init called MPI_Init_thread */
    int64_t heartbeat_ns;  /* 0: none */
    mp__mpi_peer_t *peers; /* [size]; [0] unused */
    pthread_mutex_t mu;
    pthread_t funnel;
    bool funnel_running;
    bool stopping;    /* finalize asked the funnel to end the ranks */
    bool funnel_done; /* every rank said BYE */
    mp__mpi_remote_t *remotes;
    int *work; /* [size]: the funnel's count of pools with work per rank */
    uint32_t next_pool;
    int pools; /* pools created and not yet freed */
};

/* The funnel thread (parent.c): every MPI call of the parent once
 * mp_mpi_init returned. */
void *mp__mpi_funnel_main(void *arg);
/* Ends the job: prints msg with the library's prefix, then MPI_Abort. */
_Noreturn void mp__mpi_abort(MPI_Comm comm, const char *msg);

/* The worker ranks' loop (rank.c): serves the parent until SHUTDOWN.
 * Returns 0, or MP_EPROTO when this rank refused the handshake. */
int mp__mpi_rank_main(MPI_Comm comm, const mp__remote_bridge_t *br,
                      const void *caller);

#endif /* MP_MPI_INTERNAL_H */
