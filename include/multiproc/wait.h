/* SPDX-License-Identifier: MIT */
/* multiproc/wait.h - waiting on many objects at once: connections, processes,
 * queues and plain fds (Python's connection.wait). Included by multiproc.h;
 * including it alone works too. */
#ifndef MULTIPROC_WAIT_H
#define MULTIPROC_WAIT_H

#include "connection.h"
#include "process.h"
#include "queue.h"

#ifdef __cplusplus
extern "C" {
#endif

/*===== Waiting on many objects =============================================*/

/* What an mp_waitable_t names. */
typedef enum mp_waitable_kind {
    MP_WAIT_FD,      /* u.fd: any fd; ready when readable or hung up */
    MP_WAIT_CONN,    /* u.conn: a readable end; ready: a message or EOF */
    MP_WAIT_PROCESS, /* u.process: a started process; ready: it exited */
    MP_WAIT_QUEUE    /* u.queue: ready when it holds a message (qsize > 0) */
} mp_waitable_kind_t;

/* One object to wait on; mp_wait_any sets ready. */
typedef struct mp_waitable {
    mp_waitable_kind_t kind;
    union {
        int fd;
        mp_conn_t *conn;
        mp_process_t *process;
        mp_queue_t *queue;
    } u;
    bool ready; /* out: the object was ready when mp_wait_any returned */
} mp_waitable_t;

/* mp_wait_any waits up to timeout until at least one of the n items is
 * ready, then marks every item that is ready (and clears the others'
 * ready). Readiness is a snapshot, as in Python: another process may take
 * a queue's message first, so a get after it may still time out. With n 0
 * it just waits out the timeout. A queue's first wait on a handle opens
 * one fd that the handle keeps until mp_queue_destroy. Returns how many
 * are ready (0 when the timeout passed), or MP_EINVAL (NULL items with
 * n > 0, n 0 with MP_WAIT_FOREVER, n too large, an unknown kind, a NULL
 * conn/process/queue, bad timeout), MP_EBADF (a negative or unopened fd, a
 * closed or write-only connection, a process not started or closed, a
 * closed queue handle), MP_ENOENT (a queue whose creator removed it, on a
 * handle that never waited before), MP_ENOMEM. Context: any thread of a
 * process that may use the objects. Python:
 * multiprocessing.connection.wait(objects, timeout), with queues. */
MP_EXTERN int mp_wait_any(mp_waitable_t *items, size_t n,
                          mp_duration_t timeout);

#ifdef __cplusplus
}
#endif

#endif /* MULTIPROC_WAIT_H */
