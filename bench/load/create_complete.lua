-- wrk script: POST /api/calls and POST /api/calls/<id>/complete alternate, every created call is completed, so
-- both operations are measured under load. Token from $TOKEN. The connections of a wrk thread share one Lua state,
-- so created ids wait in a list (a single variable would let one connection's id overwrite another's).
local token = os.getenv("TOKEN")
local pending = {}

request = function()
  local headers = { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token }
  if #pending > 0 then
    local id = table.remove(pending, 1)
    return wrk.format("POST", "/api/calls/" .. id .. "/complete", headers,
      '{"outcome":"successful","resolved":true,"satisfaction":4,"handling_time_seconds":90}')
  end
  return wrk.format("POST", "/api/calls", headers, '{"sector":"billing"}')
end

response = function(status, headers, body)
  if status == 201 then
    table.insert(pending, body:match('"id":"([0-9A-Fa-f%-]+)"'))
  end
end

-- Run from the repository root (bench/run-all.sh and bench/run-load.sh do).
dofile("bench/load/report.lua")
done = function(summary, latency, requests) report(summary, latency) end
