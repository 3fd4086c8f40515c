#!/bin/sh
# Generates OpenSMTPD's own bounce notices with a private OpenSMTPD
# (Debian's opensmtpd, downloaded and unpacked for the one run: its
# package conflicts with the installed Postfix) and writes them to OUTDIR
# as <token>.eml, token being the VERP tag of the bounce address the
# notice came back to:
#
#   unroutable      a domain that does not exist (NXDOMAIN from DNS)
#   remote-unknown  a recipient the next server refuses at RCPT (550 5.1.1)
#   remote-full     a recipient the next server refuses as full (552 5.2.2)
#   remote-busy     a recipient refused as full for now (452 4.2.2), past its queue lifetime
#   remote-blocked  a recipient the next server refuses for a block list
#   relay-denied    a recipient the next server will not relay for (554 5.7.1)
#   spam            a message the next server's content filter refuses after DATA (550 5.7.1)
#   sender-refused  a sender the next server refuses at MAIL FROM
#   too-big         a message the next server refuses for its size (552 5.3.4)
#   expired         a server that refuses connections, past the queue lifetime
#
#   sh spec/support/bounces/opensmtpd_capture.sh OUTDIR
#
# Needs root, util-linux unshare, iproute2, overlayfs, postfix, dnsmasq
# and apt-get download. It runs in its own network, mount and PID
# namespaces (capture_common.sh): OpenSMTPD's files are laid over the
# system's for this namespace only, it sees only a private loopback, and
# every process it started ends with it. "The next server" is a private
# Postfix smtpd on 127.0.0.1:2526 (capture_remote_postfix).
set -eu

out=${1:?usage: opensmtpd_capture.sh OUTDIR}
case $out in /*) ;; *) out=$PWD/$out ;; esac
. "$(dirname "$0")/capture_common.sh"
if ! capture_fetch_debs opensmtpd; then
  echo "opensmtpd_capture: could not download opensmtpd" >&2
  exit 2
fi
capture_enter_namespaces "$out"

. "$(dirname "$0")/../postfix_private.sh"
pf_begin
dir=$pf_dir
if ! capture_package_root "$dir/pkg"; then
  echo "opensmtpd_capture: could not unpack opensmtpd" >&2
  exit 2
fi
capture_dns "$dir"
# Its privilege-separated processes run as these users (as its postinst
# makes them), in this namespace's /etc only.
groupadd --system opensmtpd && useradd --system -g opensmtpd -d /var/lib/opensmtpd/empty opensmtpd
groupadd --system opensmtpq && useradd --system -g opensmtpq -d /var/lib/opensmtpd/empty opensmtpq
mkdir -p /var/lib/opensmtpd/empty
mkdir -m 711 /var/spool/smtpd

capture_remote_postfix 2526

mkdir -p "$dir/bounces"
chown nobody "$dir/bounces"
cat > "$dir/smtpd.conf" <<CONF
queue ttl 3s
table bouncebox { "@sender.test" = "nobody" }
listen on 127.0.0.1 port 25 hostname mta.sender.test
action "bounces" maildir "$dir/bounces" virtual <bouncebox> user nobody
action "remote" relay host smtp://127.0.0.1:2526 helo mta.sender.test
action "refused" relay host smtp://127.0.0.1:2599 helo mta.sender.test
action "mx" relay helo mta.sender.test
match from any for domain "sender.test" action "bounces"
match from any for domain "remote.test" action "remote"
match from any for domain "elsewhere.test" action "remote"
match from any for domain "refused.test" action "refused"
match from any for domain "nowhere.invalid" action "mx"
CONF
/usr/sbin/smtpd -d -f "$dir/smtpd.conf" >"$dir/smtpd.log" 2>&1 &
if ! capture_wait_port 25; then
  echo "opensmtpd_capture: smtpd did not start" >&2
  cat "$dir/smtpd.log" >&2
  exit 1
fi

cases=$CAPTURE_REMOTE_CASES

capture_send_cases "$cases" capture_submit 25

want=$(echo "$cases" | wc -l)
if ! capture_wait_files "$dir/bounces/new" "$want"; then
  echo "opensmtpd_capture: only $(ls "$dir/bounces/new" 2>/dev/null | wc -l) of $want notices after 30 s" >&2
  cat "$dir/smtpd.log" >&2 || true
fi
capture_copy_by_token "$dir/bounces/new" Delivered-To "$out"
