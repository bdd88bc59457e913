/* asset_req: the asset model of spec §3 — the field table (names, tags, kinds, ranges), one request
 * record that any operation fills field by field, and the per-operation rules for which fields
 * it takes. Validation of every value happens here, before anything is looked up.
 *
 * Memory: an asset_req borrows text (alias, labels, group) from the caller, who keeps it alive
 * while the request lives; the secret and challenge bytes are copied into the request and wiped
 * by asset_req_clear(). */
#ifndef ASSETD_ASSET_H
#define ASSETD_ASSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "rules.h"

#define ASSET_SECRET_MAX 1024
#define ASSET_ALIAS_MAX 256
#define ASSET_LABEL_MAX 2048
#define ASSET_GROUP_MIN 7
#define ASSET_GROUP_MAX 127
#define ASSET_LABELS 12 /* critical 1..4, normal 1..4, normal local 1..4 */
#define ASSET_LIMIT_MAX 1000
#define ASSET_LIMIT_DEFAULT 100
#define ASSET_CHALLENGE_LEN 32
#define ASSET_AUTH_TOKEN_MAX 1024

/* syncType bits. Plain literals, so that SQL can spell them too (SQL_SYNC_* below):
 * "(sync_type & " SQL_SYNC_SYNCABLE ") <> 0". */
#define SYNC_THIS_DEVICE 1
#define SYNC_TRUSTED_DEVICE 2
#define SYNC_TRUSTED_ACCOUNT 4
/* The bits a backup carries: an asset with one of them is syncable. */
#define SYNC_SYNCABLE 3
_Static_assert(SYNC_SYNCABLE == (SYNC_THIS_DEVICE | SYNC_TRUSTED_DEVICE), "syncable bits");

/* Who owns an asset (assets.owner_kind, and every table that copies it): the calling app, or the
 * group named by groupId. Plain literals, for SQL too (SQL_OWNER_*). */
#define OWNER_APP 0
#define OWNER_GROUP 1

/* The same constants as SQL text, to splice into statements or pass as parameters. */
#define SQL_INT_(x) #x
#define SQL_INT(x) SQL_INT_(x)
#define SQL_OWNER_APP SQL_INT(OWNER_APP)
#define SQL_OWNER_GROUP SQL_INT(OWNER_GROUP)
#define SQL_SYNC_THIS_DEVICE SQL_INT(SYNC_THIS_DEVICE)
#define SQL_SYNC_TRUSTED_DEVICE SQL_INT(SYNC_TRUSTED_DEVICE)
#define SQL_SYNC_TRUSTED_ACCOUNT SQL_INT(SYNC_TRUSTED_ACCOUNT)
#define SQL_SYNC_SYNCABLE SQL_INT(SYNC_SYNCABLE)

enum { WRAP_NEVER = 0, WRAP_TRUSTED_ACCOUNT = 1 };
enum { CONFLICT_OVERWRITE = 0, CONFLICT_THROW_ERROR = 1 };
enum { RETURN_ALL = 0, RETURN_ATTRIBUTES = 1 };

/* Label slots: LABEL_CRITICAL + i, LABEL_NORMAL + i, LABEL_LOCAL + i for i in 0..3. */
enum { LABEL_CRITICAL = 0, LABEL_NORMAL = 4, LABEL_LOCAL = 8 };

typedef enum {
    F_SECRET,
    F_ALIAS,
    F_ACCESSIBILITY,
    F_REQUIRE_PASSWORD_SET,
    F_AUTH_TYPE,
    F_AUTH_VALIDITY_PERIOD,
    F_SYNC_TYPE,
    F_IS_PERSISTENT,
    F_LABEL0, /* F_LABEL0 + slot, 12 of them */
    F_CONFLICT_RESOLUTION = F_LABEL0 + ASSET_LABELS,
    F_REQUIRE_ATTR_ENCRYPTED,
    F_GROUP_ID,
    F_WRAP_TYPE,
    F_RETURN_TYPE,
    F_LIMIT,
    F_OFFSET,
    F_ORDER_BY,
    F_CURSOR,
    F_AUTH_CHALLENGE,
    F_AUTH_TOKEN,
    F_COUNT
} asset_field;

#define FBIT(f) (UINT64_C(1) << (f))
#define FBITS_LABELS (((UINT64_C(1) << ASSET_LABELS) - 1) << F_LABEL0)
#define FBITS_NORMAL_LABELS (((UINT64_C(1) << 8) - 1) << (F_LABEL0 + LABEL_NORMAL))

typedef enum {
    KIND_BYTES, /* base64 text decoding to bytes */
    KIND_TEXT,  /* UTF-8 without U+0000, length in bytes */
    KIND_BOOL,
    KIND_ENUM,
    KIND_SYNC, /* set of sync bits */
    KIND_INT,
} field_kind;

typedef struct {
    const char *name; /* lowerCamelCase JSON/query name */
    uint32_t tag;     /* Asset Store Kit tag, 0 for assetd-only parameters */
    field_kind kind;
    long min, max;            /* lengths in bytes, or integer range */
    const char *const *enums; /* KIND_ENUM: names, NULL-terminated */
    const uint8_t *enum_vals; /* KIND_ENUM: value of each name */
} field_info;

typedef struct {
    const char *p;
    size_t n;
} asset_text;

/* Fields to filter on (query, remove, pre-query) or to store (add). */
typedef struct {
    uint64_t has; /* FBIT(field) for each field given */
    asset_text alias;
    asset_text group;
    asset_text labels[ASSET_LABELS]; /* p == NULL: absent */
    uint8_t accessibility, auth_type, sync_type, wrap_type, conflict, return_type;
    bool require_password_set, is_persistent, attr_enc;
    long auth_validity, limit, offset;
    int order_by; /* label slot, or -1 */
    asset_text cursor;
    unsigned char *secret; /* owned, wiped on clear */
    size_t secret_len;
    unsigned char challenge[ASSET_CHALLENGE_LEN];
    unsigned char *auth_token; /* owned */
    size_t auth_token_len;
} asset_req;

/* Operations, each with the set of fields it takes (anything else is INVALID_ARGUMENT). */
typedef enum {
    OP_ADD,
    OP_QUERY,      /* GET /assets */
    OP_GET_ONE,    /* GET /assets/{alias}: selectors + returnType */
    OP_UPDATE_SEL, /* PATCH /assets/{alias} query string: selectors + extra match conditions */
    OP_UPDATE,     /* PATCH body */
    OP_REMOVE,     /* DELETE /assets?filters */
    OP_REMOVE_ONE, /* DELETE /assets/{alias} */
    OP_PRE_QUERY,
    OP_AUTH_QUERY, /* POST /assets/query */
    OP_POST_QUERY,
    OP_UPDATE_MATCH, /* a batch-update item's "match": PATCH's extra match conditions */
    OP_COUNT
} asset_op;

const field_info *asset_field_info(asset_field f);
/* Look a field up by its JSON/query name; -1 if there is none. */
int asset_field_by_name(const char *name, size_t len);
/* The fields op accepts. */
uint64_t asset_op_fields(asset_op op);

void asset_req_init(asset_req *r);
/* Wipes and frees what the request owns; safe on an initialised or cleared request. */
void asset_req_clear(asset_req *r);

/* Setters: each validates the value for field f and records it. On failure (INVALID_ARGUMENT:
 * wrong kind, range, length, UTF-8, base64, a field given twice) the request is unchanged.
 * *why receives a static description for the problem detail. */
WUR asset_err asset_req_set_text(asset_req *r, asset_field f, const char *p, size_t n,
                                 const char **why);
WUR asset_err asset_req_set_bool(asset_req *r, asset_field f, bool v, const char **why);
WUR asset_err asset_req_set_int(asset_req *r, asset_field f, long long v, const char **why);
/* Enum by name; for KIND_SYNC one element of the set (repeats are refused). */
WUR asset_err asset_req_set_name(asset_req *r, asset_field f, const char *p, size_t n,
                                 const char **why);
/* For KIND_SYNC: mark the field given (an empty array is NEVER). */
void asset_req_mark(asset_req *r, asset_field f);

/* Checks across fields for op after all fields are set: required fields, defaults filled in,
 * UNSUPPORTED combinations. On failure *field names the offending field (or NULL). */
WUR asset_err asset_req_finish(asset_req *r, asset_op op, const char **field, const char **why);

/* Name of an enum value of field f, for output. */
const char *asset_enum_name(asset_field f, unsigned v);

/* UTF-8 without U+0000 (and without overlongs and surrogates). */
bool text_valid_utf8(const char *p, size_t n);

#endif
