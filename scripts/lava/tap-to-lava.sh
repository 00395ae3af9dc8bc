#!/bin/sh
# Reads lbrprobe's TAP (stdin) and reports each result to LAVA with lava-test-case (POSIX sh).
#   lbrprobe run --format tap | scripts/lava/tap-to-lava.sh
# ok -> pass, not ok -> fail, "# SKIP" -> skip, "# TIMEOUT"/"# ERROR" -> fail; "1..0 # SKIP reason" -> one skip
# case named lbrprobe. Names are already ASCII [A-Za-z0-9_.-] (lbrprobe's TAP writer guarantees it).
# Without lava-test-case on PATH it prints the calls instead. Exits 1 if any result failed, else 0.
set -u
report() {
  if command -v lava-test-case >/dev/null 2>&1; then lava-test-case "$1" --result "$2"
  else echo "lava-test-case $1 --result $2"; fi
}
failed=0
while IFS= read -r line; do
  case "$line" in
    "1..0 # SKIP"*)
      report lbrprobe skip ;;
    "ok "*|"not ok "*)
      result=pass
      case "$line" in "not ok "*) result=fail ;; esac
      rest=${line#not ok }; rest=${rest#ok }
      rest=${rest#* }              # drop the number
      name=${rest%% #*}; name=${name%% *}
      case "$line" in *" # SKIP"*) result=skip ;; esac
      [ "$result" = fail ] && failed=1
      report "$name" "$result" ;;
  esac
done
exit $failed
