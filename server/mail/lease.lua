-- Takes or renews a lease: one holder at a time, for a limited time.
-- KEYS[1]: the lease's key.
-- ARGV[1]: the holder's id (the node's). ARGV[2]: the lease's length in milliseconds.
-- Returns: 1 if the caller holds the lease now (taken or renewed), 0 if another holder has it.
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if holder then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
