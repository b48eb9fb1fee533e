-- wrk script of bench/http.py: GETs a list of paths in turn, with a cookie, and reports the
-- answers by status code and the latency percentiles the benchmark reads.
--   BENCH_PATHS   the paths, one a line (each thread starts at its own place in the list)
--   BENCH_COOKIE  the Cookie header (may be empty)

local threads = {}

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  statuses = {}
  paths = {}
  for path in string.gmatch(os.getenv("BENCH_PATHS"), "[^\n]+") do
    table.insert(paths, path)
  end
  counter = id * 7
  headers = {}
  local cookie = os.getenv("BENCH_COOKIE") or ""
  if cookie ~= "" then
    headers["Cookie"] = cookie
  end
end

function request()
  counter = counter + 1
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
