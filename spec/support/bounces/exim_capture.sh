#!/bin/sh
# Generates Exim's own bounce notices with a private Exim (Debian's exim4,
# unpacked by .ci/deps into /opt/mailcast-test/exim) and writes them to
# OUTDIR as <token>.eml, token being the VERP tag of the bounce address
# the notice came back to:
#
#   unknown-local   a local part no router takes (Exim: "Unrouteable address")
#   disabled        a local part redirected to :fail: with a reason
#   mailbox-full    a Maildir over its quota
#   unroutable      a domain that does not exist (NXDOMAIN from DNS)
#   remote-unknown  a recipient the next server refuses at RCPT (550 5.1.1)
#   remote-blocked  a recipient the next server refuses for a block list
#   sender-refused  a sender the next server refuses at MAIL FROM
#   too-big         a message the next server refuses after DATA (5.3.4)
#   expired         a server that refuses connections, past its retry time
#
#   sh spec/support/bounces/exim_capture.sh OUTDIR
#
# Needs root, util-linux unshare, iproute2, dnsmasq, and the exim that
# spec/support/exim_smtpd.sh --check accepts. It runs in its own network,
# mount and PID namespaces: Exim and dnsmasq see only a private loopback
# (127.0.0.1), /etc/resolv.conf points at that dnsmasq for the one run,
# and every process it started ends with it. Exim has its own
# configuration, spool and logs in a temporary directory removed at the
# end. "The next server" is the same Exim on a second port, whose ACLs
# refuse as a receiving server would.
set -eu

out=${1:?usage: exim_capture.sh OUTDIR}
case $out in /*) ;; *) out=$PWD/$out ;; esac
. "$(dirname "$0")/../exim_private.sh"
. "$(dirname "$0")/capture_common.sh"
capture_enter_namespaces "$out"

dir=$(mktemp -d /tmp/mailcast-exim-capture.XXXXXX)
chmod 755 "$dir"
trap 'rm -rf "$dir"' EXIT

capture_dns "$dir"

mkdir -p "$dir/spool" "$dir/log" "$dir/bounces" "$dir/full"
chown -R Debian-exim "$dir/spool" "$dir/log" "$dir/bounces" "$dir/full"

{
  exim_conf_base mx.sender.test "127.0.0.1.25 ; 127.0.0.1.2526" "$dir"
  cat <<CONF
domainlist local_domains = sender.test : dest.test
acl_smtp_mail = check_mail
acl_smtp_rcpt = check_rcpt
acl_smtp_data = check_data

begin acl
# Port 2526 plays the receiving server of remote.test.
check_mail:
  deny condition = \${if and{{eq{\$received_port}{2526}}{match{\$sender_address}{\\\\+sender-refused@}}}}
       message = 5.7.1 <\$sender_address>: Sender address rejected: Access denied
  accept

check_rcpt:
  accept condition = \${if eq{\$received_port}{25}}
  accept local_parts = known : big : someone
  deny local_parts = blocked
       message = 5.7.1 Service unavailable; Client host [127.0.0.1] blocked using zen.spamhaus.org
  deny message = 5.1.1 <\$local_part@\$domain>: Recipient address rejected: User unknown in local recipient table

check_data:
  deny condition = \${if and{{eq{\$received_port}{2526}}{>{\$message_size}{4000}}}}
       message = 5.3.4 Message size exceeds fixed maximum message size
  accept

begin routers
bounces:
  driver = accept
  domains = sender.test
  local_parts = bounces
  local_part_suffix = +*
  transport = bounces
disabled:
  driver = redirect
  domains = dest.test
  local_parts = disabled
  allow_fail
  data = :fail: Mailbox disabled for this recipient
full:
  driver = accept
  domains = dest.test
  local_parts = full
  transport = full
remote:
  driver = manualroute
  domains = remote.test : refused.test
  route_list = remote.test 127.0.0.1::2526 ; refused.test 127.0.0.1::2599
  self = send
  transport = remote_smtp
dnslookup:
  driver = dnslookup
  domains = ! +local_domains
  transport = remote_smtp
  no_more

begin transports
bounces:
  driver = appendfile
  directory = $dir/bounces
  maildir_format
  delivery_date_add
  envelope_to_add
  return_path_add
  user = Debian-exim
full:
  driver = appendfile
  directory = $dir/full
  maildir_format
  quota = 1K
  user = Debian-exim
remote_smtp:
  driver = smtp
  allow_localhost
  hosts_try_chunking =
  hosts_avoid_tls = *

begin retry
# A full mailbox fails at once; refused.test is given up on after a second.
*                quota
refused.test     *      F,1s,1s
*                *      F,2h,15m
CONF
} >"$dir/exim.conf"

"$EXIM" -C "$dir/exim.conf" -bdf >"$dir/log/daemon.out" 2>&1 &
daemon=$!
for _ in $(seq 100); do
  python3 -c "import socket; socket.create_connection(('127.0.0.1', 2526), 0.2).close()" 2>/dev/null && break
  sleep 0.1
done

# token recipient [bytes of padding]
cases="unknown-local nosuch@dest.test
disabled disabled@dest.test
mailbox-full full@dest.test 3000
unroutable someone@nowhere.invalid
remote-unknown nosuch@remote.test
remote-blocked blocked@remote.test
sender-refused someone@remote.test
too-big big@remote.test 6000
expired user@refused.test"

echo "$cases" | while read -r token rcpt pad; do
  {
    capture_message "$token" "$rcpt"
    [ -n "${pad:-}" ] && capture_padding "$pad"
  } | "$EXIM" -C "$dir/exim.conf" -odi -f "bounces+$token@sender.test" -- "$rcpt" 2>>"$dir/log/submit.err" || true
done

# refused.test's first failure is only a deferral: run the queue again
# past its retry time so that Exim gives up.
sleep 2
"$EXIM" -C "$dir/exim.conf" -qff >/dev/null 2>&1 || true
sleep 2
"$EXIM" -C "$dir/exim.conf" -qff >/dev/null 2>&1 || true

want=$(echo "$cases" | wc -l)
if ! capture_wait_files "$dir/bounces/new" "$want"; then
  echo "exim_capture: only $(ls "$dir/bounces/new" 2>/dev/null | wc -l) of $want notices after 30 s" >&2
  cat "$dir/log/mainlog" "$dir/log/paniclog" "$dir/log/submit.err" >&2 2>/dev/null || true
fi
kill "$daemon" 2>/dev/null || true
wait "$daemon" 2>/dev/null || true

capture_copy_by_token "$dir/bounces/new" Envelope-to "$out"
