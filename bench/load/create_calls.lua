-- wrk script: POST /api/calls with a bearer token from $TOKEN; prints latency percentiles at the end.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
wrk.body = '{"sector":"billing","capabilities":["french"]}'

local statuses = {}
response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

-- Run from the repository root (bench/run-all.sh and bench/run-load.sh do).
dofile("bench/load/report.lua")
done = function(summary, latency, requests) report(summary, latency) end
