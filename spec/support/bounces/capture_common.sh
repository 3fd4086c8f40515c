# The steps the capture scripts of this directory share (exim_capture.sh,
# postfix_capture.sh, dovecot_capture.sh, opensmtpd_capture.sh,
# sendmail_capture.sh, courier_capture.sh), sourced by them:
#
#   . "$(dirname "$0")/capture_common.sh"
#   capture_enter_namespaces "$out"   # the script again, in namespaces of its own
#   capture_fetch_debs PKG...         # before: Debian packages, downloaded
#   capture_package_root "$dir"       # their files, in this namespace only
#   capture_dns "$dir"                # the namespace's only DNS server
#   capture_remote_postfix PORT       # the receiving server that refuses
#   capture_submit PORT FROM RCPT     # stdin to an SMTP server on 127.0.0.1
#   capture_sink DIR                  # an SMTP server that keeps what it gets
#   capture_copy_sink DIR OUT         # each message it got to OUT/<token>.eml
#   capture_message TOKEN RCPT        # the newsletter whose bounce is captured
#   capture_padding BYTES             # filler to make a message or mailbox big
#   capture_wait_port PORT            # until a server listens there
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

# Downloads the Debian packages PKG... (apt-get download, no install)
# into a directory named in MC_CAPTURE_DEBS, before the script enters
# its namespaces (there is no network inside them). Returns 1 when a
# package cannot be downloaded.
capture_fetch_debs() {
  [ "${MC_BOUNCE_NS:-}" = 1 ] && return 0
  MC_CAPTURE_DEBS=$(mktemp -d /tmp/mailcast-debs.XXXXXX)
  export MC_CAPTURE_DEBS
  chmod 755 "$MC_CAPTURE_DEBS"
  if ! (cd "$MC_CAPTURE_DEBS" && apt-get download "$@" >/dev/null 2>&1); then
    rm -rf "$MC_CAPTURE_DEBS"
    return 1
  fi
}

# Unpacks the packages capture_fetch_debs downloaded into DIR/root and
# lays that root over /etc, /usr and /var for this mount namespace only
# (overlayfs, changes kept in DIR/overlay): an MTA whose package
# conflicts with the installed Postfix then finds its files where it was
# built to look for them. Call it before capture_dns, whose resolv.conf
# must sit on top of the overlaid /etc.
capture_package_root() {
  mkdir -p "$1/root"
  for deb in "$MC_CAPTURE_DEBS"/*.deb; do
    dpkg -x "$deb" "$1/root" || return 1
  done
  rm -rf "$MC_CAPTURE_DEBS"
  for top in etc usr var; do
    [ -d "$1/root/$top" ] || continue
    mkdir -p "$1/overlay/$top/upper" "$1/overlay/$top/work"
    mount -t overlay overlay \
      -o "lowerdir=$1/root/$top:/$top,upperdir=$1/overlay/$top/upper,workdir=$1/overlay/$top/work" \
      "/$top" || return 1
  done
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

# Waits up to 10 s for a server to listen on 127.0.0.1:PORT; returns 1
# if none does.
capture_wait_port() {
  for _ in $(seq 100); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $1), 0.2).close()" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
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

# Starts smtpd on 127.0.0.1:PORT as the receiving server of remote.test
# that refuses as real ones do (a private Postfix: postfix_private.sh
# sourced and pf_begin run by the caller, which owns $pf_dir):
#
#   nosuch@remote.test       550 5.1.1 user unknown
#   blocked@remote.test      554 5.7.1 client host on a block list
#   full@remote.test         552 5.2.2 mailbox full
#   busy@remote.test         452 4.2.2 mailbox full, for now
#   someone@elsewhere.test   554 5.7.1 relay access denied
#   spam@remote.test         550 5.7.1 after DATA: its content filter calls it spam
#   MAIL FROM bounces+sender-refused@   554 5.7.1 access denied
#   more than 20000 bytes    552 5.3.4 message size exceeds fixed limit
#
# It accepts no mail: every other recipient of remote.test is unknown.
capture_remote_postfix() {
  cat >> "$pf_dir/main.cf" <<CF
myhostname = mx.remote.test
mydestination = remote.test
local_recipient_maps = hash:$pf_dir/remote_users
header_checks = regexp:$pf_dir/header_checks
CF
  pf_master "127.0.0.1:$1 inet n - n - - smtpd -o mynetworks=192.0.2.0/24 -o smtpd_relay_restrictions=reject_unauth_destination -o smtpd_recipient_restrictions=check_recipient_access,hash:$pf_dir/remote_access,reject_unlisted_recipient,permit -o smtpd_sender_restrictions=check_sender_access,hash:$pf_dir/sender_access -o message_size_limit=20000"
  printf '%s\n' "known@remote.test OK" "blocked@remote.test OK" "big@remote.test OK" \
    "full@remote.test OK" "busy@remote.test OK" "spam@remote.test OK" > "$pf_dir/remote_users"
  # The newsletter sent to spam@ carries its token in X-Mailcast-Recipient.
  echo "/^X-Mailcast-Recipient: spam\$/ REJECT 5.7.1 Message rejected as spam by content filter" > "$pf_dir/header_checks"
  printf '%s\n' "blocked@remote.test 554 5.7.1 Service unavailable; Client host [127.0.0.1] blocked using zen.spamhaus.org" \
    "full@remote.test 552 5.2.2 Mailbox full" \
    "busy@remote.test 452 4.2.2 Mailbox full, try again later" > "$pf_dir/remote_access"
  echo "bounces+sender-refused@sender.test REJECT Access denied" > "$pf_dir/sender_access"
  for map in remote_users remote_access sender_access; do
    postmap -c "$pf_dir" "$pf_dir/$map"
  done
  pf_start
}

# The failures capture_remote_postfix and capture_dns make, a line each:
# token, recipient [, bytes of padding].
CAPTURE_REMOTE_CASES="unroutable someone@nowhere.invalid
remote-unknown nosuch@remote.test
remote-full full@remote.test
remote-busy busy@remote.test
remote-blocked blocked@remote.test
relay-denied someone@elsewhere.test
spam spam@remote.test
sender-refused known@remote.test
too-big big@remote.test 30000
expired user@refused.test"

# Sends one message for each line of CASES (token recipient [padding])
# from bounces+TOKEN@sender.test: standard input of the command given,
# with the sender and the recipient appended to it.
capture_send_cases() {
  cases=$1
  shift
  echo "$cases" | while read -r token rcpt pad; do
    {
      capture_message "$token" "$rcpt"
      [ -n "${pad:-}" ] && capture_padding "$pad"
      echo
    } | "$@" "bounces+$token@sender.test" "$rcpt"
  done
}

# Sends standard input as one message from FROM to RCPT over SMTP to
# 127.0.0.1:PORT, as a mail client would; says on stderr what the server
# refused.
capture_submit() {
  python3 -c '
import smtplib, sys
port, sender, rcpt = int(sys.argv[1]), sys.argv[2], sys.argv[3]
data = sys.stdin.buffer.read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
try:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
        s.sendmail(sender, [rcpt], data)
except smtplib.SMTPException as e:
    print("capture_submit:", rcpt, e, file=sys.stderr)
' "$@"
}

# Starts an SMTP server (spec/support/aiosmtpd_server.py) on a port of
# its own that takes any message and keeps its exact bytes in DIR/sink.log;
# sets sink_port. For MTAs that deliver notices over SMTP only.
capture_sink() {
  /usr/bin/python3 "$(dirname "$0")/../aiosmtpd_server.py" --log "$1/sink.log" \
    --port-file "$1/sink.port" --lifetime 300 --hostname mx.sender.test &
  for _ in $(seq 100); do
    [ -s "$1/sink.port" ] && break
    sleep 0.1
  done
  sink_port=$(cat "$1/sink.port")
}

# Writes each message capture_sink got in DIR to OUT/<token>.eml, token
# being the VERP tag of its bounces+TOKEN@ recipient, bytes unchanged.
capture_copy_sink() {
  mkdir -p "$2"
  /usr/bin/python3 - "$1/sink.log" "$2" <<'PY'
import base64, json, re, sys
with open(sys.argv[1]) as log:
    for line in log:
        m = json.loads(line)
        if m.get("type") != "message":
            continue
        for rcpt in m["rcpt_tos"]:
            t = re.match(r"bounces\+([^@]+)@", rcpt)
            with open("%s/%s.eml" % (sys.argv[2], t.group(1) if t else "unknown"), "wb") as f:
                f.write(base64.b64decode(m["data_b64"]))
PY
}

# The number of messages capture_sink got in DIR.
capture_sink_count() {
  grep -c '"type": "message"' "$1/sink.log" 2>/dev/null || true
}
