#include "jsonpage.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "../service/b64.h"
#include "http.h"
#include "jsonmap.h"

typedef struct {
    char *p;
    size_t len, cap;
    bool failed;
} tbuf;

/* Room for n more bytes and a NUL; false (and b->failed) when out of memory. */
static bool reserve(tbuf *b, size_t n)
{
    if (b->failed)
        return false;
    if (b->cap - b->len < n + 1) {
        size_t cap = b->cap * 2 > b->len + n + 1 ? b->cap * 2 : b->len + n + 1;
        char *np = http_secure_malloc(cap);
        if (!np) {
            b->failed = true;
            return false;
        }
        memcpy(np, b->p, b->len);
        http_secure_free(b->p);
        b->p = np;
        b->cap = cap;
    }
    return true;
}

static void put(tbuf *b, const char *s, size_t n)
{
    if (!reserve(b, n))
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void puts_(tbuf *b, const char *s)
{
    put(b, s, strlen(s));
}

/* Length of the valid UTF-8 sequence at s[0..n) (as Jansson's decoder accepts: no overlong
 * forms, no surrogates, nothing above U+10FFFF), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t k;
    unsigned cp, min;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        k = 2, cp = c & 0x1F, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF)
        k = 3, cp = c & 0x0F, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4)
        k = 4, cp = c & 0x07, min = 0x10000;
    else
        return 0;
    if (n < k)
        return 0;
    for (size_t i = 1; i < k; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return k;
}

/* A JSON string, escaped as Jansson's dump does without flags: quote, backslash and control
 * characters only (\b \f \n \r \t, else \u00XX in capitals). */
static void put_str(tbuf *b, const char *p, size_t n)
{
    const unsigned char *s = (const unsigned char *)p;
    size_t run = 0, i = 0;
    put(b, "\"", 1);
    while (i < n) {
        size_t k = utf8_seq(s + i, n - i);
        if (!k) {
            b->failed = true;
            return;
        }
        unsigned char c = s[i];
        if (k == 1 && (c < 0x20 || c == '"' || c == '\\')) {
            char esc[8];
            put(b, p + run, i - run);
            switch (c) {
            case '"':
                memcpy(esc, "\\\"", 3);
                break;
            case '\\':
                memcpy(esc, "\\\\", 3);
                break;
            case '\b':
                memcpy(esc, "\\b", 3);
                break;
            case '\f':
                memcpy(esc, "\\f", 3);
                break;
            case '\n':
                memcpy(esc, "\\n", 3);
                break;
            case '\r':
                memcpy(esc, "\\r", 3);
                break;
            case '\t':
                memcpy(esc, "\\t", 3);
                break;
            default:
                snprintf(esc, sizeof esc, "\\u%04X", c);
                break;
            }
            puts_(b, esc);
            run = i + 1;
        }
        i += k;
    }
    put(b, p + run, n - run);
    put(b, "\"", 1);
}

static void put_key(tbuf *b, const char *key)
{
    put(b, ",\"", 2);
    puts_(b, key);
    put(b, "\":", 2);
}

static void put_bool(tbuf *b, const char *key, bool v)
{
    put_key(b, key);
    puts_(b, v ? "true" : "false");
}

static void put_enum(tbuf *b, const char *key, asset_field f, unsigned v)
{
    const char *name = asset_enum_name(f, v);
    put_key(b, key);
    if (!name) { /* json_string(NULL) fails: so does the answer */
        b->failed = true;
        return;
    }
    put_str(b, name, strlen(name));
}

/* "secret":"<base64>", encoded straight into the buffer (base64 is ASCII: nothing to escape),
 * by the table codec jsonmap_asset uses (b64.h), not libsodium's constant-time one. */
static void put_secret(tbuf *b, const asset_out *o)
{
    size_t n = B64_ENCODED_LEN(o->secret_len); /* with its NUL */
    put_key(b, "secret");
    put(b, "\"", 1);
    if (!reserve(b, n) || b64_encode(b->p + b->len, n, o->secret, o->secret_len) != 0) {
        b->failed = true;
        return;
    }
    b->len += n - 1;
    put(b, "\"", 1);
}

/* One asset, in jsonmap_asset()'s key order. */
static void put_asset(tbuf *b, const asset_out *o)
{
    const asset_record *r = &o->rec;
    char when[64];
    if (!r->alias.p) { /* text_json of a NULL text fails in jsonmap_asset too */
        b->failed = true;
        return;
    }
    put(b, "{\"alias\":", 9);
    put_str(b, r->alias.p, r->alias.n);
    put_enum(b, "accessibility", F_ACCESSIBILITY, r->accessibility);
    put_bool(b, "requirePasswordSet", r->require_password_set);
    put_enum(b, "authType", F_AUTH_TYPE, r->auth_type);
    put_key(b, "syncType");
    put(b, "[", 1);
    bool first = true;
    for (unsigned bit = 1; bit <= SYNC_TRUSTED_ACCOUNT; bit <<= 1)
        if (r->sync_type & bit) {
            const char *name = asset_enum_name(F_SYNC_TYPE, bit);
            if (!name) {
                b->failed = true;
                return;
            }
            if (!first)
                put(b, ",", 1);
            put_str(b, name, strlen(name));
            first = false;
        }
    put(b, "]", 1);
    put_bool(b, "isPersistent", r->is_persistent);
    put_bool(b, "requireAttrEncrypted", r->attr_enc);
    if (o->has_group) {
        if (!r->owner.p) {
            b->failed = true;
            return;
        }
        put_key(b, "groupId");
        put_str(b, r->owner.p, r->owner.n);
    }
    put_enum(b, "wrapType", F_WRAP_TYPE, r->wrap_type);
    for (int i = 0; i < ASSET_LABELS; i++)
        if (r->labels[i].p) {
            put_key(b, asset_field_info(F_LABEL0 + i)->name);
            put_str(b, r->labels[i].p, r->labels[i].n);
        }
    jsonmap_time(when, r->update_ms);
    put_key(b, "updateTime");
    put_str(b, when, strlen(when));
    if (o->secret)
        put_secret(b, o);
    put(b, "}", 1);
}

/* Room for the whole page at once: escaping at most sextuples a text byte. */
static size_t page_size(const asset_list *l)
{
    size_t n = 64 + (l->next_cursor ? strlen(l->next_cursor) : 0);
    for (size_t i = 0; i < l->n; i++) {
        const asset_record *r = &l->items[i].rec;
        size_t text = r->alias.n + (l->items[i].has_group ? r->owner.n : 0);
        for (int k = 0; k < ASSET_LABELS; k++)
            text += r->labels[k].p ? r->labels[k].n + 32 : 0;
        n += 400 + 6 * text + l->items[i].secret_len * 4 / 3 + 16;
    }
    return n;
}

char *jsonpage_asset(const asset_out *o, size_t *len)
{
    asset_list l = {.items = (asset_out *)o, .n = 1};
    tbuf b = {NULL, 0, 0, false};
    *len = 0;
    if (!(b.p = http_secure_malloc(b.cap = page_size(&l))))
        return NULL;
    b.p[0] = 0;
    put_asset(&b, o);
    if (b.failed) {
        http_secure_free(b.p);
        return NULL;
    }
    *len = b.len;
    return b.p;
}

char *jsonpage_assets(const asset_list *l, size_t *len)
{
    tbuf b = {NULL, 0, 0, false};
    *len = 0;
    if (!(b.p = http_secure_malloc(b.cap = page_size(l))))
        return NULL;
    b.p[0] = 0;
    put(&b, "{\"assets\":[", 11);
    for (size_t i = 0; i < l->n && !b.failed; i++) {
        if (i)
            put(&b, ",", 1);
        put_asset(&b, &l->items[i]);
    }
    put(&b, "],\"nextCursor\":", 15);
    if (l->next_cursor)
        put_str(&b, l->next_cursor, strlen(l->next_cursor));
    else
        put(&b, "null", 4);
    put(&b, "}", 1);
    if (b.failed) {
        http_secure_free(b.p);
        return NULL;
    }
    *len = b.len;
    return b.p;
}
