-- wrk script: client-credentials token requests with a DPoP proof (RFC
-- 9449), each proof sent once, read from the file $DPOP_PROOFS (made by the
-- dpop_proofs example before the run). Past the end of the file proofs would
-- repeat and be refused as replays, counted in non200.
local proofs = {}
for line in io.lines(os.getenv("DPOP_PROOFS")) do proofs[#proofs + 1] = line end
local i = 0
local body = "grant_type=client_credentials&scope=charge%3Acustomer&resource=https%3A%2F%2Fpayments.example.com"

request = function()
  i = i + 1
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    -- order-service:order-service-secret-0123456789
    ["Authorization"] = "Basic b3JkZXItc2VydmljZTpvcmRlci1zZXJ2aWNlLXNlY3JldC0wMTIzNDU2Nzg5",
    ["DPoP"] = proofs[((i - 1) % #proofs) + 1],
  }, body)
end

-- Counters live in each thread's Lua state (globals, so that done(), which
-- runs in the main state, can read them with thread:get).
local threads = {}
setup = function(thread) table.insert(threads, thread) end
non200 = 0
dpop = 0
response = function(status, headers, body)
  if status ~= 200 then non200 = non200 + 1 end
  if string.find(body, '"token_type":"DPoP"', 1, true) then dpop = dpop + 1 end
end

done = function(summary, latency, requests)
  local non200, dpop = 0, 0
  for _, t in ipairs(threads) do
    non200 = non200 + t:get("non200")
    dpop = dpop + t:get("dpop")
  end
  io.write(string.format("RESULT rps=%.0f p50_ms=%.2f p99_ms=%.2f errors=%d non200=%d dpop_tokens=%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout + summary.errors.status,
    non200, dpop))
end
