-- Requests for one bench scenario. Arguments (after --): scenario accounts prefix [delay_ms]
--   deposits   deposits spread uniformly over the accounts
--   hotspot    80% of deposits on the first 100 accounts
--   transfers  transfers of 1 between two random accounts
--   mixed      75% GET /v1/accounts/:id, 25% deposits
-- delay_ms > 0 paces each connection (a pause before every request), for runs below saturation.
-- Non-2xx answers are counted by wrk itself as errors.status, and reported.

local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end

local scenario, accounts, prefix, pause
local json_headers = { ["Content-Type"] = "application/json" }

function init(args)
  scenario = args[1]
  accounts = tonumber(args[2])
  prefix = args[3]
  pause = tonumber(args[4] or "0")
  math.randomseed(os.time() * 1000 + tid)
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

function request()
  if scenario == "transfers" then
    local from, to = account(), account()
    local body = '{"from":"' .. from .. '","to":"' .. to .. '","amount":1}'
    return wrk.format("POST", "/v1/transfers", json_headers, body)
  elseif scenario == "mixed" and math.random() < 0.75 then
    return wrk.format("GET", "/v1/accounts/" .. account())
  end
  return deposit()
end

function delay()
  return pause
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
