/* SPDX-License-Identifier: MIT */
/* linux_elf.c - the code objects (ELF executable and shared objects)
 * loaded in this process, as the dynamic loader lists them: which object
 * an address of code belongs to, which loaded object carries a given GNU
 * build-id, and loading one more by path. The process layer's function
 * references (src/shm/fnref.c) stand on these. */
#include "platform.h"

#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <stdbool.h>
#include <string.h>

/* The aligned size of a note's name or descriptor. */
static size_t
note_pad(size_t n, size_t align)
{
    return (n + align - 1) & ~(align - 1);
}

/* Reads the GNU build-id of a loaded object from its PT_NOTE segments into
 * obj (build_id_len 0 when it has none). */
static void
read_build_id(const struct dl_phdr_info *info, mp__plat_code_object_t *obj)
{
    obj->build_id_len = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_NOTE) {
            continue;
        }
        size_t align = ph->p_align >= 8 ? 8 : 4;
        const unsigned char *p =
            (const unsigned char *)(info->dlpi_addr + ph->p_vaddr);
        size_t left = ph->p_memsz;
        while (left >= sizeof(ElfW(Nhdr))) {
            const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)(const void *)p;
            size_t name_size = note_pad(nh->n_namesz, align);
            size_t desc_size = note_pad(nh->n_descsz, align);
            size_t total = sizeof *nh + name_size + desc_size;
            if (name_size < nh->n_namesz || total > left) {
                break; /* malformed: stop reading this segment */
            }
            const char *name = (const char *)(nh + 1);
            if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
                memcmp(name, "GNU", 4) == 0 && nh->n_descsz > 0 &&
                nh->n_descsz <= sizeof obj->build_id) {
                memcpy(obj->build_id, name + name_size, nh->n_descsz);
                obj->build_id_len = nh->n_descsz;
                return;
            }
            p += total;
            left -= total;
        }
    }
}

/* Whether offset (from the load address) falls in an executable PT_LOAD
 * segment of the object. */
static bool
in_code(const struct dl_phdr_info *info, uint64_t offset)
{
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X) != 0 &&
            offset >= ph->p_vaddr && offset - ph->p_vaddr < ph->p_memsz) {
            return true;
        }
    }
    return false;
}

/* Fills obj from a loader entry. */
static void
describe(const struct dl_phdr_info *info, mp__plat_code_object_t *obj)
{
    obj->base = info->dlpi_addr;
    obj->path = info->dlpi_name != NULL ? info->dlpi_name : "";
    read_build_id(info, obj);
}

/* What a search looks for and what it found. */
typedef struct code_search {
    uintptr_t addr;    /* by address: the code address */
    const uint8_t *id; /* by build-id: the id, its length and */
    size_t id_len;     /* the offset that must be code */
    uint64_t offset;
    int result; /* 0 found, MP_ENOENT, MP_EPROTO */
    mp__plat_code_object_t *out;
} code_search_t;

static int
by_address(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    code_search_t *s = data;
    if (s->addr < info->dlpi_addr ||
        !in_code(info, (uint64_t)(s->addr - info->dlpi_addr))) {
        return 0;
    }
    describe(info, s->out);
    s->result = 0;
    return 1; /* stop */
}

static int
by_build_id(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    code_search_t *s = data;
    mp__plat_code_object_t obj;
    describe(info, &obj);
    if (obj.build_id_len != s->id_len ||
        memcmp(obj.build_id, s->id, s->id_len) != 0) {
        return 0;
    }
    if (!in_code(info, s->offset)) {
        s->result = MP_EPROTO; /* the right object, but not its code */
        return 1;
    }
    *s->out = obj;
    s->result = 0;
    return 1;
}

int
mp__plat_code_find(const void *addr, mp__plat_code_object_t *out)
{
    code_search_t s = {
        .addr = (uintptr_t)addr, .result = MP_ENOENT, .out = out};
    dl_iterate_phdr(by_address, &s);
    return s.result;
}

int
mp__plat_code_by_build_id(const uint8_t *id, size_t id_len, uint64_t offset,
                          mp__plat_code_object_t *out)
{
    if (id_len == 0) {
        return MP_ENOENT;
    }
    code_search_t s = {.id = id,
                       .id_len = id_len,
                       .offset = offset,
                       .result = MP_ENOENT,
                       .out = out};
    dl_iterate_phdr(by_build_id, &s);
    return s.result;
}

int
mp__plat_code_load(const char *path)
{
    /* Kept loaded for the life of the process: functions in it may be
     * called at any later time. */
    return dlopen(path, RTLD_NOW | RTLD_LOCAL) != NULL ? 0 : MP_ENOENT;
}
