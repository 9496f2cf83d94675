-- wrk script: GET $PATH_TO_GET with a bearer token from $TOKEN (a missing token tests unauthenticated paths).
wrk.method = "GET"
local token = os.getenv("TOKEN")
if token and #token > 0 then wrk.headers["Authorization"] = "Bearer " .. token end
wrk.path = os.getenv("PATH_TO_GET") or "/health"

-- Run from the repository root (bench/run-all.sh and bench/run-load.sh do).
dofile("bench/load/report.lua")
done = function(summary, latency, requests) report(summary, latency) end
