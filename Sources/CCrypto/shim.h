// Only libcrypto's digests are used: its SHA-256 uses the CPU's SHA extensions, several times
// faster than libsodium's portable code, and every NAR byte goes through SHA-256 twice.
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
