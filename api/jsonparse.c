#include "jsonparse.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const unsigned char *p, *end, *start;
    int depth;
    jsonparse_error *err;
} parser;

static json_t *fail(parser *ps, jsonparse_status st)
{
    if (ps->err->status == JSONPARSE_OK) {
        ps->err->status = st;
        ps->err->position = (size_t)(ps->p - ps->start);
    }
    return NULL;
}

static void skip_ws(parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\n' || *ps->p == '\r' || *ps->p == '\t'))
        ps->p++;
}

/* 1 for bytes a string may hold as they are (printable ASCII but '"' and '\\'). */
static const unsigned char plain[256] = {
#define R16(v) v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v
    R16(0), R16(0), /* 0x00-0x1f: control characters, never raw in a string */
    1,      1,      0,      1,      1,      1,      1,      1,
    1,      1,      1,      1,      1,      1,      1,      1, /* 0x20-0x2f: '"' at 0x22 */
    R16(1), R16(1),                                            /* 0x30-0x4f */
    1,      1,      1,      1,      1,      1,      1,      1,
    1,      1,      1,      1,      0,      1,      1,      1,      /* 0x50-0x5f: '\\' at 0x5c */
    R16(1), R16(1),                                                 /* 0x60-0x7f */
    R16(0), R16(0), R16(0), R16(0), R16(0), R16(0), R16(0), R16(0), /* 0x80-0xff: UTF-8 */
#undef R16
};

/* Length of the well-formed UTF-8 sequence at p (RFC 3629: no overlong forms, no surrogates,
 * nothing past U+10FFFF), or 0. */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
    size_t n = (size_t)(end - p);
    unsigned char c = p[0];
    unsigned char lo = 0x80, hi = 0xbf;
    size_t len;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    } else
        return 0;
    if (n < len || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (p[i] < 0x80 || p[i] > 0xbf)
            return 0;
    return len;
}

static int hex4(const unsigned char *p, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (uint32_t)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static size_t put_utf8(unsigned char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xc0 | cp >> 6);
        o[1] = (unsigned char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xe0 | cp >> 12);
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (unsigned char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (unsigned char)(0xf0 | cp >> 18);
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (unsigned char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Decodes the escape after a backslash at ps->p into o (at most 4 bytes); its length, or 0. */
static size_t unescape(parser *ps, unsigned char *o)
{
    if (ps->p >= ps->end)
        return 0;
    unsigned char c = *ps->p++;
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    const char *k = c ? strchr(from, c) : NULL;
    if (k) {
        o[0] = (unsigned char)to[k - from];
        return 1;
    }
    uint32_t cp, lo;
    if (c != 'u' || ps->end - ps->p < 4 || hex4(ps->p, &cp) != 0)
        return 0;
    ps->p += 4;
    if (cp >= 0xdc00 && cp <= 0xdfff)
        return 0; /* a low surrogate alone */
    if (cp >= 0xd800 && cp <= 0xdbff) {
        if (ps->end - ps->p < 6 || ps->p[0] != '\\' || ps->p[1] != 'u' ||
            hex4(ps->p + 2, &lo) != 0 || lo < 0xdc00 || lo > 0xdfff)
            return 0;
        ps->p += 6;
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
    }
    return put_utf8(o, cp);
}

/* Whether the 8 bytes at p are all plain[] (SWAR: a byte below 0x20, equal to '"' or '\\', or
 * with its top bit set marks its own top bit; borrows only ever mark bytes above a marked one,
 * so "none marked" is exact). Secrets are kilobytes of base64: 8 bytes per step. */
static bool plain8(const unsigned char *p)
{
    const uint64_t ones = 0x0101010101010101u, tops = 0x8080808080808080u;
    uint64_t x, q, b;
    memcpy(&x, p, sizeof x);
    q = x ^ (ones * '"');
    b = x ^ (ones * '\\');
    return ((((x - ones * 0x20) & ~x) | ((q - ones) & ~q) | ((b - ones) & ~b) | x) & tops) == 0;
}

/* The string at ps->p (after its opening quote): *out points into the text when it has no
 * escapes, else into *buf (malloc'd, the caller frees). 0, or -1 (ps->err set, *buf NULL). */
static int scan_string(parser *ps, const char **out, size_t *len, unsigned char **buf)
{
    const unsigned char *s = ps->p;
    *buf = NULL;
    for (;;) {
        while (ps->end - ps->p >= 8 && plain8(ps->p))
            ps->p += 8;
        while (ps->p < ps->end && plain[*ps->p])
            ps->p++;
        if (ps->p >= ps->end)
            return fail(ps, JSONPARSE_SYNTAX), -1;
        unsigned char c = *ps->p;
        if (c == '"')
            break;
        if (c == '\\') {
            if (!*buf) {
                /* Escapes never lengthen the text: what remains bounds the result. */
                *buf = malloc((size_t)(ps->end - s) + 1);
                if (!*buf)
                    return fail(ps, JSONPARSE_NO_MEMORY), -1;
                memcpy(*buf, s, (size_t)(ps->p - s));
                *len = (size_t)(ps->p - s);
            }
            break;
        }
        size_t n = c >= 0x80 ? utf8_len(ps->p, ps->end) : 0;
        if (!n)
            return fail(ps, JSONPARSE_SYNTAX), -1;
        ps->p += n;
    }
    if (!*buf) { /* no escape: the text itself */
        *out = (const char *)s;
        *len = (size_t)(ps->p - s);
        ps->p++;
        return 0;
    }
    /* Slow path, from the first escape on: copy while decoding. */
    unsigned char *o = *buf + *len;
    for (;;) {
        if (ps->p >= ps->end)
            goto bad;
        unsigned char c = *ps->p;
        if (c == '"')
            break;
        if (c == '\\') {
            ps->p++;
            size_t n = unescape(ps, o);
            if (!n)
                goto bad;
            o += n;
        } else if (plain[c]) {
            *o++ = c;
            ps->p++;
        } else {
            size_t n = c >= 0x80 ? utf8_len(ps->p, ps->end) : 0;
            if (!n)
                goto bad;
            memcpy(o, ps->p, n);
            o += n;
            ps->p += n;
        }
    }
    ps->p++;
    *out = (const char *)*buf;
    *len = (size_t)(o - *buf);
    return 0;
bad:
    free(*buf);
    *buf = NULL;
    return fail(ps, JSONPARSE_SYNTAX), -1;
}

static json_t *parse_string(parser *ps)
{
    const char *s;
    size_t n;
    unsigned char *buf;
    if (scan_string(ps, &s, &n, &buf) != 0)
        return NULL;
    json_t *v = json_stringn_nocheck(s, n); /* checked above */
    free(buf);
    return v ? v : fail(ps, JSONPARSE_NO_MEMORY);
}

static bool is_digit(const unsigned char *p, const unsigned char *end)
{
    return p < end && *p >= '0' && *p <= '9';
}

/* RFC 8259 §6; an integer must fit int64 and a real must be finite, as for Jansson. */
static json_t *parse_number(parser *ps)
{
    const unsigned char *s = ps->p;
    bool real = false;
    if (ps->p < ps->end && *ps->p == '-')
        ps->p++;
    if (!is_digit(ps->p, ps->end))
        return fail(ps, JSONPARSE_SYNTAX);
    if (*ps->p == '0')
        ps->p++;
    else
        while (is_digit(ps->p, ps->end))
            ps->p++;
    if (ps->p < ps->end && *ps->p == '.') {
        real = true;
        ps->p++;
        if (!is_digit(ps->p, ps->end))
            return fail(ps, JSONPARSE_SYNTAX);
        while (is_digit(ps->p, ps->end))
            ps->p++;
    }
    if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
        real = true;
        ps->p++;
        if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-'))
            ps->p++;
        if (!is_digit(ps->p, ps->end))
            return fail(ps, JSONPARSE_SYNTAX);
        while (is_digit(ps->p, ps->end))
            ps->p++;
    }
    size_t n = (size_t)(ps->p - s);
    char small[64], *text = n < sizeof small ? small : malloc(n + 1);
    if (!text)
        return fail(ps, JSONPARSE_NO_MEMORY);
    memcpy(text, s, n);
    text[n] = 0;
    json_t *v = NULL;
    errno = 0;
    if (real) {
        double d = strtod(text, NULL);
        if (errno != ERANGE || (d != HUGE_VAL && d != -HUGE_VAL))
            v = json_real(d);
        else
            fail(ps, JSONPARSE_SYNTAX);
    } else {
        long long i = strtoll(text, NULL, 10);
        if (errno != ERANGE)
            v = json_integer(i);
        else
            fail(ps, JSONPARSE_SYNTAX);
    }
    if (text != small)
        free(text);
    return v || ps->err->status != JSONPARSE_OK ? v : fail(ps, JSONPARSE_NO_MEMORY);
}

static json_t *parse_value(parser *ps);

static json_t *parse_literal(parser *ps, const char *word, json_t *(*make)(void))
{
    size_t n = strlen(word);
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
        return fail(ps, JSONPARSE_SYNTAX);
    ps->p += n;
    json_t *v = make();
    return v ? v : fail(ps, JSONPARSE_NO_MEMORY);
}

static int add_member(parser *ps, json_t *obj)
{
    const char *key;
    size_t klen;
    unsigned char *buf;
    const unsigned char *at = ps->p;
    json_t *v = NULL;
    int rc = -1;
    if (ps->p >= ps->end || *ps->p != '"')
        return fail(ps, JSONPARSE_SYNTAX), -1;
    ps->p++;
    if (scan_string(ps, &key, &klen, &buf) != 0)
        return -1;
    if (memchr(key, 0, klen)) { /* Jansson: "NUL byte in object key not supported" */
        ps->p = at;
        fail(ps, JSONPARSE_SYNTAX);
        goto done;
    }
    if (json_object_getn(obj, key, klen)) {
        ps->p = at;
        fail(ps, JSONPARSE_DUPLICATE_KEY);
        size_t n = klen < sizeof ps->err->key ? klen : sizeof ps->err->key - 1;
        memcpy(ps->err->key, key, n);
        ps->err->key[n] = 0;
        ps->err->key_len = klen;
        goto done;
    }
    skip_ws(ps);
    if (ps->p >= ps->end || *ps->p != ':') {
        fail(ps, JSONPARSE_SYNTAX);
        goto done;
    }
    ps->p++;
    if (!(v = parse_value(ps)))
        goto done;
    if (json_object_setn_new_nocheck(obj, key, klen, v) != 0) {
        fail(ps, JSONPARSE_NO_MEMORY);
        goto done;
    }
    rc = 0;
done:
    free(buf);
    return rc;
}

static json_t *parse_object(parser *ps)
{
    json_t *obj = json_object();
    if (!obj)
        return fail(ps, JSONPARSE_NO_MEMORY);
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
        return obj;
    }
    for (;;) {
        skip_ws(ps);
        if (add_member(ps, obj) != 0)
            break;
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == '}') {
            ps->p++;
            return obj;
        }
        fail(ps, JSONPARSE_SYNTAX);
        break;
    }
    json_decref(obj);
    return NULL;
}

static json_t *parse_array(parser *ps)
{
    json_t *arr = json_array();
    if (!arr)
        return fail(ps, JSONPARSE_NO_MEMORY);
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ']') {
        ps->p++;
        return arr;
    }
    for (;;) {
        json_t *v = parse_value(ps);
        if (!v)
            break;
        if (json_array_append_new(arr, v) != 0) {
            fail(ps, JSONPARSE_NO_MEMORY);
            break;
        }
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == ']') {
            ps->p++;
            return arr;
        }
        fail(ps, JSONPARSE_SYNTAX);
        break;
    }
    json_decref(arr);
    return NULL;
}

static json_t *parse_value(parser *ps)
{
    skip_ws(ps);
    if (ps->p >= ps->end)
        return fail(ps, JSONPARSE_SYNTAX);
    json_t *v;
    switch (*ps->p) {
    case '{':
    case '[':
        if (++ps->depth > JSONPARSE_MAX_DEPTH)
            return fail(ps, JSONPARSE_SYNTAX);
        v = *ps->p++ == '{' ? parse_object(ps) : parse_array(ps);
        ps->depth--;
        return v;
    case '"':
        ps->p++;
        return parse_string(ps);
    case 't':
        return parse_literal(ps, "true", json_true);
    case 'f':
        return parse_literal(ps, "false", json_false);
    case 'n':
        return parse_literal(ps, "null", json_null);
    default:
        return parse_number(ps);
    }
}

json_t *jsonparse(const char *text, size_t len, jsonparse_error *err)
{
    parser ps = {(const unsigned char *)text, (const unsigned char *)text + len,
                 (const unsigned char *)text, 0, err};
    memset(err, 0, sizeof *err);
    skip_ws(&ps);
    if (ps.p >= ps.end || (*ps.p != '{' && *ps.p != '['))
        return fail(&ps, JSONPARSE_SYNTAX); /* as Jansson without JSON_DECODE_ANY */
    json_t *v = parse_value(&ps);
    if (!v)
        return NULL;
    skip_ws(&ps);
    if (ps.p != ps.end) {
        json_decref(v);
        return fail(&ps, JSONPARSE_SYNTAX);
    }
    return v;
}
