-- Shared by the wrk scripts: prints requests, rate, errors and latency percentiles, one `name=value` per line.
function report(summary, latency)
  io.write(string.format("requests=%d\nrps=%.1f\nerrors=%d\n", summary.requests,
    summary.requests / (summary.duration / 1e6),
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
  for _, p in ipairs({50, 90, 99}) do
    io.write(string.format("p%d_ms=%.3f\n", p, latency:percentile(p) / 1000))
  end
end
