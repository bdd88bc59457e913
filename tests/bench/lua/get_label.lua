-- GET /assets?dataLabelNormal1=grp-<0..9>&limit=100: the first page of 100 assets carrying one
-- label value. Each of the 10 values is on every 10th seeded asset (10,000 of 100,000).
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local headers = { ["Authorization"] = "Bearer " .. bench.token }

function init(args)
  math.randomseed(os.time() * 1000 + tid * 7919)
end

function request()
  return wrk.format("GET", "/assets?dataLabelNormal1=grp-" .. math.random(0, 9) .. "&limit=100",
                    headers)
end
