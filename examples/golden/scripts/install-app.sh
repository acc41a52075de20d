#!/bin/sh
# Installs the app's page and version into the nginx image.
set -eu
echo "installing app ${APP_VERSION}"
printf '<p>version %s</p>\n' "${APP_VERSION}" >> /var/www/html/index.html
echo "${APP_VERSION}" > /var/www/html/VERSION
rm -f /var/www/html/index.nginx-debian.html
apt-get clean
