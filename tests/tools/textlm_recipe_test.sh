#!/usr/bin/env bash
# The text demo model's data recipe reproduces what is committed: tools/textlm/make_corpus.py on
# Debian's wordnet-base gives the corpus whose SHA-256 sums models/text-mamba1/README.md records
# and whose held-out split starts with tests/fixtures/text/wordnet_heldout.txt, and
# tools/textlm/learn_bpe.py on that corpus learns the committed tokenizer's first 200 merges in
# the same order (BPE is greedy, so a shorter run is a prefix of the full one).
# usage: textlm_recipe_test.sh REPO_ROOT
set -u
root=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ ! -f /usr/share/wordnet/data.noun ]; then
  echo "FAIL wordnet-base is not installed (scripts/install_deps.sh installs it)"
  exit 1
fi
fail=0
python3 "$root/tools/textlm/make_corpus.py" "$tmp/corpus" >"$tmp/sums" || exit 1
for want in "train.txt: 115305 lines, 11266031 bytes, sha256 b47850d0627bbf52aa2dc91ee8408069632ad5bbf5f154bb89bd6f18dd9d4016" \
  "valid.txt: 2354 lines, 228679 bytes, sha256 b7c91671ca1bbdf62f14610b630d9c10db6b28dec7c46ef3e5dc6ff02c2784cb"; do
  if grep -qF "$want" "$tmp/sums"; then
    echo "ok   corpus $want"
  else
    echo "FAIL corpus: want '$want', got: $(cat "$tmp/sums")"
    fail=1
  fi
done
if head -n 240 "$tmp/corpus/valid.txt" | cmp -s - "$root/tests/fixtures/text/wordnet_heldout.txt"; then
  echo "ok   the held-out fixture is the first 240 held-out lines"
else
  echo "FAIL tests/fixtures/text/wordnet_heldout.txt differs from head -n 240 valid.txt"
  fail=1
fi
python3 "$root/tools/textlm/learn_bpe.py" "$tmp/corpus/train.txt" "$tmp/tok.json" --vocab 457 2>/dev/null || exit 1
if python3 - "$tmp/tok.json" "$root/models/text-mamba1/tokenizer.json" <<'PY'
import json, sys
short, full = (json.load(open(p)) for p in sys.argv[1:])
a, b = short["model"]["merges"], full["model"]["merges"]
assert len(a) == 200 and a == b[:200], "merges differ"
va, vb = short["model"]["vocab"], full["model"]["vocab"]
assert all(vb.get(t) == i for t, i in va.items()), "vocabulary ids differ"
assert short["pre_tokenizer"] == full["pre_tokenizer"] and short["added_tokens"] == full["added_tokens"]
PY
then
  echo "ok   learn_bpe.py reproduces the committed tokenizer's first 200 merges and their ids"
else
  echo "FAIL learn_bpe.py does not reproduce models/text-mamba1/tokenizer.json"
  fail=1
fi
exit $fail
