-- wrk script: every request is made by one of many users, with that user's own token and task ids.
-- Mix: 70% list, 15% get, 5% create, 5% toggle, 5% update (PATCH title).
-- Usage: wrk -s bench/mix.lua URL -- USERS_FILE   (one line per user: "id token id1,id2,...")
-- The concurrency sweep uses the same mix.

local counter = 0
local threads = {}

function setup(thread)
  counter = counter + 1
  thread:set("thread_id", counter)
  table.insert(threads, thread)
end

local users = {}

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
  math.randomseed(1000 + (thread_id or 0))
  load_users(args[1])
end

function request()
  local user = users[math.random(#users)]
  local roll = math.random(100)
  if roll <= 70 then
    return wrk.format("GET", user.base, user.headers)
  end
  local task = user.base .. "/" .. user.tasks[math.random(#user.tasks)]
  if roll <= 85 then
    return wrk.format("GET", task, user.headers)
  elseif roll <= 90 then
    return wrk.format("POST", user.base, user.headers, '{"title":"bench task"}')
  elseif roll <= 95 then
    return wrk.format("PATCH", task .. "/complete", user.headers)
  end
  return wrk.format("PATCH", task, user.headers, '{"title":"renamed by bench"}')
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
