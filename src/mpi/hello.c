/* SPDX-License-Identifier: MIT */
/* hello.c - what the handshake compares: the protocol, the ABI (byte
 * order, type and header sizes) and the GNU build-ids of the program,
 * libmultiproc and libmultiproc_mpi, so that a rank running another build
 * is refused before it could run the wrong code. */
#include "mpi_internal.h"

#include <stdio.h>
#include <string.h>

/* Copies the build-id of the object holding addr into *id (len 0: none). */
static void
ident_of(const void *addr, mp__mpi_ident_t *id, const mp__remote_bridge_t *br)
{
    mp__plat_code_object_t obj;
    memset(id, 0, sizeof *id);
    if (br->code_find(addr, &obj) == 0) {
        id->len =
            (uint32_t)(obj.build_id_len < MP__MPI_ID_MAX ? obj.build_id_len
                                                         : MP__MPI_ID_MAX);
        memcpy(id->id, obj.build_id, id->len);
    }
}

void
mp__mpi_hello_fill(mp__mpi_hello_t *hello, const void *caller,
                   const mp__remote_bridge_t *br)
{
    memset(hello, 0, sizeof *hello);
    hello->magic = MP__MPI_MAGIC;
    hello->proto = MP__MPI_PROTO;
    const uint8_t order[4] = {1, 2, 3, 4};
    memcpy(&hello->byte_order, order, sizeof order);
    hello->sizes =
        (uint32_t)(sizeof(long) | sizeof(void *) << 4 |
                   sizeof(mp__task_hdr_t) << 8 | sizeof(mp__reply_hdr_t) << 16);
    ident_of(caller, &hello->program, br);
    ident_of((const void *)(uintptr_t)br->pool_create, &hello->core, br);
    ident_of((const void *)(uintptr_t)mp__mpi_hello_fill, &hello->mpi_lib, br);
}

/* Writes id's first bytes in hex into buf (of at least 17 bytes). */
static void
hex_of(const mp__mpi_ident_t *id, char *buf)
{
    size_t n = id->len < 8 ? id->len : 8;
    for (size_t i = 0; i < n; i++) {
        snprintf(buf + 2 * i, 3, "%02x", id->id[i]);
    }
    buf[2 * n] = '\0';
    if (n == 0) {
        snprintf(buf, 17, "none");
    }
}

/* Compares one build-id; on a difference writes why and returns false. */
static bool
same_ident(const char *what, const mp__mpi_ident_t *mine,
           const mp__mpi_ident_t *theirs, char *why, size_t why_len)
{
    if (mine->len == theirs->len && mine->len > 0 &&
        memcmp(mine->id, theirs->id, mine->len) == 0) {
        return true;
    }
    char a[17], b[17];
    hex_of(mine, a);
    hex_of(theirs, b);
    snprintf(why, why_len,
             "its %s differs from rank 0's (build-id %s here, %s there)", what,
             a, b);
    return false;
}

bool
mp__mpi_hello_check(const mp__mpi_hello_t *mine, const mp__mpi_hello_t *theirs,
                    char *why, size_t why_len)
{
    if (theirs->magic != MP__MPI_MAGIC || theirs->proto != mine->proto) {
        snprintf(why, why_len, "protocol %u here, %u at rank 0", mine->proto,
                 theirs->proto);
        return false;
    }
    if (theirs->byte_order != mine->byte_order ||
        theirs->sizes != mine->sizes) {
        snprintf(why, why_len,
                 "its ABI differs from rank 0's (byte order or type sizes)");
        return false;
    }
    return same_ident("program", &mine->program, &theirs->program, why,
                      why_len) &&
           same_ident("libmultiproc", &mine->core, &theirs->core, why,
                      why_len) &&
           same_ident("libmultiproc_mpi", &mine->mpi_lib, &theirs->mpi_lib, why,
                      why_len);
}
