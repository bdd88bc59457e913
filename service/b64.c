#include "b64.h"

#include <stdint.h>

static const char alphabet[64] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* 0..63 for the alphabet, 0xff for anything else ('=' included). */
static const uint8_t value[256] = {
    ['A'] = 0,  ['B'] = 1,  ['C'] = 2,  ['D'] = 3,  ['E'] = 4,  ['F'] = 5,  ['G'] = 6,  ['H'] = 7,
    ['I'] = 8,  ['J'] = 9,  ['K'] = 10, ['L'] = 11, ['M'] = 12, ['N'] = 13, ['O'] = 14, ['P'] = 15,
    ['Q'] = 16, ['R'] = 17, ['S'] = 18, ['T'] = 19, ['U'] = 20, ['V'] = 21, ['W'] = 22, ['X'] = 23,
    ['Y'] = 24, ['Z'] = 25, ['a'] = 26, ['b'] = 27, ['c'] = 28, ['d'] = 29, ['e'] = 30, ['f'] = 31,
    ['g'] = 32, ['h'] = 33, ['i'] = 34, ['j'] = 35, ['k'] = 36, ['l'] = 37, ['m'] = 38, ['n'] = 39,
    ['o'] = 40, ['p'] = 41, ['q'] = 42, ['r'] = 43, ['s'] = 44, ['t'] = 45, ['u'] = 46, ['v'] = 47,
    ['w'] = 48, ['x'] = 49, ['y'] = 50, ['z'] = 51, ['0'] = 52, ['1'] = 53, ['2'] = 54, ['3'] = 55,
    ['4'] = 56, ['5'] = 57, ['6'] = 58, ['7'] = 59, ['8'] = 60, ['9'] = 61, ['+'] = 62, ['/'] = 63,
};

/* value[] marks only the alphabet; everything else must read as invalid. */
static uint32_t sextet(unsigned char c)
{
    return (c == 'A' || value[c]) ? value[c] : 0xff;
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
        uint32_t a = sextet(s[i]), b = sextet(s[i + 1]), c = sextet(s[i + 2]), d = sextet(s[i + 3]);
        bad |= a | b | c | d;
        uint32_t v = a << 18 | b << 12 | c << 6 | d;
        out[o++] = (unsigned char)(v >> 16);
        out[o++] = (unsigned char)(v >> 8);
        out[o++] = (unsigned char)v;
    }
    if (bad & ~0x3fu)
        return -1;
    if (pad) {
        uint32_t a = sextet(s[full]), b = sextet(s[full + 1]);
        uint32_t c = pad == 1 ? sextet(s[full + 2]) : 0;
        if ((a | b | c) & ~0x3fu)
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
