-- wrk script for a tenant whose calls are offered (routing.offer_timeout_seconds): each call is created, its offer
-- accepted at once and the call completed, three requests per call. Token from $TOKEN. The call's status in each
-- answer says what it needs next (the connections of a wrk thread share these lists).
local token = os.getenv("TOKEN")
local to_accept, to_complete = {}, {}

request = function()
  local headers = { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token }
  if #to_complete > 0 then
    return wrk.format("POST", "/api/calls/" .. table.remove(to_complete, 1) .. "/complete", headers,
      '{"outcome":"successful","resolved":true,"satisfaction":4,"handling_time_seconds":90}')
  end
  if #to_accept > 0 then
    return wrk.format("POST", "/api/calls/" .. table.remove(to_accept, 1) .. "/accept", headers, "")
  end
  return wrk.format("POST", "/api/calls", headers, '{"sector":"billing"}')
end

response = function(status, headers, body)
  if status ~= 200 and status ~= 201 then return end
  local id = body:match('"id":"([0-9A-Fa-f%-]+)"')
  local state = body:match('"status":"(%a+)"')
  if state == "offered" then table.insert(to_accept, id)
  elseif state == "active" then table.insert(to_complete, id) end
end

dofile("bench/load/report.lua")
done = function(summary, latency, requests) report(summary, latency) end
