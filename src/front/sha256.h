/* SHA-256 (FIPS 180-4) for the front's drift check of config.json (status.c): the one
 * digest it needs, without loading libcrypto (~2 ms of a 10 ms command). */
#ifndef SYSCONTAINERS_FRONT_SHA256_H
#define SYSCONTAINERS_FRONT_SHA256_H

#include <stddef.h>

/* the digest of data as 64 lowercase hex digits and a NUL, into hex */
void sha256_hex(const unsigned char *data, size_t n, char hex[65]);

#endif
