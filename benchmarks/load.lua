-- wrk script of benchmarks/speed.py: posts the request bodies of a file in turn (one JSON body a
-- line), with a maintainer's token as `Authorization: Bearer` when one follows the file, or sends
-- GETs when no file is given, and prints the run's figures as one JSON line.
--
--   wrk -t2 -c8 -d10s -s benchmarks/load.lua http://127.0.0.1:PORT/classify -- bodies.jsonl [TOKEN]
--
-- Every thread starts at its own place in the file, so concurrent clients post different bugs.
-- A non-2xx answer counts as an error (wrk's own count is of status > 399 only).

local threads = {}
local counter = 0

function setup(thread)
   thread:set("number", counter)
   counter = counter + 1
   table.insert(threads, thread)
end

local bodies = {}
local next_body = 1
non_2xx = 0 -- global: done() reads it from each thread

function init(args)
   if args[1] == nil then
      return
   end
   for line in io.lines(args[1]) do
      if line ~= "" then
         table.insert(bodies, line)
      end
   end
   if #bodies == 0 then
      error("no request bodies in " .. args[1])
   end
   -- speed.py runs one or two threads: the second starts half-way through the file.
   next_body = 1 + (number * math.floor(#bodies / 2)) % #bodies
   wrk.method = "POST"
   wrk.headers["Content-Type"] = "application/json"
   if args[2] ~= nil then
      wrk.headers["Authorization"] = "Bearer " .. args[2]
   end
end

function request()
   if #bodies == 0 then
      return wrk.request()
   end
   local body = bodies[next_body]
   next_body = next_body % #bodies + 1
   return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
   if status < 200 or status > 299 then
      non_2xx = non_2xx + 1
   end
end

function done(summary, latency, requests)
   local bad = 0
   for _, thread in ipairs(threads) do
      bad = bad + thread:get("non_2xx")
   end
   local e = summary.errors
   io.write(string.format(
      '{"requests": %d, "duration_us": %d, "non_2xx": %d, "socket_errors": %d, '
         .. '"p50_us": %d, "p95_us": %d, "p99_us": %d, "max_us": %d}\n',
      summary.requests, summary.duration, bad, e.connect + e.read + e.write + e.timeout,
      latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max))
end
