/* SPDX-License-Identifier: MIT */
/* manager_pool_queue.c - a Manager's Queue shared by pool tasks: three
 * writer tasks and a reader task in a Pool(8), then a writer and a reader
 * task in a second pool, the queue handed to each task as a proxy token.
 *
 * The C twin of seed 000 (000_7984725b68a0ecd0.txt), "范例三":
 *
 *     with Manager() as manager:
 *         with Pool(processes=8) as pool:
 *             q = manager.Queue()
 *             for i in range(3):
 *                 pool.apply_async(func=write, args=(q,))
 *             pool.apply_async(func=read, args=(q,)).get()
 *
 * and of seed 002 (002_5ac3e8d32ecfde20.txt), "2. 进程池中的 Queue":
 *
 *     q = Manager().Queue()
 *     po = Pool()
 *     po.apply_async(writer, (q,))   # puts the letters of "hello"
 *     time.sleep(1)
 *     po.apply_async(reader, (q,))   # gets q.qsize() messages
 *     po.close(); po.join()
 *
 * A task's arguments are bytes, so the queue travels as its proxy token
 * (mp_proxy_token); the task turns it back into a proxy with
 * mp_proxy_from_token on the manager handle the workers inherited. The
 * seed's reader loops forever and the program relies on the pool's
 * terminate; here the reader stops after the nine values it expects.
 * Instead of the seed's sleep(1), the second reader starts once the writer
 * task's result says it is done. */
#include <multiproc.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WRITERS 3
#define VALUES 3

/* The manager, started before the pools (Python: the Manager() block
 * around the Pool); in a worker, its own handle, connected by the pool's
 * initializer connect_manager. */
static mp_manager_t *manager;

/* Where the manager's server is and its key: the pools' initializer
 * argument, as bytes, so that it reaches the workers under every start
 * method (Python pickles the same into a proxy). */
struct server_info {
    char address[256];
    unsigned char authkey[256];
    size_t authkey_len;
};

/* Stops the example with the library's message when a call failed;
 * otherwise returns rc. */
static long
check(long rc, const char *what)
{
    if (rc < 0) {
        fprintf(stderr, "ERROR: %s: %s (%s)\n", what, mp_strerror((int)rc),
                mp_err_name((int)rc));
        exit(1);
    }
    return rc;
}

/* The pools' initializer: connects this worker to the manager's server. */
static int
connect_manager(void *arg)
{
    const struct server_info *s = arg;
    mp_manager_opts_t o = MP_MANAGER_OPTS_INIT;
    o.address = s->address;
    o.authkey = s->authkey;
    o.authkey_len = s->authkey_len;
    mp_manager_t *m;
    check(mp_manager_create(&m, &o), "manager");
    check(mp_manager_connect(m, 30000), "connect");
    manager = m; /* for the worker's life */
    return 0;
}

/* The queue proxy named by a task's input (a token). */
static mp_proxy_t *
queue_of(const void *in, size_t len)
{
    char token[MP_PROXY_TOKEN_MAX];
    if (len == 0 || len >= sizeof(token)) {
        fprintf(stderr, "ERROR: bad token\n");
        exit(1);
    }
    memcpy(token, in, len);
    token[len] = '\0';
    mp_proxy_t *q;
    check(mp_proxy_from_token(&q, manager, token), "from token");
    return q;
}

/* Seed 000's write(q): puts 0, 1, 2. */
static int
write_task(const void *in, size_t len, mp_pool_out_t *out)
{
    (void)out;
    mp_proxy_t *q = queue_of(in, len);
    printf("Process to write: %d\n", (int)getpid());
    for (int value = 0; value < VALUES; value++) {
        printf("Put %d to queue...\n", value);
        check(mp_proxy_put(q, &value, sizeof(value), MP_WAIT_FOREVER), "put");
    }
    mp_proxy_destroy(q);
    return 0;
}

/* Seed 000's read(q), stopping after the values of all writers. */
static int
read_task(const void *in, size_t len, mp_pool_out_t *out)
{
    (void)out;
    mp_proxy_t *q = queue_of(in, len);
    printf("Process to read: %d\n", (int)getpid());
    for (int i = 0; i < WRITERS * VALUES; i++) {
        void *msg;
        check(mp_proxy_get(q, &msg, MP_WAIT_FOREVER), "get");
        printf("Get %d from queue.\n", *(int *)msg);
        mp_free(msg);
    }
    mp_proxy_destroy(q);
    return 0;
}

/* Seed 002's writer(q): puts the letters of "hello". */
static int
letters_writer(const void *in, size_t len, mp_pool_out_t *out)
{
    (void)out;
    mp_proxy_t *q = queue_of(in, len);
    printf("writer 启动 (%d) , 父进程为 (%d)\n", (int)getpid(), (int)getppid());
    for (const char *c = "hello"; *c != '\0'; c++) {
        check(mp_proxy_put(q, c, 1, MP_WAIT_FOREVER), "put");
    }
    mp_proxy_destroy(q);
    return 0;
}

/* Seed 002's reader(q): gets as many messages as qsize() says. */
static int
letters_reader(const void *in, size_t len, mp_pool_out_t *out)
{
    (void)out;
    mp_proxy_t *q = queue_of(in, len);
    printf("reader 启动 (%d) , 父进程为 (%d)\n", (int)getpid(), (int)getppid());
    long n = check(mp_proxy_qsize(q), "qsize");
    for (long i = 0; i < n; i++) {
        void *msg;
        check(mp_proxy_get(q, &msg, MP_WAIT_FOREVER), "get");
        printf("reader 从 Queue 获取到消息:%c\n", *(char *)msg);
        mp_free(msg);
    }
    mp_proxy_destroy(q);
    return 0;
}

/* Runs fn(token) in pool and waits for it. */
static mp_result_t *
submit(mp_pool_t *pool, mp_pool_fn fn, const char *token)
{
    mp_result_t *r;
    check(mp_pool_apply_async(pool, fn, token, strlen(token), &r), "apply");
    return r;
}

static void
finish(mp_result_t *r)
{
    void *out;
    check(mp_result_get(r, &out, MP_WAIT_FOREVER), "task");
    mp_free(out);
    mp_result_destroy(r);
}

int
main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* A spawned child or the forkserver never returns from here (stdout
     * is line-buffered first: in a spawned child too). */
    mp_main(argc, argv);
    check(mp_manager_create(&manager, NULL), "manager");
    check(mp_manager_start(manager), "manager start");
    struct server_info info;
    memset(&info, 0, sizeof info);
    snprintf(info.address, sizeof info.address, "%s",
             mp_manager_address(manager));
    const void *key;
    check(mp_manager_authkey(manager, &key, &info.authkey_len), "authkey");
    if (info.authkey_len > sizeof info.authkey) {
        fprintf(stderr, "ERROR: authkey of %zu bytes\n", info.authkey_len);
        return 1;
    }
    memcpy(info.authkey, key, info.authkey_len);

    /* Seed 000: Pool(8), three writers, one reader. */
    mp_pool_opts_t opts = MP_POOL_OPTS_INIT;
    opts.processes = 8;
    opts.initializer = connect_manager;
    opts.initarg = &info;
    opts.initarg_size = sizeof info;
    mp_pool_t *pool;
    check(mp_pool_create(&pool, &opts), "pool");
    mp_proxy_t *q;
    check(mp_manager_queue(manager, 0, &q), "manager queue");
    char token[MP_PROXY_TOKEN_MAX];
    check(mp_proxy_token(q, token, sizeof(token)), "token");
    mp_result_t *writers[WRITERS];
    for (int i = 0; i < WRITERS; i++) {
        writers[i] = submit(pool, write_task, token);
    }
    finish(submit(pool, read_task, token));
    for (int i = 0; i < WRITERS; i++) {
        finish(writers[i]);
    }
    check(mp_pool_close(pool), "close");
    check(mp_pool_join(pool, MP_WAIT_FOREVER), "join");
    mp_pool_destroy(pool);
    printf("queue empty after the reader: qsize()=%ld\n",
           check(mp_proxy_qsize(q), "qsize"));
    mp_proxy_destroy(q);

    /* Seed 002: Manager().Queue() in a Pool(). */
    printf("(%d) start\n", (int)getpid());
    check(mp_manager_queue(manager, 0, &q), "manager queue");
    check(mp_proxy_token(q, token, sizeof(token)), "token");
    opts.processes = 0; /* Pool(): one worker per CPU */
    check(mp_pool_create(&pool, &opts), "pool");
    finish(submit(pool, letters_writer, token)); /* the seed's sleep(1) */
    finish(submit(pool, letters_reader, token));
    check(mp_pool_close(pool), "close");
    check(mp_pool_join(pool, MP_WAIT_FOREVER), "join");
    mp_pool_destroy(pool);
    mp_proxy_destroy(q);
    printf("(%d) End\n", (int)getpid());
    mp_manager_destroy(manager);
    return 0;
}
