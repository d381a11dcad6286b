#!/bin/sh
# Builds hello.jar, an executable jar (Main-Class: Hello), into OUT_DIR with this machine's javac
# (deploy/setup installs a JDK). Push OUT_DIR, or just the jar: the java buildpack runs it.
#   examples/hello-java/build.sh OUT_DIR
set -e
[ $# -eq 1 ] || { echo "usage: $0 OUT_DIR" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)
classes=$(mktemp -d)
trap 'rm -rf "$classes"' EXIT
# --release 17: the jvm stack runs Java 17, whatever JDK built the jar.
javac --release 17 -d "$classes" "$here/src/Hello.java"
jar --create --file "$out/hello.jar" --main-class Hello -C "$classes" .
echo "$out/hello.jar"
