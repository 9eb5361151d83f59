/* SPDX-License-Identifier: MIT */
/* scan.c - the parent's picture of the source and the copy's skeleton:
 * the breadth-first scan of SRC (a growing array, no recursion, shown on
 * the status line while it runs), the hard-link groups (a file's second
 * and later names become links to the first one's copy, as `cp -a`
 * keeps them), the --resume quick check (a copy already whole, by size
 * and mtime, is kept), the nodes the parent creates itself (directories,
 * symlinks, FIFOs and devices, the files that ranges will fill) and the
 * metadata it gives directories and split files once they are filled. */
#include "mpcopy.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* join_rel returns "dir/name" (or "name" under the root), malloc'd. */
char *
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

/* entry_meta is the metadata e's copy gets. */
struct meta
entry_meta(const struct entry *e)
{
    return (struct meta){
        .mode = e->st.st_mode & 07777,
        .uid = e->st.st_uid,
        .gid = e->st.st_gid,
        .times = {e->st.st_atim, e->st.st_mtim},
    };
}

/* add_entry appends rel (taken) with its stat. Returns 0 or -1 (ENOMEM). */
static int
add_entry(struct run *r, char *rel, const struct stat *st)
{
    if (rel == NULL) {
        return -1;
    }
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

/* scan_dir appends the entries of directory entries[i] (breadth first:
 * the caller walks the growing array). A directory it cannot read is
 * reported and copied empty. Returns 0 or -1 (out of memory). */
static int
scan_dir(struct run *r, size_t i)
{
    int fd = open_under(g_roots.src_fd, r->entries[i].rel,
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
        } else if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) !=
                   0) {
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

/* The order of hard-link candidates: by file, then by scan order. */
static int
cmp_inode(const void *a, const void *b, void *arg)
{
    const struct entry *ents = arg;
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    const struct stat *x = &ents[i].st, *y = &ents[j].st;
    if (x->st_dev != y->st_dev) {
        return x->st_dev < y->st_dev ? -1 : 1;
    }
    if (x->st_ino != y->st_ino) {
        return x->st_ino < y->st_ino ? -1 : 1;
    }
    return i < j ? -1 : i > j;
}

/* group_hard_links finds the regular files met under several names: the
 * first name found is copied, the others become links to its copy (and
 * leave the file and byte counts). Returns 0 or -1 (out of memory). */
static int
group_hard_links(struct run *r)
{
    size_t n = 0;
    for (size_t i = 0; i < r->nentries; i++) {
        n += S_ISREG(r->entries[i].st.st_mode) && r->entries[i].st.st_nlink > 1;
    }
    if (n < 2) {
        return 0;
    }
    size_t *idx = malloc(n * sizeof *idx);
    if (idx == NULL) {
        return -1;
    }
    n = 0;
    for (size_t i = 0; i < r->nentries; i++) {
        if (S_ISREG(r->entries[i].st.st_mode) &&
            r->entries[i].st.st_nlink > 1) {
            idx[n++] = i;
        }
    }
    qsort_r(idx, n, sizeof *idx, cmp_inode, r->entries);
    for (size_t k = 1; k < n; k++) {
        struct entry *first = &r->entries[idx[k - 1]];
        struct entry *e = &r->entries[idx[k]];
        if (e->st.st_dev == first->st.st_dev &&
            e->st.st_ino == first->st.st_ino) {
            e->is_link = true;
            e->link_to = first->is_link ? first->link_to : idx[k - 1];
            r->nfiles--;
            r->file_bytes -= (uint64_t)e->st.st_size;
            r->nhard++;
        }
    }
    free(idx);
    return 0;
}

/* scan_tree records SRC's root and, breadth first, everything under it
 * (the array grows as it is walked: no recursion, any depth), showing
 * the count on the status line; then groups hard links. Stops early when
 * a signal came (g_signal). Returns 0 or -1 (out of memory, reported). */
int
scan_tree(struct run *r)
{
    struct stat root_st;
    if (fstat(g_roots.src_fd, &root_st) != 0 ||
        add_entry(r, strdup(""), &root_st) != 0) {
        note("out of memory");
        return -1;
    }
    status_begin("scan", true, 0, 0);
    for (size_t i = 0; i < r->nentries && g_signal == 0; i++) {
        if (S_ISDIR(r->entries[i].st.st_mode) && scan_dir(r, i) != 0) {
            status_end(false);
            note("out of memory");
            return -1;
        }
        status_update(r->nentries, r->file_bytes);
    }
    status_end(g_signal == 0);
    if (group_hard_links(r) != 0) {
        note("out of memory");
        return -1;
    }
    return 0;
}

/* scan_single records SRC when it is one file (or symlink, FIFO...):
 * name, in the source root (the directory that holds it). Returns 0 or
 * -1 (reported). */
int
scan_single(struct run *r, const char *name)
{
    struct stat st;
    if (fstatat(g_roots.src_fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        note("cannot read %s: %s", r->src_arg, strerror(errno));
        return -1;
    }
    if (add_entry(r, strdup(name), &st) != 0) {
        note("out of memory");
        return -1;
    }
    return 0;
}

/* make_skeleton creates, parents before children, every entry of the
 * copy that no whole-file task creates, and counts the kinds. With
 * --resume, a regular file whose copy is already whole is marked so and
 * left alone, and an existing node is replaced. Stops when a signal came. */
void
make_skeleton(struct run *r)
{
    for (size_t i = 0; i < r->nentries && g_signal == 0; i++) {
        struct entry *e = &r->entries[i];
        mode_t type = e->st.st_mode & S_IFMT;
        struct meta m = entry_meta(e);
        const char *what = "mkdir";
        int rc = 0;
        r->ndirs += type == S_IFDIR;
        r->nlinks += type == S_IFLNK;
        r->nspecial += type != S_IFDIR && type != S_IFLNK && type != S_IFREG;
        if (e->rel[0] == '\0') {
            continue; /* the root: main made it */
        }
        if (type == S_IFDIR) {
            rc = make_dir(e->rel, r->resume);
        } else if (type == S_IFLNK) {
            rc = make_symlink(e->rel, &e->st, &m, r->resume, &what);
        } else if (type != S_IFREG) {
            rc = make_special(e->rel, &e->st, &m, r->resume, &what);
        } else if (e->is_link) {
            continue; /* after the copy: make_hard_links */
        } else if (r->resume && copy_is_whole(e->rel, &e->st)) {
            e->whole = true;
            r->skipped_files++;
        } else if ((uint64_t)e->st.st_size > RANGE_BYTES) {
            what = "create copy";
            rc = make_sized_file(e->rel, (uint64_t)e->st.st_size, r->resume);
        }
        if (rc != 0) {
            report_errno(r, e, what);
        }
    }
}

/* make_hard_links gives every second name of a file (see
 * group_hard_links) its link to the first name's copy, once that is
 * copied; a link whose file failed is reported. */
void
make_hard_links(struct run *r)
{
    for (size_t i = 0; i < r->nentries; i++) {
        struct entry *e = &r->entries[i];
        if (!e->is_link) {
            continue;
        }
        const struct entry *to = &r->entries[e->link_to];
        if (to->failed) {
            report(r, e, "not linked: its file was not copied");
        } else if (make_hard_link(to->rel, e->rel, r->resume) != 0) {
            report_errno(r, e, "link");
        }
    }
}

/* set_filled_meta gives the copy of a directory, or of a split file,
 * its extended attributes (with --xattrs), owner, mode and times, once
 * it is filled (a whole-file task does that itself). */
void
set_filled_meta(struct run *r, struct entry *e)
{
    struct meta m = entry_meta(e);
    const char *what = "set metadata";
    if (set_path_meta(e->rel, &m, S_ISDIR(e->st.st_mode), &what) != 0) {
        report_errno(r, e, what);
    }
}
