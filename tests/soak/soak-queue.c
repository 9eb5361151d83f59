/* SPDX-License-Identifier: MIT */
/* soak-queue.c - Queue and JoinableQueue storms: producers and consumers
 * SIGKILLed at random moments and replaced. Every message carries
 * (producer, seq) and a checkable body; a ledger in memory of the soak's
 * own counts each producer's completed puts and each message's receipts.
 * A round passes with no duplicate, no corrupt or out-of-order message,
 * no message a producer never put, at most one lost message per consumer
 * kill (a producer's kill may lose only the put it was inside, which never
 * returned), and, for a JoinableQueue, join returning once every received
 * message was task_done (the round calls task_done for a message a dead
 * consumer had received, and, while join cannot return, once for each
 * other consumer kill: a message lost inside a killed get stays counted,
 * as in Python). */
#include "soak.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QP_MAX 128    /* producer ids in a round */
#define QSEQ_MAX 4096 /* messages a producer puts at most */
#define QC_MAX 4      /* consumer slots */
#define MSG_MAX 81920 /* longest message */
#define MAGIC 0x51504d53u
#define STOP_MAGIC 0x53544f50u

typedef struct msg_hdr {
    uint32_t magic;
    uint32_t producer;
    uint32_t seq;
    uint32_t len;
} msg_hdr_t;

typedef struct qledger {
    mp_queue_t *q;
    bool joinable;
    uint64_t salt;
    atomic_int stop;
    atomic_uint committed[QP_MAX]; /* puts that returned 0 */
    atomic_uchar seen[QP_MAX][QSEQ_MAX];
    atomic_int corrupt, bad_seq, order_bad, bad_err, last_err;
    /* JoinableQueue consumers: 0 before or inside get, 1 received (a
     * task_done owed), 2 inside task_done. */
    atomic_int cstate[QC_MAX];
    int arg_producer[QP_MAX];
    int arg_consumer[QC_MAX];
    char mailbox[QC_MAX][MSG_MAX]; /* get_into lands here */
} qledger_t;

static qledger_t *L;

/* The message length of (p, seq): mostly small, some medium, a few large
 * enough for the queue's heap blocks of 64 KiB and up. */
static uint32_t
msg_len(uint32_t p, uint32_t seq)
{
    uint64_t s = L->salt ^ ((uint64_t)p << 32 | seq);
    uint64_t h = soak_rand(&s);
    uint32_t pick = (uint32_t)(h % 1024);
    if (pick == 0) {
        return 65536 + (uint32_t)(h >> 20) % 8000;
    }
    if (pick < 64) {
        return 100 + (uint32_t)(h >> 20) % 4000;
    }
    return (uint32_t)sizeof(msg_hdr_t) + (uint32_t)(h >> 20) % 48;
}

/* Byte i of message (p, seq). */
static uint8_t
body_byte(uint32_t p, uint32_t seq, uint32_t i)
{
    return (uint8_t)(p * 31u + seq * 7u + i * 13u);
}

/* Writes message (p, seq) of len bytes into buf. */
static void
fill(char *buf, uint32_t p, uint32_t seq, uint32_t len)
{
    msg_hdr_t h = {MAGIC, p, seq, len};
    memcpy(buf, &h, sizeof h);
    for (uint32_t i = sizeof h; i < len; i++) {
        buf[i] = (char)body_byte(p, seq, i);
    }
}

/* Producer p: puts seq 0, 1, ... until stopped or QSEQ_MAX. */
static int
producer(void *arg)
{
    uint32_t p = (uint32_t) * (int *)arg;
    char *buf = malloc(MSG_MAX);
    if (buf == NULL) {
        return 2;
    }
    soak_say_ready();
    for (uint32_t seq = 0; seq < QSEQ_MAX && !atomic_load(&L->stop); seq++) {
        uint32_t len = msg_len(p, seq);
        fill(buf, p, seq, len);
        int rc = mp_queue_put(L->q, buf, len, 20000);
        if (rc != 0) {
            atomic_store(&L->last_err, rc);
            atomic_fetch_add(&L->bad_err, 1);
            return 3;
        }
        atomic_store(&L->committed[p], seq + 1);
    }
    free(buf);
    return 0;
}

/* Checks one received message and records it; returns 1 for a stop
 * message, 0 otherwise. */
static int
record(const char *buf, ssize_t n, int *last)
{
    msg_hdr_t h;
    if (n < (ssize_t)sizeof h) {
        atomic_fetch_add(&L->corrupt, 1);
        return 0;
    }
    memcpy(&h, buf, sizeof h);
    if (h.magic == STOP_MAGIC && n == (ssize_t)sizeof h) {
        return 1;
    }
    if (h.magic != MAGIC || h.producer >= QP_MAX || h.seq >= QSEQ_MAX ||
        h.len != (uint32_t)n || msg_len(h.producer, h.seq) != h.len) {
        atomic_fetch_add(&L->corrupt, 1);
        return 0;
    }
    for (uint32_t i = sizeof h; i < h.len; i++) {
        if ((uint8_t)buf[i] != body_byte(h.producer, h.seq, i)) {
            atomic_fetch_add(&L->corrupt, 1);
            return 0;
        }
    }
    /* Its put has started, so every earlier put of the producer
     * returned: seq <= committed. */
    if (h.seq > atomic_load(&L->committed[h.producer])) {
        atomic_fetch_add(&L->bad_seq, 1);
    }
    if (last != NULL) {
        if ((int)h.seq <= last[h.producer]) {
            atomic_fetch_add(&L->order_bad, 1);
        }
        last[h.producer] = (int)h.seq;
    }
    atomic_fetch_add(&L->seen[h.producer][h.seq], 1);
    return 0;
}

/* Consumer c: gets into its mailbox until a stop message. */
static int
consumer(void *arg)
{
    int c = *(int *)arg;
    int *last = malloc(sizeof(int) * QP_MAX);
    if (last == NULL) {
        return 2;
    }
    for (int i = 0; i < QP_MAX; i++) {
        last[i] = -1;
    }
    char *box = L->mailbox[c];
    soak_say_ready();
    for (;;) {
        atomic_store(&L->cstate[c], 0);
        memset(box, 0, sizeof(msg_hdr_t));
        ssize_t n = mp_queue_get_into(L->q, box, MSG_MAX, 20000);
        if (n < 0) {
            atomic_store(&L->last_err, (int)n);
            atomic_fetch_add(&L->bad_err, 1);
            return 3;
        }
        atomic_store(&L->cstate[c], 1);
        int stop = record(box, n, last);
        if (L->joinable) {
            atomic_store(&L->cstate[c], 2);
            int rc = mp_queue_task_done(L->q);
            atomic_store(&L->cstate[c], 0);
            if (rc != 0) {
                atomic_store(&L->last_err, rc);
                atomic_fetch_add(&L->bad_err, 1);
                return 4;
            }
        }
        if (stop) {
            free(last);
            return 0;
        }
    }
}

/* What a dead consumer owed: 1 when it certainly had a received message
 * not task_done; else 2, it may have (killed inside task_done, or inside
 * get: the message it was taking is lost, and the queue keeps counting
 * its task, as Python does for a message whose consumer died before
 * task_done). */
static int
consumer_owed(int c)
{
    return atomic_load(&L->cstate[c]) == 1 ? 1 : 2;
}

/* One round on a Queue (or a JoinableQueue): 2-3 producers and 1-2
 * consumers killed and replaced r->kills times, then stopped, drained and
 * accounted for. */
static int
queue_round(soak_round_t *r, bool joinable)
{
    L = soak_shared_map(sizeof *L);
    if (L == NULL) {
        soak_fail(r, "no memory for the ledger");
        return SOAK_FAIL;
    }
    L->joinable = joinable;
    L->salt = soak_rand(&r->rng);
    static const long sizes[] = {0, 0, 16, 512};
    mp_queue_opts_t qo = MP_QUEUE_OPTS_INIT;
    qo.maxsize = sizes[soak_below(r, 4)];
    qo.joinable = joinable;
    qo.capacity = 64u << 20;
    int rc = mp_queue_create(&L->q, &qo);
    if (rc != 0) {
        soak_fail(r, "mp_queue_create: %s", mp_err_name(rc));
        return SOAK_FAIL;
    }
    int nprod = 2 + (int)soak_below(r, 2), ncons = 1 + (int)soak_below(r, 2);
    mp_process_t *prod[QP_MAX] = {0}, *cons[QC_MAX] = {0};
    int prod_id[QP_MAX]; /* slot -> producer id */
    int next_id = 0;
    for (int i = 0; i < nprod; i++) {
        prod_id[i] = next_id;
        L->arg_producer[next_id] = next_id;
        prod[i] = soak_start_ready(r, producer, &L->arg_producer[next_id++]);
    }
    for (int c = 0; c < ncons; c++) {
        L->arg_consumer[c] = c;
        cons[c] = soak_start_ready(r, consumer, &L->arg_consumer[c]);
    }
    int kills = 0, prod_kills = 0, cons_kills = 0, attempts = 0;
    int owed = 0, ambiguous = 0;
    /* SOAK_QUEUE_VICTIMS=producers or =consumers narrows the kills down
     * when a failure is to be told apart. */
    const char *only = getenv("SOAK_QUEUE_VICTIMS");
    while (kills < r->kills && attempts++ < r->kills * 4 &&
           r->shared->failures == 0) {
        int victim = (int)soak_below(r, (uint64_t)(nprod + ncons));
        if (only != NULL && strcmp(only, "producers") == 0) {
            victim %= nprod;
        } else if (only != NULL && strcmp(only, "consumers") == 0) {
            victim = nprod + victim % ncons;
        }
        soak_pause_us(r, 3000);
        if (victim < nprod) {
            int code = 0;
            int k = soak_kill(r, &prod[victim], &code);
            if (k < 0) {
                break;
            }
            if (k == 1) {
                kills++, prod_kills++;
            } else if (code != 0) {
                soak_fail(r, "producer %d exited with %d (%s)", prod_id[victim],
                          code, mp_err_name(atomic_load(&L->last_err)));
            }
            if (next_id < QP_MAX) {
                prod_id[victim] = next_id;
                L->arg_producer[next_id] = next_id;
                prod[victim] =
                    soak_start_ready(r, producer, &L->arg_producer[next_id++]);
            }
        } else {
            int c = victim - nprod, code = 0;
            int k = soak_kill(r, &cons[c], &code);
            if (k < 0) {
                break;
            }
            if (k == 1) {
                kills++, cons_kills++;
                int o = joinable ? consumer_owed(c) : 0;
                owed += o == 1;
                ambiguous += o == 2;
            } else {
                soak_fail(r, "consumer %d exited with %d (%s)", c, code,
                          mp_err_name(atomic_load(&L->last_err)));
            }
            atomic_store(&L->cstate[c], 0);
            memset(L->mailbox[c], 0, sizeof(msg_hdr_t));
            cons[c] = soak_start_ready(r, consumer, &L->arg_consumer[c]);
        }
    }
    /* Quiet down: producers stop and exit, then each consumer gets a stop
     * message after every real one. */
    atomic_store(&L->stop, 1);
    for (int i = 0; i < nprod; i++) {
        int code = soak_finish(r, prod[i], 30000, "a producer");
        if (code != 0 && code != -1000) {
            soak_fail(r, "producer exited with %d (%s)", code,
                      mp_err_name(atomic_load(&L->last_err)));
        }
    }
    msg_hdr_t stop = {STOP_MAGIC, 0, 0, sizeof stop};
    for (int c = 0; c < ncons; c++) {
        rc = mp_queue_put(L->q, &stop, sizeof stop, 20000);
        if (rc != 0) {
            soak_fail(r, "putting a stop message: %s", mp_err_name(rc));
        }
    }
    for (int c = 0; c < ncons; c++) {
        int code = soak_finish(r, cons[c], 30000, "a consumer");
        if (code != 0 && code != -1000) {
            soak_fail(r, "consumer exited with %d (%s)", code,
                      mp_err_name(atomic_load(&L->last_err)));
        }
    }
    /* Whatever is left is ours to take (and to task_done). */
    int leftover = 0;
    for (;;) {
        void *buf = NULL;
        ssize_t n = mp_queue_get_nowait(L->q, &buf);
        if (n < 0) {
            if (n != MP_EEMPTY) {
                soak_fail(r, "draining: %s", mp_err_name((int)n));
            }
            break;
        }
        leftover++;
        if (record(buf, n, NULL) == 1) {
            soak_fail(r, "a stop message left in the queue");
        }
        mp_free(buf);
        if (joinable && (rc = mp_queue_task_done(L->q)) != 0) {
            soak_fail(r, "task_done of a drained message: %s", mp_err_name(rc));
        }
    }
    int join_rc = 0, used = 0;
    if (joinable) {
        for (int i = 0; i < owed; i++) {
            rc = mp_queue_task_done(L->q);
            if (rc != 0) {
                soak_fail(r, "task_done owed by a killed consumer: %s",
                          mp_err_name(rc));
            }
        }
        /* Each other consumer kill may have left one task counted: one
         * more task_done for it, only while join cannot return. */
        used = 0;
        while (used < ambiguous && mp_queue_join(L->q, MP_NO_WAIT) != 0) {
            rc = mp_queue_task_done(L->q);
            if (rc != 0) {
                soak_fail(r, "task_done for a killed consumer: %s",
                          mp_err_name(rc));
                break;
            }
            used++;
        }
        join_rc = mp_queue_join(L->q, 10000);
        if (join_rc != 0) {
            soak_fail(r,
                      "JoinableQueue join: %s 10 s after every received "
                      "message was task_done and one more for each "
                      "consumer kill (%d producer and %d consumer kills: "
                      "the unfinished count was not repaired, issue 21 "
                      "item 10)",
                      mp_err_name(join_rc), prod_kills, cons_kills);
        }
    }
    /* The accounting. */
    long received = 0, lost = 0, dups = 0, phantom = 0;
    for (int p = 0; p < next_id; p++) {
        unsigned done = atomic_load(&L->committed[p]);
        for (unsigned s = 0; s < QSEQ_MAX; s++) {
            int n = atomic_load(&L->seen[p][s]);
            received += n;
            if (n > 1) {
                dups += n - 1;
            }
            /* s == done: the put in flight, received or not. */
            if (s < done && n == 0) {
                lost++;
            } else if (s > done && n > 0) {
                phantom++;
            }
        }
    }
    if (dups > 0) {
        soak_fail(r, "%ld duplicated messages", dups);
    }
    if (lost > cons_kills) {
        soak_fail(r,
                  "%ld messages lost after %d consumer kills (at most "
                  "one per kill allowed)",
                  lost, cons_kills);
    }
    if (phantom > 0 || atomic_load(&L->bad_seq) > 0) {
        soak_fail(r, "%ld messages received that were never put",
                  phantom + atomic_load(&L->bad_seq));
    }
    if (atomic_load(&L->corrupt) > 0) {
        soak_fail(r, "%d corrupt messages", atomic_load(&L->corrupt));
    }
    if (atomic_load(&L->order_bad) > 0) {
        soak_fail(r, "%d messages out of their producer's order",
                  atomic_load(&L->order_bad));
    }
    char owed_text[128] = "";
    if (joinable) {
        snprintf(owed_text, sizeof owed_text,
                 ", task_done owed by dead consumers: %d, maybe %d (%d "
                 "given)",
                 owed, ambiguous, used);
    }
    soak_note(r,
              "maxsize %ld, %d producers, %d consumers, %ld received, "
              "%ld lost, %d left%s",
              qo.maxsize, next_id, ncons, received, lost, leftover, owed_text);
    mp_queue_destroy(L->q);
    soak_shared_unmap(L, sizeof *L);
    return SOAK_PASS;
}

int
soak_queue(soak_round_t *r)
{
    return queue_round(r, false);
}

int
soak_joinable_queue(soak_round_t *r)
{
    return queue_round(r, true);
}
