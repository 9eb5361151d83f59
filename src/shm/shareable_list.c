/* SPDX-License-Identifier: MIT */
/* shareable_list.c - ShareableList (Python's shared_memory.ShareableList)
 * in Python's byte layout, on one named block (shared_memory.c).
 *
 * The block, all integers native (little-endian) 8-byte words:
 *
 *     i64 n                          the number of items
 *     i64 offset[n + 1]              each item's place in the data area,
 *                                    offset[n] the data area's size
 *     data[offset[n]]                the items' values
 *     char format[n][8]              each item's struct format, NUL-padded
 *     i8 code[n]                     each item's back-transform code
 *
 * The data area starts at 8 * (n + 2). A format is "q" (int), "d" (float),
 * "xxxxxxx?" (bool: its byte 7), "xxxxxx?x" (None: eight zero bytes) or
 * "<room>s" (str and bytes, NUL-padded to room); the code is 0 for int,
 * float and bool, 1 for str, 2 for bytes, 3 for None. An item's room,
 * offset[i + 1] - offset[i], is fixed at creation: 8 for a fixed-size item,
 * 8 * (len / 8 + 1) for a str or bytes of len bytes. Python counts a str's
 * characters there, and so truncates a non-ASCII str whose UTF-8 is longer;
 * this file counts its bytes, which gives the same room for ASCII text and
 * never truncates. Everything read from the block is checked before use: a
 * peer (or a Python program) can write anything there. */
#include "shm_internal.h"

#include <string.h>

/* Python's alignment of the items' rooms. */
#define SL_ALIGN 8u
/* Bytes of one item's format in the block. */
#define SL_FMT_LEN 8u
/* The largest room whose format ("<room>s") fits 8 characters. */
#define SL_ROOM_MAX 9999992u

/* Python's back-transform codes. */
enum { SL_CODE_VALUE = 0, SL_CODE_STR = 1, SL_CODE_BYTES = 2, SL_CODE_NONE };

static const char SL_FMT_BOOL[] = "xxxxxxx?";
static const char SL_FMT_NONE[] = "xxxxxx?x";

struct mp_shareable_list {
    mp_shm_t *shm;
    uint8_t *buf;      /* the mapping; NULL once closed */
    size_t n;          /* items, read once (as Python does) */
    uint64_t *offsets; /* n + 1 data offsets, read once */
};

/* What one item holds, as its format and code say. */
typedef struct sl_item {
    mp_shareable_type_t type;
    size_t index; /* its position in the list */
    size_t pos;   /* its data's offset from the start of the block */
    size_t room;  /* bytes between it and the next item */
    size_t slen;  /* str and bytes: the format's length */
} sl_item_t;

/* Returns the bytes of the data area before the formats: 8 * (n + 2). */
static size_t
sl_data_start(size_t n)
{
    return (n + 2) * 8;
}

/* Returns the offset of the formats area. */
static size_t
sl_formats_start(const mp_shareable_list_t *l)
{
    return sl_data_start(l->n) + (size_t)l->offsets[l->n];
}

/* Returns true if s[0..len) is UTF-8 that Python's decode accepts (no
 * overlong forms, no surrogates, nothing above U+10FFFF). */
static bool
sl_utf8_valid(const uint8_t *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint8_t c = s[i];
        size_t more;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            more = 1;
            cp = c & 0x1Fu;
        } else if (c >= 0xE0 && c <= 0xEF) {
            more = 2;
            cp = c & 0x0Fu;
        } else if (c >= 0xF0 && c <= 0xF4) {
            more = 3;
            cp = c & 0x07u;
        } else {
            return false;
        }
        if (len - i <= more) {
            return false;
        }
        for (size_t k = 1; k <= more; k++) {
            if ((s[i + k] & 0xC0u) != 0x80u) {
                return false;
            }
            cp = (cp << 6) | (s[i + k] & 0x3Fu);
        }
        if ((more == 2 && cp < 0x800) || (more == 3 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
            return false;
        }
        i += more + 1;
    }
    return true;
}

/* Returns the room of a str or bytes item of len bytes (Python's
 * 8 * (len // 8 + 1)), or 0 when its format would not fit 8 characters. */
static size_t
sl_room_for(size_t len)
{
    if (len >= SL_ROOM_MAX) {
        return 0;
    }
    return SL_ALIGN * (len / SL_ALIGN + 1);
}

/* Writes the format of an item of type (room: for str and bytes) into
 * fmt (8 bytes, NUL-padded). */
static void
sl_format_make(mp_shareable_type_t type, size_t room, char fmt[SL_FMT_LEN])
{
    char text[SL_FMT_LEN + 1] = {0};
    switch (type) {
    case MP_SHAREABLE_INT64:
        text[0] = 'q';
        break;
    case MP_SHAREABLE_DOUBLE:
        text[0] = 'd';
        break;
    case MP_SHAREABLE_BOOL:
        memcpy(text, SL_FMT_BOOL, SL_FMT_LEN);
        break;
    case MP_SHAREABLE_NONE:
        memcpy(text, SL_FMT_NONE, SL_FMT_LEN);
        break;
    default: /* str, bytes: room < SL_ROOM_MAX, at most 7 digits */
        (void)snprintf(text, sizeof text, "%zus", room);
        break;
    }
    memcpy(fmt, text, SL_FMT_LEN);
}

/* Returns the back-transform code of type. */
static int8_t
sl_code_of(mp_shareable_type_t type)
{
    switch (type) {
    case MP_SHAREABLE_STR:
        return SL_CODE_STR;
    case MP_SHAREABLE_BYTES:
        return SL_CODE_BYTES;
    case MP_SHAREABLE_NONE:
        return SL_CODE_NONE;
    default:
        return SL_CODE_VALUE;
    }
}

/* Turns a Python index into a position in l. Returns 0 with *at set, or
 * MP_EINVAL, MP_ECLOSED, MP_ERANGE. */
static int
sl_index(const mp_shareable_list_t *l, ssize_t index, size_t *at)
{
    if (l == NULL) {
        return MP_EINVAL;
    }
    if (l->buf == NULL) {
        return MP_ECLOSED;
    }
    if (index < 0) {
        if ((size_t) - (index + 1) >= l->n) {
            return MP_ERANGE;
        }
        *at = l->n - (size_t) - (index + 1) - 1;
    } else {
        if ((size_t)index >= l->n) {
            return MP_ERANGE;
        }
        *at = (size_t)index;
    }
    return 0;
}

/* Reads the format and code of item i (in range) and says what it holds.
 * Returns 0 or MP_EPROTO (not a format and code Python writes, or a
 * str/bytes format longer than the item's room). */
static int
sl_describe(const mp_shareable_list_t *l, size_t i, sl_item_t *it)
{
    char fmt[SL_FMT_LEN + 1] = {0};
    memcpy(fmt, l->buf + sl_formats_start(l) + i * SL_FMT_LEN, SL_FMT_LEN);
    int8_t code;
    memcpy(&code, l->buf + sl_formats_start(l) + l->n * SL_FMT_LEN + i, 1);
    size_t flen = strlen(fmt); /* Python strips the NUL padding */
    it->index = i;
    it->pos = sl_data_start(l->n) + (size_t)l->offsets[i];
    it->room = (size_t)(l->offsets[i + 1] - l->offsets[i]);
    it->slen = 0;
    if (code == SL_CODE_NONE) {
        /* Python's None ignores the bytes; its format is "xxxxxx?x". */
        it->type = MP_SHAREABLE_NONE;
        return strcmp(fmt, SL_FMT_NONE) == 0 ? 0 : MP_EPROTO;
    }
    if (code == SL_CODE_VALUE) {
        if (strcmp(fmt, "q") == 0) {
            it->type = MP_SHAREABLE_INT64;
        } else if (strcmp(fmt, "d") == 0) {
            it->type = MP_SHAREABLE_DOUBLE;
        } else if (strcmp(fmt, SL_FMT_BOOL) == 0) {
            it->type = MP_SHAREABLE_BOOL;
        } else {
            return MP_EPROTO;
        }
        return 0;
    }
    if (code != SL_CODE_STR && code != SL_CODE_BYTES) {
        return MP_EPROTO;
    }
    /* "<digits>s" */
    if (flen < 2 || fmt[flen - 1] != 's') {
        return MP_EPROTO;
    }
    size_t slen = 0;
    for (size_t k = 0; k + 1 < flen; k++) {
        if (fmt[k] < '0' || fmt[k] > '9') {
            return MP_EPROTO;
        }
        slen = slen * 10 + (size_t)(fmt[k] - '0');
    }
    if (slen > it->room) {
        return MP_EPROTO;
    }
    it->slen = slen;
    it->type = code == SL_CODE_STR ? MP_SHAREABLE_STR : MP_SHAREABLE_BYTES;
    return 0;
}

/* Looks an item up by Python index and describes it; with want > 0 the
 * item must be of that type (MP_EKIND otherwise). */
static int
sl_item(const mp_shareable_list_t *l, ssize_t index, int want, sl_item_t *it)
{
    size_t i;
    int err = sl_index(l, index, &i);
    if (err == 0) {
        err = sl_describe(l, i, it);
    }
    if (err == 0 && want > 0 && (int)it->type != want) {
        err = MP_EKIND;
    }
    return err;
}

/* Writes item i's format and code for type (room: the new str/bytes
 * format's length), then its value: len bytes at value, then zeros up to
 * width (Python packs the format and code first, then the value). */
static void
sl_store(mp_shareable_list_t *l, size_t i, mp_shareable_type_t type,
         size_t room, const void *value, size_t len, size_t width)
{
    uint8_t *formats = l->buf + sl_formats_start(l);
    char fmt[SL_FMT_LEN];
    sl_format_make(type, room, fmt);
    memcpy(formats + i * SL_FMT_LEN, fmt, SL_FMT_LEN);
    int8_t code = sl_code_of(type);
    memcpy(formats + l->n * SL_FMT_LEN + i, &code, 1);
    uint8_t *at = l->buf + sl_data_start(l->n) + (size_t)l->offsets[i];
    if (len > 0) {
        memcpy(at, value, len);
    }
    memset(at + len, 0, width - len);
}

/* Sets a fixed-size item: 8 bytes, value's bytes at byte `at` of them. */
static int
sl_set_fixed(mp_shareable_list_t *l, ssize_t index, mp_shareable_type_t type,
             const void *value, size_t len, size_t at)
{
    size_t i;
    int err = sl_index(l, index, &i);
    if (err != 0) {
        return err;
    }
    uint8_t word[8] = {0};
    if (len > 0) {
        memcpy(word + at, value, len);
    }
    sl_store(l, i, type, 0, word, sizeof word, sizeof word);
    return 0;
}

/* Sets a str or bytes item, as Python's __setitem__: the value must fit
 * the item's room; an item that already holds str or bytes keeps its
 * format, any other takes "<room>s". */
static int
sl_set_var(mp_shareable_list_t *l, ssize_t index, mp_shareable_type_t type,
           const void *data, size_t len)
{
    size_t i;
    int err = sl_index(l, index, &i);
    if (err != 0) {
        return err;
    }
    if (data == NULL && len > 0) {
        return MP_EINVAL;
    }
    if (type == MP_SHAREABLE_STR && !sl_utf8_valid(data, len)) {
        return MP_EINVAL;
    }
    size_t room = (size_t)(l->offsets[i + 1] - l->offsets[i]);
    if (len > room) {
        return MP_EOVERFLOW;
    }
    sl_item_t it;
    size_t width = room;
    if (sl_describe(l, i, &it) == 0 &&
        (it.type == MP_SHAREABLE_STR || it.type == MP_SHAREABLE_BYTES)) {
        width = it.slen;
        if (len > width) {
            return MP_EOVERFLOW;
        }
    }
    sl_store(l, i, type, width, data, len, width);
    return 0;
}

/* Makes a handle over shm (taken over: destroyed on failure) whose list
 * header is read and checked. Returns 0 or MP_EPROTO, MP_ENOMEM. */
static int
sl_open(mp_shareable_list_t **out, mp_shm_t *shm)
{
    uint8_t *buf = mp_shm_buf(shm);
    size_t size = mp_shm_size(shm);
    int64_t n = -1;
    if (size >= 16) {
        memcpy(&n, buf, sizeof n);
    }
    /* Every item takes 8 offset bytes, 8 format bytes, a code byte and 8
     * bytes of room at least. */
    if (n < 0 || (uint64_t)n > (size - 16) / 25) {
        mp_shm_destroy(shm);
        return MP_EPROTO;
    }
    mp_shareable_list_t *l = mp__malloc(sizeof *l);
    uint64_t *offsets = mp__malloc(((size_t)n + 1) * sizeof *offsets);
    int err = l != NULL && offsets != NULL ? 0 : MP_ENOMEM;
    if (err == 0) {
        memcpy(offsets, buf + 8, ((size_t)n + 1) * sizeof *offsets);
        bool ok = true;
        for (size_t i = 0; i < (size_t)n && ok; i++) {
            ok = offsets[i] <= size && offsets[i + 1] <= size &&
                 offsets[i + 1] >= offsets[i] + SL_ALIGN;
        }
        /* data start + data + formats + codes within the block (each term
         * is below the block's size, so the sum cannot wrap) */
        ok = ok && offsets[n] <= size &&
             sl_data_start((size_t)n) + offsets[n] +
                     (size_t)n * (SL_FMT_LEN + 1) <=
                 size;
        err = ok ? 0 : MP_EPROTO;
    }
    if (err != 0) {
        mp__free(offsets);
        mp__free(l);
        mp_shm_destroy(shm);
        return err;
    }
    *l = (mp_shareable_list_t){
        .shm = shm, .buf = buf, .n = (size_t)n, .offsets = offsets};
    *out = l;
    return 0;
}

/* Checks one item for create and returns its room, or 0 when it is
 * invalid. */
static size_t
sl_item_room(const mp_shareable_item_t *it)
{
    switch (it->type) {
    case MP_SHAREABLE_INT64:
    case MP_SHAREABLE_DOUBLE:
    case MP_SHAREABLE_BOOL:
    case MP_SHAREABLE_NONE:
        return SL_ALIGN;
    case MP_SHAREABLE_STR:
    case MP_SHAREABLE_BYTES:
        if (it->data == NULL && it->len > 0) {
            return 0;
        }
        if (it->type == MP_SHAREABLE_STR && !sl_utf8_valid(it->data, it->len)) {
            return 0;
        }
        return sl_room_for(it->len);
    default:
        return 0;
    }
}

/* Writes item i of a fresh list from the caller's item. */
static void
sl_write_item(mp_shareable_list_t *l, size_t i, const mp_shareable_item_t *it)
{
    switch (it->type) {
    case MP_SHAREABLE_INT64:
        (void)sl_set_fixed(l, (ssize_t)i, it->type, &it->i64, 8, 0);
        break;
    case MP_SHAREABLE_DOUBLE:
        (void)sl_set_fixed(l, (ssize_t)i, it->type, &it->f64, 8, 0);
        break;
    case MP_SHAREABLE_BOOL: {
        uint8_t b = it->b ? 1 : 0;
        (void)sl_set_fixed(l, (ssize_t)i, it->type, &b, 1, 7);
        break;
    }
    case MP_SHAREABLE_NONE:
        (void)sl_set_fixed(l, (ssize_t)i, it->type, NULL, 0, 0);
        break;
    default: {
        size_t room = (size_t)(l->offsets[i + 1] - l->offsets[i]);
        sl_store(l, i, it->type, room, it->data, it->len, room);
        break;
    }
    }
}

int
mp__shareable_list_size(const mp_shareable_item_t *items, size_t n,
                        size_t *size)
{
    if (items == NULL && n > 0) {
        return MP_EINVAL;
    }
    /* 8 * (n + 2) header bytes, the rooms, 9 * n of formats and codes */
    size_t data = 0, fixed;
    if (!mp__size_mul(n, 17, &fixed) || !mp__size_add(fixed, 16, &fixed)) {
        return MP_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        size_t room = sl_item_room(&items[i]);
        if (room == 0 || !mp__size_add(data, room, &data)) {
            return MP_EINVAL;
        }
    }
    return mp__size_add(fixed, data, size) ? 0 : MP_EINVAL;
}

int
mp__shareable_list_init(mp_shareable_list_t **out, mp_shm_t *shm,
                        const mp_shareable_item_t *items, size_t n)
{
    uint64_t *offsets = mp__malloc((n + 1) * sizeof *offsets);
    mp_shareable_list_t *l = mp__malloc(sizeof *l);
    if (offsets == NULL || l == NULL) {
        mp__free(offsets);
        mp__free(l);
        return MP_ENOMEM;
    }
    offsets[0] = 0;
    for (size_t i = 0; i < n; i++) {
        offsets[i + 1] = offsets[i] + sl_item_room(&items[i]);
    }
    uint8_t *buf = mp_shm_buf(shm);
    int64_t len = (int64_t)n;
    memcpy(buf, &len, sizeof len);
    memcpy(buf + 8, offsets, (n + 1) * sizeof *offsets);
    *l = (mp_shareable_list_t){
        .shm = shm, .buf = buf, .n = n, .offsets = offsets};
    for (size_t i = 0; i < n; i++) {
        sl_write_item(l, i, &items[i]);
    }
    *out = l;
    return 0;
}

int
mp_shareable_list_create(mp_shareable_list_t **out, const char *name,
                         const mp_shareable_item_t *items, size_t n,
                         unsigned flags)
{
    size_t size;
    int err =
        out != NULL ? mp__shareable_list_size(items, n, &size) : MP_EINVAL;
    if (err != 0) {
        return err;
    }
    mp_shm_t *shm;
    err = mp_shm_create(&shm, name, size, flags);
    if (err != 0) {
        return err;
    }
    err = mp__shareable_list_init(out, shm, items, n);
    if (err != 0) {
        mp__shm_discard(shm);
    }
    return err;
}

int
mp_shareable_list_attach(mp_shareable_list_t **out, const char *name)
{
    if (out == NULL) {
        return MP_EINVAL;
    }
    mp_shm_t *shm;
    int err = mp_shm_attach(&shm, name);
    if (err != 0) {
        return err;
    }
    return sl_open(out, shm);
}

ssize_t
mp_shareable_list_len(const mp_shareable_list_t *l)
{
    if (l == NULL) {
        return MP_EINVAL;
    }
    return l->buf == NULL ? MP_ECLOSED : (ssize_t)l->n;
}

mp_shm_t *
mp_shareable_list_shm(const mp_shareable_list_t *l)
{
    return l != NULL ? l->shm : NULL;
}

int
mp_shareable_list_type(const mp_shareable_list_t *l, ssize_t index)
{
    sl_item_t it;
    int err = sl_item(l, index, 0, &it);
    return err != 0 ? err : (int)it.type;
}

int
mp_shareable_list_format(const mp_shareable_list_t *l, ssize_t index, char *buf,
                         size_t buflen)
{
    if (buf == NULL) {
        return MP_EINVAL;
    }
    sl_item_t it;
    int err = sl_item(l, index, 0, &it);
    if (err != 0) {
        return err;
    }
    if (buflen < MP_SHAREABLE_FORMAT_MAX) {
        return MP_ERANGE;
    }
    /* Python's format: the stored 8 bytes without their NUL padding
     * (sl_describe checked they are one Python writes). */
    memcpy(buf, l->buf + sl_formats_start(l) + it.index * SL_FMT_LEN,
           SL_FMT_LEN);
    buf[SL_FMT_LEN] = '\0';
    return 0;
}

/* Reads len bytes at byte at of the 8 of a fixed-size item of type want
 * into out. */
static int
sl_get_fixed(const mp_shareable_list_t *l, ssize_t index, int want, void *out,
             size_t len, size_t at)
{
    if (out == NULL) {
        return MP_EINVAL;
    }
    sl_item_t it;
    int err = sl_item(l, index, want, &it);
    if (err == 0) {
        memcpy(out, l->buf + it.pos + at, len);
    }
    return err;
}

int
mp_shareable_list_get_int64(const mp_shareable_list_t *l, ssize_t index,
                            int64_t *out)
{
    return sl_get_fixed(l, index, MP_SHAREABLE_INT64, out, sizeof *out, 0);
}

int
mp_shareable_list_get_double(const mp_shareable_list_t *l, ssize_t index,
                             double *out)
{
    return sl_get_fixed(l, index, MP_SHAREABLE_DOUBLE, out, sizeof *out, 0);
}

int
mp_shareable_list_get_bool(const mp_shareable_list_t *l, ssize_t index,
                           bool *out)
{
    uint8_t byte = 0; /* '?' is the item's byte 7 */
    int err = sl_get_fixed(l, index, MP_SHAREABLE_BOOL,
                           out != NULL ? &byte : NULL, 1, 7);
    if (err == 0) {
        *out = byte != 0;
    }
    return err;
}

/* Copies a str or bytes item out without its trailing NULs (plus a
 * terminator). Returns the length or an error. */
static ssize_t
sl_get_var(const mp_shareable_list_t *l, ssize_t index, int want, void **out)
{
    if (out == NULL) {
        return MP_EINVAL;
    }
    sl_item_t it;
    int err = sl_item(l, index, want, &it);
    if (err != 0) {
        return err;
    }
    /* one copy first: a writer may change the block while we look */
    char *copy = mp__malloc(it.slen + 1);
    if (copy == NULL) {
        return MP_ENOMEM;
    }
    memcpy(copy, l->buf + it.pos, it.slen);
    size_t len = it.slen;
    while (len > 0 && copy[len - 1] == '\0') {
        len--;
    }
    copy[len] = '\0';
    if (want == MP_SHAREABLE_STR &&
        !sl_utf8_valid((const uint8_t *)copy, len)) {
        mp__free(copy);
        return MP_EPROTO;
    }
    *out = copy;
    return (ssize_t)len;
}

ssize_t
mp_shareable_list_get_str(const mp_shareable_list_t *l, ssize_t index,
                          char **out)
{
    return sl_get_var(l, index, MP_SHAREABLE_STR, (void **)out);
}

ssize_t
mp_shareable_list_get_bytes(const mp_shareable_list_t *l, ssize_t index,
                            void **out)
{
    return sl_get_var(l, index, MP_SHAREABLE_BYTES, out);
}

int
mp_shareable_list_set_int64(mp_shareable_list_t *l, ssize_t index,
                            int64_t value)
{
    return sl_set_fixed(l, index, MP_SHAREABLE_INT64, &value, 8, 0);
}

int
mp_shareable_list_set_double(mp_shareable_list_t *l, ssize_t index,
                             double value)
{
    return sl_set_fixed(l, index, MP_SHAREABLE_DOUBLE, &value, 8, 0);
}

int
mp_shareable_list_set_bool(mp_shareable_list_t *l, ssize_t index, bool value)
{
    uint8_t b = value ? 1 : 0;
    return sl_set_fixed(l, index, MP_SHAREABLE_BOOL, &b, 1, 7);
}

int
mp_shareable_list_set_none(mp_shareable_list_t *l, ssize_t index)
{
    return sl_set_fixed(l, index, MP_SHAREABLE_NONE, NULL, 0, 0);
}

int
mp_shareable_list_set_str(mp_shareable_list_t *l, ssize_t index,
                          const char *text, size_t len)
{
    return sl_set_var(l, index, MP_SHAREABLE_STR, text, len);
}

int
mp_shareable_list_set_bytes(mp_shareable_list_t *l, ssize_t index,
                            const void *data, size_t len)
{
    return sl_set_var(l, index, MP_SHAREABLE_BYTES, data, len);
}

int
mp_shareable_list_close(mp_shareable_list_t *l)
{
    if (l == NULL) {
        return MP_EINVAL;
    }
    l->buf = NULL;
    return mp_shm_close(l->shm);
}

void
mp_shareable_list_destroy(mp_shareable_list_t *l)
{
    if (l == NULL) {
        return;
    }
    mp_shm_destroy(l->shm);
    mp__free(l->offsets);
    mp__free(l);
}
