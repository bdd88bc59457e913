-- POST /assets/batch-add: 100 items per request, each shaped as post_assets.lua's body (a unique
-- alias per item, a 1 KiB secret, one normal label, syncType [TRUSTED_DEVICE]).
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local headers = {
  ["Authorization"] = "Bearer " .. bench.token,
  ["Content-Type"] = "application/json",
}
local n = 0
local items = {}

function request()
  n = n + 1
  for i = 1, 100 do
    items[i] = '{"secret":"' .. bench.secret .. '","alias":"b' .. bench.run .. '-' .. tid .. '-' ..
               n .. '-' .. i .. '","dataLabelNormal1":"grp-' .. (i % 10) ..
               '","syncType":["TRUSTED_DEVICE"]}'
  end
  return wrk.format("POST", "/assets/batch-add", headers, '{"assets":[' .. table.concat(items, ",") .. ']}')
end
