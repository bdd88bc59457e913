/* openapi_doc: the contract this binary was built with. openapi.yaml is embedded at build time
 * (.incbin, resolved from the directory the compiler runs in: the repository root, where the
 * Makefiles run; both Makefiles make this object depend on openapi.yaml) and served by
 * GET /openapi.yaml, so a client can generate an SDK from a running server. Read-only data;
 * nothing to free. */
#include <string.h>

#include "handlers.h"

__asm__(".section .rodata\n"
        ".balign 16\n"
        ".globl assetd_openapi_start, assetd_openapi_end\n"
        ".hidden assetd_openapi_start, assetd_openapi_end\n"
        "assetd_openapi_start:\n"
        ".incbin \"openapi.yaml\"\n"
        "assetd_openapi_end:\n"
        ".byte 0\n"
        ".previous\n");

/* Hidden: position-independent code reaches them directly, and nothing outside links to them. */
extern const char assetd_openapi_start[] __attribute__((visibility("hidden")));
extern const char assetd_openapi_end[] __attribute__((visibility("hidden")));

void h_openapi(http_req *rq, const char *a, const char *b)
{
    (void)a;
    (void)b;
    size_t len = (size_t)(assetd_openapi_end - assetd_openapi_start);
    /* A copy: responses are handed to libmicrohttpd in a buffer it frees. */
    char *copy = http_secure_malloc(len);
    if (!copy) {
        http_problem(rq, ASSET_OUT_OF_MEMORY, NULL, NULL);
        return;
    }
    memcpy(copy, assetd_openapi_start, len);
    http_text(rq, 200, "application/yaml", copy, len);
}
