-- wrk script: each connection alternates POST /api/calls and POST /api/calls/<id>/complete for the call it just
-- created, so both operations are measured under load. Token from $TOKEN.
local token = os.getenv("TOKEN")
local pending = nil

request = function()
  local headers = { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token }
  if pending then
    local id = pending
    pending = nil
    return wrk.format("POST", "/api/calls/" .. id .. "/complete", headers,
      '{"outcome":"successful","resolved":true,"satisfaction":4,"handling_time_seconds":90}')
  end
  return wrk.format("POST", "/api/calls", headers, '{"sector":"billing"}')
end

response = function(status, headers, body)
  if status == 201 then
    pending = body:match('"id":"([0-9A-Fa-f%-]+)"')
  end
end

done = function(summary, latency, requests)
  io.write(string.format("requests=%d\nrps=%.1f\nerrors=%d\n", summary.requests,
    summary.requests / (summary.duration / 1e6),
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
  for _, p in ipairs({50, 90, 99}) do
    io.write(string.format("p%d_ms=%.3f\n", p, latency:percentile(p) / 1000))
  end
end
