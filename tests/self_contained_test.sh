#!/usr/bin/env bash
# A clone must work on its own: no tracked file may point at the development machines' shared
# directory beside the checkout (../shared: data, design notes, the GPU recipe). Data the project
# needs lives in the repository (data/); notes kept elsewhere are described, not linked.
# usage: self_contained_test.sh REPO_ROOT
set -u
root=$1
cd "$root" || exit 2
pattern='\.\./shared|shared/(data|research|gpu|papers)/'
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  hits=$(git grep -InE "$pattern" -- . ':!tests/self_contained_test.sh')
else  # an exported tree without .git: every file but build outputs and npm modules
  hits=$(grep -rInE "$pattern" . --exclude-dir='build*' --exclude-dir=node_modules \
    --exclude-dir=.git --exclude=self_contained_test.sh)
fi
if [ -n "$hits" ]; then
  echo "FAIL files refer outside the repository:"
  echo "$hits"
  exit 1
fi
for f in data/gpt-neox-20b-tokenizer.json data/README.md; do
  [ -f "$f" ] || { echo "FAIL missing $f"; exit 1; }
done
echo "ok   no tracked file refers to ../shared; data/ present"
