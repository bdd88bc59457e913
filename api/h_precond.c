/* Conditional requests of spec §13: parsing If-Match (RFC 9110 entity-tag lists, strong
 * comparison) and If-None-Match on POST /assets, and the ETag of an answered asset. */
#include <stdio.h>
#include <string.h>

#include "handlers.h"

static const char *skip_ows(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* One entity-tag at *pp: weak or not, and its opaque text [*start, *end). -1 if malformed. */
static int entity_tag(const char **pp, bool *weak, const char **start, const char **end)
{
    const char *p = *pp;
    *weak = p[0] == 'W' && p[1] == '/';
    if (*weak)
        p += 2;
    if (*p != '"')
        return -1;
    *start = ++p;
    while (*p && *p != '"') {
        unsigned char c = (unsigned char)*p;
        if (c < 0x21 || c == 0x7f)
            return -1;
        p++;
    }
    if (*p != '"')
        return -1;
    *end = p++;
    *pp = p;
    return 0;
}

/* A strong tag of ours is a decimal version: its value, or -1 (it matches nothing). */
static int64_t tag_version(const char *s, const char *e)
{
    int64_t v = 0;
    if (e - s < 1 || e - s > 18)
        return -1;
    for (const char *p = s; p < e; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (*p - '0');
    }
    return v;
}

static int bad_if_match(http_req *rq, const char *why)
{
    http_problem(rq, ASSET_INVALID_ARGUMENT, "If-Match", why);
    return -1;
}

int handler_if_match_or_reply(http_req *rq, asset_precond *pre)
{
    memset(pre, 0, sizeof *pre);
    if (!rq->if_match)
        return 0;
    pre->present = true;
    const char *p = skip_ows(rq->if_match);
    if (*p == '*') {
        pre->any = true;
        return *skip_ows(p + 1) ? bad_if_match(rq, "is \"*\" or a list of entity tags") : 0;
    }
    int tags = 0;
    for (;;) {
        while (*p == ',' || *p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        bool weak;
        const char *s, *e;
        if (entity_tag(&p, &weak, &s, &e) != 0)
            return bad_if_match(rq, "is \"*\" or a list of entity tags such as \"12\"");
        if (++tags > ASSET_PRECOND_MAX)
            return bad_if_match(rq, "lists more than 32 entity tags");
        int64_t v = weak ? -1 : tag_version(s, e);
        if (v >= 0) /* a weak tag never matches (strong comparison) */
            pre->v[pre->n++] = v;
        p = skip_ows(p);
        if (*p && *p != ',')
            return bad_if_match(rq, "is \"*\" or a list of entity tags such as \"12\"");
    }
    return tags ? 0 : bad_if_match(rq, "is empty");
}

int handler_if_none_match_any_or_reply(http_req *rq, bool *any)
{
    *any = false;
    if (!rq->if_none_match)
        return 0;
    const char *p = skip_ows(rq->if_none_match);
    if (*p != '*' || *skip_ows(p + 1)) {
        http_problem(rq, ASSET_INVALID_ARGUMENT, "If-None-Match",
                     "is only supported as \"*\" (add only if the alias does not exist)");
        return -1;
    }
    *any = true;
    return 0;
}

void handler_set_etag(http_req *rq, int64_t version)
{
    snprintf(rq->etag, sizeof rq->etag, "\"%lld\"", (long long)version);
}
