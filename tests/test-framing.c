/* SPDX-License-Identifier: MIT */
/* test-framing.c - the frame codec of src/ipc: Python's exact header bytes
 * for short, boundary and escaped lengths, and rejection of bad headers. */
#include "runner.h"

#include "ipc/ipc_internal.h"

/* Decodes a header given as bytes, feeding it the way a reader does: four
 * bytes first, then the rest when asked. */
static int
decode_all(const uint8_t *hdr, size_t avail, uint64_t *len)
{
    size_t need = MP__FRAME_HDR_SHORT;
    int r = mp__frame_decode(hdr, need, &need, len);
    if (r == 0) {
        ASSERT_EQ(need, MP__FRAME_HDR_MAX);
        ASSERT_LE(need, avail);
        r = mp__frame_decode(hdr, need, &need, len);
    }
    return r;
}

TEST(framing_encode_short_headers)
{
    uint8_t h[MP__FRAME_HDR_MAX];
    ASSERT_EQ(mp__frame_encode(0, h), 4);
    ASSERT_MEM_EQ(h, "\x00\x00\x00\x00", 4);
    ASSERT_EQ(mp__frame_encode(5, h), 4);
    ASSERT_MEM_EQ(h, "\x00\x00\x00\x05", 4);
    ASSERT_EQ(mp__frame_encode(0x01020304, h), 4);
    ASSERT_MEM_EQ(h, "\x01\x02\x03\x04", 4);
    /* Python sends exactly 0x7FFFFFFF with the short header. */
    ASSERT_EQ(mp__frame_encode(0x7FFFFFFF, h), 4);
    ASSERT_MEM_EQ(h, "\x7f\xff\xff\xff", 4);
}

TEST(framing_encode_escaped_headers)
{
    uint8_t h[MP__FRAME_HDR_MAX];
    ASSERT_EQ(mp__frame_encode(0x80000000u, h), 12);
    ASSERT_MEM_EQ(h, "\xff\xff\xff\xff\x00\x00\x00\x00\x80\x00\x00\x00", 12);
    /* The header Python 3.11 emitted for 2 147 483 653 bytes. */
    ASSERT_EQ(mp__frame_encode(2147483653u, h), 12);
    ASSERT_MEM_EQ(h, "\xff\xff\xff\xff\x00\x00\x00\x00\x80\x00\x00\x05", 12);
    ASSERT_EQ(mp__frame_encode(UINT64_C(0x0102030405060708), h), 12);
    ASSERT_MEM_EQ(h, "\xff\xff\xff\xff\x01\x02\x03\x04\x05\x06\x07\x08", 12);
}

TEST(framing_decode_round_trip)
{
    static const uint64_t lens[] = {
        0, 1, 4096, 0x7FFFFFFF, 0x80000000u, 3221225472u, INT64_MAX};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        uint8_t h[MP__FRAME_HDR_MAX];
        size_t n = mp__frame_encode(lens[i], h);
        uint64_t len = 1234;
        ASSERT_EQ(decode_all(h, n, &len), 1);
        ASSERT_EQ(len, lens[i]);
    }
}

TEST(framing_decode_python_escape_of_small_length)
{
    /* Python accepts an escaped header for a short length ("hello"). */
    const uint8_t h[] = {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 5};
    uint64_t len = 0;
    ASSERT_EQ(decode_all(h, sizeof h, &len), 1);
    ASSERT_EQ(len, 5);
}

TEST(framing_decode_three_gib_needs_the_long_header)
{
    const uint8_t h[] = {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0xc0, 0, 0, 0};
    size_t need = 0;
    uint64_t len = 0;
    ASSERT_EQ(mp__frame_decode(h, 4, &need, &len), 0);
    ASSERT_EQ(need, 12);
    ASSERT_EQ(mp__frame_decode(h, 12, &need, &len), 1);
    ASSERT_EQ(len, UINT64_C(3) << 30);
}

TEST(framing_decode_rejects_bad_headers)
{
    uint64_t len = 0;
    size_t need = 0;
    /* Negative lengths other than the -1 escape. */
    ASSERT_ERR(
        mp__frame_decode((const uint8_t *)"\x80\x00\x00\x00", 4, &need, &len),
        MP_EPROTO);
    ASSERT_ERR(
        mp__frame_decode((const uint8_t *)"\xff\xff\xff\xfe", 4, &need, &len),
        MP_EPROTO);
    /* An escaped length no ssize_t can report. */
    const uint8_t h[] = {0xff, 0xff, 0xff, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0};
    ASSERT_ERR(decode_all(h, sizeof h, &len), MP_EPROTO);
}
