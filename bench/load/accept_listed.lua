-- wrk script: accepts the offered calls listed in $IDS (one id per line), each once, the list split between wrk's
-- threads. Token from $TOKEN. A run longer than the list repeats its first id (an accept replayed): keep it short.
local token = os.getenv("TOKEN")
local ids, next_id, threads = {}, 0, 0

setup = function(thread)
  threads = threads + 1
  thread:set("thread_number", threads)
end

init = function(args)
  local line_number = 0
  for line in io.lines(os.getenv("IDS")) do
    line_number = line_number + 1
    if line_number % 2 == thread_number - 1 then table.insert(ids, line) end
  end
end

request = function()
  next_id = next_id + 1
  return wrk.format("POST", "/api/calls/" .. (ids[next_id] or ids[1]) .. "/accept", { ["Authorization"] = "Bearer " .. token }, "")
end

dofile("bench/load/report.lua")
done = function(summary, latency, requests) report(summary, latency) end
