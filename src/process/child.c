/* SPDX-License-Identifier: MIT */
/* child.c - the life of a spawn or forkserver child: it reads the boot
 * record (format in boot.c) from its boot channel, becomes the process it
 * describes, reports, and runs its target. */
#include "../shm/fnref.h"
#include "process_internal.h"

#include "../common/bytes.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* A decoded record; the strings point into its buffer (NUL-terminated in
 * place by the decoder). */
typedef struct boot_rec {
    mp_start_method_t method;
    bool daemon, has_pipes;
    pid_t creator;
    char *identity, *name, *parent_name;
    const uint8_t *ref;
    size_t ref_len;
    size_t arg_size;
} boot_rec_t;

/* Takes a u16-length string at *at (within end) and NUL-terminates it in
 * place by moving it one byte back over its length. Returns it, or NULL
 * when it runs past end. */
static char *
take_str(uint8_t **at, const uint8_t *end)
{
    if (end - *at < 2) {
        return NULL;
    }
    size_t len = (size_t)mp__get_le(*at, 2);
    if ((size_t)(end - *at - 2) < len) {
        return NULL;
    }
    char *s = (char *)*at;
    memmove(s, *at + 2, len);
    s[len] = '\0';
    *at += 2 + len;
    return s;
}

/* Decodes the n-byte record at buf (its argument bytes excluded) into r.
 * Returns 0 or MP_EPROTO. */
static int
decode(uint8_t *buf, size_t n, boot_rec_t *r)
{
    const uint8_t *end = buf + n;
    if (n < MP__BOOT_HEAD || memcmp(buf, MP__BOOT_MAGIC, 4) != 0 ||
        buf[4] != MP__BOOT_VERSION) {
        return MP_EPROTO;
    }
    r->method = (mp_start_method_t)buf[5];
    r->daemon = buf[6] != 0;
    r->has_pipes = buf[7] != 0;
    r->creator = (pid_t)mp__get_le(buf + 8, 4);
    uint8_t *at = buf + MP__BOOT_HEAD;
    r->identity = take_str(&at, end);
    r->name = r->identity != NULL ? take_str(&at, end) : NULL;
    r->parent_name = r->name != NULL ? take_str(&at, end) : NULL;
    if (r->parent_name == NULL || end - at < 4) {
        return MP_EPROTO;
    }
    r->ref_len = (size_t)mp__get_le(at, 4);
    if ((size_t)(end - at - 4) < r->ref_len + 8) {
        return MP_EPROTO;
    }
    r->ref = at + 4;
    at += 4 + r->ref_len;
    r->arg_size = (size_t)mp__get_le(at, 8);
    return at + 8 == end ? 0 : MP_EPROTO;
}

/* Reports err on fd, says why on stderr, exits with 127. */
static __attribute__((noreturn)) void
boot_fail(int fd, const char *what, int err)
{
    uint8_t rep[4];
    mp__put_le(rep, (uint32_t)(int32_t)err, 4);
    (void)mp__plat_send_full(fd, rep, sizeof rep);
    fprintf(stderr, "multiproc: a started child cannot run: %s: %s\n", what,
            mp_strerror(err));
    fflush(stderr);
    mp__plat_exit_now(127);
}

/* Builds the handle this process is started from: its strings after it,
 * as mp_process_create lays them out. NULL when out of memory. */
static mp_process_t *
own_handle(const boot_rec_t *r)
{
    size_t id_len = strlen(r->identity), name_len = strlen(r->name);
    mp_process_t *p = mp__malloc(sizeof *p + id_len + name_len + 2);
    if (p == NULL) {
        return NULL;
    }
    memset(p, 0, sizeof *p);
    memcpy(p->strs, r->identity, id_len + 1);
    memcpy(p->strs + id_len + 1, r->name, name_len + 1);
    p->kind = MP__PROC_CHILD;
    p->state = MP__PROC_STARTED;
    p->method = r->method;
    p->daemon = r->daemon;
    p->identity = p->strs;
    p->name = p->strs + id_len + 1;
    p->creator = r->creator;
    p->pid = mp__getpid();
    p->pidfd = -1;
    p->parent_wfd = -1;
    return p;
}

void
mp__boot_child(int fd, bool spawn_layout, int pdeath_rfd, pid_t server)
{
    uint8_t len_buf[8];
    if (mp__plat_read_full(fd, len_buf, sizeof len_buf) != sizeof len_buf) {
        /* The creator went away before telling us anything. */
        mp__plat_exit_now(127);
    }
    uint64_t meta = mp__get_le(len_buf, 8);
    if (meta > MP__BOOT_META_MAX) {
        boot_fail(fd, "boot record", MP_EPROTO);
    }
    uint8_t *buf = mp__malloc(meta > 0 ? meta : 1);
    if (buf == NULL) {
        boot_fail(fd, "boot record", MP_ENOMEM);
    }
    if (mp__plat_read_full(fd, buf, meta) != (ssize_t)meta) {
        mp__plat_exit_now(127);
    }
    boot_rec_t r;
    int err = decode(buf, meta, &r);
    if (err != 0) {
        boot_fail(fd, "boot record", err);
    }
    /* The argument, in a buffer aligned for any type (malloc's). */
    void *arg = NULL;
    if (r.arg_size > 0) {
        arg = mp__malloc(r.arg_size);
        if (arg == NULL) {
            boot_fail(fd, "argument", MP_ENOMEM);
        }
        if (mp__plat_read_full(fd, arg, r.arg_size) != (ssize_t)r.arg_size) {
            mp__plat_exit_now(127);
        }
    }
    mp__fn_t fn;
    err = mp__fnref_decode(r.ref, r.ref_len, &fn);
    if (err != 0) {
        boot_fail(fd, "its target", err);
    }
    if (r.daemon) {
        pid_t parent = spawn_layout ? r.creator : server;
        err = mp__plat_die_with_parent(parent);
        if (err != 0) {
            mp__plat_exit_now(127);
        }
    }
    int sent_wfd = -1;
    if (spawn_layout && r.has_pipes) {
        sent_wfd = MP__BOOT_FD + 1;
        pdeath_rfd = MP__BOOT_FD + 2;
    }
    /* Python: a spawned child's default is the method that started it. */
    (void)mp_set_start_method(r.method, true);
    mp_process_t *self = own_handle(&r);
    if (self == NULL || mp__registry_name_self(r.parent_name) != 0) {
        boot_fail(fd, "process state", MP_ENOMEM);
    }
    mp__registry_child_wfds(sent_wfd);
    mp__registry_become_child(self, r.creator, pdeath_rfd);
    mp__free(buf);
    uint8_t ok[4] = {0};
    (void)mp__plat_send_full(fd, ok, sizeof ok);
    mp__plat_close(fd);
    mp_target_fn target = (mp_target_fn)fn;
    mp_process_exit(target(arg));
}
