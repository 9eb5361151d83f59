/* SPDX-License-Identifier: MIT */
/* mpcopy.h - what the pieces of mpcopy share: its limits, the roots the
 * workers inherit, the task records that travel to the workers, the
 * parent's picture of the tree (struct entry, struct run, struct job),
 * and the functions each file offers the others. Which file holds what:
 *
 *   fs.c       every file-system call made for the copy's data and
 *              metadata (opening under the roots, FICLONE,
 *              copy_file_range, the buffer copy, holes, owners, modes,
 *              times, extended attributes, nodes, hard links)
 *   verify.c   sum64, the --verify checksum, and verify_range
 *   tasks.c    the tasks the workers run (copy a file, a range, verify)
 *   scan.c     the parent's scan of SRC (a directory at a time, while
 *              the workers copy), hard-link groups, the --resume quick
 *              check and the nodes the parent makes itself
 *   jobs.c     running the tasks on the pool as the scan finds them,
 *              retries, the signals that interrupt a run and the report
 *              of what is left partial
 *   progress.c the status line (width-fitted, with a scanning phase)
 *   main.c     the command line, where the copy goes, and main()
 */
#ifndef MPCOPY_H
#define MPCOPY_H

#include <multiproc.h>

#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

/* Files bigger than this are split into ranges of this size. */
#define RANGE_BYTES ((uint64_t)32 << 20)
/* Bytes per read()/write() in the workers (a multiple of SUM64_BLOCK). */
#define IO_CHUNK ((size_t)1 << 20)
/* Room for a file's list of extended-attribute names, and for one value
 * (the kernel's XATTR_LIST_MAX and XATTR_SIZE_MAX). */
#define XATTR_BUF ((size_t)64 << 10)
/* Tries per task when its worker dies. */
#define MAX_ATTEMPTS 3
/* Tasks queued per worker, so that a freed worker finds the next one. */
#define TASKS_PER_WORKER 4
/* Whole files go to the workers in batches of up to BATCH_FILES files and
 * BATCH_BYTES bytes: one task per small file made the pool's hand-overs
 * (two wake-ups a file) cost more CPU than copying the file. */
#define BATCH_FILES 32
#define BATCH_BYTES ((uint64_t)4 << 20)

/*===== verify.c ============================================================*/

#define SUM64_BLOCK 32

/* A running sum64 (see verify.c). */
struct sum64 {
    uint64_t lane[4];
    uint64_t total;                  /* bytes taken so far */
    unsigned char tail[SUM64_BLOCK]; /* bytes of an incomplete block */
    size_t tail_len;
};

/* The result of one file of a task (tasks.c writes one per file of the
 * task, jobs.c reads them). */
struct task_out {
    uint64_t bytes;            /* bytes of the file processed */
    uint64_t src_sum, dst_sum; /* TASK_VERIFY: of the first chunk that
                                  differs */
    uint32_t mismatch;         /* TASK_VERIFY: 1 when the copy differs */
    uint32_t ways;             /* copies: the WAY_* that moved the data */
    int32_t err;               /* 0, or the errno of the step that failed */
    char what[28];             /* that step ("open", "create copy"...) */
};

/* sum64_init starts an empty stream; sum64_update appends len bytes at
 * buf (any split of a stream gives the same sum); sum64_final returns the
 * stream's checksum (s is spent). */
void sum64_init(struct sum64 *s);
void sum64_update(struct sum64 *s, const void *buf, size_t len);
uint64_t sum64_final(struct sum64 *s);

/* verify_range compares [offset, offset + length) (clipped to the
 * source's size) of the open files src and dst, IO_CHUNK bytes at a
 * time: the checksums of each chunk of both must match; a chunk that is
 * a hole in both is equal without reading it. Fills *res: bytes
 * compared; mismatch set when a chunk or the sizes differ, with the
 * checksums of the first differing chunk (else both 0). Returns 0, or -1
 * with errno set and *what naming the step. buf holds IO_CHUNK bytes. */
int verify_range(int src, int dst, uint64_t offset, uint64_t length, char *buf,
                 struct task_out *res, const char **what);

/*===== fs.c ================================================================*/

/* The two roots. Every path handed around is relative to them ("rel").
 * The workers inherit this (fork copies it) and open the fds in
 * worker_init. When SRC is a single file, the roots are the directories
 * that hold it and its copy, and dst_name is the copy's name (the copy may
 * be named otherwise than the source); else dst_name is empty. */
struct roots {
    char src[PATH_MAX], dst[PATH_MAX]; /* absolute paths */
    char dst_name[NAME_MAX + 1];       /* single file: the copy's name */
    int src_fd, dst_fd;                /* O_PATH fds */
    bool owners;                       /* copy owners (we are root) */
    bool xattrs;                       /* --xattrs */
};
extern struct roots g_roots;

/* The metadata a copy gets. */
struct meta {
    uint32_t mode;            /* permissions (07777) */
    uint32_t uid, gid;        /* used when g_roots.owners */
    struct timespec times[2]; /* atime, mtime */
};

/* How copy_data moved the bytes; counted for the tests and the summary. */
enum copy_way { WAY_CLONE = 1, WAY_RANGE = 2, WAY_BUFFER = 4 };

int open_parent(int rootfd, const char *rel, char *leaf);
int open_under(int rootfd, const char *rel, int flags, mode_t mode);
int open_source(const char *rel, struct stat *st);
void start_reading(int fd, uint64_t len);
int open_copy(const char *rel, int flags);
int create_copy(const char *rel);
int dst_parent(const char *rel, char *leaf);
int clone_file(int src, int dst);
int64_t copy_data(int src, int dst, uint64_t offset, uint64_t end, bool dense,
                  char *buf, unsigned *ways, const char **what);
bool hole_ahead(int fd, uint64_t pos, uint64_t len, uint64_t *next_data);
ssize_t pread_full(int fd, char *buf, size_t len, uint64_t pos);
int copy_xattrs(int src, int dst, char *buf, const char **what);
int set_meta_fd(int fd, const struct meta *m, const char **what);
int make_dir(const char *rel, bool resume);
int make_symlink(const char *rel, const struct stat *st, const struct meta *m,
                 bool resume, const char **what);
int make_special(const char *rel, const struct stat *st, const struct meta *m,
                 bool resume, const char **what);
int make_sized_file(const char *rel, uint64_t size, bool resume);
int make_hard_link(const char *to_rel, const char *rel, bool resume);
int set_path_meta(const char *rel, const struct meta *m, bool is_dir,
                  const char **what);
bool copy_is_whole(const char *rel, const struct stat *src_st);

/*===== tasks.c =============================================================*/

enum task_kind {
    TASK_COPY_FILE = 1,  /* create the copy, copy all, set the metadata */
    TASK_COPY_RANGE = 2, /* copy [offset, offset + length) into the copy */
    TASK_VERIFY = 3,     /* checksum [offset, offset + length) of both */
};

/* A task's input: one or more records (a batch of whole files, or one
 * range), each this header, then rel_len bytes of the path under the
 * roots and a NUL. */
struct task_in {
    uint32_t kind;
    uint32_t rel_len;
    uint64_t offset, length;
    struct meta meta; /* TASK_COPY_FILE */
};

/* One record of a task, decoded; for a whole-file copy its source is
 * opened (and its reading started) before the first record runs. */
struct record {
    struct task_in t;
    const char *rel;
    int src;        /* TASK_COPY_FILE: the open source, or -1 */
    int open_errno; /* and why it is -1 */
    struct stat st; /* its status */
};

int worker_init(void *arg);
size_t decode_records(const void *in, size_t in_len, struct record *recs);
int run_task(const void *in, size_t in_len, mp_pool_out_t *out);

/*===== The parent: scan.c, jobs.c, main.c ==================================*/

/* One entry of the source tree. */
struct entry {
    char *rel;           /* path under the roots; "" is the root itself */
    struct stat st;      /* lstat() of the source */
    size_t link_to;      /* hard link: index of the name copied (else 0) */
    uint32_t parts_left; /* regular files: copy tasks not yet finished */
    bool is_link;        /* a second name of a file: made by linkat */
    bool whole;          /* --resume: the copy is already whole */
    bool failed;         /* reported; leaves exit status 1 */
    bool started;        /* a copy task of it ran or runs */
};

/* The first names of the files met under several names (hard links):
 * an open-addressing table of entry indices plus one (0: empty slot),
 * keyed by device and inode. */
struct link_table {
    size_t *slot;
    size_t cap, used; /* cap: a power of two, or 0 */
};

/* The whole run: options, the tree, the pool, the counters. */
struct run {
    int jobs;
    bool verify, resume;
    const char *src_arg, *target; /* as the user wrote them */
    char *copy;                   /* the copy's path as shown to the user */
    bool single;                  /* SRC is one file, not a tree */
    int src_root, dst_root;       /* parent's fds of the two roots */
    struct entry *entries;
    size_t nentries, cap;
    size_t scan_next; /* the scan: next entry to look at for a directory */
    size_t handed;    /* entries scan_step has handed out */
    bool scan_done;   /* every directory was read */
    struct link_table first_names; /* hard links (scan.c) */
    uint64_t nfiles, file_bytes;   /* regular files and their size */
    uint64_t phase_files;   /* files the current phase works on (so far) */
    uint64_t phase_bytes;   /* and their bytes (sizes, holes too) */
    uint64_t skipped_files; /* --resume: found whole */
    uint64_t files_done;    /* the current phase's files done */
    unsigned ways;          /* the WAY_* the copy tasks used */
    size_t ndirs, nlinks, nspecial, nhard;
    bool failed;
    const char *phase; /* what runs: "start", "copy", "verify" */
    mp_pool_t *pool;
    /* Tasks finished by the pool's callbacks, for the main thread. */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct job *finished;
};

/* The signal that interrupted the run (0: none); set by the handler. */
extern volatile sig_atomic_t g_signal;

void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void vnote(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));
void report(struct run *r, struct entry *e, const char *msg);
void report_errno(struct run *r, struct entry *e, const char *step);
char *join_rel(const char *dir, const char *name);
struct meta entry_meta(const struct entry *e);

int scan_root(struct run *r);
int scan_single(struct run *r, const char *name);
int scan_step(struct run *r, size_t *from, size_t *to);
void make_nodes(struct run *r, size_t from, size_t to);
void make_hard_links(struct run *r);
void free_tree(struct run *r);
void set_filled_meta(struct run *r, struct entry *e);

int copy_and_verify(struct run *r);
void report_interrupted(struct run *r);
void catch_signals(void);

/*===== progress.c ==========================================================*/

/* What a status line shows (see format_status). */
struct status_view {
    const char *label; /* "copy", "verify" */
    bool scanning;     /* the scan goes on: totals are those found so far */
    uint64_t files, total_files;
    uint64_t bytes, total_bytes;
    double elapsed; /* seconds since the phase began */
};

size_t format_status(char *buf, size_t width, const struct status_view *v);
void format_bytes(char *buf, size_t len, double v);
int terminal_width(int fd);
void status_begin(const char *label, bool scanning, uint64_t total_files,
                  uint64_t total_bytes);
void status_totals(bool scanning, uint64_t total_files, uint64_t total_bytes);
void status_update(uint64_t files, uint64_t bytes);
void status_end(bool print_final);
void status_clear(void);

#endif /* MPCOPY_H */
