#!/usr/bin/env bash
# Reads lbrprobe's TAP (stdin) and reports each result to LAVA with lava-test-case.
#   lbrprobe run --format tap | scripts/lava/tap-to-lava.sh
# ok → pass, not ok → fail, "# SKIP" → skip, "# TIMEOUT"/"# ERROR" → fail; "1..0 # SKIP reason" → one skip
# case named lbrprobe. Names are already ASCII [A-Za-z0-9_.-] (lbrprobe's TAP writer guarantees it).
# Exits with lbrprobe's convention: 1 if any result failed, else 0.
set -u
failed=0
while IFS= read -r line; do
  case "$line" in
    "1..0 # SKIP"*)
      lava-test-case lbrprobe --result skip ;;
    "ok "*|"not ok "*)
      result=pass
      [[ "$line" == "not ok "* ]] && result=fail
      rest="${line#ok }"; rest="${rest#not ok }"
      rest="${rest#* }"            # drop the number
      name="${rest%% #*}"; name="${name%% *}"
      if [[ "$line" == *" # SKIP"* ]]; then result=skip; fi
      [ "$result" = fail ] && failed=1
      lava-test-case "$name" --result "$result" ;;
  esac
done
exit $failed
