-- One wrk script for every HTTP scenario of the benchmark.
--
-- wrk -s requests.lua <url> -- METHOD KIND FILE ORDER STOP_AFTER
--   METHOD      GET or POST
--   KIND        "path": each line of FILE is a request path, optionally
--               followed by a tab and the request body
--               "body": each line of FILE is a request body, sent to the URL's path
--   ORDER       "cycle": lines in turn; "random": a random line per request;
--               "unique": line 1 is a template, every %UNIQUE% in it becomes
--               <thread>_<counter>_<random> (a name never sent before)
--   STOP_AFTER  0: run for -d. N: with one thread (-t1), exit as soon as N
--               responses are in, printing "WRKSTOP {...}" with the time from
--               the first request to the N-th response (wrk itself would
--               sleep out -d and has no percentile summary before that)
--
-- A response counts as bad when its status is not 2xx or its body holds a
-- GraphQL "errors" member; the first bad one is kept for the report.
-- done() prints one line "WRKJSON {...}" that bench/wrk.py parses.

local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock, bench_timespec *out);
]]
local timespec = ffi.new("bench_timespec")
local function now()
   ffi.C.clock_gettime(1, timespec) -- CLOCK_MONOTONIC
   return tonumber(timespec.tv_sec) + tonumber(timespec.tv_nsec) / 1e9
end

local threads = {}

function setup(thread)
   thread:set("id", #threads + 1)
   table.insert(threads, thread)
end

local prepared = {}
local prefix, suffix = "", ""
local method, kind, order = "GET", "path", "cycle"
local stop_after = 0
local counter = 0
responses = 0
bad = 0
first_bad = ""

local function format(line)
   if kind == "path" then
      local tab = string.find(line, "\t", 1, true)
      if tab then
         return wrk.format(method, string.sub(line, 1, tab - 1), nil, string.sub(line, tab + 1))
      end
      return wrk.format(method, line)
   end
   return wrk.format(method, nil, nil, line)
end

function init(args)
   method, kind, order = args[1], args[2], args[4]
   local file = args[3]
   stop_after = tonumber(args[5]) or 0
   math.randomseed(os.time() * 7919 + (id or 0) * 104729)
   local lines = {}
   for line in io.lines(file) do
      if line ~= "" then table.insert(lines, line) end
   end
   if #lines == 0 then error("requests.lua: " .. file .. " has no lines") end
   if order == "unique" then
      local at = string.find(lines[1], "%UNIQUE%", 1, true)
      if not at then error("requests.lua: the template has no %UNIQUE%") end
      prefix, suffix = string.sub(lines[1], 1, at - 1), string.sub(lines[1], at + 8)
   else
      for _, line in ipairs(lines) do
         table.insert(prepared, format(line))
      end
   end
end

local started = nil

function request()
   counter = counter + 1
   if started == nil then started = now() end
   if order == "random" then
      return prepared[math.random(#prepared)]
   elseif order == "cycle" then
      return prepared[(counter - 1) % #prepared + 1]
   end
   return format(prefix .. string.format("%d_%d_%06d", id or 0, counter, math.random(0, 999999)) .. suffix)
end

local function printable(text)
   text = string.sub(text or "", 1, 300)
   text = string.gsub(text, '[%c"\\]', " ")
   return text
end

function response(status, headers, body)
   responses = responses + 1
   if status < 200 or status > 299 or (body and string.find(body, '"errors"', 1, true)) then
      bad = bad + 1
      if first_bad == "" then first_bad = printable(status .. " " .. (body or "")) end
   end
   if stop_after > 0 and responses >= stop_after then
      io.write(string.format('WRKSTOP {"responses":%d,"bad":%d,"first_bad":"%s","span_s":%.6f}\n',
                             responses, bad, first_bad, now() - started))
      io.flush()
      os.exit(0)
   end
end

function done(summary, latency, requests)
   local total_bad, total_responses, first = 0, 0, ""
   for _, thread in ipairs(threads) do
      total_bad = total_bad + (thread:get("bad") or 0)
      total_responses = total_responses + (thread:get("responses") or 0)
      local their = thread:get("first_bad") or ""
      if first == "" and their ~= "" then first = their end
   end
   local e = summary.errors
   io.write(string.format(
      'WRKJSON {"requests":%d,"responses":%d,"duration_us":%d,"bytes":%d,' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
      '"bad":%d,"first_bad":"%s",' ..
      '"latency_us":{"min":%d,"mean":%.1f,"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d}}\n',
      summary.requests, total_responses, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      total_bad, first,
      latency.min, latency.mean, latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency:percentile(99.9), latency.max))
end
