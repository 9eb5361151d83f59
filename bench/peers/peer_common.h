/* SPDX-License-Identifier: MIT */
/* peer_common.h - what the bench/peers programs share: their main (--list,
 * --only, --scale, the '#' header, pinning), mp_bench's counts, processes
 * (fork, wait, shared memory, a process-shared barrier) and the three
 * harnesses that give every peer the shapes of mp_bench's workloads: an
 * 8-byte request/reply (pipe_pingpong), producers and consumers of one
 * queue (queue_throughput_small_1p1c/_2p2c, queue_throughput_large) and two
 * processes on one lock (lock_contention). A peer supplies only its
 * transport; results are printed as `<mp_bench workload>@<peer>` lines
 * (bench_emit's format), which bench/compare-peers sets beside mp_bench's
 * result of the same workload. */
#ifndef MP_PEER_COMMON_H
#define MP_PEER_COMMON_H

#include <stddef.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* mp_bench's counts at --scale 1 (its N_* of the same workloads). */
enum {
    PEER_N_PINGPONG = 30000,
    PEER_N_QUEUE_SMALL = 200000,
    PEER_N_QUEUE_LARGE = 200,
    PEER_N_LOCK = 10000000,
    PEER_N_POOL_MAP = 3000000,
    PEER_N_POOL_MAP_CS1 = 50000,
    PEER_N_APPLY = 10000,
};
#define PEER_MIB ((size_t)1 << 20)

/* One workload of a peer program: its name (for --only, --list) and the
 * function that runs it and prints its result lines. */
struct peer_workload {
    const char *name;
    void (*fn)(void);
};

/* The main of a peer program: parses `[--list] [--only a,b] [--scale F]`,
 * pins itself (bench_pin role -1), prints the '#' header naming program,
 * and runs each selected workload of list[0 .. n-1]. Returns the exit
 * code (2: bad arguments). */
int peer_main(int argc, char **argv, const char *program,
              const struct peer_workload *list, size_t n);

struct peer_link;
struct peer_queue;

/* The main of a peer program that is one transport: peer_main over
 * pipe_pingpong on link, queue_throughput_small on small (1p1c, and 2p2c
 * unless small_1p1c_only) and queue_throughput_large on large, each
 * where it is not NULL. */
int peer_transport_main(int argc, char **argv, const char *program,
                        const struct peer_link *link,
                        const struct peer_queue *small, int small_1p1c_only,
                        const struct peer_queue *large);

/* Returns max(lo, int(n * scale)), mp_bench's scaling of every count. */
long peer_scaled(long n, long lo);

/* Prints "peer: what: message" on stderr and exits with code 2. */
void peer_die(const char *what, const char *msg) __attribute__((noreturn));

/* Stops the program (peer_die with strerror(errno)) when rc < 0; else
 * returns rc. */
long peer_check(long rc, const char *what);

/* Returns len bytes of zeroed memory shared with every child forked
 * after (MAP_SHARED | MAP_ANONYMOUS); exits when out of memory. Free with
 * peer_unshare. */
void *peer_shared(size_t len);
void peer_unshare(void *p, size_t len);

/* Forks a child that pins itself as role (bench_pin), runs fn(arg) and
 * exits with its return value; returns the child's pid. */
pid_t peer_fork(int (*fn)(void *arg), void *arg, int role);

/* Runs body(arg) in a child pinned as the parent (role -1) and waits for
 * it when isolate is set, else here. */
void peer_isolated(int isolate, void (*body)(void *arg), void *arg);

/* Waits for each of the n children in pids; exits unless every one
 * exited with 0. (peer_main bounds each workload: SIGALRM after 600 s
 * ends the program, and its children with it.) */
void peer_wait(const pid_t *pids, size_t n);

/* A barrier for count processes, in memory from peer_shared (created
 * before the fork). */
typedef struct peer_barrier peer_barrier_t;
peer_barrier_t *peer_barrier_create(unsigned count);
void peer_barrier_wait(peer_barrier_t *b);
void peer_barrier_destroy(peer_barrier_t *b);

/*----- the request/reply harness (pipe_pingpong) ---------------------------*/

/* A transport between a parent and one echo child. open runs in the
 * parent before the fork and returns the shared state; attach runs in the
 * parent (side 0) and in the child (side 1) after it and returns that
 * side's handle; send/recv move one message (recv returns its length, or
 * -1); detach undoes attach; close (parent, after the child exited) undoes
 * open. */
struct peer_link {
    const char *peer; /* the name after '@' */
    const char *how;  /* the notes */
    void *(*open)(void);
    void *(*attach)(void *shared, int side);
    int (*send)(void *h, const void *p, size_t len);
    long (*recv)(void *h, void *buf, size_t cap);
    void (*detach)(void *h);
    void (*close)(void *shared);
    int isolate; /* 1: the parent's side runs in a child of its own (a
                    library that must not fork once used, as nng) */
};

/* mp_bench's pipe_pingpong on link: the child says "ready", the parent
 * times n 8-byte round trips after 2000 warm-up ones (n = PEER_N_PINGPONG
 * scaled); prints pipe_pingpong@<peer> in us. */
void peer_pingpong(const struct peer_link *link);

/*----- the queue harness ---------------------------------------------------*/

/* A many-to-many message queue. open runs in the parent before the forks
 * (nprod producers, ncons consumers, messages of at most size bytes) and
 * returns the shared state; attach runs in each producer (role 1) and
 * consumer (role 0), k its index among them, and returns its handle; put
 * sends one message, get receives one into buf (cap bytes) and returns its
 * length (-1: failed); end (parent, once all producers exited) makes
 * consumer k's next get, after the messages before, return 0 (any
 * consumer's, for a queue whose consumers share one queue: each consumer
 * stops at the first 0 it gets, so ncons ends reach each one once);
 * detach undoes attach, close undoes open. With drain set, a producer
 * detaches (and the parent sends the ends) only once the consumers got
 * every message: a consumer that reads several connections, as ZeroMQ's
 * and nng's, may take an end before messages still on another, and nng
 * drops what a closed socket had not sent yet. isolate as struct
 * peer_link's. */
struct peer_queue {
    const char *peer;
    const char *how;
    void *(*open)(int nprod, int ncons, size_t size);
    void *(*attach)(void *shared, int role, int k);
    int (*put)(void *h, const void *p, size_t len);
    long (*get)(void *h, void *buf, size_t cap);
    int (*end)(void *shared, int k);
    void (*detach)(void *h);
    void (*close)(void *shared);
    int drain;
    int isolate;
};

/* mp_bench's queue_throughput_small: 64-byte messages 1p1c and 2p2c
 * (PEER_N_QUEUE_SMALL scaled in all), printed as
 * queue_throughput_small_<p>p<c>c@<peer> in msg/s; when shapes_2p2c is 0
 * only 1p1c (a queue with one producer and one consumer only). */
void peer_queue_small(const struct peer_queue *q, int shapes_2p2c);

/* mp_bench's queue_throughput_large: 1 MiB messages 1p1c
 * (PEER_N_QUEUE_LARGE scaled), queue_throughput_large@<peer> in MB/s. */
void peer_queue_large(const struct peer_queue *q);

/*----- the lock harness ----------------------------------------------------*/

/* A lock shared by two processes: init (parent, before the forks) makes
 * one in mem (size bytes from peer_shared); lock and unlock return 0 or
 * an error number; fini (parent, after) destroys it. */
struct peer_lock {
    const char *peer;
    const char *how;
    size_t size;
    int (*init)(void *mem);
    int (*lock)(void *mem);
    int (*unlock)(void *mem);
    void (*fini)(void *mem);
};

/* mp_bench's lock_contention: two children each take and release the
 * lock PEER_N_LOCK (scaled) times after a barrier; prints
 * lock_contention@<peer> in ops/s (2n over the span). */
void peer_lock_contention(const struct peer_lock *l);

#ifdef __cplusplus
}
#endif

#endif
