#include "fuzz_common.h"

#include <limits.h>
#include <sanitizer/asan_interface.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fuzz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "\nFUZZ INVARIANT VIOLATED at %s:%d: %s\n  ", file, line, cond);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

void fuzz_init(void)
{
    if (sodium_init() < 0) {
        fprintf(stderr, "fuzz: sodium_init failed\n");
        abort();
    }
    json_set_alloc_funcs(http_secure_malloc, http_secure_free);
}

const char *fuzz_op_name(asset_op op)
{
    static const char *const names[OP_COUNT] = {
        [OP_ADD] = "OP_ADD",
        [OP_QUERY] = "OP_QUERY",
        [OP_GET_ONE] = "OP_GET_ONE",
        [OP_UPDATE_SEL] = "OP_UPDATE_SEL",
        [OP_UPDATE] = "OP_UPDATE",
        [OP_REMOVE] = "OP_REMOVE",
        [OP_REMOVE_ONE] = "OP_REMOVE_ONE",
        [OP_PRE_QUERY] = "OP_PRE_QUERY",
        [OP_AUTH_QUERY] = "OP_AUTH_QUERY",
        [OP_POST_QUERY] = "OP_POST_QUERY",
    };
    return (unsigned)op < OP_COUNT && names[op] ? names[op] : "OP_?";
}

/* ---- reference implementations ---- */

/* Well-formed sequences, Unicode 15 table 3-7, minus U+0000. */
bool fuzz_ref_utf8(const unsigned char *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char b = p[i];
        size_t need;
        unsigned char lo = 0x80, hi = 0xbf; /* range of the second byte */
        if (b == 0x00)
            return false;
        if (b <= 0x7f) {
            i++;
            continue;
        }
        if (b >= 0xc2 && b <= 0xdf) {
            need = 1;
        } else if (b == 0xe0) {
            need = 2, lo = 0xa0;
        } else if ((b >= 0xe1 && b <= 0xec) || b == 0xee || b == 0xef) {
            need = 2;
        } else if (b == 0xed) {
            need = 2, hi = 0x9f;
        } else if (b == 0xf0) {
            need = 3, lo = 0x90;
        } else if (b >= 0xf1 && b <= 0xf3) {
            need = 3;
        } else if (b == 0xf4) {
            need = 3, hi = 0x8f;
        } else {
            return false;
        }
        if (n - i - 1 < need)
            return false;
        if (p[i + 1] < lo || p[i + 1] > hi)
            return false;
        for (size_t k = 2; k <= need; k++)
            if (p[i + k] < 0x80 || p[i + k] > 0xbf)
                return false;
        i += need + 1;
    }
    return true;
}

static int ref_hex(unsigned char c)
{
    static const char digits[] = "0123456789abcdef";
    const char *d;
    if (c >= 'A' && c <= 'F')
        c = (unsigned char)(c - 'A' + 'a');
    if (c == 0 || !(d = strchr(digits, c)))
        return -1;
    return (int)(d - digits);
}

long fuzz_ref_pct_decode(const char *p, size_t n, bool plus_is_space, char *out)
{
    const unsigned char *s = (const unsigned char *)p;
    size_t i = 0, j = 0;
    while (i < n) {
        if (s[i] != '%') {
            out[j++] = plus_is_space && s[i] == '+' ? ' ' : (char)s[i];
            i++;
            continue;
        }
        if (n - i < 3)
            return -1;
        int h = ref_hex(s[i + 1]), l = ref_hex(s[i + 2]);
        if (h < 0 || l < 0)
            return -1;
        out[j++] = (char)(h << 4 | l);
        i += 3;
    }
    return (long)j;
}

int fuzz_pct_decode(arena *a, const char *p, size_t n, bool plus_is_space, const char **out,
                    size_t *out_len)
{
    char *want = malloc(n ? n : 1);
    FUZZ_CHECK(want, "out of memory");
    long want_len = fuzz_ref_pct_decode(p, n, plus_is_space, want);
    const char *got = NULL;
    size_t got_len = (size_t)-1;
    int rc = http_pct_decode(a, p, n, plus_is_space, &got, &got_len);
    FUZZ_CHECK(rc == 0 || rc == -1, "http_pct_decode returned %d", rc);
    FUZZ_CHECK((rc == 0) == (want_len >= 0),
               "http_pct_decode %s an input the reference decoder %s (input %zu bytes)",
               rc == 0 ? "accepted" : "refused", want_len >= 0 ? "accepts" : "refuses", n);
    if (rc == 0) {
        FUZZ_CHECK(got != NULL, "success without an output buffer");
        FUZZ_CHECK(got_len <= n, "decoded length %zu > input length %zu", got_len, n);
        FUZZ_CHECK(got_len == (size_t)want_len, "decoded length %zu, reference %ld", got_len,
                   want_len);
        FUZZ_CHECK(memcmp(got, want, got_len) == 0, "decoded bytes differ from the reference");
        FUZZ_CHECK(got[got_len] == 0, "decoded text is not NUL-terminated");
        *out = got;
        *out_len = got_len;
    }
    free(want);
    return rc;
}

/* ---- request invariants ---- */

static const asset_text *text_slot(const asset_req *r, asset_field f)
{
    if (f == F_ALIAS)
        return &r->alias;
    if (f == F_GROUP_ID)
        return &r->group;
    if (f == F_CURSOR)
        return &r->cursor;
    if (f >= F_LABEL0 && f < F_LABEL0 + ASSET_LABELS)
        return &r->labels[f - F_LABEL0];
    return NULL;
}

static void check_enum(asset_field f, unsigned v, const char *op)
{
    FUZZ_CHECK(asset_enum_name(f, v) != NULL, "%s: field %s holds %u, which has no name", op,
               asset_field_info(f)->name, v);
}

void fuzz_check_req_ok(const asset_req *r, asset_op op)
{
    const char *on = fuzz_op_name(op);
    uint64_t allowed = asset_op_fields(op);
    FUZZ_CHECK((r->has & ~allowed) == 0, "%s: accepted fields it does not take (has %#llx)", on,
               (unsigned long long)(r->has & ~allowed));
    for (int f = 0; f < F_COUNT; f++) {
        const field_info *fi = asset_field_info((asset_field)f);
        bool has = (r->has & FBIT(f)) != 0;
        if (fi->kind == KIND_TEXT) {
            const asset_text *t = text_slot(r, (asset_field)f);
            FUZZ_CHECK(t != NULL, "text field %s has no slot", fi->name);
            if (!has) {
                FUZZ_CHECK(t->p == NULL && t->n == 0, "%s: %s set without its bit", on, fi->name);
                continue;
            }
            FUZZ_CHECK(t->p != NULL, "%s: %s given but NULL", on, fi->name);
            FUZZ_CHECK((long)t->n >= fi->min && (long)t->n <= fi->max,
                       "%s: %s is %zu bytes, outside %ld..%ld", on, fi->name, t->n, fi->min,
                       fi->max);
            FUZZ_CHECK(memchr(t->p, 0, t->n) == NULL, "%s: %s contains NUL", on, fi->name);
            FUZZ_CHECK(text_valid_utf8(t->p, t->n), "%s: %s is not valid UTF-8", on, fi->name);
            FUZZ_CHECK(fuzz_ref_utf8((const unsigned char *)t->p, t->n),
                       "%s: %s accepted but the reference validator refuses it", on, fi->name);
        }
    }
    /* Owned bytes. */
    FUZZ_CHECK(!(r->has & FBIT(F_SECRET)) == !r->secret, "%s: secret bit and pointer disagree", on);
    if (r->secret)
        FUZZ_CHECK(r->secret_len >= 1 && r->secret_len <= ASSET_SECRET_MAX, "%s: secret_len %zu",
                   on, r->secret_len);
    else
        FUZZ_CHECK(r->secret_len == 0, "%s: secret_len %zu without a secret", on, r->secret_len);
    FUZZ_CHECK(!(r->has & FBIT(F_AUTH_TOKEN)) == !r->auth_token,
               "%s: authToken bit and pointer disagree", on);
    if (r->auth_token)
        FUZZ_CHECK(r->auth_token_len >= 1 && r->auth_token_len <= ASSET_AUTH_TOKEN_MAX,
                   "%s: auth_token_len %zu", on, r->auth_token_len);
    if (!(r->has & FBIT(F_AUTH_CHALLENGE))) {
        static const unsigned char zero[ASSET_CHALLENGE_LEN];
        FUZZ_CHECK(memcmp(r->challenge, zero, sizeof zero) == 0,
                   "%s: challenge bytes without authChallenge", on);
    }
    /* Enumerations: every value has a name, as jsonmap_asset needs. */
    check_enum(F_ACCESSIBILITY, r->accessibility, on);
    check_enum(F_AUTH_TYPE, r->auth_type, on);
    check_enum(F_CONFLICT_RESOLUTION, r->conflict, on);
    check_enum(F_WRAP_TYPE, r->wrap_type, on);
    check_enum(F_RETURN_TYPE, r->return_type, on);
    FUZZ_CHECK((r->sync_type & ~7u) == 0, "%s: sync_type %#x", on, r->sync_type);
    if (!(r->has & FBIT(F_SYNC_TYPE)))
        FUZZ_CHECK(r->sync_type == 0, "%s: sync_type without syncType", on);
    FUZZ_CHECK(r->order_by >= -1 && r->order_by < ASSET_LABELS, "%s: order_by %d", on, r->order_by);
    FUZZ_CHECK((r->order_by >= 0) == !!(r->has & FBIT(F_ORDER_BY)),
               "%s: order_by %d and its bit disagree", on, r->order_by);
    FUZZ_CHECK(r->has & FBIT(F_REQUIRE_PASSWORD_SET) || !r->require_password_set,
               "%s: requirePasswordSet true without its bit", on);
    FUZZ_CHECK(r->has & FBIT(F_IS_PERSISTENT) || !r->is_persistent,
               "%s: isPersistent true without its bit", on);
    FUZZ_CHECK(r->has & FBIT(F_REQUIRE_ATTR_ENCRYPTED) || !r->attr_enc,
               "%s: requireAttrEncrypted true without its bit", on);
    /* Integers, after the defaults of asset_req_finish. */
    FUZZ_CHECK(r->limit >= 1 && r->limit <= ASSET_LIMIT_MAX, "%s: limit %ld", on, r->limit);
    FUZZ_CHECK(r->offset >= 0 && r->offset <= INT_MAX, "%s: offset %ld", on, r->offset);
    FUZZ_CHECK(r->auth_validity >= 1 && r->auth_validity <= 600, "%s: authValidityPeriod %ld", on,
               r->auth_validity);
    /* What each operation requires. */
    switch (op) {
    case OP_ADD:
        FUZZ_CHECK(r->secret && r->alias.p, "OP_ADD without secret or alias");
        FUZZ_CHECK(!(r->is_persistent && (r->has & FBIT(F_GROUP_ID))),
                   "OP_ADD: persistent group asset");
        break;
    case OP_QUERY:
        FUZZ_CHECK(!((r->has & FBIT(F_CURSOR)) && (r->has & FBIT(F_OFFSET))),
                   "OP_QUERY: cursor with offset");
        break;
    case OP_UPDATE:
        FUZZ_CHECK(r->has != 0, "OP_UPDATE: empty update");
        break;
    case OP_AUTH_QUERY:
        FUZZ_CHECK(r->alias.p && r->auth_token && (r->has & FBIT(F_AUTH_CHALLENGE)),
                   "OP_AUTH_QUERY: missing alias, challenge or token");
        break;
    case OP_POST_QUERY:
        FUZZ_CHECK(r->has & FBIT(F_AUTH_CHALLENGE), "OP_POST_QUERY: missing challenge");
        break;
    default:
        break;
    }
}

void fuzz_check_failure(asset_err e, const char *why, const char *what, asset_op op)
{
    FUZZ_CHECK(e > ASSET_OK && e < ASSET_ERR_COUNT, "%s %s: error code %d", what, fuzz_op_name(op),
               (int)e);
    FUZZ_CHECK(why != NULL && why[0] != 0, "%s %s failed (%d) without a reason", what,
               fuzz_op_name(op), (int)e);
}

/* ---- arena red zones (see fuzz_common.h) ---- */

#define REDZONE 32

typedef struct {
    arena *a;
    unsigned char *p; /* start of the red zone */
} guard;

static guard *guards;
static size_t nguards, capguards;

void *__wrap_arena_alloc(arena *a, size_t n);
void __wrap_arena_free(arena *a);

void *__wrap_arena_alloc(arena *a, size_t n)
{
    if (n > SIZE_MAX - 64)
        return NULL;
    unsigned char *p = __real_arena_alloc(a, n + REDZONE);
    if (!p)
        return NULL;
    if (nguards == capguards) {
        size_t cap = capguards ? capguards * 2 : 64;
        guard *g = realloc(guards, cap * sizeof *g);
        FUZZ_CHECK(g, "out of memory");
        guards = g;
        capguards = cap;
    }
    guards[nguards++] = (guard){a, p + n};
    ASAN_POISON_MEMORY_REGION(p + n, REDZONE);
    return p;
}

void __wrap_arena_free(arena *a)
{
    size_t k = 0;
    for (size_t i = 0; i < nguards; i++) {
        if (guards[i].a == a)
            ASAN_UNPOISON_MEMORY_REGION(guards[i].p, REDZONE);
        else
            guards[k++] = guards[i];
    }
    nguards = k;
    __real_arena_free(a);
}
