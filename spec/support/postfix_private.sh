# A private Postfix instance for the specs, sourced by the scripts that
# need one (spec/support/postfix_smtpd.sh, bounces/postfix_capture.sh).
# They run in their own network, mount and PID namespaces, so this
# instance sees only a private loopback and ends with the script. Nothing
# of the system's Postfix is used or changed: configuration, queue and
# logs are in a temporary directory that is removed at the end.
#
#   . spec/support/postfix_private.sh
#   pf_begin                 # $pf_dir made, cleanup on exit, lo up
#   cat >> "$pf_dir/main.cf" <<CF ... CF       # the script's own settings
#   pf_master "127.0.0.1:2526 inet n - n - - smtpd"   # its listeners
#   pf_start                 # or exit 1 with the log
#   pf_wait_idle 30          # until the queue is empty
#   pf_wait_disconnected 10  # until every smtpd session has ended

pf_cleanup() {
  postfix -c "$pf_dir" stop >/dev/null 2>&1 || true
  [ -f "$pf_dir/dnsmasq.pid" ] && kill "$(cat "$pf_dir/dnsmasq.pid")" 2>/dev/null || true
  rm -rf "$pf_dir"
}

# Makes the instance's directory with the settings every use shares:
# its own queue and log, IPv4 on 127.0.0.1 only, 127.0.0.0/8 trusted.
pf_begin() {
  pf_dir=$(mktemp -d /tmp/mailcast-postfix.XXXXXX)
  chmod 755 "$pf_dir"
  trap pf_cleanup EXIT
  trap 'exit 130' INT TERM
  ip link set lo up
  mkdir -p "$pf_dir/queue" "$pf_dir/data"
  chown postfix "$pf_dir/data"
  cat > "$pf_dir/main.cf" <<CF
compatibility_level = 3.6
queue_directory = $pf_dir/queue
data_directory = $pf_dir/data
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
append_dot_mydomain = no
biff = no
smtputf8_enable = no
maillog_file_prefixes = $pf_dir
maillog_file = $pf_dir/maillog
CF
}

# Writes master.cf: the listeners given (one line each), then the
# services every instance runs.
pf_master() {
  printf '%s\n' "$@" > "$pf_dir/master.cf"
  cat >> "$pf_dir/master.cf" <<CF
pickup    unix  n - n 60   1 pickup
cleanup   unix  n - n -    0 cleanup
qmgr      unix  n - n 300  1 qmgr
rewrite   unix  - - n -    - trivial-rewrite
bounce    unix  - - n -    0 bounce
defer     unix  - - n -    0 bounce
trace     unix  - - n -    0 bounce
verify    unix  - - n -    1 verify
flush     unix  n - n 1000 0 flush
proxymap  unix  - - n -    - proxymap
smtp      unix  - - n -    - smtp
relay     unix  - - n -    - smtp
showq     unix  n - n -    - showq
error     unix  - - n -    - error
retry     unix  - - n -    - error
discard   unix  - - n -    - discard
local     unix  - n n -    - local
virtual   unix  - n n -    - virtual
anvil     unix  - - n -    1 anvil
scache    unix  - - n -    1 scache
postlog   unix-dgram n - n - 1 postlogd
CF
}

pf_start() {
  if ! postfix -c "$pf_dir" start >/dev/null 2>&1; then
    echo "postfix did not start" >&2
    cat "$pf_dir/maillog" >&2 2>/dev/null || true
    exit 1
  fi
}

# Runs COMMAND... every 0.1 s until it succeeds, at most $1 seconds;
# says $2 and fails when it never does.
pf_until() {
  limit=$(($1 * 10)) what=$2 i=0
  shift 2
  until "$@"; do
    i=$((i + 1))
    if [ "$i" -gt "$limit" ]; then
      echo "postfix: $what" >&2
      return 1
    fi
    sleep 0.1
  done
}

pf_queue_empty() { postqueue -c "$pf_dir" -p 2>/dev/null | grep -q "Mail queue is empty"; }

# Whether smtpd has logged the end of every session it logged the start
# of: what a session did is in the log then.
pf_sessions_ended() {
  [ "$(grep -c 'smtpd\[[0-9]*\]: connect from' "$pf_dir/maillog")" \
    -eq "$(grep -c 'smtpd\[[0-9]*\]: disconnect from' "$pf_dir/maillog")" ]
}

# Until nothing is left in the queue, at most $1 seconds.
pf_wait_idle() { pf_until "$1" "mail still queued after $1 s" pf_queue_empty; }

# Until every smtpd session has ended, at most $1 seconds.
pf_wait_disconnected() { pf_until "$1" "a session is still open after $1 s" pf_sessions_ended; }
