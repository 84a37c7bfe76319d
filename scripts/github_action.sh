#!/usr/bin/env bash
# The shell steps of action.yml (the composite GitHub Action); tests/test_action.py runs them locally.
#   install  make a virtual environment in $RUNNER_TEMP and install extmigrate into it
#   scan     scan $INPUT_PATHS with $INPUT_ARGS into the SARIF file; outputs exit-code, findings, sarif-file
#   check    fail when the scan failed (exit 2), or found something and fail-on-findings is true
set -euo pipefail

venv="${RUNNER_TEMP:?}/extmigrate-venv"
bin="$venv/bin"
[ -d "$venv/Scripts" ] && bin="$venv/Scripts"  # Windows runners

case "${1:-}" in
install)
  "${INPUT_PYTHON:-python3}" -m venv "$venv"
  [ -d "$venv/Scripts" ] && bin="$venv/Scripts"
  "$bin/python" -m pip install --quiet --disable-pip-version-check "${INPUT_VERSION:-${GITHUB_ACTION_PATH:?}}"
  "$bin/extmigrate" --version
  ;;
scan)
  sarif="${INPUT_SARIF_FILE:-extmigrate.sarif}"
  # paths and args are split as a shell would (quotes kept), never evaluated
  mapfile -d '' -t argv < <("$bin/python" -c 'import shlex, sys
for a in shlex.split(sys.argv[1]) + ["--"] + (shlex.split(sys.argv[2]) or ["."]):
    sys.stdout.write(a + "\0")' "${INPUT_ARGS:-}" "${INPUT_PATHS:-.}")
  rc=0
  "$bin/extmigrate" scan --no-progress --format sarif -o "$sarif" "${argv[@]}" || rc=$?
  findings=0
  if [ "$rc" -ne 2 ]; then
    findings=$("$bin/python" -c 'import json, sys
print(sum(len(r["results"]) for r in json.load(open(sys.argv[1], encoding="utf-8"))["runs"]))' "$sarif")
  fi
  {
    echo "exit-code=$rc"
    echo "findings=$findings"
    echo "sarif-file=$sarif"
  } >> "${GITHUB_OUTPUT:?}"
  # the report is in the SARIF file; exit 2 (usage or configuration error) stops the job here
  [ "$rc" -ne 2 ] || exit 2
  ;;
check)
  rc="${SCAN_EXIT_CODE:-}"
  if [ "$rc" != 0 ] && [ "$rc" != 1 ]; then
    echo "::error title=extmigrate::the scan did not finish (exit ${rc:-unknown})"
    exit 2
  fi
  if [ "$rc" = 1 ] && [ "${INPUT_FAIL_ON_FINDINGS:-true}" = true ]; then
    echo "::error title=extmigrate::${SCAN_FINDINGS:-some} free-threading finding(s); see the code scanning alerts or the SARIF report"
    exit 1
  fi
  echo "extmigrate: ${SCAN_FINDINGS:-0} finding(s)"
  ;;
*)
  echo "usage: $0 install|scan|check" >&2
  exit 2
  ;;
esac
