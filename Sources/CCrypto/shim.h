// SHA-256 from the system's OpenSSL libcrypto (Debian: libssl-dev; runtime libssl3), which uses the CPU's SHA
// extensions where present (>1 GB/s here, against ~240 MB/s for portable Swift). OpenSSL 3 marks the one-shot
// SHA256_* calls deprecated in favour of EVP; they remain supported and need no allocation, so SHA256_CTX can
// live inside a Swift value. The wrappers keep the deprecation notes out of Swift builds.
#include <openssl/sha.h>

#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wdeprecated-declarations"
static inline void autoloader_sha256_init(SHA256_CTX *c) { SHA256_Init(c); }
static inline void autoloader_sha256_update(SHA256_CTX *c, const void *data, size_t n) { SHA256_Update(c, data, n); }
static inline void autoloader_sha256_final(SHA256_CTX *c, unsigned char out[32]) { SHA256_Final(out, c); }
#pragma clang diagnostic pop
