#!/bin/sh
# Generates the Courier mail server's own bounce notices with a private
# Courier (Debian's courier-mta, downloaded and unpacked for the one run:
# its package conflicts with the installed Postfix) and writes them to
# OUTDIR as <token>.eml, token being the VERP tag of the bounce address
# the notice came back to:
#
#   unroutable      a domain that does not exist (NXDOMAIN from DNS)
#   remote-unknown  a recipient the next server refuses at RCPT (550 5.1.1)
#   remote-full     a recipient the next server refuses as full (552 5.2.2)
#   remote-busy     a recipient refused as full for now (452 4.2.2), past its queue time
#   remote-blocked  a recipient the next server refuses for a block list
#   relay-denied    a recipient the next server will not relay for (554 5.7.1)
#   spam            a message the next server's content filter refuses after DATA (550 5.7.1)
#   sender-refused  a sender the next server refuses at MAIL FROM
#   too-big         a message the next server refuses for its size (552 5.3.4)
#   expired         a server that refuses connections, past the queue time
#
#   sh spec/support/bounces/courier_capture.sh OUTDIR
#
# Needs root, util-linux unshare, iproute2, overlayfs, postfix, dnsmasq,
# python3-aiosmtpd and apt-get download. It runs in its own network,
# mount and PID namespaces (capture_common.sh): Courier's files are laid
# over the system's for this namespace only, it sees only a private
# loopback, and every process it started ends with it. "The next server"
# is a private Postfix smtpd on 127.0.0.1:2526 (capture_remote_postfix);
# the notices go back over SMTP to a server that keeps them as they come
# (capture_sink), as mail for sender.test would.
set -eu

out=${1:?usage: courier_capture.sh OUTDIR}
case $out in /*) ;; *) out=$PWD/$out ;; esac
. "$(dirname "$0")/capture_common.sh"
if ! capture_fetch_debs courier-mta courier-base courier-authlib libcourier-unicode4; then
  echo "courier_capture: could not download courier" >&2
  exit 2
fi
capture_enter_namespaces "$out"

. "$(dirname "$0")/../postfix_private.sh"
pf_begin
dir=$pf_dir
if ! capture_package_root "$dir/pkg"; then
  echo "courier_capture: could not unpack courier" >&2
  exit 2
fi
capture_dns "$dir"
echo "127.0.0.1 mta.sender.test $(hostname) localhost" > /etc/hosts
capture_remote_postfix 2526
capture_sink "$dir"

# The user it runs as (as its postinst makes it), in this namespace's /etc only.
groupadd --system courier && useradd --system -g courier -d /var/lib/courier courier
chown -R courier:courier /var/lib/courier
mkdir -p /run/courier && chown courier:courier /run/courier
echo mta.sender.test > /etc/courier/me
echo localhost > /etc/courier/locals
printf '%s\n' "sender.test: [127.0.0.1],$sink_port" "remote.test: [127.0.0.1],2526" \
  "elsewhere.test: [127.0.0.1],2526" "refused.test: [127.0.0.1],2599" > /etc/courier/esmtproutes
# Gives up on a deferred message after a few seconds, retrying each second.
echo 8s > /etc/courier/queuetime
echo 1s > /etc/courier/retryalpha
echo 1s > /etc/courier/retrygamma
sed -i 's/^ESMTP_USE_STARTTLS=.*/ESMTP_USE_STARTTLS=0/' /etc/courier/courierd
makealiases
courier start

cases=$CAPTURE_REMOTE_CASES

# Courier's own sendmail, as a local program submits.
courier_submit() { /usr/sbin/sendmail -f "$1" -- "$2" 2>>"$dir/submit.err" || true; }
capture_send_cases "$cases" courier_submit

want=$(echo "$cases" | wc -l)
i=0
while [ "$(capture_sink_count "$dir")" -lt "$want" ] && [ $i -lt 600 ]; do
  i=$((i + 1))
  sleep 0.1
done
if [ "$(capture_sink_count "$dir")" -lt "$want" ]; then
  echo "courier_capture: only $(capture_sink_count "$dir") of $want notices after 60 s" >&2
  cat "$dir/submit.err" >&2 || true
fi
courier stop >/dev/null 2>&1 || true
capture_copy_sink "$dir" "$out"
