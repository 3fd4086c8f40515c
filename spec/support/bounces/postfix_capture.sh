#!/bin/sh
# Generates real delivery status notifications with a private Postfix
# and writes them to OUTDIR as <token>.eml, token being the VERP tag of
# the bounce address the DSN came back to:
#
#   unknown-user    a local recipient that does not exist (local(8))
#   mailbox-full    a local mailbox over mailbox_size_limit (local(8))
#   unroutable      a domain that does not exist (NXDOMAIN from DNS)
#   remote-unknown  a recipient an SMTP server refuses at RCPT (550 5.1.1)
#   expired         a server that refuses connections, tried only once
#   remote-blocked  a recipient an SMTP server refuses for a block list
#   sender-refused  a sender an SMTP server refuses (554 5.7.1)
#   too-big         a message larger than an SMTP server's SIZE limit
#
#   sh spec/support/bounces/postfix_capture.sh OUTDIR
#
# Needs root, util-linux unshare, iproute2, postfix and dnsmasq. It runs
# in its own network, mount and PID namespaces: Postfix and dnsmasq see
# only a private loopback (127.0.0.1), /etc/resolv.conf points at that
# dnsmasq for the one run, and when the script ends every process it
# started ends with it. Nothing of the system's Postfix is used or
# changed: the instance has its own configuration, queue and logs in a
# temporary directory that is removed at the end.
set -eu

out=${1:?usage: postfix_capture.sh OUTDIR}
case $out in /*) ;; *) out=$PWD/$out ;; esac

. "$(dirname "$0")/capture_common.sh"
capture_enter_namespaces "$out"

. "$(dirname "$0")/../postfix_private.sh"
pf_begin
dir=$pf_dir
capture_dns "$dir"

mkdir -p "$dir/Maildir/new" "$dir/Maildir/cur" "$dir/Maildir/tmp"
chown -R nobody "$dir/Maildir"
# A mailbox already at its limit: the next delivery cannot be appended.
capture_padding 51150 > "$dir/full.mbox"
chown nobody "$dir/full.mbox"

cat >> "$dir/main.cf" <<CF
myhostname = mta.sender.test
mydomain = sender.test
myorigin = \$mydomain
mydestination = sender.test, dest.test, remote.test
alias_maps = hash:$dir/aliases
alias_database = hash:$dir/aliases
transport_maps = hash:$dir/transport
recipient_delimiter = +
mailbox_size_limit = 51200
message_size_limit = 51200
maximal_queue_lifetime = 0
bounce_queue_lifetime = 0
CF

pf_master "127.0.0.1:2526 inet n - n - - smtpd -o local_recipient_maps=hash:$dir/remote_users -o smtpd_recipient_restrictions=check_recipient_access,hash:$dir/remote_access,reject_unlisted_recipient,permit_mynetworks,reject -o smtpd_sender_restrictions=check_sender_access,hash:$dir/sender_access -o message_size_limit=20000"

cat > "$dir/aliases" <<CF
bounces: $dir/Maildir/
full: $dir/full.mbox
CF
cat > "$dir/transport" <<CF
remote.test smtp:[127.0.0.1]:2526
refused.test smtp:[127.0.0.1]:2599
CF
printf '%s\n' "known@remote.test OK" "blocked@remote.test OK" "big@remote.test OK" > "$dir/remote_users"
echo "blocked@remote.test 554 5.7.1 Service unavailable; Client host [127.0.0.1] blocked using zen.spamhaus.org" > "$dir/remote_access"
echo "bounces+sender-refused@sender.test REJECT Access denied" > "$dir/sender_access"
postalias -c "$dir" "$dir/aliases"
postmap -c "$dir" "$dir/transport"
postmap -c "$dir" "$dir/remote_users"
postmap -c "$dir" "$dir/remote_access"
postmap -c "$dir" "$dir/sender_access"

pf_start

# token recipient
cases="unknown-user nosuch@dest.test
mailbox-full full@dest.test
unroutable someone@nowhere.invalid
remote-unknown nosuch@remote.test
expired user@refused.test
remote-blocked blocked@remote.test
sender-refused known@remote.test
too-big big@remote.test"

echo "$cases" | while read -r token rcpt; do
  {
    capture_message "$token" "$rcpt"
    [ "$token" = too-big ] && capture_padding 30000
    echo
  } | sendmail -C "$dir" -f "bounces+$token@sender.test" -- "$rcpt"
done

want=$(echo "$cases" | wc -l)
if ! capture_wait_files "$dir/Maildir/new" "$want"; then
  echo "postfix_capture: only $(ls "$dir/Maildir/new" | wc -l) of $want DSNs after 30 s" >&2
  cat "$dir/maillog" >&2 || true
  exit 1
fi

capture_copy_by_token "$dir/Maildir/new" Delivered-To "$out"
