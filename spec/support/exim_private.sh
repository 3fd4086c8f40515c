# What every private Exim of the specs shares (Debian's exim4, unpacked by
# .ci/deps into a root of its own), sourced by the scripts that start one
# (spec/support/exim_smtpd.sh, bounces/exim_capture.sh).
#
#   . spec/support/exim_private.sh
#   { exim_conf_base HOSTNAME "127.0.0.1.PORT" "$dir"; cat <<CONF ... CONF; } > "$dir/exim.conf"
#   "$EXIM" -C "$dir/exim.conf" -bdf &

EXIM=${MC_EXIM_ROOT:-/opt/mailcast-test/exim}/usr/sbin/exim4

# Prints the main options of an instance named HOSTNAME listening on
# INTERFACES (Exim's list, "<;"-separated), with its spool, logs and pid
# file in DIR; it looks up nothing about its clients and passes no
# environment on.
exim_conf_base() {
  cat <<CONF
primary_hostname = $1
# (it runs itself again to deliver: from its own root, not /usr/sbin)
exim_path = $EXIM
spool_directory = $3/spool
log_file_path = $3/log/%slog
pid_file_path = $3/exim.pid
local_interfaces = <; $2
host_lookup =
rfc1413_hosts =
keep_environment =
CONF
}
