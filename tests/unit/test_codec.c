/* Unit tests of protocol/codec.c: stream decoder, reader, UTF-8, writer. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "codec.h"

/* The daemon's defaults: 64 MiB messages, 16 levels, 1 Mi items. */
static const struct codec_limits default_limits = {64u << 20, 16, 1u << 20};

/* Feeds @len bytes to a fresh decoder and returns the status of the first
 * codec_decoder_next(); the decoder is left for the caller to inspect and
 * close. */
static int decode(struct codec_decoder *d, const struct codec_limits *limits,
                  const void *bytes, size_t len, const char **msg,
                  size_t *msg_len)
{
    codec_decoder_init(d, limits);
    cr_assert_eq(codec_decoder_feed(d, bytes, len), 0);
    return codec_decoder_next(d, msg, msg_len);
}

/* Packs a message holding one value of every kind into @b. */
static void pack_every_type(struct codec_buf *b)
{
    static const char bin[] = {'a', 0, 'b', 0};
    static const char ext[] = {1, 2, 3, 4};

    msgpack_pack_array(&b->pk, 22);
    msgpack_pack_int64(&b->pk, INT64_MIN);
    msgpack_pack_int64(&b->pk, INT64_MAX);
    msgpack_pack_uint64(&b->pk, UINT64_MAX);
    msgpack_pack_int64(&b->pk, 0);
    msgpack_pack_int64(&b->pk, -1);
    msgpack_pack_double(&b->pk, -0.0);
    msgpack_pack_double(&b->pk, NAN);
    msgpack_pack_double(&b->pk, INFINITY);
    msgpack_pack_double(&b->pk, -INFINITY);
    msgpack_pack_float(&b->pk, 1.5f);
    codec_pack_str(b, "", 0);
    msgpack_pack_bin(&b->pk, 0);
    msgpack_pack_bin_with_body(&b->pk, bin, sizeof(bin));
    codec_pack_cstr(b, "h\xc3\xa9llo \xe2\x98\x83 \xf0\x9d\x84\x9e");
    msgpack_pack_nil(&b->pk);
    msgpack_pack_true(&b->pk);
    msgpack_pack_false(&b->pk);
    /* {"k": [300, {}], "": []} */
    msgpack_pack_map(&b->pk, 2);
    codec_pack_cstr(b, "k");
    msgpack_pack_array(&b->pk, 2);
    msgpack_pack_int(&b->pk, 300);
    msgpack_pack_map(&b->pk, 0);
    codec_pack_cstr(b, "");
    msgpack_pack_array(&b->pk, 0);
    msgpack_pack_ext_with_body(&b->pk, ext, 1, -1); /* fixext 1 */
    msgpack_pack_ext_with_body(&b->pk, ext, 3, 7);  /* ext 8 */
    msgpack_pack_fix_uint64(&b->pk, 5);             /* 0xcf form, fits int64 */
    msgpack_pack_fix_int8(&b->pk, -100);
    cr_assert_eq(b->error, CODEC_BUF_OK);
}

static void expect_int(struct codec_reader *r, int64_t want)
{
    struct codec_value v;

    cr_assert_eq(codec_read(r, &v), 0);
    cr_assert_eq(v.type, CODEC_INT, "type %d, want int %lld", v.type,
                 (long long)want);
    cr_assert_eq(v.v.i, want);
}

static double expect_float(struct codec_reader *r)
{
    struct codec_value v;

    cr_assert_eq(codec_read(r, &v), 0);
    cr_assert_eq(v.type, CODEC_FLOAT);
    return v.v.f;
}

static void expect_bytes(struct codec_reader *r, enum codec_type type,
                         const void *want, uint32_t len)
{
    struct codec_value v;

    cr_assert_eq(codec_read(r, &v), 0);
    cr_assert_eq(v.type, type);
    cr_assert_eq(v.v.s.len, len);
    cr_assert_eq(memcmp(v.v.s.ptr, want, len), 0);
}

static void expect_type(struct codec_reader *r, enum codec_type type,
                        uint32_t n)
{
    struct codec_value v;

    cr_assert_eq(codec_read(r, &v), 0);
    cr_assert_eq(v.type, type);
    if (type == CODEC_ARRAY || type == CODEC_MAP)
        cr_assert_eq(v.v.n, n);
}

Test(codec, round_trip_every_type)
{
    struct codec_buf b;
    struct codec_decoder d;
    struct codec_reader r;
    struct codec_value v;
    const char *msg;
    size_t len;
    double f;

    codec_buf_init(&b, 0);
    pack_every_type(&b);
    cr_assert_eq(decode(&d, &default_limits, b.data, b.len, &msg, &len),
                 CODEC_MESSAGE);
    cr_assert_eq(len, b.len);
    cr_assert_eq(memcmp(msg, b.data, len), 0);

    codec_reader_init(&r, msg, len);
    expect_type(&r, CODEC_ARRAY, 22);
    expect_int(&r, INT64_MIN);
    expect_int(&r, INT64_MAX);
    cr_assert_eq(codec_read(&r, &v), 0);
    cr_assert_eq(v.type, CODEC_UINT);
    cr_assert_eq(v.v.u, UINT64_MAX);
    expect_int(&r, 0);
    expect_int(&r, -1);
    f = expect_float(&r);
    cr_assert(f == 0.0 && signbit(f), "-0.0 lost its sign");
    cr_assert(isnan(expect_float(&r)));
    f = expect_float(&r);
    cr_assert(isinf(f) && f > 0);
    f = expect_float(&r);
    cr_assert(isinf(f) && f < 0);
    cr_assert_eq(expect_float(&r), 1.5);
    expect_bytes(&r, CODEC_STR, "", 0);
    expect_bytes(&r, CODEC_BIN, "", 0);
    expect_bytes(&r, CODEC_BIN, "a\0b\0", 4);
    expect_bytes(&r, CODEC_STR, "h\xc3\xa9llo \xe2\x98\x83 \xf0\x9d\x84\x9e",
                 15);
    expect_type(&r, CODEC_NIL, 0);
    cr_assert_eq(codec_read(&r, &v), 0);
    cr_assert(v.type == CODEC_BOOL && v.v.b);
    cr_assert_eq(codec_read(&r, &v), 0);
    cr_assert(v.type == CODEC_BOOL && !v.v.b);
    expect_type(&r, CODEC_MAP, 2);
    expect_bytes(&r, CODEC_STR, "k", 1);
    expect_type(&r, CODEC_ARRAY, 2);
    expect_int(&r, 300);
    expect_type(&r, CODEC_MAP, 0);
    expect_bytes(&r, CODEC_STR, "", 0);
    expect_type(&r, CODEC_ARRAY, 0);
    cr_assert_eq(codec_read(&r, &v), 0);
    cr_assert(v.type == CODEC_EXT && v.ext == -1 && v.v.s.len == 1);
    cr_assert_eq(v.v.s.ptr[0], 1);
    cr_assert_eq(codec_read(&r, &v), 0);
    cr_assert(v.type == CODEC_EXT && v.ext == 7 && v.v.s.len == 3);
    cr_assert_eq(memcmp(v.v.s.ptr, "\1\2\3", 3), 0);
    expect_int(&r, 5);
    expect_int(&r, -100);
    cr_assert(codec_at_end(&r));
    cr_assert_eq(codec_read(&r, &v), -1);

    codec_decoder_close(&d);
    codec_buf_close(&b);
}

Test(codec, every_strict_prefix_needs_more)
{
    struct codec_buf b;
    struct codec_decoder d;
    const char *msg;
    size_t len;

    codec_buf_init(&b, 0);
    pack_every_type(&b);
    for (size_t i = 0; i < b.len; i++) {
        int rc = decode(&d, &default_limits, b.data, i, &msg, &len);

        cr_assert_eq(rc, CODEC_NEED_MORE, "prefix of %zu/%zu bytes gave %d", i,
                     b.len, rc);
        cr_assert_eq(codec_decoder_pending(&d), i);
        codec_decoder_close(&d);
    }
    cr_assert_eq(decode(&d, &default_limits, b.data, b.len, &msg, &len),
                 CODEC_MESSAGE);
    codec_decoder_close(&d);
    codec_buf_close(&b);
}

Test(codec, one_byte_at_a_time_yields_one_message_at_the_end)
{
    struct codec_buf b;
    struct codec_decoder d;
    const char *msg;
    size_t len;
    int messages = 0;
    size_t last_scan = 0;

    codec_buf_init(&b, 0);
    pack_every_type(&b);
    codec_decoder_init(&d, &default_limits);
    for (size_t i = 0; i < b.len; i++) {
        int rc;

        cr_assert_eq(codec_decoder_feed(&d, b.data + i, 1), 0);
        rc = codec_decoder_next(&d, &msg, &len);
        if (i + 1 < b.len) {
            cr_assert_eq(rc, CODEC_NEED_MORE, "byte %zu gave %d", i, rc);
            /* Resumable: the scan moves forward with the bytes received
             * and never goes back to the start of the message. */
            cr_assert_leq(d.scan, d.end);
            cr_assert_geq(d.scan, last_scan, "scan went back at byte %zu", i);
            last_scan = d.scan;
        } else {
            cr_assert_eq(rc, CODEC_MESSAGE);
            messages++;
            cr_assert_eq(len, b.len);
            cr_assert_eq(memcmp(msg, b.data, len), 0);
        }
    }
    cr_assert_eq(messages, 1);
    cr_assert_gt(last_scan, b.len / 2);
    cr_assert_eq(codec_decoder_next(&d, &msg, &len), CODEC_NEED_MORE);
    cr_assert_eq(codec_decoder_pending(&d), 0);
    codec_decoder_close(&d);
    codec_buf_close(&b);
}

Test(codec, two_messages_in_one_feed_come_out_as_two)
{
    /* [1, "a"] {"b": nil} and the first byte of [2] */
    static const uint8_t bytes[] = {0x92, 0x01, 0xa1, 'a', 0x81,
                                    0xa1, 'b',  0xc0, 0x91};
    struct codec_decoder d;
    const char *msg;
    size_t len;

    cr_assert_eq(decode(&d, &default_limits, bytes, sizeof(bytes), &msg, &len),
                 CODEC_MESSAGE);
    cr_assert_eq(len, 4);
    cr_assert_eq(memcmp(msg, bytes, 4), 0);
    cr_assert_eq(codec_decoder_pending(&d), 5);
    cr_assert_eq(codec_decoder_next(&d, &msg, &len), CODEC_MESSAGE);
    cr_assert_eq(len, 4);
    cr_assert_eq(memcmp(msg, bytes + 4, 4), 0);
    cr_assert_eq(codec_decoder_next(&d, &msg, &len), CODEC_NEED_MORE);
    cr_assert_eq(codec_decoder_pending(&d), 1);
    cr_assert_eq(codec_decoder_feed(&d, "\x02", 1), 0);
    cr_assert_eq(codec_decoder_next(&d, &msg, &len), CODEC_MESSAGE);
    cr_assert_eq(len, 2);
    cr_assert_eq(memcmp(msg, "\x91\x02", 2), 0);
    cr_assert_eq(codec_decoder_next(&d, &msg, &len), CODEC_NEED_MORE);
    cr_assert_eq(codec_decoder_pending(&d), 0);
    codec_decoder_close(&d);
}

Test(codec, byte_c1_is_bad)
{
    static const uint8_t bytes[] = {0x93, 0x01, 0x02, 0xc1};
    struct codec_decoder d;
    const char *msg;
    size_t len;

    cr_assert_eq(decode(&d, &default_limits, bytes, sizeof(bytes), &msg, &len),
                 CODEC_BAD);
    cr_assert_str_eq(codec_decoder_error(&d),
                     "byte 0xc1 at offset 3 is not MessagePack");
    cr_assert_null(msg);
    codec_decoder_close(&d);
}

Test(codec, every_other_byte_is_valid)
{
    /* Extensions and float 32 are valid MessagePack even though sqlited
     * never sends them: the decoder frames them, the reader reads them. */
    static const uint8_t bytes[] = {
        0x9a,                            /* array of 10 */
        0xd4, 0x01, 0xaa,                /* fixext 1 */
        0xd5, 0x02, 0xaa, 0xbb,          /* fixext 2 */
        0xd6, 0x03, 1,    2,    3,    4, /* fixext 4 */
        0xd7, 0x04, 1,    2,    3,    4,    5,    6,    7,    8, /* fixext 8 */
        0xd8, 0x05, 1,    2,    3,    4,    5,    6,    7,    8,
        9,    10,   11,   12,   13,   14,   15,   16,         /* fixext 16 */
        0xc7, 0x01, 0xff, 0x61,                               /* ext 8 */
        0xc8, 0x00, 0x01, 0x80, 0x62,                         /* ext 16 */
        0xc9, 0x00, 0x00, 0x00, 0x01, 0x7f, 0x63,             /* ext 32 */
        0xca, 0x3f, 0xc0, 0x00, 0x00,                         /* float 1.5 */
        0xcb, 0x40, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d, 0x18, /* pi */
    };
    static const uint32_t ext_len[] = {1, 2, 4, 8, 16, 1, 1, 1};
    static const int8_t ext_type[] = {1, 2, 3, 4, 5, -1, -128, 127};
    struct codec_decoder d;
    struct codec_reader r;
    struct codec_value v;
    const char *msg;
    size_t len;

    cr_assert_eq(decode(&d, &default_limits, bytes, sizeof(bytes), &msg, &len),
                 CODEC_MESSAGE);
    cr_assert_eq(len, sizeof(bytes));
    codec_reader_init(&r, msg, len);
    expect_type(&r, CODEC_ARRAY, 10);
    for (int i = 0; i < 8; i++) {
        cr_assert_eq(codec_read(&r, &v), 0);
        cr_assert_eq(v.type, CODEC_EXT);
        cr_assert_eq(v.ext, ext_type[i], "ext %d: type %d", i, v.ext);
        cr_assert_eq(v.v.s.len, ext_len[i]);
    }
    cr_assert_eq(expect_float(&r), 1.5);
    cr_assert_eq(expect_float(&r), 3.141592653589793);
    cr_assert(codec_at_end(&r));
    codec_decoder_close(&d);
}

/* A 5-byte head declaring a huge container or body must be refused at once,
 * without the buffer growing towards the declared size. */
static void expect_refused(const char *head, size_t len, const char *error)
{
    struct codec_decoder d;
    const char *msg;
    size_t msg_len;

    cr_assert_eq(decode(&d, &default_limits, head, len, &msg, &msg_len),
                 CODEC_TOO_LARGE);
    cr_assert_str_eq(codec_decoder_error(&d), error);
    cr_assert_leq(d.cap, 4096, "buffer grew to %zu bytes", d.cap);
    codec_decoder_close(&d);
}

Test(codec, huge_declared_sizes_are_refused_before_allocation)
{
    expect_refused("\xdd\x01\x00\x00\x00", 5,
                   "array of 16777216 elements exceeds the limit of 1048576");
    expect_refused("\xdf\x01\x00\x00\x00", 5,
                   "map of 16777216 pairs exceeds the limit of 1048576");
    expect_refused("\xdb\xff\xff\xff\xff", 5,
                   "str of 4294967295 bytes at offset 0 exceeds the message "
                   "limit of 67108864 bytes");
    expect_refused("\xc6\xff\xff\xff\xff", 5,
                   "bin of 4294967295 bytes at offset 0 exceeds the message "
                   "limit of 67108864 bytes");
    /* ext 32: length, then the type byte */
    expect_refused("\xc9\xff\xff\xff\xff\x01", 6,
                   "ext of 4294967295 bytes at offset 0 exceeds the message "
                   "limit of 67108864 bytes");
}

Test(codec, container_counts_are_checked_against_the_bytes_left)
{
    struct codec_limits limits = {1u << 20, 16, UINT32_MAX};
    struct codec_decoder d;
    const char *msg;
    size_t len;

    cr_assert_eq(decode(&d, &limits, "\xdd\x01\x00\x00\x00", 5, &msg, &len),
                 CODEC_TOO_LARGE);
    cr_assert_str_eq(codec_decoder_error(&d),
                     "array of 16777216 elements exceeds the 1048571 bytes "
                     "left under the message limit of 1048576");
    cr_assert_leq(d.cap, 4096);
    codec_decoder_close(&d);

    /* A map needs two items per pair: 60 pairs cannot fit in 97 bytes, 60
     * elements can. */
    limits.max_message = 100;
    cr_assert_eq(decode(&d, &limits, "\xde\x00\x3c", 3, &msg, &len),
                 CODEC_TOO_LARGE);
    cr_assert_str_eq(codec_decoder_error(&d),
                     "map of 60 pairs exceeds the 97 bytes left under the "
                     "message limit of 100");
    codec_decoder_close(&d);
    cr_assert_eq(decode(&d, &limits, "\xdc\x00\x3c", 3, &msg, &len),
                 CODEC_NEED_MORE);
    codec_decoder_close(&d);
    /* Exactly enough: 97 one-byte elements after a 3-byte head. */
    cr_assert_eq(decode(&d, &limits, "\xdc\x00\x61", 3, &msg, &len),
                 CODEC_NEED_MORE);
    codec_decoder_close(&d);
    cr_assert_eq(decode(&d, &limits, "\xdc\x00\x62", 3, &msg, &len),
                 CODEC_TOO_LARGE);
    codec_decoder_close(&d);
}

/* @depth nested one-element arrays around an empty array or map. */
static int decode_nested(uint32_t depth, uint8_t inner)
{
    uint8_t bytes[64];
    struct codec_decoder d;
    const char *msg;
    size_t len;
    int rc;

    cr_assert_leq(depth, sizeof(bytes));
    memset(bytes, 0x91, depth - 1);
    bytes[depth - 1] = inner;
    rc = decode(&d, &default_limits, bytes, depth, &msg, &len);
    if (rc == CODEC_TOO_LARGE)
        cr_assert_str_eq(codec_decoder_error(&d),
                         "nesting deeper than 16 levels");
    if (rc == CODEC_MESSAGE)
        cr_assert_eq(len, depth);
    codec_decoder_close(&d);
    return rc;
}

Test(codec, nesting_is_limited)
{
    cr_assert_eq(decode_nested(16, 0x90), CODEC_MESSAGE);
    cr_assert_eq(decode_nested(16, 0x80), CODEC_MESSAGE);
    cr_assert_eq(decode_nested(17, 0x90), CODEC_TOO_LARGE);
    cr_assert_eq(decode_nested(17, 0x80), CODEC_TOO_LARGE);
    /* A scalar inside 16 arrays is 16 levels deep, not 17. */
    cr_assert_eq(decode_nested(17, 0x01), CODEC_MESSAGE);
}

Test(codec, message_growing_past_the_limit_is_refused_while_streaming)
{
    struct codec_limits limits = {64, 16, 1000};
    struct codec_decoder d;
    const char *msg;
    size_t len;

    /* An array of 40 uint16 values: 123 bytes, though the count fits. */
    codec_decoder_init(&d, &limits);
    cr_assert_eq(codec_decoder_feed(&d, "\xdc\x00\x28", 3), 0);
    cr_assert_eq(codec_decoder_next(&d, &msg, &len), CODEC_NEED_MORE);
    for (int i = 0; i < 20; i++) {
        cr_assert_eq(codec_decoder_feed(&d, "\xcd\x01\x02", 3), 0);
        cr_assert_eq(codec_decoder_next(&d, &msg, &len), CODEC_NEED_MORE);
    }
    /* The 21st element starts at 63 and would end at 66: its first byte is
     * enough to tell. */
    cr_assert_eq(codec_decoder_feed(&d, "\xcd", 1), 0);
    cr_assert_eq(codec_decoder_next(&d, &msg, &len), CODEC_TOO_LARGE);
    cr_assert_str_eq(codec_decoder_error(&d),
                     "message exceeds the limit of 64 bytes");
    codec_decoder_close(&d);

    /* The same for a top-level scalar: a float 64 needs 9 bytes. */
    limits.max_message = 8;
    cr_assert_eq(decode(&d, &limits, "\xcb", 1, &msg, &len), CODEC_TOO_LARGE);
    cr_assert_str_eq(codec_decoder_error(&d),
                     "message exceeds the limit of 8 bytes");
    codec_decoder_close(&d);
    limits.max_message = 64;

    /* A str arriving in pieces, refused as soon as its head says so. */
    codec_decoder_init(&d, &limits);
    cr_assert_eq(codec_decoder_feed(&d, "\x92\xd9\x20", 3), 0);
    cr_assert_eq(codec_decoder_next(&d, &msg, &len), CODEC_NEED_MORE);
    for (int i = 0; i < 32; i++)
        cr_assert_eq(codec_decoder_feed(&d, "x", 1), 0);
    cr_assert_eq(codec_decoder_next(&d, &msg, &len), CODEC_NEED_MORE);
    cr_assert_eq(codec_decoder_feed(&d, "\xd9\x1e", 2), 0);
    cr_assert_eq(codec_decoder_next(&d, &msg, &len), CODEC_TOO_LARGE);
    cr_assert_str_eq(codec_decoder_error(&d),
                     "str of 30 bytes at offset 35 exceeds the message limit "
                     "of 64 bytes");
    codec_decoder_close(&d);
}

Test(codec, errors_are_sticky)
{
    struct codec_decoder d;
    const char *msg;
    size_t len;
    char *space;
    size_t n;

    cr_assert_eq(decode(&d, &default_limits, "\x91\xc1", 2, &msg, &len),
                 CODEC_BAD);
    cr_assert_eq(codec_decoder_feed(&d, "\x91\x01", 2), 0);
    cr_assert_eq(codec_decoder_next(&d, &msg, &len), CODEC_BAD);
    cr_assert_eq(codec_decoder_next(&d, &msg, &len), CODEC_BAD);
    cr_assert_str_eq(codec_decoder_error(&d),
                     "byte 0xc1 at offset 1 is not MessagePack");
    /* Input after the error is dropped, so reading on cannot grow memory. */
    cr_assert_eq(codec_decoder_reserve(&d, 16, &space, &n), 0);
    cr_assert_eq(codec_decoder_pending(&d), 0);
    codec_decoder_close(&d);

    cr_assert_eq(
        decode(&d, &default_limits, "\xdd\xff\xff\xff\xff", 5, &msg, &len),
        CODEC_TOO_LARGE);
    cr_assert_eq(codec_decoder_feed(&d, "\x01", 1), 0);
    cr_assert_eq(codec_decoder_next(&d, &msg, &len), CODEC_TOO_LARGE);
    cr_assert_str_eq(
        codec_decoder_error(&d),
        "array of 4294967295 elements exceeds the limit of 1048576");
    codec_decoder_close(&d);

    /* A fresh decoder has no error. */
    codec_decoder_init(&d, &default_limits);
    cr_assert_str_eq(codec_decoder_error(&d), "");
    codec_decoder_close(&d);
}

Test(codec, reserve_and_commit)
{
    struct codec_limits limits = {1000, 16, 1000};
    struct codec_decoder d;
    const char *msg;
    size_t len;
    char *space;
    size_t n;
    uint8_t message[993] = {0xc5, 0x03, 0xde}; /* bin 16 of 990 bytes */

    codec_decoder_init(&d, &limits);
    /* Reading in chunks of 300: doubling would reach 2048 bytes, but the
     * buffer never exceeds what one message of 1000 bytes plus one read can
     * use. */
    for (size_t off = 0; off < sizeof(message); off += 300) {
        size_t chunk =
            sizeof(message) - off < 300 ? sizeof(message) - off : 300;

        cr_assert_eq(codec_decoder_reserve(&d, 300, &space, &n), 0);
        cr_assert_geq(n, 300);
        memcpy(space, message + off, chunk);
        codec_decoder_commit(&d, chunk);
        cr_assert_leq(d.cap, 1000 + 300, "buffer grew to %zu", d.cap);
        if (off + chunk < sizeof(message))
            cr_assert_eq(codec_decoder_next(&d, &msg, &len), CODEC_NEED_MORE);
    }
    cr_assert_eq(codec_decoder_next(&d, &msg, &len), CODEC_MESSAGE);
    cr_assert_eq(len, sizeof(message));

    /* A message plus part of the next: the next reserve moves the partial
     * one to the front. */
    cr_assert_eq(codec_decoder_feed(&d, "\x01\x92\x01", 3), 0);
    cr_assert_eq(codec_decoder_next(&d, &msg, &len), CODEC_MESSAGE);
    cr_assert_eq(codec_decoder_next(&d, &msg, &len), CODEC_NEED_MORE);
    cr_assert_eq(codec_decoder_reserve(&d, d.cap, &space, &n), 0);
    cr_assert_eq(d.start, 0);
    cr_assert_eq(d.end, 2);
    memcpy(space, "\x02", 1);
    codec_decoder_commit(&d, 1);
    cr_assert_eq(codec_decoder_next(&d, &msg, &len), CODEC_MESSAGE);
    cr_assert_eq(memcmp(msg, "\x92\x01\x02", 3), 0);

    /* Nothing pending: offsets go back to the front without a copy. */
    cr_assert_eq(codec_decoder_reserve(&d, 1, &space, &n), 0);
    cr_assert_eq(space, d.buf);
    codec_decoder_close(&d);
}

Test(codec, shrink_frees_memory_when_nothing_is_pending)
{
    struct codec_decoder d;
    struct codec_buf b;
    static char blob[100000];
    const char *msg;
    size_t len;

    codec_buf_init(&b, 0);
    msgpack_pack_bin_with_body(&b.pk, blob, sizeof(blob));
    codec_decoder_init(&d, &default_limits);
    cr_assert_eq(codec_decoder_feed(&d, b.data, b.len), 0);
    cr_assert_eq(codec_decoder_next(&d, &msg, &len), CODEC_MESSAGE);
    cr_assert_geq(d.cap, sizeof(blob));

    /* Pending bytes keep the buffer. */
    cr_assert_eq(codec_decoder_feed(&d, "\x92", 1), 0);
    codec_decoder_shrink(&d, 4096);
    cr_assert_geq(d.cap, sizeof(blob));
    cr_assert_eq(codec_decoder_feed(&d, "\x01\x02", 2), 0);
    cr_assert_eq(codec_decoder_next(&d, &msg, &len), CODEC_MESSAGE);

    codec_decoder_shrink(&d, 4096);
    cr_assert_eq(d.cap, 4096);
    cr_assert_eq(codec_decoder_feed(&d, "\x91\x05", 2), 0);
    cr_assert_eq(codec_decoder_next(&d, &msg, &len), CODEC_MESSAGE);
    cr_assert_eq(memcmp(msg, "\x91\x05", 2), 0);
    codec_decoder_shrink(&d, 0);
    cr_assert_eq(d.cap, 0);
    cr_assert_null(d.buf);
    codec_decoder_close(&d);
    codec_buf_close(&b);
}

Test(codec, reader_fails_on_truncated_input)
{
    struct codec_buf b;
    struct codec_reader r;
    struct codec_value v;

    codec_buf_init(&b, 0);
    pack_every_type(&b);
    /* Every strict prefix fails to skip, and leaves the reader unmoved. */
    for (size_t i = 0; i < b.len; i++) {
        codec_reader_init(&r, b.data, i);
        cr_assert_eq(codec_skip(&r), -1, "prefix of %zu bytes skipped", i);
        cr_assert_eq((const char *)r.p, b.data);
    }
    codec_reader_init(&r, b.data, b.len);
    cr_assert_eq(codec_skip(&r), 0);
    cr_assert(codec_at_end(&r));
    codec_buf_close(&b);

    /* Single values cut short. */
    codec_reader_init(&r, "\xcb\x00\x00", 3);
    cr_assert_eq(codec_read(&r, &v), -1);
    codec_reader_init(&r,
                      "\xd9\x05"
                      "ab",
                      4);
    cr_assert_eq(codec_read(&r, &v), -1);
    codec_reader_init(&r, "\xc6\x00\x00", 3);
    cr_assert_eq(codec_read(&r, &v), -1);
    codec_reader_init(&r, "\xd8\x01", 2);
    cr_assert_eq(codec_read(&r, &v), -1);
    codec_reader_init(&r, NULL, 0);
    cr_assert_eq(codec_read(&r, &v), -1);
    cr_assert_eq(codec_skip(&r), -1);
    codec_reader_init(&r, "\xc1", 1);
    cr_assert_eq(codec_read(&r, &v), -1);
    /* A count the input cannot hold fails. */
    codec_reader_init(&r, "\xdd\xff\xff\xff\xff\x01", 6);
    cr_assert_eq(codec_skip(&r), -1);
}

Test(codec, typed_readers)
{
    struct codec_reader r;
    const char *s;
    uint32_t u, n, len;
    int64_t i;

    /* uint64 2^63 does not fit int64; -1 and 2^32 do not fit uint32. */
    codec_reader_init(&r, "\xcf\x80\x00\x00\x00\x00\x00\x00\x00", 9);
    cr_assert_eq(codec_read_int64(&r, &i), -1);
    cr_assert_eq(r.end - r.p, 9);
    codec_reader_init(&r, "\xff", 1);
    cr_assert_eq(codec_read_uint32(&r, &u), -1);
    cr_assert_eq(codec_read_int64(&r, &i), 0);
    cr_assert_eq(i, -1);
    codec_reader_init(&r, "\xcf\x00\x00\x00\x01\x00\x00\x00\x00", 9);
    cr_assert_eq(codec_read_uint32(&r, &u), -1);
    codec_reader_init(&r, "\xce\xff\xff\xff\xff", 5);
    cr_assert_eq(codec_read_uint32(&r, &u), 0);
    cr_assert_eq(u, UINT32_MAX);
    cr_assert(codec_at_end(&r));

    /* A type mismatch leaves the reader where it was. */
    codec_reader_init(&r, "\xa2hi\x93", 4);
    cr_assert_eq(codec_read_array(&r, &n), -1);
    cr_assert_eq(codec_read_map(&r, &n), -1);
    cr_assert_eq(codec_read_int64(&r, &i), -1);
    cr_assert_eq(codec_read_str(&r, &s, &len), 0);
    cr_assert_eq(len, 2);
    cr_assert_eq(memcmp(s, "hi", 2), 0);
    cr_assert_eq(codec_read_str(&r, &s, &len), -1);
    cr_assert_eq(codec_read_array(&r, &n), 0);
    cr_assert_eq(n, 3);
    cr_assert(codec_at_end(&r));
}

Test(codec, utf8_validator)
{
    static const char *const valid[] = {
        "",
        "plain ascii",
        "\xc3\xa9",         /* U+00E9 */
        "\xdf\xbf",         /* U+07FF */
        "\xe0\xa0\x80",     /* U+0800, the first 3-byte form */
        "\xe2\x82\xac",     /* U+20AC */
        "\xed\x9f\xbf",     /* U+D7FF, just below the surrogates */
        "\xee\x80\x80",     /* U+E000, just above them */
        "\xef\xbf\xbf",     /* U+FFFF */
        "\xf0\x90\x80\x80", /* U+10000 */
        "\xf0\x9d\x84\x9e", /* U+1D11E */
        "\xf4\x8f\xbf\xbf", /* U+10FFFF */
    };
    static const char *const invalid[] = {
        "\xc0\x80",         /* overlong NUL */
        "\xc1\xbf",         /* overlong U+007F */
        "\xe0\x80\x80",     /* overlong 3-byte */
        "\xe0\x9f\xbf",     /* overlong U+07FF */
        "\xf0\x80\x80\x80", /* overlong 4-byte */
        "\xf0\x8f\xbf\xbf", /* overlong U+FFFF */
        "\xed\xa0\x80",     /* U+D800 */
        "\xed\xbf\xbf",     /* U+DFFF */
        "\xf4\x90\x80\x80", /* U+110000 */
        "\xf5\x80\x80\x80", /* lead byte past U+10FFFF */
        "\xff",
        "\x80", /* stray continuation */
        "a\xbfz",
        "\xc3", /* truncated */
        "\xe2\x82",
        "\xf0\x9d\x84",
        "\xe2\x28\xa1", /* bad continuation */
        "\xc3\xa9\xa9", /* one continuation too many */
    };

    for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++)
        cr_assert(codec_utf8_valid(valid[i], strlen(valid[i])),
                  "valid[%zu] refused", i);
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++)
        cr_assert_not(codec_utf8_valid(invalid[i], strlen(invalid[i])),
                      "invalid[%zu] accepted", i);
    /* NUL is a valid character; the length, not a terminator, counts. */
    cr_assert(codec_utf8_valid("a\0b", 3));
    cr_assert_not(codec_utf8_valid("\xc3\xa9", 1));
}

/* ASCII goes eight bytes at a time: a byte that is not ASCII is found at
 * any place in a run of it, and the length still counts, not the words. */
Test(codec, utf8_validator_in_runs_of_ascii)
{
    char text[40];

    for (size_t at = 0; at < 24; at++) {
        memset(text, 'a', sizeof(text));
        text[at] = (char)0xff;
        cr_assert_not(codec_utf8_valid(text, sizeof(text)), "0xff at %zu", at);
        cr_assert(codec_utf8_valid(text, at), "ASCII before %zu refused", at);
        memcpy(text + at, "\xc3\xa9", 2);
        cr_assert(codec_utf8_valid(text, sizeof(text)), "U+00E9 at %zu", at);
        cr_assert_not(codec_utf8_valid(text, at + 1), "cut at %zu", at);
    }
}

/* The packers write what msgpack-c writes, at every boundary of a form. */
Test(codec, packers_write_what_msgpack_c_writes)
{
    static const int64_t ints[] = {
        0,         1,      127,    128,           255,
        256,       65535,  65536,  4294967295LL,  4294967296LL,
        INT64_MAX, -1,     -32,    -33,           -128,
        -129,      -32768, -32769, -2147483648LL, -2147483649LL,
        INT64_MIN};
    static const uint32_t counts[] = {0, 15, 16, 65535, 65536};
    static const size_t lengths[] = {0, 1, 31, 32, 255, 256, 65535, 65536};
    static const double doubles[] = {0.0, -1.5, 1e300};
    static char body[65536];
    struct codec_buf mine, theirs;

    codec_buf_init(&mine, 0);
    codec_buf_init(&theirs, 0);
    for (size_t i = 0; i < sizeof(ints) / sizeof(*ints); i++) {
        codec_pack_int64(&mine, ints[i]);
        msgpack_pack_int64(&theirs.pk, ints[i]);
    }
    for (size_t i = 0; i < sizeof(counts) / sizeof(*counts); i++) {
        codec_pack_array(&mine, counts[i]);
        msgpack_pack_array(&theirs.pk, counts[i]);
    }
    for (size_t i = 0; i < sizeof(lengths) / sizeof(*lengths); i++) {
        codec_pack_str(&mine, body, lengths[i]);
        msgpack_pack_str_with_body(&theirs.pk, body, lengths[i]);
        codec_pack_bin(&mine, body, lengths[i]);
        msgpack_pack_bin_with_body(&theirs.pk, body, lengths[i]);
    }
    for (size_t i = 0; i < sizeof(doubles) / sizeof(*doubles); i++) {
        codec_pack_double(&mine, doubles[i]);
        msgpack_pack_double(&theirs.pk, doubles[i]);
    }
    codec_pack_nil(&mine);
    msgpack_pack_nil(&theirs.pk);
    codec_pack_bin(&mine, NULL, 0);
    msgpack_pack_bin(&theirs.pk, 0);

    cr_assert_eq(mine.error, CODEC_BUF_OK);
    cr_assert_eq(mine.len, theirs.len);
    cr_assert_eq(memcmp(mine.data, theirs.data, mine.len), 0);
    codec_buf_close(&mine);
    codec_buf_close(&theirs);
}

Test(codec, buf_limit_is_sticky_and_reset_clears_it)
{
    struct codec_buf b;
    char *data;
    size_t len;

    codec_buf_init(&b, 10);
    codec_pack_cstr(&b, "four");
    cr_assert_eq(b.len, 5);
    cr_assert_eq(b.error, CODEC_BUF_OK);
    /* The head (1 byte, would fit) and the body (9, do not) go in
     * together: nothing of a string that does not fit is written. */
    codec_pack_cstr(&b, "too long!");
    cr_assert_eq(b.error, CODEC_BUF_LIMIT);
    cr_assert_eq(b.len, 5);
    cr_assert_neq(msgpack_pack_nil(&b.pk), 0);
    cr_assert_eq(b.len, 5, "bytes after the error were kept");
    codec_buf_append(&b, "x", 1);
    cr_assert_eq(b.len, 5, "bytes after the error were kept");
    cr_assert_leq(b.cap, 10);

    codec_buf_reset(&b);
    cr_assert_eq(b.error, CODEC_BUF_OK);
    cr_assert_eq(b.len, 0);
    codec_buf_append(&b, "0123456789", 10);
    cr_assert_eq(b.error, CODEC_BUF_OK);
    data = codec_buf_steal(&b, &len);
    cr_assert_eq(len, 10);
    cr_assert_eq(memcmp(data, "0123456789", 10), 0);
    cr_assert_eq(b.len, 0);
    cr_assert_null(b.data);
    free(data);
    codec_buf_close(&b);
}

Test(codec, array_later_is_patched)
{
    struct codec_buf b;
    struct codec_decoder d;
    struct codec_reader r;
    const char *msg;
    size_t len, outer, inner;

    codec_buf_init(&b, 0);
    outer = codec_pack_array_later(&b);
    msgpack_pack_int(&b.pk, 1);
    inner = codec_pack_array_later(&b);
    for (int i = 0; i < 3; i++)
        msgpack_pack_int(&b.pk, i);
    codec_patch_array(&b, inner, 3);
    codec_patch_array(&b, outer, 2);
    cr_assert_eq(b.error, CODEC_BUF_OK);
    cr_assert_eq((uint8_t)b.data[0], 0xdd);
    cr_assert_eq(b.len, 5 + 1 + 5 + 3);

    cr_assert_eq(decode(&d, &default_limits, b.data, b.len, &msg, &len),
                 CODEC_MESSAGE);
    cr_assert_eq(len, b.len);
    codec_reader_init(&r, msg, len);
    expect_type(&r, CODEC_ARRAY, 2);
    expect_int(&r, 1);
    expect_type(&r, CODEC_ARRAY, 3);
    for (int i = 0; i < 3; i++)
        expect_int(&r, i);
    cr_assert(codec_at_end(&r));
    codec_decoder_close(&d);

    /* Patching an offset whose head was never written does nothing. */
    codec_buf_reset(&b);
    codec_patch_array(&b, 0, 7);
    cr_assert_eq(b.len, 0);
    codec_buf_close(&b);
}
