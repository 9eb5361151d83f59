/* SPDX-License-Identifier: MIT */
/* wire.c - sending and receiving the messages of mpi_internal.h: never
 * blocking sends (MPI_Isend of a buffer kept until it completed, so that
 * two sides sending large messages to each other cannot deadlock),
 * matched-probe receives (MPI_Improbe + MPI_Mrecv), payloads split into
 * parts beyond the part size, and the idle back-off both sides use. */
#include "mpi_internal.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One message in flight: its requests (the header's and each part's) and
 * the buffer they read. */
struct mp__mpi_send {
    struct mp__mpi_send *next;
    int nreq;
    MPI_Request *reqs;
    void *buf;
};

/* The part size: MP_MPI_PART_MAX (bytes, at least 64) or 1 GiB. */
static size_t
part_max_from_env(void)
{
    const char *s = getenv("MP_MPI_PART_MAX");
    if (s != NULL) {
        char *end;
        unsigned long long v = strtoull(s, &end, 10);
        if (*end == '\0' && v >= 64 && v <= (unsigned long long)INT_MAX) {
            return (size_t)v;
        }
    }
    return (size_t)1 << 30;
}

void
mp__mpi_wire_init(mp__mpi_wire_t *w, MPI_Comm comm,
                  const mp__remote_bridge_t *br)
{
    *w = (mp__mpi_wire_t){
        .comm = comm, .part_max = part_max_from_env(), .br = br};
}

/* Starts the sends of one message whose header and payload are at buf
 * (sizeof hdr + len bytes, owned by the new entry). */
static int
start_send(mp__mpi_wire_t *w, int dest, char *buf, size_t len)
{
    size_t hl = sizeof(mp__mpi_hdr_t);
    size_t nparts =
        len + hl <= w->part_max ? 0 : (len + w->part_max - 1) / w->part_max;
    mp__mpi_send_t *s = calloc(1, sizeof *s);
    MPI_Request *reqs = calloc(nparts + 1, sizeof *reqs);
    if (s == NULL || reqs == NULL) {
        free(s);
        free(reqs);
        free(buf);
        return MP_ENOMEM;
    }
    s->reqs = reqs;
    s->buf = buf;
    if (nparts == 0) {
        MPI_Isend(buf, (int)(hl + len), MPI_BYTE, dest, MP__MPI_TAG, w->comm,
                  &reqs[0]);
    } else {
        mp__mpi_hdr_t h;
        memcpy(&h, buf, hl);
        h.total = len;
        memcpy(buf, &h, hl);
        MPI_Isend(buf, (int)hl, MPI_BYTE, dest, MP__MPI_TAG, w->comm, &reqs[0]);
        for (size_t k = 0; k < nparts; k++) {
            size_t off = k * w->part_max;
            size_t n = len - off < w->part_max ? len - off : w->part_max;
            MPI_Isend(buf + hl + off, (int)n, MPI_BYTE, dest, MP__MPI_TAG,
                      w->comm, &reqs[k + 1]);
        }
    }
    s->nreq = (int)nparts + 1;
    s->next = w->sends;
    w->sends = s;
    return 0;
}

int
mp__mpi_wire_send2(mp__mpi_wire_t *w, int dest, const mp__mpi_hdr_t *h,
                   const void *a, size_t alen, const void *b, size_t blen)
{
    size_t hl = sizeof *h;
    if (alen > SIZE_MAX / 2 || blen > SIZE_MAX / 2 - alen - hl) {
        return MP_ENOMEM;
    }
    char *buf = malloc(hl + alen + blen);
    if (buf == NULL) {
        return MP_ENOMEM;
    }
    mp__mpi_hdr_t hh = *h;
    hh.total = 0;
    memcpy(buf, &hh, hl);
    if (alen > 0) {
        memcpy(buf + hl, a, alen);
    }
    if (blen > 0) {
        memcpy(buf + hl + alen, b, blen);
    }
    return start_send(w, dest, buf, alen + blen);
}

int
mp__mpi_wire_send(mp__mpi_wire_t *w, int dest, const mp__mpi_hdr_t *h,
                  const void *payload, size_t len)
{
    return mp__mpi_wire_send2(w, dest, h, payload, len, NULL, 0);
}

size_t
mp__mpi_wire_progress(mp__mpi_wire_t *w)
{
    size_t left = 0;
    for (mp__mpi_send_t **pp = &w->sends; *pp != NULL;) {
        mp__mpi_send_t *s = *pp;
        int done = 0;
        MPI_Testall(s->nreq, s->reqs, &done, MPI_STATUSES_IGNORE);
        if (done) {
            *pp = s->next;
            free(s->buf);
            free(s->reqs);
            free(s);
        } else {
            left++;
            pp = &s->next;
        }
    }
    return left;
}

void
mp__mpi_wire_flush(mp__mpi_wire_t *w)
{
    mp__mpi_idle_t idle = {0};
    mp__mpi_idle_busy(&idle, w->br);
    while (mp__mpi_wire_progress(w) > 0) {
        mp__mpi_idle_wait(&idle, w->br);
    }
}

int
mp__mpi_wire_poll(mp__mpi_wire_t *w, int source, mp__mpi_hdr_t *h,
                  void **payload, size_t *len)
{
    int flag = 0;
    MPI_Message m;
    MPI_Status st;
    MPI_Improbe(source, MP__MPI_TAG, w->comm, &flag, &m, &st);
    if (!flag) {
        return -1;
    }
    int n = 0;
    MPI_Get_count(&st, MPI_BYTE, &n);
    char *buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf == NULL) {
        /* A matched message must be received: take it into a header-sized
         * buffer would truncate, so this process cannot go on. */
        mp__mpi_abort(w->comm, "out of memory receiving a message");
    }
    MPI_Mrecv(buf, n, MPI_BYTE, &m, &st);
    int from = st.MPI_SOURCE;
    *payload = NULL;
    *len = 0;
    if ((size_t)n < sizeof *h) {
        free(buf);
        memset(h, 0, sizeof *h);
        return from;
    }
    memcpy(h, buf, sizeof *h);
    if (h->total == 0) {
        size_t plen = (size_t)n - sizeof *h;
        if (plen > 0) {
            memmove(buf, buf + sizeof *h, plen);
            *payload = buf;
        } else {
            free(buf);
        }
        *len = plen;
        return from;
    }
    free(buf);
    /* The parts follow at once from the same sender, in order. */
    char *all = h->total < SIZE_MAX ? malloc((size_t)h->total) : NULL;
    if (all == NULL) {
        mp__mpi_abort(w->comm, "out of memory receiving a large message");
    }
    for (size_t off = 0; off < h->total;) {
        size_t want = (size_t)h->total - off < w->part_max
                          ? (size_t)h->total - off
                          : w->part_max;
        MPI_Recv(all + off, (int)want, MPI_BYTE, from, MP__MPI_TAG, w->comm,
                 &st);
        int got = 0;
        MPI_Get_count(&st, MPI_BYTE, &got);
        off += (size_t)got;
        if (got <= 0) {
            mp__mpi_abort(w->comm, "a large message lost a part");
        }
    }
    *payload = all;
    *len = (size_t)h->total;
    h->total = 0;
    return from;
}

void
mp__mpi_idle_busy(mp__mpi_idle_t *i, const mp__remote_bridge_t *br)
{
    i->last_busy = br->now_ns();
    i->nap = MP__MPI_NAP_MIN_NS;
}

bool
mp__mpi_idle_spin(mp__mpi_idle_t *i, const mp__remote_bridge_t *br,
                  int64_t spin_ns)
{
    if (br->now_ns() - i->last_busy < spin_ns) {
        br->yield();
        return true;
    }
    return false;
}

void
mp__mpi_idle_nap(mp__mpi_idle_t *i, const mp__remote_bridge_t *br)
{
    br->nap(i->nap);
    i->nap = i->nap * 2 > MP__MPI_NAP_MAX_NS ? MP__MPI_NAP_MAX_NS : i->nap * 2;
}

void
mp__mpi_idle_wait(mp__mpi_idle_t *i, const mp__remote_bridge_t *br)
{
    if (!mp__mpi_idle_spin(i, br, MP__MPI_SPIN_NS)) {
        mp__mpi_idle_nap(i, br);
    }
}

_Noreturn void
mp__mpi_abort(MPI_Comm comm, const char *msg)
{
    fprintf(stderr, "multiproc: MPI: %s; aborting the job\n", msg);
    fflush(stderr);
    MPI_Abort(comm, 70);
    /* MPI_Abort does not return; should it, end this process anyway. */
    abort();
}
