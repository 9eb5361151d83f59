/* SPDX-License-Identifier: MIT */
/* scan.c - the parent's picture of the source and the copy's skeleton:
 * the breadth-first scan of SRC, handed out a directory at a time so
 * that the workers copy while it goes on (a growing array, no recursion),
 * the hard-link groups (a table of the first names of files with several:
 * a later name becomes a link to the first one's copy, as `cp -a` keeps
 * them), the --resume quick check (a copy already whole, by size and
 * mtime, is kept), the nodes the parent creates itself (directories,
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

/*===== Hard links ==========================================================*/

/* link_hash spreads a file's device and inode over the table. */
static size_t
link_hash(const struct stat *st)
{
    uint64_t h = (uint64_t)st->st_ino * 0x9e3779b97f4a7c15ULL;
    h ^= (uint64_t)st->st_dev + (h >> 29);
    return (size_t)(h ^ (h >> 32));
}

/* link_slot returns the slot of the file st in t: the one holding an
 * entry of the same device and inode, or the empty one where it would go
 * (t->cap > 0, and t never full). */
static size_t *
link_slot(struct link_table *t, const struct entry *ents, const struct stat *st)
{
    size_t mask = t->cap - 1;
    for (size_t k = link_hash(st) & mask;; k = (k + 1) & mask) {
        const struct stat *o =
            t->slot[k] != 0 ? &ents[t->slot[k] - 1].st : NULL;
        if (o == NULL || (o->st_dev == st->st_dev && o->st_ino == st->st_ino)) {
            return &t->slot[k];
        }
    }
}

/* link_grow doubles t (at least 64 slots), placing its entries again.
 * Returns 0 or -1 (out of memory; t unchanged). */
static int
link_grow(struct link_table *t, const struct entry *ents)
{
    struct link_table bigger = {.cap = t->cap ? 2 * t->cap : 64};
    bigger.slot = calloc(bigger.cap, sizeof *bigger.slot);
    if (bigger.slot == NULL) {
        return -1;
    }
    for (size_t k = 0; k < t->cap; k++) {
        if (t->slot[k] != 0) {
            *link_slot(&bigger, ents, &ents[t->slot[k] - 1].st) = t->slot[k];
        }
    }
    bigger.used = t->used;
    free(t->slot);
    *t = bigger;
    return 0;
}

/* note_hard_link looks up entry i, a regular file with several names:
 * the first name met is copied (and remembered), a later one becomes a
 * link to the first one's copy and leaves the file and byte counts, as
 * `cp -a` keeps them. Returns 0 or -1 (out of memory: i is copied). */
static int
note_hard_link(struct run *r, size_t i)
{
    struct link_table *t = &r->first_names;
    if (2 * (t->used + 1) > t->cap && link_grow(t, r->entries) != 0) {
        return -1;
    }
    struct entry *e = &r->entries[i];
    size_t *slot = link_slot(t, r->entries, &e->st);
    if (*slot == 0) {
        *slot = i + 1;
        t->used++;
        return 0;
    }
    e->is_link = true;
    e->link_to = *slot - 1;
    r->nfiles--;
    r->file_bytes -= (uint64_t)e->st.st_size;
    r->nhard++;
    return 0;
}

/*===== The scan ============================================================*/

/* scan_root records SRC's root, the first entry (scan_step reads what is
 * under it). Returns 0 or -1 (reported). */
int
scan_root(struct run *r)
{
    struct stat root_st;
    if (fstat(g_roots.src_fd, &root_st) != 0) {
        note("cannot read %s: %s", r->src_arg, strerror(errno));
        return -1;
    }
    if (add_entry(r, strdup(""), &root_st) != 0) {
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

/* scan_step hands out the entries found since its last call, [*from,
 * *to): the first call, what scan_root or scan_single recorded; each
 * later one, the entries of the next directory (breadth first: the array
 * grows as it is walked, no recursion, any depth). Returns 1 (a range
 * handed out, maybe empty), 0 once the scan is done (r->scan_done), or
 * -1 (out of memory, reported). */
int
scan_step(struct run *r, size_t *from, size_t *to)
{
    if (r->handed == r->nentries) {
        while (r->scan_next < r->nentries &&
               !S_ISDIR(r->entries[r->scan_next].st.st_mode)) {
            r->scan_next++;
        }
        if (r->single || r->scan_next == r->nentries) {
            r->scan_done = true;
            *from = *to = r->nentries;
            return 0;
        }
        if (scan_dir(r, r->scan_next++) != 0) {
            note("out of memory");
            return -1;
        }
    }
    *from = r->handed;
    *to = r->handed = r->nentries;
    return 1;
}

/* make_nodes creates the copies of entries [from, to) that no whole-file
 * task creates (their parents exist: a directory's copy is made when the
 * scan finds it, before its entries are read), counts the kinds, and
 * sorts out hard links. With --resume, a regular file whose copy is
 * already whole is marked so and left alone, and an existing node is
 * replaced. Stops when a signal came. */
void
make_nodes(struct run *r, size_t from, size_t to)
{
    for (size_t i = from; i < to && g_signal == 0; i++) {
        struct entry *e = &r->entries[i];
        mode_t type = e->st.st_mode & S_IFMT;
        struct meta m = entry_meta(e);
        const char *what = "mkdir";
        int rc = 0;
        r->ndirs += type == S_IFDIR;
        r->nlinks += type == S_IFLNK;
        r->nspecial += type != S_IFDIR && type != S_IFLNK && type != S_IFREG;
        if (type == S_IFREG && e->st.st_nlink > 1 &&
            note_hard_link(r, i) != 0) {
            note("out of memory: %s/%s is copied, not linked", r->src_arg,
                 e->rel);
        }
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

/* free_tree frees the picture of the tree: the entries and the hard-link
 * table. */
void
free_tree(struct run *r)
{
    for (size_t i = 0; i < r->nentries; i++) {
        free(r->entries[i].rel);
    }
    free(r->entries);
    free(r->first_names.slot);
}
