-- wrk script: PUT /api/agents/<id>/presence, each agent of $AGENTS (comma-separated ids) going away for a break
-- and coming back in turn. Token from $TOKEN.
local token = os.getenv("TOKEN")
local agents, away, next_agent = {}, {}, 1
for id in string.gmatch(os.getenv("AGENTS") or "", "[^,]+") do table.insert(agents, id) end

request = function()
  local id = agents[next_agent]
  next_agent = next_agent % #agents + 1
  away[id] = not away[id]
  local body = away[id] and '{"presence":"away","reason":"break"}' or '{"presence":"available"}'
  return wrk.format("PUT", "/api/agents/" .. id .. "/presence",
    { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token }, body)
end

dofile("bench/load/report.lua")
done = function(summary, latency, requests) report(summary, latency) end
