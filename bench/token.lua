-- wrk script: a client-credentials token request with Basic credentials.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
-- order-service:order-service-secret-0123456789
wrk.headers["Authorization"] = "Basic b3JkZXItc2VydmljZTpvcmRlci1zZXJ2aWNlLXNlY3JldC0wMTIzNDU2Nzg5"
wrk.body = "grant_type=client_credentials&scope=charge%3Acustomer&resource=https%3A%2F%2Fpayments.example.com"

-- Counters live in each thread's Lua state (a global, so that done(),
-- which runs in the main state, can read it with thread:get).
local threads = {}
setup = function(thread) table.insert(threads, thread) end
non200 = 0
response = function(status, headers, body)
  if status ~= 200 then non200 = non200 + 1 end
end

done = function(summary, latency, requests)
  local non200 = 0
  for _, t in ipairs(threads) do non200 = non200 + t:get("non200") end
  io.write(string.format("RESULT rps=%.0f p50_ms=%.2f p99_ms=%.2f errors=%d non200=%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout + summary.errors.status,
    non200))
end
