/* MessagePack codec shared by daemon and client: stream decoder, in-place
 * reader, UTF-8 check and output buffer. The contract is in codec.h. */
#include "codec.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* First allocation of a decoder or output buffer. Small, so that an idle
 * connection or a peer that sends a few bytes costs next to nothing. */
#define CODEC_MIN_BUFFER 256

/* --------------------------------------------------------------- item heads
 *
 * The first byte of a MessagePack item tells its kind and how many bytes its
 * head takes; the decoder and the reader both classify items with head_of().
 */
enum head_kind {
    HEAD_SCALAR, /* nil, bool, int, float, fixext: @size bytes in all */
    HEAD_BODY,   /* str, bin, ext: @size bytes of head, then n bytes */
    HEAD_ARRAY,  /* @size bytes of head, then n items */
    HEAD_MAP,    /* @size bytes of head, then n key/value pairs */
    HEAD_BAD,    /* 0xc1, which MessagePack never uses */
};

struct head {
    enum head_kind kind;
    uint8_t size;  /* bytes of the head; of the whole item for scalars */
    uint8_t width; /* bytes of the big-endian length or count after the type
                      byte; 0 when it is in the type byte (fix* forms) */
    uint8_t n;     /* the length or count of a fix* form */
};

/* A head packed in 32 bits, for the table below: kind, size, width, n. */
#define HEAD_PACK(kind, size, width, n)                                        \
    ((uint32_t)(kind) | (uint32_t)(size) << 8 | (uint32_t)(width) << 16 |      \
     (uint32_t)(n) << 24)

/* The head of type byte @c, as a constant expression. In order: positive
 * and negative fixint, fixmap, fixarray, fixstr; nil, false, true; bin 8,
 * str 8; bin 16, str 16; bin 32, str 32; ext 8, 16, 32 (their heads end with
 * the type byte, after the length); uint 8, int 8; uint 16, int 16; float
 * 32, uint 32, int 32; float 64, uint 64, int 64; fixext 1, 2, 4, 8, 16 (type
 * byte, type, payload); array 16, 32; map 16, 32; and 0xc1, which
 * MessagePack never uses. */
/* clang-format off */
#define HEAD_OF(c)                                                             \
    ((c) <= 0x7f || (c) >= 0xe0 ? HEAD_PACK(HEAD_SCALAR, 1, 0, 0)             \
     : (c) <= 0x8f ? HEAD_PACK(HEAD_MAP, 1, 0, (c) & 0x0f)                    \
     : (c) <= 0x9f ? HEAD_PACK(HEAD_ARRAY, 1, 0, (c) & 0x0f)                  \
     : (c) <= 0xbf ? HEAD_PACK(HEAD_BODY, 1, 0, (c) & 0x1f)                   \
     : (c) == 0xc0 || (c) == 0xc2 || (c) == 0xc3                               \
                   ? HEAD_PACK(HEAD_SCALAR, 1, 0, 0)                           \
     : (c) == 0xc4 || (c) == 0xd9 ? HEAD_PACK(HEAD_BODY, 2, 1, 0)              \
     : (c) == 0xc5 || (c) == 0xda ? HEAD_PACK(HEAD_BODY, 3, 2, 0)              \
     : (c) == 0xc6 || (c) == 0xdb ? HEAD_PACK(HEAD_BODY, 5, 4, 0)              \
     : (c) == 0xc7 ? HEAD_PACK(HEAD_BODY, 3, 1, 0)                             \
     : (c) == 0xc8 ? HEAD_PACK(HEAD_BODY, 4, 2, 0)                             \
     : (c) == 0xc9 ? HEAD_PACK(HEAD_BODY, 6, 4, 0)                             \
     : (c) == 0xcc || (c) == 0xd0 ? HEAD_PACK(HEAD_SCALAR, 2, 0, 0)            \
     : (c) == 0xcd || (c) == 0xd1 ? HEAD_PACK(HEAD_SCALAR, 3, 0, 0)            \
     : (c) == 0xca || (c) == 0xce || (c) == 0xd2                               \
                   ? HEAD_PACK(HEAD_SCALAR, 5, 0, 0)                           \
     : (c) == 0xcb || (c) == 0xcf || (c) == 0xd3                               \
                   ? HEAD_PACK(HEAD_SCALAR, 9, 0, 0)                           \
     : (c) == 0xd4 ? HEAD_PACK(HEAD_SCALAR, 3, 0, 0)                           \
     : (c) == 0xd5 ? HEAD_PACK(HEAD_SCALAR, 4, 0, 0)                           \
     : (c) == 0xd6 ? HEAD_PACK(HEAD_SCALAR, 6, 0, 0)                           \
     : (c) == 0xd7 ? HEAD_PACK(HEAD_SCALAR, 10, 0, 0)                          \
     : (c) == 0xd8 ? HEAD_PACK(HEAD_SCALAR, 18, 0, 0)                          \
     : (c) == 0xdc ? HEAD_PACK(HEAD_ARRAY, 3, 2, 0)                            \
     : (c) == 0xdd ? HEAD_PACK(HEAD_ARRAY, 5, 4, 0)                            \
     : (c) == 0xde ? HEAD_PACK(HEAD_MAP, 3, 2, 0)                              \
     : (c) == 0xdf ? HEAD_PACK(HEAD_MAP, 5, 4, 0)                              \
     : HEAD_PACK(HEAD_BAD, 1, 0, 0))
/* clang-format on */

#define HEADS_4(c) HEAD_OF(c), HEAD_OF(c + 1), HEAD_OF(c + 2), HEAD_OF(c + 3)
#define HEADS_16(c) HEADS_4(c), HEADS_4(c + 4), HEADS_4(c + 8), HEADS_4(c + 12)
#define HEADS_64(c)                                                            \
    HEADS_16(c), HEADS_16(c + 16), HEADS_16(c + 32), HEADS_16(c + 48)

/* Every type byte's head, worked out by the compiler: the decoder and the
 * reader look one up for every item, a table read rather than a switch. */
static const uint32_t head_table[256] = {HEADS_64(0), HEADS_64(64),
                                         HEADS_64(128), HEADS_64(192)};

static struct head head_of(uint8_t c)
{
    uint32_t e = head_table[c];
    struct head h = {(enum head_kind)(e & 0xff), (uint8_t)(e >> 8),
                     (uint8_t)(e >> 16), (uint8_t)(e >> 24)};
    return h;
}

static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           p[3];
}

static uint64_t be64(const uint8_t *p)
{
    return (uint64_t)be32(p) << 32 | be32(p + 4);
}

/* The length or count of a head whose h->size bytes are at @p. */
static uint32_t head_count(const struct head *h, const uint8_t *p)
{
    switch (h->width) {
    case 1:
        return p[1];
    case 2:
        return be16(p + 1);
    case 4:
        return be32(p + 1);
    default:
        return h->n;
    }
}

/* The type of a HEAD_BODY item: fixstr and str 8/16/32, bin 8/16/32 (0xc4..
 * 0xc6), or ext 8/16/32 (0xc7..0xc9). */
static enum codec_type body_type(uint8_t c)
{
    if (c <= 0xbf || (c >= 0xd9 && c <= 0xdb))
        return CODEC_STR;
    return c <= 0xc6 ? CODEC_BIN : CODEC_EXT;
}

static const char *body_name(uint8_t c)
{
    switch (body_type(c)) {
    case CODEC_STR:
        return "str";
    case CODEC_BIN:
        return "bin";
    default:
        return "ext";
    }
}

/* ----------------------------------------------------------- stream decoder
 */

void codec_decoder_init(struct codec_decoder *d,
                        const struct codec_limits *limits)
{
    memset(d, 0, sizeof(*d));
    d->limits = *limits;
    if (d->limits.max_depth < 1)
        d->limits.max_depth = 1;
    if (d->limits.max_depth > CODEC_DEPTH_CEILING)
        d->limits.max_depth = CODEC_DEPTH_CEILING;
}

void codec_decoder_close(struct codec_decoder *d)
{
    free(d->buf);
    d->buf = NULL;
    d->cap = d->start = d->end = d->scan = d->deliver = 0;
}

/* Brings the buffer up to date before any operation: drops the message the
 * last codec_decoder_next() delivered, discards all input after a sticky
 * error (nothing will ever be delivered, and a caller that keeps reading
 * must not make the buffer grow), and rewinds the offsets when nothing is
 * pending so the next read lands at the front without a memmove. */
static void settle(struct codec_decoder *d)
{
    d->start += d->deliver;
    d->deliver = 0;
    if (d->status != 0) {
        d->start = d->end;
        d->depth = 0;
    }
    if (d->start == d->end) {
        d->start = d->end = d->scan = 0;
        d->depth = 0;
        d->started = false;
        d->need = 0;
    }
}

/* Makes room for @want more bytes after the received data. Pending bytes
 * move to the front first (only when the free tail is too short, so a byte
 * moves at most once per message delivered before it). Growth doubles, but
 * stops at what one message may use: max_message bytes, or what is already
 * pending if a caller has not drained its messages yet, plus @want. */
int codec_decoder_reserve(struct codec_decoder *d, size_t want, char **space,
                          size_t *n)
{
    settle(d);
    if (want == 0)
        want = 1;

    if (d->cap - d->end < want && d->start > 0) {
        memmove(d->buf, d->buf + d->start, d->end - d->start);
        d->scan -= d->start;
        d->end -= d->start;
        d->start = 0;
    }

    if (d->cap - d->end < want) {
        size_t need, ceiling, cap;
        char *buf;

        if (want > SIZE_MAX - d->end)
            goto nomem;
        need = d->end + want;
        ceiling =
            d->limits.max_message > d->end ? d->limits.max_message : d->end;
        ceiling = ceiling > SIZE_MAX - want ? SIZE_MAX : ceiling + want;
        cap = d->cap > 0 ? d->cap : CODEC_MIN_BUFFER;
        while (cap < need)
            cap = cap > SIZE_MAX / 2 ? need : cap * 2;
        if (cap > ceiling)
            cap = ceiling; /* still >= need, since ceiling >= end + want */
        buf = realloc(d->buf, cap);
        if (buf == NULL)
            goto nomem;
        d->buf = buf;
        d->cap = cap;
    }

    *space = d->buf + d->end;
    *n = d->cap - d->end;
    return 0;

nomem:
    *space = NULL;
    *n = 0;
    return -ENOMEM;
}

void codec_decoder_commit(struct codec_decoder *d, size_t n)
{
    /* A caller cannot have written more than the reserved space. */
    if (n > d->cap - d->end)
        n = d->cap - d->end;
    d->end += n;
}

int codec_decoder_feed(struct codec_decoder *d, const void *data, size_t n)
{
    char *space;
    size_t room;
    int rc;

    if (n == 0)
        return 0;
    rc = codec_decoder_reserve(d, n, &space, &room);
    if (rc != 0)
        return rc;
    memcpy(space, data, n);
    codec_decoder_commit(d, n);
    return 0;
}

__attribute__((format(printf, 3, 4))) static int
fail(struct codec_decoder *d, int status, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(d->error, sizeof(d->error), fmt, ap);
    va_end(ap);
    d->status = status;
    return status;
}

/* Counts one finished item against the containers that hold it. Returns true
 * when that finishes the message: the item was at the top level, or it
 * closed every open container. */
static bool item_done(struct codec_decoder *d)
{
    while (d->depth > 0) {
        if (--d->left[d->depth - 1] > 0)
            return false;
        d->depth--; /* the container is finished: an item of its parent */
    }
    return true;
}

/* Checks an array or map head and opens the container. @left is the number
 * of bytes the message may still use after the head. Returns 0 or a sticky
 * error. */
static int open_container(struct codec_decoder *d, const struct head *h,
                          uint32_t n, size_t left)
{
    bool map = h->kind == HEAD_MAP;
    const char *what = map ? "map" : "array";
    const char *unit = map ? "pairs" : "elements";
    uint64_t items = map ? 2 * (uint64_t)n : n;
    uint32_t max_items = d->limits.max_items;

    /* left[] counts items, two per pair, in 32 bits. */
    if (map && max_items > UINT32_MAX / 2)
        max_items = UINT32_MAX / 2;
    if (n > max_items)
        return fail(d, CODEC_TOO_LARGE,
                    "%s of %" PRIu32 " %s exceeds the limit of %" PRIu32, what,
                    n, unit, max_items);
    /* Every item takes at least one byte, so a count larger than the bytes
     * the message may still hold can never be satisfied. */
    if (items > left)
        return fail(d, CODEC_TOO_LARGE,
                    "%s of %" PRIu32 " %s exceeds the %zu bytes left under "
                    "the message limit of %zu",
                    what, n, unit, left, d->limits.max_message);
    if (d->depth >= d->limits.max_depth)
        return fail(d, CODEC_TOO_LARGE,
                    "nesting deeper than %" PRIu32 " levels",
                    d->limits.max_depth);
    if (n > 0)
        d->left[d->depth++] = (uint32_t)items;
    return 0;
}

/* Scans from d->scan for the end of the current message, checking each
 * item head against the limits as soon as its head has arrived. Returns
 * CODEC_MESSAGE with d->scan one past the message, CODEC_NEED_MORE with
 * d->scan on the first item not yet complete (a str, bin or ext body that is
 * still arriving resumes at its head, which is cheap to check again), or a
 * sticky error.
 *
 * Every item accepted so far ends within max_message, so the offset of the
 * next head, off, never exceeds it and "max - off" cannot wrap. */
static int scan(struct codec_decoder *d)
{
    const uint8_t *buf = (const uint8_t *)d->buf;
    size_t max = d->limits.max_message;

    while (d->scan < d->end) {
        const uint8_t *p = buf + d->scan;
        size_t avail = d->end - d->scan;
        size_t off = d->scan - d->start;
        struct head h = head_of(p[0]);
        uint32_t n;
        size_t left;
        int rc;

        d->started = true;
        if (h.kind == HEAD_BAD)
            return fail(d, CODEC_BAD,
                        "byte 0x%02x at offset %zu is not MessagePack", p[0],
                        off);
        if (h.size > max - off)
            return fail(d, CODEC_TOO_LARGE,
                        "message exceeds the limit of %zu bytes", max);
        if (avail < h.size) {
            d->need = off + h.size;
            break;
        }
        n = head_count(&h, p);
        left = max - off - h.size;

        switch (h.kind) {
        case HEAD_BODY:
            if (n > left)
                return fail(d, CODEC_TOO_LARGE,
                            "%s of %" PRIu32 " bytes at offset %zu exceeds "
                            "the message limit of %zu bytes",
                            body_name(p[0]), n, off, max);
            if (avail - h.size < n) {
                d->need = off + h.size + n;
                goto need_more;
            }
            d->scan += h.size + n;
            break;
        case HEAD_ARRAY:
        case HEAD_MAP:
            rc = open_container(d, &h, n, left);
            if (rc != 0)
                return rc;
            d->scan += h.size;
            if (n > 0)
                continue; /* its items come next */
            break;
        default:
            d->scan += h.size;
            break;
        }
        if (item_done(d))
            return CODEC_MESSAGE;
    }

need_more:
    /* Everything from start to end belongs to the unfinished message. The
     * checks above already keep it within the limit; this is a backstop. */
    if (d->end - d->start > max)
        return fail(d, CODEC_TOO_LARGE,
                    "message exceeds the limit of %zu bytes", max);
    return CODEC_NEED_MORE;
}

int codec_decoder_next(struct codec_decoder *d, const char **msg, size_t *len)
{
    int rc;

    *msg = NULL;
    *len = 0;
    settle(d);
    if (d->status != 0)
        return d->status;

    rc = scan(d);
    if (rc != CODEC_MESSAGE)
        return rc;
    *msg = d->buf + d->start;
    *len = d->scan - d->start;
    d->deliver = *len;
    d->depth = 0;
    d->started = false;
    d->need = 0;
    return CODEC_MESSAGE;
}

const char *codec_decoder_error(const struct codec_decoder *d)
{
    return d->error;
}

size_t codec_decoder_needed(const struct codec_decoder *d)
{
    size_t pending = codec_decoder_pending(d);
    return d->need > pending ? d->need : pending;
}

size_t codec_decoder_pending(const struct codec_decoder *d)
{
    return d->end - d->start - d->deliver;
}

void codec_decoder_shrink(struct codec_decoder *d, size_t keep)
{
    settle(d);
    if (d->end > 0 || d->cap <= keep)
        return;
    if (keep == 0) {
        free(d->buf);
        d->buf = NULL;
        d->cap = 0;
        return;
    }
    char *buf = realloc(d->buf, keep);
    if (buf != NULL) { /* on failure the larger buffer simply stays */
        d->buf = buf;
        d->cap = keep;
    }
}

/* ------------------------------------------------------------------- reader
 */

void codec_reader_init(struct codec_reader *r, const void *data, size_t len)
{
    r->p = data;
    r->end = len > 0 ? r->p + len : r->p;
}

/* Fills @v from a scalar item whose h.size bytes are at @p. */
static void read_scalar(const uint8_t *p, const struct head *h,
                        struct codec_value *v)
{
    uint8_t c = p[0];
    uint64_t u;
    uint32_t bits;
    float f;

    v->type = CODEC_INT;
    if (c <= 0x7f) {
        v->v.i = c;
        return;
    }
    if (c >= 0xe0) {
        v->v.i = (int8_t)c;
        return;
    }
    switch (c) {
    case 0xc0:
        v->type = CODEC_NIL;
        return;
    case 0xc2:
    case 0xc3:
        v->type = CODEC_BOOL;
        v->v.b = c == 0xc3;
        return;
    case 0xca:
        bits = be32(p + 1);
        memcpy(&f, &bits, sizeof(f));
        v->type = CODEC_FLOAT;
        v->v.f = (double)f;
        return;
    case 0xcb:
        u = be64(p + 1);
        v->type = CODEC_FLOAT;
        memcpy(&v->v.f, &u, sizeof(v->v.f));
        return;
    case 0xcc:
        v->v.i = p[1];
        return;
    case 0xcd:
        v->v.i = be16(p + 1);
        return;
    case 0xce:
        v->v.i = be32(p + 1);
        return;
    case 0xcf:
        u = be64(p + 1);
        if (u > INT64_MAX) {
            v->type = CODEC_UINT;
            v->v.u = u;
        } else {
            v->v.i = (int64_t)u;
        }
        return;
    case 0xd0:
        v->v.i = (int8_t)p[1];
        return;
    case 0xd1:
        v->v.i = (int16_t)be16(p + 1);
        return;
    case 0xd2:
        v->v.i = (int32_t)be32(p + 1);
        return;
    case 0xd3:
        v->v.i = (int64_t)be64(p + 1);
        return;
    default: /* fixext 0xd4..0xd8: type byte, ext type, payload */
        v->type = CODEC_EXT;
        v->ext = (int8_t)p[1];
        v->v.s.ptr = (const char *)p + 2;
        v->v.s.len = h->size - 2u;
        return;
    }
}

int codec_read(struct codec_reader *r, struct codec_value *v)
{
    const uint8_t *p = r->p;
    size_t avail = (size_t)(r->end - p);
    struct head h;
    uint32_t n;

    if (avail == 0)
        return -1;
    h = head_of(p[0]);
    if (h.kind == HEAD_BAD || avail < h.size)
        return -1;
    n = head_count(&h, p);
    v->ext = 0;

    switch (h.kind) {
    case HEAD_SCALAR:
        read_scalar(p, &h, v);
        r->p += h.size;
        return 0;
    case HEAD_BODY:
        if (avail - h.size < n)
            return -1;
        v->type = body_type(p[0]);
        if (v->type == CODEC_EXT)
            v->ext = (int8_t)p[h.size - 1]; /* the type ends the head */
        v->v.s.ptr = (const char *)p + h.size;
        v->v.s.len = n;
        r->p += h.size + n;
        return 0;
    case HEAD_ARRAY:
    case HEAD_MAP:
        v->type = h.kind == HEAD_ARRAY ? CODEC_ARRAY : CODEC_MAP;
        v->v.n = n;
        r->p += h.size;
        return 0;
    default:
        return -1;
    }
}

/* Iterative, so hostile nesting cannot exhaust the stack: @todo counts the
 * values still to skip. Each takes at least one byte, so a count beyond the
 * remaining bytes fails at once, which also keeps @todo from overflowing. */
int codec_skip(struct codec_reader *r)
{
    const uint8_t *start = r->p;
    uint64_t todo = 1;
    struct codec_value v;

    while (todo > 0) {
        if (codec_read(r, &v) != 0)
            goto fail;
        todo--;
        if (v.type == CODEC_ARRAY)
            todo += v.v.n;
        else if (v.type == CODEC_MAP)
            todo += 2 * (uint64_t)v.v.n;
        if (todo > (uint64_t)(r->end - r->p))
            goto fail;
    }
    return 0;

fail:
    r->p = start;
    return -1;
}

/* Reads one value of type @type, leaving @r where it was otherwise. */
static int read_typed(struct codec_reader *r, struct codec_value *v,
                      enum codec_type type)
{
    const uint8_t *p = r->p;

    if (codec_read(r, v) != 0)
        return -1;
    if (v->type != type) {
        r->p = p;
        return -1;
    }
    return 0;
}

int codec_read_array(struct codec_reader *r, uint32_t *n)
{
    struct codec_value v;

    if (read_typed(r, &v, CODEC_ARRAY) != 0)
        return -1;
    *n = v.v.n;
    return 0;
}

int codec_read_map(struct codec_reader *r, uint32_t *n)
{
    struct codec_value v;

    if (read_typed(r, &v, CODEC_MAP) != 0)
        return -1;
    *n = v.v.n;
    return 0;
}

int codec_read_str(struct codec_reader *r, const char **s, uint32_t *len)
{
    struct codec_value v;

    if (read_typed(r, &v, CODEC_STR) != 0)
        return -1;
    *s = v.v.s.ptr;
    *len = v.v.s.len;
    return 0;
}

int codec_read_int64(struct codec_reader *r, int64_t *i)
{
    struct codec_value v;

    if (read_typed(r, &v, CODEC_INT) != 0)
        return -1;
    *i = v.v.i;
    return 0;
}

int codec_read_uint32(struct codec_reader *r, uint32_t *u)
{
    const uint8_t *p = r->p;
    struct codec_value v;

    if (read_typed(r, &v, CODEC_INT) != 0)
        return -1;
    if (v.v.i < 0 || v.v.i > UINT32_MAX) {
        r->p = p;
        return -1;
    }
    *u = (uint32_t)v.v.i;
    return 0;
}

bool codec_at_end(const struct codec_reader *r)
{
    return r->p >= r->end;
}

/* Well-formed UTF-8 as in Unicode's table 3-7: the second byte's range
 * depends on the first, which excludes overlong forms (C0, C1, E0 80..9F,
 * F0 80..8F), surrogates (ED A0..BF) and code points above U+10FFFF (F4
 * 90..BF, F5..FF). */
bool codec_utf8_valid(const char *str, size_t len)
{
    const uint8_t *s = (const uint8_t *)str;
    size_t i = 0;

    while (i < len) {
        uint8_t c = s[i];
        uint8_t lo = 0x80, hi = 0xbf;
        size_t more;

        if (c < 0x80) {
            uint64_t word;
            /* Most text is ASCII: eight bytes at a time while it is. */
            while (len - i >= 8) {
                memcpy(&word, s + i, sizeof(word));
                if (word & UINT64_C(0x8080808080808080))
                    break;
                i += 8;
            }
            if (i < len && s[i] < 0x80)
                i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            more = 1;
        } else if (c >= 0xe0 && c <= 0xef) {
            more = 2;
            if (c == 0xe0)
                lo = 0xa0;
            else if (c == 0xed)
                hi = 0x9f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            more = 3;
            if (c == 0xf0)
                lo = 0x90;
            else if (c == 0xf4)
                hi = 0x8f;
        } else {
            return false; /* a continuation byte or an invalid lead */
        }
        if (len - i <= more)
            return false;
        if (s[i + 1] < lo || s[i + 1] > hi)
            return false;
        for (size_t k = 2; k <= more; k++)
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
        i += more + 1;
    }
    return true;
}

/* ------------------------------------------------------------------- writer
 */

/* msgpack_packer's write callback; a nonzero return makes msgpack_pack_*
 * report failure too. */
static int buf_write(void *data, const char *bytes, size_t n)
{
    struct codec_buf *b = data;

    codec_buf_append(b, bytes, n);
    return b->error == CODEC_BUF_OK ? 0 : -1;
}

void codec_buf_init(struct codec_buf *b, size_t limit)
{
    memset(b, 0, sizeof(*b));
    b->limit = limit > 0 ? limit : SIZE_MAX;
    msgpack_packer_init(&b->pk, b, buf_write);
}

void codec_buf_close(struct codec_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void codec_buf_reset(struct codec_buf *b)
{
    codec_buf_truncate(b, 0);
}

void codec_buf_truncate(struct codec_buf *b, size_t len)
{
    if (len < b->len)
        b->len = len;
    b->error = CODEC_BUF_OK;
}

char *codec_buf_steal(struct codec_buf *b, size_t *len)
{
    char *data = b->data;

    *len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    b->error = CODEC_BUF_OK;
    return data;
}

/* Makes room for @n more bytes (n > 0) after b->len and returns where they
 * go; the caller writes them and adds @n to b->len. NULL after an error,
 * recorded (sticky). */
static uint8_t *room(struct codec_buf *b, size_t n)
{
    if (b->error != CODEC_BUF_OK)
        return NULL;
    if (n > b->cap - b->len) {
        if (n > b->limit - b->len) {
            b->error = CODEC_BUF_LIMIT;
            return NULL;
        }
        size_t need = b->len + n;
        size_t cap = b->cap > 0 ? b->cap : CODEC_MIN_BUFFER;
        char *p;

        while (cap < need)
            cap = cap > SIZE_MAX / 2 ? need : cap * 2;
        if (cap > b->limit)
            cap = b->limit; /* >= need, checked above */
        p = realloc(b->data, cap);
        if (p == NULL) {
            b->error = CODEC_BUF_NOMEM;
            return NULL;
        }
        b->data = p;
        b->cap = cap;
    }
    return (uint8_t *)b->data + b->len;
}

void codec_buf_append(struct codec_buf *b, const void *data, size_t n)
{
    uint8_t *p;

    if (n == 0 || (p = room(b, n)) == NULL)
        return;
    memcpy(p, data, n);
    b->len += n;
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)(v >> 16));
    put16(p + 2, (uint16_t)v);
}

static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)(v >> 32));
    put32(p + 4, (uint32_t)v);
}

/* Where a value of at most @n bytes goes: straight into @b when it has the
 * room, else into @tmp, for put_done() to append. */
static uint8_t *put_at(struct codec_buf *b, uint8_t *tmp, size_t n)
{
    if (b->error == CODEC_BUF_OK && b->cap - b->len >= n)
        return (uint8_t *)b->data + b->len;
    return tmp;
}

/* Counts the @n bytes written at @p, from put_at(). */
static void put_done(struct codec_buf *b, const uint8_t *p, const uint8_t *tmp,
                     size_t n)
{
    if (p == tmp)
        codec_buf_append(b, tmp, n);
    else
        b->len += n;
}

/* Writes the head of a str (@bin false) or bin of @len bytes at @p, in the
 * form msgpack-c picks, and returns its size. */
static size_t put_body_head(uint8_t *p, size_t len, bool bin)
{
    if (!bin && len < 32) {
        p[0] = (uint8_t)(0xa0 | len);
        return 1;
    }
    if (len < 256) {
        p[0] = bin ? 0xc4 : 0xd9;
        p[1] = (uint8_t)len;
        return 2;
    }
    if (len < 65536) {
        p[0] = bin ? 0xc5 : 0xda;
        put16(p + 1, (uint16_t)len);
        return 3;
    }
    p[0] = bin ? 0xc6 : 0xdb;
    put32(p + 1, (uint32_t)len);
    return 5;
}

static void pack_body(struct codec_buf *b, const void *data, size_t len,
                      bool bin)
{
    uint8_t head[5], *p;

    /* MessagePack lengths are 32-bit; msgpack-c would truncate silently. */
    if (len > UINT32_MAX) {
        if (b->error == CODEC_BUF_OK)
            b->error = CODEC_BUF_LIMIT;
        return;
    }
    if (b->error == CODEC_BUF_OK && b->cap - b->len >= 5 + len) {
        p = (uint8_t *)b->data + b->len;
        size_t n = put_body_head(p, len, bin);
        if (len > 0)
            memcpy(p + n, data, len);
        b->len += n + len;
        return;
    }
    size_t n = put_body_head(head, len, bin);
    if ((p = room(b, n + len)) == NULL)
        return;
    memcpy(p, head, n);
    if (len > 0)
        memcpy(p + n, data, len);
    b->len += n + len;
}

void codec_pack_str(struct codec_buf *b, const char *s, size_t len)
{
    pack_body(b, s, len, false);
}

void codec_pack_bin(struct codec_buf *b, const void *data, size_t len)
{
    pack_body(b, data, len, true);
}

void codec_pack_array(struct codec_buf *b, uint32_t n)
{
    uint8_t tmp[5], *head = put_at(b, tmp, sizeof(tmp));
    size_t size = 1;

    if (n < 16) {
        head[0] = (uint8_t)(0x90 | n);
    } else if (n < 65536) {
        head[0] = 0xdc;
        put16(head + 1, (uint16_t)n);
        size = 3;
    } else {
        head[0] = 0xdd;
        put32(head + 1, n);
        size = 5;
    }
    put_done(b, head, tmp, size);
}

/* The forms msgpack-c's msgpack_pack_int64() picks, so that the bytes are
 * the same whichever packs them. */
void codec_pack_int64(struct codec_buf *b, int64_t v)
{
    uint8_t tmp[9], *p = put_at(b, tmp, sizeof(tmp));
    size_t n;

    if (v < -(INT64_C(1) << 5)) {
        if (v < -(INT64_C(1) << 15)) {
            if (v < -(INT64_C(1) << 31)) {
                p[0] = 0xd3;
                put64(p + 1, (uint64_t)v);
                n = 9;
            } else {
                p[0] = 0xd2;
                put32(p + 1, (uint32_t)(int32_t)v);
                n = 5;
            }
        } else if (v < -(1 << 7)) {
            p[0] = 0xd1;
            put16(p + 1, (uint16_t)(int16_t)v);
            n = 3;
        } else {
            p[0] = 0xd0;
            p[1] = (uint8_t)(int8_t)v;
            n = 2;
        }
    } else if (v < (1 << 7)) {
        p[0] = (uint8_t)(int8_t)v;
        n = 1;
    } else if (v < (INT64_C(1) << 16)) {
        if (v < (1 << 8)) {
            p[0] = 0xcc;
            p[1] = (uint8_t)v;
            n = 2;
        } else {
            p[0] = 0xcd;
            put16(p + 1, (uint16_t)v);
            n = 3;
        }
    } else if (v < (INT64_C(1) << 32)) {
        p[0] = 0xce;
        put32(p + 1, (uint32_t)v);
        n = 5;
    } else {
        p[0] = 0xcf;
        put64(p + 1, (uint64_t)v);
        n = 9;
    }
    put_done(b, p, tmp, n);
}

void codec_pack_double(struct codec_buf *b, double v)
{
    uint8_t tmp[9], *p = put_at(b, tmp, sizeof(tmp));
    uint64_t bits;

    memcpy(&bits, &v, sizeof(bits));
    p[0] = 0xcb;
    put64(p + 1, bits);
    put_done(b, p, tmp, sizeof(tmp));
}

void codec_pack_nil(struct codec_buf *b)
{
    static const uint8_t nil = 0xc0;
    codec_buf_append(b, &nil, 1);
}

void codec_pack_cstr(struct codec_buf *b, const char *s)
{
    codec_pack_str(b, s, strlen(s));
}

size_t codec_pack_array_later(struct codec_buf *b)
{
    static const char head[5] = {(char)0xdd, 0, 0, 0, 0};
    size_t offset = b->len;

    codec_buf_append(b, head, sizeof(head));
    return offset;
}

void codec_patch_array(struct codec_buf *b, size_t offset, uint32_t n)
{
    uint8_t *p;

    /* After an error the head may never have been written; nothing is
     * appended after one, so five bytes at @offset are still the head. */
    if (offset > b->len || b->len - offset < 5)
        return;
    p = (uint8_t *)b->data + offset;
    p[1] = (uint8_t)(n >> 24);
    p[2] = (uint8_t)(n >> 16);
    p[3] = (uint8_t)(n >> 8);
    p[4] = (uint8_t)n;
}

size_t codec_pack_map_later(struct codec_buf *b)
{
    static const char head = (char)0x80;
    size_t offset = b->len;

    codec_buf_append(b, &head, 1);
    return offset;
}

void codec_patch_map(struct codec_buf *b, size_t offset, uint8_t n)
{
    if (offset < b->len && n < 16)
        b->data[offset] = (char)(0x80 | n);
}
