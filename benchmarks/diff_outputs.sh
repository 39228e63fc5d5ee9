#!/usr/bin/env bash
# Diff every output format of `vglint check` and `vglint inspect` on the fixtures between a git
# revision (default: HEAD~1) and the working tree (or a second revision), on the fixture set of
# the first revision: what a change did to vglint's output, finding by finding.
# Usage: benchmarks/diff_outputs.sh [REV [REV2]]     (from the repository root, with .venv set up)
set -euo pipefail
rev=${1:-HEAD~1}
here=$(pwd)
old=$(mktemp -d)
git worktree add -q --detach "$old/tree" "$rev"
after="$here"
if [ $# -ge 2 ]; then
    git worktree add -q --detach "$old/tree2" "$2"
    after="$old/tree2"
fi
trap 'git worktree remove --force "$old/tree"; [ -d "$old/tree2" ] && git worktree remove --force "$old/tree2"; rm -rf "$old"' EXIT
snapshot() {  # $1: folder of the vglint package to run, $2: output folder
    mkdir -p "$2"
    (cd "$old/tree" && for format in json full concise; do
        PYTHONPATH="$1" "$here/.venv/bin/python" -P -m vglint check --isolated -j1 --output-format "$format" fixtures/ > "$2/check.$format" || true
    done
    PYTHONPATH="$1" "$here/.venv/bin/python" -P -m vglint check --isolated -j1 --statistics fixtures/ > "$2/check.statistics" || true
    PYTHONPATH="$1" "$here/.venv/bin/python" -P -m vglint inspect --output-format json fixtures/ > "$2/inspect.json" || true
    PYTHONPATH="$1" "$here/.venv/bin/python" -P -m vglint rules --output-format json > "$2/rules.json")
}
snapshot "$old/tree" "$old/before"
snapshot "$after" "$old/after"
diff -r "$old/before" "$old/after" && echo "no difference in any output on the fixtures of $rev"
