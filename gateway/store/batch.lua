-- One group of store operations (one hash tag), checked then committed atomically.
-- Semantics: gateway/store/base.py. Encoding: gateway/store/redis.py (_encode, _undo_records).
--
-- ARGV[1] mode: "run" | "undo"; ARGV[2] now_ms (the caller's clock, never Redis TIME);
-- ARGV[3] the batch nonce; then one record per operation, keys given as indexes into KEYS:
--   run:  L|G key limit window cost enforce dedupe_key(0 = none) dedupe_ttl   Quota (log | gcra)
--         O key ttl enforce                                                  Once
--         R key                                                              Read
--         W key ttl raw                    Write (raw = "<expires_at|0>:<value>")
--   undo: Z key index cost   remove the hits a committed log quota added
--         T key delta        take a committed GCRA increment back
--         D key              delete a Once / dedupe stamp this batch created
--         S key raw prior prior_pttl   restore what a Write replaced (prior "" = none)
-- run returns five values per operation: allowed, remaining, retry_after_ms, counted, value
-- (Read: the raw value or ""; Write: the replaced raw value, with its PTTL as "remaining").

local mode, now, nonce = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local EPS = 1e-3  -- sub-millisecond: at epoch scale a double keeps only ~0.0002 ms of fraction

local function member(index, n)
  return ARGV[2] .. ':' .. nonce .. ':' .. index .. ':' .. n
end

local function stamp(ttl)
  return string.format('%d:%s', now + ttl, nonce)
end

if mode == 'undo' then
  local suffix = ':' .. nonce
  local i = 4
  while i <= #ARGV do
    local kind, k = ARGV[i], KEYS[tonumber(ARGV[i + 1])]
    if kind == 'Z' then
      local index, cost = tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3])
      for n = 1, cost do redis.call('ZREM', k, member(index, n)) end
      i = i + 4
    elseif kind == 'T' then
      local tat = tonumber(redis.call('GET', k) or '')
      if tat then
        tat = tat - tonumber(ARGV[i + 2])
        if tat <= now then
          redis.call('DEL', k)
        else
          redis.call('SET', k, string.format('%.17g', tat), 'PX', math.ceil(tat - now))
        end
      end
      i = i + 3
    elseif kind == 'D' then
      local v = redis.call('GET', k)
      if v and string.sub(v, -#suffix) == suffix then redis.call('DEL', k) end
      i = i + 2
    else -- 'S'
      if redis.call('GET', k) == ARGV[i + 2] then
        local prior, pttl = ARGV[i + 3], tonumber(ARGV[i + 4])
        if prior == '' then
          redis.call('DEL', k)
        elseif pttl > 0 then
          redis.call('SET', k, prior, 'PX', pttl)
        else
          redis.call('SET', k, prior)
        end
      end
      i = i + 5
    end
  end
  return 1
end

-- Tentative effects of the earlier allowed operations of this batch, so that two operations
-- on one key see each other (as in the memory backend).
local added, tats, stamps = {}, {}, {}

-- The expiry of a live stamp ("<expires_at>:<nonce>") by the caller's clock, or false.
local function alive(k)
  if stamps[k] then return stamps[k] end
  local v = redis.call('GET', k)
  if not v then return false end
  local exp = tonumber(string.match(v, '^(%-?%d+):'))
  if exp and exp > now then return exp end
  return false
end

local function check_log(op)
  redis.call('ZREMRANGEBYSCORE', op.key, '-inf', now - op.window)
  local stored = redis.call('ZCARD', op.key)
  local used = stored + (added[op.key] or 0)
  op.left_before = op.limit - used
  op.left_after = op.limit - used - op.cost
  if used + op.cost <= op.limit then return true, 0 end
  -- Denied: wait until the k-th oldest hit leaves the window (a hit of this batch: a full window).
  local k = used + op.cost - op.limit
  if op.cost > op.limit or k > stored then return false, op.window end
  local hit = redis.call('ZRANGE', op.key, k - 1, k - 1, 'WITHSCORES')
  return false, math.max(tonumber(hit[2]) + op.window - now, 1)
end

local function check_gcra(op)
  local interval = op.window / op.limit
  local tat = tats[op.key] or tonumber(redis.call('GET', op.key) or '') or now
  tat = math.max(tat, now)
  op.new_tat = tat + op.cost * interval
  op.left_before = math.floor((op.window - (tat - now)) / interval + EPS)
  op.left_after = math.floor((op.window - (op.new_tat - now)) / interval + EPS)
  local wait = op.new_tat - op.window - now
  if wait <= EPS then return true, 0 end
  return false, math.ceil(wait - EPS)
end

local ops, denied = {}, false
local i = 4
while i <= #ARGV do
  local op = {kind = ARGV[i], key = KEYS[tonumber(ARGV[i + 1])], index = #ops + 1, ok = true, retry = 0}
  ops[op.index] = op
  if op.kind == 'L' or op.kind == 'G' then
    op.limit, op.window, op.cost = tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3]), tonumber(ARGV[i + 4])
    op.enforce = ARGV[i + 5] == '1'
    local d = tonumber(ARGV[i + 6])
    if d > 0 then op.dedupe, op.dedupe_ttl = KEYS[d], tonumber(ARGV[i + 7]) end
    i = i + 8
    if op.kind == 'L' then op.ok, op.retry = check_log(op) else op.ok, op.retry = check_gcra(op) end
    if op.dedupe and alive(op.dedupe) then
      op.ok, op.retry, op.pass = true, 0, true
    elseif op.ok then
      op.counts = true
      if op.kind == 'L' then added[op.key] = (added[op.key] or 0) + op.cost else tats[op.key] = op.new_tat end
      if op.dedupe then stamps[op.dedupe] = now + op.dedupe_ttl end
    end
  elseif op.kind == 'O' then
    op.ttl, op.enforce = tonumber(ARGV[i + 2]), ARGV[i + 3] == '1'
    i = i + 4
    local exp = alive(op.key)
    if exp then
      op.ok, op.retry = false, exp - now
    else
      op.counts = true
      stamps[op.key] = now + op.ttl
    end
  elseif op.kind == 'R' then
    op.value = redis.call('GET', op.key) or ''
    i = i + 2
  else -- 'W'
    op.ttl, op.raw, op.counts = tonumber(ARGV[i + 2]), ARGV[i + 3], true
    op.value = redis.call('GET', op.key) or ''
    op.left_before = redis.call('PTTL', op.key)
    i = i + 4
  end
  if not op.ok and op.enforce then denied = true end
end

local out = {}
for _, op in ipairs(ops) do
  local counted = op.counts and not denied
  if counted then
    if op.kind == 'L' then
      local zargs = {}
      for n = 1, op.cost do
        zargs[#zargs + 1] = now
        zargs[#zargs + 1] = member(op.index, n)
      end
      redis.call('ZADD', op.key, unpack(zargs))
      redis.call('PEXPIRE', op.key, op.window)
    elseif op.kind == 'G' then
      redis.call('SET', op.key, string.format('%.17g', op.new_tat), 'PX', math.ceil(op.new_tat - now))
    elseif op.kind == 'O' then
      redis.call('SET', op.key, stamp(op.ttl), 'PX', op.ttl)
    elseif op.ttl > 0 then
      redis.call('SET', op.key, op.raw, 'PX', op.ttl)
    else
      redis.call('SET', op.key, op.raw)
    end
    if op.dedupe then redis.call('SET', op.dedupe, stamp(op.dedupe_ttl), 'PX', op.dedupe_ttl) end
  end
  local left = (counted and op.left_after) or op.left_before or 0
  out[#out + 1] = op.ok and 1 or 0
  out[#out + 1] = math.max(left, 0)
  out[#out + 1] = op.retry
  out[#out + 1] = counted and 1 or 0
  out[#out + 1] = op.value or ''
end
return out
