-- The usage of every mailcast command, written once: `mailcast help`
-- lists them all, `mailcast COMMAND --help` prints its own on stdout,
-- and a command given a bad command line prints its own on stderr.
local M = {}

-- The commands in the order `mailcast help` lists them; each entry as it
-- reads in that list (the command's line, then what it does).
local ORDER = { "run", "status", "report", "queue", "sink", "serve", "mx", "bounces", "explain", "suppress", "lint", "test", "help", "version" }

local ENTRIES = {
  run = [[
  run SCRIPT.lua [MORE.lua...] [OPTIONS] [-- ARGS...]
                             run a campaign or any Lua script with mailcast
                             loaded; ARGS arrive in `arg` and `...`.
                             Several campaign scripts are sent at once,
                             sharing the servers they have in common.
                             For a campaign: --store FILE, --dry-run,
                             --wait (stay until deferred ones are retried),
                             --progress bar|lines|json|quiet, --json,
                             --quiet, --log FILE, --no-log, --workers N
                             (N processes share the sending), --metrics
                             HOST:PORT (Prometheus figures), --trace
                             FILE|- (every session's SMTP transcript);
                             words for the script go after "--" (a bare
                             word that is an option's name, such as
                             dry-run, is refused). Ctrl-C pauses; running
                             it again resumes
]],
  status = [[
  status SCRIPT.lua|STORE [--store FILE] [--json] [--recipient ADDRESS]
                             where a campaign stands: counts by state, the
                             next retry, the commonest replies; with
                             --recipient, that recipient's state, last
                             reply and last transcript
]],
  report = [[
  report SCRIPT.lua|STORE [--store FILE] [--campaign NAME] [--json]
         [--csv DIR] [--html FILE]
                             a campaign's report from its store: the
                             funnel from sent to clicked (people's opens
                             and machines' apart), failures and bounces
                             by reason, clicks per link, domains and
                             providers, deliveries per minute, opens and
                             clicks per hour; --json: the numbers as
                             JSON; --csv DIR: a CSV file per table and
                             accounting.csv; --html FILE: one file with
                             charts (--csv and --html: one campaign)
]],
  sink = [[
  sink --maildir DIR [--listen ADDR:PORT] [--reject ADDRESS=REPLY]...
       [--count N] [--port-file FILE] [--bounces STORE] [--quiet]
                             a local SMTP server storing what it receives
                             in a Maildir (default 127.0.0.1:2525);
                             --reject answers ADDRESS (or @domain) with
                             REPLY, e.g. "550 5.1.1 No such user";
                             --bounces processes each message as a bounce
                             for the campaigns of STORE as it arrives
]],
  queue = [[
  queue SCRIPT.lua | STORE [--campaign NAME] [--domain D] [--recipients]
        [--limit N] [--json] [--retry-now | --cancel]
                             the deferred recipients by domain and reason
                             (the bounce taxonomy's, of their last reply),
                             with their next attempt and last reply;
                             --recipients lists them (the soonest due
                             first, --limit N, default 50); --retry-now
                             makes them due now (a run picks them up at
                             its next claim); --cancel fails the pending
                             and deferred ones of a campaign or --domain
                             as "cancelled by operator" (not suppressed),
                             and those in flight if their server defers
                             them
]],
  serve = [[
  serve --store FILE [--listen ADDR:PORT] [--port-file FILE]
        [--secret-env NAME] [--webhook URL]... [--webhook-secret-env NAME]
        [--webhook-ca FILE] [--webhook-poll S] [--webhook-batch N]
        [--webhook-tries N] [--webhook-backoff S] [--webhook-backoff-max S]
        [--webhook-timeout S] [--timeout S] [--max-connections N] [--quiet]
        [--dashboard-token TOKEN] [--dashboard-cache S] [--dashboard-timeout S]
                             the tracking server (default 127.0.0.1:8080)
                             for the store FILE, which must exist (a
                             campaign run makes it): GET /o/TOKEN (open
                             pixel), GET /c/TOKEN (redirect to the stored
                             link), GET|POST /u/TOKEN (one-click
                             unsubscribe), /healthz, /metrics; the token
                             secret comes from MAILCAST_TRACK_SECRET (or
                             the variable NAME); every event of the store
                             (deliveries, bounces, opens, clicks,
                             unsubscribes) is POSTed in batches of signed
                             JSON to every --webhook http:// or https://
                             URL, and a campaign's to the URLs it
                             registered, signed with
                             MAILCAST_WEBHOOK_SECRET (or the variable NAME);
                             a request must come whole within --timeout S
                             (default 10) of the connection's last one, and
                             at most --max-connections N are held (default:
                             what the descriptor limit leaves room for);
                             /dashboard shows every campaign's report,
                             only with a token (--dashboard-token or
                             MAILCAST_DASHBOARD_TOKEN, 16 characters or
                             more; off without one), each page kept
                             --dashboard-cache S (default 2), one taking
                             more than --dashboard-timeout S (default 30)
                             given up (503)
]],
  mx = [[
  mx DOMAIN [--server H:P]
                             the domain's mail servers in the order they
                             are tried, with their addresses
]],
  bounces = [[
  bounces --store FILE --maildir DIR|--mbox FILE|--pop3[s] HOST[:PORT]|
          --imap[s] HOST[:PORT] [--every SECONDS] [--script FILE] [--json]
                             read a bounce mailbox: record each bounce on its
                             campaign's recipient, suppress hard bounces,
                             complaints and repeated soft bounces
                             (`mailcast bounces --help` for every option)
]],
  explain = [[
  explain "REPLY" [--json]
                             what an SMTP reply or a bounce's diagnostic
                             means in plain words: its reason, code and
                             status, whether it is hard (the address is
                             suppressed), what the sender should do
]],
  suppress = [[
  suppress list|add|remove|export|import ... --store FILE
                             the suppression list (`mailcast suppress
                             --help` for the commands)
]],
  lint = [[
  lint SCRIPT.lua [--recipient N | --address A | --sample N] [--json]
       [--rspamd URL] [--spamd HOST:PORT] [--no-spam] [--dns-server H:P]
       [--ip ADDR] [--no-dns]
                             check one recipient's message before it goes
                             (the first by default): its content, its
                             score by Rspamd and SpamAssassin, and the
                             SPF, DKIM, DMARC, MX and reverse DNS records
                             Gmail and Yahoo require of bulk senders;
                             --sample N checks the content of N
                             recipients spread over the list, each
                             finding once with how many it applies to;
                             exit status 1 when an error is found
]],
  test = [[
  test SCRIPT.lua --to ADDRESS [--recipient N | --address A]
       [--dns-server H:P]
                             send one recipient's message (the first by
                             default) to ADDRESS through the campaign's
                             route, and show the SMTP conversation: each
                             command and reply with its time, TLS and the
                             server's certificate, each reply explained
                             (credentials are never shown)
]],
  help = [[
  help [COMMAND]
                             this text, or a command's
]],
  version = [[
  version
                             the version (also --version)
]],
}

-- Commands whose full usage lives with the command itself.
local OWN = { bounces = "mailcast.bounces_cli", suppress = "mailcast.suppress" }

--- all() -> the usage of mailcast: every command.
function M.all()
  local parts = { "usage: mailcast COMMAND [ARGS]\n\ncommands:\n" }
  for _, name in ipairs(ORDER) do parts[#parts + 1] = ENTRIES[name] end
  parts[#parts + 1] = "\nEvery command takes -h or --help for its own usage.\n"
  return table.concat(parts)
end

--- of(command) -> the usage of one command | nil when there is no such
-- command.
function M.of(command)
  if OWN[command] then return require(OWN[command]).USAGE end
  local entry = ENTRIES[command]
  if not entry then return nil end
  return "usage: mailcast " .. entry:gsub("^%s+", "")
end

--- wants_help(argv, from [, to]) -> whether one of argv[from..to] (to
-- the end by default) is -h or --help.
function M.wants_help(argv, from, to)
  for i = from, to or #argv do
    if argv[i] == "-h" or argv[i] == "--help" then return true end
  end
  return false
end

--- error(command, fmt, ...) -> 2: says what is wrong with the command
-- line, then the command's usage, on stderr; 2 is the exit status of a
-- bad command line.
function M.error(command, fmt, ...)
  io.stderr:write("mailcast: ", string.format(fmt, ...), "\n", M.of(command) or M.all())
  return 2
end

return M
