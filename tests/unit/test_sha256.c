/* SHA-256 of the migration checksums: FIPS 180-4's test vectors, fed whole
 * and in pieces of every size that crosses a block boundary. */
#include <criterion/criterion.h>
#include <string.h>

#include "../../daemon/sha256.h"

static void digest(const char *data, size_t len, size_t piece,
                   char hex[SHA256_HEX_SIZE])
{
    struct sha256 s;
    sha256_init(&s);
    for (size_t at = 0; at < len; at += piece)
        sha256_update(&s, data + at, len - at < piece ? len - at : piece);
    sha256_final_hex(&s, hex);
}

Test(sha256, known_vectors)
{
    static const struct {
        const char *in, *want;
    } v[] = {
        {"",
         "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc",
         "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    };
    char hex[SHA256_HEX_SIZE];
    for (size_t i = 0; i < sizeof(v) / sizeof(*v); i++)
        for (size_t piece = 1; piece <= 65; piece++) {
            digest(v[i].in, strlen(v[i].in), piece, hex);
            cr_assert_str_eq(hex, v[i].want, "vector %zu in pieces of %zu", i,
                             piece);
        }
}

Test(sha256, million_a)
{
    static char a[1000000];
    char hex[SHA256_HEX_SIZE];
    memset(a, 'a', sizeof(a));
    digest(a, sizeof(a), 4099, hex);
    cr_assert_str_eq(
        hex,
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}
