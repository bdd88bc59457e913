/* fuzz_query: a raw query string "k=v&k2=v2...", as api/server.c collects it.
 *
 * Split the way libmicrohttpd's MHD_parse_arguments_ does (on '&', then the first '='; a key
 * without '=' has no value; an empty piece in the middle is an empty key; the string is a C
 * string, so it ends at the first NUL), at most REQ_ARGS_MAX arguments, each key and value
 * percent-decoded by http_pct_decode with '+' as space (checked against a reference decoder).
 * Then jsonmap_req_from_args + asset_req_finish for each query-string operation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_init();
    return 0;
}

static const asset_op query_ops[] = {OP_QUERY, OP_REMOVE, OP_GET_ONE, OP_UPDATE_SEL};

/* Decode every argument into args; false when the server would answer "malformed" (a bad
 * escape or too many arguments). */
static bool collect(arena *a, const char *s, size_t n, http_arg *args, int *nargs)
{
    size_t i = 0;
    *nargs = 0;
    while (i < n) {
        const char *piece = s + i;
        const char *amp = memchr(piece, '&', n - i);
        size_t plen = amp ? (size_t)(amp - piece) : n - i;
        const char *eq = memchr(piece, '=', plen);
        size_t klen = eq ? (size_t)(eq - piece) : plen;
        const char *val = eq ? eq + 1 : "";
        size_t vlen = eq ? plen - klen - 1 : 0;
        if (*nargs == REQ_ARGS_MAX)
            return false;
        http_arg *g = &args[*nargs];
        if (fuzz_pct_decode(a, piece, klen, true, &g->key, &g->key_len) != 0 ||
            fuzz_pct_decode(a, val, vlen, true, &g->val, &g->val_len) != 0)
            return false;
        (*nargs)++;
        i += plen + (amp ? 1 : 0);
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    const char *nul = memchr(s, 0, size);
    size_t n = nul ? (size_t)(nul - s) : size;
    http_arg args[REQ_ARGS_MAX];
    int nargs = 0;
    arena mem = {0};

    if (collect(&mem, s, n, args, &nargs)) {
        for (size_t k = 0; k < sizeof query_ops / sizeof query_ops[0]; k++) {
            asset_op op = query_ops[k];
            asset_req r;
            const char *field = NULL, *why = NULL;
            asset_req_init(&r);
            asset_err e = jsonmap_req_from_args(&r, op, args, nargs, &field, &why);
            if (e != ASSET_OK) {
                fuzz_check_failure(e, why, "jsonmap_req_from_args", op);
                FUZZ_CHECK(field != NULL, "%s: argument failure names no argument",
                           fuzz_op_name(op));
            } else {
                FUZZ_CHECK(field == NULL, "%s: success names argument %s", fuzz_op_name(op), field);
                why = NULL;
                e = asset_req_finish(&r, op, &field, &why);
                if (e != ASSET_OK) {
                    fuzz_check_failure(e, why, "asset_req_finish", op);
                } else {
                    fuzz_check_req_ok(&r, op);
                    /* Query strings cannot carry the body-only fields. */
                    FUZZ_CHECK(!r.secret && !r.auth_token, "%s: bytes from a query string",
                               fuzz_op_name(op));
                }
            }
            asset_req_clear(&r);
        }
    }
    arena_free(&mem);
    return 0;
}
