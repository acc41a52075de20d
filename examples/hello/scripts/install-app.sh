#!/bin/sh
set -eu
echo "installing app ${APP_VERSION}"
printf '<p>version %s</p>\n' "${APP_VERSION}" >> srv/www/index.html
echo "${APP_VERSION}" > srv/www/VERSION
