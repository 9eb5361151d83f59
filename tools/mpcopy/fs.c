/* SPDX-License-Identifier: MIT */
/* fs.c - every file-system call mpcopy makes for the copy's data and
 * metadata, in one place (mpcopy is a tool outside the library, so it does
 * not go through src/platform/; the scan's readdir and the command line's
 * realpath stay with them in scan.c and main.c).
 *
 * - Paths: every *at() call goes through open_parent(), which walks a
 *   path one component at a time from an open root without following
 *   symlinks, so no path handed to the kernel is longer than one name, and
 *   keeps the last directory it reached for the next entry in it.
 * - Data: a whole file is first cloned (FICLONE: shared extents, on btrfs,
 *   XFS and the like); else, and for ranges, each data segment of the
 *   source (SEEK_DATA/SEEK_HOLE) goes by copy_file_range (in the kernel,
 *   possibly a reflink or a server-side copy); where that is refused
 *   (EXDEV, EOPNOTSUPP, ...) through a user buffer. Holes are never
 *   written, so a file created sparse stays sparse.
 * - Metadata as `cp -a` keeps it: owners (when run as root), extended
 *   attributes with --xattrs (ACLs are system.posix_acl_* attributes),
 *   mode, then times last (the --resume quick check trusts an mtime only
 *   once everything before it is done), nodes, symlinks and hard links. */
#include "mpcopy.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/xattr.h>
#include <unistd.h>

struct roots g_roots = {.src_fd = -1, .dst_fd = -1};

/*===== Paths under a root ==================================================*/

/* The directory open_parent walked to last under each of the two roots,
 * kept open (O_PATH): the scan lists the entries of a directory together,
 * so the next entry is most often in the same one, and then costs one dup
 * instead of a walk from the root (an openat and a close per component,
 * twice per file: its source and its copy). mpcopy never removes or renames
 * a directory, so a kept fd names what a new walk would find. Per process:
 * a forked worker inherits the entries with their fds; an exec'd one starts
 * empty. */
static struct last_dir {
    int rootfd; /* -1: empty */
    int fd;
    size_t len; /* of path, the parent part of a rel */
    char path[PATH_MAX];
} g_last_dir[2] = {{.rootfd = -1, .fd = -1}, {.rootfd = -1, .fd = -1}};

/* The kept entry for rootfd: the one that holds it, else a free one, else
 * the second (mpcopy has two roots, so that is never needed). */
static struct last_dir *
last_dir_slot(int rootfd)
{
    for (int i = 0; i < 2; i++) {
        if (g_last_dir[i].rootfd == rootfd) {
            return &g_last_dir[i];
        }
    }
    return g_last_dir[0].rootfd == -1 ? &g_last_dir[0] : &g_last_dir[1];
}

/* Keeps a dup of fd as the directory that the first parent_len bytes of
 * rel name under rootfd (nothing is kept when the dup fails). */
static void
last_dir_keep(int rootfd, const char *rel, size_t parent_len, int fd)
{
    struct last_dir *d = last_dir_slot(rootfd);
    int kept = parent_len < sizeof d->path ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;
    if (kept < 0) {
        return;
    }
    if (d->fd >= 0) {
        close(d->fd);
    }
    d->rootfd = rootfd;
    d->fd = kept;
    d->len = parent_len;
    memcpy(d->path, rel, parent_len);
}

/* open_parent opens (O_PATH) the directory that holds the last component
 * of rel, a '/'-separated path under the directory rootfd, walking it one
 * component at a time without following symlinks, so that any depth
 * works (or taking a dup of the directory it walked to last, when that is
 * the same one). Stores the last component in leaf (NAME_MAX + 1 bytes).
 * Returns the new fd (the caller closes it) or -1 with errno set. */
int
open_parent(int rootfd, const char *rel, char *leaf)
{
    const char *last = strrchr(rel, '/');
    size_t parent_len = last != NULL ? (size_t)(last - rel) : 0;
    const char *name = last != NULL ? last + 1 : rel;
    if (strlen(name) > NAME_MAX) {
        errno = ENAMETOOLONG;
        return -1;
    }
    const struct last_dir *d = last_dir_slot(rootfd);
    if (parent_len > 0 && d->rootfd == rootfd && d->len == parent_len &&
        memcmp(d->path, rel, parent_len) == 0) {
        int fd = fcntl(d->fd, F_DUPFD_CLOEXEC, 0);
        if (fd >= 0) {
            strcpy(leaf, name);
            return fd;
        }
    }
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
            if (parent_len > 0) {
                last_dir_keep(rootfd, rel, parent_len, fd);
            }
            return fd;
        }
        int next =
            openat(fd, leaf, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int saved = errno;
        close(fd);
        errno = saved;
        fd = next;
        p = slash + 1;
    }
    return -1;
}

/* open_under opens rel under rootfd (see open_parent; "" is the root
 * itself) with flags and, for O_CREAT, mode. Returns the fd or -1 with
 * errno set. */
int
open_under(int rootfd, const char *rel, int flags, mode_t mode)
{
    if (rel[0] == '\0') {
        return openat(rootfd, ".", flags | O_CLOEXEC);
    }
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

/* The copy's path for the source path rel: the same, except when SRC is
 * a single file that the copy names otherwise. */
static const char *
dst_rel(const char *rel)
{
    return g_roots.dst_name[0] != '\0' ? g_roots.dst_name : rel;
}

/* dst_parent is open_parent for the copy of rel under the copy's root. */
int
dst_parent(const char *rel, char *leaf)
{
    return open_parent(g_roots.dst_fd, dst_rel(rel), leaf);
}

/* open_source opens a regular file of the source for reading, without
 * updating its access time where the kernel lets us (O_NOATIME needs
 * ownership), and without blocking should it have become a FIFO, and
 * stores its status in *st. Returns the fd or -1 with errno set (EINVAL:
 * no longer a regular file). */
int
open_source(const char *rel, struct stat *st)
{
    int flags = O_RDONLY | O_NONBLOCK;
    int fd = open_under(g_roots.src_fd, rel, flags | O_NOATIME, 0);
    if (fd < 0 && errno == EPERM) {
        fd = open_under(g_roots.src_fd, rel, flags, 0);
    }
    if (fd >= 0 && (fstat(fd, st) != 0 || !S_ISREG(st->st_mode))) {
        close(fd);
        errno = EINVAL;
        return -1;
    }
    return fd;
}

/* start_reading asks the kernel to read the first len bytes of the open
 * file fd into the page cache now, without waiting: a batch's files are
 * all asked for before the first is copied, so a cold disk gets many
 * reads at once (in the order it likes) instead of one file at a time. */
void
start_reading(int fd, uint64_t len)
{
    if (len > 0) {
        (void)posix_fadvise(fd, 0, (off_t)len, POSIX_FADV_WILLNEED);
    }
}

/* open_copy opens the existing copy of rel with flags (O_NOATIME is
 * dropped where it is not allowed). Returns the fd or -1 with errno set. */
int
open_copy(const char *rel, int flags)
{
    int fd = open_under(g_roots.dst_fd, dst_rel(rel), flags, 0);
    if (fd < 0 && errno == EPERM && (flags & O_NOATIME)) {
        fd = open_under(g_roots.dst_fd, dst_rel(rel), flags & ~O_NOATIME, 0);
    }
    return fd;
}

/* create_copy creates the copy of rel (mode 0600 until its task sets the
 * final one) and returns its fd, or -1 with errno set. What an earlier,
 * killed attempt (or an interrupted run) left there is unlinked and the
 * copy created anew, so a retry starts from nothing. */
int
create_copy(const char *rel)
{
    char leaf[NAME_MAX + 1];
    int dfd = dst_parent(rel, leaf);
    if (dfd < 0) {
        return -1;
    }
    const int flags = O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW;
    int fd = openat(dfd, leaf, flags, 0600);
    if (fd < 0 && errno == EEXIST && unlinkat(dfd, leaf, 0) == 0) {
        fd = openat(dfd, leaf, flags, 0600);
    }
    int saved = errno;
    close(dfd);
    errno = saved;
    return fd;
}

/*===== Data ================================================================*/

/* clone_file makes dst (empty, writable) share all of src's extents
 * (FICLONE). Returns 0, or -1 with errno set when the file system cannot
 * (EOPNOTSUPP, EXDEV, EINVAL: the caller copies instead). A refusal that
 * holds for every file of these two roots (EOPNOTSUPP, EXDEV, ENOTTY) is
 * remembered by the process, which then stops asking: ext4, say, never
 * clones. */
int
clone_file(int src, int dst)
{
    static bool no_clone; /* refused for every file: not asked again */
    if (no_clone) {
        errno = EOPNOTSUPP;
        return -1;
    }
    if (ioctl(dst, FICLONE, src) == 0) {
        return 0;
    }
    no_clone = errno == EOPNOTSUPP || errno == EXDEV || errno == ENOTTY;
    return -1;
}

/* Set in a process once copy_file_range was refused for a reason that
 * holds for every file (no such call, or not between these file systems):
 * the rest goes through the buffer without asking again. */
static bool g_no_copy_range;

/* copy_segment copies [pos, end) of src to the same offsets of dst: by
 * copy_file_range while it works, else through buf (IO_CHUNK bytes).
 * Returns the bytes copied (fewer when the source shrank) or -1 with
 * errno set and *what naming the step. */
static int64_t
copy_segment(int src, int dst, uint64_t pos, uint64_t end, char *buf,
             unsigned *ways, const char **what)
{
    uint64_t start = pos;
    while (pos < end && !g_no_copy_range) {
        loff_t in = (loff_t)pos, out = (loff_t)pos;
        size_t want =
            end - pos < (uint64_t)1 << 30 ? end - pos : (size_t)1 << 30;
        ssize_t n = copy_file_range(src, &in, dst, &out, want, 0);
        if (n > 0) {
            pos += (uint64_t)n;
            *ways |= WAY_RANGE;
            continue;
        }
        if (n == 0) {
            return (int64_t)(pos - start); /* the source shrank */
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno != ENOSYS && errno != EXDEV && errno != EOPNOTSUPP &&
            errno != EINVAL && errno != EBADF && errno != ETXTBSY) {
            *what = "copy";
            return -1;
        }
        g_no_copy_range =
            errno == ENOSYS || errno == EXDEV || errno == EOPNOTSUPP;
        break; /* this file: the buffer */
    }
    while (pos < end) {
        size_t want = end - pos < IO_CHUNK ? (size_t)(end - pos) : IO_CHUNK;
        ssize_t n = pread(src, buf, want, (off_t)pos);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            if (n == 0) {
                break; /* the source shrank */
            }
            *what = "read";
            return -1;
        }
        for (ssize_t done = 0; done < n;) {
            ssize_t w =
                pwrite(dst, buf + done, (size_t)(n - done), (off_t)pos + done);
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
        *ways |= WAY_BUFFER;
    }
    return (int64_t)(pos - start);
}

/* copy_data copies the bytes of src in [offset, end) to the same offsets
 * of dst, skipping the source's holes (left unwritten, so they stay holes
 * in a file created sparse), unless the caller knows it has none (dense:
 * it takes as many blocks as its size needs, cp's own test; that saves
 * the two lseeks that look for holes). Idempotent. *ways gets the WAY_*
 * used.
 * Returns the bytes written, or -1 with errno set and *what naming the
 * failed step. */
int64_t
copy_data(int src, int dst, uint64_t offset, uint64_t end, bool dense,
          char *buf, unsigned *ways, const char **what)
{
    if (dense) {
        return offset < end
                   ? copy_segment(src, dst, offset, end, buf, ways, what)
                   : 0;
    }
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
        if ((uint64_t)data >= end) {
            break;
        }
        uint64_t seg_end = (uint64_t)hole < end ? (uint64_t)hole : end;
        int64_t n =
            copy_segment(src, dst, (uint64_t)data, seg_end, buf, ways, what);
        if (n < 0) {
            return -1;
        }
        written += n;
        if ((uint64_t)data + (uint64_t)n < seg_end) {
            break; /* the source shrank */
        }
        pos = seg_end;
    }
    return written;
}

/* hole_ahead tells whether fd has no data in [pos, pos + len): a hole,
 * or the end of the file. *next_data caches the next data offset found
 * (start it at 0). Where SEEK_DATA is not supported, all is data. */
bool
hole_ahead(int fd, uint64_t pos, uint64_t len, uint64_t *next_data)
{
    if (*next_data <= pos) {
        off_t d = lseek(fd, (off_t)pos, SEEK_DATA);
        *next_data = d >= 0 ? (uint64_t)d : errno == ENXIO ? UINT64_MAX : pos;
    }
    return *next_data >= pos + len;
}

/* pread_full reads up to len bytes of fd at pos into buf, fewer only at
 * the end of the file. Returns the bytes read or -1 with errno set. */
ssize_t
pread_full(int fd, char *buf, size_t len, uint64_t pos)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = pread(fd, buf + got, len - got, (off_t)(pos + got));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return -1;
        }
        if (n == 0) {
            break;
        }
        got += (size_t)n;
    }
    return (ssize_t)got;
}

/*===== Metadata ============================================================*/

/* copy_xattrs gives dst every extended attribute of src that this process
 * may read (ACLs included: system.posix_acl_access and _default). buf
 * holds 2 * XATTR_BUF bytes. A source file system without attributes
 * has none to copy. Returns 0 or -1 with errno set and *what naming the
 * step. */
int
copy_xattrs(int src, int dst, char *buf, const char **what)
{
    char *names = buf, *value = buf + XATTR_BUF;
    ssize_t len = flistxattr(src, names, XATTR_BUF);
    if (len < 0) {
        if (errno == ENOTSUP) {
            return 0;
        }
        *what = "list extended attributes";
        return -1;
    }
    for (ssize_t i = 0; i < len; i += (ssize_t)strlen(names + i) + 1) {
        const char *name = names + i;
        ssize_t n = fgetxattr(src, name, value, XATTR_BUF);
        if (n < 0 && errno == ENODATA) {
            continue; /* removed meanwhile */
        }
        if (n < 0) {
            *what = "read extended attribute";
            return -1;
        }
        if (fsetxattr(dst, name, value, (size_t)n, 0) != 0) {
            *what = "set extended attribute";
            return -1;
        }
    }
    return 0;
}

/* set_meta_fd gives the open copy fd its owner (when copying owners),
 * mode and, last, times. Returns 0 or -1 with errno set and *what. */
int
set_meta_fd(int fd, const struct meta *m, const char **what)
{
    if (g_roots.owners && fchown(fd, m->uid, m->gid) != 0) {
        *what = "set owner";
        return -1;
    }
    if (fchmod(fd, m->mode) != 0 || futimens(fd, m->times) != 0) {
        *what = "set mode and times";
        return -1;
    }
    return 0;
}

/* set_path_meta gives the copy of rel (a directory or a regular file,
 * opened by path: the parent's way, after the workers filled it) its
 * extended attributes (with --xattrs), owner, mode and times. Returns 0
 * or -1 with errno set and *what naming the step. */
int
set_path_meta(const char *rel, const struct meta *m, bool is_dir,
              const char **what)
{
    int flags = O_RDONLY | O_NONBLOCK | (is_dir ? O_DIRECTORY : 0);
    int fd = open_copy(rel, flags);
    if (fd < 0) {
        *what = "open copy";
        return -1;
    }
    int rc = 0;
    if (g_roots.xattrs) {
        int src = open_under(g_roots.src_fd, rel, flags, 0);
        char *buf = src >= 0 ? malloc(2 * XATTR_BUF) : NULL;
        if (src < 0 || buf == NULL) {
            *what = "open";
            rc = -1;
        } else {
            rc = copy_xattrs(src, fd, buf, what);
        }
        int saved = errno;
        free(buf);
        if (src >= 0) {
            close(src);
        }
        errno = saved;
    }
    if (rc == 0) {
        rc = set_meta_fd(fd, m, what);
    }
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

/* copy_is_whole is rsync's quick check for --resume: the copy of rel is
 * a regular file of src_st's size and modification time (to the
 * nanosecond). A copy gets its mtime last, so one interrupted mid-way
 * never passes. */
bool
copy_is_whole(const char *rel, const struct stat *src_st)
{
    char leaf[NAME_MAX + 1];
    int dfd = dst_parent(rel, leaf);
    struct stat st;
    bool whole = dfd >= 0 &&
                 fstatat(dfd, leaf, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                 S_ISREG(st.st_mode) && st.st_size == src_st->st_size &&
                 st.st_mtim.tv_sec == src_st->st_mtim.tv_sec &&
                 st.st_mtim.tv_nsec == src_st->st_mtim.tv_nsec;
    if (dfd >= 0) {
        close(dfd);
    }
    return whole;
}

/*===== Nodes (the parent's skeleton) =======================================*/

/* clear_place removes what an interrupted run left at leaf (a directory
 * is kept: only a non-directory can be replaced). 0 or -1 with errno. */
static int
clear_place(int dfd, const char *leaf)
{
    return unlinkat(dfd, leaf, 0) == 0 || errno == ENOENT ? 0 : -1;
}

/* make_dir creates the copy of directory rel with mode 0700 while it is
 * filled. With resume an existing directory is taken (and made 0700).
 * Returns 0 or -1 with errno set. */
int
make_dir(const char *rel, bool resume)
{
    char leaf[NAME_MAX + 1];
    int dfd = dst_parent(rel, leaf);
    if (dfd < 0) {
        return -1;
    }
    int rc = mkdirat(dfd, leaf, 0700);
    struct stat st;
    if (rc != 0 && errno == EEXIST && resume &&
        fstatat(dfd, leaf, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        rc = S_ISDIR(st.st_mode) ? fchmodat(dfd, leaf, 0700, 0) : -1;
        errno = S_ISDIR(st.st_mode) ? errno : EEXIST;
    }
    int saved = errno;
    close(dfd);
    errno = saved;
    return rc;
}

/* make_symlink copies the symlink rel (never followed) with its owner
 * and times. With resume, what is in its place is replaced. Returns 0 or
 * -1 with errno set and *what naming the step. */
int
make_symlink(const char *rel, const struct stat *st, const struct meta *m,
             bool resume, const char **what)
{
    char leaf[NAME_MAX + 1], sleaf[NAME_MAX + 1];
    int dfd = dst_parent(rel, leaf);
    int sfd = open_parent(g_roots.src_fd, rel, sleaf);
    size_t cap = (size_t)st->st_size + 2;
    char *target = malloc(cap);
    ssize_t n = -1;
    int rc = -1;
    *what = "readlink";
    if (dfd >= 0 && sfd >= 0 && target != NULL) {
        n = readlinkat(sfd, sleaf, target, cap);
    }
    if (n >= 0 && (size_t)n < cap) {
        target[n] = '\0';
        *what = "symlink";
        if ((!resume || clear_place(dfd, leaf) == 0) &&
            symlinkat(target, dfd, leaf) == 0) {
            rc = 0;
            if (g_roots.owners &&
                fchownat(dfd, leaf, m->uid, m->gid, AT_SYMLINK_NOFOLLOW)) {
                *what = "set symlink owner";
                rc = -1;
            } else if (utimensat(dfd, leaf, m->times, AT_SYMLINK_NOFOLLOW)) {
                *what = "set symlink times";
                rc = -1;
            }
        }
    }
    int saved = errno;
    free(target);
    if (sfd >= 0) {
        close(sfd);
    }
    if (dfd >= 0) {
        close(dfd);
    }
    errno = saved;
    return rc;
}

/* make_special creates the FIFO, device or socket node rel with the
 * metadata m. With resume, what is in its place is replaced. Returns 0 or
 * -1 with errno set and *what naming the step. */
int
make_special(const char *rel, const struct stat *st, const struct meta *m,
             bool resume, const char **what)
{
    char leaf[NAME_MAX + 1];
    int dfd = dst_parent(rel, leaf);
    int rc = -1;
    *what = "mknod";
    if (dfd >= 0 && (!resume || clear_place(dfd, leaf) == 0) &&
        mknodat(dfd, leaf, (st->st_mode & S_IFMT) | 0600, st->st_rdev) == 0) {
        rc = 0;
        if (g_roots.owners && fchownat(dfd, leaf, m->uid, m->gid, 0) != 0) {
            *what = "set owner";
            rc = -1;
        } else if (fchmodat(dfd, leaf, m->mode, 0) != 0 ||
                   utimensat(dfd, leaf, m->times, 0) != 0) {
            *what = "set mode and times";
            rc = -1;
        }
    }
    int saved = errno;
    if (dfd >= 0) {
        close(dfd);
    }
    errno = saved;
    return rc;
}

/* make_sized_file creates the empty copy of rel at its final size (a
 * hole), for the range tasks to fill. With resume, an earlier partial
 * copy is replaced. Returns 0 or -1 with errno set. */
int
make_sized_file(const char *rel, uint64_t size, bool resume)
{
    char leaf[NAME_MAX + 1];
    int dfd = dst_parent(rel, leaf);
    int fd = -1, rc = -1;
    if (dfd >= 0 && (!resume || clear_place(dfd, leaf) == 0)) {
        fd = openat(dfd, leaf,
                    O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    }
    if (fd >= 0 && ftruncate(fd, (off_t)size) == 0) {
        rc = 0;
    }
    int saved = errno;
    if (fd >= 0) {
        close(fd);
    }
    if (dfd >= 0) {
        close(dfd);
    }
    errno = saved;
    return rc;
}

/* make_hard_link makes rel in the copy a second name of the copy of
 * to_rel (both under the copy's root). With resume, a name that already
 * is that file is kept and anything else there replaced. Returns 0 or -1
 * with errno set. */
int
make_hard_link(const char *to_rel, const char *rel, bool resume)
{
    char to_leaf[NAME_MAX + 1], leaf[NAME_MAX + 1];
    int tfd = dst_parent(to_rel, to_leaf);
    int dfd = tfd >= 0 ? dst_parent(rel, leaf) : -1;
    int rc = -1;
    struct stat a, b;
    if (dfd >= 0 && resume &&
        fstatat(tfd, to_leaf, &a, AT_SYMLINK_NOFOLLOW) == 0 &&
        fstatat(dfd, leaf, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
        a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
        rc = 0;
    } else if (dfd >= 0 && (!resume || clear_place(dfd, leaf) == 0)) {
        rc = linkat(tfd, to_leaf, dfd, leaf, 0);
    }
    int saved = errno;
    if (dfd >= 0) {
        close(dfd);
    }
    if (tfd >= 0) {
        close(tfd);
    }
    errno = saved;
    return rc;
}
