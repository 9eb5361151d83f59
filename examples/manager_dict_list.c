/* SPDX-License-Identifier: MIT */
/* manager_dict_list.c - a Manager's dict and list changed by a child
 * process and printed by the parent.
 *
 * The C twin of seed 003 (003_ebf8edffc6108dde.txt), "manager共享方法":
 *
 *     def f(d, l):
 *         d[1] = '1'
 *         d['2'] = 2
 *         d[0.25] = None
 *         l.reverse()
 *
 *     manager = Manager()
 *     d = manager.dict()
 *     l = manager.list(range(10))
 *     p = Process(target=f, args=(d, l))
 *     p.start(); p.join()
 *     print(d)   # {0.25: None, 1: '1', '2': 2}
 *     print(l)   # [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]
 *
 * Keys and values are byte strings here: the program stores the text of
 * the seed's Python values and prints them the way Python does.
 *
 * The child gets the manager's address and key and the two proxies'
 * tokens as argument bytes, connects and opens the proxies: what Python's
 * pickled proxy carries, so it works under every start method. */
#include <multiproc.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What the child gets, as bytes: where the server is, its key, and the
 * dict's and the list's tokens. */
typedef struct shared {
    char address[256];
    unsigned char authkey[256];
    size_t authkey_len;
    char d[MP_PROXY_TOKEN_MAX], l[MP_PROXY_TOKEN_MAX];
} shared_t;

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

static void
set(mp_proxy_t *d, const char *key, const char *val)
{
    check(mp_dict_set(d, key, strlen(key), val, strlen(val)), "dict set");
}

/* The seed's f(d, l), in the child. */
static int
f(void *arg)
{
    const shared_t *s = arg;
    mp_manager_opts_t o = MP_MANAGER_OPTS_INIT;
    o.address = s->address;
    o.authkey = s->authkey;
    o.authkey_len = s->authkey_len;
    mp_manager_t *m;
    check(mp_manager_create(&m, &o), "manager");
    check(mp_manager_connect(m, 30000), "connect");
    mp_proxy_t *d, *l;
    check(mp_proxy_from_token(&d, m, s->d), "dict");
    check(mp_proxy_from_token(&l, m, s->l), "list");
    set(d, "1", "'1'");
    set(d, "'2'", "2");
    set(d, "0.25", "None");
    check(mp_list_reverse(l), "reverse");
    mp_proxy_destroy(l);
    mp_proxy_destroy(d);
    mp_manager_destroy(m);
    return 0;
}

/* Prints n buffers between open and close, key: value pairs when pairs. */
static void
print_bufs(const mp_buf_t *b, size_t n, bool pairs, const char *open,
           const char *close)
{
    fputs(open, stdout);
    for (size_t i = 0; i < n; i += pairs ? 2 : 1) {
        printf("%s%.*s", i > 0 ? ", " : "", (int)b[i].len,
               (const char *)b[i].data);
        if (pairs) {
            printf(": %.*s", (int)b[i + 1].len, (const char *)b[i + 1].data);
        }
    }
    printf("%s\n", close);
}

/* Orders dict items the way the seed prints them (Python 2 sorted mixed
 * keys: numbers by value, then strings), so that the output does not
 * depend on the table's order. */
static int
cmp_pair(const void *a, const void *b)
{
    const mp_buf_t *x = a, *y = b;
    char kx[64], ky[64];
    snprintf(kx, sizeof(kx), "%.*s", (int)x->len, (const char *)x->data);
    snprintf(ky, sizeof(ky), "%.*s", (int)y->len, (const char *)y->data);
    bool sx = kx[0] == '\'', sy = ky[0] == '\'';
    if (sx != sy) {
        return sx ? 1 : -1;
    }
    if (sx) {
        return strcmp(kx, ky);
    }
    double dx = strtod(kx, NULL), dy = strtod(ky, NULL);
    return (dx > dy) - (dx < dy);
}

int
main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* A spawned child or the forkserver never returns from here (stdout
     * is line-buffered first: in a spawned child too). */
    mp_main(argc, argv);
    mp_manager_t *manager;
    check(mp_manager_create(&manager, NULL), "manager");
    check(mp_manager_start(manager), "manager start");

    struct {
        mp_proxy_t *d, *l;
    } s;
    check(mp_manager_dict(manager, &s.d), "dict");
    check(mp_manager_list(manager, &s.l), "list");
    for (int i = 0; i < 10; i++) { /* manager.list(range(10)) */
        char text[4];
        snprintf(text, sizeof(text), "%d", i);
        check(mp_list_append(s.l, text, strlen(text)), "append");
    }

    shared_t args;
    memset(&args, 0, sizeof args);
    snprintf(args.address, sizeof args.address, "%s",
             mp_manager_address(manager));
    const void *key;
    check(mp_manager_authkey(manager, &key, &args.authkey_len), "authkey");
    if (args.authkey_len > sizeof args.authkey) {
        fprintf(stderr, "ERROR: authkey of %zu bytes\n", args.authkey_len);
        return 1;
    }
    memcpy(args.authkey, key, args.authkey_len);
    check(mp_proxy_token(s.d, args.d, sizeof args.d), "dict token");
    check(mp_proxy_token(s.l, args.l, sizeof args.l), "list token");
    mp_process_opts_t opts = MP_PROCESS_OPTS_INIT;
    opts.arg_size = sizeof args; /* the child gets a copy */
    mp_process_t *p;
    check(mp_process_create(&p, f, &args, &opts), "process");
    check(mp_process_start(p), "start");
    check(mp_process_join(p, MP_WAIT_FOREVER), "join");
    mp_process_destroy(p);

    mp_buf_t *items;
    size_t n;
    check(mp_dict_items(s.d, &items, &n), "items");
    qsort(items, n / 2, 2 * sizeof(mp_buf_t), cmp_pair);
    print_bufs(items, n, true, "{", "}");
    mp_free(items);
    mp_buf_t *all;
    check(mp_list_slice(s.l, 0, 10, &all, &n), "slice");
    print_bufs(all, n, false, "[", "]");
    mp_free(all);

    mp_proxy_destroy(s.d);
    mp_proxy_destroy(s.l);
    mp_manager_destroy(manager);
    return 0;
}
