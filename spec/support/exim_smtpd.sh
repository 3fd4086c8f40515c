#!/bin/sh
# Runs COMMAND against a real Exim on 127.0.0.1:PORT (COMMAND finds it
# in MC_EXIM_PORT, its main log in MC_EXIM_LOG and its spool directory
# in MC_EXIM_SPOOL), Debian's exim4
# unpacked by .ci/deps into a root of its own (it cannot be installed
# beside postfix). Exim is as it ships but for what a test needs: it
# offers PIPELINING, CHUNKING and STARTTLS (a self-signed certificate),
# enforces SMTP synchronization (a client that sends ahead where RFC 2920
# does not allow it gets "554 SMTP synchronization error"), takes mail
# for dest.test only (any domain with --queue-only) and does no DNS. Each message is delivered at once
# to a Maildir; with --queue-only it is only spooled, as a busy server
# does, and thrown away at the end (for benchmarks). When COMMAND is
# done and the queue is empty, the Maildir and Exim's main and reject
# logs are copied to OUTDIR.
#
#   sh spec/support/exim_smtpd.sh [--queue-only] PORT OUTDIR COMMAND [ARG...]
#
# Exits with COMMAND's status (1 when Exim does not start or does not
# deliver everything within 30 s). Needs root and .ci/deps's exim; see
# exim_smtpd.sh --check.
set -eu

. "$(dirname "$0")/exim_private.sh"

# --check: says why Exim cannot run here (exit 1), or nothing (exit 0).
if [ "${1:-}" = --check ]; then
  [ "$(id -u)" = 0 ] || { echo "exim needs root to start"; exit 1; }
  [ -x "$EXIM" ] || { echo "no $EXIM (sh .ci/deps unpacks it)"; exit 1; }
  id Debian-exim >/dev/null 2>&1 || { echo "no Debian-exim user (sh .ci/deps makes it)"; exit 1; }
  "$EXIM" -C /dev/null -bV >/dev/null 2>&1 || { echo "$EXIM does not run: $("$EXIM" -C /dev/null -bV 2>&1 | head -1)"; exit 1; }
  exit 0
fi

queue_only=false
if [ "${1:-}" = --queue-only ]; then
  queue_only=true
  shift
fi
port=${1:?usage: exim_smtpd.sh [--queue-only] PORT OUTDIR COMMAND [ARG...]}
out=${2:?usage: exim_smtpd.sh [--queue-only] PORT OUTDIR COMMAND [ARG...]}
case $out in /*) ;; *) out=$PWD/$out ;; esac
shift 2

# Spooling only, it takes mail for any domain: nothing is delivered.
spool_any=
$queue_only && spool_any="accept"

dir=$(mktemp -d /tmp/mailcast-exim.XXXXXX)
chmod 755 "$dir"   # Exim runs as Debian-exim
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
mkdir -p "$dir/spool" "$dir/log" "$dir/Maildir" "$out"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=mx.dest.test \
  -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
chown -R Debian-exim "$dir/spool" "$dir/log" "$dir/Maildir" "$dir/key.pem"
chmod 600 "$dir/key.pem"

{
  exim_conf_base mx.dest.test "127.0.0.1.$port" "$dir"
  cat <<CONF
domainlist local_domains = dest.test
tls_certificate = $dir/cert.pem
tls_privatekey = $dir/key.pem
tls_advertise_hosts = *
chunking_advertise_hosts = *
pipelining_advertise_hosts = *
smtp_enforce_sync = true
smtp_accept_max = 200
smtp_accept_max_per_host = 200
# Every message of a connection delivered at once (the default queues
# those after the tenth for a queue runner there is none of).
smtp_accept_queue_per_connection = 0
queue_only = $queue_only
acl_smtp_rcpt = check_rcpt
# a line for each connection and how it ended
log_selector = +smtp_connection

begin acl
check_rcpt:
  accept domains = +local_domains
  $spool_any
  deny message = relay not permitted

begin routers
local_user:
  driver = accept
  domains = +local_domains
  transport = maildir

begin transports
maildir:
  driver = appendfile
  directory = $dir/Maildir
  maildir_format
  delivery_date_add
  envelope_to_add
  return_path_add
  user = Debian-exim
CONF
} >"$dir/exim.conf"

"$EXIM" -C "$dir/exim.conf" -bdf >"$dir/log/daemon.out" 2>&1 &
pid=$!
# Listening within 10 s, or it failed to start.
started=false
for _ in $(seq 100); do
  if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $port), 0.2).close()" 2>/dev/null; then
    started=true
    break
  fi
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
if ! $started; then
  echo "exim_smtpd.sh: exim did not start:" >&2
  cat "$dir/log/daemon.out" "$dir/log/paniclog" "$dir/log/mainlog" >&2 2>/dev/null || true
  exit 1
fi

status=0
MC_EXIM_PORT=$port MC_EXIM_LOG=$dir/log/mainlog MC_EXIM_SPOOL=$dir/spool "$@" || status=$?

if ! $queue_only; then
  # Delivered within 30 s: a queue run takes what a delivery process left.
  for _ in $(seq 300); do
    [ -z "$(ls "$dir/spool/input" 2>/dev/null)" ] && break
    sleep 0.1
  done
  "$EXIM" -C "$dir/exim.conf" -qff >/dev/null 2>&1 || true
  [ -z "$(ls "$dir/spool/input" 2>/dev/null)" ] || { echo "exim_smtpd.sh: mail left in the queue" >&2; status=1; }
fi
kill "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
pid=
cp "$dir/log/mainlog" "$out/mainlog" 2>/dev/null || : >"$out/mainlog"
cp "$dir/log/rejectlog" "$out/rejectlog" 2>/dev/null || : >"$out/rejectlog"
cp -R "$dir/Maildir" "$out/Maildir"
exit "$status"
