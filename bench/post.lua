-- wrk script: POST a body read from a file, with extra headers, and print the results in a
-- form bench/harness.py parses ("BENCH key=value" lines, latencies in microseconds).
--   wrk ... -s bench/post.lua URL -- BODY_FILE ['Name: value' ...]

init = function(args)
   local f = assert(io.open(args[1], "rb"))
   wrk.method = "POST"
   wrk.body = f:read("*a")
   f:close()
   wrk.headers["Content-Type"] = "application/json"
   for i = 2, #args do
      local name, value = args[i]:match("^([^:]+):%s*(.*)$")
      wrk.headers[name] = value
   end
end

done = function(summary, latency, requests)
   local e = summary.errors
   io.write(string.format("BENCH requests=%d\n", summary.requests))
   io.write(string.format("BENCH duration_us=%d\n", summary.duration))
   io.write(string.format("BENCH errors=%d\n", e.connect + e.read + e.write + e.status + e.timeout))
   for _, p in ipairs({50, 90, 99}) do
      io.write(string.format("BENCH p%d=%d\n", p, latency:percentile(p)))
   end
   io.write(string.format("BENCH max=%d\n", latency.max))
end
