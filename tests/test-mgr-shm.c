/* SPDX-License-Identifier: MIT */
/* test-mgr-shm.c - SharedMemoryManager (blocks and ShareableLists a
 * manager's server creates: shared with other processes, freed at
 * shutdown even when the client that asked was killed, bad input) and the
 * manager's start initializer (it runs in the server before it serves; its
 * failure fails the start). */
#include "runner.h"

#include <signal.h>
#include <stdio.h>
#include <unistd.h>

/* Returns whether a block of that name exists (attaching it). */
static bool
block_exists(const char *name)
{
    mp_shm_t *shm = NULL;
    int r = mp_shm_attach(&shm, name);
    if (r == MP_ENOENT) {
        return false;
    }
    ASSERT_OK(r);
    mp_shm_destroy(shm);
    return true;
}

/* --- SharedMemoryManager ------------------------------------------------ */

TEST_TIMEOUT(mgr_shm_blocks_freed_at_shutdown, 60)
{
    mp_manager_t *m = mpt_manager_start(NULL);
    mp_shm_t *shm = NULL;
    ASSERT_OK(mp_manager_shared_memory(m, 10000, &shm));
    ASSERT_EQ(mp_shm_size(shm), 10000);
    memcpy(mp_shm_buf(shm), "through the manager", 20);
    char name[300];
    snprintf(name, sizeof name, "%s", mp_shm_name(shm));
    /* any process sees it by name */
    mp_shm_t *other = NULL;
    ASSERT_OK(mp_shm_attach(&other, name));
    ASSERT_MEM_EQ(mp_shm_buf(other), "through the manager", 20);
    mp_shm_destroy(other);

    const mp_shareable_item_t items[] = {
        {.type = MP_SHAREABLE_INT64, .i64 = 7},
        {.type = MP_SHAREABLE_STR, .data = "text", .len = 4},
        {.type = MP_SHAREABLE_NONE}};
    mp_shareable_list_t *l = NULL;
    ASSERT_OK(mp_manager_shareable_list(m, items, 3, &l));
    char lname[300];
    snprintf(lname, sizeof lname, "%s", mp_shm_name(mp_shareable_list_shm(l)));
    mp_shareable_list_t *la = NULL;
    ASSERT_OK(mp_shareable_list_attach(&la, lname));
    ASSERT_EQ(mp_shareable_list_len(la), 3);
    int64_t v = 0;
    ASSERT_OK(mp_shareable_list_get_int64(la, 0, &v));
    ASSERT_EQ(v, 7);
    ASSERT_EQ(mp_shareable_list_type(la, 2), MP_SHAREABLE_NONE);
    ASSERT_OK(mp_shareable_list_set_int64(la, 2, 99));
    ASSERT_OK(mp_shareable_list_get_int64(l, 2, &v));
    ASSERT_EQ(v, 99);
    mp_shareable_list_destroy(la);

    /* the handles going does not free the blocks: the server's do */
    mp_shm_destroy(shm);
    mp_shareable_list_destroy(l);
    ASSERT(block_exists(name));
    ASSERT(block_exists(lname));
    ASSERT_OK(mp_manager_shutdown(m));
    ASSERT(!block_exists(name));
    ASSERT(!block_exists(lname));
    mp_manager_destroy(m);
}

typedef struct {
    mp_manager_t *m;
    mpt_pipe_t ready;
} killed_arg_t;

/* A client that has the server make a block, writes into it, says its
 * name on the pipe, and waits to be killed. */
static int
child_makes_block(void *arg)
{
    killed_arg_t *a = arg;
    mp_shm_t *shm = NULL;
    if (mp_manager_shared_memory(a->m, 64, &shm) != 0) {
        return 1;
    }
    memcpy(mp_shm_buf(shm), "left by a killed client", 24);
    char name[256] = {0};
    snprintf(name, sizeof name, "%s", mp_shm_name(shm));
    mpt_write_all(a->ready.wr, name, sizeof name);
    for (;;) {
        pause();
    }
    return 0;
}

TEST_TIMEOUT(mgr_shm_killed_client_block_freed_at_shutdown, 60)
{
    mp_manager_t *m = mpt_manager_start(NULL);
    killed_arg_t a = {.m = m};
    mpt_pipe_open(&a.ready);
    pid_t pid = mpt_fork(child_makes_block, &a);
    char name[256];
    mpt_read_all(a.ready.rd, name, sizeof name);
    ASSERT_OK(kill(pid, SIGKILL));
    ASSERT_EQ(mpt_join(pid), -SIGKILL);
    mpt_pipe_close(&a.ready);
    /* the block lives on, with what the client wrote ... */
    mp_shm_t *shm = NULL;
    ASSERT_OK(mp_shm_attach(&shm, name));
    ASSERT_MEM_EQ(mp_shm_buf(shm), "left by a killed client", 24);
    mp_shm_destroy(shm);
    /* ... until the manager shuts down */
    mp_manager_destroy(m);
    ASSERT(!block_exists(name));
}

TEST_TIMEOUT(mgr_shm_bad_input, 60)
{
    mp_shm_t *shm = NULL;
    mp_shareable_list_t *l = NULL;
    const mp_shareable_item_t item = {.type = MP_SHAREABLE_BOOL, .b = true};
    mp_manager_t *m = NULL;
    ASSERT_OK(mp_manager_create(&m, NULL));
    ASSERT_ERR(mp_manager_shared_memory(m, 64, &shm), MP_ENOTSTARTED);
    mp_manager_destroy(m);

    m = mpt_manager_start(NULL);
    ASSERT_ERR(mp_manager_shared_memory(NULL, 64, &shm), MP_EINVAL);
    ASSERT_ERR(mp_manager_shared_memory(m, 64, NULL), MP_EINVAL);
    ASSERT_ERR(mp_manager_shared_memory(m, 0, &shm), MP_EINVAL);
    ASSERT_ERR(mp_manager_shared_memory(m, SIZE_MAX, &shm), MP_EFBIG);
    ASSERT_ERR(mp_manager_shareable_list(NULL, &item, 1, &l), MP_EINVAL);
    ASSERT_ERR(mp_manager_shareable_list(m, NULL, 1, &l), MP_EINVAL);
    ASSERT_ERR(mp_manager_shareable_list(m, &item, 1, NULL), MP_EINVAL);
    const mp_shareable_item_t bad = {
        .type = MP_SHAREABLE_STR, .data = "\xff", .len = 1};
    ASSERT_ERR(mp_manager_shareable_list(m, &bad, 1, &l), MP_EINVAL);

    /* a client that sends every call to the server gets blocks too; one
     * it unlinks itself is skipped at shutdown */
    mp_manager_t *c = NULL;
    ASSERT_OK(mpt_manager_connect(m, true, &c));
    ASSERT_OK(mp_manager_shareable_list(c, &item, 1, &l));
    bool b = false;
    ASSERT_OK(mp_shareable_list_get_bool(l, 0, &b));
    ASSERT(b);
    ASSERT_OK(mp_shm_unlink(mp_shareable_list_shm(l)));
    mp_shareable_list_destroy(l);
    mp_manager_destroy(c);

    ASSERT_OK(mp_manager_shutdown(m));
    ASSERT_ERR(mp_manager_shared_memory(m, 64, &shm), MP_ENOSERVER);
    ASSERT_ERR(mp_manager_shareable_list(m, &item, 1, &l), MP_ENOSERVER);
    mp_manager_destroy(m);
}

/* --- the start initializer ---------------------------------------------- */

/* An initializer that creates the block its arguments name and writes the
 * pid of the process it runs in there. */
static int
init_note_pid(const void *args, size_t len)
{
    char name[64] = {0};
    if (len == 0 || len >= sizeof name) {
        return MP_EINVAL;
    }
    memcpy(name, args, len);
    mp_shm_t *shm = NULL;
    int r = mp_shm_create(&shm, name, sizeof(pid_t), MP_SHM_UNTRACKED);
    if (r != 0) {
        return r;
    }
    pid_t me = getpid();
    memcpy(mp_shm_buf(shm), &me, sizeof me);
    mp_shm_destroy(shm);
    return 0;
}

TEST_TIMEOUT(mgr_initializer_runs_in_server, 60)
{
    char name[64];
    int len = snprintf(name, sizeof name, "mp-%d-init", (int)getpid());
    mp_manager_opts_t o = MP_MANAGER_OPTS_INIT;
    o.initializer = init_note_pid;
    o.initargs = name;
    o.initargs_len = (size_t)len;
    mp_manager_t *m = NULL;
    ASSERT_OK(mp_manager_create(&m, &o));
    /* initargs are copied at create */
    memset(name, 'x', (size_t)len);
    ASSERT_OK(mp_manager_start(m));
    snprintf(name, sizeof name, "mp-%d-init", (int)getpid());
    mp_shm_t *shm = NULL;
    ASSERT_OK(mp_shm_attach(&shm, name));
    pid_t seen;
    memcpy(&seen, mp_shm_buf(shm), sizeof seen);
    ASSERT_EQ(seen, mp_manager_pid(m));
    ASSERT_NE(seen, getpid());
    ASSERT_OK(mp_shm_unlink(shm));
    mp_shm_destroy(shm);
    /* the server serves after it */
    mp_proxy_t *d = NULL;
    ASSERT_OK(mp_manager_dict(m, &d));
    mp_proxy_destroy(d);
    mp_manager_destroy(m);
}

static int
init_fails(const void *args, size_t len)
{
    int code;
    ASSERT_EQ(len, sizeof code);
    memcpy(&code, args, sizeof code);
    if (code == 1000) {
        _exit(3); /* the server dies in it */
    }
    return code;
}

TEST_TIMEOUT(mgr_initializer_failure_fails_start, 60)
{
    /* a negative mp error as is; any other value: MP_EREMOTE; a death:
     * MP_ENOSERVER */
    const int codes[] = {MP_EACCES, 5, -99999, 1000};
    const int want[] = {MP_EACCES, MP_EREMOTE, MP_EREMOTE, MP_ENOSERVER};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        mp_manager_opts_t o = MP_MANAGER_OPTS_INIT;
        o.initializer = init_fails;
        o.initargs = &codes[i];
        o.initargs_len = sizeof codes[i];
        mp_manager_t *m = NULL;
        ASSERT_OK(mp_manager_create(&m, &o));
        ASSERT_ERR(mp_manager_start(m), want[i]);
        ASSERT_EQ(mp_manager_pid(m), 0);
        ASSERT_NULL(mp_manager_address(m));
        mp_manager_destroy(m);
    }
    mp_manager_opts_t bad = MP_MANAGER_OPTS_INIT;
    bad.initializer = init_fails;
    bad.initargs_len = 4;
    mp_manager_t *m = NULL;
    ASSERT_ERR(mp_manager_create(&m, &bad), MP_EINVAL);
}
