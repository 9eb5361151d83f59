/* SPDX-License-Identifier: MIT */
/* boost.cpp - Boost.Interprocess message_queue (a named queue in shared
 * memory, process-shared mutex and conditions inside) on mp_bench's queue
 * shapes: 64-byte messages 1p1c and 2p2c (BOOST_SMALL_DEPTH deep) and
 * 1 MiB messages 1p1c (BOOST_LARGE_DEPTH deep), send copying in and
 * receive copying out into the caller's buffer
 * (queue_throughput_*@boost_mq). The queue is made by the parent before
 * the forks; each producer and consumer opens it by name. */
#include "peer_common.h"

#include <boost/interprocess/ipc/message_queue.hpp>
#include <cstdio>
#include <exception>
#include <new>
#include <unistd.h>

namespace bip = boost::interprocess;

namespace
{

constexpr std::size_t BOOST_SMALL_DEPTH = 4096;
constexpr std::size_t BOOST_LARGE_DEPTH = 8;

/* The parent's state: the queue's name and the queue. */
struct bq {
    char name[64];
    bip::message_queue *mq;
};

void *
bq_open(int nprod, int ncons, size_t size)
{
    static int serial;
    (void)nprod;
    (void)ncons;
    bq *q = new (std::nothrow) bq();
    if (q == nullptr) {
        return nullptr;
    }
    std::snprintf(q->name, sizeof q->name, "mp-peer-boost-%d-%d", (int)getpid(),
                  serial++);
    try {
        bip::message_queue::remove(q->name);
        q->mq = new bip::message_queue(
            bip::create_only, q->name,
            size > 64 ? BOOST_LARGE_DEPTH : BOOST_SMALL_DEPTH, size);
    } catch (const std::exception &e) {
        std::fprintf(stderr, "peer_boost: %s\n", e.what());
        delete q;
        return nullptr;
    }
    return q;
}

void *
bq_attach(void *shared, int role, int k)
{
    (void)role;
    (void)k;
    try {
        return new bip::message_queue(bip::open_only,
                                      static_cast<bq *>(shared)->name);
    } catch (const std::exception &e) {
        std::fprintf(stderr, "peer_boost: %s\n", e.what());
        return nullptr;
    }
}

int
bq_put(void *h, const void *p, size_t len)
{
    try {
        static_cast<bip::message_queue *>(h)->send(p, len, 0);
        return 0;
    } catch (const std::exception &) {
        return -1;
    }
}

long
bq_get(void *h, void *buf, size_t cap)
{
    bip::message_queue::size_type got = 0;
    unsigned prio = 0;

    try {
        static_cast<bip::message_queue *>(h)->receive(buf, cap, got, prio);
        return (long)got;
    } catch (const std::exception &) {
        return -1;
    }
}

int
bq_end(void *shared, int k)
{
    (void)k;
    return bq_put(static_cast<bq *>(shared)->mq, "", 0);
}

void
bq_detach(void *h)
{
    delete static_cast<bip::message_queue *>(h);
}

void
bq_close(void *shared)
{
    bq *q = static_cast<bq *>(shared);

    delete q->mq;
    bip::message_queue::remove(q->name);
    delete q;
}

const peer_queue MQ = {
    "boost_mq", "Boost.Interprocess message_queue, send/receive",
    bq_open,    bq_attach,
    bq_put,     bq_get,
    bq_end,     bq_detach,
    bq_close,   0,
    0,
};

} // namespace

int
main(int argc, char **argv)
{
    return peer_transport_main(argc, argv, "peer_boost", nullptr, &MQ, 0, &MQ);
}
