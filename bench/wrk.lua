-- The wrk script of the benchmarks that drive a real `portal serve` (bench/http.py,
-- bench/writes.py). It reports every answer by status code and the latency percentiles they
-- read ("status 200 1234", "latency p95 12.34" in ms).
--   BENCH_COOKIE  the Cookie header of a logged-in staff session (may be empty)
-- GETs, in turn:
--   BENCH_PATHS   the paths, one a line (each thread starts at its own place in the list)
-- or POSTs the Add Client form, each request with an email (and so a username) of its own:
--   BENCH_FORM    the form, url-encoded, without the email
--   BENCH_PREFIX  makes the emails of this run unique

local threads = {}

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  counter = id * 7
  statuses = {}
  headers = {}
  local cookie = os.getenv("BENCH_COOKIE") or ""
  if cookie ~= "" then
    headers["Cookie"] = cookie
  end
  form = os.getenv("BENCH_FORM")
  if form then
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    prefix = os.getenv("BENCH_PREFIX") .. "-" .. id
  else
    paths = {}
    for path in string.gmatch(os.getenv("BENCH_PATHS"), "[^\n]+") do
      table.insert(paths, path)
    end
  end
end

function request()
  counter = counter + 1
  if form then
    local body = form .. "&email=" .. prefix .. "-" .. counter .. "%40example.com"
    return wrk.format("POST", nil, headers, body)
  end
  return wrk.format("GET", paths[(counter % #paths) + 1], headers)
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
    io.write(string.format("latency p%d %.2f\n", p, latency:percentile(p) / 1000))
  end
end
