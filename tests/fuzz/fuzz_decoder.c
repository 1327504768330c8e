/* Fuzz the stream decoder (protocol/codec.c): the same bytes, fed whole or
 * in arbitrary pieces, give the same messages and the same final status;
 * every message delivered is exactly one well-formed value within the
 * limits. The first two bytes of the input choose the limits and the
 * pieces; the rest is the stream. */
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "fuzz.h"

/* The messages of one decoding: their bytes, back to back, and lengths. */
struct decoded {
    char *bytes;
    size_t len, cap;
    size_t sizes[4096];
    size_t count;
    int status;
};

static void keep(struct decoded *d, const char *msg, size_t len)
{
    if (d->count == sizeof(d->sizes) / sizeof(d->sizes[0]))
        return; /* enough to compare */
    if (d->len + len > d->cap) {
        d->cap = (d->len + len) * 2;
        d->bytes = realloc(d->bytes, d->cap);
        if (d->bytes == NULL)
            fuzz_fail("out of memory");
    }
    memcpy(d->bytes + d->len, msg, len);
    d->len += len;
    d->sizes[d->count++] = len;
}

/* Checks a delivered message: one value, no deeper than the limit, no
 * container above max_items, and no larger than max_message. */
static void check_message(const struct codec_limits *lim, const char *msg,
                          size_t len)
{
    struct codec_reader r;
    struct codec_value v;
    uint32_t left[CODEC_DEPTH_CEILING + 1];
    uint32_t depth = 0;

    if (len == 0 || len > lim->max_message)
        fuzz_fail("a message of %zu bytes (limit %zu)", len, lim->max_message);
    codec_reader_init(&r, msg, len);
    left[0] = 1;
    for (;;) {
        while (depth > 0 && left[depth] == 0)
            depth--;
        if (depth == 0 && left[0] == 0)
            break;
        left[depth]--;
        if (codec_read(&r, &v) != 0)
            fuzz_fail("a delivered message does not read");
        uint32_t items = v.type == CODEC_ARRAY ? v.v.n
                         : v.type == CODEC_MAP ? v.v.n * 2
                                               : 0;
        if (v.type != CODEC_ARRAY && v.type != CODEC_MAP)
            continue;
        if (v.v.n > lim->max_items)
            fuzz_fail("a container of %u items (limit %u)", v.v.n,
                      lim->max_items);
        if (++depth > lim->max_depth)
            fuzz_fail("nesting %u deep (limit %u)", depth, lim->max_depth);
        left[depth] = items;
    }
    if (!codec_at_end(&r))
        fuzz_fail("bytes after a delivered message");
}

/* Takes every complete message; returns the status that stopped it. */
static int drain(struct codec_decoder *dec, struct decoded *out)
{
    const char *msg;
    size_t len;
    int status;
    while ((status = codec_decoder_next(dec, &msg, &len)) == CODEC_MESSAGE) {
        check_message(&dec->limits, msg, len);
        keep(out, msg, len);
    }
    return status;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct decoded whole, pieces;
    struct codec_decoder dec;

    if (size < 2)
        return 0;
    /* Small limits, so that the input can reach them. */
    struct codec_limits lim = {
        .max_message = 16 + (size_t)(data[0] & 0x0f) * 64,
        .max_depth = 1 + (data[0] >> 4),
        .max_items = 1 + (uint32_t)(data[0] & 0x3f),
    };
    uint32_t seed = data[1];
    data += 2;
    size -= 2;
    whole.len = whole.count = 0;
    pieces.len = pieces.count = 0;

    /* Whole, with codec_decoder_feed(). */
    codec_decoder_init(&dec, &lim);
    if (codec_decoder_feed(&dec, data, size) != 0)
        fuzz_fail("out of memory");
    whole.status = drain(&dec, &whole);
    codec_decoder_close(&dec);

    /* In pieces of 1 to 16 bytes, read into the space the decoder reserves,
     * as a connection does, shrinking it when nothing is pending. */
    codec_decoder_init(&dec, &lim);
    pieces.status = CODEC_NEED_MORE;
    for (size_t at = 0; at < size;) {
        seed = seed * 1103515245u + 12345u;
        size_t n = 1 + (seed >> 16) % 16;
        if (n > size - at)
            n = size - at;
        char *space;
        size_t room;
        if (codec_decoder_reserve(&dec, n, &space, &room) != 0)
            fuzz_fail("out of memory");
        if (room < n)
            fuzz_fail("reserve gave %zu bytes for %zu", room, n);
        memcpy(space, data + at, n);
        codec_decoder_commit(&dec, n);
        at += n;
        pieces.status = drain(&dec, &pieces);
        if (pieces.status != CODEC_NEED_MORE)
            break;
        if (codec_decoder_pending(&dec) == 0)
            codec_decoder_shrink(&dec, 16);
    }
    if (size == 0)
        pieces.status = drain(&dec, &pieces);
    if (pieces.status < 0 && codec_decoder_error(&dec)[0] == '\0')
        fuzz_fail("status %d without a description", pieces.status);
    codec_decoder_close(&dec);

    if (whole.status != pieces.status || whole.count != pieces.count ||
        whole.len != pieces.len ||
        (whole.len > 0 && memcmp(whole.bytes, pieces.bytes, whole.len) != 0) ||
        memcmp(whole.sizes, pieces.sizes, whole.count * sizeof(size_t)) != 0)
        fuzz_fail("whole: status %d, %zu messages; in pieces: status %d, %zu "
                  "messages",
                  whole.status, whole.count, pieces.status, pieces.count);
    return 0;
}
