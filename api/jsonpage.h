/* jsonpage: the answer of GET /assets (a page of assets), and of one asset, written as JSON text
 * in one pass, with no Jansson tree in between: byte for byte what jsonmap_asset_page() (or
 * jsonmap_asset()) + json_dumps(JSON_COMPACT) give, at a fraction of the allocations (a page
 * holds up to 1,000 assets). The text is http_secure_malloc'd; the caller owns it (http_text
 * frees it with the response). */
#ifndef ASSETD_JSONPAGE_H
#define ASSETD_JSONPAGE_H

#include <stddef.h>

#include "../service/asset_ops.h"

/* NULL when out of memory or when a text field is not valid UTF-8 (Jansson refuses those too). */
char *jsonpage_assets(const asset_list *l, size_t *len);
/* One asset, as the answer of GET /assets/{alias} and of an add or update: byte for byte
 * json_dumps(jsonmap_asset(o), JSON_COMPACT). NULL as above. */
char *jsonpage_asset(const asset_out *o, size_t *len);

#endif
