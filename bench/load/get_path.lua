-- wrk script: GET $PATH_TO_GET with a bearer token from $TOKEN (a missing token tests unauthenticated paths).
wrk.method = "GET"
local token = os.getenv("TOKEN")
if token and #token > 0 then wrk.headers["Authorization"] = "Bearer " .. token end
wrk.path = os.getenv("PATH_TO_GET") or "/health"

done = function(summary, latency, requests)
  io.write(string.format("requests=%d\nrps=%.1f\nerrors=%d\n", summary.requests,
    summary.requests / (summary.duration / 1e6),
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
  for _, p in ipairs({50, 90, 99}) do
    io.write(string.format("p%d_ms=%.3f\n", p, latency:percentile(p) / 1000))
  end
end
