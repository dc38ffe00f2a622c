-- wrk script: GET with headers from the environment; prints µs percentiles.
--   BENCH_AUTH   value of Authorization (optional)
--   BENCH_XF     "1": send the X-Frontdesk-* headers the gateway would add
wrk.method = "GET"
local auth = os.getenv("BENCH_AUTH")
if auth and auth ~= "" then wrk.headers["Authorization"] = auth end
if os.getenv("BENCH_XF") == "1" then
  wrk.headers["X-Frontdesk-Sub"] = "order-service"
  wrk.headers["X-Frontdesk-Client-Id"] = "order-service"
  wrk.headers["X-Frontdesk-Scope"] = "photos:read"
  wrk.headers["X-Frontdesk-Via"] = "local"
end

local non200 = 0
response = function(status, headers, body)
  if status ~= 200 then non200 = non200 + 1 end
end

done = function(summary, latency, requests)
  io.write(string.format("RESULT rps=%.0f p50_us=%.0f p90_us=%.0f p99_us=%.0f errors=%d non200=%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout + summary.errors.status,
    non200))
end
