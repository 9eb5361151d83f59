/* SPDX-License-Identifier: MIT */
/* mpcopy.c - mpcopy, a parallel directory-tree copier built on the
 * library's process pool and progress bar: the C tool that seed 002's
 * copy_file program (002_5ac3e8d32ecfde20.txt, a Pool(3) copying a folder
 * while the parent prints the percentage) grows into.
 *
 *     mpcopy [-j N] [--verify] SRC DST
 *
 * DST that does not exist becomes the copy; an existing directory DST
 * gets the copy as DST/NAME (NAME: SRC's last component), as with
 * `cp -r`. Nothing is ever overwritten or merged: a taken place, or a
 * copy that would land inside SRC (checked by device and inode of every
 * directory above the copy's place), is refused before anything is
 * written. The parent shows one progress bar per phase on stderr
 * (mp_progress_*: files done of all, bytes done of all, rates, an ETA
 * from the byte rate), plain lines when stderr is not a terminal.
 *
 * How it works
 * ------------
 * - The parent scans SRC breadth first (a growing array, no recursion) and
 *   records every entry: its path under SRC, type, mode, size and times.
 * - It creates the skeleton in the copy itself: directories (mode 0700
 *   while they are filled), symlinks (copied as links, never followed),
 *   FIFOs and device nodes, and the files big enough to be split.
 * - The workers copy the regular files: a file up to RANGE_BYTES is one
 *   task, a bigger one is cut into RANGE_BYTES ranges that the workers
 *   share. Only the source's data segments are written (SEEK_DATA and
 *   SEEK_HOLE), so holes stay holes.
 * - Every task can run again: a whole-file task unlinks and recreates its
 *   file, a range task pwrite()s the same bytes at the same offsets into a
 *   file the parent created at its final size. So when a worker dies
 *   (MP_EWORKER) its task is simply submitted again, up to MAX_ATTEMPTS.
 * - With --verify, the workers then read every source file and its copy
 *   again and compare the checksums (sum64 below) of each 1 MiB chunk of
 *   both (a chunk that is a hole in both needs no reading).
 * - Last, the parent gives every directory its mode and times, deepest
 *   first, so that filling a directory does not change its mtime again.
 *
 * Paths of any depth work: every *at() call goes through open_parent(),
 * which walks a path one component at a time from an open root, so no
 * path handed to the kernel is longer than one name.
 *
 * Exit status: 0 all copied (and verified); 1 something failed (a file
 * that could not be read or written, a checksum mismatch: each is
 * reported on stderr and the rest is copied); 2 usage error or refusal
 * (DST inside SRC, the copy's place taken) before anything is copied. */
#include <multiproc.h>

#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

/* Files bigger than this are split into ranges of this size. */
#define RANGE_BYTES ((uint64_t)32 << 20)
/* Bytes per read()/write() in the workers (a multiple of SUM64_BLOCK). */
#define IO_CHUNK ((size_t)1 << 20)
/* Tries per task when its worker dies. */
#define MAX_ATTEMPTS 3
/* Tasks queued per worker, so that a freed worker finds the next one. */
#define TASKS_PER_WORKER 4

/*===== sum64: the --verify checksum ========================================*/

/* A 64-bit checksum of a byte stream, written for mpcopy. Four lanes each
 * take one little-endian 64-bit word of every 32-byte block: xor, multiply
 * by an odd constant, xor-shift. Each step is a bijection of the lane for
 * a given word, so two streams that differ in one word always leave that
 * lane different; the lanes are independent, so a CPU runs them in
 * parallel. The end mixes the lanes, the zero-padded tail and the length
 * with a strong 64-bit finaliser (the splitmix64 one). */
#define SUM64_BLOCK 32
#define SUM64_MUL 0xD6E8FEB86659FD93ULL
#define SUM64_GOLDEN 0x9E3779B97F4A7C15ULL

struct sum64 {
    uint64_t lane[4];
    uint64_t total;                    /* bytes taken so far */
    unsigned char tail[SUM64_BLOCK];   /* bytes of an incomplete block */
    size_t tail_len;
};

/* Reads 8 bytes at p as a little-endian number. */
static uint64_t
load_le64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return le64toh(v);
}

/* splitmix64's finaliser: every input bit affects every output bit. */
static uint64_t
mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xBF58476D1CE4E5B9ULL;
    x ^= x >> 27;
    x *= 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

/* sum64_init starts an empty stream. */
static void
sum64_init(struct sum64 *s)
{
    memset(s, 0, sizeof *s);
    for (int i = 0; i < 4; i++) {
        s->lane[i] = SUM64_GOLDEN * (uint64_t)(i + 1);
    }
}

/* Absorbs the n SUM64_BLOCK-byte blocks at p (the lanes are kept in
 * locals: the compiler cannot know that p does not alias them). */
static void
sum64_blocks(struct sum64 *s, const unsigned char *p, size_t n)
{
    uint64_t l0 = s->lane[0], l1 = s->lane[1], l2 = s->lane[2];
    uint64_t l3 = s->lane[3];
    for (; n > 0; n--, p += SUM64_BLOCK) {
        l0 = (l0 ^ load_le64(p)) * SUM64_MUL;
        l1 = (l1 ^ load_le64(p + 8)) * SUM64_MUL;
        l2 = (l2 ^ load_le64(p + 16)) * SUM64_MUL;
        l3 = (l3 ^ load_le64(p + 24)) * SUM64_MUL;
        l0 ^= l0 >> 29;
        l1 ^= l1 >> 29;
        l2 ^= l2 >> 29;
        l3 ^= l3 >> 29;
    }
    s->lane[0] = l0;
    s->lane[1] = l1;
    s->lane[2] = l2;
    s->lane[3] = l3;
}

/* sum64_update appends len bytes at buf; any split of a stream into
 * updates gives the same sum. */
static void
sum64_update(struct sum64 *s, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    if (len == 0) {
        return; /* buf may be NULL */
    }
    s->total += len;
    if (s->tail_len > 0) {
        size_t take = SUM64_BLOCK - s->tail_len;
        take = take < len ? take : len;
        memcpy(s->tail + s->tail_len, p, take);
        s->tail_len += take;
        p += take;
        len -= take;
        if (s->tail_len < SUM64_BLOCK) {
            return;
        }
        sum64_blocks(s, s->tail, 1);
        s->tail_len = 0;
    }
    size_t blocks = len / SUM64_BLOCK;
    sum64_blocks(s, p, blocks);
    p += blocks * SUM64_BLOCK;
    len -= blocks * SUM64_BLOCK;
    memcpy(s->tail, p, len);
    s->tail_len = len;
}

/* sum64_final returns the stream's checksum (s is spent). */
static uint64_t
sum64_final(struct sum64 *s)
{
    if (s->tail_len > 0) {
        memset(s->tail + s->tail_len, 0, SUM64_BLOCK - s->tail_len);
        sum64_blocks(s, s->tail, 1);
    }
    uint64_t h = mix64(s->total ^ SUM64_GOLDEN);
    for (int i = 0; i < 4; i++) {
        h = mix64(h ^ s->lane[i]) * SUM64_MUL;
    }
    return mix64(h);
}

/*===== Paths under a root ==================================================*/

/* open_parent opens (O_PATH) the directory that holds the last component
 * of rel, a '/'-separated path under the directory rootfd, walking it one
 * component at a time without following symlinks, so that any depth
 * works. Stores the last component in leaf (NAME_MAX + 1 bytes). Returns
 * the new fd (the caller closes it) or -1 with errno set. */
static int
open_parent(int rootfd, const char *rel, char *leaf)
{
    int fd = fcntl(rootfd, F_DUPFD_CLOEXEC, 0);
    const char *p = rel;
    while (fd >= 0) {
        const char *slash = strchr(p, '/');
        size_t n = slash != NULL ? (size_t)(slash - p) : strlen(p);
        if (n > NAME_MAX) {
            close(fd);
            errno = ENAMETOOLONG;
            return -1;
        }
        memcpy(leaf, p, n);
        leaf[n] = '\0';
        if (slash == NULL) {
            return fd;
        }
        int next = openat(fd, leaf,
                          O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int saved = errno;
        close(fd);
        errno = saved;
        fd = next;
        p = slash + 1;
    }
    return -1;
}

/* open_under opens rel under rootfd (see open_parent) with flags and, for
 * O_CREAT, mode. Returns the fd or -1 with errno set. */
static int
open_under(int rootfd, const char *rel, int flags, mode_t mode)
{
    char leaf[NAME_MAX + 1];
    int dfd = open_parent(rootfd, rel, leaf);
    if (dfd < 0) {
        return -1;
    }
    int fd = openat(dfd, leaf, flags | O_CLOEXEC | O_NOFOLLOW, mode);
    int saved = errno;
    close(dfd);
    errno = saved;
    return fd;
}

/* open_source opens a regular file of the source for reading, without
 * updating its access time where the kernel lets us (O_NOATIME needs
 * ownership), and without blocking should it have become a FIFO. Returns
 * the fd or -1 with errno set (EINVAL: no longer a regular file). */
static int
open_source(int rootfd, const char *rel)
{
    int flags = O_RDONLY | O_NONBLOCK;
    int fd = open_under(rootfd, rel, flags | O_NOATIME, 0);
    if (fd < 0 && errno == EPERM) {
        fd = open_under(rootfd, rel, flags, 0);
    }
    struct stat st;
    if (fd >= 0 && (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))) {
        close(fd);
        errno = EINVAL;
        return -1;
    }
    return fd;
}

/*===== The tasks (they run in the workers) =================================*/

enum task_kind {
    TASK_COPY_FILE = 1,  /* create the copy, copy all, set mode and times */
    TASK_COPY_RANGE = 2, /* copy [offset, offset + length) into the copy */
    TASK_VERIFY = 3,     /* checksum [offset, offset + length) of both */
};

/* A task's input: this header, then rel_len bytes of the path under the
 * roots and a NUL. */
struct task_in {
    uint32_t kind;
    uint32_t rel_len;
    uint64_t offset, length;
    uint32_t mode;                  /* TASK_COPY_FILE: the permissions */
    struct timespec times[2];       /* TASK_COPY_FILE: atime, mtime */
};

/* A task's result. */
struct task_out {
    uint64_t bytes;          /* bytes of the file(s) processed */
    uint64_t src_sum, dst_sum; /* TASK_VERIFY: of the first chunk that
                                  differs */
    uint32_t mismatch;       /* TASK_VERIFY: 1 when the copy differs */
};

/* What the workers inherit (fork copies it) and open in worker_init. */
struct roots {
    char src[PATH_MAX], dst[PATH_MAX]; /* absolute paths */
    int src_fd, dst_fd;                /* in a worker: O_PATH fds */
};
static struct roots g_roots = {.src_fd = -1, .dst_fd = -1};

/* The pool's initializer: opens the two roots in this worker. */
static int
worker_init(void *arg)
{
    struct roots *r = arg;
    r->src_fd = open(r->src, O_PATH | O_DIRECTORY | O_CLOEXEC);
    r->dst_fd = open(r->dst, O_PATH | O_DIRECTORY | O_CLOEXEC);
    return r->src_fd >= 0 && r->dst_fd >= 0 ? 0 : -1;
}

/* copy_data copies the bytes of src in [offset, end) to the same offsets
 * of dst, skipping the source's holes (left unwritten, so they stay holes
 * in a file created sparse). Idempotent. Returns the bytes written, or -1
 * with errno set and *what naming the failed step. */
static int64_t
copy_data(int src, int dst, uint64_t offset, uint64_t end, char *buf,
          const char **what)
{
    int64_t written = 0;
    uint64_t pos = offset;
    while (pos < end) {
        off_t data = lseek(src, (off_t)pos, SEEK_DATA);
        off_t hole = -1;
        if (data < 0 && errno == ENXIO) {
            break; /* only a hole is left */
        }
        if (data < 0) {
            data = (off_t)pos; /* no SEEK_DATA here: all data */
            hole = (off_t)end;
        } else if ((hole = lseek(src, data, SEEK_HOLE)) < 0) {
            hole = (off_t)end;
        }
        uint64_t seg_end = (uint64_t)hole < end ? (uint64_t)hole : end;
        for (pos = (uint64_t)data; pos < seg_end;) {
            size_t want = seg_end - pos < IO_CHUNK ? seg_end - pos : IO_CHUNK;
            ssize_t n = pread(src, buf, want, (off_t)pos);
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n <= 0) {
                if (n == 0) {
                    return written; /* the source shrank */
                }
                *what = "read";
                return -1;
            }
            for (ssize_t done = 0; done < n;) {
                ssize_t w = pwrite(dst, buf + done, (size_t)(n - done),
                                   (off_t)pos + done);
                if (w < 0 && errno == EINTR) {
                    continue;
                }
                if (w < 0) {
                    *what = "write";
                    return -1;
                }
                done += w;
            }
            pos += (uint64_t)n;
            written += n;
        }
    }
    return written;
}

/* hole_ahead tells whether fd has no data in [pos, pos + len): a hole,
 * or the end of the file. *next_data caches the next data offset found
 * (start it at 0). Where SEEK_DATA is not supported, all is data. */
static bool
hole_ahead(int fd, uint64_t pos, uint64_t len, uint64_t *next_data)
{
    if (*next_data <= pos) {
        off_t d = lseek(fd, (off_t)pos, SEEK_DATA);
        *next_data = d >= 0 ? (uint64_t)d : errno == ENXIO ? UINT64_MAX : pos;
    }
    return *next_data >= pos + len;
}

/* sum_chunk reads up to len bytes of fd at pos into buf and returns
 * their checksum in *sum; *got gets the bytes read (fewer at the end of
 * the file). Returns 0 or -1 with errno set. */
static int
sum_chunk(int fd, uint64_t pos, size_t len, char *buf, uint64_t *sum,
          size_t *got)
{
    struct sum64 s;
    sum64_init(&s);
    *got = 0;
    while (*got < len) {
        ssize_t n = pread(fd, buf + *got, len - *got, (off_t)(pos + *got));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return -1;
        }
        if (n == 0) {
            break;
        }
        *got += (size_t)n;
    }
    sum64_update(&s, buf, *got);
    *sum = sum64_final(&s);
    return 0;
}

/* verify_range compares [offset, offset + length) (clipped to the
 * source's size) of the open files src and dst, IO_CHUNK bytes at a
 * time: the checksums of each chunk of both must match; a chunk that is
 * a hole in both is equal without reading it. Fills *res: bytes
 * compared; mismatch set when a chunk or the sizes differ, with the
 * checksums of the first differing chunk (else both 0). Returns 0, or -1
 * with errno set and *what naming the step. buf holds IO_CHUNK bytes. */
static int
verify_range(int src, int dst, uint64_t offset, uint64_t length,
             char *buf, struct task_out *res, const char **what)
{
    struct stat ss, ds;
    if (fstat(src, &ss) != 0 || fstat(dst, &ds) != 0) {
        *what = "stat";
        return -1;
    }
    uint64_t size = (uint64_t)ss.st_size;
    uint64_t end = offset >= size ? offset
                   : size - offset < length ? size : offset + length;
    uint64_t src_data = 0, dst_data = 0;
    *res = (struct task_out){.mismatch = ss.st_size != ds.st_size};
    for (uint64_t pos = offset; pos < end && !res->mismatch;) {
        size_t len = end - pos < IO_CHUNK ? (size_t)(end - pos) : IO_CHUNK;
        if (hole_ahead(src, pos, len, &src_data) &&
            hole_ahead(dst, pos, len, &dst_data)) {
            pos += len; /* zeros on both sides */
            continue;
        }
        uint64_t a, b;
        size_t got_src, got_dst;
        if (sum_chunk(src, pos, len, buf, &a, &got_src) != 0) {
            *what = "read source";
            return -1;
        }
        if (sum_chunk(dst, pos, len, buf, &b, &got_dst) != 0) {
            *what = "read copy";
            return -1;
        }
        if (a != b || got_src != got_dst) {
            res->mismatch = 1;
            res->src_sum = a;
            res->dst_sum = b;
        }
        if (got_src < len) {
            break; /* the source shrank */
        }
        pos += len;
    }
    res->bytes = end - offset;
    return 0;
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
 * with copy_flags (O_NOATIME is dropped where it is not allowed). Returns
 * 0, or -1 with errno set, *what naming the step and nothing open. */
static int
open_pair(const char *rel, int copy_flags, int *src, int *dst,
          const char **what)
{
    *src = open_source(g_roots.src_fd, rel);
    if (*src < 0) {
        *what = "open";
        return -1;
    }
    *dst = open_under(g_roots.dst_fd, rel, copy_flags, 0);
    if (*dst < 0 && errno == EPERM && (copy_flags & O_NOATIME)) {
        *dst = open_under(g_roots.dst_fd, rel, copy_flags & ~O_NOATIME, 0);
    }
    if (*dst < 0) {
        *what = "open copy";
        return close_pair(*src, -1, -1, what);
    }
    return 0;
}

/* create_copy creates the copy of rel (mode 0600 until the task sets
 * the final one) and returns its fd, or -1 with errno set. What an
 * earlier, killed attempt left there is unlinked first, so a retry
 * starts from nothing. */
static int
create_copy(const char *rel)
{
    char leaf[NAME_MAX + 1];
    int dfd = open_parent(g_roots.dst_fd, rel, leaf);
    if (dfd < 0) {
        return -1;
    }
    int fd = -1;
    if (unlinkat(dfd, leaf, 0) == 0 || errno == ENOENT) {
        fd = openat(dfd, leaf, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
                    O_NOFOLLOW, 0600);
    }
    int saved = errno;
    close(dfd);
    errno = saved;
    return fd;
}

/* The three task bodies. Each returns 0 or -1 with errno set and *what
 * naming the failed step. */
static int
task_copy_file(const struct task_in *t, const char *rel, char *buf,
               struct task_out *res, const char **what)
{
    int src = open_source(g_roots.src_fd, rel);
    struct stat st;
    if (src < 0 || fstat(src, &st) != 0) {
        *what = "open";
        return src < 0 ? -1 : close_pair(src, -1, -1, what);
    }
    int dst = create_copy(rel);
    if (dst < 0) {
        *what = "create copy";
        return close_pair(src, -1, -1, what);
    }
    int64_t n = copy_data(src, dst, 0, (uint64_t)st.st_size, buf, what);
    int rc = n < 0 ? -1 : 0;
    if (rc == 0 && ftruncate(dst, st.st_size) != 0) { /* a trailing hole */
        *what = "truncate copy";
        rc = -1;
    }
    if (rc == 0 && (fchmod(dst, t->mode) != 0 ||
                    futimens(dst, t->times) != 0)) {
        *what = "set mode and times";
        rc = -1;
    }
    res->bytes = (uint64_t)st.st_size;
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
    int64_t n = copy_data(src, dst, t->offset, t->offset + t->length, buf,
                          what);
    res->bytes = t->length;
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

/* The worker's I/O buffer, mapped on its first task and kept: a worker
 * does not call malloc, since it may have been forked while a thread of
 * ours (the main one, submitting) held the allocator's lock (see "Pool
 * workers and the allocator" in docs/design.md). */
static char *
io_buffer(void)
{
    static char *buf;
    if (buf == NULL) {
        void *m = mmap(NULL, IO_CHUNK, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        buf = m == MAP_FAILED ? NULL : m;
    }
    return buf;
}

/* run_task is the pool's task function: decodes a struct task_in, runs
 * it and writes a struct task_out; on failure returns -1 with the message
 * "STEP: strerror". Calls no allocator (see io_buffer). */
static int
run_task(const void *in, size_t in_len, mp_pool_out_t *out)
{
    struct task_in t;
    if (in_len < sizeof t) {
        mp_pool_out_error(out, "bad task");
        return -1;
    }
    memcpy(&t, in, sizeof t);
    const char *rel = (const char *)in + sizeof t;
    if (t.rel_len != in_len - sizeof t - 1 || rel[t.rel_len] != '\0') {
        mp_pool_out_error(out, "bad task");
        return -1;
    }
    char *buf = io_buffer();
    if (buf == NULL) {
        mp_pool_out_error(out, "out of memory");
        return -1;
    }
    struct task_out res = {0};
    const char *what = "task";
    int rc;
    switch (t.kind) {
    case TASK_COPY_FILE:
        rc = task_copy_file(&t, rel, buf, &res, &what);
        break;
    case TASK_COPY_RANGE:
        rc = task_copy_range(&t, rel, buf, &res, &what);
        break;
    case TASK_VERIFY:
        rc = task_verify(&t, rel, buf, &res, &what);
        break;
    default:
        errno = EINVAL;
        rc = -1;
    }
    if (rc != 0) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s: %s", what, strerror(errno));
        mp_pool_out_error(out, msg);
    } else {
        rc = mp_pool_out_write(out, &res, sizeof res) == 0 ? 0 : -1;
    }
    return rc;
}

#ifndef MPCOPY_NO_MAIN

/*===== The scan and the skeleton (the parent) ==============================*/

/* One entry of the source tree. */
struct entry {
    char *rel;          /* path under the roots; "" is the root itself */
    struct stat st;     /* lstat() of the source */
    uint32_t parts_left; /* regular files: copy tasks not yet finished */
    bool failed;        /* reported; leaves exit status 1 */
};

/* The whole run: options, the tree, the pool, the counters. */
struct run {
    int jobs;
    bool verify;
    const char *src_arg, *target; /* as the user wrote them */
    int src_root, dst_root;       /* parent's fds of the two roots */
    struct entry *entries;
    size_t nentries, cap;
    uint64_t nfiles, file_bytes;  /* regular files and their size */
    uint64_t phase_files;         /* files the current phase works on */
    uint64_t phase_bytes;         /* and their bytes (sizes, holes too) */
    size_t ndirs, nlinks, nspecial;
    bool failed;
    mp_pool_t *pool;
    /* Tasks finished by the pool's callbacks, for the main thread. */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct job *finished;
};

/* One task in flight, its tries and its outcome. */
struct job {
    struct run *run;
    size_t entry;
    uint32_t kind;
    uint64_t offset, length;
    int attempts;
    mp_result_t *res;
    int err;             /* 0, or the code mp_result_get would return */
    char *msg;           /* err's message (malloc) */
    struct task_out out;
    struct job *next;    /* in run->finished or in a retry list */
};

/* note prints "mpcopy: " and the formatted message as a line of its own
 * on stderr: on a terminal it first blanks the progress bar's line (the
 * bar redraws below it). */
static void __attribute__((format(printf, 1, 2)))
note(const char *fmt, ...)
{
    static int tty = -1;
    if (tty < 0) {
        tty = isatty(STDERR_FILENO);
    }
    va_list ap;
    va_start(ap, fmt);
    fputs(tty ? "\r\033[Kmpcopy: " : "mpcopy: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* report prints "mpcopy: PATH: MSG" for entry e, marks it and the run
 * failed. The path is written as under SRC ("." for the root). */
static void
report(struct run *r, struct entry *e, const char *msg)
{
    note("%s/%s: %s", r->src_arg, e->rel, msg);
    e->failed = true;
    r->failed = true;
}

/* report_errno is report() with "STEP: strerror(errno)". */
static void
report_errno(struct run *r, struct entry *e, const char *step)
{
    char msg[256];
    snprintf(msg, sizeof msg, "%s: %s", step, strerror(errno));
    report(r, e, msg);
}

/* add_entry appends rel (taken) with its stat. Returns 0 or -1 (ENOMEM). */
static int
add_entry(struct run *r, char *rel, const struct stat *st)
{
    if (r->nentries == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 256;
        struct entry *e = realloc(r->entries, cap * sizeof *e);
        if (e == NULL) {
            free(rel);
            return -1;
        }
        r->entries = e;
        r->cap = cap;
    }
    r->entries[r->nentries++] = (struct entry){.rel = rel, .st = *st};
    if (S_ISREG(st->st_mode)) {
        r->nfiles++;
        r->file_bytes += (uint64_t)st->st_size;
    }
    return 0;
}

/* join_rel returns "dir/name" (or "name" under the root), malloc'd. */
static char *
join_rel(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *s = malloc(a + b + 2);
    if (s != NULL) {
        if (a > 0) {
            memcpy(s, dir, a);
            s[a++] = '/';
        }
        memcpy(s + a, name, b + 1);
    }
    return s;
}

/* scan_dir appends the entries of directory entries[i] (breadth first:
 * the caller walks the growing array). A directory it cannot read is
 * reported and copied empty. Returns 0 or -1 (out of memory). */
static int
scan_dir(struct run *r, size_t i)
{
    int fd = i == 0 ? openat(r->src_root, ".", O_RDONLY | O_DIRECTORY |
                             O_CLOEXEC)
                    : open_under(r->src_root, r->entries[i].rel,
                                 O_RDONLY | O_DIRECTORY, 0);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (d == NULL) {
        if (fd >= 0) {
            close(fd);
        }
        report_errno(r, &r->entries[i], "cannot read directory");
        return 0;
    }
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (errno = 0, de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) {
            continue;
        }
        struct stat st;
        char *rel = join_rel(r->entries[i].rel, de->d_name);
        if (rel == NULL) {
            rc = -1;
        } else if (fstatat(dirfd(d), de->d_name, &st,
                           AT_SYMLINK_NOFOLLOW) != 0) {
            struct entry tmp = {.rel = rel};
            report_errno(r, &tmp, "stat");
            free(rel);
        } else {
            rc = add_entry(r, rel, &st);
        }
    }
    if (rc == 0 && errno != 0) {
        report_errno(r, &r->entries[i], "reading directory");
    }
    closedir(d);
    return rc;
}

/* make_node creates entry e's non-regular node (directory, symlink,
 * FIFO, device, socket), or the sized, empty copy of a file that ranges
 * will fill. Failures are reported. */
static void
make_node(struct run *r, struct entry *e)
{
    char leaf[NAME_MAX + 1];
    int dfd = open_parent(r->dst_root, e->rel, leaf);
    if (dfd < 0) {
        report_errno(r, e, "open parent of copy");
        return;
    }
    const struct stat *st = &e->st;
    struct timespec times[2] = {st->st_atim, st->st_mtim};
    if (S_ISDIR(st->st_mode)) {
        if (mkdirat(dfd, leaf, 0700) != 0) {
            report_errno(r, e, "mkdir");
        }
    } else if (S_ISLNK(st->st_mode)) {
        char sleaf[NAME_MAX + 1];
        int sfd = open_parent(r->src_root, e->rel, sleaf);
        size_t cap = (size_t)st->st_size + 2;
        char *target = malloc(cap);
        ssize_t n = sfd >= 0 && target != NULL
                        ? readlinkat(sfd, sleaf, target, cap) : -1;
        if (n < 0 || (size_t)n >= cap) {
            report_errno(r, e, "readlink");
        } else {
            target[n] = '\0';
            if (symlinkat(target, dfd, leaf) != 0) {
                report_errno(r, e, "symlink");
            } else if (utimensat(dfd, leaf, times, AT_SYMLINK_NOFOLLOW)) {
                report_errno(r, e, "set symlink times");
            }
        }
        free(target);
        if (sfd >= 0) {
            close(sfd);
        }
    } else if (S_ISREG(st->st_mode)) {
        int fd = openat(dfd, leaf, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
                        O_NOFOLLOW, 0600);
        if (fd < 0 || ftruncate(fd, st->st_size) != 0) {
            report_errno(r, e, "create copy");
        }
        if (fd >= 0) {
            close(fd);
        }
    } else if (mknodat(dfd, leaf, (st->st_mode & S_IFMT) | 0600,
                       st->st_rdev) != 0) {
        report_errno(r, e, "mknod");
    } else if (fchmodat(dfd, leaf, st->st_mode & 07777, 0) != 0 ||
               utimensat(dfd, leaf, times, 0) != 0) {
        report_errno(r, e, "set mode and times");
    }
    close(dfd);
}

/* set_dir_meta gives the copy of directory e its mode and times. */
static void
set_dir_meta(struct run *r, struct entry *e)
{
    struct timespec times[2] = {e->st.st_atim, e->st.st_mtim};
    int fd = e->rel[0] == '\0'
                 ? fcntl(r->dst_root, F_DUPFD_CLOEXEC, 0)
                 : open_under(r->dst_root, e->rel, O_RDONLY | O_DIRECTORY, 0);
    if (fd < 0 || fchmod(fd, e->st.st_mode & 07777) != 0 ||
        futimens(fd, times) != 0) {
        report_errno(r, e, "set directory mode and times");
    }
    if (fd >= 0) {
        close(fd);
    }
}

/* set_file_meta gives the copy of a split file e its mode and times
 * (a whole-file task does that itself). */
static void
set_file_meta(struct run *r, struct entry *e)
{
    struct timespec times[2] = {e->st.st_atim, e->st.st_mtim};
    char leaf[NAME_MAX + 1];
    int dfd = open_parent(r->dst_root, e->rel, leaf);
    if (dfd < 0 || fchmodat(dfd, leaf, e->st.st_mode & 07777, 0) != 0 ||
        utimensat(dfd, leaf, times, AT_SYMLINK_NOFOLLOW) != 0) {
        report_errno(r, e, "set mode and times");
    }
    if (dfd >= 0) {
        close(dfd);
    }
}

/*===== Running tasks on the pool ===========================================*/

/* The pool's callbacks (its handler thread): hand the job to main. */
static void
job_finished(struct job *j)
{
    struct run *r = j->run;
    pthread_mutex_lock(&r->mu);
    j->next = r->finished;
    r->finished = j;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

static int
on_task_success(const void *data, size_t len, void *arg)
{
    struct job *j = arg;
    j->err = 0;
    memset(&j->out, 0, sizeof j->out);
    memcpy(&j->out, data, len < sizeof j->out ? len : sizeof j->out);
    job_finished(j);
    return 0;
}

static int
on_task_error(int err, const char *msg, void *arg)
{
    struct job *j = arg;
    j->err = err;
    free(j->msg);
    j->msg = strdup(msg != NULL ? msg : mp_strerror(err));
    job_finished(j);
    return 0;
}

/* submit_job queues job j (one more attempt). Returns 0 or the pool's
 * error. */
static int
submit_job(struct run *r, struct job *j)
{
    const struct entry *e = &r->entries[j->entry];
    size_t rel_len = strlen(e->rel);
    struct task_in t = {
        .kind = j->kind,
        .rel_len = (uint32_t)rel_len,
        .offset = j->offset,
        .length = j->length,
        .mode = e->st.st_mode & 07777,
        .times = {e->st.st_atim, e->st.st_mtim},
    };
    char *in = malloc(sizeof t + rel_len + 1);
    if (in == NULL) {
        return MP_ENOMEM;
    }
    memcpy(in, &t, sizeof t);
    memcpy(in + sizeof t, e->rel, rel_len + 1);
    mp_pool_callbacks_t cb = {on_task_success, on_task_error, j};
    j->attempts++;
    int rc = mp_pool_apply_async_cb(r->pool, run_task, in,
                                    sizeof t + rel_len + 1, &cb, &j->res);
    free(in);
    return rc;
}

/* A phase's outcome handler: called in the main thread for every job
 * that finished for good (succeeded, or failed and reported). */
typedef void (*job_done_fn)(struct run *r, struct job *j);

/* run_jobs runs the n jobs on the pool, at most TASKS_PER_WORKER per
 * worker queued at a time, retrying those whose worker died, and draws
 * the progress bar (label; items: files, whose last job finished). done
 * gets each job once it finished for good. Returns 0, or -1 when the
 * pool failed (reported). */
static int
run_jobs(struct run *r, struct job *jobs, size_t n, const char *label,
         job_done_fn done)
{
    mp_progress_t *bar = NULL;
    mp_progress_opts_t bar_opts = {.total_bytes = r->phase_bytes};
    if (mp_progress_create(&bar, r->phase_files, label, &bar_opts) != 0) {
        bar = NULL;
    }
    size_t window = (size_t)r->jobs * TASKS_PER_WORKER;
    size_t next = 0, in_flight = 0;
    uint64_t files_done = 0, bytes_done = 0;
    struct job *retry = NULL;
    int status = 0;
    /* After a pool failure nothing more is submitted, but the jobs in
     * flight are still waited for: their callbacks point into jobs. */
    while (in_flight > 0 || (status == 0 && (next < n || retry != NULL))) {
        while (status == 0 && in_flight < window &&
               (retry != NULL || next < n)) {
            struct job *j = retry != NULL ? retry : &jobs[next++];
            if (j == retry) {
                retry = retry->next;
            }
            int rc = submit_job(r, j);
            if (rc != 0) {
                note("the pool failed: %s", mp_strerror(rc));
                status = -1;
                if (j->attempts > 1) { /* a retry: its file is lost */
                    report(r, &r->entries[j->entry], "not copied");
                }
            } else {
                in_flight++;
            }
        }
        pthread_mutex_lock(&r->mu);
        if (r->finished == NULL && in_flight > 0) {
            struct timespec until;
            clock_gettime(CLOCK_MONOTONIC, &until);
            until.tv_nsec += 200000000L; /* wake to redraw the bar */
            if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&r->cv, &r->mu, &until);
        }
        struct job *list = r->finished;
        r->finished = NULL;
        pthread_mutex_unlock(&r->mu);
        while (list != NULL) {
            struct job *j = list;
            list = j->next;
            mp_result_destroy(j->res);
            j->res = NULL;
            in_flight--;
            struct entry *e = &r->entries[j->entry];
            if (j->err == MP_EWORKER && j->attempts < MAX_ATTEMPTS &&
                status == 0) {
                note("%s/%s: %s; retrying (attempt %d of %d)", r->src_arg,
                     e->rel, j->msg, j->attempts + 1, MAX_ATTEMPTS);
                j->next = retry;
                retry = j;
                continue;
            }
            if (j->err != 0) {
                report(r, e, j->msg);
            } else {
                bytes_done += j->out.bytes;
            }
            done(r, j);
            if (--e->parts_left == 0) {
                files_done++;
            }
        }
        if (bar != NULL) {
            mp_progress_update(bar, files_done, bytes_done);
        }
    }
    if (bar != NULL) {
        if (status == 0) {
            mp_progress_finish(bar);
        }
        mp_progress_destroy(bar);
    }
    return status;
}

/* make_jobs builds the jobs of a phase: one per regular file up to
 * RANGE_BYTES (kind whole), else one per range (kind part); each file's
 * parts_left counts its jobs. Stores the count in *n. Returns the array
 * (free with free_jobs) or NULL (out of memory). */
static struct job *
make_jobs(struct run *r, uint32_t whole, uint32_t part, size_t *n)
{
    size_t count = 0;
    *n = 0;
    for (size_t i = 0; i < r->nentries; i++) {
        const struct entry *e = &r->entries[i];
        if (S_ISREG(e->st.st_mode) && !e->failed) {
            uint64_t size = (uint64_t)e->st.st_size;
            count += size > RANGE_BYTES ? (size + RANGE_BYTES - 1) / RANGE_BYTES
                                        : 1;
        }
    }
    struct job *jobs = calloc(count ? count : 1, sizeof *jobs);
    if (jobs == NULL) {
        return NULL;
    }
    size_t k = 0;
    r->phase_files = 0;
    r->phase_bytes = 0;
    for (size_t i = 0; i < r->nentries; i++) {
        struct entry *e = &r->entries[i];
        if (!S_ISREG(e->st.st_mode) || e->failed) {
            continue;
        }
        uint64_t size = (uint64_t)e->st.st_size;
        e->parts_left = 0;
        r->phase_files++;
        r->phase_bytes += size;
        if (size <= RANGE_BYTES) {
            /* A whole-file verify reads to the end, whatever the size. */
            jobs[k++] = (struct job){.run = r, .entry = i, .kind = whole,
                                     .length = UINT64_MAX};
            e->parts_left = 1;
            continue;
        }
        for (uint64_t off = 0; off < size; off += RANGE_BYTES) {
            uint64_t len = size - off < RANGE_BYTES ? size - off : RANGE_BYTES;
            jobs[k++] = (struct job){.run = r, .entry = i, .kind = part,
                                     .offset = off, .length = len};
            e->parts_left++;
        }
    }
    *n = count;
    return jobs;
}

static void
free_jobs(struct job *jobs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(jobs[i].msg);
    }
    free(jobs);
}

/* Copy phase: a split file gets its mode and times when its last range
 * is in. */
static void
copy_job_done(struct run *r, struct job *j)
{
    struct entry *e = &r->entries[j->entry];
    if (j->kind == TASK_COPY_RANGE && e->parts_left == 1 && !e->failed) {
        set_file_meta(r, e);
    }
}

/* Verify phase: a mismatch is reported once per file. */
static void
verify_job_done(struct run *r, struct job *j)
{
    struct entry *e = &r->entries[j->entry];
    if (j->err == 0 && j->out.mismatch && !e->failed) {
        char msg[128];
        snprintf(msg, sizeof msg, "the copy differs (checksums %016llx, "
                 "copy %016llx)", (unsigned long long)j->out.src_sum,
                 (unsigned long long)j->out.dst_sum);
        report(r, e, msg);
    }
}

/*===== Command line and the checks before copying ==========================*/

static void
usage(FILE *f)
{
    fprintf(f,
"Usage: mpcopy [-j N] [--verify] SRC DST\n"
"Copy the directory tree SRC with a pool of worker processes, showing\n"
"progress (files, bytes, rate, ETA) on stderr.\n"
"\n"
"  If DST does not exist it becomes the copy (its parent must exist).\n"
"  If DST is a directory the copy is DST/NAME, NAME being SRC's last\n"
"  component (as `cp -r SRC DST` does). mpcopy never overwrites or\n"
"  merges: when the copy's place is taken it refuses (exit 2); it also\n"
"  refuses to copy a tree into itself.\n"
"  Copied: files (holes kept), directories, symlinks (as links, never\n"
"  followed), FIFOs and device nodes; modes and access/modification\n"
"  times (nanoseconds), directories' last. Not kept: owners, hard links\n"
"  (each name gets its own copy), ACLs and extended attributes.\n"
"  A file that cannot be read is reported and skipped; a worker that\n"
"  dies has its task run again (up to %d tries).\n"
"\n"
"  -j, --jobs N   worker processes (default: the CPUs we may use, %d)\n"
"      --verify   after copying, checksum every file and its copy again\n"
"                 in the workers and report any difference\n"
"  -h, --help     show this help\n"
"\n"
"Exit status: 0 copied; 1 some entries failed (reported on stderr);\n"
"2 usage error or refusal (nothing copied).\n",
            MAX_ATTEMPTS, mp_cpu_count());
}

/* usage_error prints msg and a hint to stderr and exits with 2. */
static void
usage_error(const char *msg, const char *arg)
{
    fprintf(stderr, "mpcopy: %s%s%s\nTry 'mpcopy --help'.\n", msg,
            arg != NULL ? ": " : "", arg != NULL ? arg : "");
    exit(2);
}

/* refuse prints "mpcopy: MSG" (formatted) and exits with 2. */
static void __attribute__((format(printf, 1, 2), noreturn))
refuse(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("mpcopy: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

/* parse_args fills r from the command line; exits on --help or errors. */
static void
parse_args(struct run *r, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"jobs", required_argument, NULL, 'j'},
        {"verify", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":j:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'j': {
            char *end;
            errno = 0;
            long v = strtol(optarg, &end, 10);
            if (errno != 0 || end == optarg || *end != '\0' || v < 1 ||
                v > 1024) {
                usage_error("-j wants a number of workers from 1 to 1024",
                            optarg);
            }
            r->jobs = (int)v;
            break;
        }
        case 'v':
            r->verify = true;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        case ':':
            usage_error("option needs a value", argv[optind - 1]);
            break;
        default:
            usage_error("unknown option", argv[optind - 1]);
        }
    }
    if (argc - optind != 2) {
        usage_error("expected two arguments, SRC and DST", NULL);
    }
    r->src_arg = argv[optind];
    /* "dst/" names dst: drop trailing slashes (not a lone "/"). */
    char *target = argv[optind + 1];
    for (size_t n = strlen(target); n > 1 && target[n - 1] == '/'; n--) {
        target[n - 1] = '\0';
    }
    r->target = target;
}

/* prepare_target decides where the copy goes (see usage), refuses a copy
 * into SRC itself (by device and inode of every ancestor of the copy's
 * place) or onto an existing path, and creates the copy's root. Fills
 * g_roots and r's root fds. Exits with 2 on refusal. Returns the copy's
 * path (malloc'd). */
static char *
prepare_target(struct run *r)
{
    struct stat src_st, st;
    if (stat(r->src_arg, &src_st) != 0) {
        refuse("cannot read %s: %s", r->src_arg, strerror(errno));
    }
    if (!S_ISDIR(src_st.st_mode)) {
        refuse("%s: not a directory (mpcopy copies directory trees)",
               r->src_arg);
    }
    if (realpath(r->src_arg, g_roots.src) == NULL) {
        refuse("cannot resolve %s: %s", r->src_arg, strerror(errno));
    }
    char *target;
    if (stat(r->target, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) {
            refuse("%s exists and is not a directory; mpcopy does not "
                   "overwrite", r->target);
        }
        const char *name = strrchr(g_roots.src, '/') + 1;
        if (*name == '\0') {
            refuse("cannot name a copy of %s inside %s", r->src_arg,
                   r->target);
        }
        target = join_rel(r->target, name);
    } else if (errno == ENOENT && lstat(r->target, &st) != 0) {
        target = strdup(r->target);
    } else {
        refuse("%s: %s", r->target, errno == ENOENT
               ? "a dangling symlink is in the way" : strerror(errno));
    }
    if (target == NULL) {
        refuse("out of memory");
    }
    /* The copy's parent: every directory up from it must not be SRC. */
    char *slash = strrchr(target, '/');
    char parent[PATH_MAX];
    if (slash == NULL) {
        strcpy(parent, ".");
    } else if (slash == target) {
        strcpy(parent, "/");
    } else {
        snprintf(parent, sizeof parent, "%.*s", (int)(slash - target),
                 target);
    }
    char real_parent[PATH_MAX];
    if (realpath(parent, real_parent) == NULL) {
        refuse("cannot use %s: %s", parent, strerror(errno));
    }
    for (char *end = real_parent + strlen(real_parent);;) {
        char save = *end;
        *end = '\0';
        bool same = stat(real_parent[0] ? real_parent : "/", &st) == 0 &&
                    st.st_dev == src_st.st_dev && st.st_ino == src_st.st_ino;
        *end = save;
        if (same) {
            refuse("cannot copy %s into itself (%s)", r->src_arg, target);
        }
        if (end == real_parent) {
            break;
        }
        while (end > real_parent && *--end != '/') {
        }
    }
    if (lstat(target, &st) == 0) {
        refuse("%s already exists; mpcopy does not overwrite or merge",
               target);
    }
    if (mkdir(target, 0700) != 0) {
        refuse("cannot create %s: %s", target, strerror(errno));
    }
    if (realpath(target, g_roots.dst) == NULL) {
        refuse("cannot resolve %s: %s", target, strerror(errno));
    }
    r->src_root = open(g_roots.src, O_PATH | O_DIRECTORY | O_CLOEXEC);
    r->dst_root = open(g_roots.dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (r->src_root < 0 || r->dst_root < 0) {
        refuse("cannot open %s: %s", target, strerror(errno));
    }
    return target;
}

/* Prints a byte count with a binary unit. */
static void
print_bytes(FILE *f, uint64_t v)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double d = (double)v;
    size_t u = 0;
    for (; d >= 1024.0 && u + 1 < sizeof units / sizeof *units; u++) {
        d /= 1024.0;
    }
    fprintf(f, u == 0 ? "%.0f %s" : "%.1f %s", d, units[u]);
}

/* scan_tree records SRC's root and, breadth first, everything under it
 * (the array grows as it is walked: no recursion, any depth). Returns 0
 * or -1 (out of memory, reported). */
static int
scan_tree(struct run *r)
{
    struct stat root_st;
    if (fstat(r->src_root, &root_st) != 0 ||
        add_entry(r, strdup(""), &root_st) != 0) {
        note("out of memory");
        return -1;
    }
    for (size_t i = 0; i < r->nentries; i++) {
        if (S_ISDIR(r->entries[i].st.st_mode) && scan_dir(r, i) != 0) {
            note("out of memory");
            return -1;
        }
    }
    return 0;
}

/* make_skeleton creates, parents before children, every entry of the
 * copy that no whole-file task creates, and counts the kinds. */
static void
make_skeleton(struct run *r)
{
    for (size_t i = 1; i < r->nentries; i++) {
        struct entry *e = &r->entries[i];
        mode_t type = e->st.st_mode & S_IFMT;
        r->ndirs += type == S_IFDIR;
        r->nlinks += type == S_IFLNK;
        r->nspecial += type != S_IFDIR && type != S_IFLNK && type != S_IFREG;
        if (type != S_IFREG || (uint64_t)e->st.st_size > RANGE_BYTES) {
            make_node(r, e);
        }
    }
}

/* run_phase makes the jobs of a phase (see make_jobs) and runs them
 * (see run_jobs). Returns 0 or -1 (reported). */
static int
run_phase(struct run *r, uint32_t whole, uint32_t part, const char *label,
          job_done_fn done)
{
    size_t n;
    struct job *jobs = make_jobs(r, whole, part, &n);
    if (jobs == NULL) {
        note("out of memory");
        return -1;
    }
    int status = run_jobs(r, jobs, n, label, done);
    free_jobs(jobs, n);
    return status;
}

/* copy_and_verify runs the copy phase and, with --verify, the verify
 * phase on a pool of r->jobs workers, then stops the pool. Returns 0 or
 * -1 (the pool failed; reported). */
static int
copy_and_verify(struct run *r)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&r->mu, NULL);
    mp_pool_opts_t opts = {.processes = r->jobs, .initializer = worker_init,
                           .initarg = &g_roots};
    int rc = mp_pool_create(&r->pool, &opts);
    int status = -1;
    if (rc != 0) {
        note("cannot start the workers: %s", mp_strerror(rc));
        goto out;
    }
    status = run_phase(r, TASK_COPY_FILE, TASK_COPY_RANGE, "copy",
                           copy_job_done);
    if (status == 0 && r->verify) {
        status = run_phase(r, TASK_VERIFY, TASK_VERIFY, "verify",
                           verify_job_done);
    }
    mp_pool_close(r->pool);
    mp_pool_join(r->pool, MP_WAIT_FOREVER);
    mp_pool_destroy(r->pool);
out:
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    return status;
}

int
main(int argc, char **argv)
{
    struct run r = {.jobs = 0};
    parse_args(&r, argc, argv);
    if (r.jobs == 0) {
        r.jobs = mp_cpu_count();
    }
    char *target = prepare_target(&r);
    if (scan_tree(&r) != 0) {
        return 1;
    }
    make_skeleton(&r);
    if (copy_and_verify(&r) != 0) {
        r.failed = true;
    }
    /* Directories last, deepest first (children follow parents). */
    for (size_t i = r.nentries; i-- > 0;) {
        if (S_ISDIR(r.entries[i].st.st_mode)) {
            set_dir_meta(&r, &r.entries[i]);
        }
    }
    printf("mpcopy: files %llu (", (unsigned long long)r.nfiles);
    print_bytes(stdout, r.file_bytes);
    printf("), directories %zu, symlinks %zu, other %zu,", r.ndirs + 1,
           r.nlinks, r.nspecial);
    printf(" %s %s%s\n", r.verify ? "copied and verified to" : "copied to",
           target, r.failed ? "; some failed (see above)" : "");
    for (size_t i = 0; i < r.nentries; i++) {
        free(r.entries[i].rel);
    }
    free(r.entries);
    free(target);
    close(r.src_root);
    close(r.dst_root);
    return r.failed ? 1 : 0;
}

#endif /* MPCOPY_NO_MAIN */
