#!/bin/sh
# Generates the rejection Dovecot's LDA (dovecot-lda, Debian's dovecot
# 2.3) sends for a mailbox over its quota, and writes it to
# OUTDIR/quota-full.eml:
#
#   sh spec/support/bounces/dovecot_capture.sh OUTDIR
#
# Needs dovecot-core and root (the LDA runs as nobody). Nothing goes over
# the network: the LDA reads the message on stdin, delivers into a
# Maildir of a temporary directory whose quota (1 KB) the message exceeds,
# and hands its rejection to a "sendmail" that is a script writing it to
# a file. The directory is removed at the end.
set -eu

out=${1:?usage: dovecot_capture.sh OUTDIR}
case $out in /*) ;; *) out=$PWD/$out ;; esac
LDA=${MC_DOVECOT_LDA:-/usr/lib/dovecot/dovecot-lda}
. "$(dirname "$0")/capture_common.sh"

dir=$(mktemp -d /tmp/mailcast-dovecot-capture.XXXXXX)
trap 'rm -rf "$dir"' EXIT
chmod 755 "$dir"
mkdir -p "$dir/run" "$dir/home/full" "$dir/sent"
chown nobody "$dir/run" "$dir/home/full" "$dir/sent"
: > "$dir/lda.log"
chown nobody "$dir/lda.log"

cat > "$dir/sendmail" <<EOF
#!/bin/sh
cat > $dir/sent/rejection.eml
EOF
chmod 755 "$dir/sendmail"

cat > "$dir/dovecot.conf" <<EOF
protocols =
base_dir = $dir/run
log_path = $dir/lda.log
ssl = no
mail_location = maildir:~/Maildir
mail_plugins = quota
plugin {
  quota = maildir:User quota
  quota_rule = *:storage=1K
}
quota_full_tempfail = no
sendmail_path = $dir/sendmail
postmaster_address = postmaster@dest.test
hostname = mx.dest.test
EOF

{
  capture_message quota-full full@dest.test
  capture_padding 3000
} | setpriv --reuid=nobody --regid=nogroup --clear-groups \
      env -i USER=full HOME="$dir/home/full" PATH=/usr/bin:/bin \
      "$LDA" -c "$dir/dovecot.conf" -a full@dest.test -r full@dest.test \
      -f bounces+quota-full@sender.test

if [ ! -s "$dir/sent/rejection.eml" ]; then
  echo "dovecot_capture: no rejection was sent" >&2
  cat "$dir/lda.log" >&2
  exit 1
fi
mkdir -p "$out"
cp "$dir/sent/rejection.eml" "$out/quota-full.eml"
