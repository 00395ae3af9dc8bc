#!/bin/sh
# Reads lbrprobe's TAP (stdin) and reports each result to LAVA with lava-test-case (POSIX sh).
#   lbrprobe run --format tap | scripts/lava/tap-to-lava.sh
# ok -> pass, not ok -> fail, "# SKIP" -> skip, "# TIMEOUT"/"# ERROR" -> fail; "1..0 # SKIP reason" -> one skip
# case named lbrprobe. Names are already ASCII [A-Za-z0-9_.-] (lbrprobe's TAP writer guarantees it); a model's
# results are named `<backend>-model-<model>.<test>` and hardware results `<test>`. The cases are reported inside
# one `lava-test-set` named after that basis (`hw`, `hybrid-model-mainline`), so LAVA's result tables keep
# model predictions apart from hardware measurements.
# Without lava-test-case / lava-test-set on PATH it prints the calls instead. Exits 1 if any result failed.
set -u
report() {
  if command -v lava-test-case >/dev/null 2>&1; then lava-test-case "$1" --result "$2"
  else echo "lava-test-case $1 --result $2"; fi
}
test_set() {  # start NAME | stop
  if command -v lava-test-set >/dev/null 2>&1; then lava-test-set "$@"
  else echo "lava-test-set $*"; fi
}
failed=0
set_open=""
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
      if [ -z "$set_open" ]; then
        case "$name" in *-model-*.*) set_open=${name%%.*} ;; *) set_open=hw ;; esac
        test_set start "$set_open"
      fi
      report "$name" "$result" ;;
  esac
done
[ -z "$set_open" ] || test_set stop
exit $failed
