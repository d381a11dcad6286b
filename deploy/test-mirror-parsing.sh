#!/usr/bin/env bash
# Tests find_debian_mirror (deploy/build-stack) on sample apt sources, one-line and deb822.
# Host names here are placeholders (example.*), not real mirrors. No root needed.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/build-stack"

tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fails=0
check() { # check NAME EXPECTED SUITE FILE...
  local name="$1" want="$2" got; shift 2
  got=$(find_debian_mirror "$@") || got="<none>"
  if [[ "$got" == "$want" ]]; then echo "ok   $name"; else echo "FAIL $name: want '$want', got '$got'"; fails=$((fails + 1)); fi
}

cat >"$tmp/sources.list" <<'EOF'
# deb http://commented.example/debian bookworm main
deb https://apt.example.com/apt cloud-sdk-bookworm main
deb [signed-by=/usr/share/keyrings/x.gpg] https://deb.thirdparty.example/node_20.x bookworm main
deb http://security.example/debian-security bookworm-security main
deb-src http://src.example/debian bookworm main
deb http://updates.example/debian bookworm-updates main
deb [ arch=amd64 signed-by=/k.gpg ] http://mirror.example/debian/ bookworm main contrib non-free-firmware # the one
deb http://second.example/debian bookworm main
EOF
check "one-line: skips comments, third-party, -security, -updates, deb-src" \
  "http://mirror.example/debian" bookworm "$tmp/sources.list"

printf 'deb http://contribonly.example/debian bookworm contrib\n' >"$tmp/contrib.list"
check "one-line: needs component main" "<none>" bookworm "$tmp/contrib.list"
check "one-line: wrong suite" "<none>" trixie "$tmp/sources.list"

cat >"$tmp/debian.sources" <<'EOF'
Types: deb
# http://snapshot.example/archive/debian/20250520T000000Z
URIs: http://deb.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.example/debian-security
Suites: bookworm-security
Components: main
EOF
cat >"$tmp/nodesource.sources" <<'EOF'
Types: deb
URIs: https://deb.thirdparty.example/node_20.x
Suites: nodistro bookworm
Components: main
EOF
cat >"$tmp/tricky.sources" <<'EOF'
Types: deb
URIs: http://disabled.example/debian
Suites: bookworm
Components: main
Enabled: no

types: deb-src deb
uris: ftp://other.example/pub/x
 https://multi.example/debian/
suites:
 bookworm-updates
 bookworm
components: contrib main
EOF
check "deb822: plain suite in a multi-suite stanza" "http://deb.example/debian" bookworm "$tmp/nodesource.sources" "$tmp/debian.sources"
check "deb822: Enabled: no, lower-case keys, continuation lines" "https://multi.example/debian" bookworm "$tmp/tricky.sources"
check "deb822: -security alone does not match" "<none>" bookworm-securit "$tmp/debian.sources"
check "mixed: first matching file wins, missing files skipped" "http://mirror.example/debian" bookworm \
  "$tmp/does-not-exist.list" "$tmp/nodesource.sources" "$tmp/sources.list" "$tmp/debian.sources"

this=$(. /etc/os-release; echo "${VERSION_CODENAME:-}")
mapfile -t files < <(apt_source_files)
echo "this machine ($this, ${files[*]}): $(find_debian_mirror "$this" "${files[@]}" || echo '<none>')"

((fails == 0)) && echo "all passed" || { echo "$fails failed"; exit 1; }
