-- 006: an integrated account's own pacing rule (common/pacerule.h syntax,
-- e.g. '10/s burst 20', or 'off'), published in acct:<id> as "pace" and
-- enforced by the workers instead of the rule of the account's credential
-- type (JSMCP_PACE_API_TOKEN / JSMCP_PACE_OAUTH). NULL: that rule.
ALTER TABLE integrated_accounts ADD COLUMN pace text CHECK (pace IS NULL OR length(pace) BETWEEN 1 AND 64);
