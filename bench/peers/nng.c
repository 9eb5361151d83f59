/* SPDX-License-Identifier: MIT */
/* nng.c - nng (nanomsg-next-gen) over ipc:// on mp_bench's shapes: the
 * 8-byte request/reply over pair0 (pipe_pingpong@nng), and push0/pull0
 * for 64-byte messages 1p1c and 2p2c and 1 MiB messages 1p1c
 * (queue_throughput_*@nng): consumer k listens on its own address, every
 * producer dials all of them; nng_send copies from and nng_recv into the
 * caller's buffer. nng keeps threads once used, so the parent, which
 * forks the next run's children, ends each run with nng_fini. */
#include "peer_common.h"

#include <nng/nng.h>
#include <nng/protocol/pair0/pair.h>
#include <nng/protocol/pipeline0/pull.h>
#include <nng/protocol/pipeline0/push.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The sockets' send and receive buffers, in messages (nng's most). */
#define NH_BUF 8192

/* What the parent makes before the forks: the addresses' common prefix
 * (ipc:///tmp/mp-peer-nng-<pid>-<n>), the number of consumers, and the
 * parent's end-of-stream sockets (kept open until close, so that nng
 * delivers what they sent). */
struct nq {
    char prefix[64];
    int ncons;
    nng_socket ends[16];
    int nends;
};

/* A process's handle: its socket. */
struct nh {
    nng_socket sock;
};

/* Writes consumer (or ping-pong) address k of q into buf. */
static void
address(const struct nq *q, int k, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s-%d", q->prefix, k);
}

static struct nq *
nq_new(int ncons)
{
    static int serial;
    struct nq *q = calloc(1, sizeof *q);

    if (q != NULL) {
        snprintf(q->prefix, sizeof q->prefix, "ipc:///tmp/mp-peer-nng-%d-%d",
                 (int)getpid(), serial++);
        q->ncons = ncons;
    }
    return q;
}

/* Sets what every socket here gets: no receive size limit (nng's default
 * of 1 MiB is the large messages' size), buffers of NH_BUF messages each
 * way (none by default: each send would wait for the receiver) and redials
 * after 1 ms (a dial may come before the listen). */
static void
sock_opts(nng_socket s)
{
    nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, 0);
    nng_socket_set_int(s, NNG_OPT_SENDBUF, NH_BUF);
    nng_socket_set_int(s, NNG_OPT_RECVBUF, NH_BUF);
    nng_socket_set_ms(s, NNG_OPT_RECONNMINT, 1);
}

/* Returns a handle whose socket opened with open and then listened on
 * address k (listen) or dialed addresses from .. to-1, or NULL. */
static struct nh *
nh_new(int (*open)(nng_socket *), const struct nq *q, int listen, int from,
       int to)
{
    struct nh *h = malloc(sizeof *h);
    char addr[96];

    if (h == NULL || open(&h->sock) != 0) {
        free(h);
        return NULL;
    }
    sock_opts(h->sock);
    for (int k = from; k < to; k++) {
        address(q, k, addr, sizeof addr);
        if ((listen ? nng_listen(h->sock, addr, NULL, 0)
                    : nng_dial(h->sock, addr, NULL, NNG_FLAG_NONBLOCK)) != 0) {
            nng_close(h->sock);
            free(h);
            return NULL;
        }
    }
    return h;
}

static void
nh_free(void *hp)
{
    struct nh *h = hp;

    nng_close(h->sock);
    free(h);
}

static int
nh_send(void *hp, const void *p, size_t len)
{
    return nng_send(((struct nh *)hp)->sock, (void *)p, len, 0) == 0 ? 0 : -1;
}

static long
nh_recv(void *hp, void *buf, size_t cap)
{
    size_t len = cap;

    return nng_recv(((struct nh *)hp)->sock, buf, &len, 0) == 0 ? (long)len
                                                                : -1;
}

/* Removes the socket files of addresses 0 .. n-1, then ends nng in this
 * process (see the opening comment). */
static void
nq_free(struct nq *q, int n)
{
    char addr[96];

    for (int k = 0; k < q->nends; k++) {
        nng_close(q->ends[k]);
    }
    for (int k = 0; k < n; k++) {
        address(q, k, addr, sizeof addr);
        unlink(addr + strlen("ipc://"));
    }
    free(q);
    nng_fini();
}

/*----- request/reply -------------------------------------------------------*/

static void *
pp_open(void)
{
    return nq_new(1);
}

/* The child (side 1) listens, the parent dials. */
static void *
pp_attach(void *shared, int side)
{
    return nh_new(nng_pair0_open, shared, side == 1, 0, 1);
}

static void
pp_close(void *shared)
{
    nq_free(shared, 1);
}

static const struct peer_link PAIR = {
    "nng",   "nng pair0 over ipc://, nng_send/nng_recv",
    pp_open, pp_attach,
    nh_send, nh_recv,
    nh_free, pp_close,
    1,
};

/*----- queues --------------------------------------------------------------*/

static void *
q_open(int nprod, int ncons, size_t size)
{
    (void)nprod;
    (void)size;
    return nq_new(ncons);
}

/* Consumer k listens on its address (pull0); a producer dials all. */
static void *
q_attach(void *shared, int role, int k)
{
    const struct nq *q = shared;

    return role == 0 ? nh_new(nng_pull0_open, q, 1, k, k + 1)
                     : nh_new(nng_push0_open, q, 0, 0, q->ncons);
}

/* Sends consumer k an empty message on a push0 socket of the parent's
 * dialed to it alone. */
static int
q_end(void *shared, int k)
{
    struct nq *q = shared;
    nng_socket *s = &q->ends[q->nends];
    char addr[96];

    if (nng_push0_open(s) != 0) {
        return -1;
    }
    q->nends++;
    address(q, k, addr, sizeof addr);
    if (nng_dial(*s, addr, NULL, 0) != 0) {
        return -1;
    }
    char none = 0;

    return nng_send(*s, &none, 0, 0) == 0 ? 0 : -1;
}

static void
q_close(void *shared)
{
    struct nq *q = shared;

    nq_free(q, q->ncons);
}

static const struct peer_queue PUSHPULL = {
    "nng",   "nng push0/pull0 over ipc://, a pull0 per consumer",
    q_open,  q_attach,
    nh_send, nh_recv,
    q_end,   nh_free,
    q_close, 1,
    1,
};

int
main(int argc, char **argv)
{
    return peer_transport_main(argc, argv, "peer_nng", &PAIR, &PUSHPULL, 0,
                               &PUSHPULL);
}
