-- wrk script for bench/worker.sh: the same upstream request the worker makes
-- for get_single_jira_service_management_issue_by_id, straight to the sandbox.
wrk.method = "GET"
wrk.headers["Accept"] = "application/json"
wrk.headers["Authorization"] = os.getenv("WRK_AUTH")
