-- Deletes a show's room (the show was deleted), run after the room prelude (store.py _PRELUDE).
-- KEYS[1]: the room's key prefix, `{prefix}show:{<show id>}:`.
-- ARGV[1..5]: the prelude's (show id, now, stream length, manager channel, room name).
-- Returns: how many keys were deleted.
-- Only the room's known keys go (`room_keys()`): no keyspace scan. Short-lived `rl:*` and
-- `slow:*` counters stay until their own TTL (one rate window or slow-mode wait at most).
return redis.call('DEL', unpack(room_keys()))
