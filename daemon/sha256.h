/* SHA-256 (FIPS 180-4), for the checksums of migration files: a standard
 * digest an operator can compare with `sha256sum FILE`. */
#ifndef SQLITED_SHA256_H
#define SQLITED_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_HEX_SIZE 65 /* 64 hex digits and a NUL */

struct sha256 {
    uint32_t h[8];
    uint64_t length; /* bytes fed so far */
    unsigned char block[64];
    size_t used; /* bytes in block */
};

void sha256_init(struct sha256 *s);
void sha256_update(struct sha256 *s, const void *data, size_t len);
/* Writes the digest of everything fed, as lowercase hex, into @hex. */
void sha256_final_hex(struct sha256 *s, char hex[SHA256_HEX_SIZE]);

#endif /* SQLITED_SHA256_H */
