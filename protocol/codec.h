/* MessagePack codec shared by daemon and client: I/O-free.
 *
 * Three parts:
 *  - a stream decoder that takes bytes as they arrive and yields complete
 *    messages, "need more", or "bad", enforcing the protocol limits without
 *    allocating anything in proportion to a declared length or count;
 *  - a reader that walks the values of one complete message in place
 *    (strings and blobs point into the message, nothing is copied);
 *  - a growable output buffer with a size limit, written through msgpack-c's
 *    msgpack_packer.
 *
 * Why not msgpack-c's unpacker: it allocates the declared element count of an
 * array or map before the elements arrive (24 bytes each), so a 5-byte message
 * can reserve hundreds of megabytes. The decoder below only ever holds bytes
 * that were actually received.
 */
#ifndef SQLITED_CODEC_H
#define SQLITED_CODEC_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Hard ceiling for codec_limits.max_depth. */
#define CODEC_DEPTH_CEILING 64

struct codec_limits {
    size_t max_message; /* bytes in one message */
    uint32_t max_depth; /* nesting of arrays and maps, 1..CODEC_DEPTH_CEILING;
                           a message that is a flat array has depth 1 */
    uint32_t max_items; /* elements of one array, or pairs of one map */
};

enum codec_status {
    CODEC_MESSAGE = 0,   /* a complete message is ready */
    CODEC_NEED_MORE = 1, /* the bytes so far are a valid prefix */
    CODEC_BAD = -1,      /* not MessagePack (a reserved byte, say) */
    CODEC_TOO_LARGE = -2 /* valid so far, but over a limit */
};

/* ------------------------------------------------------------- stream decoder
 *
 * Usage: codec_decoder_reserve() gives space to read into,
 * codec_decoder_commit() says how much arrived (or codec_decoder_feed() copies
 * bytes in), then call codec_decoder_next() until it stops returning
 * CODEC_MESSAGE.
 *
 * Scanning is resumable: bytes already checked are not checked again when
 * more arrive, so a message arriving in many pieces costs linear time.
 * After CODEC_BAD or CODEC_TOO_LARGE the decoder is stuck: every later call
 * returns the same status; codec_decoder_error() describes it.
 */
struct codec_decoder {
    struct codec_limits limits;
    char *buf;
    size_t cap;
    size_t start;   /* first byte of the current message */
    size_t end;     /* one past the last byte received */
    size_t scan;    /* next byte to scan, start <= scan <= end */
    size_t deliver; /* bytes of the last delivered message, dropped on the next
                       call */
    uint32_t depth; /* open containers in the current message */
    uint32_t left[CODEC_DEPTH_CEILING]; /* items still due in each */
    size_t need;  /* bytes the current message needs at least, as far as the
                     lengths declared so far tell */
    bool started; /* the current message's first byte was scanned */
    int status;   /* sticky CODEC_BAD / CODEC_TOO_LARGE, else 0 */
    char error[128];
};

/* Prepares @d with a copy of @limits. Allocates nothing. */
void codec_decoder_init(struct codec_decoder *d,
                        const struct codec_limits *limits);
void codec_decoder_close(struct codec_decoder *d);

/* Returns in *@space and *@n a writable region of at least @want bytes (1 if
 * @want is 0) after the received data. Pending bytes move to the front first;
 * the buffer grows by doubling, but never beyond what the message limit can
 * use, plus @want. Invalidates the message last delivered; after a sticky
 * error, discards everything received. Returns 0 or -ENOMEM (*@space NULL).
 * Call codec_decoder_next() until it stops returning CODEC_MESSAGE before
 * reserving again, or undelivered messages accumulate in the buffer. */
int codec_decoder_reserve(struct codec_decoder *d, size_t want, char **space,
                          size_t *n);
/* Records that @n bytes were written at the space from the last reserve. */
void codec_decoder_commit(struct codec_decoder *d, size_t n);
/* Copies @n bytes in. Returns 0 or -ENOMEM. */
int codec_decoder_feed(struct codec_decoder *d, const void *data, size_t n);

/* Finds the next complete message. On CODEC_MESSAGE, *@msg and *@len give its
 * bytes, valid until the next call on @d. */
int codec_decoder_next(struct codec_decoder *d, const char **msg, size_t *len);

/* Human description of the sticky error ("" when there is none). */
const char *codec_decoder_error(const struct codec_decoder *d);

/* Bytes the unfinished message needs at least, counting the lengths its
 * heads declared (a str or bin whose body is still arriving counts whole):
 * lets a caller refuse a message it cannot hold before buffering it. At
 * least codec_decoder_pending(). */
size_t codec_decoder_needed(const struct codec_decoder *d);

/* Bytes received and not yet delivered. */
size_t codec_decoder_pending(const struct codec_decoder *d);

/* Frees buffer memory above @keep bytes when nothing is pending; a connection
 * that once received a large message does not keep its buffer forever. */
void codec_decoder_shrink(struct codec_decoder *d, size_t keep);

/* ------------------------------------------------------------------- reader
 *
 * Reads values from a complete message (one codec_decoder_next() delivered,
 * so it is known to be well formed and within limits). Every read still
 * checks bounds and returns -1 on truncated or malformed input, so a reader
 * is safe on any bytes.
 */
struct codec_reader {
    const uint8_t *p;
    const uint8_t *end;
};

enum codec_type {
    CODEC_NIL,
    CODEC_BOOL,
    CODEC_INT,   /* fits int64_t: .i */
    CODEC_UINT,  /* above INT64_MAX: .u */
    CODEC_FLOAT, /* float 32 or 64, widened: .f */
    CODEC_STR,   /* .s */
    CODEC_BIN,   /* .s */
    CODEC_ARRAY, /* .n elements follow */
    CODEC_MAP,   /* .n key/value pairs follow */
    CODEC_EXT,   /* .s is the payload, .ext the type */
};

struct codec_value {
    enum codec_type type;
    int8_t ext;
    union {
        bool b;
        int64_t i;
        uint64_t u;
        double f;
        uint32_t n;
        struct {
            const char *ptr;
            uint32_t len;
        } s;
    } v;
};

void codec_reader_init(struct codec_reader *r, const void *data, size_t len);

/* Reads one value. Scalars, strings, blobs and extensions are consumed whole;
 * for an array or map only the header is consumed, leaving @r on its first
 * element. Returns 0, or -1 when the bytes are truncated or malformed. */
int codec_read(struct codec_reader *r, struct codec_value *v);

/* Skips one complete value, containers included. Returns 0 or -1. */
int codec_skip(struct codec_reader *r);

/* Convenience readers: read one value and require its type. An integer that
 * does not fit the target fails. Return 0 or -1 (with @r unmoved on a type
 * mismatch). */
int codec_read_array(struct codec_reader *r, uint32_t *n);
int codec_read_map(struct codec_reader *r, uint32_t *n);
int codec_read_str(struct codec_reader *r, const char **s, uint32_t *len);
int codec_read_int64(struct codec_reader *r, int64_t *i);
int codec_read_uint32(struct codec_reader *r, uint32_t *u);
bool codec_at_end(const struct codec_reader *r);

/* True when @s[0..len) is valid UTF-8 (no overlongs, no surrogates). */
bool codec_utf8_valid(const char *s, size_t len);

/* ------------------------------------------------------------------- writer
 *
 * struct codec_buf collects encoded bytes. Writing past @limit, or running
 * out of memory, sets a sticky error and drops the bytes, so a long
 * encoding can check once at the end.
 */
enum codec_buf_error { CODEC_BUF_OK = 0, CODEC_BUF_NOMEM, CODEC_BUF_LIMIT };

struct codec_buf {
    char *data;
    size_t len;
    size_t cap;
    size_t limit;
    int error; /* enum codec_buf_error */
    msgpack_packer pk;
};

/* Prepares an empty buffer that refuses to grow past @limit bytes (0 means
 * SIZE_MAX) and points b->pk at it. Allocates nothing. Since b->pk holds the
 * address of @b, an initialised codec_buf must not be copied or moved. */
void codec_buf_init(struct codec_buf *b, size_t limit);
void codec_buf_close(struct codec_buf *b);
/* Empties the buffer and clears its error, keeping its memory. */
void codec_buf_reset(struct codec_buf *b);
/* Drops what was written after the first @len bytes (an earlier b->len) and
 * clears the error: undoes a partial encoding. */
void codec_buf_truncate(struct codec_buf *b, size_t len);
/* Hands the bytes over to the caller (free() them); leaves @b empty. */
char *codec_buf_steal(struct codec_buf *b, size_t *len);

/* Appends raw bytes (already encoded MessagePack). */
void codec_buf_append(struct codec_buf *b, const void *data, size_t n);
/* Packs a string given by pointer and length, or NUL-terminated. */
void codec_pack_str(struct codec_buf *b, const char *s, size_t len);
void codec_pack_cstr(struct codec_buf *b, const char *s);
/* Pack the same bytes as msgpack_pack_array(), _int64(), _double(), _nil()
 * and _bin() with _bin_body(), each with one write into @b rather than one
 * call of msgpack-c's write callback per piece: for result rows. */
void codec_pack_array(struct codec_buf *b, uint32_t n);
void codec_pack_int64(struct codec_buf *b, int64_t v);
void codec_pack_double(struct codec_buf *b, double v);
void codec_pack_nil(struct codec_buf *b);
void codec_pack_bin(struct codec_buf *b, const void *data, size_t len);

/* Writes an array header whose count is not known yet, in the 5-byte array32
 * form, and returns its offset; codec_patch_array() fills the count in.
 * (array32 with a small count is valid MessagePack, merely not the shortest.)
 */
size_t codec_pack_array_later(struct codec_buf *b);
void codec_patch_array(struct codec_buf *b, size_t offset, uint32_t n);
/* The same for a small map (fixmap: at most 15 pairs). */
size_t codec_pack_map_later(struct codec_buf *b);
void codec_patch_map(struct codec_buf *b, size_t offset, uint8_t n);

#endif /* SQLITED_CODEC_H */
