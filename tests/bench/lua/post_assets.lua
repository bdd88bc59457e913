-- POST /assets: a unique alias per request (run id, thread id, counter), a 1 KiB secret, one
-- normal label, syncType [TRUSTED_DEVICE]: the same shape as the seeded assets and floor B's row.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local headers = {
  ["Authorization"] = "Bearer " .. bench.token,
  ["Content-Type"] = "application/json",
}
local n = 0

function request()
  n = n + 1
  local body = '{"secret":"' .. bench.secret .. '","alias":"w' .. bench.run .. '-' .. tid ..
               '-' .. n .. '","dataLabelNormal1":"grp-' .. (n % 10) ..
               '","syncType":["TRUSTED_DEVICE"]}'
  return wrk.format("POST", "/assets", headers, body)
end
