-- One request against a GCRA quota, on Redis's clock (TIME): every replica reads the same one.
-- The state of a key is its theoretical arrival time (TAT, microseconds): the bucket is full
-- again once the TAT is past, which is when the key expires.
-- KEYS[1]: the key. ARGV[1]: the time one request costs (µs). ARGV[2]: the burst (the limit).
-- Returns {1, requests still allowed now} or {0, wait in µs until the next one is}.
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local interval = tonumber(ARGV[1])
local capacity = interval * tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
-- Further ahead than a whole bucket: Redis's clock was set back. A full bucket, rather than
-- refusing for as long as the jump.
if tat < now or tat > now + capacity then
  tat = now
end
local next = tat + interval
local allowed_at = next - capacity
if allowed_at > now then
  return {0, allowed_at - now}
end
-- As digits: Lua would print a number this large with an exponent, losing the microseconds.
redis.call('SET', KEYS[1], string.format('%.0f', next), 'PX', string.format('%.0f', math.ceil((next - now) / 1000)))
return {1, math.floor((now - allowed_at) / interval)}
