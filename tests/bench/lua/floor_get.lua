-- Floor A: plain GET of the fixed JSON body of floor_mhd.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
