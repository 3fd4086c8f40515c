-- The accounting log: JSON lines, one record per SMTP transaction and
-- one per final outcome, like the accounting files MTA operators feed
-- into their tools. Written as the run goes, flushed with every commit of
-- the store, so the log never lags far behind what the store says.
--
-- Two records a message: they are made in C (mailcast.core's
-- accounting_open), fields in the order of the lists below.
local core = require "mailcast.core"

local M = {}

M.TRANSACTION_FIELDS = {
  "time", "type", "campaign", "recipient", "route", "mx", "ip", "tls_version", "tls_cipher",
  "status", "code", "enhanced", "text", "reason", "category", "duration", "attempt",
}
M.OUTCOME_FIELDS = {
  "time", "type", "campaign", "recipient", "state", "code", "enhanced", "text", "reason", "category",
  "attempts",
}

--- open(path) -> log | nil, message. Appends: runs that resume a
-- campaign add to the same file. Records are kept until flush and then
-- written whole in one write on a file opened for appending, so the
-- workers of one run (--workers) can share the file without a line of
-- one ever cut into by another. The log's methods:
--   log:transaction(campaign, recipient, route, result, rcpt, attempt)
--     result: the scheduler's outcome of the transaction (server "mx
--     [ip]", tls "VERSION CIPHER", duration); rcpt: this recipient's
--     reply in it (status, code, enhanced, text, reason, category).
--   log:outcome(campaign, recipient, state, reply, attempts): a final
--     state: delivered, failed, expired (failed after max_age of
--     retries), suppressed or skipped; reply may be nil.
--   log:flush() -> true | nil, message: the records so far, in one write.
--   log:close() -> true | nil, message: flushed and closed (also when
--     collected); a closed log refuses further use.
function M.open(path)
  return core.accounting_open(path)
end

return M
