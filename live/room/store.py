"""A show's live room in Redis: every change is one Lua script, and every broadcast is numbered
and published by the same script that changes the state.

One script call assigns the next `seq`, appends the frame to the show's stream (kept for
recovery, trimmed to about `replay_frames`) and PUBLISHes it on python-socketio's Redis manager
channel in the manager's own JSON message format. So the state a snapshot reads, the seq it
reports and the order frames reach every node (Redis pub/sub keeps publish order) always agree,
whichever node made the change. Keys of one show share the hash tag `{<show id>}`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from live.room.rules import MAX_PINS, RECENT_CHAT, TOP_QUESTIONS

FRAME_EVENT = "frame"
# A reconnecting client gets at most this much replayed; a longer gap gets a fresh snapshot.
REPLAY_MAX_FRAMES = 1000
REPLAY_MAX_BYTES = 512 * 1024

# ARGV[1..5] of every script: show id, now (ms), stream length to keep, manager channel, room.
_PRELUDE = """
local base = KEYS[1]
-- The room's epoch: a new one whenever the Redis server is not the process that numbered the
-- room's frames so far (a restart, which may have lost the last writes and so reuse seqs, or a
-- failover). A seq means something only beside its epoch.
local function epoch()
  local run = string.match(redis.call('INFO', 'server'), 'run_id:(%x+)')
  local known = redis.call('HMGET', base .. 'epoch', 'run', 'id')
  if known[1] == run and known[2] then return known[2] end
  local now = redis.call('TIME')
  local id = string.format('%x%05x', tonumber(now[1]), tonumber(now[2]))
  redis.call('HSET', base .. 'epoch', 'run', run, 'id', id)
  -- An ended room's keys expire together (see keep()).
  local ttl = redis.call('PTTL', base .. 'state')
  if ttl > 0 then redis.call('PEXPIRE', base .. 'epoch', ttl) end
  return id
end
local function publish(events)
  local seq = redis.call('INCR', base .. 'seq')
  local frame = '{"show_id":' .. ARGV[1] .. ',"epoch":"' .. epoch() .. '","seq":' .. seq
    .. ',"t":' .. ARGV[2] .. ',"events":' .. events .. '}'
  redis.call('XADD', base .. 'log', 'MAXLEN', '~', ARGV[3], seq .. '-0', 'f', frame)
  redis.call('PUBLISH', ARGV[4], '{"method":"emit","event":"frame","data":[' .. frame
    .. '],"binary":false,"namespace":"/","room":"' .. ARGV[5]
    .. '","skip_sid":null,"callback":null,"host_id":"room"}')
  return seq
end
local function banned(subject)
  return redis.call('SISMEMBER', base .. 'bans', subject) == 1
end
local function timed_out(subject)
  local untl = tonumber(redis.call('HGET', base .. 'timeouts', subject) or '0')
  if untl > tonumber(ARGV[2]) then return untl end
  if untl > 0 then redis.call('HDEL', base .. 'timeouts', subject) end
  return nil
end
local function over_rate(key, limit, window)
  local n = redis.call('INCR', key)
  if n == 1 then redis.call('EXPIRE', key, window) end
  if n > tonumber(limit) then return math.max(redis.call('TTL', key), 1) end
  return nil
end
local function viewers()
  local now = tonumber(ARGV[2])
  local total = 0
  local entries = redis.call('HGETALL', base .. 'presence')
  for i = 1, #entries, 2 do
    local count, expires = string.match(entries[i + 1], '^(%d+):(%d+)$')
    if tonumber(expires) > now then
      total = total + tonumber(count)
    else
      redis.call('HDEL', base .. 'presence', entries[i])
    end
  end
  return total
end
local RANK = {scheduled = 1, live = 2, ended = 3}
local function set_status(status)
  local current = redis.call('HGET', base .. 'state', 'status')
  if current and RANK[current] >= RANK[status] then return false end
  redis.call('HSET', base .. 'state', 'status', status)
  return true
end
-- Ended, or gone (its show was deleted): nothing may bring the room's keys back.
local function closed()
  local status = redis.call('HGET', base .. 'state', 'status')
  return not status or status == 'ended'
end
-- Once the show ended its room's keys expire together (`state` has a TTL only then): a key
-- written later (late chat, a join, a moderation) gets the time the room has left.
local function keep(name)
  local ttl = redis.call('PTTL', base .. 'state')
  if ttl > 0 then redis.call('PEXPIRE', base .. name, ttl) end
end
-- Every key of a room that lives as long as the room, beside `bought:<product id>` (one per
-- pinned product). Per-viewer data lives in these (`sids`: a subject's connections, `qv`:
-- question votes), so ending or deleting a show touches known keys only, never a keyspace scan.
-- `rl:*` and `slow:*` carry their own short TTL from the moment they are written.
local ROOM_KEYS = {'seq', 'epoch', 'log', 'state', 'pins', 'units', 'chat', 'msgid', 'q', 'qvotes',
  'qrank', 'qid', 'qv', 'presence', 'statslock', 'uniq', 'sids', 'bans', 'timeouts', 'blocked',
  'claims', 'dealgen', 'flushed'}
local function room_keys()
  local keys = {}
  for _, name in ipairs(ROOM_KEYS) do keys[#keys + 1] = base .. name end
  for _, pid in ipairs(redis.call('HKEYS', base .. 'pins')) do
    keys[#keys + 1] = base .. 'bought:' .. pid
  end
  return keys
end
-- A subject's connections: one field per subject, its sids separated by spaces.
local function sids_of(subject)
  local sids = {}
  for sid in string.gmatch(redis.call('HGET', base .. 'sids', subject) or '', '%S+') do
    sids[#sids + 1] = sid
  end
  return sids
end
local function set_sids(subject, sids)
  if #sids == 0 then
    redis.call('HDEL', base .. 'sids', subject)
  else
    redis.call('HSET', base .. 'sids', subject, table.concat(sids, ' '))
    keep('sids')
  end
end
"""

# ARGV: shop id, status, currency, started at, ended at, playback URL, TTL after the end.
# Opens a room from the show's record. Only what is missing is set: a room opened meanwhile (a
# viewer's join and a start racing) keeps its status, and a status change reaches its viewers
# as a frame from the transition itself, never silently from here.
_INIT = """
redis.call('HSETNX', base .. 'state', 'shop_id', ARGV[6])
redis.call('HSETNX', base .. 'state', 'currency', ARGV[8])
redis.call('HSETNX', base .. 'state', 'status', ARGV[7])
if ARGV[9] ~= '' then redis.call('HSETNX', base .. 'state', 'started_at_ms', ARGV[9]) end
if ARGV[10] ~= '' then redis.call('HSETNX', base .. 'state', 'ended_at_ms', ARGV[10]) end
if ARGV[11] ~= '' then redis.call('HSETNX', base .. 'state', 'playback_url', ARGV[11]) end
-- An ended show's room opened again (its keys had expired) expires again.
if redis.call('HGET', base .. 'state', 'status') == 'ended'
    and redis.call('TTL', base .. 'state') < 0 then
  redis.call('EXPIRE', base .. 'state', ARGV[12])
end
return redis.call('HMGET', base .. 'state', 'shop_id', 'status')
"""

_JOIN = """
local subject, sid, since = ARGV[6], ARGV[7], ARGV[8]
if banned(subject) then return {'banned'} end
redis.call('PFADD', base .. 'uniq', subject)
keep('uniq')
local sids = sids_of(subject)
if not string.find(' ' .. table.concat(sids, ' ') .. ' ', ' ' .. sid .. ' ', 1, true) then
  sids[#sids + 1] = sid
  set_sids(subject, sids)
end
local seq = tonumber(redis.call('GET', base .. 'seq') or '0')
local current = epoch()
local stale = 0
if since ~= '' then
  since = tonumber(since)
  -- A seq of another epoch names frames this server may never have had: a snapshot.
  if ARGV[13] ~= current then since = -1 end
  if since == seq then return {'replay', current, seq, {}} end
  if since >= 0 and since < seq then
    local first = redis.call('XRANGE', base .. 'log', '-', '+', 'COUNT', 1)
    -- A replay is bounded (ARGV[11] frames, ARGV[12] bytes); past that a snapshot is smaller.
    if #first > 0 and tonumber(string.match(first[1][1], '^(%d+)')) <= since + 1
        and seq - since <= tonumber(ARGV[11]) then
      local frames, bytes = {}, 0
      for _, entry in ipairs(redis.call('XRANGE', base .. 'log', (since + 1) .. '-0', '+')) do
        bytes = bytes + #entry[2][2]
        if bytes > tonumber(ARGV[12]) then frames = nil break end
        frames[#frames + 1] = entry[2][2]
      end
      if frames then return {'replay', current, seq, frames} end
    end
  end
  stale = 1
end
local qids = redis.call('ZREVRANGE', base .. 'qrank', 0, tonumber(ARGV[10]) - 1)
local questions, votes = {}, {}
if #qids > 0 then
  questions = redis.call('HMGET', base .. 'q', unpack(qids))
  votes = redis.call('HMGET', base .. 'qvotes', unpack(qids))
end
return {
  'snapshot', current, seq, stale,
  redis.call('HGETALL', base .. 'state'),
  redis.call('HGETALL', base .. 'pins'),
  redis.call('HGETALL', base .. 'units'),
  redis.call('LRANGE', base .. 'chat', 0, tonumber(ARGV[9]) - 1),
  questions, votes, viewers(),
  redis.call('HGET', base .. 'timeouts', subject) or false
}
"""

_LEAVE = """
local left = {}
for _, sid in ipairs(sids_of(ARGV[6])) do
  if sid ~= ARGV[7] then left[#left + 1] = sid end
end
set_sids(ARGV[6], left)
return 1
"""

# ARGV: subject, exempt, rate limit, rate window, kind (chat|ask), then the message's words.
_GATE = """
local subject, exempt = ARGV[6], ARGV[7]
if closed() then return {'closed'} end
if banned(subject) then return {'banned'} end
local untl = timed_out(subject)
if untl then return {'timed_out', untl} end
for i = 11, #ARGV do
  if redis.call('SISMEMBER', base .. 'blocked', ARGV[i]) == 1 then return {'blocked', ARGV[i]} end
end
if exempt == '0' then
  local wait = over_rate(base .. 'rl:' .. ARGV[10] .. ':' .. subject, ARGV[8], ARGV[9])
  if wait then return {'rate', wait} end
  if ARGV[10] == 'chat' then
    local slow = tonumber(redis.call('HGET', base .. 'state', 'slow_mode') or '0')
    if slow > 0 then
      local key = base .. 'slow:' .. subject
      if not redis.call('SET', key, '1', 'PX', slow * 1000, 'NX') then
        return {'slow', math.max(math.ceil(redis.call('PTTL', key) / 1000), 1)}
      end
    end
  end
end
if ARGV[10] == 'chat' then return {'ok', redis.call('INCR', base .. 'msgid')} end
local qid = redis.call('INCR', base .. 'qid')
local pinned = redis.call('HGET', base .. 'state', 'last_pin')
return {'ok', qid, pinned or false}
"""

# ARGV: question id, question JSON, score.
_ADD_QUESTION = """
redis.call('HSET', base .. 'q', ARGV[6], ARGV[7])
redis.call('HSET', base .. 'qvotes', ARGV[6], 0)
redis.call('ZADD', base .. 'qrank', ARGV[8], ARGV[6])
keep('q')
keep('qvotes')
keep('qrank')
return 1
"""

# ARGV: subject, question id.
_VOTE = """
local subject, qid = ARGV[6], ARGV[7]
if redis.call('HGET', base .. 'state', 'status') == 'ended' then return {'ended'} end
if banned(subject) then return {'banned'} end
local untl = timed_out(subject)
if untl then return {'timed_out', untl} end
if not redis.call('ZSCORE', base .. 'qrank', qid) then
  if redis.call('HEXISTS', base .. 'q', qid) == 1 then return {'closed'} end
  return {'missing'}
end
if redis.call('SADD', base .. 'qv', qid .. ':' .. subject) == 0 then
  return {'same', tonumber(redis.call('HGET', base .. 'qvotes', qid))}
end
local votes = redis.call('HINCRBY', base .. 'qvotes', qid, 1)
redis.call('ZADD', base .. 'qrank', votes * 4294967296 + (4294967295 - tonumber(qid)), qid)
return {'ok', votes}
"""

# ARGV: question id, events.
_CLOSE_QUESTION = """
if redis.call('HGET', base .. 'state', 'status') == 'ended' then return {'ended'} end
if redis.call('ZREM', base .. 'qrank', ARGV[6]) == 0 then
  if redis.call('HEXISTS', base .. 'q', ARGV[6]) == 1 then return {'closed'} end
  return {'missing'}
end
return {'ok', publish(ARGV[7]), redis.call('HGET', base .. 'q', ARGV[6]),
  tonumber(redis.call('HGET', base .. 'qvotes', ARGV[6]) or '0')}
"""

# ARGV: subject, count, rate limit, rate window.
_REACT = """
local subject = ARGV[6]
if closed() then return {'closed'} end
if banned(subject) then return {'banned'} end
local untl = timed_out(subject)
if untl then return {'timed_out', untl} end
local wait = over_rate(base .. 'rl:react:' .. subject, ARGV[8], ARGV[9])
if wait then return {'rate', wait} end
return {'ok', redis.call('HINCRBY', base .. 'state', 'hearts', ARGV[7])}
"""

# ARGV: product id, pin JSON, units ('' for no deal), events, max pins.
_PIN = """
local pid = ARGV[6]
if closed() then return {'closed'} end
if redis.call('HEXISTS', base .. 'pins', pid) == 0
    and redis.call('HLEN', base .. 'pins') >= tonumber(ARGV[10]) then
  return {'full'}
end
redis.call('HSET', base .. 'pins', pid, ARGV[7])
if ARGV[8] ~= '' then
  -- A new deal: fresh units and fresh per-buyer allowances.
  redis.call('HSET', base .. 'units', pid, ARGV[8])
else
  redis.call('HDEL', base .. 'units', pid)
end
-- Allowances belong to one deal (and `bought:<pid>` exists only for a pinned product).
redis.call('DEL', base .. 'bought:' .. pid)
redis.call('HSET', base .. 'state', 'last_pin', pid)
return {'ok', publish(ARGV[9])}
"""

# ARGV: product id, events.
_UNPIN = """
local pid = ARGV[6]
if redis.call('HGET', base .. 'state', 'status') == 'ended' then return {'ended'} end
if redis.call('HDEL', base .. 'pins', pid) == 0 then return {'missing'} end
redis.call('HDEL', base .. 'units', pid)
redis.call('DEL', base .. 'bought:' .. pid)
if redis.call('HGET', base .. 'state', 'last_pin') == pid then
  local left = redis.call('HKEYS', base .. 'pins')
  if #left > 0 then
    redis.call('HSET', base .. 'state', 'last_pin', left[#left])
  else
    redis.call('HDEL', base .. 'state', 'last_pin')
  end
end
return {'ok', publish(ARGV[7])}
"""

# ARGV: message id, events.
_DELETE_MESSAGE = """
local id = tonumber(ARGV[6])
if id > tonumber(redis.call('GET', base .. 'msgid') or '0') then return {'missing'} end
local prefix = '{"id":' .. ARGV[6] .. ','
for _, item in ipairs(redis.call('LRANGE', base .. 'chat', 0, -1)) do
  if string.sub(item, 1, #prefix) == prefix then
    redis.call('LREM', base .. 'chat', 1, item)
    break
  end
end
return {'ok', publish(ARGV[7])}
"""

# ARGV: subject, until (ms), events.
_TIMEOUT = """
redis.call('HSET', base .. 'timeouts', ARGV[6], ARGV[7])
keep('timeouts')
return {'ok', publish(ARGV[8])}
"""

# ARGV: subject, events.
_BAN = """
redis.call('SADD', base .. 'bans', ARGV[6])
keep('bans')
redis.call('HDEL', base .. 'timeouts', ARGV[6])
return {'ok', publish(ARGV[7]), sids_of(ARGV[6])}
"""

# ARGV: state field, value ('' deletes it), events.
_SET_STATE = """
if closed() then return {'closed'} end
if ARGV[7] == '' then
  redis.call('HDEL', base .. 'state', ARGV[6])
else
  redis.call('HSET', base .. 'state', ARGV[6], ARGV[7])
end
return {'ok', publish(ARGV[8])}
"""

# ARGV: the words.
_BLOCKED = """
redis.call('DEL', base .. 'blocked')
for i = 6, #ARGV do redis.call('SADD', base .. 'blocked', ARGV[i]) end
keep('blocked')
return 1
"""

# ARGV: status, timestamp field, timestamp, events, ttl after the end (seconds).
_STATUS = """
if not set_status(ARGV[6]) then return {'same'} end
redis.call('HSET', base .. 'state', ARGV[7], ARGV[8])
local seq = publish(ARGV[9])
if ARGV[6] == 'ended' then
  -- After the final frame, on the same channel: every node empties the room in that order.
  redis.call('PUBLISH', ARGV[4], '{"method":"close_room","room":"' .. ARGV[5]
    .. '","namespace":"/","host_id":"room"}')
  for _, key in ipairs(room_keys()) do redis.call('EXPIRE', key, ARGV[10]) end
end
return {'ok', seq}
"""

# ARGV: node id, frame number, recent chat to keep, how many chat messages follow, the messages,
# events (a JSON array body, maybe empty), whether hearts changed ('1'/'0'), the deal product ids,
# then the question ids whose votes changed. Counts are read here, at publish time, so frames
# from several nodes never carry an older count after a newer one. A node numbers its frames and
# retries a failed one with the same number: `flushed` keeps the last number applied per node, so
# a frame that was applied although its answer was lost is not applied twice. Returns the seq,
# or 0 (nothing to publish, already applied, or the room is gone).
_FLUSH = """
-- A room that is gone (its show was deleted) is not brought back by late chat.
if redis.call('EXISTS', base .. 'state') == 0 then return 0 end
local number = tonumber(ARGV[7])
if number > 0 and tonumber(redis.call('HGET', base .. 'flushed', ARGV[6]) or '0') >= number then
  return 0
end
local n = tonumber(ARGV[9])
for i = 10, 9 + n do redis.call('LPUSH', base .. 'chat', ARGV[i]) end
if n > 0 then
  redis.call('LTRIM', base .. 'chat', 0, tonumber(ARGV[8]) - 1)
  keep('chat')
end
local parts = {}
if ARGV[10 + n] ~= '' then parts[#parts + 1] = ARGV[10 + n] end
if ARGV[11 + n] == '1' then
  parts[#parts + 1] = '{"type":"reactions","hearts":'
    .. (redis.call('HGET', base .. 'state', 'hearts') or '0') .. '}'
end
for pid in string.gmatch(ARGV[12 + n], '%d+') do
  local left = redis.call('HGET', base .. 'units', pid)
  if left then
    parts[#parts + 1] = '{"type":"units","product_id":' .. pid .. ',"units_left":' .. left .. '}'
  end
end
for i = 13 + n, #ARGV do
  local votes = redis.call('HGET', base .. 'qvotes', ARGV[i])
  if votes then
    parts[#parts + 1] = '{"type":"question.votes","id":' .. ARGV[i] .. ',"votes":' .. votes .. '}'
  end
end
local seq = 0
if #parts > 0 then seq = publish('[' .. table.concat(parts, ',') .. ']') end
-- Last, so a frame whose script failed half way is applied again when retried.
if number > 0 then
  redis.call('HSET', base .. 'flushed', ARGV[6], number)
  keep('flushed')
end
return seq
"""

_DROP = (Path(__file__).parent / "drop.lua").read_text()

# Flash-deal units, gated per checkout. A checkout's take is a *claim* (one per idempotency key):
# `claims` maps its id to {"s": subject, "l": [[product id, deal id, quantity], ...], "t": ms}.
# A claim is settled (dropped, units stay taken) once the order is in the database, or released
# (units and allowances given back) when the checkout fails; a crash leaves it for the reconciler.
_DEAL = """
local function running_deal(pid, deal_id)
  local raw = redis.call('HGET', base .. 'pins', pid)
  if not raw then return nil end
  local deal = cjson.decode(raw)['deal']
  if deal == nil or deal == cjson.null then return nil end
  if deal_id ~= nil and tonumber(deal['id']) ~= tonumber(deal_id) then return nil end
  return deal
end
-- Any change to a show's claims or deal counters bumps `dealgen`: the reconciler recounts only
-- what stayed still while it read the database.
local function changed()
  redis.call('INCR', base .. 'dealgen')
  keep('dealgen')
end
local function give_back(subject, lines)
  changed()
  for _, line in ipairs(lines) do
    local pid, deal_id, qty = tostring(line[1]), line[2], tonumber(line[3])
    if running_deal(pid, deal_id) and redis.call('HEXISTS', base .. 'units', pid) == 1 then
      redis.call('HINCRBY', base .. 'units', pid, qty)
      local key = base .. 'bought:' .. pid
      if tonumber(redis.call('HINCRBY', key, subject, -qty)) <= 0 then
        redis.call('HDEL', key, subject)
      end
      keep('bought:' .. pid)
    end
  end
end
"""

# ARGV: claim id, buyer subject, lines JSON. All or nothing: every line's deal must be running,
# have the units and leave the buyer within its per-buyer limit, or nothing is taken. Taking the
# same claim again (a retried checkout) takes nothing more. The frame that empties a deal
# announces `sold_out` at once.
_TAKE_DEALS = (
    _DEAL
    + """
local claim, subject, lines = ARGV[6], ARGV[7], cjson.decode(ARGV[8])
if redis.call('HEXISTS', base .. 'claims', claim) == 1 then return {'held', 0} end
if redis.call('HGET', base .. 'state', 'status') == 'ended' then return {'ended', 0} end
for _, line in ipairs(lines) do
  local pid, qty = tostring(line[1]), tonumber(line[3])
  local deal = running_deal(pid, line[2])
  if deal == nil then return {'no_deal', pid} end
  if tonumber(deal['closes_at_ms'] or deal['ends_at_ms']) <= tonumber(ARGV[2]) then
    return {'expired', pid}
  end
  if tonumber(redis.call('HGET', base .. 'units', pid) or '0') < qty then
    return {'sold_out', pid}
  end
  local bought = tonumber(redis.call('HGET', base .. 'bought:' .. pid, subject) or '0')
  if bought + qty > tonumber(deal['per_buyer']) then return {'limit', pid} end
end
changed()
local gone = {}
for _, line in ipairs(lines) do
  local pid, qty = tostring(line[1]), tonumber(line[3])
  if redis.call('HINCRBY', base .. 'units', pid, -qty) == 0 then
    gone[#gone + 1] = '{"type":"sold_out","product_id":' .. pid .. '}'
  end
  redis.call('HINCRBY', base .. 'bought:' .. pid, subject, qty)
end
redis.call('HSET', base .. 'claims', claim, cjson.encode({s = subject, l = lines,
  t = tonumber(ARGV[2])}))
if #gone > 0 then publish('[' .. table.concat(gone, ',') .. ']') end
return {'ok', 0}
"""
)

# ARGV: buyer subject. What a buyer's cart depends on in the room, read in one call: the status
# ('' when the room is not open), the pins, the deals' units left, whether the buyer is banned,
# and the buyer's deal units per pinned product (in the pins' order).
_SHOPPING = """
local subject = ARGV[6]
local pins = redis.call('HGETALL', base .. 'pins')
local bought = {}
for i = 1, #pins, 2 do
  bought[#bought + 1] = redis.call('HGET', base .. 'bought:' .. pins[i], subject) or '0'
end
return {redis.call('HGET', base .. 'state', 'status') or '', pins,
  redis.call('HGETALL', base .. 'units'), redis.call('SISMEMBER', base .. 'bans', subject), bought}
"""

# ARGV: claim id. The order is in the database: the claim goes, its units stay taken.
_SETTLE_CLAIM = (
    _DEAL
    + """
if redis.call('HDEL', base .. 'claims', ARGV[6]) == 1 then changed() end
return {'ok'}
"""
)

# ARGV: claim id. Gives a failed checkout's units back, once.
_RELEASE_CLAIM = (
    _DEAL
    + """
local raw = redis.call('HGET', base .. 'claims', ARGV[6])
if not raw then return {'none'} end
redis.call('HDEL', base .. 'claims', ARGV[6])
local claim = cjson.decode(raw)
give_back(claim['s'], claim['l'])
return {'ok'}
"""
)

# ARGV: buyer subject, lines JSON. Gives a cancelled order's units back to the deal it came from
# (a deal replaced since then has its own counter, so nothing is returned to it).
_RETURN_UNITS = (
    _DEAL
    + """
give_back(ARGV[6], cjson.decode(ARGV[7]))
return {'ok'}
"""
)

# ARGV: product id, deal id, generation, units left, held JSON ({subject: units}). Sets a
# running deal's counters to what the reconciler computed (the database's figures less the
# claims still pending), unless the show's claims or counters changed since it read them.
_RECOUNT = (
    _DEAL
    + """
local pid = ARGV[6]
if running_deal(pid, ARGV[7]) == nil then return {'no_deal', 0, 0} end
if tonumber(redis.call('GET', base .. 'dealgen') or '0') ~= tonumber(ARGV[8]) then
  return {'busy', 0, 0}
end
local left = math.max(tonumber(ARGV[9]), 0)
local before = tonumber(redis.call('HGET', base .. 'units', pid) or '0')
redis.call('HSET', base .. 'units', pid, left)
local key = base .. 'bought:' .. pid
redis.call('DEL', key)
for subject, qty in pairs(cjson.decode(ARGV[10])) do
  if qty > 0 then redis.call('HSET', key, subject, qty) end
end
keep('bought:' .. pid)
return {'ok', left, before}
"""
)

# ARGV: node id, local viewer count, entry lifetime (ms), stats interval (ms).
_PRESENCE = """
if redis.call('EXISTS', base .. 'state') == 0 then return {'skip'} end
local now = tonumber(ARGV[2])
if tonumber(ARGV[7]) > 0 then
  redis.call('HSET', base .. 'presence', ARGV[6], ARGV[7] .. ':' .. (now + tonumber(ARGV[8])))
  keep('presence')
else
  redis.call('HDEL', base .. 'presence', ARGV[6])
end
if not redis.call('SET', base .. 'statslock', ARGV[6], 'PX', ARGV[9], 'NX') then
  return {'skip'}
end
if redis.call('HGET', base .. 'state', 'status') == 'ended' then return {'skip'} end
local total = viewers()
local peak = tonumber(redis.call('HGET', base .. 'state', 'peak') or '0')
if total > peak then
  peak = total
  redis.call('HSET', base .. 'state', 'peak', peak)
end
local stats = '{"type":"stats","viewers":' .. total .. ',"peak":' .. peak .. ',"unique":'
  .. redis.call('PFCOUNT', base .. 'uniq') .. ',"hearts":'
  .. (redis.call('HGET', base .. 'state', 'hearts') or '0') .. '}'
if redis.call('HGET', base .. 'state', 'last_stats') == stats then return {'same'} end
redis.call('HSET', base .. 'state', 'last_stats', stats)
return {'ok', publish('[' .. stats .. ']')}
"""


def now_ms() -> int:
    return int(time.time() * 1000)


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def room_name(show_id: int) -> str:
    return f"show:{show_id}"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a script answered: a status word and its values."""

    status: str
    values: tuple[Any, ...]

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass(frozen=True, slots=True)
class Snapshot:
    epoch: str
    seq: int
    stale: bool
    state: dict[str, str]
    pins: list[dict[str, Any]]
    units: dict[str, int]
    chat: list[dict[str, Any]]
    questions: list[dict[str, Any]]
    viewers: int
    timed_out_until_ms: int | None


@dataclass(frozen=True, slots=True)
class Replay:
    epoch: str
    seq: int
    frames: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Shopping:
    status: str | None  # None: the room is not open in Redis (yet)
    pinned: list[int]
    deals: dict[int, dict[str, Any]]  # running deals by product id
    banned: bool


class RoomStore:
    def __init__(
        self, redis: Redis, prefix: str, channel: str, replay_frames: int, ended_ttl: int = 86400
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._channel = channel
        self._replay = replay_frames
        self._ended_ttl = ended_ttl
        self._replay_max_frames = min(replay_frames, REPLAY_MAX_FRAMES)

        def script(body: str) -> AsyncScript:
            return redis.register_script(_PRELUDE + body)

        self._init = script(_INIT)
        self._join = script(_JOIN)
        self._leave = script(_LEAVE)
        self._gate = script(_GATE)
        self._add_question = script(_ADD_QUESTION)
        self._vote = script(_VOTE)
        self._close_question = script(_CLOSE_QUESTION)
        self._react = script(_REACT)
        self._pin = script(_PIN)
        self._unpin = script(_UNPIN)
        self._delete_message = script(_DELETE_MESSAGE)
        self._timeout = script(_TIMEOUT)
        self._ban = script(_BAN)
        self._set_state = script(_SET_STATE)
        self._blocked = script(_BLOCKED)
        self._status = script(_STATUS)
        self._drop = script(_DROP)
        self._flush = script(_FLUSH)
        self._presence = script(_PRESENCE)
        self._take_deals = script(_TAKE_DEALS)
        self._release_claim = script(_RELEASE_CLAIM)
        self._settle_claim = script(_SETTLE_CLAIM)
        self._return_units = script(_RETURN_UNITS)
        self._recount = script(_RECOUNT)
        self._shopping = script(_SHOPPING)

    @property
    def channel(self) -> str:
        return self._channel

    def _base(self, show_id: int) -> str:
        return f"{self._prefix}show:{{{show_id}}}:"

    def _args(self, show_id: int, *rest: object) -> list[Any]:
        return [
            show_id,
            now_ms(),
            self._replay,
            self._channel,
            room_name(show_id),
            *rest,
        ]

    async def _run(
        self, script: AsyncScript, show_id: int, *args: object, client: Any = None
    ) -> Any:
        return await script(
            keys=[self._base(show_id)], args=self._args(show_id, *args), client=client
        )

    async def _outcome(self, script: AsyncScript, show_id: int, *args: object) -> Outcome:
        raw = await self._run(script, show_id, *args)
        return Outcome(str(raw[0]), tuple(raw[1:]))

    # Room set-up and membership.

    async def init(
        self,
        show_id: int,
        shop_id: int,
        status: str,
        currency: str,
        started_at_ms: int | None,
        ended_at_ms: int | None,
        playback_url: str | None = None,
    ) -> tuple[int, str]:
        shop, current = await self._run(
            self._init,
            show_id,
            shop_id,
            status,
            currency,
            "" if started_at_ms is None else started_at_ms,
            "" if ended_at_ms is None else ended_at_ms,
            playback_url or "",
            self._ended_ttl,
        )
        return int(shop), str(current)

    async def shop_and_status(self, show_id: int) -> tuple[int, str] | None:
        shop, status = await self._redis.hmget(self._base(show_id) + "state", ["shop_id", "status"])
        if shop is None or status is None:
            return None
        return int(shop), str(status)

    async def join(
        self, show_id: int, subject: str, sid: str, since: int | None, epoch: str | None = None
    ) -> Snapshot | Replay | None:
        """A snapshot, or the frames after `since` of `epoch` (a `since` of another epoch
        gets a snapshot); None when the subject is banned."""
        raw = await self._run(
            self._join,
            show_id,
            subject,
            sid,
            "" if since is None else since,
            RECENT_CHAT,
            TOP_QUESTIONS,
            self._replay_max_frames,
            REPLAY_MAX_BYTES,
            epoch or "",
        )
        kind = raw[0]
        if kind == "banned":
            return None
        if kind == "replay":
            return Replay(str(raw[1]), int(raw[2]), [json.loads(f) for f in raw[3]])
        _, current, seq, stale, state, pins, units, chat, questions, votes, viewers, timeout = raw
        state_map = _pairs(state)
        ranked = []
        for q_json, n in zip(questions, votes, strict=True):
            if q_json is not None:
                ranked.append({**json.loads(q_json), "votes": int(n or 0)})
        pin_list = sorted(
            (json.loads(v) for v in _pairs(pins).values()), key=lambda p: p["pinned_at_ms"]
        )
        return Snapshot(
            epoch=str(current),
            seq=int(seq),
            stale=bool(stale),
            state=state_map,
            pins=pin_list[:MAX_PINS],
            units={k: int(v) for k, v in _pairs(units).items()},
            chat=[json.loads(c) for c in reversed(chat)],
            questions=ranked,
            viewers=int(viewers),
            timed_out_until_ms=int(timeout) if timeout else None,
        )

    async def leave(self, show_id: int, subject: str, sid: str) -> None:
        await self._run(self._leave, show_id, subject, sid)

    # Viewer actions.

    async def gate(
        self,
        show_id: int,
        subject: str,
        exempt: bool,
        limit: tuple[int, int],
        kind: str,
        words: list[str],
    ) -> Outcome:
        return await self._outcome(
            self._gate, show_id, subject, int(exempt), limit[0], limit[1], kind, *words
        )

    async def add_question(self, show_id: int, question: dict[str, Any], score: float) -> None:
        await self._run(self._add_question, show_id, question["id"], dumps(question), score)

    async def vote(self, show_id: int, subject: str, question_id: int) -> Outcome:
        return await self._outcome(self._vote, show_id, subject, question_id)

    async def react(
        self, show_id: int, subject: str, count: int, limit: tuple[int, int]
    ) -> Outcome:
        return await self._outcome(self._react, show_id, subject, count, limit[0], limit[1])

    async def flush(
        self,
        show_id: int,
        chat: list[str],
        events: list[str],
        hearts: bool,
        question_ids: list[int],
        client: Any = None,
        units: list[int] | None = None,
        number: tuple[str, int] = ("", 0),
    ) -> Any:
        """Publish one coalesced frame (and keep its chat messages as recent chat). Counts
        (hearts, votes, deal units left) are read when the frame is published. `number` (node
        id, frame number) makes a retried frame apply once; its default applies every time."""
        return await self._run(
            self._flush,
            show_id,
            *number,
            RECENT_CHAT,
            len(chat),
            *chat,
            ",".join(events),
            "1" if hearts else "0",
            ",".join(map(str, units or [])),
            *question_ids,
            client=client,
        )

    async def frames(self, show_id: int, first: int, last: int) -> list[dict[str, Any]]:
        """Frames first..last from the show's log (those still kept)."""
        entries = await self._redis.xrange(self._base(show_id) + "log", f"{first}-0", f"{last}-0")
        return [json.loads(str(fields["f"])) for _, fields in entries or [] if fields]

    async def latest(self, show_id: int) -> dict[str, Any] | None:
        """The show's newest frame, if its log has one."""
        entries = await self._redis.xrevrange(self._base(show_id) + "log", count=1)
        for _, fields in entries or []:
            if fields:
                return dict(json.loads(str(fields["f"])))
        return None

    async def drop(self, show_id: int) -> None:
        """Forget a show's room entirely (the show was deleted)."""
        await self._run(self._drop, show_id)

    def pipeline(self) -> Any:
        return self._redis.pipeline(transaction=False)

    async def presence(
        self, show_id: int, node: str, count: int, lifetime_ms: int, interval_ms: int
    ) -> Outcome:
        return await self._outcome(self._presence, show_id, node, count, lifetime_ms, interval_ms)

    # Staff actions: each publishes its frame at once.

    async def close_question(self, show_id: int, question_id: int, events: str) -> Outcome:
        return await self._outcome(self._close_question, show_id, question_id, events)

    async def pin(
        self, show_id: int, product_id: int, pin: dict[str, Any], units: int | None, events: str
    ) -> Outcome:
        return await self._outcome(
            self._pin,
            show_id,
            product_id,
            dumps(pin),
            "" if units is None else units,
            events,
            MAX_PINS,
        )

    async def unpin(self, show_id: int, product_id: int, events: str) -> Outcome:
        return await self._outcome(self._unpin, show_id, product_id, events)

    async def delete_message(self, show_id: int, message_id: int, events: str) -> Outcome:
        return await self._outcome(self._delete_message, show_id, message_id, events)

    async def timeout(self, show_id: int, subject: str, until_ms: int, events: str) -> Outcome:
        return await self._outcome(self._timeout, show_id, subject, until_ms, events)

    async def ban(self, show_id: int, subject: str, events: str) -> Outcome:
        return await self._outcome(self._ban, show_id, subject, events)

    # Flash-deal units (see the scripts above).

    async def take_deals(
        self, show_id: int, claim: str, subject: str, lines: list[tuple[int, int, int]]
    ) -> Outcome:
        """ok or held (taken), else sold_out, limit, expired or no_deal with the product id,
        or ended."""
        return await self._outcome(self._take_deals, show_id, claim, subject, dumps(lines))

    async def settle_claim(self, show_id: int, claim: str) -> None:
        await self._run(self._settle_claim, show_id, claim)

    async def release_claim(self, show_id: int, claim: str) -> bool:
        return (await self._outcome(self._release_claim, show_id, claim)).ok

    async def return_units(
        self, show_id: int, subject: str, lines: list[tuple[int, int, int]]
    ) -> None:
        await self._run(self._return_units, show_id, subject, dumps(lines))

    async def claims(self, show_id: int) -> tuple[int, dict[str, dict[str, Any]]]:
        """The show's deal generation and its pending claims, read together."""
        base = self._base(show_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.get(base + "dealgen")
            pipe.hgetall(base + "claims")
            gen, raw = await pipe.execute()
        return int(gen or 0), {str(k): json.loads(v) for k, v in raw.items()}

    async def claim(self, show_id: int, claim: str) -> dict[str, Any] | None:
        raw = await self._redis.hget(self._base(show_id) + "claims", claim)
        return None if raw is None else dict(json.loads(raw))

    async def recount(
        self,
        show_id: int,
        product_id: int,
        deal_id: int,
        generation: int,
        left: int,
        held: dict[str, int],
    ) -> Outcome:
        """ok (units left, units before), busy (the show's deals changed meanwhile) or
        no_deal."""
        return await self._outcome(
            self._recount, show_id, product_id, deal_id, generation, left, dumps(held)
        )

    async def shopping(self, show_id: int, subject: str) -> Shopping:
        """What a buyer's cart depends on in the room, in one round trip: the status, the
        pinned products, running deals (units left, this buyer's units) and whether they are
        banned."""
        status, pins_flat, units_flat, banned, bought = await self._run(
            self._shopping, show_id, subject
        )
        pins, units = _pairs(pins_flat), _pairs(units_flat)
        deals: dict[int, dict[str, Any]] = {}
        now = now_ms()
        for (pid, raw), held in zip(pins.items(), bought, strict=True):
            deal = json.loads(raw).get("deal")
            if deal is not None and deal.get("closes_at_ms", deal["ends_at_ms"]) > now:
                deals[int(pid)] = {
                    **deal,
                    "units_left": int(units.get(pid, 0)),
                    "bought": int(held),
                }
        return Shopping(str(status) or None, [int(pid) for pid in pins], deals, bool(banned))

    async def totals(self, show_id: int) -> dict[str, int]:
        base = self._base(show_id)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hmget(base + "state", ["peak", "hearts"])
            pipe.pfcount(base + "uniq")
            pipe.zcard(base + "qrank")
            (peak, hearts), unique, open_questions = await pipe.execute()
        return {
            "peak_viewers": int(peak or 0),
            "unique_viewers": int(unique),
            "hearts": int(hearts or 0),
            "open_questions": int(open_questions),
        }

    async def set_state(self, show_id: int, field: str, value: str, events: str) -> Outcome:
        return await self._outcome(self._set_state, show_id, field, value, events)

    async def set_blocked(self, show_id: int, words: list[str]) -> None:
        await self._run(self._blocked, show_id, *words)

    async def blocked(self, show_id: int) -> list[str]:
        words = await self._redis.smembers(self._base(show_id) + "blocked")
        return sorted(str(w) for w in words)

    async def status(
        self, show_id: int, status: str, field: str, at_ms: int, events: str
    ) -> Outcome:
        return await self._outcome(
            self._status, show_id, status, field, at_ms, events, self._ended_ttl
        )


def _pairs(flat: list[Any]) -> dict[str, Any]:
    return {str(flat[i]): flat[i + 1] for i in range(0, len(flat), 2)}
