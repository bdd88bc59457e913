-- Shared by the wrk scripts of tests/bench/run.sh: configuration from the environment and one
-- machine-readable summary line ("WRK key=value ...") printed when the run is done.
bench = {
  token   = os.getenv("BENCH_TOKEN") or "",
  secret  = os.getenv("BENCH_SECRET") or "",
  run     = os.getenv("BENCH_RUN") or "r",
  prefix  = os.getenv("BENCH_PREFIX") or "s",
  aliases = tonumber(os.getenv("BENCH_ALIASES") or "100000"),
}

-- wrk counts a status >= 400 as a "status" error; connect/read/write/timeout are socket errors.
function bench_done(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    "WRK requests=%d duration_s=%.3f rps=%.1f err_connect=%d err_read=%d err_write=%d " ..
    "err_status=%d err_timeout=%d lat_mean_ms=%.3f lat_p50_ms=%.3f lat_p90_ms=%.3f " ..
    "lat_p99_ms=%.3f lat_max_ms=%.3f\n",
    summary.requests, secs, summary.requests / secs, e.connect, e.read, e.write, e.status,
    e.timeout, latency.mean / 1000, latency:percentile(50) / 1000,
    latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end

-- Give every wrk thread a distinct id (global "tid" in the thread's own Lua state).
local next_tid = 1
function setup(thread)
  thread:set("tid", next_tid)
  next_tid = next_tid + 1
end

done = bench_done
