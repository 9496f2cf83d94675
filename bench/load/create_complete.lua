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

-- Run from the repository root (bench/run-all.sh and bench/run-load.sh do).
dofile("bench/load/report.lua")
done = function(summary, latency, requests) report(summary, latency) end
