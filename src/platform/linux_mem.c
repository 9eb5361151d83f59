/* SPDX-License-Identifier: MIT */
/* linux_mem.c - memory mappings: anonymous ones (private or shared with
 * forked children, or aligned for transparent huge pages), memfd-backed
 * shared ones, named POSIX shared-memory objects (shm_open + ftruncate +
 * mmap), growing, unmapping, and the page-population hints. Every mmap of
 * the library outside the fork-local page (linux_self.c) is made here. */
#include "platform.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define HAVE_MEMCHECK 1
#endif
#endif

/* Under valgrind's memcheck, keeps a sparse region (a memory file mapped
 * whole: the arena, a queue's heap) out of its leak check, which reads
 * every word of every writable mapping when each process exits: reading
 * the untouched pages of a memory file allocates them, gigabytes per
 * queue. The request is memcheck's "ignore range": no addressability
 * errors inside (none of it is malloc's memory) and no leak scan (it
 * holds no pointer to a malloc'd block). mp__plat_unmap undoes it. Built
 * without valgrind's headers, or run outside valgrind, nothing happens. */
static void
memcheck_ignore(void *p, size_t len, bool ignore)
{
#ifdef HAVE_MEMCHECK
    if (ignore) {
        VALGRIND_DISABLE_ADDR_ERROR_REPORTING_IN_RANGE(p, len);
    } else {
        VALGRIND_ENABLE_ADDR_ERROR_REPORTING_IN_RANGE(p, len);
    }
#else
    (void)p;
    (void)len;
    (void)ignore;
#endif
}

size_t
mp__plat_page_size(void)
{
    return (size_t)sysconf(_SC_PAGESIZE);
}

void *
mp__plat_map_anon(bool shared, size_t len)
{
    int flags =
        MAP_ANONYMOUS | (shared ? MAP_SHARED | MAP_NORESERVE : MAP_PRIVATE);
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, flags, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* The huge page size mp__plat_map_huge aligns to (x86-64, arm64 with 4 KiB
 * pages). */
#define HUGE_PAGE ((size_t)2 << 20)

void *
mp__plat_map_huge(size_t len, void **map, size_t *map_len)
{
    if (len > SIZE_MAX / 2) {
        return NULL;
    }
    /* One huge page more than the rounded length, so that an aligned
     * range of that length fits wherever the kernel puts the mapping. */
    size_t rounded = (len + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
    char *p = mp__plat_map_anon(false, rounded + HUGE_PAGE);
    if (p == NULL) {
        return NULL;
    }
    char *start =
        (char *)(((uintptr_t)p + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
    (void)madvise(start, rounded, MADV_HUGEPAGE);
    *map = p;
    *map_len = rounded + HUGE_PAGE;
    return start;
}

void *
mp__plat_remap(void *p, size_t old_len, size_t new_len)
{
    void *q = mremap(p, old_len, new_len, MREMAP_MAYMOVE);
    return q == MAP_FAILED ? NULL : q;
}

void
mp__plat_unmap(void *p, size_t len)
{
    if (p != NULL) {
        (void)munmap(p, len);
        memcheck_ignore(p, len, false);
    }
}

/* Maps len bytes of fd shared and read-write into *out. Returns 0 or a
 * negative error. */
static int
map_fd(int fd, size_t len, void **out)
{
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        return -errno;
    }
    *out = p;
    return 0;
}

/* Sets fd's size to len, retrying on EINTR. Returns 0 or a negative error
 * (MP_EFBIG when len is beyond what the file may hold). */
static int
set_size(int fd, size_t len)
{
    if ((uintmax_t)len > (uintmax_t)INT64_MAX) {
        return MP_EFBIG;
    }
    int r;
    MP__PLAT_NO_EINTR(r, ftruncate(fd, (off_t)len));
    if (r != 0) {
        return errno == EINVAL || errno == EFBIG ? MP_EFBIG : -errno;
    }
    return 0;
}

int
mp__plat_memfd_map(const char *name, size_t len, void **out)
{
    int fd = memfd_create(name, MFD_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    int err = set_size(fd, len);
    if (err == 0) {
        err = map_fd(fd, len, out);
    }
    mp__plat_close(fd); /* the mapping keeps the memory alive */
    if (err == 0) {
        memcheck_ignore(*out, len, true);
    }
    return err;
}

/* Opens the shared-memory object path read-write and close-on-exec with
 * the extra flags (O_CREAT | O_EXCL: a new one, mode 0600), retrying on
 * EINTR. Returns the fd or a negative error. */
static int
shm_open_rw(const char *path, int flags)
{
    int fd;
    MP__PLAT_NO_EINTR(fd, shm_open(path, flags | O_RDWR | O_CLOEXEC, 0600));
    return fd >= 0 ? fd : -errno;
}

int
mp__plat_shm_create(const char *path, size_t len, void **out)
{
    int fd = shm_open_rw(path, O_CREAT | O_EXCL);
    if (fd < 0) {
        return fd;
    }
    int err = set_size(fd, len);
    if (err == 0) {
        err = map_fd(fd, len, out);
    }
    mp__plat_close(fd); /* the mapping keeps the object alive */
    if (err != 0) {
        (void)shm_unlink(path);
    }
    return err;
}

int
mp__plat_shm_attach(const char *path, void **out, size_t *len)
{
    int fd = shm_open_rw(path, 0);
    if (fd < 0) {
        return fd;
    }
    struct stat st;
    int err;
    if (fstat(fd, &st) != 0) {
        err = -errno;
    } else if (st.st_size <= 0) {
        err = MP_EINVAL; /* an empty object cannot be mapped */
    } else if ((uintmax_t)st.st_size > (uintmax_t)PTRDIFF_MAX) {
        err = MP_EFBIG;
    } else {
        err = map_fd(fd, (size_t)st.st_size, out);
        if (err == 0) {
            *len = (size_t)st.st_size;
        }
    }
    mp__plat_close(fd);
    return err;
}

int
mp__plat_shm_unlink(const char *path)
{
    return shm_unlink(path) == 0 ? 0 : -errno;
}

void
mp__plat_populate(void *p, size_t len, bool write)
{
    uintptr_t page = (uintptr_t)mp__plat_page_size();
    uintptr_t start = (uintptr_t)p & ~(page - 1);
    uintptr_t end = ((uintptr_t)p + len + page - 1) & ~(page - 1);
    (void)madvise((void *)start, end - start,
                  write ? MADV_POPULATE_WRITE : MADV_POPULATE_READ);
}
