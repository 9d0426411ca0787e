-- Requests for one bench scenario. Arguments (after --): scenario accounts prefix [delay_ms] [threads]
--   open       opens accounts <prefix>0 .. <prefix>(accounts-1), each once (seeding)
--   fund       deposits 1 000 000 000 into each of them, once (seeding)
--   deposits   deposits spread uniformly over the accounts
--   hotspot    80% of deposits on the first 100 accounts
--   transfers  transfers of 1 between two different random accounts
--   mixed      75% GET /v1/accounts/:id, 25% deposits
--   references deposits spread uniformly, each with a free-text reference (personal data: sealed)
--   refusals   deposits to <prefix>0 .. <prefix>(accounts-1), accounts that do not exist, each once with an
--              Idempotency-Key of its own: each refusal is stored under its key (answered 404)
--   soak       60% GET /v1/accounts/:id, 25% deposits, 10% withdrawals, 5% transfers, each command with a
--              correlation id of its own (soak-<kind>-<run>-<thread>-<n>) and the same Idempotency-Key;
--              with an ack_dir (7th argument), each 2xx command's correlation id is written to
--              <ack_dir>/acks-<run>-<thread>.log, so an audit can find every acknowledged command
-- delay_ms > 0 paces each connection (a pause before every request), for runs below saturation. wrk's
-- timers count whole milliseconds, so a fractional delay is dithered: 3.3 is 3 seven times in ten, else 4.
-- Non-2xx answers are counted by wrk itself as errors.status, and reported.

local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end

local scenario, accounts, prefix, pause, threads, next_id, run_id, acks, sent, note_ack
local json_headers = { ["Content-Type"] = "application/json" }

function init(args)
  scenario = args[1]
  accounts = tonumber(args[2])
  prefix = args[3]
  pause = tonumber(args[4] or "0")
  threads = tonumber(args[5] or "1")
  -- wrk calls request() once on the first thread before the run, to check the script, and never sends
  -- it: that thread starts one step early so the request thrown away is not an account's.
  next_id = tid - 1
  if tid == 1 then
    next_id = next_id - threads
  end
  math.randomseed(os.time() * 1000 + tid)
  run_id = args[6] or "0"
  sent = 0
  if args[7] then
    acks = io.open(args[7] .. "/acks-" .. run_id .. "-" .. tid .. ".log", "a")
    acks:setvbuf("full")
    response = note_ack
  end
end

-- Set as wrk's response() only when acks are written: wrk reads no answer into Lua unless asked to.
note_ack = function(status, headers)
  if status < 300 then
    local id = headers["X-Correlation-Id"] or headers["x-correlation-id"]
    if id and string.sub(id, 1, 5) == "soak-" then
      acks:write(id, "\n")
    end
  end
end

local function account()
  if scenario == "hotspot" and math.random() < 0.8 then
    return prefix .. math.random(0, 99)
  end
  return prefix .. math.random(0, accounts - 1)
end

local function deposit()
  local body = '{"amount":' .. math.random(1, 1000) .. '}'
  return wrk.format("POST", "/v1/accounts/" .. account() .. "/deposits", json_headers, body)
end

-- A command of the soak: its correlation id says its kind, and is its Idempotency-Key too.
local function soak_command(kind, path, body)
  sent = sent + 1
  local id = "soak-" .. kind .. "-" .. run_id .. "-" .. tid .. "-" .. sent
  local headers = {
    ["Content-Type"] = "application/json",
    ["X-Correlation-Id"] = id,
    ["Idempotency-Key"] = id,
  }
  return wrk.format("POST", path, headers, body)
end

local function soak()
  local r = math.random()
  if r < 0.60 then
    return wrk.format("GET", "/v1/accounts/" .. account())
  elseif r < 0.85 then
    return soak_command("d", "/v1/accounts/" .. account() .. "/deposits", '{"amount":' .. math.random(1, 1000) .. '}')
  elseif r < 0.95 then
    return soak_command("w", "/v1/accounts/" .. account() .. "/withdrawals", '{"amount":' .. math.random(1, 1000) .. '}')
  end
  local from, to = account(), account()
  while to == from do
    to = account()
  end
  return soak_command("t", "/v1/transfers", '{"from":"' .. from .. '","to":"' .. to .. '","amount":' .. math.random(1, 100) .. '}')
end

-- Seeding: thread t takes ids t-1, t-1+threads, ...; when they run out its connections idle until the
-- runner ends wrk (wrk.thread:stop() would drop requests already made but not yet written).
local exhausted = false
local function sequential()
  local id = next_id
  if id >= accounts then
    exhausted = true
    return nil
  end
  next_id = next_id + threads
  if id < 0 then
    return nil
  end
  return prefix .. id
end

function request()
  if scenario == "open" or scenario == "fund" or scenario == "refusals" then
    local id = sequential()
    if not id then
      -- Nothing to do (or the check call): a request that changes nothing.
      return wrk.format("GET", "/healthz")
    elseif scenario == "refusals" then
      local headers = { ["Content-Type"] = "application/json", ["Idempotency-Key"] = "refusal-" .. id }
      return wrk.format("POST", "/v1/accounts/" .. id .. "/deposits", headers, '{"amount":1}')
    elseif scenario == "open" then
      local body = '{"accountId":"' .. id .. '","owner":"bench","currency":"EUR"}'
      return wrk.format("POST", "/v1/accounts", json_headers, body)
    end
    return wrk.format("POST", "/v1/accounts/" .. id .. "/deposits", json_headers, '{"amount":1000000000}')
  elseif scenario == "soak" then
    return soak()
  elseif scenario == "transfers" then
    -- Two different accounts: the API refuses a transfer to the same account (400), and 1 pick in
    -- 100 000 would otherwise count as a failure.
    local from, to = account(), account()
    while to == from do
      to = account()
    end
    local body = '{"from":"' .. from .. '","to":"' .. to .. '","amount":1}'
    return wrk.format("POST", "/v1/transfers", json_headers, body)
  elseif scenario == "mixed" and math.random() < 0.75 then
    return wrk.format("GET", "/v1/accounts/" .. account())
  elseif scenario == "references" then
    local body = '{"amount":' .. math.random(1, 1000) .. ',"reference":"invoice ' .. math.random(1, 1000000) .. ' of the month"}'
    return wrk.format("POST", "/v1/accounts/" .. account() .. "/deposits", json_headers, body)
  end
  return deposit()
end

function delay()
  if exhausted then
    return 1000
  end
  local whole = math.floor(pause)
  if math.random() < pause - whole then
    return whole + 1
  end
  return whole
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests":%d,"durationUs":%d,"bytes":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latencyUs":{"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d,"mean":%.1f}}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max, latency.mean))
end
