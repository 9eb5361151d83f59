/* SPDX-License-Identifier: MIT */
/* zmq.c - ZeroMQ (libzmq) over ipc:// on mp_bench's shapes: the 8-byte
 * request/reply over a PAIR socket pair (pipe_pingpong@zmq), and
 * PUSH/PULL for 64-byte messages 1p1c and 2p2c and 1 MiB messages 1p1c
 * (queue_throughput_*@zmq): consumer k binds its own endpoint, every
 * producer connects to all of them (ZeroMQ deals round robin among them),
 * zmq_send copies from and zmq_recv into the caller's buffer. Each process
 * has its own context, made after the fork. */
#include "peer_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

/* What the parent makes before the forks: the endpoints' common prefix
 * (ipc:///tmp/mp-peer-zmq-<pid>-<n>), the number of consumers, and the
 * parent's own context and end-of-stream sockets (made by end, kept open
 * until close so that ZeroMQ delivers what they sent). */
struct zq {
    char prefix[64];
    int ncons;
    void *ctx;
    void *ends[16];
};

/* A process's handle: its context and socket. */
struct zh {
    void *ctx;
    void *sock;
};

/* Writes consumer (or ping-pong) endpoint k of q into buf. */
static void
endpoint(const struct zq *q, int k, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s-%d", q->prefix, k);
}

static struct zq *
zq_new(int ncons)
{
    static int serial;
    struct zq *q = calloc(1, sizeof *q);

    if (q != NULL) {
        snprintf(q->prefix, sizeof q->prefix, "ipc:///tmp/mp-peer-zmq-%d-%d",
                 (int)getpid(), serial++);
        q->ncons = ncons;
    }
    return q;
}

/* Returns a handle with a new context and a socket of type, or NULL. */
static struct zh *
zh_new(int type)
{
    struct zh *h = malloc(sizeof *h);
    int ivl = 1;

    if (h == NULL) {
        return NULL;
    }
    h->ctx = zmq_ctx_new();
    h->sock = h->ctx != NULL ? zmq_socket(h->ctx, type) : NULL;
    if (h->sock == NULL) {
        if (h->ctx != NULL) {
            zmq_ctx_term(h->ctx);
        }
        free(h);
        return NULL;
    }
    /* A connect that comes before the bind retries after 1 ms, not 100. */
    zmq_setsockopt(h->sock, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
    return h;
}

static void
zh_free(void *hp)
{
    struct zh *h = hp;

    zmq_close(h->sock);
    zmq_ctx_term(h->ctx);
    free(h);
}

static int
zh_send(void *hp, const void *p, size_t len)
{
    return zmq_send(((struct zh *)hp)->sock, p, len, 0) == (int)len ? 0 : -1;
}

static long
zh_recv(void *hp, void *buf, size_t cap)
{
    int len = zmq_recv(((struct zh *)hp)->sock, buf, cap, 0);

    return len < 0 || (size_t)len > cap ? -1 : len;
}

/* Removes the socket files of endpoints 0 .. n-1 (ZeroMQ may leave them). */
static void
unlink_endpoints(const struct zq *q, int n)
{
    char ep[96];

    for (int k = 0; k < n; k++) {
        endpoint(q, k, ep, sizeof ep);
        unlink(ep + strlen("ipc://"));
    }
}

/*----- request/reply -------------------------------------------------------*/

static void *
pp_open(void)
{
    return zq_new(1);
}

/* The child (side 1) binds, the parent connects. */
static void *
pp_attach(void *shared, int side)
{
    struct zh *h = zh_new(ZMQ_PAIR);
    char ep[96];

    endpoint(shared, 0, ep, sizeof ep);
    if (h != NULL &&
        (side == 1 ? zmq_bind(h->sock, ep) : zmq_connect(h->sock, ep)) != 0) {
        zh_free(h);
        return NULL;
    }
    return h;
}

static void
pp_close(void *shared)
{
    unlink_endpoints(shared, 1);
    free(shared);
}

static const struct peer_link PAIR = {
    "zmq",   "ZeroMQ PAIR over ipc://, zmq_send/zmq_recv",
    pp_open, pp_attach,
    zh_send, zh_recv,
    zh_free, pp_close,
    0,
};

/*----- queues --------------------------------------------------------------*/

static void *
q_open(int nprod, int ncons, size_t size)
{
    (void)nprod;
    (void)size;
    return zq_new(ncons);
}

/* Consumer k binds its endpoint (PULL); a producer connects to all (PUSH). */
static void *
q_attach(void *shared, int role, int k)
{
    const struct zq *q = shared;
    struct zh *h = zh_new(role == 0 ? ZMQ_PULL : ZMQ_PUSH);
    char ep[96];

    if (h == NULL) {
        return NULL;
    }
    for (int c = 0; c < q->ncons; c++) {
        if (role == 0 && c != k) {
            continue;
        }
        endpoint(q, c, ep, sizeof ep);
        if ((role == 0 ? zmq_bind(h->sock, ep) : zmq_connect(h->sock, ep)) !=
            0) {
            zh_free(h);
            return NULL;
        }
    }
    return h;
}

/* Sends consumer k an empty message on a PUSH socket of the parent's
 * connected to it alone. */
static int
q_end(void *shared, int k)
{
    struct zq *q = shared;
    char ep[96];

    if (q->ctx == NULL && (q->ctx = zmq_ctx_new()) == NULL) {
        return -1;
    }
    endpoint(q, k, ep, sizeof ep);
    q->ends[k] = zmq_socket(q->ctx, ZMQ_PUSH);
    if (q->ends[k] == NULL || zmq_connect(q->ends[k], ep) != 0) {
        return -1;
    }
    return zmq_send(q->ends[k], "", 0, 0) == 0 ? 0 : -1;
}

static void
q_close(void *shared)
{
    struct zq *q = shared;

    for (int k = 0; k < q->ncons; k++) {
        if (q->ends[k] != NULL) {
            zmq_close(q->ends[k]);
        }
    }
    if (q->ctx != NULL) {
        zmq_ctx_term(q->ctx);
    }
    unlink_endpoints(q, q->ncons);
    free(q);
}

static const struct peer_queue PUSHPULL = {
    "zmq",   "ZeroMQ PUSH/PULL over ipc://, a PULL per consumer",
    q_open,  q_attach,
    zh_send, zh_recv,
    q_end,   zh_free,
    q_close, 1,
    0,
};

int
main(int argc, char **argv)
{
    return peer_transport_main(argc, argv, "peer_zmq", &PAIR, &PUSHPULL, 0,
                               &PUSHPULL);
}
