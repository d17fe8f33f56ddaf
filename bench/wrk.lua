-- wrk script for the load benchmark (scripts/bench-load.sh): sends the requests in the file
-- $BENCH_REQUESTS in turn, wrapping at its end. Each line is `Name: value` headers and then the
-- body, tab-separated (bench/make-requests.py writes them). $BENCH_METHOD (default POST): GET
-- sends no body. Prints one machine-readable line with the latency percentiles (microseconds).
local method = os.getenv("BENCH_METHOD") or "POST"
local requests = {}
local next_request = 0

-- Per thread: the main state, which only prints the summary, never holds the requests.
function init(args)
  for line in io.lines(os.getenv("BENCH_REQUESTS")) do
    local headers = { ["Content-Type"] = "application/json" }
    local fields = {}
    for field in (line .. "\t"):gmatch("([^\t]*)\t") do
      fields[#fields + 1] = field
    end
    local body = table.remove(fields)
    for _, h in ipairs(fields) do
      local name, value = h:match("^%s*([^:]+):%s*(.-)%s*$")
      if name then
        headers[name] = value
      end
    end
    if method == "GET" then
      headers["Content-Type"] = nil
      body = nil
    end
    requests[#requests + 1] = wrk.format(method, nil, headers, body)
  end
  assert(#requests > 0, "no requests in " .. os.getenv("BENCH_REQUESTS"))
end

function request()
  next_request = next_request % #requests + 1
  return requests[next_request]
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK requests=%d errors=%d non2xx=%d duration_s=%.3f rps=%.1f p50_us=%d p90_us=%d p99_us=%d p999_us=%d max_us=%d\n",
    summary.requests, e.connect + e.read + e.write + e.timeout, e.status,
    summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max))
end
