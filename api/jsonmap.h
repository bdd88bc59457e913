/* jsonmap: JSON bodies and query strings -> asset_req (through the field table of
 * service/asset_req.h, so both accept exactly the same fields and values), and domain results ->
 * JSON. Borrowed text in the request points into the JSON document or the request's arena. */
#ifndef ASSETD_JSONMAP_H
#define ASSETD_JSONMAP_H

#include "../service/asset_ops.h"
#include "../service/devices.h"
#include "http.h"

/* On failure *field names the offending field (or is NULL) and *why says what is wrong. */
WUR asset_err jsonmap_req_from_json(asset_req *r, asset_op op, json_t *obj, const char **field,
                                    const char **why);
WUR asset_err jsonmap_req_from_args(asset_req *r, asset_op op, const http_arg *args, int n,
                                    const char **field, const char **why);

json_t *jsonmap_asset(const asset_out *o);
/* {"assets": [...], "nextCursor": text or null}; NULL when out of memory. */
json_t *jsonmap_asset_page(const asset_list *l);
json_t *jsonmap_device(const device_info *d);
/* RFC 3339 UTC with milliseconds. */
void jsonmap_time(char out[64], int64_t ms);

#endif
