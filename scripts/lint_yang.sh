#!/usr/bin/env bash
# Lints our YANG modules (yang/*.yang, or the files given as arguments) with
# `pyang --ietf --lint` (IETF/IANA modules) or `pyang --lint` (mso's own modules, which RFC 8407's
# IETF-only rules on names, namespaces and copyright do not fit; the 3GPP-style ones also with
# --strict, as SA5's CI does) and with yanglint, against the
# IETF modules pyang installs.
# One line per module; any error or warning from either tool fails it, and the script then
# exits 1. No warning is tolerated: ietf-multiple-stream-originators passes both tools clean.
# The one exception is a defect of a draft module we keep unchanged, listed in known_defects
# below with the pyang message it causes: that message (and only that) is set aside, and the
# reason is said on standard error.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-$root/.venv/bin/python}
[ -x "$python" ] || python=python3
pyang=$(dirname "$python")/pyang
[ -x "$pyang" ] || pyang=pyang

ietf_path=$(cd "$root" && "$python" -c \
  'from mso.schema import ietf_module_dirs; print(":".join(map(str, ietf_module_dirs())))')
search_path="$ietf_path:$root/yang"
yanglint_path=()
IFS=: read -ra dirs <<<"$search_path"
for d in "${dirs[@]}"; do yanglint_path+=(-p "$d"); done

if [ $# -eq 0 ]; then
  shopt -s nullglob
  set -- "$root"/yang/*.yang
  [ $# -gt 0 ] || { echo "lint_yang: no modules in $root/yang" >&2; exit 1; }
fi

# module file name -> "reason|pyang message pattern (grep -E) that the reason explains"
declare -A known_defects=(
  ["ietf-yang-push-telemetry-message@2025-10-19.yang"]="the draft puts config false inside its sx:augment-structure, where config has no meaning|: warning: explicit config statement is ignored$"
)

failed=0
for module in "$@"; do
  report=""
  defect=${known_defects[$(basename "$module")]:-}
  case $(basename "$module") in
    ietf-* | iana-*) lint=(--ietf --lint) ;;
    mso-3gpp-*) lint=(--strict --lint) ;;  # 3GPP SA5's own CI rule for its modules
    *) lint=(--lint) ;;
  esac
  status=0
  out=$("$pyang" "${lint[@]}" -p "$search_path" "$module" 2>&1) || status=$?
  if [ -n "$defect" ]; then
    out=$(grep -Ev -- "${defect#*|}" <<<"$out" || true)
  fi
  if [ "$status" -ne 0 ] || [ -n "$out" ]; then
    report+="  pyang ${lint[*]}:"$'\n'"$(sed 's/^/    /' <<<"${out:-(exit status non-zero)}")"$'\n'
  fi
  if ! out=$(yanglint "${yanglint_path[@]}" "$module" 2>&1) || [ -n "$out" ]; then
    report+="  yanglint:"$'\n'"$(sed 's/^/    /' <<<"${out:-(exit status non-zero)}")"$'\n'
  fi
  if [ -z "$report" ]; then
    echo "ok    $module"
    [ -z "$defect" ] || echo "lint_yang: $(basename "$module"): set aside: ${defect%%|*}" >&2
  else
    echo "FAIL  $module"
    printf '%s' "$report"
    failed=1
  fi
done
exit $failed
