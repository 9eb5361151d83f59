/* SPDX-License-Identifier: MIT */
/* test-queue-private.c - private queues (mp__queue_create_private, what a
 * pool uses): messages small and large cross to and from children forked
 * after the queue was made, options hold as for named queues, no name is
 * made (nothing in /dev/shm, mp_queue_name NULL) and destroy leaves no fd;
 * the eventfd that replaces the wake-up FIFO wakes a poll()ing waiter when
 * a child puts; bad arguments. */
#include "runner.h"

#include "queue/queue_internal.h"

#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Sizes of the messages exchanged: inline in a cell, a small heap block,
 * and large ones (heap blocks populated when carved, mapped before they
 * are copied out). */
static const size_t msg_sizes[] = {0, 40, 5000, 200 * 1024, 3u << 20};
#define N_SIZES (sizeof msg_sizes / sizeof msg_sizes[0])

/* Fills len bytes with a pattern of seed. */
static void
fill(unsigned char *b, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++) {
        b[i] = (unsigned char)(seed + i * 7u + (i >> 10));
    }
}

/* 1 if len bytes hold fill()'s pattern of seed. */
static int
holds(const unsigned char *b, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++) {
        if (b[i] != (unsigned char)(seed + i * 7u + (i >> 10))) {
            return 0;
        }
    }
    return 1;
}

/* What the child of the exchange test gets: a queue each way. */
typedef struct pair {
    mp_queue_t *to_child, *to_parent;
} pair_t;

/* Child: echoes every message it gets back, N_SIZES times (twice over,
 * so heap blocks freed by the other process are reused). */
static int
echo_child(void *arg)
{
    pair_t *p = arg;
    for (size_t k = 0; k < 2 * N_SIZES; k++) {
        void *m = NULL;
        ssize_t n = mp_queue_get(p->to_child, &m, 20000);
        if (n < 0) {
            return 1;
        }
        if (mp_queue_put(p->to_parent, m, (size_t)n, 20000) != 0) {
            return 2;
        }
        mp_free(m);
    }
    return 0;
}

/* --- tests -------------------------------------------------------------- */

TEST(queue_private_messages_cross_fork_both_ways)
{
    int names = mpt_shm_names_left(getpid());
    pair_t p;
    ASSERT_OK(mp__queue_create_private(&p.to_child, NULL));
    ASSERT_OK(mp__queue_create_private(&p.to_parent, NULL));
    ASSERT_NULL(mp_queue_name(p.to_child));
    ASSERT_EQ(mpt_shm_names_left(getpid()), names);
    pid_t pid = mpt_fork(echo_child, &p);
    unsigned char *buf = malloc(3u << 20);
    ASSERT_NOT_NULL(buf);
    for (size_t k = 0; k < 2 * N_SIZES; k++) {
        size_t len = msg_sizes[k % N_SIZES];
        fill(buf, len, (unsigned)k);
        ASSERT_OK(mp_queue_put(p.to_child, buf, len, 20000));
        memset(buf, 0, len);
        ASSERT_EQ(mp_queue_get_into(p.to_parent, buf, 3u << 20, 20000),
                  (ssize_t)len);
        ASSERT(holds(buf, len, (unsigned)k));
    }
    ASSERT_EQ(mpt_join(pid), 0);
    free(buf);
    mp_queue_destroy(p.to_child);
    mp_queue_destroy(p.to_parent);
}

TEST(queue_private_options_hold)
{
    /* Bounded: the bound is exact. */
    mp_queue_opts_t o = MP_QUEUE_OPTS_INIT;
    o.maxsize = 2;
    mp_queue_t *q = NULL;
    ASSERT_OK(mp__queue_create_private(&q, &o));
    ASSERT_OK(mp_queue_put_nowait(q, "a", 1));
    ASSERT_OK(mp_queue_put_nowait(q, "b", 1));
    ASSERT_ERR(mp_queue_put_nowait(q, "c", 1), MP_EFULL);
    char c = 0;
    ASSERT_EQ(mp_queue_get_into(q, &c, 1, MP_NO_WAIT), 1);
    ASSERT_EQ(c, 'a');
    mp_queue_destroy(q);
    /* Capacity: a longer message is refused. */
    o = (mp_queue_opts_t)MP_QUEUE_OPTS_INIT;
    o.capacity = 100;
    ASSERT_OK(mp__queue_create_private(&q, &o));
    char big[101] = {0};
    ASSERT_ERR(mp_queue_put_nowait(q, big, sizeof big), MP_EMSGSIZE);
    ASSERT_OK(mp_queue_put_nowait(q, big, 100));
    mp_queue_destroy(q);
    /* Joinable: join waits for task_done. */
    o = (mp_queue_opts_t)MP_QUEUE_OPTS_INIT;
    o.joinable = true;
    ASSERT_OK(mp__queue_create_private(&q, &o));
    ASSERT_OK(mp_queue_put_nowait(q, "x", 1));
    ASSERT_ERR(mp_queue_join(q, 0), MP_ETIMEDOUT);
    ASSERT_EQ(mp_queue_get_into(q, &c, 1, MP_NO_WAIT), 1);
    ASSERT_OK(mp_queue_task_done(q));
    ASSERT_OK(mp_queue_join(q, 0));
    mp_queue_destroy(q);
}

TEST(queue_private_destroy_leaves_no_fd)
{
    int fds = mpt_fd_count();
    for (int i = 0; i < 3; i++) {
        mp_queue_t *q = NULL;
        ASSERT_OK(mp__queue_create_private(&q, NULL));
        ASSERT_OK(mp_queue_put_nowait(q, "m", 1));
        mp_queue_destroy(q);
    }
    ASSERT_EQ(mpt_fd_count(), fds);
}

/* Child of the wake-up test: waits for the go byte, then puts. */
typedef struct waker {
    mp_queue_t *q;
    mpt_pipe_t *go;
} waker_t;

static int
put_on_go(void *arg)
{
    waker_t *w = arg;
    uint8_t b;
    if (mpt_wait_signal(w->go, &b) != 0) {
        return 1;
    }
    return mp_queue_put(w->q, "wake", 4, 20000) == 0 ? 0 : 2;
}

TEST(queue_private_eventfd_wakes_a_poller)
{
    mp_queue_t *q = NULL;
    ASSERT_OK(mp__queue_create_private(&q, NULL));
    int fd = mp__queue_poll_fd(q);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(mp__queue_poll_fd(q), fd); /* the same fd every time */
    mpt_pipe_t go;
    mpt_pipe_open(&go);
    waker_t w = {q, &go};
    pid_t pid = mpt_fork(put_on_go, &w);
    /* Counted as a waiter before the put can happen: the child's put
     * must signal the eventfd. */
    mp__queue_poll_begin(q);
    ASSERT(!mp__queue_poll_ready(q));
    mpt_signal(&go, 1);
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    ASSERT_EQ(poll(&pfd, 1, 20000), 1);
    ASSERT(mp__queue_poll_ack(q)); /* drained, and the message is there */
    mp__queue_poll_end(q);
    ASSERT_EQ(mpt_join(pid), 0);
    char buf[8];
    ASSERT_EQ(mp_queue_get_into(q, buf, sizeof buf, MP_NO_WAIT), 4);
    ASSERT_MEM_EQ(buf, "wake", 4);
    /* The ack passed a wake-up on (the message was there); once the
     * queue is empty an ack drains it for good. */
    ASSERT(!mp__queue_poll_ack(q));
    ASSERT_EQ(poll(&pfd, 1, 0), 0);
    /* mp_wait_any sees a message put before it waits. */
    ASSERT_OK(mp_queue_put_nowait(q, "m", 1));
    mp_waitable_t it = {.kind = MP_WAIT_QUEUE, .u.queue = q};
    ASSERT_EQ(mp_wait_any(&it, 1, 5000), 1);
    ASSERT(it.ready);
    mpt_pipe_close(&go);
    mp_queue_destroy(q);
}

TEST(queue_private_bad_arguments)
{
    ASSERT_ERR(mp__queue_create_private(NULL, NULL), MP_EINVAL);
    mp_queue_t *q = (mp_queue_t *)&q; /* cleared on failure */
    mp_queue_opts_t o = MP_QUEUE_OPTS_INIT;
    o.capacity = (1ULL << 44) + 1;
    ASSERT_ERR(mp__queue_create_private(&q, &o), MP_EINVAL);
    ASSERT_NULL(q);
}
