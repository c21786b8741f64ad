-- 029: the admin trail's diff with its plan kept (issue 21's create cost;
-- issue 26's trail). jsmcp_admin_diff was a LANGUAGE sql function that
-- PostgreSQL cannot inline (it aggregates): such a function's query is
-- parsed, analysed and planned again at every call that starts a new
-- statement, and every admin write is one. perf of the API's backends under
-- a stream of server creates put 20% of their CPU in fmgr_sql, most of it
-- the parser. In PL/pgSQL the same query is planned once per connection
-- and kept. Same arguments, same result, row for row; only the language
-- changes (CREATE OR REPLACE keeps the triggers that call it). A catalog
-- change: no table is touched or locked.
CREATE OR REPLACE FUNCTION jsmcp_admin_diff(o jsonb, n jsonb) RETURNS jsonb LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN (
    SELECT coalesce(jsonb_object_agg(
               CASE k WHEN 'credentials_sealed' THEN 'credentials' WHEN 'token_hash' THEN 'token'
                      WHEN 'prev_token_hash' THEN 'previous_token' WHEN 'key_hash' THEN 'key'
                      WHEN 'client_secret_sealed' THEN 'client_secret' WHEN 'secret_sealed' THEN 'secret'
                      ELSE k END,
               CASE WHEN k IN ('credentials_sealed', 'token_hash', 'prev_token_hash', 'key_hash',
                               'client_secret_sealed', 'secret_sealed')
                    THEN to_jsonb('changed'::text)
                    ELSE jsonb_build_object('from', o -> k, 'to', n -> k) END), '{}'::jsonb)
    FROM (SELECT jsonb_object_keys(o) AS k UNION SELECT jsonb_object_keys(n)) keys
    WHERE k NOT IN ('id', 'workspace_id', 'version', 'created_at', 'updated_at', 'last_used_at',
                    'cred_version', 'access_expires_at', 'refresh_retry_at', 'key_id', 'rotated_at')
      AND coalesce(o -> k, 'null') IS DISTINCT FROM coalesce(n -> k, 'null')); -- a new row's NULLs are no change
END $$;
