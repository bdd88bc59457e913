#include "asset_req.h"

#include "b64.h"

#include <limits.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

static const char *const accessibility_names[] = {"DEVICE_POWERED_ON", "DEVICE_FIRST_UNLOCKED",
                                                  "DEVICE_UNLOCKED", NULL};
static const uint8_t accessibility_vals[] = {0, 1, 2};
static const char *const auth_type_names[] = {"NONE", "ANY", NULL};
static const uint8_t auth_type_vals[] = {AUTH_TYPE_NONE, AUTH_TYPE_ANY};
static const char *const sync_names[] = {"THIS_DEVICE", "TRUSTED_DEVICE", "TRUSTED_ACCOUNT", NULL};
static const uint8_t sync_vals[] = {SYNC_THIS_DEVICE, SYNC_TRUSTED_DEVICE, SYNC_TRUSTED_ACCOUNT};
static const char *const conflict_names[] = {"OVERWRITE", "THROW_ERROR", NULL};
static const char *const wrap_names[] = {"NEVER", "TRUSTED_ACCOUNT", NULL};
static const char *const return_names[] = {"ALL", "ATTRIBUTES", NULL};
static const uint8_t zero_one[] = {0, 1};
static const char *const label_names[] = {"dataLabelCritical1",
                                          "dataLabelCritical2",
                                          "dataLabelCritical3",
                                          "dataLabelCritical4",
                                          "dataLabelNormal1",
                                          "dataLabelNormal2",
                                          "dataLabelNormal3",
                                          "dataLabelNormal4",
                                          "dataLabelNormalLocal1",
                                          "dataLabelNormalLocal2",
                                          "dataLabelNormalLocal3",
                                          "dataLabelNormalLocal4",
                                          NULL};
static const uint8_t label_vals[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};

#define LABEL(i, name, tag) [F_LABEL0 + (i)] = {name, tag, KIND_TEXT, 1, ASSET_LABEL_MAX, 0, 0}

static const field_info fields[F_COUNT] = {
    [F_SECRET] = {"secret", 0x30000001, KIND_BYTES, 1, ASSET_SECRET_MAX, 0, 0},
    [F_ALIAS] = {"alias", 0x30000002, KIND_TEXT, 1, ASSET_ALIAS_MAX, 0, 0},
    [F_ACCESSIBILITY] = {"accessibility", 0x20000003, KIND_ENUM, 0, 0, accessibility_names,
                         accessibility_vals},
    [F_REQUIRE_PASSWORD_SET] = {"requirePasswordSet", 0x10000004, KIND_BOOL, 0, 0, 0, 0},
    [F_AUTH_TYPE] = {"authType", 0x20000005, KIND_ENUM, 0, 0, auth_type_names, auth_type_vals},
    [F_AUTH_VALIDITY_PERIOD] = {"authValidityPeriod", 0x20000006, KIND_INT, 1, 600, 0, 0},
    [F_SYNC_TYPE] = {"syncType", 0x20000010, KIND_SYNC, 0, 0, sync_names, sync_vals},
    [F_IS_PERSISTENT] = {"isPersistent", 0x10000011, KIND_BOOL, 0, 0, 0, 0},
    LABEL(0, "dataLabelCritical1", 0x30000020),
    LABEL(1, "dataLabelCritical2", 0x30000021),
    LABEL(2, "dataLabelCritical3", 0x30000022),
    LABEL(3, "dataLabelCritical4", 0x30000023),
    LABEL(4, "dataLabelNormal1", 0x30000030),
    LABEL(5, "dataLabelNormal2", 0x30000031),
    LABEL(6, "dataLabelNormal3", 0x30000032),
    LABEL(7, "dataLabelNormal4", 0x30000033),
    LABEL(8, "dataLabelNormalLocal1", 0x30000034),
    LABEL(9, "dataLabelNormalLocal2", 0x30000035),
    LABEL(10, "dataLabelNormalLocal3", 0x30000036),
    LABEL(11, "dataLabelNormalLocal4", 0x30000037),
    [F_CONFLICT_RESOLUTION] = {"conflictResolution", 0x20000044, KIND_ENUM, 0, 0, conflict_names,
                               zero_one},
    [F_REQUIRE_ATTR_ENCRYPTED] = {"requireAttrEncrypted", 0x10000047, KIND_BOOL, 0, 0, 0, 0},
    [F_GROUP_ID] = {"groupId", 0x30000048, KIND_TEXT, ASSET_GROUP_MIN, ASSET_GROUP_MAX, 0, 0},
    [F_WRAP_TYPE] = {"wrapType", 0x20000049, KIND_ENUM, 0, 0, wrap_names, zero_one},
    [F_RETURN_TYPE] = {"returnType", 0x20000040, KIND_ENUM, 0, 0, return_names, zero_one},
    [F_LIMIT] = {"limit", 0, KIND_INT, 1, ASSET_LIMIT_MAX, 0, 0},
    [F_OFFSET] = {"offset", 0, KIND_INT, 0, INT_MAX, 0, 0},
    [F_ORDER_BY] = {"orderBy", 0, KIND_ENUM, 0, 0, label_names, label_vals},
    [F_CURSOR] = {"cursor", 0, KIND_TEXT, 1, 4096, 0, 0},
    [F_AUTH_CHALLENGE] = {"authChallenge", 0x30000007, KIND_BYTES, ASSET_CHALLENGE_LEN,
                          ASSET_CHALLENGE_LEN, 0, 0},
    [F_AUTH_TOKEN] = {"authToken", 0x30000008, KIND_BYTES, 1, ASSET_AUTH_TOKEN_MAX, 0, 0},
};

/* Fields that filter (spec §3 "query filter: yes"), and the two that only select a store. */
#define FILTERS                                                                                    \
    (FBIT(F_ALIAS) | FBIT(F_ACCESSIBILITY) | FBIT(F_REQUIRE_PASSWORD_SET) | FBIT(F_AUTH_TYPE) |    \
     FBIT(F_SYNC_TYPE) | FBIT(F_IS_PERSISTENT) | FBITS_LABELS | FBIT(F_REQUIRE_ATTR_ENCRYPTED) |   \
     FBIT(F_GROUP_ID) | FBIT(F_WRAP_TYPE))
#define SELECTORS (FBIT(F_GROUP_ID) | FBIT(F_REQUIRE_ATTR_ENCRYPTED))
/* What an update may match on besides alias and selectors (§4 PATCH, the Kit's update(query)):
 * the asset's other query filters. */
#define MATCHES (FILTERS & ~(SELECTORS | FBIT(F_ALIAS)))

static const uint64_t op_fields[OP_COUNT] = {
    [OP_ADD] = FBIT(F_SECRET) | FBIT(F_ALIAS) | FBIT(F_ACCESSIBILITY) |
               FBIT(F_REQUIRE_PASSWORD_SET) | FBIT(F_AUTH_TYPE) | FBIT(F_SYNC_TYPE) |
               FBIT(F_IS_PERSISTENT) | FBITS_LABELS | FBIT(F_CONFLICT_RESOLUTION) |
               FBIT(F_REQUIRE_ATTR_ENCRYPTED) | FBIT(F_GROUP_ID) | FBIT(F_WRAP_TYPE),
    [OP_QUERY] = FILTERS | FBIT(F_RETURN_TYPE) | FBIT(F_LIMIT) | FBIT(F_OFFSET) | FBIT(F_ORDER_BY) |
                 FBIT(F_CURSOR),
    [OP_GET_ONE] = SELECTORS | FBIT(F_RETURN_TYPE),
    [OP_UPDATE_SEL] = SELECTORS | MATCHES,
    [OP_UPDATE] = FBIT(F_SECRET) | FBITS_NORMAL_LABELS,
    [OP_REMOVE] = FILTERS,
    [OP_REMOVE_ONE] = SELECTORS,
    [OP_PRE_QUERY] = FILTERS | FBIT(F_AUTH_VALIDITY_PERIOD),
    [OP_AUTH_QUERY] = FILTERS | FBIT(F_RETURN_TYPE) | FBIT(F_AUTH_CHALLENGE) | FBIT(F_AUTH_TOKEN),
    [OP_POST_QUERY] = FBIT(F_AUTH_CHALLENGE) | FBIT(F_GROUP_ID),
    [OP_UPDATE_MATCH] = MATCHES,
};

const field_info *asset_field_info(asset_field f)
{
    return (unsigned)f < F_COUNT ? &fields[f] : NULL;
}

int asset_field_by_name(const char *name, size_t len)
{
    for (int f = 0; f < F_COUNT; f++)
        if (strlen(fields[f].name) == len && memcmp(fields[f].name, name, len) == 0)
            return f;
    return -1;
}

uint64_t asset_op_fields(asset_op op)
{
    return (unsigned)op < OP_COUNT ? op_fields[op] : 0;
}

void asset_req_init(asset_req *r)
{
    memset(r, 0, sizeof *r);
    r->order_by = -1;
}

void asset_req_clear(asset_req *r)
{
    if (r->secret) {
        sodium_memzero(r->secret, r->secret_len);
        free(r->secret);
    }
    if (r->auth_token) {
        sodium_memzero(r->auth_token, r->auth_token_len);
        free(r->auth_token);
    }
    sodium_memzero(r->challenge, sizeof r->challenge);
    asset_req_init(r);
}

bool text_valid_utf8(const char *p, size_t n)
{
    const unsigned char *s = (const unsigned char *)p;
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c == 0)
            return false;
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        unsigned min;
        unsigned cp;
        if ((c & 0xe0) == 0xc0) {
            len = 2, min = 0x80, cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3, min = 0x800, cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4, min = 0x10000, cp = c & 0x07;
        } else {
            return false;
        }
        if (n - i < len)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += len;
    }
    return true;
}

/* Common guard of every setter: field known to the table and not given before. */
static asset_err begin_set(const asset_req *r, asset_field f, field_kind kind, const char **why)
{
    if ((unsigned)f >= F_COUNT || fields[f].kind != kind) {
        *why = "has the wrong type";
        return ASSET_INVALID_ARGUMENT;
    }
    if ((r->has & FBIT(f)) && kind != KIND_SYNC) {
        *why = "is given more than once";
        return ASSET_INVALID_ARGUMENT;
    }
    return ASSET_OK;
}

static asset_err set_bytes(asset_req *r, asset_field f, const char *p, size_t n, const char **why)
{
    const field_info *fi = &fields[f];
    size_t cap = B64_DECODED_MAX(n) + 1;
    unsigned char *buf = malloc(cap);
    size_t len = 0;
    if (!buf)
        return ASSET_OUT_OF_MEMORY;
    if (b64_decode(buf, cap, &len, p, n) != 0) {
        sodium_memzero(buf, cap);
        free(buf);
        *why = "is not valid base64";
        return ASSET_INVALID_ARGUMENT;
    }
    if ((long)len < fi->min || (long)len > fi->max) {
        sodium_memzero(buf, cap);
        free(buf);
        *why = fi->min == fi->max ? "does not decode to the required number of bytes"
                                  : "decodes to a length out of range";
        return ASSET_INVALID_ARGUMENT;
    }
    if (f == F_SECRET) {
        r->secret = buf;
        r->secret_len = len;
    } else if (f == F_AUTH_TOKEN) {
        r->auth_token = buf;
        r->auth_token_len = len;
    } else {
        memcpy(r->challenge, buf, ASSET_CHALLENGE_LEN);
        sodium_memzero(buf, cap);
        free(buf);
    }
    return ASSET_OK;
}

asset_err asset_req_set_text(asset_req *r, asset_field f, const char *p, size_t n, const char **why)
{
    if ((unsigned)f < F_COUNT && fields[f].kind == KIND_BYTES) {
        asset_err e = begin_set(r, f, KIND_BYTES, why);
        if (e == ASSET_OK)
            e = set_bytes(r, f, p, n, why);
        if (e == ASSET_OK)
            r->has |= FBIT(f);
        return e;
    }
    asset_err e = begin_set(r, f, KIND_TEXT, why);
    if (e != ASSET_OK)
        return e;
    if ((long)n < fields[f].min || (long)n > fields[f].max) {
        *why = "has a length (in bytes) out of range";
        return ASSET_INVALID_ARGUMENT;
    }
    if (!text_valid_utf8(p, n)) {
        *why = "is not UTF-8 text without U+0000";
        return ASSET_INVALID_ARGUMENT;
    }
    asset_text t = {p, n};
    if (f == F_ALIAS)
        r->alias = t;
    else if (f == F_GROUP_ID)
        r->group = t;
    else if (f == F_CURSOR)
        r->cursor = t;
    else
        r->labels[f - F_LABEL0] = t;
    r->has |= FBIT(f);
    return ASSET_OK;
}

asset_err asset_req_set_bool(asset_req *r, asset_field f, bool v, const char **why)
{
    asset_err e = begin_set(r, f, KIND_BOOL, why);
    if (e != ASSET_OK)
        return e;
    if (f == F_REQUIRE_PASSWORD_SET)
        r->require_password_set = v;
    else if (f == F_IS_PERSISTENT)
        r->is_persistent = v;
    else
        r->attr_enc = v;
    r->has |= FBIT(f);
    return ASSET_OK;
}

asset_err asset_req_set_int(asset_req *r, asset_field f, long long v, const char **why)
{
    asset_err e = begin_set(r, f, KIND_INT, why);
    if (e != ASSET_OK)
        return e;
    if (v < fields[f].min || v > fields[f].max) {
        *why = "is out of range";
        return ASSET_INVALID_ARGUMENT;
    }
    if (f == F_AUTH_VALIDITY_PERIOD)
        r->auth_validity = (long)v;
    else if (f == F_LIMIT)
        r->limit = (long)v;
    else
        r->offset = (long)v;
    r->has |= FBIT(f);
    return ASSET_OK;
}

asset_err asset_req_set_name(asset_req *r, asset_field f, const char *p, size_t n, const char **why)
{
    field_kind kind = (unsigned)f < F_COUNT && fields[f].kind == KIND_SYNC ? KIND_SYNC : KIND_ENUM;
    asset_err e = begin_set(r, f, kind, why);
    if (e != ASSET_OK)
        return e;
    const field_info *fi = &fields[f];
    int idx = -1;
    for (int i = 0; fi->enums[i]; i++)
        if (strlen(fi->enums[i]) == n && memcmp(fi->enums[i], p, n) == 0)
            idx = i;
    if (idx < 0) {
        *why = "is not one of the allowed values";
        return ASSET_INVALID_ARGUMENT;
    }
    uint8_t v = fi->enum_vals[idx];
    switch (f) {
    case F_ACCESSIBILITY:
        r->accessibility = v;
        break;
    case F_AUTH_TYPE:
        r->auth_type = v;
        break;
    case F_SYNC_TYPE:
        if (r->sync_type & v) {
            *why = "repeats a value";
            return ASSET_INVALID_ARGUMENT;
        }
        r->sync_type |= v;
        break;
    case F_CONFLICT_RESOLUTION:
        r->conflict = v;
        break;
    case F_WRAP_TYPE:
        r->wrap_type = v;
        break;
    case F_RETURN_TYPE:
        r->return_type = v;
        break;
    default: /* F_ORDER_BY */
        r->order_by = v;
        break;
    }
    r->has |= FBIT(f);
    return ASSET_OK;
}

void asset_req_mark(asset_req *r, asset_field f)
{
    r->has |= FBIT(f);
}

const char *asset_enum_name(asset_field f, unsigned v)
{
    const field_info *fi = asset_field_info(f);
    if (!fi || !fi->enums)
        return NULL;
    for (int i = 0; fi->enums[i]; i++)
        if (fi->enum_vals[i] == v)
            return fi->enums[i];
    return NULL;
}

#define FAIL(code, fld, text)                                                                      \
    do {                                                                                           \
        *field = (fld);                                                                            \
        *why = (text);                                                                             \
        return (code);                                                                             \
    } while (0)

static asset_err finish_add(asset_req *r, const char **field, const char **why)
{
    if (!(r->has & FBIT(F_SECRET)))
        FAIL(ASSET_INVALID_ARGUMENT, "secret", "is required");
    if (!(r->has & FBIT(F_ALIAS)))
        FAIL(ASSET_INVALID_ARGUMENT, "alias", "is required");
    if (!(r->has & FBIT(F_ACCESSIBILITY)))
        r->accessibility = ACCESSIBILITY_DEVICE_FIRST_UNLOCKED;
    if (!(r->has & FBIT(F_CONFLICT_RESOLUTION)))
        r->conflict = CONFLICT_THROW_ERROR;
    /* The Kit's argument check, so before any permission or group check. */
    if (r->is_persistent && (r->has & FBIT(F_GROUP_ID)))
        FAIL(ASSET_INVALID_ARGUMENT, "isPersistent", "cannot be true for a group's asset");
    if ((r->has & FBIT(F_GROUP_ID)) && (r->sync_type & SYNC_TRUSTED_ACCOUNT))
        FAIL(ASSET_UNSUPPORTED, "syncType", "TRUSTED_ACCOUNT is not allowed with groupId");
    if (r->wrap_type == WRAP_TRUSTED_ACCOUNT && (r->sync_type & SYNC_TRUSTED_ACCOUNT))
        FAIL(ASSET_UNSUPPORTED, "wrapType",
             "TRUSTED_ACCOUNT is not allowed with syncType "
             "TRUSTED_ACCOUNT");
    return ASSET_OK;
}

asset_err asset_req_finish(asset_req *r, asset_op op, const char **field, const char **why)
{
    *field = NULL;
    *why = NULL;
    if (!(r->has & FBIT(F_RETURN_TYPE)))
        r->return_type = op == OP_AUTH_QUERY ? RETURN_ALL : RETURN_ATTRIBUTES;
    if (!(r->has & FBIT(F_LIMIT)))
        r->limit = ASSET_LIMIT_DEFAULT;
    if (!(r->has & FBIT(F_AUTH_VALIDITY_PERIOD)))
        r->auth_validity = 60;
    switch (op) {
    case OP_ADD:
        return finish_add(r, field, why);
    case OP_QUERY:
        if ((r->has & FBIT(F_CURSOR)) && (r->has & FBIT(F_OFFSET)))
            FAIL(ASSET_PARAM_VERIFICATION_FAILED, "cursor", "cannot be combined with offset");
        if (r->order_by >= 0 && r->attr_enc)
            FAIL(ASSET_UNSUPPORTED, "orderBy", "encrypted labels cannot be ordered by");
        /* fall through */
    case OP_GET_ONE:
        if (r->return_type == RETURN_ALL && !(r->has & FBIT(F_ALIAS)) && op == OP_QUERY)
            FAIL(ASSET_UNSUPPORTED, "returnType", "ALL needs the alias filter");
        return ASSET_OK;
    case OP_UPDATE:
        if (!r->has)
            FAIL(ASSET_INVALID_ARGUMENT, NULL, "an update must set at least one field");
        return ASSET_OK;
    case OP_REMOVE:
        if (!(r->has & ~SELECTORS))
            FAIL(ASSET_INVALID_ARGUMENT, NULL,
                 "remove needs at least one filter besides groupId and requireAttrEncrypted");
        return ASSET_OK;
    case OP_PRE_QUERY:
        if ((r->has & FBIT(F_AUTH_TYPE)) && r->auth_type != AUTH_TYPE_ANY)
            FAIL(ASSET_INVALID_ARGUMENT, "authType", "pre-query matches only authType ANY");
        return ASSET_OK;
    case OP_AUTH_QUERY:
        if (!(r->has & FBIT(F_ALIAS)))
            FAIL(ASSET_INVALID_ARGUMENT, "alias", "is required");
        if (!(r->has & FBIT(F_AUTH_CHALLENGE)))
            FAIL(ASSET_INVALID_ARGUMENT, "authChallenge", "is required");
        if (!(r->has & FBIT(F_AUTH_TOKEN)))
            FAIL(ASSET_INVALID_ARGUMENT, "authToken", "is required");
        return ASSET_OK;
    case OP_POST_QUERY:
        if (!(r->has & FBIT(F_AUTH_CHALLENGE)))
            FAIL(ASSET_INVALID_ARGUMENT, "authChallenge", "is required");
        return ASSET_OK;
    default:
        return ASSET_OK;
    }
}
