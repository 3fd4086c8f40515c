-- What each notice under spec/support/bounces/ says: its kind, and every
-- failed recipient with the reason and whether it is hard. The postfix/,
-- exim/, dovecot/, opensmtpd/, sendmail-8/, courier-mta/ and haraka/
-- files were made by the real MTAs (the *_capture.sh scripts); the others
-- were written for these tests from what each format is documented to say
-- (README.md lists the sources). Read by spec/unit/bounce_corpus_spec.lua
-- and bench/bounce, which reports agreement with it as "our own corpus":
-- it measures what we know we handle, not the world's bounces.
local function r(address, reason, hard) return { address = address, reason = reason, hard = hard } end

-- A recipient the reader is known to get wrong: reads says what it
-- gives instead, so the spec notices a change and the bench counts a miss.
local function wrong(address, reason, hard, reads)
  return { address = address, reason = reason, hard = hard, reads = reads }
end

return {
  -- Real Postfix 3.7 DSNs (postfix_capture.sh).
  { file = "postfix/unknown-user.eml", kind = "dsn", recipients = { r("nosuch@dest.test", "user_unknown", true) } },
  { file = "postfix/mailbox-full.eml", kind = "dsn", recipients = { r("full@dest.test", "mailbox_full", false) } },
  { file = "postfix/unroutable.eml", kind = "dsn", recipients = { r("someone@nowhere.invalid", "host_unknown", true) } },
  { file = "postfix/remote-unknown.eml", kind = "dsn", recipients = { r("nosuch@remote.test", "user_unknown", true) } },
  { file = "postfix/expired.eml", kind = "dsn", recipients = { r("user@refused.test", "expired", false) } },
  { file = "postfix/remote-blocked.eml", kind = "dsn", recipients = { r("blocked@remote.test", "blocked", false) } },
  { file = "postfix/sender-refused.eml", kind = "dsn", recipients = { r("known@remote.test", "blocked", false) } },
  { file = "postfix/too-big.eml", kind = "dsn", recipients = { r("big@remote.test", "message_too_big", false) } },

  -- Real Exim 4.96 notices (exim_capture.sh). Its report says only
  -- "Status: 5.0.0" for a failure of its own: the words are in the text.
  { file = "exim/unknown-local.eml", kind = "dsn", recipients = { r("nosuch@dest.test", "user_unknown", true) } },
  { file = "exim/disabled.eml", kind = "dsn", recipients = { r("disabled@dest.test", "mailbox_disabled", true) } },
  { file = "exim/mailbox-full.eml", kind = "dsn", recipients = { r("full@dest.test", "mailbox_full", false) } },
  -- Exim says "Unrouteable address" for a domain that does not exist as
  -- for a local part no router takes: nothing in the notice tells them
  -- apart (both are hard, which is what suppression needs).
  { file = "exim/unroutable.eml", kind = "dsn", recipients = {
    wrong("someone@nowhere.invalid", "host_unknown", true, "user_unknown") } },
  { file = "exim/remote-unknown.eml", kind = "dsn", recipients = { r("nosuch@remote.test", "user_unknown", true) } },
  { file = "exim/remote-blocked.eml", kind = "dsn", recipients = { r("blocked@remote.test", "blocked", false) } },
  { file = "exim/sender-refused.eml", kind = "dsn", recipients = { r("someone@remote.test", "blocked", false) } },
  { file = "exim/too-big.eml", kind = "dsn", recipients = { r("big@remote.test", "message_too_big", false) } },
  { file = "exim/expired.eml", kind = "dsn", recipients = { r("user@refused.test", "expired", false) } },

  -- Real OpenSMTPD 6.8 notices (opensmtpd_capture.sh), the refusals
  -- from a private Postfix smtpd. Its report says "Status: 5.0.0"; the
  -- reply is in the text next to the address. A message it drops at the
  -- end of its queue lifetime is reported as "Action: delayed",
  -- "Status: 4.4.7", "Envelope expired": nothing is retried after it.
  { file = "opensmtpd/unroutable.eml", kind = "dsn", recipients = { r("someone@nowhere.invalid", "host_unknown", true) } },
  { file = "opensmtpd/remote-unknown.eml", kind = "dsn", recipients = { r("nosuch@remote.test", "user_unknown", true) } },
  { file = "opensmtpd/remote-full.eml", kind = "dsn", recipients = { r("full@remote.test", "mailbox_full", false) } },
  { file = "opensmtpd/remote-busy.eml", kind = "dsn", recipients = { r("busy@remote.test", "expired", false) } },
  { file = "opensmtpd/remote-blocked.eml", kind = "dsn", recipients = { r("blocked@remote.test", "blocked", false) } },
  { file = "opensmtpd/relay-denied.eml", kind = "dsn", recipients = { r("someone@elsewhere.test", "policy", false) } },
  { file = "opensmtpd/spam.eml", kind = "dsn", recipients = { r("spam@remote.test", "spam", false) } },
  { file = "opensmtpd/sender-refused.eml", kind = "dsn", recipients = { r("known@remote.test", "blocked", false) } },
  { file = "opensmtpd/too-big.eml", kind = "dsn", recipients = { r("big@remote.test", "message_too_big", false) } },
  { file = "opensmtpd/expired.eml", kind = "dsn", recipients = { r("user@refused.test", "expired", false) } },

  -- Real Sendmail 8.17 notices (sendmail_capture.sh), as its program
  -- mailer delivers them (a "From " line first). A 4xx reply kept until
  -- the queue lifetime is reported as "Status: 4.4.7" with the reply as
  -- its diagnostic: the reply says why.
  { file = "sendmail-8/unknown-local.eml", kind = "dsn", recipients = { r("nosuch@dest.test", "user_unknown", true) } },
  { file = "sendmail-8/disabled.eml", kind = "dsn", recipients = { r("disabled@dest.test", "mailbox_disabled", true) } },
  { file = "sendmail-8/unroutable.eml", kind = "dsn", recipients = { r("someone@nowhere.invalid", "host_unknown", true) } },
  { file = "sendmail-8/remote-unknown.eml", kind = "dsn", recipients = { r("nosuch@remote.test", "user_unknown", true) } },
  { file = "sendmail-8/remote-full.eml", kind = "dsn", recipients = { r("full@remote.test", "mailbox_full", false) } },
  { file = "sendmail-8/remote-busy.eml", kind = "dsn", recipients = { r("busy@remote.test", "mailbox_full", false) } },
  { file = "sendmail-8/remote-blocked.eml", kind = "dsn", recipients = { r("blocked@remote.test", "blocked", false) } },
  { file = "sendmail-8/relay-denied.eml", kind = "dsn", recipients = { r("someone@elsewhere.test", "policy", false) } },
  { file = "sendmail-8/spam.eml", kind = "dsn", recipients = { r("spam@remote.test", "spam", false) } },
  { file = "sendmail-8/sender-refused.eml", kind = "dsn", recipients = { r("known@remote.test", "blocked", false) } },
  { file = "sendmail-8/too-big.eml", kind = "dsn", recipients = { r("big@remote.test", "message_too_big", false) } },
  { file = "sendmail-8/expired.eml", kind = "dsn", recipients = { r("user@refused.test", "expired", false) } },

  -- Real Courier 1.0.16 notices (courier_capture.sh), as they came back
  -- over SMTP. Its report says "Status: 5.0.0" for every failure, a
  -- receiver's 4xx kept past the queue time too: the reply in the
  -- Diagnostic-Code says why. A server that never answered is "Network
  -- is down" in its words, nothing more.
  { file = "courier-mta/unroutable.eml", kind = "dsn", recipients = { r("someone@nowhere.invalid", "host_unknown", true) } },
  { file = "courier-mta/remote-unknown.eml", kind = "dsn", recipients = { r("nosuch@remote.test", "user_unknown", true) } },
  { file = "courier-mta/remote-full.eml", kind = "dsn", recipients = { r("full@remote.test", "mailbox_full", false) } },
  { file = "courier-mta/remote-busy.eml", kind = "dsn", recipients = { r("busy@remote.test", "mailbox_full", false) } },
  { file = "courier-mta/remote-blocked.eml", kind = "dsn", recipients = { r("blocked@remote.test", "blocked", false) } },
  { file = "courier-mta/relay-denied.eml", kind = "dsn", recipients = { r("someone@elsewhere.test", "policy", false) } },
  { file = "courier-mta/spam.eml", kind = "dsn", recipients = { r("spam@remote.test", "spam", false) } },
  { file = "courier-mta/sender-refused.eml", kind = "dsn", recipients = { r("known@remote.test", "blocked", false) } },
  { file = "courier-mta/too-big.eml", kind = "dsn", recipients = { r("big@remote.test", "message_too_big", false) } },
  { file = "courier-mta/expired.eml", kind = "dsn", recipients = { r("user@refused.test", "network", false) } },

  -- Real Haraka 3.3 notices (haraka_capture.sh): its outbound delivery,
  -- no retries allowed. A server it could not reach is reported as
  -- "Status: 5.1.2 (550 Tried all MXs refused.test)": a temporary
  -- failure it gave up on, not a domain that does not exist.
  { file = "haraka/unroutable.eml", kind = "dsn", recipients = { r("someone@nowhere.invalid", "host_unknown", true) } },
  { file = "haraka/remote-unknown.eml", kind = "dsn", recipients = { r("nosuch@remote.test", "user_unknown", true) } },
  { file = "haraka/remote-full.eml", kind = "dsn", recipients = { r("full@remote.test", "mailbox_full", false) } },
  { file = "haraka/remote-busy.eml", kind = "dsn", recipients = { r("busy@remote.test", "mailbox_full", false) } },
  { file = "haraka/remote-blocked.eml", kind = "dsn", recipients = { r("blocked@remote.test", "blocked", false) } },
  { file = "haraka/relay-denied.eml", kind = "dsn", recipients = { r("someone@elsewhere.test", "policy", false) } },
  { file = "haraka/spam.eml", kind = "dsn", recipients = { r("spam@remote.test", "spam", false) } },
  { file = "haraka/sender-refused.eml", kind = "dsn", recipients = { r("known@remote.test", "blocked", false) } },
  { file = "haraka/too-big.eml", kind = "dsn", recipients = { r("big@remote.test", "message_too_big", false) } },
  { file = "haraka/expired.eml", kind = "dsn", recipients = { r("user@refused.test", "expired", false) } },

  -- A real Dovecot 2.3 LDA rejection (dovecot_capture.sh).
  { file = "dovecot/quota-full.eml", kind = "dsn", recipients = { r("full@dest.test", "mailbox_full", false) } },
  -- A Sieve reject (RFC 5429): an MDN, but a refusal by the recipient's
  -- own filter, never a reason to drop the address.
  { file = "sieve/reject-mdn.eml", kind = "bounce", recipients = { r("marco@example.it", "policy", false) } },

  -- Formats with no report, found in their text.
  { file = "domino/not-listed.eml", kind = "bounce", recipients = { r("taro@example.co.jp", "user_unknown", true) } },
  { file = "domino/full.eml", kind = "bounce", recipients = { r("hanako.suzuki@notes.example.com", "mailbox_full", false) } },
  { file = "qmail/remote-unknown.eml", kind = "bounce", recipients = { r("kenji@example.org", "user_unknown", true) } },
  { file = "qmail/no-host.eml", kind = "bounce", recipients = { r("someone@nonexistent.example", "host_unknown", true) } },
  { file = "qmail/two-recipients.eml", kind = "bounce", recipients = {
    r("ana@example.net", "user_unknown", true), r("bruno@example.net", "user_unknown", true) } },
  { file = "courier/unknown.eml", kind = "bounce", recipients = { r("lucie@example.org", "user_unknown", true) } },
  { file = "sendmail/v5-unknown.eml", kind = "bounce", recipients = { r("jsmith@example.edu", "user_unknown", true) } },
  { file = "sendmail/after-data.eml", kind = "bounce", recipients = { r("pierre@example.fr", "user_unknown", true) } },
  { file = "sendmail/rcpt-dialogue.eml", kind = "bounce", recipients = {
    r("klaus@example.de", "mailbox_full", false), r("greta@example.de", "user_unknown", true) } },
  { file = "sendmail/two-listed.eml", kind = "bounce", recipients = {
    r("ines@example.com", "user_unknown", true), r("joao@example.com", "user_unknown", true) } },
  { file = "rfc821/mail-system-problem.eml", kind = "bounce", recipients = { r("ANN@MAIL4.ARPA", "user_unknown", true) } },
  { file = "exchange2003/unknown.eml", kind = "bounce", recipients = { r("maria.lopez@example.com", "user_unknown", true) } },
  { file = "exchange2003/full.eml", kind = "bounce", recipients = { r("tom.baker@corp.example.com", "mailbox_full", false) } },
  { file = "exchange2007/not-found.eml", kind = "bounce", recipients = { r("anna.berg@corp.example.net", "user_unknown", true) } },
  { file = "qmail/vpopmail-gone.eml", kind = "bounce", recipients = { r("old.member@example.org", "user_unknown", true) } },
  { file = "groupwise/undeliverable.eml", kind = "bounce", recipients = { r("clerk@gw.example.gov", "user_unknown", true) } },
  { file = "provider/subject-only.eml", kind = "bounce", recipients = { r("ruth.evans@example.co.uk", "mailbox_disabled", true) } },
  { file = "provider/mail-to-sentence.eml", kind = "bounce", recipients = { r("pat.kelly@example.ie", "mailbox_full", false) } },
  { file = "imail/unknown.eml", kind = "bounce", recipients = { r("jdoe@imail.example.com", "user_unknown", true) } },
  { file = "imail/full.eml", kind = "bounce", recipients = { r("fran@imail.example.com", "mailbox_full", false) } },
  { file = "dma/unknown.eml", kind = "bounce", recipients = { r("olaf@example.no", "user_unknown", true) } },
  { file = "zoho/unavailable.eml", kind = "bounce", recipients = { r("priya@example.in", "user_unknown", true) } },
  { file = "exim-written/bad-spf.eml", kind = "bounce", recipients = { r("nina@example.se", "blocked", false) } },
  { file = "exim-written/sender-refused.eml", kind = "bounce", recipients = { r("omar@example.ae", "blocked", false) } },
  -- Wordings no shape knows: the one address the words name; the
  -- returned message's To when they name nobody.
  { file = "de/sentence-an.eml", kind = "bounce", recipients = { r("günther@example.de", "user_unknown", true) } },
  { file = "generic/returned-to.eml", kind = "bounce", recipients = { r("karin@example.at", "user_unknown", true) } },

  -- Decoding before reading: fields in an encoded text part, CR-only lines.
  { file = "workmail/qp-fields.eml", kind = "dsn", recipients = { r("liang@example.cn", "user_unknown", true) } },
  { file = "workmail/base64-fields.eml", kind = "dsn", recipients = { r("sofia@example.pt", "mailbox_full", false) } },
  { file = "mislabelled/report-as-text.eml", kind = "dsn", recipients = { r("sven@example.se", "mailbox_disabled", true) } },
  { file = "cr-only/qmail.eml", kind = "bounce", recipients = { r("yuki@example.jp", "user_unknown", true) } },

  -- Action: failed on a 4.x.x status: specific words win over "expired",
  -- and never make the failure hard (the receiver never said permanent).
  { file = "dsn-text-wins/blocked-4xx.eml", kind = "dsn", recipients = { r("hans@example.de", "blocked", false) } },
  { file = "dsn-text-wins/unknown-4xx.eml", kind = "dsn", recipients = { r("lea@example.fr", "user_unknown", false) } },
  { file = "dsn-text-wins/timeout-4xx.eml", kind = "dsn", recipients = { r("kim@example.kr", "expired", false) } },

  -- Other languages, in their charsets.
  { file = "ja/iso2022jp-unknown.eml", kind = "bounce", recipients = { r("taro.yamada@example.ne.jp", "user_unknown", true) } },
  { file = "ja/sjis-full.eml", kind = "bounce", recipients = { r("hanako@example.jp", "mailbox_full", false) } },
  { file = "ja/eucjp-blocked.eml", kind = "bounce", recipients = { r("ichiro@example.or.jp", "spam", false) } },
  { file = "de/latin1-unknown.eml", kind = "bounce", recipients = { r("jürgen.müller@example.de", "user_unknown", true) } },
  { file = "de/latin1-full.eml", kind = "bounce", recipients = { r("uwe@example.de", "mailbox_full", false) } },
  { file = "fr/latin1-unknown.eml", kind = "bounce", recipients = { r("élodie@example.fr", "user_unknown", true) } },
  { file = "fr/utf8-full.eml", kind = "bounce", recipients = { r("luc@example.fr", "mailbox_full", false) } },
  { file = "es/latin1-unknown.eml", kind = "bounce", recipients = { r("josé@example.es", "user_unknown", true) } },
  { file = "es/utf8-spam.eml", kind = "bounce", recipients = { r("carmen@example.mx", "spam", false) } },
  { file = "pt/latin1-full.eml", kind = "bounce", recipients = { r("joão@example.com.br", "mailbox_full", false) } },
  { file = "pt/utf8-unknown.eml", kind = "bounce", recipients = { r("rita@example.pt", "user_unknown", true) } },
  { file = "ru/koi8r-unknown.eml", kind = "bounce", recipients = { r("ivan@example.ru", "user_unknown", true) } },
  { file = "ru/utf8-full.eml", kind = "bounce", recipients = { r("olga@example.ru", "mailbox_full", false) } },
  { file = "zh/gb2312-unknown.eml", kind = "bounce", recipients = { r("wei@example.cn", "user_unknown", true) } },
  { file = "zh/gbk-blocked.eml", kind = "bounce", recipients = { r("fang@example.com.cn", "spam", false) } },
  { file = "it/latin1-unknown.eml", kind = "bounce", recipients = { r("giulia@example.it", "user_unknown", true) } },
  { file = "nl/utf8-full.eml", kind = "bounce", recipients = { r("daan@example.nl", "mailbox_full", false) } },
  { file = "zh/utf8-toobig.eml", kind = "bounce", recipients = { r("mei@example.tw", "message_too_big", false) } },
}
