-- wrk script of scripts/bench: POST /graphql with a JSON body, optionally a bearer token (one, or
-- many in rotation), and a check of every response (status, an expected substring, a forbidden
-- substring). Configured by the environment (bench/bench.py `spec` prints it):
--   BENCH_BODY_FILE      the JSON body
--   BENCH_TOKENS_FILE    tokens, one per line (empty: anonymous; one line: a fixed header)
--   BENCH_EXPECT_STATUS  e.g. 200, or 401
--   BENCH_EXPECT         a substring every correct body contains
--   BENCH_REJECT         a substring no correct body contains (e.g. "errors")
--   BENCH_RESULT         where done() writes the summary as JSON
--   BENCH_STOP_AFTER     stop after this many responses (the first pass over rotating tokens),
--                        then create the file BENCH_STOP_MARKER

local function read_all(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

local expect_status = tonumber(os.getenv("BENCH_EXPECT_STATUS") or "200")
local expect = os.getenv("BENCH_EXPECT") or ""
local reject = os.getenv("BENCH_REJECT") or ""
local stop_after = tonumber(os.getenv("BENCH_STOP_AFTER") or "") or 0

wrk.method = "POST"
wrk.path = "/graphql"
wrk.body = read_all(os.getenv("BENCH_BODY_FILE"))
wrk.headers["Content-Type"] = "application/json"

local tokens = {}
local tokens_file = os.getenv("BENCH_TOKENS_FILE") or ""
if tokens_file ~= "" then
  for line in io.lines(tokens_file) do
    if line ~= "" then tokens[#tokens + 1] = line end
  end
end

if #tokens == 1 then
  -- A fixed request: wrk builds it once.
  wrk.headers["Authorization"] = "Bearer " .. tokens[1]
elseif #tokens > 1 then
  -- Rotation: every request is prebuilt in init(), request() only picks the next one.
  local prebuilt = {}
  local next_index = 1
  function init(args)
    for i, token in ipairs(tokens) do
      prebuilt[i] = wrk.format(nil, nil, {
        ["Host"] = wrk.headers["Host"] or wrk.host, -- wrk.init sets it before init()
        ["Content-Type"] = "application/json",
        ["Authorization"] = "Bearer " .. token,
      }, nil)
    end
    -- Threads (if several) start at different places in the rotation.
    next_index = (wrk.thread:get("id") or 0) * 997 % #prebuilt + 1
  end
  function request()
    local r = prebuilt[next_index]
    next_index = next_index % #prebuilt + 1
    return r
  end
end

-- Per-thread counters, read back by done() through thread:get().
responses = 0
mismatches = 0

function response(status, headers, body)
  responses = responses + 1
  if status ~= expect_status
      or (expect ~= "" and not string.find(body, expect, 1, true))
      or (reject ~= "" and string.find(body, reject, 1, true)) then
    mismatches = mismatches + 1
  end
  if stop_after > 0 and responses == stop_after then
    -- wrk keeps sleeping for the whole -d after a thread stops: the marker tells scripts/bench
    -- to interrupt it (SIGINT), so that the summary covers the real time of the pass.
    wrk.thread:stop()
    local marker = os.getenv("BENCH_STOP_MARKER")
    if marker and marker ~= "" then
      local f = io.open(marker, "w")
      if f then f:close() end
    end
  end
end

local threads = {}
function setup(thread)
  thread:set("id", #threads)
  threads[#threads + 1] = thread
end

function done(summary, latency, requests)
  local total_mismatches, total_responses = 0, 0
  for _, t in ipairs(threads) do
    total_mismatches = total_mismatches + t:get("mismatches")
    total_responses = total_responses + t:get("responses")
  end
  local e = summary.errors
  local out = string.format(
    '{"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,"status":%d,' ..
    '"timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f,' ..
    '"mismatches":%d,"responses":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean, total_mismatches, total_responses)
  local path = os.getenv("BENCH_RESULT")
  if path and path ~= "" then
    local f = assert(io.open(path, "w"))
    f:write(out)
    f:close()
  else
    io.write(out)
  end
end
