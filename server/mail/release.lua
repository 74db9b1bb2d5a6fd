-- Gives a lease back, only if the caller still holds it (it may have expired and been taken).
-- KEYS[1]: the lease's key.
-- ARGV[1]: the holder's id.
-- Returns: 1 if it was released, 0 if the caller did not hold it.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
