/* SPDX-License-Identifier: MIT */
/* error.c - error texts and names generated from MP_ERRNO_MAP, and the
 * version queries: the library's own tables, no OS call (mp__panic, which
 * writes to stderr, lives in platform/linux_self.c). */
#include "mp_internal.h"

#include <stdio.h>

const char *
mp_strerror(int err)
{
    switch (err) {
#define MP__ERRNO_TEXT(name, value, msg)                                       \
    case (value):                                                              \
        return msg;
        MP_ERRNO_MAP(MP__ERRNO_TEXT)
#undef MP__ERRNO_TEXT
    default:
        return "unknown error";
    }
}

const char *
mp_err_name(int err)
{
    switch (err) {
#define MP__ERRNO_NAME(name, value, msg)                                       \
    case (value):                                                              \
        return #name;
        MP_ERRNO_MAP(MP__ERRNO_NAME)
#undef MP__ERRNO_NAME
    default:
        return "UNKNOWN";
    }
}

/* Writes text (or "prefix N" for an unknown code) into buf. */
static char *
format_code(int err, const char *text, const char *unknown, char *buf,
            size_t buflen)
{
    if (buf == NULL || buflen == 0) {
        return buf;
    }
    if (text == unknown) {
        snprintf(buf, buflen, "%s %d", unknown, err);
    } else {
        snprintf(buf, buflen, "%s", text);
    }
    return buf;
}

char *
mp_strerror_r(int err, char *buf, size_t buflen)
{
    const char *text = mp_strerror(err);
    return format_code(err, text, mp_strerror(1), buf, buflen);
}

char *
mp_err_name_r(int err, char *buf, size_t buflen)
{
    const char *text = mp_err_name(err);
    return format_code(err, text, mp_err_name(1), buf, buflen);
}

unsigned
mp_version(void)
{
    return MP_VERSION_HEX;
}

const char *
mp_version_string(void)
{
    return MP_VERSION_STRING;
}
