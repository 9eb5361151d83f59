/* SPDX-License-Identifier: MIT */
/* boot.c - the boot record that makes a spawn or forkserver child the
 * process its creator asked for: the creator's side, which writes it on
 * the child's boot channel and waits for the child's one report (the
 * child's side, which reads it in mp_main, is child.c).
 *
 * Record (little-endian), version 1, after its u64 length, and followed by
 * the argument's bytes:
 *   "MPBT" u8 version, u8 method, u8 daemon, u8 has_pipes, u32 creator pid,
 *   u16 len + identity, u16 len + name, u16 len + parent name,
 *   u32 len + target (an fnref: object build-id and offset, fnref.h),
 *   u64 len + argument bytes.
 * Report: an i32, 0 when the child is about to run its target, else the
 * error that stops it (then it exits with 127). */
#include "../shm/fnref.h"
#include "process_internal.h"

#include "../common/bytes.h"

#include <stdalign.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Appends a u16-length string to the record at *at. */
static void
put_str(uint8_t **at, const char *s, size_t len)
{
    mp__put_le(*at, len, 2);
    memcpy(*at + 2, s, len);
    *at += 2 + len;
}

int
mp__boot_send(int fd, const mp__boot_info_t *bi, int64_t deadline)
{
    void *ref = NULL;
    ssize_t ref_len = mp__fnref_encode((mp__fn_t)bi->target, &ref);
    if (ref_len < 0) {
        return (int)ref_len;
    }
    size_t id_len = strnlen(bi->identity, 65535);
    size_t name_len = strnlen(bi->name, 65535);
    size_t pname_len = strnlen(bi->parent_name, 65535);
    size_t meta = MP__BOOT_HEAD + 6 + id_len + name_len + pname_len + 4 +
                  (size_t)ref_len + 8;
    uint8_t *rec = mp__malloc(8 + meta);
    if (rec == NULL) {
        mp__free(ref);
        return MP_ENOMEM;
    }
    uint8_t *at = rec;
    mp__put_le(at, meta, 8);
    at += 8;
    memcpy(at, MP__BOOT_MAGIC, 4);
    at[4] = MP__BOOT_VERSION;
    at[5] = (uint8_t)bi->method;
    at[6] = bi->daemon;
    at[7] = bi->has_pipes;
    mp__put_le(at + 8, (uint64_t)bi->creator, 4);
    at += MP__BOOT_HEAD;
    put_str(&at, bi->identity, id_len);
    put_str(&at, bi->name, name_len);
    put_str(&at, bi->parent_name, pname_len);
    mp__put_le(at, (uint64_t)ref_len, 4);
    memcpy(at + 4, ref, (size_t)ref_len);
    at += 4 + ref_len;
    mp__put_le(at, bi->arg_size, 8);
    at += 8;
    mp__free(ref);
    int err = mp__plat_send_full(fd, rec, (size_t)(at - rec));
    mp__free(rec);
    if (err == 0 && bi->arg_size > 0) {
        err = mp__plat_send_full(fd, bi->arg, bi->arg_size);
    }
    if (err == MP_EPIPE || err == -ECONNRESET) {
        return MP_EPIPE;
    }
    if (err != 0) {
        return err;
    }
    int r = mp__plat_poll_in(fd, deadline);
    if (r <= 0) {
        return r == 0 ? MP_ETIMEDOUT : r;
    }
    uint8_t rep[4];
    ssize_t n = mp__plat_read_full(fd, rep, sizeof rep);
    if (n != (ssize_t)sizeof rep) {
        return n < 0 && n != -ECONNRESET ? (int)n : MP_EPIPE;
    }
    return (int)(int32_t)mp__get_le(rep, 4);
}
