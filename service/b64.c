#include "b64.h"

#include <stdint.h>

static const char alphabet[64] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Per place in a quad, each byte's sextet already shifted into its place of the quad's 24 bits,
 * or BAD (a bit no sextet reaches) for anything but the alphabet ('=' included); spelled out for
 * all 256 bytes, so that the decoder needs no test per character, only one for the whole text. */
#define BAD 0x80000000u
#define SEXTET(c)                                                                                  \
    ((c) >= 'A' && (c) <= 'Z'   ? (c) - 'A'                                                        \
     : (c) >= 'a' && (c) <= 'z' ? (c) - 'a' + 26                                                   \
     : (c) >= '0' && (c) <= '9' ? (c) - '0' + 52                                                   \
     : (c) == '+'               ? 62                                                               \
     : (c) == '/'               ? 63                                                               \
                                : -1)
#define AT(c, shift) (SEXTET(c) < 0 ? BAD : (uint32_t)SEXTET(c) << (shift))
#define R4(i, s) AT(i, s), AT((i) + 1, s), AT((i) + 2, s), AT((i) + 3, s)
#define R16(i, s) R4(i, s), R4((i) + 4, s), R4((i) + 8, s), R4((i) + 12, s)
#define R64(i, s) R16(i, s), R16((i) + 16, s), R16((i) + 32, s), R16((i) + 48, s)
#define TABLE(s)                                                                                   \
    {                                                                                              \
        R64(0, s), R64(64, s), R64(128, s), R64(192, s)                                            \
    }
static const uint32_t place[4][256] = {TABLE(18), TABLE(12), TABLE(6), TABLE(0)};
#undef TABLE
#undef R64
#undef R16
#undef R4
#undef AT
#undef SEXTET

static uint32_t quad(const unsigned char *s)
{
    return place[0][s[0]] | place[1][s[1]] | place[2][s[2]] | place[3][s[3]];
}

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
        uint32_t v = quad(s + i);
        bad |= v;
        out[o] = (unsigned char)(v >> 16);
        out[o + 1] = (unsigned char)(v >> 8);
        out[o + 2] = (unsigned char)v;
        o += 3;
    }
    if (bad & BAD)
        return -1;
    if (pad) {
        uint32_t v =
            place[0][s[full]] | place[1][s[full + 1]] | (pad == 1 ? place[2][s[full + 2]] : 0);
        if (v & BAD)
            return -1;
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
