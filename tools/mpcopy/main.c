/* SPDX-License-Identifier: MIT */
/* main.c - mpcopy's command line and main(): the options, where the copy
 * goes (and the refusals before anything is written), and the order of
 * the run: the copy on the pool while the tree is scanned (and the
 * verify), hard links, directories' metadata last, the summary, the exit
 * status.
 *
 * mpcopy is a parallel copier built on the library's process pool: the C
 * tool that seed 002's copy_file program (a Pool(3) copying a folder while
 * the parent prints the percentage) grows into. See usage() below and the
 * man page mpcopy.1 for what it promises; mpcopy.h for which file holds
 * what.
 *
 * Exit status: 0 all copied (and verified); 1 something failed (each is
 * reported on stderr and the rest is copied); 2 usage error or refusal
 * before anything is copied; 128 + N when signal N (SIGINT, SIGTERM,
 * SIGHUP) interrupted it (what is left partial is said on stderr). */
#include "mpcopy.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void
usage(FILE *f)
{
    fprintf(
        f,
        "Usage: mpcopy [-j N] [--verify] [--resume] [--xattrs] SRC DST\n"
        "Copy SRC (a directory tree or a single file) with a pool of worker\n"
        "processes, as `cp -a` would, showing progress on stderr.\n"
        "\n"
        "  If DST does not exist it becomes the copy (its parent must exist).\n"
        "  If DST is a directory the copy is DST/NAME, NAME being SRC's last\n"
        "  component (as `cp -a SRC DST` does). Without --resume, mpcopy\n"
        "  never overwrites or merges: when the copy's place is taken it\n"
        "  refuses (exit 2); it also refuses to copy a tree into itself.\n"
        "  Copied: files (cloned where the file system can, else copied in "
        "the\n"
        "  kernel; holes kept), directories, symlinks (as links, never\n"
        "  followed), hard links (as links), FIFOs and device nodes; modes,\n"
        "  access/modification times (nanoseconds), owners when run as root.\n"
        "  A file that cannot be read is reported and skipped; a worker that\n"
        "  dies has its task run again (up to %d tries).\n"
        "  SIGINT, SIGTERM or SIGHUP stop the workers; mpcopy says what is "
        "left\n"
        "  partial and exits with 128 + the signal's number.\n"
        "\n"
        "  -j, --jobs N   worker processes (default: the CPUs we may use, %d)\n"
        "      --verify   after copying, checksum every file and its copy "
        "again\n"
        "                 in the workers and report any difference\n"
        "      --resume   finish an interrupted copy: DST is the copy itself "
        "when\n"
        "                 it exists (the path the interrupted run named); "
        "files\n"
        "                 already there whole (same size and mtime, rsync's "
        "quick\n"
        "                 check) are kept, the rest copied again\n"
        "      --xattrs   copy extended attributes too (ACLs included)\n"
        "  -h, --help     show this help\n"
        "  -V, --version  show mpcopy's and the library's versions\n"
        "\n"
        "Exit status: 0 copied; 1 some entries failed (reported on stderr);\n"
        "2 usage error or refusal (nothing copied); 129, 130, 143 interrupted\n"
        "by SIGHUP, SIGINT, SIGTERM.\n",
        MAX_ATTEMPTS, mp_cpu_count());
}

/* usage_error prints msg and a hint to stderr and exits with 2. */
static void __attribute__((noreturn))
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
    vnote(fmt, ap);
    va_end(ap);
    exit(2);
}

/* parse_args fills r from the command line; exits on --help, --version
 * or errors. */
static void
parse_args(struct run *r, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"jobs", required_argument, NULL, 'j'},
        {"verify", no_argument, NULL, 'v'},
        {"resume", no_argument, NULL, 'r'},
        {"xattrs", no_argument, NULL, 'x'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":j:hV", longopts, NULL)) != -1) {
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
        case 'r':
            r->resume = true;
            break;
        case 'x':
            g_roots.xattrs = true;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        case 'V':
            printf("mpcopy %s (multiproc library %s)\n", MP_VERSION_STRING,
                   mp_version_string());
            exit(0);
        case ':':
            usage_error("option needs a value", argv[optind - 1]);
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

/* split_path stores path's directory ("." or "/" where it has none) in
 * dir (PATH_MAX bytes) and returns its last component. */
static const char *
split_path(const char *path, char *dir)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL) {
        strcpy(dir, ".");
        return path;
    }
    if (slash == path) {
        strcpy(dir, "/");
    } else {
        snprintf(dir, PATH_MAX, "%.*s", (int)(slash - path), path);
    }
    return slash + 1;
}

/* refuse_into_itself exits with 2 when the directory path (resolved) or
 * any directory above it is SRC (by device and inode). */
static void
refuse_into_itself(struct run *r, const char *path, const struct stat *src)
{
    char real[PATH_MAX];
    if (realpath(path, real) == NULL) {
        refuse("cannot use %s: %s", path, strerror(errno));
    }
    for (char *end = real + strlen(real);;) {
        char save = *end;
        struct stat st;
        *end = '\0';
        bool same = stat(real[0] ? real : "/", &st) == 0 &&
                    st.st_dev == src->st_dev && st.st_ino == src->st_ino;
        *end = save;
        if (same) {
            refuse("cannot copy %s into itself (%s)", r->src_arg, r->copy);
        }
        if (end == real) {
            break;
        }
        while (end > real && *--end != '/') {
        }
    }
}

/* prepare_target decides where the copy goes (see usage), refuses a copy
 * into SRC itself or onto an existing path (unless --resume), creates
 * the copy's root directory (a tree), and fills g_roots: the roots are
 * SRC and the copy, or for a single file the directories that hold them.
 * Sets r->copy (malloc'd) and r->single. Exits with 2 on refusal. Returns
 * SRC's name (single file) or NULL (a tree). */
static const char *
prepare_target(struct run *r)
{
    struct stat src_st, st;
    if (lstat(r->src_arg, &src_st) != 0) {
        refuse("cannot read %s: %s", r->src_arg, strerror(errno));
    }
    r->single = !(stat(r->src_arg, &st) == 0 && S_ISDIR(st.st_mode));
    if (!r->single) {
        src_st = st;
    }
    char src_dir[PATH_MAX];
    const char *src_name = split_path(r->src_arg, src_dir);
    if (realpath(r->single ? src_dir : r->src_arg, g_roots.src) == NULL) {
        refuse("cannot resolve %s: %s", r->src_arg, strerror(errno));
    }
    const char *name = r->single ? src_name : strrchr(g_roots.src, '/') + 1;
    bool exists = lstat(r->target, &st) == 0;
    bool is_dir = exists && stat(r->target, &st) == 0 && S_ISDIR(st.st_mode);
    if (!exists && errno != ENOENT) {
        refuse("%s: %s", r->target, strerror(errno));
    }
    /* --resume on a tree: an existing DST is the copy itself. */
    bool in_place = r->resume && !r->single;
    if (is_dir && !in_place) {
        if (*name == '\0') {
            refuse("cannot name a copy of %s inside %s", r->src_arg, r->target);
        }
        r->copy = join_rel(r->target, name);
    } else if (exists && !is_dir && !r->resume) {
        refuse("%s exists and is not a directory; mpcopy does not "
               "overwrite",
               r->target);
    } else if (exists && !is_dir && !r->single) {
        refuse("%s exists and is not a directory: it cannot be the copy "
               "of the tree %s",
               r->target, r->src_arg);
    } else {
        r->copy = strdup(r->target);
    }
    if (r->copy == NULL) {
        refuse("out of memory");
    }
    char copy_dir[PATH_MAX];
    const char *copy_name = split_path(r->copy, copy_dir);
    bool copy_exists = lstat(r->copy, &st) == 0;
    if (!r->single) {
        refuse_into_itself(r, copy_dir, &src_st);
        if (copy_exists && S_ISDIR(st.st_mode)) {
            refuse_into_itself(r, r->copy, &src_st);
        }
    }
    if (copy_exists && !r->resume) {
        refuse("%s already exists; mpcopy does not overwrite or merge "
               "(--resume finishes an interrupted copy)",
               r->copy);
    }
    if (r->single) {
        if (realpath(copy_dir, g_roots.dst) == NULL) {
            refuse("cannot use %s: %s", copy_dir, strerror(errno));
        }
        snprintf(g_roots.dst_name, sizeof g_roots.dst_name, "%s", copy_name);
    } else {
        if (copy_exists ? chmod(r->copy, 0700) != 0 : mkdir(r->copy, 0700)) {
            refuse("cannot create %s: %s", r->copy, strerror(errno));
        }
        if (realpath(r->copy, g_roots.dst) == NULL) {
            refuse("cannot resolve %s: %s", r->copy, strerror(errno));
        }
    }
    g_roots.src_fd = open(g_roots.src, O_PATH | O_DIRECTORY | O_CLOEXEC);
    g_roots.dst_fd = open(g_roots.dst, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (g_roots.src_fd < 0 || g_roots.dst_fd < 0) {
        refuse("cannot open %s: %s", r->copy, strerror(errno));
    }
    return r->single ? src_name : NULL;
}

/* print_summary prints the run's one line on stdout. */
static void
print_summary(const struct run *r)
{
    char bytes[32];
    format_bytes(bytes, sizeof bytes, (double)r->file_bytes);
    printf("mpcopy: files %llu (%s)", (unsigned long long)r->nfiles, bytes);
    if (r->skipped_files > 0) {
        printf(", %llu already whole", (unsigned long long)r->skipped_files);
    }
    printf(", directories %zu, symlinks %zu, other %zu, hard links %zu",
           r->ndirs, r->nlinks, r->nspecial, r->nhard);
    if (r->ways != 0) {
        printf(", data by%s%s%s", r->ways & WAY_CLONE ? " clone" : "",
               r->ways & WAY_RANGE ? " copy_file_range" : "",
               r->ways & WAY_BUFFER ? " buffer" : "");
    }
    printf("; %s %s%s\n", r->verify ? "copied and verified to" : "copied to",
           r->copy, r->failed ? "; some failed (see above)" : "");
}

int
main(int argc, char **argv)
{
    /* A spawned or forkserver worker never returns from here. */
    mp_main(argc, argv);
    struct run r = {.jobs = 0, .phase = "start"};
    parse_args(&r, argc, argv);
    if (r.jobs == 0) {
        r.jobs = mp_cpu_count();
    }
    g_roots.owners = geteuid() == 0;
    catch_signals();
    const char *single = prepare_target(&r);
    if ((single != NULL ? scan_single(&r, single) : scan_root(&r)) != 0) {
        return 1;
    }
    if (g_signal == 0 && copy_and_verify(&r) != 0) {
        r.failed = true;
    }
    int rc = r.failed ? 1 : 0;
    if (g_signal != 0) {
        report_interrupted(&r);
        rc = 128 + g_signal;
    } else {
        make_hard_links(&r);
        /* Directories last, deepest first (children follow parents). */
        for (size_t i = r.nentries; i-- > 0;) {
            if (S_ISDIR(r.entries[i].st.st_mode)) {
                set_filled_meta(&r, &r.entries[i]);
            }
        }
        print_summary(&r);
        rc = r.failed ? 1 : 0;
    }
    free_tree(&r);
    free(r.copy);
    close(g_roots.src_fd);
    close(g_roots.dst_fd);
    return rc;
}
