# Sourced before every start of the app (.profile.d/java.sh, written by the java buildpack).
# The heap gets about 75% of the instance's memory limit (MEMORY_LIMIT, e.g. 256m); the rest is
# for metaspace, thread stacks, the JIT and direct buffers, which live outside the heap. Left to
# itself the JVM takes only 25% of the container. Out of heap, it exits instead of limping on, so
# the DEA restarts it. The app's own JAVA_OPTS come last and win (the last -Xmx counts).
case "${MEMORY_LIMIT:-}" in
  *[mM]) _nap_mb=${MEMORY_LIMIT%?} ;;
  *[gG]) _nap_mb=$((${MEMORY_LIMIT%?} * 1024)) ;;
  *) _nap_mb= ;;
esac
case "$_nap_mb" in
  '' | *[!0-9]*) _nap_heap= ;;
  *) _nap_heap="-Xmx$((_nap_mb * 3 / 4))m" ;;
esac
# Small thread stacks: a few hundred threads must not outgrow a small container.
export JAVA_OPTS="$_nap_heap -Xss512k -XX:+ExitOnOutOfMemoryError ${JAVA_OPTS:-}"
unset _nap_mb _nap_heap
