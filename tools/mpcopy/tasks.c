/* SPDX-License-Identifier: MIT */
/* tasks.c - the tasks mpcopy's pool workers run: copy a whole file (clone
 * or copy its data, then its extended attributes, owner, mode and, last,
 * times), copy one range of a split file, or checksum a range of a file
 * and its copy (--verify). Every task can run again: a whole-file task
 * unlinks and recreates its file, a range task writes the same bytes at
 * the same offsets into a file the parent created at its final size. So
 * when a worker dies (MP_EWORKER) its task is simply submitted again. A
 * task carries a batch of whole files (or one range) and answers for
 * each. The file-system calls themselves are in fs.c. */
#include "mpcopy.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* The pool's initializer: takes the roots (arg: a copy of the parent's
 * g_roots, without fds) into this worker's g_roots and opens the two roots
 * from their paths. A forked worker inherited the parent's fds in
 * g_roots, which it closes first; a forkserver or spawn worker has none
 * (g_roots as the program starts). */
int
worker_init(void *arg)
{
    const struct roots *r = arg;
    if (g_roots.src_fd >= 0) {
        close(g_roots.src_fd);
    }
    if (g_roots.dst_fd >= 0) {
        close(g_roots.dst_fd);
    }
    g_roots = *r;
    g_roots.src_fd = open(g_roots.src, O_PATH | O_DIRECTORY | O_CLOEXEC);
    g_roots.dst_fd = open(g_roots.dst, O_PATH | O_DIRECTORY | O_CLOEXEC);
    return g_roots.src_fd >= 0 && g_roots.dst_fd >= 0 ? 0 : -1;
}

/* close_pair closes both files (-1: not open); rc is the task's outcome
 * so far. A failed close of the copy (a late write error) turns success
 * into -1. Returns the outcome, errno kept from the first failure. */
static int
close_pair(int src, int dst, int rc, const char **what)
{
    int saved = errno;
    if (src >= 0) {
        close(src);
    }
    if (dst >= 0 && close(dst) != 0 && rc == 0) {
        saved = errno;
        *what = "write";
        rc = -1;
    }
    errno = saved;
    return rc;
}

/* open_pair opens the source file rel for reading and its existing copy
 * with copy_flags. Returns 0, or -1 with errno set, *what naming the
 * step and nothing open. */
static int
open_pair(const char *rel, int copy_flags, int *src, int *dst,
          const char **what)
{
    struct stat st;
    *src = open_source(rel, &st);
    if (*src < 0) {
        *what = "open";
        return -1;
    }
    *dst = open_copy(rel, copy_flags);
    if (*dst < 0) {
        *what = "open copy";
        return close_pair(*src, -1, -1, what);
    }
    return 0;
}

/* The three task bodies. Each returns 0 or -1 with errno set and *what
 * naming the failed step. buf: IO_CHUNK bytes, then 2 * XATTR_BUF.
 * task_copy_file copies from src, the source already open (st its
 * status), or -1 with errno set by the failed open. */
static int
task_copy_file(const struct task_in *t, const char *rel, int src,
               const struct stat *st_in, char *buf, struct task_out *res,
               const char **what)
{
    if (src < 0) {
        *what = "open";
        return -1;
    }
    const struct stat st = *st_in;
    int dst = create_copy(rel);
    if (dst < 0) {
        *what = "create copy";
        return close_pair(src, -1, -1, what);
    }
    unsigned ways = 0;
    int rc = 0;
    int64_t written = st.st_size;
    if (st.st_size > 0 && clone_file(src, dst) == 0) {
        ways = WAY_CLONE;
    } else {
        bool dense = (uint64_t)st.st_blocks * 512 >= (uint64_t)st.st_size;
        written = copy_data(src, dst, 0, (uint64_t)st.st_size, dense, buf,
                            &ways, what);
        rc = written < 0 ? -1 : 0;
    }
    /* A trailing hole (or a source that shrank) leaves the copy short. */
    if (rc == 0 && written < st.st_size && ftruncate(dst, st.st_size) != 0) {
        *what = "truncate copy";
        rc = -1;
    }
    if (rc == 0 && g_roots.xattrs) {
        rc = copy_xattrs(src, dst, buf + IO_CHUNK, what);
    }
    if (rc == 0) {
        rc = set_meta_fd(dst, &t->meta, what);
    }
    res->bytes = (uint64_t)st.st_size;
    res->ways = ways;
    return close_pair(src, dst, rc, what);
}

static int
task_copy_range(const struct task_in *t, const char *rel, char *buf,
                struct task_out *res, const char **what)
{
    int src, dst;
    if (open_pair(rel, O_WRONLY, &src, &dst, what) != 0) {
        return -1;
    }
    unsigned ways = 0;
    int64_t n = copy_data(src, dst, t->offset, t->offset + t->length, false,
                          buf, &ways, what);
    res->bytes = t->length;
    res->ways = ways;
    return close_pair(src, dst, n < 0 ? -1 : 0, what);
}

static int
task_verify(const struct task_in *t, const char *rel, char *buf,
            struct task_out *res, const char **what)
{
    int src, dst;
    if (open_pair(rel, O_RDONLY | O_NOATIME, &src, &dst, what) != 0) {
        return -1;
    }
    int rc = verify_range(src, dst, t->offset, t->length, buf, res, what);
    return close_pair(src, dst, rc, what);
}

/* The worker's buffer (IO_CHUNK bytes of data, then room for extended
 * attributes), mapped on its first task and kept: a worker does not call
 * malloc, since it may have been forked while a thread of ours (the main
 * one, submitting) held the allocator's lock (see "Pool workers and the
 * allocator" in docs/design.md). */
static char *
io_buffer(void)
{
    static char *buf;
    if (buf == NULL) {
        void *m = mmap(NULL, IO_CHUNK + 2 * XATTR_BUF, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        buf = m == MAP_FAILED ? NULL : m;
    }
    return buf;
}

/* run_record runs the task record rec and fills res: its outcome, with
 * the failed step and errno when it failed. */
static void
run_record(struct record *rec, char *buf, struct task_out *res)
{
    const char *what = "task";
    int rc;
    *res = (struct task_out){0};
    switch (rec->t.kind) {
    case TASK_COPY_FILE:
        errno = rec->open_errno;
        rc = task_copy_file(&rec->t, rec->rel, rec->src, &rec->st, buf, res,
                            &what);
        break;
    case TASK_COPY_RANGE:
        rc = task_copy_range(&rec->t, rec->rel, buf, res, &what);
        break;
    case TASK_VERIFY:
        rc = task_verify(&rec->t, rec->rel, buf, res, &what);
        break;
    default:
        errno = EINVAL;
        rc = -1;
    }
    if (rc != 0) {
        res->err = errno != 0 ? errno : EIO;
        snprintf(res->what, sizeof res->what, "%s", what);
    }
}

/* decode_records splits a task's input into at most BATCH_FILES records
 * (see struct task_in): each needs its whole header, a path of rel_len
 * bytes with no NUL in it, and the NUL after it, inside the input.
 * Returns their count, or 0 when the input is malformed. */
size_t
decode_records(const void *in, size_t in_len, struct record *recs)
{
    const char *p = in, *end = p + in_len;
    size_t n = 0;
    while (p < end) {
        struct record *rec = &recs[n];
        if (n == BATCH_FILES || (size_t)(end - p) < sizeof rec->t) {
            return 0;
        }
        memcpy(&rec->t, p, sizeof rec->t);
        rec->rel = p + sizeof rec->t;
        size_t room = (size_t)(end - rec->rel);
        if (rec->t.rel_len >= room || rec->rel[rec->t.rel_len] != '\0' ||
            strlen(rec->rel) != rec->t.rel_len) {
            return 0;
        }
        rec->src = -1;
        p = rec->rel + rec->t.rel_len + 1;
        n++;
    }
    return n;
}

/* run_task is the pool's task function: decodes the task's records (see
 * struct task_in), opens the sources of its whole-file copies and starts
 * reading them all, then runs the records in order and writes a struct
 * task_out for each; a file that fails is said in its own result, the
 * others go on. A malformed input fails the task ("bad task"). Calls no
 * allocator (see io_buffer). */
int
run_task(const void *in, size_t in_len, mp_pool_out_t *out)
{
    static struct record recs[BATCH_FILES];
    char *buf = io_buffer();
    if (buf == NULL) {
        mp_pool_out_error(out, "out of memory");
        return -1;
    }
    size_t n = decode_records(in, in_len, recs);
    if (n == 0) {
        mp_pool_out_error(out, "bad task");
        return -1;
    }
    for (size_t k = 0; k < n; k++) {
        if (recs[k].t.kind == TASK_COPY_FILE) {
            recs[k].src = open_source(recs[k].rel, &recs[k].st);
            recs[k].open_errno = errno;
            if (recs[k].src >= 0) {
                start_reading(recs[k].src, (uint64_t)recs[k].st.st_size);
            }
        }
    }
    int rc = 0;
    for (size_t k = 0; k < n; k++) {
        struct task_out res;
        if (rc == 0) {
            run_record(&recs[k], buf, &res);
            if (mp_pool_out_write(out, &res, sizeof res) != 0) {
                mp_pool_out_error(out, "out of memory");
                rc = -1;
            }
        } else if (recs[k].src >= 0) {
            close(recs[k].src); /* not run: the task failed */
        }
    }
    return rc;
}
