/* SPDX-License-Identifier: MIT */
/* replay.c - runs every file of the given directories (or the given files)
 * through every fuzz entry point, without libFuzzer: the CTest
 * fuzz_replay_corpus, so the normal and sanitizer suites replay the corpus
 * and any crash a fuzzer once found. Exits 0, or 1 if no input was found
 * or one could not be read (a crash ends it by itself). */
#include "fuzz.h"

#include "multiproc.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Reads path (at most MP_FUZZ_MAX_INPUT bytes) and runs every target on
 * it. Returns 0, or -1 if it could not be read. */
static int
replay_file(const char *path)
{
    FILE *f = fopen(path, "rbe");
    if (f == NULL) {
        perror(path);
        return -1;
    }
    static uint8_t buf[MP_FUZZ_MAX_INPUT];
    size_t n = fread(buf, 1, sizeof buf, f);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        fprintf(stderr, "%s: read error\n", path);
        return -1;
    }
    mp_fuzz_framing(buf, n);
    mp_fuzz_handshake(buf, n);
    mp_fuzz_manager(buf, n);
    mp_fuzz_address(buf, n);
    return 0;
}

/* Replays path: a file, or every regular file in a directory. Adds the
 * inputs run to *count. Returns 0 or -1. */
static int
replay_path(const char *path, int *count)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        perror(path);
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        (*count)++;
        return replay_file(path);
    }
    DIR *d = opendir(path);
    if (d == NULL) {
        perror(path);
        return -1;
    }
    int r = 0;
    struct dirent *e;
    while (r == 0 && (e = readdir(d)) != NULL) {
        char file[4096];
        snprintf(file, sizeof file, "%s/%s", path, e->d_name);
        if (e->d_name[0] == '.' || stat(file, &st) != 0 ||
            !S_ISREG(st.st_mode)) {
            continue;
        }
        (*count)++;
        r = replay_file(file);
    }
    closedir(d);
    return r;
}

int
main(int argc, char **argv)
{
    int count = 0;
    for (int i = 1; i < argc; i++) {
        if (replay_path(argv[i], &count) != 0) {
            return 1;
        }
    }
    printf("fuzz_replay: %d inputs replayed through every target\n", count);
    return count > 0 ? 0 : 1;
}
