-- Ends the lease of an idempotency key whose attempt failed for a passing reason (the database
-- busy, a serialization failure): the client's retry takes the key over at once instead of
-- waiting the lease out, and, taking over, first looks for an order the attempt wrote.
-- KEYS[1]: the key's hash.
-- ARGV[1]: the attempt's request fingerprint. ARGV[2]: the lease deadline (ms) it set.
-- Returns 1 when the lease was ended; 0 when the key is done, another request's, or held by a
-- later attempt (its lease differs).
if redis.call('HGET', KEYS[1], 'h') ~= ARGV[1] then return 0 end
if redis.call('HGET', KEYS[1], 'st') ~= 'started' then return 0 end
if tonumber(redis.call('HGET', KEYS[1], 'lease')) ~= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'lease', 0)
return 1
