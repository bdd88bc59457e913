#include "handlers.h"
#define STUB(name) void name(http_req *rq, const char *a, const char *b) { (void)a; (void)b; http_problem(rq, ASSET_NOT_FOUND, NULL, "not implemented yet"); }
STUB(h_audit_list)
