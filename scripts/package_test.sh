#!/usr/bin/env bash
# The Debian package test (run by scripts/test.sh after the cargo tests): builds the package
# from the debug binary, checks its file list, conffiles, maintainer script and unit, and
# verifies the unit with systemd-analyze where systemd is installed (it says so when not).
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=${CARGO_TARGET_DIR:-target}
rm -f "$TARGET"/debian/sonar_*.deb
scripts/package.sh --dev
deb=$(ls -t "$TARGET"/debian/sonar_*.deb | head -1)
fail() { echo "package test: $*" >&2; exit 1; }
contents=$(dpkg-deb --contents "$deb")
for f in ./usr/bin/sonar ./etc/sonar/config.yaml ./etc/sonar/scenarios/brute_force_detection.yaml \
         ./etc/sonar/scenarios/linux_resource_monitoring.yaml ./lib/systemd/system/sonar.service \
         ./usr/share/doc/sonar/README.md; do
  grep -q " $f\$" <<<"$contents" || fail "$f missing from $deb"
done
conffiles=$(dpkg-deb --info "$deb" conffiles)
for f in /etc/sonar/config.yaml /etc/sonar/scenarios/brute_force_detection.yaml; do
  grep -qx "$f" <<<"$conffiles" || fail "$f is not a conffile"
done
dpkg-deb --field "$deb" Depends | grep -q adduser || fail "Depends lacks adduser"
dpkg-deb --info "$deb" postinst | grep -q "adduser --system" || fail "postinst does not create the sonar user"
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
dpkg-deb -x "$deb" "$root"
"$root/usr/bin/sonar" --version >/dev/null || fail "the packaged binary does not run"
unit="$root/lib/systemd/system/sonar.service"
grep -qx "User=sonar" "$unit" || fail "the unit does not run as the sonar user"
grep -q "^ExecStart=/usr/bin/sonar serve " "$unit" || fail "the unit does not run sonar serve"
grep -q "^LoadCredential=wazuh-password:" "$unit" || fail "the unit does not load the password credential"
if grep -qiE "^Environment=.*PASSWORD|--password" "$unit"; then fail "the unit holds a password"; fi
grep -q "password_file: \"/run/credentials/sonar.service/wazuh-password\"" "$root/etc/sonar/config.yaml" \
  || fail "the packaged config does not read the credential"
# The packaged config and scenarios validate (the credential exists only under systemd: a copy
# of the config reads a stand-in file instead).
echo "stand-in" > "$root/wazuh-password"
sed "s|/run/credentials/sonar.service/wazuh-password|$root/wazuh-password|" \
  "$root/etc/sonar/config.yaml" > "$root/config.yaml"
"$root/usr/bin/sonar" validate "$root/config.yaml" "$root"/etc/sonar/scenarios/*.yaml >/dev/null \
  || fail "the packaged config or scenarios do not validate"
if command -v systemd-analyze >/dev/null 2>&1; then
  # verify checks that ExecStart exists: point a copy at the extracted binary.
  sed "s|/usr/bin/sonar|$root/usr/bin/sonar|" "$unit" > "$root/sonar.service"
  systemd-analyze verify "$root/sonar.service" || fail "systemd-analyze verify rejects the unit"
  echo "package test: $deb ok (unit verified by systemd-analyze)"
else
  echo "package test: $deb ok; systemd-analyze is not installed here, the unit was not verified"
fi
