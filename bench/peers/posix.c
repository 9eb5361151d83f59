/* SPDX-License-Identifier: MIT */
/* posix.c - the peers that need nothing beyond libc, on mp_bench's shapes:
 * the 8-byte request/reply over a raw AF_UNIX SOCK_STREAM socketpair
 * (pipe_pingpong@socketpair) and over two POSIX message queues
 * (pipe_pingpong@posix_mq); 64-byte messages through one POSIX message
 * queue, 1p1c and 2p2c (queue_throughput_small_*@posix_mq; 1 MiB is over
 * the default msgsize_max of 8 KiB, so no queue_throughput_large); and
 * two processes on one pthread mutex in shared memory, robust and not
 * (lock_contention@pthread_mutex, @pthread_mutex_robust), and on a POSIX
 * semaphore used as a lock (lock_contention@posix_sem). */
#include "peer_common.h"

#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/*----- socketpair ----------------------------------------------------------*/

/* The two ends of one socketpair: fd[0] the parent's, fd[1] the child's. */
struct sp {
    int fd[2];
};

static void *
sp_open(void)
{
    struct sp *s = malloc(sizeof *s);

    if (s == NULL ||
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s->fd)) {
        free(s);
        return NULL;
    }
    return s;
}

static void *
sp_attach(void *shared, int side)
{
    return &((struct sp *)shared)->fd[side];
}

static int
sp_send(void *h, const void *p, size_t len)
{
    return write(*(int *)h, p, len) == (ssize_t)len ? 0 : -1;
}

/* One read is one message: a ping-pong has one message in flight. */
static long
sp_recv(void *h, void *buf, size_t cap)
{
    return read(*(int *)h, buf, cap);
}

static void
sp_detach(void *h)
{
    (void)h;
}

static void
sp_close(void *shared)
{
    struct sp *s = shared;

    close(s->fd[0]);
    close(s->fd[1]);
    free(s);
}

static const struct peer_link SOCKETPAIR = {
    "socketpair", "AF_UNIX SOCK_STREAM socketpair, write/read",
    sp_open,      sp_attach,
    sp_send,      sp_recv,
    sp_detach,    sp_close,
};

/*----- POSIX message queues ------------------------------------------------*/

/* Opens a new message queue for messages of up to size bytes, as deep as
 * /proc/sys/fs/mqueue/msg_max allows (10 by default), and unlinks its name
 * at once (the descriptor is inherited over fork). Returns it, or -1. */
static mqd_t
mq_new(size_t size)
{
    char name[64];
    long depth = 10;
    FILE *f = fopen("/proc/sys/fs/mqueue/msg_max", "re");

    if (f != NULL) {
        if (fscanf(f, "%ld", &depth) != 1 || depth < 1) {
            depth = 10;
        }
        fclose(f);
    }
    struct mq_attr a = {.mq_maxmsg = depth, .mq_msgsize = (long)size};
    snprintf(name, sizeof name, "/mp-peer-%d", (int)getpid());
    mqd_t q = mq_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600, &a);
    if (q != (mqd_t)-1) {
        mq_unlink(name);
    }
    return q;
}

/* A queue harness's state: the one queue all share. */
struct mq {
    mqd_t q;
};

static void *
mq_open_queue(int nprod, int ncons, size_t size)
{
    struct mq *m = malloc(sizeof *m);

    (void)nprod;
    (void)ncons;
    if (m == NULL || (m->q = mq_new(size)) == (mqd_t)-1) {
        free(m);
        return NULL;
    }
    return m;
}

static void *
mq_attach(void *shared, int role, int k)
{
    (void)role;
    (void)k;
    return shared;
}

static int
mq_put(void *h, const void *p, size_t len)
{
    return mq_send(((struct mq *)h)->q, p, len, 0);
}

static long
mq_get(void *h, void *buf, size_t cap)
{
    return mq_receive(((struct mq *)h)->q, buf, cap, NULL);
}

static int
mq_end(void *shared, int k)
{
    (void)k;
    return mq_put(shared, "", 0);
}

static void
mq_detach(void *h)
{
    (void)h;
}

static void
mq_close_queue(void *shared)
{
    struct mq *m = shared;

    mq_close(m->q);
    free(m);
}

static const struct peer_queue MQ = {
    "posix_mq",     "one POSIX message queue (mq_send/mq_receive)",
    mq_open_queue,  mq_attach,
    mq_put,         mq_get,
    mq_end,         mq_detach,
    mq_close_queue,
};

/* The request/reply over two message queues: q[0] to the child, q[1]
 * back; the handle of side s is &q[s] (it sends on the other). */
struct mq2 {
    mqd_t q[2];
};

static void *
mq2_open(void)
{
    struct mq2 *m = malloc(sizeof *m);

    if (m == NULL) {
        return NULL;
    }
    m->q[0] = mq_new(64);
    m->q[1] = m->q[0] == (mqd_t)-1 ? (mqd_t)-1 : mq_new(64);
    if (m->q[1] == (mqd_t)-1) {
        if (m->q[0] != (mqd_t)-1) {
            mq_close(m->q[0]);
        }
        free(m);
        return NULL;
    }
    return m;
}

/* One side's ends: side 0 sends on q[0] and receives on q[1], side 1
 * the other way round. */
struct mq2_side {
    mqd_t out, in;
};

static void *
mq2_attach(void *shared, int side)
{
    const struct mq2 *m = shared;
    struct mq2_side *h = malloc(sizeof *h);

    if (h != NULL) {
        h->out = m->q[side];
        h->in = m->q[1 - side];
    }
    return h;
}

static int
mq2_send(void *h, const void *p, size_t len)
{
    return mq_send(((struct mq2_side *)h)->out, p, len, 0);
}

static long
mq2_recv(void *h, void *buf, size_t cap)
{
    return mq_receive(((struct mq2_side *)h)->in, buf, cap, NULL);
}

static void
mq2_detach(void *h)
{
    free(h);
}

static void
mq2_close(void *shared)
{
    struct mq2 *m = shared;

    mq_close(m->q[0]);
    mq_close(m->q[1]);
    free(m);
}

/*----- locks ---------------------------------------------------------------*/

/* Makes a process-shared mutex in mem, robust when robust. */
static int
mutex_init_as(void *mem, int robust)
{
    pthread_mutexattr_t a;
    int rc;

    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    if (robust) {
        pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    }
    rc = pthread_mutex_init(mem, &a);
    pthread_mutexattr_destroy(&a);
    return rc;
}

static int
mutex_init(void *mem)
{
    return mutex_init_as(mem, 0);
}

static int
mutex_init_robust(void *mem)
{
    return mutex_init_as(mem, 1);
}

/* Locks; an owner that died leaves the mutex consistent again. */
static int
mutex_lock(void *mem)
{
    int rc = pthread_mutex_lock(mem);

    return rc == EOWNERDEAD ? pthread_mutex_consistent(mem) : rc;
}

static int
mutex_unlock(void *mem)
{
    return pthread_mutex_unlock(mem);
}

static void
mutex_fini(void *mem)
{
    pthread_mutex_destroy(mem);
}

static const struct peer_lock MUTEX = {
    "pthread_mutex",
    "pthread_mutex_lock+unlock, process-shared, not robust",
    sizeof(pthread_mutex_t),
    mutex_init,
    mutex_lock,
    mutex_unlock,
    mutex_fini,
};

static const struct peer_lock MUTEX_ROBUST = {
    "pthread_mutex_robust",
    "pthread_mutex_lock+unlock, process-shared, robust",
    sizeof(pthread_mutex_t),
    mutex_init_robust,
    mutex_lock,
    mutex_unlock,
    mutex_fini,
};

static int
sem_init1(void *mem)
{
    return sem_init(mem, 1, 1);
}

static int
sem_lock(void *mem)
{
    return sem_wait(mem);
}

static int
sem_unlock(void *mem)
{
    return sem_post(mem);
}

static void
sem_fini(void *mem)
{
    sem_destroy(mem);
}

static const struct peer_lock SEM = {
    "posix_sem",   "sem_wait+sem_post on a process-shared sem_t of 1",
    sizeof(sem_t), sem_init1,
    sem_lock,      sem_unlock,
    sem_fini,
};

static const struct peer_link MQ2 = {
    "posix_mq", "two POSIX message queues (one each way)",
    mq2_open,   mq2_attach,
    mq2_send,   mq2_recv,
    mq2_detach, mq2_close,
};

static void
wl_pipe_pingpong(void)
{
    peer_pingpong(&SOCKETPAIR);
    peer_pingpong(&MQ2);
}

static void
wl_queue_throughput_small(void)
{
    peer_queue_small(&MQ, 1);
}

static void
wl_lock_contention(void)
{
    peer_lock_contention(&MUTEX);
    peer_lock_contention(&MUTEX_ROBUST);
    peer_lock_contention(&SEM);
}

int
main(int argc, char **argv)
{
    static const struct peer_workload list[] = {
        {"pipe_pingpong", wl_pipe_pingpong},
        {"queue_throughput_small", wl_queue_throughput_small},
        {"lock_contention", wl_lock_contention},
    };

    return peer_main(argc, argv, "peer_posix", list,
                     sizeof list / sizeof list[0]);
}
