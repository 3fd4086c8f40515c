#!/bin/sh
# Runs COMMAND against a real Postfix smtpd on 127.0.0.1:2526 that is as
# strict about the SMTP dialogue as Postfix gets: it disconnects a client
# that sends commands ahead where RFC 2920 does not allow it
# (smtpd_forbid_unauth_pipelining, the default from Postfix 3.9), refuses
# DATA after improper pipelining (reject_unauth_pipelining), refuses a
# line ended by a bare LF (smtpd_forbid_bare_newline = reject) and an
# EHLO name that is neither a fully qualified domain nor an address
# literal, for 127.0.0.1 too. It offers STARTTLS with a self-signed
# certificate. Every message for dest.test is delivered to a Maildir;
# when COMMAND is done, the queue is empty and every session has been
# logged to its end, that Maildir and Postfix's log are copied to
# OUTDIR/Maildir and OUTDIR/maillog.
#
#   sh spec/support/postfix_smtpd.sh [--connection-limit N] OUTDIR COMMAND [ARG...]
#
# --connection-limit N: smtpd takes at most N connections at once from a
# client (smtpd_client_connection_count_limit, counted by anvil, for
# 127.0.0.1 too) and answers one more with "421 4.7.0 ... too many
# connections", as ISP relays do.
#
# Exits with COMMAND's status (1 when Postfix does not start, does not
# deliver everything within 30 s or keeps a session open 10 s more).
# Needs root, util-linux unshare, iproute2 and postfix; see
# postfix_private.sh.
set -eu

limit=
if [ "${1:-}" = --connection-limit ]; then
  limit=${2:?--connection-limit needs a number}
  shift 2
fi
out=${1:?usage: postfix_smtpd.sh [--connection-limit N] OUTDIR COMMAND [ARG...]}
case $out in /*) ;; *) out=$PWD/$out ;; esac
shift

if [ "${MC_POSTFIX_NS:-}" != 1 ]; then
  exec unshare --mount --net --pid --fork --mount-proc env MC_POSTFIX_NS=1 \
    sh "$0" ${limit:+--connection-limit "$limit"} "$out" "$@"
fi

. "$(dirname "$0")/postfix_private.sh"
pf_begin

# Delivered inside the instance's directory, which the delivery agent's
# user can reach, and copied to OUTDIR at the end.
mkdir -p "$pf_dir/Maildir/new" "$pf_dir/Maildir/cur" "$pf_dir/Maildir/tmp" "$out"
chown -R nobody "$pf_dir/Maildir"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=mx.dest.test \
  -keyout "$pf_dir/key.pem" -out "$pf_dir/cert.pem" 2>/dev/null
chmod 600 "$pf_dir/key.pem"

cat >> "$pf_dir/main.cf" <<CF
myhostname = mx.dest.test
mydomain = dest.test
mydestination =
local_recipient_maps =
virtual_mailbox_domains = dest.test
virtual_mailbox_base = $pf_dir
virtual_mailbox_maps = static:Maildir/
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
virtual_mailbox_limit = 0
smtpd_forbid_unauth_pipelining = yes
smtpd_data_restrictions = reject_unauth_pipelining
smtpd_forbid_bare_newline = reject
smtpd_forbid_bare_newline_exclusions =
smtpd_helo_required = yes
smtpd_helo_restrictions = reject_invalid_helo_hostname, reject_non_fqdn_helo_hostname
smtpd_tls_security_level = may
smtpd_tls_cert_file = $pf_dir/cert.pem
smtpd_tls_key_file = $pf_dir/key.pem
smtpd_tls_received_header = yes
CF
if [ -n "$limit" ]; then
  # Its anvil (in pf_master's services) counts the connections; mynetworks
  # would be exempt by default.
  cat >> "$pf_dir/main.cf" <<CF
smtpd_client_connection_count_limit = $limit
smtpd_client_event_limit_exceptions =
CF
fi
pf_master "127.0.0.1:2526 inet n - n - - smtpd" "tlsmgr unix - - n 1000? 1 tlsmgr"
pf_start

status=0
"$@" || status=$?
pf_wait_idle 30 || status=1
pf_wait_disconnected 10 || status=1
cp "$pf_dir/maillog" "$out/maillog" 2>/dev/null || true
cp -R "$pf_dir/Maildir" "$out/Maildir"
exit "$status"
