-- GET /assets/{alias}?returnType=ALL on a random one of the seeded aliases (prefix + %07d):
-- one asset with its secret, so every request opens (decrypts) a 1 KiB sealed secret.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local headers = { ["Authorization"] = "Bearer " .. bench.token }

function init(args)
  math.randomseed(os.time() * 1000 + tid * 7919)
end

function request()
  local i = math.random(0, bench.aliases - 1)
  return wrk.format("GET", string.format("/assets/%s%07d?returnType=ALL", bench.prefix, i), headers)
end
