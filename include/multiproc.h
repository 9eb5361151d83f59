/* SPDX-License-Identifier: MIT */
/* multiproc.h - Python's multiprocessing for C: processes and their start
 * methods, pipes and connections, queues, pools, shared memory, locks and
 * the other synchronisation objects, shared values, and managers.
 *
 * Introduction
 * ------------
 * Every object is an opaque handle the library allocates: `mp_x_create()`
 * hands it out, `mp_x_destroy()` releases it, and `destroy(NULL)` is a no-op.
 * Every call that can fail returns 0 (or a count) on success and a negative
 * code from MP_ERRNO_MAP on failure; mp_strerror() and mp_err_name() describe
 * it. Every call that can block takes an mp_duration_t timeout in
 * milliseconds: MP_WAIT_FOREVER, MP_NO_WAIT, or a positive count. Any other
 * negative timeout is answered with MP_EINVAL.
 *
 * Objects created before mp_process_start() are inherited by the child (the
 * fork start method): a lock, event, value or shared-memory block made by the
 * parent is the same object in the child. A spawn or forkserver child, or
 * any other process of the user, opens an object of the spawn or forkserver
 * context by its token (see "Tokens and contexts"). Shared state lives in
 * shared memory that the library maps; the handle itself is process-local.
 * Each contract says its "Context:": the processes and threads that may
 * call it, and whether it is async-signal-safe (docs/api-conventions.md,
 * rule 9).
 *
 * Sections, simple to advanced: Errors, Time, Options structs, Library,
 * Start methods, Contexts, Processes, Pipes and connections, Listeners and
 * clients, Queues, Waiting on many objects, Pools, Shared memory,
 * ShareableList, Tokens and contexts, Locks, Semaphores, Conditions,
 * Events, Barriers, Shared values, Managers.
 * docs/python-mapping.md maps every multiprocessing name to its mp_ twin.
 */
#ifndef MULTIPROC_H
#define MULTIPROC_H

#include "multiproc/common.h"
#include "multiproc/connection.h"
#include "multiproc/manager.h"
#include "multiproc/pool.h"
#include "multiproc/process.h"
#include "multiproc/queue.h"
#include "multiproc/shm.h"
#include "multiproc/sync.h"
#include "multiproc/values.h"
#include "multiproc/wait.h"

#endif /* MULTIPROC_H */
