/* SPDX-License-Identifier: MIT */
/* test-shm.c - named shared memory: create, attach and unlink, names given
 * and generated, the mode and O_EXCL, memory seen across processes, and
 * every documented error and bad input. */
#include "runner.h"

#include "shm/shm_internal.h"

#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* --- helpers ------------------------------------------------------------ */

/* Writes "mp-<pid>-<suffix>" into buf: a user-given name the runner's leak
 * check still recognises as this test's. */
static void
test_name(char *buf, size_t len, const char *suffix)
{
    snprintf(buf, len, "mp-%d-%s", (int)getpid(), suffix);
}

/* 1 if /dev/shm/<name> exists. */
static int
shm_exists(const char *name)
{
    char path[300];
    snprintf(path, sizeof path, "/dev/shm/%s", name);
    return access(path, F_OK) == 0;
}

/* Checks that name has the generated form "mp-<session pid>-<16 hex>". */
static void
assert_generated_name(const char *name)
{
    char prefix[32];
    int plen = snprintf(prefix, sizeof prefix, "mp-%d-", (int)getpid());
    ASSERT_EQ(strncmp(name, prefix, (size_t)plen), 0);
    ASSERT_EQ(strlen(name), (size_t)plen + 16);
    for (const char *p = name + plen; *p != '\0'; p++) {
        ASSERT(isxdigit((unsigned char)*p) && !isupper((unsigned char)*p));
    }
}

/* Creates a tracked block of size bytes with a generated name. */
static mp_shm_t *
create_block(size_t size)
{
    mp_shm_t *shm = NULL;
    ASSERT_OK(mp_shm_create(&shm, NULL, size, 0));
    ASSERT_NOT_NULL(shm);
    return shm;
}

/* Unlinks and closes a block this test created. */
static void
drop_block(mp_shm_t *shm)
{
    ASSERT_OK(mp_shm_unlink(shm));
    mp_shm_destroy(shm);
}

/* --- create, attach, names ---------------------------------------------- */

TEST(shm_create_and_attach)
{
    mp_shm_t *shm = create_block(100);
    assert_generated_name(mp_shm_name(shm));
    ASSERT_EQ(mp_shm_size(shm), 100);
    unsigned char *buf = mp_shm_buf(shm);
    ASSERT_NOT_NULL(buf);
    for (int i = 0; i < 100; i++) {
        ASSERT_EQ(buf[i], 0); /* zero-filled */
    }
    memcpy(buf, "hello", 6);
    ASSERT(shm_exists(mp_shm_name(shm)));

    /* Attach by name, without and with the leading '/'. */
    mp_shm_t *a = NULL, *b = NULL;
    ASSERT_OK(mp_shm_attach(&a, mp_shm_name(shm)));
    char slashed[300];
    snprintf(slashed, sizeof slashed, "/%s", mp_shm_name(shm));
    ASSERT_OK(mp_shm_attach(&b, slashed));
    ASSERT_STR_EQ(mp_shm_name(a), mp_shm_name(shm));
    ASSERT_STR_EQ(mp_shm_name(b), mp_shm_name(shm));
    ASSERT(mp_shm_buf(a) != mp_shm_buf(shm)); /* a mapping of its own */
    ASSERT_STR_EQ((char *)mp_shm_buf(a), "hello");
    /* The size of an attached block is the object's (a page multiple at
     * most, never less than created). */
    ASSERT_GE(mp_shm_size(a), 100);
    /* Writes through one mapping are seen through the others at once. */
    memcpy(mp_shm_buf(b), "world", 6);
    ASSERT_STR_EQ((char *)buf, "world");

    /* Unlinking through an attached handle removes the name; the mappings
     * stay valid until closed. */
    ASSERT_OK(mp_shm_unlink(a));
    ASSERT(!shm_exists(mp_shm_name(shm)));
    ASSERT_ERR(mp_shm_unlink(shm), MP_ENOENT);
    ASSERT_STR_EQ((char *)mp_shm_buf(b), "world");
    mp_shm_destroy(a);
    mp_shm_destroy(b);
    ASSERT_STR_EQ((char *)buf, "world");
    mp_shm_destroy(shm);
}

/* Child of shm_visible_across_processes: writes through the inherited
 * mapping and through a fresh attach by name. */
static int
child_writes(void *arg)
{
    mp_shm_t *shm = arg;
    ((char *)mp_shm_buf(shm))[0] = 'A';
    mp_shm_t *att = NULL;
    if (mp_shm_attach(&att, mp_shm_name(shm)) != 0) {
        return 1;
    }
    if (((char *)mp_shm_buf(att))[1] != 'p') {
        return 2; /* the parent's write must be visible */
    }
    ((char *)mp_shm_buf(att))[2] = 'B';
    mp_shm_destroy(att);
    mp_shm_destroy(shm); /* the child's copy of the handle */
    return 0;
}

TEST(shm_visible_across_processes)
{
    mp_shm_t *shm = create_block(4096);
    char *buf = mp_shm_buf(shm);
    buf[1] = 'p';
    ASSERT_EQ(mpt_join(mpt_fork(child_writes, shm)), 0);
    ASSERT_EQ(buf[0], 'A');
    ASSERT_EQ(buf[2], 'B');
    /* The child's close did not unlink or unmap anything here. */
    ASSERT(shm_exists(mp_shm_name(shm)));
    drop_block(shm);
}

TEST(shm_user_given_names)
{
    char name[64], slashed[80];
    test_name(name, sizeof name, "user");
    snprintf(slashed, sizeof slashed, "/%s", name);
    mp_shm_t *shm = NULL;
    ASSERT_OK(mp_shm_create(&shm, slashed, 10, 0));
    ASSERT_STR_EQ(mp_shm_name(shm), name); /* no leading '/' */
    ASSERT_EQ(mp_shm_size(shm), 10);
    ASSERT(shm_exists(name));
    drop_block(shm);

    ASSERT_OK(mp_shm_create(&shm, name, 10, 0));
    ASSERT_STR_EQ(mp_shm_name(shm), name);
    drop_block(shm);

    /* The longest name allowed: 250 bytes. */
    char longest[251];
    test_name(longest, sizeof longest, "");
    size_t n = strlen(longest);
    memset(longest + n, 'x', 250 - n);
    longest[250] = '\0';
    ASSERT_OK(mp_shm_create(&shm, longest, 1, 0));
    ASSERT_STR_EQ(mp_shm_name(shm), longest);
    mp_shm_t *att = NULL;
    ASSERT_OK(mp_shm_attach(&att, longest));
    mp_shm_destroy(att);
    drop_block(shm);
}

/* Child of shm_generated_names_distinct: reports one generated name. */
static int
child_reports_name(void *arg)
{
    mpt_pipe_t *p = arg;
    mp_shm_t *shm = NULL;
    if (mp_shm_create(&shm, NULL, 1, 0) != 0) {
        return 1;
    }
    const char *name = mp_shm_name(shm);
    ssize_t w = write(p->wr, name, strlen(name) + 1);
    int bad = w != (ssize_t)strlen(name) + 1;
    bad |= mp_shm_unlink(shm) != 0;
    mp_shm_destroy(shm);
    return bad;
}

#define NAME_COUNT 1000

TEST(shm_generated_names_distinct)
{
    enum { NAME_LEN = 64 };
    char(*names)[NAME_LEN] = calloc(NAME_COUNT, NAME_LEN);
    ASSERT_NOT_NULL(names);
    for (int i = 0; i < NAME_COUNT; i++) {
        mp_shm_t *shm = create_block(1);
        assert_generated_name(mp_shm_name(shm));
        snprintf(names[i], NAME_LEN, "%s", mp_shm_name(shm));
        drop_block(shm);
    }
    for (int i = 0; i < NAME_COUNT; i++) {
        for (int j = i + 1; j < NAME_COUNT; j++) {
            ASSERT(strcmp(names[i], names[j]) != 0);
        }
    }
    /* A forked child does not repeat the parent's sequence (the generator
     * is reseeded) and still names blocks after the session's root. */
    mpt_pipe_t p;
    mpt_pipe_open(&p);
    ASSERT_EQ(mpt_join(mpt_fork(child_reports_name, &p)), 0);
    char child_name[NAME_LEN] = {0};
    ASSERT_GT(read(p.rd, child_name, sizeof child_name - 1), 0);
    mpt_pipe_close(&p);
    assert_generated_name(child_name);
    mp_shm_t *shm = create_block(1);
    ASSERT(strcmp(child_name, mp_shm_name(shm)) != 0);
    for (int i = 0; i < NAME_COUNT; i++) {
        ASSERT(strcmp(child_name, names[i]) != 0);
    }
    drop_block(shm);
    free(names);
}

TEST(shm_mode_is_0600)
{
    /* Even with an empty umask the object is private to its owner. */
    mode_t old = umask(0);
    mp_shm_t *shm = create_block(64);
    umask(old);
    char path[300];
    snprintf(path, sizeof path, "/dev/shm/%s", mp_shm_name(shm));
    struct stat st;
    ASSERT_EQ(stat(path, &st), 0);
    ASSERT_EQ(st.st_mode & 07777, 0600);
    ASSERT_EQ(st.st_uid, geteuid());
    ASSERT_EQ(st.st_size, 64);
    drop_block(shm);
}

TEST(shm_create_is_exclusive)
{
    char name[64];
    test_name(name, sizeof name, "excl");
    mp_shm_t *shm = NULL, *again = (mp_shm_t *)0x1;
    ASSERT_OK(mp_shm_create(&shm, name, 16, 0));
    ((char *)mp_shm_buf(shm))[0] = 7;
    ASSERT_ERR(mp_shm_create(&again, name, 16, 0), MP_EEXIST);
    ASSERT_ERR(mp_shm_create(&again, name, 16, MP_SHM_UNTRACKED), MP_EEXIST);
    ASSERT(again == (mp_shm_t *)0x1); /* *out untouched on failure */
    /* The failed create left the existing block alone. */
    ASSERT(shm_exists(name));
    ASSERT_EQ(((char *)mp_shm_buf(shm))[0], 7);
    drop_block(shm);
}

TEST(shm_bad_names)
{
    static const char *const bad[] = {"",  "/",  "//x", "a/b", "/a/",
                                      ".", "..", "/.",  "/.."};
    mp_shm_t *shm = NULL;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ASSERT_ERR(mp_shm_create(&shm, bad[i], 16, 0), MP_EINVAL);
        ASSERT_ERR(mp_shm_attach(&shm, bad[i]), MP_EINVAL);
    }
    char toolong[300];
    test_name(toolong, sizeof toolong, "");
    size_t n = strlen(toolong);
    memset(toolong + n, 'y', 251 - n);
    toolong[251] = '\0';
    ASSERT_ERR(mp_shm_create(&shm, toolong, 16, 0), MP_ENAMETOOLONG);
    ASSERT_ERR(mp_shm_attach(&shm, toolong), MP_ENAMETOOLONG);
    /* A leading '/' does not count against the limit. */
    char slashed[300];
    snprintf(slashed, sizeof slashed, "/%.250s", toolong);
    ASSERT_OK(mp_shm_create(&shm, slashed, 16, 0));
    drop_block(shm);
    ASSERT_ERR(mp_shm_attach(&shm, NULL), MP_EINVAL);
    ASSERT_EQ(mpt_shm_names_left(getpid()), 0);
}

TEST(shm_bad_sizes_and_flags)
{
    mp_shm_t *shm = NULL;
    ASSERT_ERR(mp_shm_create(&shm, NULL, 0, 0), MP_EINVAL);
    ASSERT_ERR(mp_shm_create(&shm, NULL, SIZE_MAX, 0), MP_EFBIG);
    ASSERT_ERR(mp_shm_create(&shm, NULL, (size_t)PTRDIFF_MAX + 1, 0), MP_EFBIG);
    ASSERT_ERR(mp_shm_create(&shm, NULL, 16, 0x2), MP_EINVAL);
    ASSERT_ERR(mp_shm_create(&shm, NULL, 16, ~0u), MP_EINVAL);
    ASSERT_ERR(mp_shm_create(NULL, NULL, 16, 0), MP_EINVAL);
    ASSERT_ERR(mp_shm_attach(NULL, "x"), MP_EINVAL);
    /* None of these left a name behind or started a tracker. */
    ASSERT_EQ(mpt_shm_names_left(getpid()), 0);
    ASSERT_EQ(mp__tracker_pid(), 0);
}

TEST(shm_attach_missing_and_empty)
{
    char name[64];
    test_name(name, sizeof name, "missing");
    mp_shm_t *shm = NULL;
    ASSERT_ERR(mp_shm_attach(&shm, name), MP_ENOENT);

    /* An object of size 0 (made behind the library's back) cannot be
     * mapped; the failed attach does not remove it. */
    char path[80];
    test_name(name, sizeof name, "empty");
    snprintf(path, sizeof path, "/%s", name);
    int fd = shm_open(path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0);
    close(fd);
    ASSERT_ERR(mp_shm_attach(&shm, name), MP_EINVAL);
    ASSERT(shm_exists(name));
    ASSERT_EQ(shm_unlink(path), 0);
    ASSERT_EQ(mp__tracker_pid(), 0); /* attaching never registers */
}

TEST(shm_unlink_twice_and_null)
{
    mp_shm_t *shm = create_block(32);
    ASSERT_OK(mp_shm_unlink(shm));
    ASSERT_ERR(mp_shm_unlink(shm), MP_ENOENT);
    ASSERT_ERR(mp_shm_attach(&(mp_shm_t *){NULL}, mp_shm_name(shm)), MP_ENOENT);
    /* The mapping outlives the name. */
    ((char *)mp_shm_buf(shm))[31] = 1;
    mp_shm_destroy(shm);

    ASSERT_ERR(mp_shm_unlink(NULL), MP_EINVAL);
    mp_shm_destroy(NULL);
    ASSERT_NULL(mp_shm_buf(NULL));
    ASSERT_EQ(mp_shm_size(NULL), 0);
    ASSERT_NULL(mp_shm_name(NULL));
}

/* Child of shm_untracked_survives: creates a tracked and an untracked
 * block, reports both names and the tracker's pid, exits without
 * unlinking. */
static int
child_creates_two(void *arg)
{
    mpt_pipe_t *p = arg;
    mp_shm_t *tracked = NULL, *untracked = NULL;
    if (mp_shm_create(&tracked, NULL, 8, 0) != 0 ||
        mp_shm_create(&untracked, NULL, 8, MP_SHM_UNTRACKED) != 0) {
        return 1;
    }
    char msg[160];
    memset(msg, 0, sizeof msg);
    snprintf(msg, 64, "%s", mp_shm_name(tracked));
    snprintf(msg + 64, 64, "%s", mp_shm_name(untracked));
    pid_t tpid = mp__tracker_pid();
    memcpy(msg + 128, &tpid, sizeof tpid);
    return write(p->wr, msg, sizeof msg) != (ssize_t)sizeof msg;
}

TEST(shm_untracked_survives)
{
    mpt_pipe_t p;
    mpt_pipe_open(&p);
    ASSERT_EQ(mpt_join(mpt_fork(child_creates_two, &p)), 0);
    char msg[160];
    ASSERT_EQ(read(p.rd, msg, sizeof msg), (ssize_t)sizeof msg);
    mpt_pipe_close(&p);
    pid_t tpid;
    memcpy(&tpid, msg + 128, sizeof tpid);
    ASSERT_GT(tpid, 0);
    /* The child's tree is gone: its tracker removes the tracked block and
     * exits; the untracked one stays. */
    mpt_wait_pid_exit(tpid);
    ASSERT(!shm_exists(msg));
    ASSERT(shm_exists(msg + 64));
    mp_shm_t *shm = NULL;
    ASSERT_OK(mp_shm_attach(&shm, msg + 64));
    ASSERT_EQ(mp_shm_size(shm), 8);
    drop_block(shm);
}

TEST(shm_close_keeps_the_handle)
{
    mp_shm_t *shm = create_block(64);
    memcpy(mp_shm_buf(shm), "kept", 5);
    mp_shm_t *other = NULL;
    ASSERT_OK(mp_shm_attach(&other, mp_shm_name(shm)));
    /* Python's close(): the mapping goes, the handle and the name stay. */
    ASSERT_OK(mp_shm_close(shm));
    ASSERT_NULL(mp_shm_buf(shm));
    ASSERT_EQ(mp_shm_size(shm), 64);
    ASSERT(shm_exists(mp_shm_name(shm)));
    ASSERT_OK(mp_shm_close(shm));                     /* idempotent */
    ASSERT_STR_EQ((char *)mp_shm_buf(other), "kept"); /* others unaffected */
    /* unlink() after close(), as Python allows. */
    ASSERT_OK(mp_shm_unlink(shm));
    ASSERT(!shm_exists(mp_shm_name(other)));
    mp_shm_destroy(shm);   /* frees a closed handle */
    mp_shm_destroy(other); /* closes an open one, then frees it */
    ASSERT_ERR(mp_shm_close(NULL), MP_EINVAL);
    mp_shm_destroy(NULL);
}
