/* fuzz_common: what the libFuzzer targets of tests/fuzz share — one-time process set-up like
 * cmd/main.c's, invariant checks on validated requests, and reference implementations (a strict
 * UTF-8 validator and a percent-decoder written independently of the service's) to compare the
 * code under test against.
 *
 * Every check aborts with a message on violation, so libFuzzer records the input as a crash. */
#ifndef ASSETD_FUZZ_COMMON_H
#define ASSETD_FUZZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../api/http.h"
#include "../../api/jsonmap.h"
#include "../../service/arena.h"
#include "../../service/asset_req.h"

#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fuzz_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);                                     \
    } while (0)

__attribute__((noreturn, format(printf, 4, 5))) void
fuzz_fail(const char *file, int line, const char *cond, const char *fmt, ...);

/* sodium_init() and the wipe-on-free Jansson allocator, as cmd/main.c installs them. */
void fuzz_init(void);

const char *fuzz_op_name(asset_op op);

/* Strict UTF-8 (RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF) without U+0000. */
bool fuzz_ref_utf8(const unsigned char *p, size_t n);

/* Percent-decoding as RFC 3986 has it; '+' -> ' ' when plus_is_space. Writes at most n bytes to
 * out and returns the decoded length, or -1 on a '%' not followed by two hex digits. */
long fuzz_ref_pct_decode(const char *p, size_t n, bool plus_is_space, char *out);

/* http_pct_decode on p[0..n), checked against the reference decoder (result, bytes, length,
 * NUL terminator). Returns its result. */
int fuzz_pct_decode(arena *a, const char *p, size_t n, bool plus_is_space, const char **out,
                    size_t *out_len);

/* Invariants of a request that jsonmap and asset_req_finish accepted for op. */
void fuzz_check_req_ok(const asset_req *r, asset_op op);
/* A failure must come with a reason. */
void fuzz_check_failure(asset_err e, const char *why, const char *what, asset_op op);

/* Arena guard: the fuzz targets are linked with -Wl,--wrap=arena_alloc,--wrap=arena_free, so
 * every arena allocation made by the code under test is followed by an ASan-poisoned red zone
 * and a write past what was asked for is reported at once (the real arena hands out chunks of
 * 1 to 8 KiB, in which such a write would otherwise go unnoticed). */
void *__real_arena_alloc(arena *a, size_t n);
void __real_arena_free(arena *a);

#endif
