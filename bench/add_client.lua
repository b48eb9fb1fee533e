-- wrk script of bench/writes.py: POSTs the Add Client form, each request with an email (and so a
-- username) of its own, and counts the answers by status code.
--   BENCH_FORM    the form, url-encoded, without the email
--   BENCH_COOKIE  the Cookie header of a logged-in staff session
--   BENCH_PREFIX  makes the emails of this run unique

local threads = {}

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  counter = 0
  statuses = {}
  prefix = os.getenv("BENCH_PREFIX") .. "-" .. id
  form = os.getenv("BENCH_FORM")
  headers = {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Cookie"] = os.getenv("BENCH_COOKIE"),
  }
end

function request()
  counter = counter + 1
  local body = form .. "&email=" .. prefix .. "-" .. counter .. "%40example.com"
  return wrk.format("POST", nil, headers, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    for code, n in pairs(thread:get("statuses")) do
      total[code] = (total[code] or 0) + n
    end
  end
  for code, n in pairs(total) do
    io.write(string.format("status %d %d\n", code, n))
  end
  for _, p in ipairs({50, 95, 99}) do
    io.write(string.format("latency p%d %.1f\n", p, latency:percentile(p) / 1000))
  end
end
