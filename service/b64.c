#include "b64.h"

#include <stdint.h>

static const char alphabet[64] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* 0..63 for the alphabet, BAD for anything else ('=' included), spelled out for all 256 bytes:
 * the decoder then needs no test per character, only one of all of them together. */
#define BAD 0x100
#define SEXTET(c)                                                                                  \
    ((c) >= 'A' && (c) <= 'Z'   ? (c) - 'A'                                                        \
     : (c) >= 'a' && (c) <= 'z' ? (c) - 'a' + 26                                                   \
     : (c) >= '0' && (c) <= '9' ? (c) - '0' + 52                                                   \
     : (c) == '+'               ? 62                                                               \
     : (c) == '/'               ? 63                                                               \
                                : BAD)
#define R4(i) SEXTET(i), SEXTET((i) + 1), SEXTET((i) + 2), SEXTET((i) + 3)
#define R16(i) R4(i), R4((i) + 4), R4((i) + 8), R4((i) + 12)
#define R64(i) R16(i), R16((i) + 16), R16((i) + 32), R16((i) + 48)
static const uint16_t value[256] = {R64(0), R64(64), R64(128), R64(192)};
#undef R64
#undef R16
#undef R4
#undef SEXTET

int b64_decode(unsigned char *out, size_t cap, size_t *out_len, const char *in, size_t in_len)
{
    const unsigned char *s = (const unsigned char *)in;
    size_t o = 0;
    *out_len = 0;
    if (in_len % 4 != 0)
        return -1;
    size_t pad = 0;
    if (in_len && s[in_len - 1] == '=')
        pad = s[in_len - 2] == '=' ? 2 : 1;
    size_t full = in_len - (pad ? 4 : 0); /* quads without padding */
    if (B64_DECODED_MAX(in_len) - pad > cap)
        return -1;
    uint32_t bad = 0;
    for (size_t i = 0; i < full; i += 4) {
        uint32_t a = value[s[i]], b = value[s[i + 1]], c = value[s[i + 2]], d = value[s[i + 3]];
        bad |= a | b | c | d;
        uint32_t v = a << 18 | b << 12 | c << 6 | d;
        out[o] = (unsigned char)(v >> 16);
        out[o + 1] = (unsigned char)(v >> 8);
        out[o + 2] = (unsigned char)v;
        o += 3;
    }
    if (bad & BAD)
        return -1;
    if (pad) {
        uint32_t a = value[s[full]], b = value[s[full + 1]];
        uint32_t c = pad == 1 ? value[s[full + 2]] : 0;
        if ((a | b | c) & BAD)
            return -1;
        uint32_t v = a << 18 | b << 12 | c << 6;
        /* Canonical: the bits after the last byte are zero. */
        if ((pad == 2 && (v & 0xffff)) || (pad == 1 && (v & 0xff)))
            return -1;
        out[o++] = (unsigned char)(v >> 16);
        if (pad == 1)
            out[o++] = (unsigned char)(v >> 8);
    }
    *out_len = o;
    return 0;
}

int b64_encode(char *out, size_t cap, const unsigned char *in, size_t n)
{
    if (cap < B64_ENCODED_LEN(n))
        return -1;
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = alphabet[v >> 18];
        out[o++] = alphabet[(v >> 12) & 63];
        out[o++] = alphabet[(v >> 6) & 63];
        out[o++] = alphabet[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
        out[o++] = alphabet[v >> 18];
        out[o++] = alphabet[(v >> 12) & 63];
        out[o++] = i + 1 < n ? alphabet[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    out[o] = 0;
    return 0;
}
