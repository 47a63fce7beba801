-- Locks an address out, unless it already is; on Redis's clock, through key expiry.
-- KEYS[1]: the lockout, present while it lasts. KEYS[2]: the strikes (lockouts in a row), kept
-- until `max` after the lockout ends: a lockout starting later is a first offence again.
-- ARGV[1]: max (ms). ARGV[2..]: the duration (ms) of the 1st, 2nd, … lockout in a row; the last
-- one holds for every strike after it.
-- Returns the strike of the lockout this call started, or nil when one was already running.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return false
end
local strike = (tonumber(redis.call('GET', KEYS[2])) or 0) + 1
local max = tonumber(ARGV[1])
local duration = tonumber(ARGV[math.min(strike, #ARGV - 1) + 1])
redis.call('SET', KEYS[1], '1', 'PX', string.format('%.0f', duration))
redis.call('SET', KEYS[2], strike, 'PX', string.format('%.0f', duration + max))
return strike
