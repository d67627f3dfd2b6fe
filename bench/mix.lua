-- wrk script: every request is made by one of many users, with that user's own token and task ids.
-- Mix: 70% list, 15% get, 5% create, 5% toggle, 5% update (PATCH title).
-- Usage: wrk -s bench/mix.lua URL -- USERS_FILE   (one line per user: "id token id1,id2,...")
-- The concurrency sweep uses the same mix.
-- BENCH_SAFE_WRITES=1: the same mix written as careful clients write (bench/safe_writes.py): each
-- create carries a fresh Idempotency-Key, each toggle and update the task's ETag in If-Match (the
-- version this thread last saw in an answer about that task; 1, the seeded version, before).

local counter = 0
local threads = {}

function setup(thread)
  counter = counter + 1
  thread:set("thread_id", counter)
  table.insert(threads, thread)
end

local users = {}
local safe = os.getenv("BENCH_SAFE_WRITES") == "1"
local versions = {}
local creates = 0
local run_id = tostring(os.time())

local function with_header(headers, name, value)
  local copy = { [name] = value }
  for key, existing in pairs(headers) do copy[key] = existing end
  return copy
end

local function if_match(user, task_id)
  return with_header(user.headers, "If-Match", '"' .. (versions[task_id] or "1") .. '"')
end

local function load_users(path)
  local file = assert(io.open(path, "r"), "cannot open users file " .. tostring(path))
  for line in file:lines() do
    local id, token, ids = line:match("^(%S+) (%S+) (%S+)$")
    if id then
      local task_ids = {}
      for task_id in ids:gmatch("%d+") do table.insert(task_ids, task_id) end
      table.insert(users, {
        id = id,
        headers = { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" },
        tasks = task_ids,
        base = "/api/" .. id .. "/tasks",
      })
    end
  end
  file:close()
  assert(#users > 0, "no users in " .. path)
end

function init(args)
  -- A fixed seed repeats the warm-up's requests in the measured run (hot pages, same tasks).
  -- BENCH_FRESH_SEED=1 draws another sequence each run: a careful client's ETags of the warm-up
  -- would otherwise all be stale in the measured run, which writes the same tasks again.
  local base = os.getenv("BENCH_FRESH_SEED") == "1" and os.time() or 1000
  math.randomseed(base + (thread_id or 0))
  load_users(args[1])
end

function request()
  local user = users[math.random(#users)]
  local roll = math.random(100)
  if roll <= 70 then
    return wrk.format("GET", user.base, user.headers)
  end
  local task_id = user.tasks[math.random(#user.tasks)]
  local task = user.base .. "/" .. task_id
  if roll <= 85 then
    return wrk.format("GET", task, user.headers)
  elseif roll <= 90 then
    local headers = user.headers
    if safe then
      creates = creates + 1
      local key = run_id .. "-" .. tostring(thread_id) .. "-" .. creates
      headers = with_header(headers, "Idempotency-Key", key)
    end
    return wrk.format("POST", user.base, headers, '{"title":"bench task"}')
  end
  local headers = safe and if_match(user, task_id) or user.headers
  if roll <= 95 then
    return wrk.format("PATCH", task .. "/complete", headers)
  end
  return wrk.format("PATCH", task, headers, '{"title":"renamed by bench"}')
end

if safe then
  -- Defined only in safe mode: wrk hands bodies to Lua only when a script has `response`.
  function response(status, headers, body)
    local id, version = string.match(body or "", '^{"id":(%d+),.*"version":(%d+)}$')
    if id then versions[id] = version end
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d,"mean":%.1f,"max":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.mean, latency.max))
end
