/* jsonparse: the JSON parser of request bodies. It builds Jansson values and accepts exactly what
 * json_loadb(JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL) accepts (RFC 8259; an object or an array
 * at the top; strict UTF-8; no NUL in keys; integers that fit int64; finite reals), but reads a
 * string a run of plain bytes at a time, 8 bytes per step: Jansson's lexer handles every byte
 * through a function call and a growing buffer, which made it the largest cost of a 100-item batch
 * of 1 KiB secrets. Nesting deeper than Jansson's limit is refused too (no field of the contract
 * nests past 3). One difference: Jansson skips a raw NUL byte right after a number or a literal
 * ("[1\0]" reads as [1]: its lexer takes the byte it puts back for the end of its buffer); this
 * parser refuses every raw NUL byte outside a string, as RFC 8259 does, and inside one, as both do.
 *
 * The caller owns the value (json_decref). On failure nothing is left allocated. */
#ifndef ASSETD_JSONPARSE_H
#define ASSETD_JSONPARSE_H

#include <jansson.h>
#include <stddef.h>

#define JSONPARSE_MAX_DEPTH JSON_PARSER_MAX_DEPTH /* Jansson's own limit: 2048 */

typedef enum {
    JSONPARSE_OK,
    JSONPARSE_SYNTAX,        /* not JSON, or a value Jansson refuses too */
    JSONPARSE_DUPLICATE_KEY, /* an object repeats a key: key holds it */
    JSONPARSE_NO_MEMORY,
} jsonparse_status;

typedef struct {
    jsonparse_status status;
    size_t position; /* byte offset where the error was found */
    char key[64];    /* the repeated key (truncated, NUL-terminated), for DUPLICATE_KEY */
    size_t key_len;  /* its whole length */
} jsonparse_error;

/* The value text[0..len) holds, or NULL with err filled. */
json_t *jsonparse(const char *text, size_t len, jsonparse_error *err);

#endif
