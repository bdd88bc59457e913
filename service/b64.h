/* b64: standard base64 (RFC 4648 §4, with padding) for request and response bodies — secrets
 * travel as base64 in JSON. Same strictness as libsodium's sodium_base642bin with
 * sodium_base64_VARIANT_ORIGINAL, no ignored characters and the whole input consumed (canonical:
 * padding required, unused bits zero; and no byte outside ASCII, which libsodium 1.0.18 lets
 * through), at table speed: libsodium's codec is constant-time,
 * which costs ~5 ns a byte and buys nothing here, since the text is the client's own.
 * Keys, tokens and cursors keep libsodium's codec. No allocation; outputs first. */
#ifndef ASSETD_B64_H
#define ASSETD_B64_H

#include <stddef.h>

#include "err.h" /* WUR */

/* Bytes b64_decode() may write for in_len characters. */
#define B64_DECODED_MAX(in_len) ((in_len) / 4 * 3)
/* Characters b64_encode() writes for n bytes, plus the NUL. */
#define B64_ENCODED_LEN(n) (((n) + 2) / 3 * 4 + 1)

/* Decodes in[0..in_len) into out (cap bytes); *out_len gets the length. 0, or -1 when the text is
 * not canonical base64 or out is too small (then out holds garbage: the caller wipes it). */
WUR int b64_decode(unsigned char *out, size_t cap, size_t *out_len, const char *in, size_t in_len);
/* Encodes in[0..n) into out (cap >= B64_ENCODED_LEN(n)), NUL-terminated; -1 if cap is too small. */
WUR int b64_encode(char *out, size_t cap, const unsigned char *in, size_t n);

#endif
