-- wrk script of scripts/soak: a mixed GraphQL workload from many clients (bench/README.md,
-- "Soak"). Every request picks a kind by weight; every response is classified by its status and
-- body into one of the expected answers, or counted as unexpected. The server trusts 127.0.0.1
-- as a proxy (TRUSTED_PROXIES), so X-Forwarded-For gives each simulated client its own address:
-- the rate limits and the lockout apply per client as in production.
--
-- Environment (set by scripts/soak):
--   SOAK_DIR        tokens-valid.txt (users x sessions; line k belongs to user (k-1) % SOAK_USERS),
--                   tokens-expired.txt, tokens-forged.txt
--   SOAK_USERS      number of distinct users in tokens-valid.txt
--   SOAK_DELAY_MS   think time of a connection between an answer and its next request (0: none)
--   SOAK_RESULT     where done() writes the summary as JSON
--   SOAK_TARGETS    the replicas' base URLs (http://host:port), space-separated: wrk thread i
--                   (from 0) sends to replica i mod N, so its connections are spread round-robin
--                   over the replicas, as a load balancer spreads keep-alive connections. Unset:
--                   the URL wrk was given.

local dir = assert(os.getenv("SOAK_DIR"), "SOAK_DIR")
local users = tonumber(os.getenv("SOAK_USERS") or "") or error("SOAK_USERS")
local think_ms = tonumber(os.getenv("SOAK_DELAY_MS") or "0")

local function lines(path)
  local out = {}
  for line in io.lines(path) do
    if line ~= "" then out[#out + 1] = line end
  end
  return out
end

local valid, expired, forged

-- Anonymous clients come from a pool of this many addresses; with the users' and attackers'
-- addresses, more distinct keys than the rate limiter holds (its bound is then what is tested).
local ANONYMOUS_ADDRESSES = 120000
local ATTACKER_ADDRESSES = 64

local function body(query, variables)
  -- Queries here contain no character that needs escaping in JSON.
  if variables then
    return '{"query":"' .. query .. '","variables":' .. variables .. '}'
  end
  return '{"query":"' .. query .. '"}'
end

local VIEWER = body("{ viewer { userId sessionId } }")
local ME = body("{ me { id email } }")
local ADMIN_NOTE = body("{ adminNote { id } }")
local HEALTH = body("{ health }")
local ANONYMOUS_VIEWER = body("{ viewer { userId } }")
local POSTS = body("{ posts(first: 20) { nodes { id title author { id } } } }")
local CREATE_POST = "mutation($input: CreatePostInput!) { createPost(input: $input) { id } }"

local function user_address(user)
  return string.format("10.%d.%d.1", math.floor(user / 256) % 256, user % 256)
end

local function anonymous_address()
  local n = math.random(0, ANONYMOUS_ADDRESSES - 1)
  return string.format("100.%d.%d.%d", 64 + math.floor(n / 65536), math.floor(n / 256) % 256, n % 256)
end

local function attacker_address()
  return string.format("198.51.100.%d", math.random(1, ATTACKER_ADDRESSES))
end

local function post(payload, address, token)
  local headers = {
    ["Host"] = wrk.headers["Host"] or wrk.host,
    ["Content-Type"] = "application/json",
    ["X-Forwarded-For"] = address,
  }
  if token then headers["Authorization"] = "Bearer " .. token end
  return wrk.format("POST", "/graphql", headers, payload)
end

local function signed_in(payload)
  local k = math.random(1, #valid)
  return post(payload, user_address((k - 1) % users), valid[k])
end

local posts_created = 0
local function create_post()
  posts_created = posts_created + 1
  local variables = string.format(
    '{"input":{"title":"Soak post %d","body":"Written by the soak workload.","published":true}}',
    posts_created)
  return signed_in(body(CREATE_POST, variables))
end

-- {weight, builder}: weights are percentages.
local KINDS = {
  {38, function() return signed_in(VIEWER) end},
  {10, function() return signed_in(ME) end},
  {5, function() return signed_in(ADMIN_NOTE) end},
  {3, create_post},
  {10, function() return post(HEALTH, anonymous_address()) end},
  {8, function() return post(ANONYMOUS_VIEWER, anonymous_address()) end},
  {12, function() return post(POSTS, anonymous_address()) end},
  -- Stale tokens of real users (a validly signed, expired token): 401, no lockout.
  {6, function()
    local k = math.random(1, #expired)
    return post(VIEWER, user_address((k - 1) % users), expired[k])
  end},
  -- Forged and garbage tokens from a few addresses: 401, then 429 once locked out.
  {5, function() return post(VIEWER, attacker_address(), forged[math.random(1, #forged)]) end},
  {3, function()
    return post(VIEWER, attacker_address(), "not-a-token." .. math.random(1, 1000000))
  end},
}

-- What a correct answer looks like: status, a substring it contains, and for 200s no "errors".
-- The first match names the class; anything else is unexpected.
local CLASSES = {
  {"viewer", 200, '"viewer":{"userId":"user_soak_'},
  {"me", 200, '"me":{"id":"user_soak_'},
  {"admin_note", 200, '"adminNote":{"id":'},
  {"admin_note_forbidden", 200, '"code":"FORBIDDEN"'},
  {"create_post", 200, '"createPost":{"id":'},
  {"health", 200, '"health":"ok"'},
  {"anonymous_viewer", 200, '"viewer":null'},
  {"posts", 200, '"posts":{"nodes":['},
  {"token_expired", 401, '"reason":"token_expired"'},
  {"token_refused", 401, '"code":"UNAUTHENTICATED"'},
  {"locked_out", 429, '"code":"RATE_LIMITED"'},
}

function init(args)
  valid = lines(dir .. "/tokens-valid.txt")
  expired = lines(dir .. "/tokens-expired.txt")
  forged = lines(dir .. "/tokens-forged.txt")
  math.randomseed(os.time() + (wrk.thread:get("id") or 0) * 7919)
  local total = 0
  for _, kind in ipairs(KINDS) do total = total + kind[1] end
  assert(total == 100, "weights add up to 100")
end

function request()
  local roll = math.random(1, 100)
  for _, kind in ipairs(KINDS) do
    roll = roll - kind[1]
    if roll <= 0 then return kind[2]() end
  end
end

if think_ms > 0 then
  function delay()
    return think_ms
  end
end

-- Per-thread counters, read back by done() through thread:get().
classes = {}
statuses = {}
unexpected_samples = {}

function response(status, headers, body)
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
  local class = "unexpected"
  for _, c in ipairs(CLASSES) do
    if status == c[2] and string.find(body, c[3], 1, true) then
      if c[1] == "admin_note_forbidden" then
        -- A member asking for the admin note: null, and the one error that says why.
        if string.find(body, '{"data":{"adminNote":null},"errors":[', 1, true) then class = c[1] end
      elseif status ~= 200 or not string.find(body, '"errors"', 1, true) then
        class = c[1]
      end
      break
    end
  end
  classes[class] = (classes[class] or 0) + 1
  if class == "unexpected" and #unexpected_samples < 10 then
    unexpected_samples[#unexpected_samples + 1] = key .. " " .. string.sub(body, 1, 300)
  end
end

local targets = {}
for url in (os.getenv("SOAK_TARGETS") or ""):gmatch("%S+") do targets[#targets + 1] = url end

local threads = {}
function setup(thread)
  local id = #threads
  thread:set("id", id)
  if #targets > 0 then
    local replica = id % #targets + 1
    local host, port = targets[replica]:match("^https?://([^:/]+):(%d+)")
    thread.addr = assert(wrk.lookup(host, port)[1], targets[replica])
    thread:set("replica", replica)
  else
    thread:set("replica", 1)
  end
  threads[#threads + 1] = thread
end

local function json_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c) return string.format("\\u%04x", c:byte()) end) .. '"'
end

local function json_counts(counts)
  local parts = {}
  for k, v in pairs(counts) do parts[#parts + 1] = json_string(k) .. ":" .. v end
  table.sort(parts)
  return "{" .. table.concat(parts, ",") .. "}"
end

function done(summary, latency, requests)
  local all_classes, all_statuses, samples, by_replica = {}, {}, {}, {}
  for _, t in ipairs(threads) do
    local replica = t:get("replica")
    by_replica[replica] = by_replica[replica] or {}
    for k, v in pairs(t:get("classes")) do all_classes[k] = (all_classes[k] or 0) + v end
    for k, v in pairs(t:get("statuses")) do
      all_statuses[k] = (all_statuses[k] or 0) + v
      by_replica[replica][k] = (by_replica[replica][k] or 0) + v
    end
    for _, s in ipairs(t:get("unexpected_samples")) do samples[#samples + 1] = json_string(s) end
  end
  local replicas = {}
  for i = 1, #by_replica do replicas[i] = json_counts(by_replica[i]) end
  local e = summary.errors
  local out = string.format(
    '{"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d,"max_us":%d,"mean_us":%.1f,' ..
    '"classes":%s,"statuses":%s,"statuses_by_replica":[%s],"unexpected_samples":[%s]}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max, latency.mean,
    json_counts(all_classes), json_counts(all_statuses), table.concat(replicas, ","),
    table.concat(samples, ","))
  local path = os.getenv("SOAK_RESULT")
  if path and path ~= "" then
    local f = assert(io.open(path, "w"))
    f:write(out)
    f:close()
  else
    io.write(out)
  end
end
