-- Each request from one line of a TSV file: method, path, bearer token, body.
-- Arguments: file, first line, run id, thread count. Thread t sends lines first+t, first+t+T, …
-- (wrapping around at the end), each with an Idempotency-Key unique to the run and line; done()
-- prints how many lines the run used, so the next run starts after them.
local lines = {}
local first = 0
local run = "r"
local stride = 1
counter = 0
index = 0
local threads = {}

function setup(thread)
  thread:set("index", #threads)
  table.insert(threads, thread)
end

function init(args)
  first = tonumber(args[2])
  run = args[3]
  stride = tonumber(args[4])
  for line in io.lines(args[1]) do
    local method, path, token, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
    lines[#lines + 1] = {method, path, token, body}
  end
end

function request()
  local i = first + index + counter * stride
  counter = counter + 1
  local item = lines[(i % #lines) + 1]
  local headers = {
    ["Authorization"] = "Bearer " .. item[3],
    ["Idempotency-Key"] = run .. "-" .. i,
  }
  local body = nil
  if item[4] ~= "" then
    headers["Content-Type"] = "application/json"
    body = item[4]
  end
  return wrk.format(item[1], item[2], headers, body)
end

function done(summary, latency, requests)
  local most = 0
  for _, thread in ipairs(threads) do
    local n = tonumber(thread:get("counter")) or 0
    if n > most then most = n end
  end
  io.write(string.format("BENCH_USED %d\n", most * #threads))
end
