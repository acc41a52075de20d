#!/bin/sh
# Hardening for the golden image tree (runs in the node's work directory).
set -eu
echo "hardening at level ${LEVEL}"
# Remove setuid bits from tools that do not need them.
for f in usr/bin/legacy-tool; do
  [ -e "$f" ] && chmod u-s "$f"
done
chmod 600 etc/ssh/sshd_config
mkdir -p etc/sysctl.d
printf 'net.ipv4.conf.all.rp_filter = 1\nkernel.kptr_restrict = 2\n' > etc/sysctl.d/90-hardening.conf
rm -f var/log/*.log
