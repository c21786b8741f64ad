-- wrk script for bench/worker.sh: POSTs one JSON-RPC message (WRK_BODY)
-- to an MCP endpoint within an existing session (WRK_SESSION).
wrk.method = "POST"
wrk.body = os.getenv("WRK_BODY")
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["Mcp-Session-Id"] = os.getenv("WRK_SESSION")
wrk.headers["MCP-Protocol-Version"] = "2025-11-25"
