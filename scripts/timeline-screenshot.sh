#!/usr/bin/env bash
# Renders a timeline SVG to PNG with headless Chromium (Debian's `chromium` package), so a person can look at
# it. Not run in CI. Installs chromium (and the DejaVu fonts the SVG names) with apt-get when missing and
# run as root.
#
#   scripts/timeline-screenshot.sh TIMELINE.svg OUT.png        # an existing picture
#   scripts/timeline-screenshot.sh --run OUT.svg OUT.png [RUN-ARGS...]
#                                     # lbrprobe run --timeline OUT.svg RUN-ARGS, then the screenshot
#
# Exit status: 0 written; 1 chromium missing or failed; 64 usage.
set -euo pipefail
usage() { echo "usage: $0 TIMELINE.svg OUT.png | --run OUT.svg OUT.png [lbrprobe run args...]" >&2; exit 64; }
[ $# -ge 2 ] || usage
root="$(cd "$(dirname "$0")/.." && pwd)"
if [ "$1" = "--run" ]; then
  [ $# -ge 3 ] || usage
  svg="$2"; png="$3"; shift 3
  bin="$root/.build/release/lbrprobe"; [ -x "$bin" ] || bin="$root/.build/debug/lbrprobe"
  [ -x "$bin" ] || { echo "$0: build lbrprobe first (swift build)" >&2; exit 1; }
  "$bin" run --quiet --timeline "$svg" "$@" >/dev/null || [ $? -eq 1 ] || [ $? -eq 4 ]
else
  svg="$1"; png="$2"
fi
[ -f "$svg" ] || { echo "$0: $svg: no such file" >&2; exit 1; }
chrome="$(command -v chromium || command -v chromium-browser || true)"
if [ -z "$chrome" ] || [ ! -d /usr/share/fonts/truetype/dejavu ]; then
  if [ "$(id -u)" -ne 0 ]; then echo "$0: needs chromium and fonts-dejavu-core (apt-get install chromium fonts-dejavu-core)" >&2; exit 1; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >&2
  chrome="$(command -v chromium)"
fi
# The picture's own size (the root <svg width= height=>).
read -r w h < <(sed -n 's/.*<svg [^>]*width="\([0-9]*\)" height="\([0-9]*\)".*/\1 \2/p' "$svg" | head -1)
[ -n "${w:-}" ] && [ -n "${h:-}" ] || { echo "$0: $svg: no width/height on the <svg> element" >&2; exit 1; }
abs_svg="$(cd "$(dirname "$svg")" && pwd)/$(basename "$svg")"
abs_png="$(cd "$(dirname "$png")" && pwd)/$(basename "$png")"
profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
"$chrome" --headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$profile" \
  --window-size="$w,$h" --screenshot="$abs_png" "file://$abs_svg" >/dev/null 2>&1 \
  || { echo "$0: chromium failed to render $svg" >&2; exit 1; }
[ -s "$abs_png" ] || { echo "$0: chromium wrote no screenshot" >&2; exit 1; }
echo "$abs_png (${w}x${h})"
