#!/bin/sh
# Generates Sendmail's own bounce notices with a private Sendmail
# (Debian's sendmail-bin, its configuration built with sendmail-cf's m4
# macros; both downloaded and unpacked for the one run, as their package
# conflicts with the installed Postfix) and writes them to OUTDIR as
# <token>.eml, token being the VERP tag of the bounce address the notice
# came back to:
#
#   unknown-local   a local part with no account nor alias (550 5.1.1)
#   disabled        a local part the virtusertable maps to error:5.2.1:550
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
#   sh spec/support/bounces/sendmail_capture.sh OUTDIR
#
# Needs root, util-linux unshare, iproute2, overlayfs, postfix, dnsmasq
# and apt-get download. It runs in its own network, mount and PID
# namespaces (capture_common.sh): Sendmail's files are laid over the
# system's for this namespace only, it sees only a private loopback, and
# every process it started ends with it. Sendmail runs no daemon: each
# message is submitted on its command line and delivered at once, errors
# mailed back (-oem), the queue run again past its lifetime. "The next
# server" is a private Postfix smtpd on 127.0.0.1:2526
# (capture_remote_postfix).
set -eu

out=${1:?usage: sendmail_capture.sh OUTDIR}
case $out in /*) ;; *) out=$PWD/$out ;; esac
. "$(dirname "$0")/capture_common.sh"
if ! capture_fetch_debs sendmail-bin sendmail-base sendmail-cf m4; then
  echo "sendmail_capture: could not download sendmail" >&2
  exit 2
fi
capture_enter_namespaces "$out"

. "$(dirname "$0")/../postfix_private.sh"
pf_begin
dir=$pf_dir
if ! capture_package_root "$dir/pkg"; then
  echo "sendmail_capture: could not unpack sendmail" >&2
  exit 2
fi
capture_dns "$dir"
# Sendmail qualifies its own name when it starts: found in the overlaid
# /etc/hosts, not after a minute of DNS time-outs.
echo "127.0.0.1 mta.sender.test $(hostname) localhost" > /etc/hosts
capture_remote_postfix 2526

# token recipient [bytes of padding]: two local failures, then the
# remote ones every capture makes.
cases="unknown-local nosuch@dest.test
disabled disabled@dest.test
$CAPTURE_REMOTE_CASES"

# Sendmail trusts no map in a world-writable path such as /tmp: its
# files live in the overlaid /var, which this namespace alone sees.
sm=/var/spool/mailcast-sendmail
mkdir -p "$sm/mqueue" "$sm/bounces"
chmod 700 "$sm/mqueue"
chmod 777 "$sm/bounces"   # the alias's program runs as Sendmail's default user
# Each notice is stored as it comes to the bounce address of its case.
echo "$cases" | while read -r token rcpt pad; do
  echo "bounces+$token: \"|cat > $sm/bounces/$token.eml\""
done > "$sm/aliases"
echo "disabled@dest.test error:5.2.1:550 Mailbox disabled for this recipient" > "$sm/virtusertable"
printf '%s\n' "remote.test esmtp:[127.0.0.1]" "elsewhere.test esmtp:[127.0.0.1]" \
  "refused.test esmtp:[127.0.0.2]" > "$sm/mailertable"
cat > "$sm/sendmail.mc" <<MC
include(\`/usr/share/sendmail/cf/m4/cf.m4')dnl
OSTYPE(\`linux')dnl
define(\`ALIAS_FILE', \`$sm/aliases')dnl
define(\`QUEUE_DIR', \`$sm/mqueue')dnl
define(\`STATUS_FILE', \`$sm/statistics')dnl
define(\`confHOST_STATUS_DIRECTORY', \`')dnl
define(\`confDOMAIN_NAME', \`mta.sender.test')dnl
define(\`confDONT_PROBE_INTERFACES', \`True')dnl
define(\`confTO_QUEUERETURN', \`1s')dnl
define(\`ESMTP_MAILER_ARGS', \`TCP \$h 2526')dnl
FEATURE(\`mailertable', \`hash $sm/mailertable')dnl
FEATURE(\`virtusertable', \`hash $sm/virtusertable')dnl
LOCAL_DOMAIN(\`sender.test')dnl
LOCAL_DOMAIN(\`dest.test')dnl
MAILER(\`local')dnl
MAILER(\`smtp')dnl
MC
m4 "$sm/sendmail.mc" > "$sm/sendmail.cf"
cf=$sm/sendmail.cf
sendmail=/usr/libexec/sendmail/sendmail
for map in mailertable virtusertable; do
  /usr/libexec/sendmail/makemap -C "$cf" hash "$sm/$map" < "$sm/$map"
done
"$sendmail" -C "$cf" -bi >/dev/null

# Standard input as one message from $1 to $2, given to Sendmail itself.
sendmail_submit() {
  "$sendmail" -C "$cf" -oem -odi -f "$1" -- "$2" 2>>"$sm/submit.err" || true
}
capture_send_cases "$cases" sendmail_submit
# Past the queue lifetime, a queue run gives up on what was deferred.
sleep 2
"$sendmail" -C "$cf" -q 2>>"$sm/submit.err" || true

want=$(echo "$cases" | wc -l)
if ! capture_wait_files "$sm/bounces" "$want"; then
  echo "sendmail_capture: only $(ls "$sm/bounces" | wc -l) of $want notices after 30 s" >&2
  cat "$sm/submit.err" >&2 || true
fi
mkdir -p "$out"
cp "$sm"/bounces/*.eml "$out"/
