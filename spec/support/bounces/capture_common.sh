# The steps the capture scripts of this directory share (exim_capture.sh,
# postfix_capture.sh, dovecot_capture.sh), sourced by them:
#
#   . "$(dirname "$0")/capture_common.sh"
#   capture_enter_namespaces "$out"   # the script again, in namespaces of its own
#   capture_dns "$dir"                # the namespace's only DNS server
#   capture_message TOKEN RCPT        # the newsletter whose bounce is captured
#   capture_padding BYTES             # filler to make a message or mailbox big
#   capture_wait_files DIR COUNT      # until COUNT notices have arrived
#   capture_copy_by_token DIR HEADER OUT   # each notice to OUT/<token>.eml

# Runs the calling script again (with OUT as its one argument) in its own
# network, mount and PID namespaces, unless it already is in them; there,
# brings up the private loopback. Every process the script starts ends
# with it.
capture_enter_namespaces() {
  if [ "${MC_BOUNCE_NS:-}" != 1 ]; then
    exec unshare --mount --net --pid --fork --mount-proc env MC_BOUNCE_NS=1 sh "$0" "$1"
  fi
  ip link set lo up
}

# Starts dnsmasq on 127.0.0.1:53 (its pid in DIR/dnsmasq.pid) and points
# /etc/resolv.conf at it for this mount namespace only. Names under
# .invalid and .test do not exist; nothing is forwarded anywhere.
capture_dns() {
  echo "nameserver 127.0.0.1" > "$1/resolv.conf"
  mount --bind "$1/resolv.conf" /etc/resolv.conf
  dnsmasq --conf-file=/dev/null --no-resolv --no-hosts --no-poll \
    --listen-address=127.0.0.1 --bind-interfaces --port=53 \
    --local=/invalid/ --local=/test/ --local=/in-addr.arpa/ \
    --pid-file="$1/dnsmasq.pid" --user=nobody
}

# Prints the newsletter sent to RCPT whose bounce address is tagged TOKEN:
# the specs find TOKEN again in its Message-ID and X-Mailcast-Recipient.
capture_message() {
  cat <<MSG
From: Example News <news@sender.test>
To: <$2>
Subject: Your November news
Date: Mon, 04 Nov 2024 10:00:00 +0000
Message-ID: <$1.20241104@sender.test>
X-Mailcast-Campaign: november
X-Mailcast-Recipient: $1
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

Hello, this is the November newsletter.
MSG
}

# Prints BYTES letters x in lines of 70, without a final newline.
capture_padding() {
  head -c "$1" /dev/zero | tr '\0' 'x' | fold -w 70
}

# Waits up to 30 s for COUNT files in the directory DIR; returns 1 if
# fewer came (the caller says so and shows its logs).
capture_wait_files() {
  i=0
  while [ "$(ls "$1" 2>/dev/null | wc -l)" -lt "$2" ]; do
    i=$((i + 1))
    [ $i -gt 300 ] && return 1
    sleep 0.1
  done
  return 0
}

# Copies each notice in DIR (a Maildir's new/) to
# OUT/<token>.eml, token being the VERP tag of the bounces+TOKEN@ address
# that its header HEADER names (unknown.eml when it names none).
capture_copy_by_token() {
  mkdir -p "$3"
  for f in "$1"/*; do
    [ -e "$f" ] || continue
    token=$(sed -n "s/^$2: bounces+\([^@]*\)@.*/\1/p" "$f" | head -n 1)
    cp "$f" "$3/${token:-unknown}.eml"
  done
}
