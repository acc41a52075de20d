#!/bin/sh
# Hardening for the golden image. Runs chrooted in the image, as root.
set -eu
echo "hardening at level ${LEVEL}"

# Remove setuid/setgid bits from tools an image does not need them on.
for f in /usr/bin/chfn /usr/bin/chsh /usr/bin/newgrp /usr/bin/gpasswd /bin/mount /bin/umount /usr/bin/mount /usr/bin/umount /bin/su /usr/bin/su; do
  if [ -e "$f" ]; then chmod u-s,g-s "$f"; echo "removed setuid from $f"; fi
done

# The login banner should not tell the kernel version.
rm -f /etc/update-motd.d/10-uname

# An unprivileged user for services.
if ! id app >/dev/null 2>&1; then
  useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin app
fi

# Tighter defaults.
chmod 0600 /etc/ssh/sshd_config.d/90-hardening.conf
sed -i 's/^UMASK.*/UMASK 027/' /etc/login.defs

# Nothing of apt's caches in the layer.
apt-get clean
rm -rf /var/lib/apt/lists/*
