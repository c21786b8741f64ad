-- wrk script for bench/api_create.sh: every request creates one MCP server
-- (POST /integrated-account/<id>/mcp) with the workspace key from the
-- environment. done() prints creates/s and latency percentiles in ms, and
-- how many answers were not 2xx (they must be 0 for the figure to count).
local key = os.getenv("BENCH_API_KEY")
local acct = os.getenv("BENCH_ACCOUNT_ID")
local body = '{"name":"bench","config":{"methods":["read"],"tags":["itsm"]},"require_api_token_auth":false}'

wrk.method = "POST"
wrk.path = "/integrated-account/" .. acct .. "/mcp"
wrk.body = body
wrk.headers["Authorization"] = "Bearer " .. key
wrk.headers["Content-Type"] = "application/json"

function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format("creates: %d in %.2f s = %.0f creates/s\n", summary.requests, secs, summary.requests / secs))
  io.write(string.format("latency ms: p50 %.3f  p90 %.3f  p99 %.3f  max %.3f\n",
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
  io.write(string.format("non-2xx: %d  socket errors: connect %d read %d write %d timeout %d\n",
    e.status, e.connect, e.read, e.write, e.timeout))
end
