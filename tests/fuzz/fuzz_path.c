/* fuzz_path: a raw path segment, as api/h_common.c handler_path_param_or_reply decodes it, taken as
 * the alias of /assets/{alias}.
 *
 * The segment is a C string (it ends at the first NUL). http_pct_decode without '+' as space,
 * checked against a reference decoder (the decoded length never exceeds the input's, and the
 * arena red zones of fuzz_common make ASan report any write past the buffer); then
 * asset_req_set_text(F_ALIAS), which must accept exactly the decoded values that are valid
 * UTF-8 without NUL of 1..256 bytes and leave the request untouched otherwise. text_valid_utf8
 * is also compared with a reference validator on the raw and the decoded bytes. */
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

static void check_utf8(const char *p, size_t n, const char *what)
{
    bool got = text_valid_utf8(p, n);
    bool want = fuzz_ref_utf8((const unsigned char *)p, n);
    FUZZ_CHECK(got == want, "text_valid_utf8 says %s for the %s bytes, the reference %s",
               got ? "valid" : "invalid", what, want ? "valid" : "invalid");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Any byte string, as text: the validator must agree with the reference on it. */
    check_utf8((const char *)data, size, "raw");

    const char *s = (const char *)data;
    const char *nul = memchr(s, 0, size);
    size_t n = nul ? (size_t)(nul - s) : size;
    arena mem = {0};
    const char *dec = NULL;
    size_t dlen = 0;
    if (fuzz_pct_decode(&mem, s, n, false, &dec, &dlen) == 0) {
        FUZZ_CHECK(dlen <= n, "decoded %zu bytes from %zu", dlen, n);
        check_utf8(dec, dlen, "decoded");
        bool valid =
            dlen >= 1 && dlen <= ASSET_ALIAS_MAX && fuzz_ref_utf8((const unsigned char *)dec, dlen);

        asset_req r;
        const char *why = NULL;
        asset_req_init(&r);
        asset_err e = asset_req_set_text(&r, F_ALIAS, dec, dlen, &why);
        if (e == ASSET_OK) {
            FUZZ_CHECK(valid,
                       "alias of %zu bytes accepted but it is not 1..%d bytes of UTF-8 "
                       "without NUL",
                       dlen, ASSET_ALIAS_MAX);
            FUZZ_CHECK(r.has == FBIT(F_ALIAS), "has %#llx after setting the alias",
                       (unsigned long long)r.has);
            FUZZ_CHECK(r.alias.p == dec && r.alias.n == dlen, "alias not borrowed as given");
            FUZZ_CHECK(memchr(r.alias.p, 0, r.alias.n) == NULL, "alias contains NUL");
            FUZZ_CHECK(text_valid_utf8(r.alias.p, r.alias.n), "alias is not valid UTF-8");
            /* A second alias is refused and changes nothing. */
            e = asset_req_set_text(&r, F_ALIAS, "x", 1, &why);
            FUZZ_CHECK(e == ASSET_INVALID_ARGUMENT && r.alias.p == dec,
                       "a second alias was not refused cleanly");
        } else {
            FUZZ_CHECK(!valid, "valid alias of %zu bytes refused (%s)", dlen,
                       why ? why : "no reason");
            FUZZ_CHECK(e == ASSET_INVALID_ARGUMENT, "alias refused with error %d", (int)e);
            FUZZ_CHECK(why && why[0], "alias refused without a reason");
            FUZZ_CHECK(r.has == 0 && r.alias.p == NULL && r.alias.n == 0,
                       "a refused alias changed the request");
        }
        asset_req_clear(&r);
    }
    arena_free(&mem);
    return 0;
}
