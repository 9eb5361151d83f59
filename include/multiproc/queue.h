/* SPDX-License-Identifier: MIT */
/* multiproc/queue.h - Queue, SimpleQueue and JoinableQueue: byte messages in
 * shared memory. Included by multiproc.h; including it alone works too. */
#ifndef MULTIPROC_QUEUE_H
#define MULTIPROC_QUEUE_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/*===== Queues: Queue, SimpleQueue, JoinableQueue ==========================*/

/* A multi-producer, multi-consumer FIFO of byte messages (0 bytes and up) in
 * shared memory. Any process that inherited the queue (fork) or attached it
 * by name (mp_queue_attach: a process that was already running, such as a
 * pool worker) may put and get. A put copies the message into the queue and
 * returns: nothing is buffered in the putting process, so a producer may
 * exit right after its last put. A process killed with SIGKILL at any moment
 * (mid-put, mid-get) never corrupts or wedges the queue for the others; at
 * most the one message it was handling is lost, and none is duplicated.
 * Messages from one producer arrive in the order they were put. */
typedef struct mp_queue mp_queue_t;

/* Options for mp_queue_create; MP_QUEUE_OPTS_INIT (or NULL) means the
 * defaults. */
typedef struct mp_queue_opts {
    size_t size;     /* sizeof(mp_queue_opts_t): set by MP_QUEUE_OPTS_INIT */
    size_t maxsize;  /* at most this many messages; 0: unbounded */
    bool joinable;   /* a JoinableQueue: task_done and join */
    size_t capacity; /* bytes reserved for message data; 0: 1 GiB. The
                        reservation is sparse: memory is used only for the
                        messages in the queue, and reused. A single message
                        may be as large as this. */
} mp_queue_opts_t;
/* MP_QUEUE_OPTS_INIT: an mp_queue_opts_t with its size set and every other
 * field at its default (see common.h, "Options structs"). */
#define MP_QUEUE_OPTS_INIT MP__OPTS_INIT(mp_queue_opts_t)

/* mp_queue_create makes a queue (Python: Queue(maxsize), or JoinableQueue
 * with opts->joinable). mp_simple_queue_create makes an unbounded one
 * (SimpleQueue) and mp_joinable_queue_create a joinable one. Returns 0 or
 * MP_EINVAL (NULL out, a capacity too large, opts not initialised with
 * MP_QUEUE_OPTS_INIT: a wrong size), MP_ENOMEM, MP_ENOSPC. Context: any
 * process, any thread; the queue is removed once its creator destroys it or its
 * whole process tree exits. */
MP_EXTERN int mp_queue_create(mp_queue_t **out, const mp_queue_opts_t *opts);
MP_EXTERN int mp_simple_queue_create(mp_queue_t **out);
MP_EXTERN int mp_joinable_queue_create(mp_queue_t **out, size_t maxsize);

/* mp_queue_name returns the name another process passes to mp_queue_attach
 * (valid while the handle lives). Context: any process that has the
 * handle, any thread. */
MP_EXTERN const char *mp_queue_name(const mp_queue_t *q);

/* mp_queue_attach opens an existing queue by name in a process that did not
 * inherit it. The queue names the processes working on it by pid, so the
 * attaching process must be in the creator's pid namespace. Returns 0 or
 * MP_ENOENT (no such queue, or destroyed), MP_EINVAL (not a queue's name),
 * MP_EPIDNS (made in another pid namespace), MP_ENOMEM. Context: any
 * process of the creator's pid namespace, any thread. */
MP_EXTERN int mp_queue_attach(mp_queue_t **out, const char *name);

/* mp_queue_put copies len bytes from buf into the queue, waiting up to
 * timeout for room in a bounded queue. An unbounded queue never refuses a
 * put for lack of room and never waits long: when its ring is full (or many
 * large messages are queued) a put pauses briefly (never past timeout,
 * never with MP_NO_WAIT) for consumers to catch up, so memory is reused,
 * then stores the message in the overflow area (docs/design.md, "Queues").
 * Returns 0, MP_EFULL (no room within timeout, also for MP_NO_WAIT; in any
 * queue also when the puts of large messages that may copy at once all
 * copy and none ends in time: docs/design.md, "Queues"),
 * MP_EMSGSIZE (len above the queue's capacity), MP_ENOMEM (the data area
 * is full of unread messages), MP_ECLOSED (this handle was closed),
 * MP_EINVAL. mp_queue_put_nowait is put with MP_NO_WAIT. On failure nothing
 * was put. Context: any process that has the queue, any thread. */
MP_EXTERN int mp_queue_put(mp_queue_t *q, const void *buf, size_t len,
                           mp_duration_t timeout);
MP_EXTERN int mp_queue_put_nowait(mp_queue_t *q, const void *buf, size_t len);

/* mp_queue_get takes the oldest message, waiting up to timeout for one, and
 * stores a fresh buffer holding it in *out (the caller frees it with
 * mp_free; non-NULL also for an empty message). Returns the message length,
 * or MP_EEMPTY (none within timeout; also for MP_NO_WAIT), MP_ECLOSED,
 * MP_ENOMEM (the message stays queued), MP_EINVAL. mp_queue_get_nowait is
 * get with MP_NO_WAIT. Context: any process that has the queue, any
 * thread. */
MP_EXTERN ssize_t mp_queue_get(mp_queue_t *q, void **out,
                               mp_duration_t timeout);
MP_EXTERN ssize_t mp_queue_get_nowait(mp_queue_t *q, void **out);

/* mp_queue_get_into is mp_queue_get into the caller's buffer. Returns the
 * length, or MP_EMSGSIZE when the next message is longer than buflen (it
 * stays queued), or the errors of mp_queue_get. Context: any process that
 * has the queue, any thread. */
MP_EXTERN ssize_t mp_queue_get_into(mp_queue_t *q, void *buf, size_t buflen,
                                    mp_duration_t timeout);

/* Zero-copy puts and gets (Python has no equivalent): a producer writes a
 * message straight into the queue's shared memory and a consumer reads it
 * where it lies, so a large message is written once and read once instead
 * of copied in and out. Messages put either way can be got either way.
 * Slots are per queue and shared by all its processes: at most 16 borrowed
 * for putting and 16 messages held for reading at once. A slot goes back
 * only through the handle it came from; mp_queue_destroy gives back those
 * the handle still has. A process killed while it has a slot never wedges
 * or leaks it: the next process that needs memory or a slot frees it
 * (docs/design.md, "Queues: zero-copy"). */

/* Experimental (not yet under the ABI promise of docs/api-conventions.md):
 * mp_queue_put_begin borrows a slot of size bytes (1 up to the queue's
 * capacity) in the queue's shared memory and stores its address (aligned
 * to 16 bytes) in *out. The caller writes the message there, then puts it
 * with mp_queue_put_commit or gives the slot back with mp_queue_put_abort.
 * Until the commit the message is in no queue: no consumer sees it, qsize
 * does not count it, and a producer's messages arrive in the order of
 * their commits. Waits up to timeout for a free slot, and (size 64 KiB and
 * up) paces as mp_queue_put does. Returns 0, or MP_EINVAL (NULL q or out,
 * size 0, a negative timeout other than MP_WAIT_FOREVER), MP_EMSGSIZE (size
 * above the queue's capacity), MP_EBUSY (16 slots borrowed, or every put
 * slot in use, and none given back within timeout), MP_ENOMEM (the data
 * area is full of unread messages), MP_ECLOSED; *out is NULL on failure.
 * If the process dies holding the slot, nothing was put and the slot's
 * memory is freed by the next put or get that needs room or a slot.
 * Context: any process that has the queue, any thread. */
MP_EXTERN int mp_queue_put_begin(mp_queue_t *q, size_t size, void **out,
                                 mp_duration_t timeout);

/* Experimental (not yet under the ABI promise of docs/api-conventions.md):
 * mp_queue_put_commit puts the first len bytes (0 up to the size borrowed)
 * of the slot at ptr, which mp_queue_put_begin gave through this handle, as
 * one message, without copying them. It waits for room as mp_queue_put
 * does: up to timeout in a bounded queue, briefly in an unbounded one.
 * After it returns 0 the slot is the queue's: do not touch it again.
 * Returns 0, or MP_EINVAL (NULL q or ptr; ptr not a slot this handle has
 * borrowed in this process: foreign, already committed or aborted; len
 * above the slot's size; a bad timeout), MP_EFULL (no room within timeout,
 * also for MP_NO_WAIT), MP_ENOMEM (the data area is full), MP_ECLOSED (this
 * handle was closed); on failure the slot stays borrowed (commit it again,
 * or abort it). A JoinableQueue counts the task when the message is put. A
 * process killed inside the call has put the message or not, as one killed
 * inside mp_queue_put: never half of it, and its slot is freed if not.
 * Context: any thread of the process that borrowed the slot. */
MP_EXTERN int mp_queue_put_commit(mp_queue_t *q, void *ptr, size_t len,
                                  mp_duration_t timeout);

/* Experimental (not yet under the ABI promise of docs/api-conventions.md):
 * mp_queue_put_abort gives back a slot that mp_queue_put_begin gave
 * through this handle, putting nothing; also on a closed handle. Never
 * blocks for long. Returns 0 or MP_EINVAL (NULL q or ptr; ptr not a slot
 * this handle has borrowed in this process). Context: any thread of the
 * process that borrowed the slot. */
MP_EXTERN int mp_queue_put_abort(mp_queue_t *q, void *ptr);

/* Experimental (not yet under the ABI promise of docs/api-conventions.md):
 * mp_queue_get_begin takes the oldest message as mp_queue_get does, without
 * copying it: it stores in *out the message's address in the queue's
 * shared memory (aligned to 16 bytes; a message of at most 96 bytes, kept
 * in its ring cell, is copied into the handle instead) and returns its
 * length. The message has left the queue (qsize no longer counts it); the
 * caller may read and write it there until it gives it back with
 * mp_queue_get_release. Returns the length, or MP_EINVAL (NULL q or out, a
 * bad timeout), MP_EEMPTY (no message within timeout; also for
 * MP_NO_WAIT), MP_EBUSY (16 messages held, a call waiting for a message
 * counting as one, and none released within timeout), MP_ECLOSED; *out is NULL
 * on failure. If the process dies holding the message (or inside the call), the
 * message is lost, not delivered again, as when a consumer dies inside
 * mp_queue_get; its memory is freed by the next put or get that needs room or a
 * slot, and in a JoinableQueue its task stays unfinished (mp_queue_task_done).
 * Context: any process that has the queue, any thread. */
MP_EXTERN ssize_t mp_queue_get_begin(mp_queue_t *q, void **out,
                                     mp_duration_t timeout);

/* Experimental (not yet under the ABI promise of docs/api-conventions.md):
 * mp_queue_get_release gives back a message that mp_queue_get_begin gave
 * through this handle (ptr: the address it stored); also on a closed
 * handle. The memory is reused at once: do not touch it again. Never
 * blocks for long. Returns 0 or MP_EINVAL (NULL q or ptr; ptr not a
 * message this handle holds in this process: foreign, or already
 * released). Context: any thread of the process that took the message. */
MP_EXTERN int mp_queue_get_release(mp_queue_t *q, void *ptr);

/* mp_queue_qsize returns the number of messages in the queue (a snapshot:
 * others may change it at once), or MP_EINVAL for NULL; mp_queue_empty
 * tells whether it is empty, mp_queue_full whether a bounded queue is at
 * maxsize (both false for NULL). Context: any process that has the queue,
 * any thread. */
MP_EXTERN ssize_t mp_queue_qsize(const mp_queue_t *q);
MP_EXTERN bool mp_queue_empty(const mp_queue_t *q);
MP_EXTERN bool mp_queue_full(const mp_queue_t *q);

/* mp_queue_close marks this handle closed: later puts and gets through it
 * return MP_ECLOSED; other handles and processes are not affected.
 * Idempotent; returns 0 or MP_EINVAL. Context: any process that has the
 * queue, any thread (a put or get under way may still finish). */
MP_EXTERN int mp_queue_close(mp_queue_t *q);

/* Python's join_thread/cancel_join_thread: puts are never buffered in the
 * process, so there is nothing to flush. mp_queue_join_thread returns 0 on a
 * closed handle and MP_EBUSY ("queue not closed") otherwise;
 * mp_queue_cancel_join_thread returns 0; both MP_EINVAL for NULL. Context:
 * any process that has the queue, any thread. */
MP_EXTERN int mp_queue_join_thread(mp_queue_t *q);
MP_EXTERN int mp_queue_cancel_join_thread(mp_queue_t *q);

/* JoinableQueue: every put counts an unfinished task; mp_queue_task_done
 * marks one finished (MP_EOVERRELEASE: more task_done calls than puts) and
 * mp_queue_join waits up to timeout until none is unfinished (MP_ETIMEDOUT).
 * Both return MP_EINVAL on a queue that is not joinable. As in Python, the
 * unfinished count is the puts completed minus the task_done calls, and it
 * stays exact when processes are killed at any moment: a put killed before
 * its message was in the queue counts nothing, one killed after counts it
 * (the message is there for consumers). A message whose consumer is killed
 * before its task_done - inside mp_queue_get or after - stays unfinished,
 * as in Python: whoever notices the death calls task_done for it. Context:
 * any process that has the queue, any thread. */
MP_EXTERN int mp_queue_task_done(mp_queue_t *q);
MP_EXTERN int mp_queue_join(mp_queue_t *q, mp_duration_t timeout);

/* mp_queue_destroy frees the handle. In the creating process it also
 * removes the queue (processes that still have it mapped keep working on
 * their mapping; new attaches fail); elsewhere it only unmaps. Zero-copy
 * slots the handle still has in this process are given back first
 * (borrowed ones aborted, held messages released). NULL is ignored.
 * Context: any process that has the queue. */
MP_EXTERN void mp_queue_destroy(mp_queue_t *q);

#ifdef __cplusplus
}
#endif

#endif /* MULTIPROC_QUEUE_H */
