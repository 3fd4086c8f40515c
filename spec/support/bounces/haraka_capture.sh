#!/bin/sh
# Generates Haraka's own bounce notices (its outbound delivery, the
# Haraka package from npm, installed into a temporary directory for the
# one run) and writes them to OUTDIR as <token>.eml, token being the VERP
# tag of the bounce address the notice came back to:
#
#   unroutable      a domain that does not exist (NXDOMAIN from DNS)
#   remote-unknown  a recipient the next server refuses at RCPT (550 5.1.1)
#   remote-full     a recipient the next server refuses as full (552 5.2.2)
#   remote-busy     a recipient refused as full for now (452 4.2.2), no retries allowed
#   remote-blocked  a recipient the next server refuses for a block list
#   relay-denied    a recipient the next server will not relay for (554 5.7.1)
#   spam            a message the next server's content filter refuses after DATA (550 5.7.1)
#   sender-refused  a sender the next server refuses at MAIL FROM
#   too-big         a message the next server refuses for its size (552 5.3.4)
#   expired         a server that refuses connections, no retries allowed
#
#   sh spec/support/bounces/haraka_capture.sh OUTDIR
#
# Needs root, util-linux unshare, iproute2, postfix, dnsmasq,
# python3-aiosmtpd, node and npm (with the npm registry reachable). It
# runs in its own network, mount and PID namespaces (capture_common.sh):
# Haraka sees only a private loopback, and every process it started ends
# with it. Haraka relays what 127.0.0.1 gives it and delivers it itself
# ("outbound"), with no retries after a temporary failure
# (temp_fail_intervals=none); a plugin of ours names the servers of the
# test domains (its get_mx hook). "The next server" is a private Postfix
# smtpd on 127.0.0.1:2526 (capture_remote_postfix); the notices go back
# over SMTP to a server that keeps them as they come (capture_sink).
set -eu

out=${1:?usage: haraka_capture.sh OUTDIR}
case $out in /*) ;; *) out=$PWD/$out ;; esac
. "$(dirname "$0")/capture_common.sh"
if [ "${MC_BOUNCE_NS:-}" != 1 ]; then
  MC_CAPTURE_NPM=$(mktemp -d /tmp/mailcast-haraka.XXXXXX)
  export MC_CAPTURE_NPM
  if ! npm install --prefix "$MC_CAPTURE_NPM" --no-audit --no-fund Haraka@3 >/dev/null 2>&1; then
    echo "haraka_capture: could not install Haraka from npm" >&2
    rm -rf "$MC_CAPTURE_NPM"
    exit 2
  fi
fi
capture_enter_namespaces "$out"

. "$(dirname "$0")/../postfix_private.sh"
pf_begin
dir=$pf_dir
trap 'pf_cleanup; rm -rf "$MC_CAPTURE_NPM"' EXIT
capture_dns "$dir"
capture_remote_postfix 2526
capture_sink "$dir"

haraka="node $MC_CAPTURE_NPM/node_modules/Haraka/bin/haraka"
$haraka -i "$dir/haraka" >/dev/null
cfg=$dir/haraka/config
# The bounce templates Haraka ships (haraka -i does not copy them; without
# them its notices have no From, To or Subject).
cp "$MC_CAPTURE_NPM"/node_modules/Haraka/config/outbound.bounce_message* "$cfg/"
echo "listen=127.0.0.1:2525" > "$cfg/smtp.ini"
echo "me.sender.test" > "$cfg/me"
printf '%s\n' "temp_fail_intervals=none" "enable_tls=false" > "$cfg/outbound.ini"
printf '%s\n' capture_routes queue/deliver > "$cfg/plugins"
cat > "$dir/haraka/plugins/capture_routes.js" <<JS
// Relays for 127.0.0.1 and names the server of each test domain; any
// other domain (nowhere.invalid) is looked up in DNS.
const routes = {
  'sender.test': { exchange: '127.0.0.1', port: $sink_port },
  'remote.test': { exchange: '127.0.0.1', port: 2526 },
  'elsewhere.test': { exchange: '127.0.0.1', port: 2526 },
  'refused.test': { exchange: '127.0.0.1', port: 2599 },
}
exports.hook_rcpt = function (next, connection) {
  connection.relaying = true
  next(OK)
}
exports.hook_get_mx = function (next, hmail, domain) {
  if (routes[domain]) return next(OK, routes[domain])
  next()
}
JS
$haraka -c "$dir/haraka" >"$dir/haraka.log" 2>&1 &
if ! capture_wait_port 2525; then
  echo "haraka_capture: Haraka did not start" >&2
  cat "$dir/haraka.log" >&2
  exit 1
fi

cases=$CAPTURE_REMOTE_CASES

capture_send_cases "$cases" capture_submit 2525

want=$(echo "$cases" | wc -l)
i=0
while [ "$(capture_sink_count "$dir")" -lt "$want" ] && [ $i -lt 300 ]; do
  i=$((i + 1))
  sleep 0.1
done
if [ "$(capture_sink_count "$dir")" -lt "$want" ]; then
  echo "haraka_capture: only $(capture_sink_count "$dir") of $want notices after 30 s" >&2
  tail -40 "$dir/haraka.log" >&2
fi
capture_copy_sink "$dir" "$out"
