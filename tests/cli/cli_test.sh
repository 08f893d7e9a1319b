#!/usr/bin/env bash
# End-to-end checks of the offline CLI through the real binary: forward on the committed HF
# fixtures matches HF's logits to 1e-4 (all positions and --last), JSON shapes, and every bad
# input exits non-zero with a message naming the problem.
# usage: cli_test.sh PATH/TO/mamba-explain [cpu|cuda]
set -u
bin=$1
device=${2:-cpu}
here=$(cd "$(dirname "$0")" && pwd)
fixtures=$here/../fixtures
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }

# expect_error NAME SUBSTRING ARGS...: the command must exit non-zero and print SUBSTRING.
expect_error() {
  local name=$1 want=$2
  shift 2
  if "$bin" "$@" >"$tmp/out" 2>"$tmp/err"; then
    bad "$name: exited 0"
  elif grep -qF -- "$want" "$tmp/err"; then
    ok "$name"
  else
    bad "$name: stderr lacks '$want': $(head -c 300 "$tmp/err")"
  fi
}

if [ "$device" = cuda ] && "$bin" forward --model-dir "$fixtures/mamba1_bias_tied" --ids 1 --device cuda 2>&1 >/dev/null | grep -q UNAVAILABLE; then
  echo "CUDA not available: skipped"
  exit 77
fi

for fx in mamba1_bias_tied mamba1_nobias_untied mamba2_g1 mamba2_g2_bias mamba1_sharded mamba2_bf16; do
  ids=$(python3 "$here/compare_logits.py" ids "$fixtures/$fx/reference.safetensors" 0)
  if "$bin" forward --model-dir "$fixtures/$fx" --ids "$ids" --device "$device" >"$tmp/all.json" 2>"$tmp/err" &&
    python3 "$here/compare_logits.py" compare "$fixtures/$fx/reference.safetensors" 0 "$tmp/all.json" all; then
    ok "forward $fx all positions ($device)"
  else
    bad "forward $fx all positions ($device): $(tail -c 400 "$tmp/err")"
  fi
  if "$bin" forward --model-dir "$fixtures/$fx" --ids "$ids" --device "$device" --last >"$tmp/last.json" 2>"$tmp/err" &&
    python3 "$here/compare_logits.py" compare "$fixtures/$fx/reference.safetensors" 0 "$tmp/last.json" last &&
    grep -q "top-5 next tokens" "$tmp/err"; then
    ok "forward $fx --last ($device)"
  else
    bad "forward $fx --last ($device): $(tail -c 400 "$tmp/err")"
  fi
done

fx=$fixtures/mamba1_bias_tied
expect_error "no command args" "--model-dir is required" forward --ids 1,2
expect_error "unknown flag" "unknown flag --modle-dir" forward --modle-dir "$fx" --ids 1
expect_error "text and ids" "exactly one of --text and --ids" forward --model-dir "$fx" --ids 1 --text hi
expect_error "bad id" "bad token id 'x'" forward --model-dir "$fx" --ids 1,x
expect_error "id beyond vocab" "token id 96" forward --model-dir "$fx" --ids 1,96
expect_error "text without tokenizer" "no tokenizer.json" forward --model-dir "$fx" --text hello
expect_error "missing dir" "NOT_FOUND" forward --model-dir "$tmp/nope" --ids 1
expect_error "bad dtype" "unknown precision 'fp8'" forward --model-dir "$fx" --ids 1 --dtype fp8
expect_error "bad device" "unknown device 'gpu0'" forward --model-dir "$fx" --ids 1 --device gpu0
expect_error "missing value" "--ids needs a value" forward --model-dir "$fx" --ids
expect_error "tokenize without text" "--text is required" tokenize --model-dir "$fx"
expect_error "tokenize missing tokenizer" "tokenizer.json" tokenize --model-dir "$fx" --text hi
mkdir -p "$tmp/broken" && cp "$fx/config.json" "$tmp/broken/" && head -c 100 "$fx/model.safetensors" >"$tmp/broken/model.safetensors"
expect_error "truncated checkpoint" "model.safetensors" forward --model-dir "$tmp/broken" --ids 1
if "$bin" unknown-cmd >/dev/null 2>&1; then bad "unknown command exits 0"; else ok "unknown command"; fi

tok=${ME_SHARED_DIR:-$here/../../../shared}/data/gpt-neox-20b-tokenizer.json
if [ -f "$tok" ]; then
  if "$bin" tokenize --tokenizer "$tok" --text "Hello my name is" >"$tmp/tok.json" &&
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["ids"]==[12092,619,1416,310], d; assert d["tokens"]==["Hello"," my"," name"," is"], d' "$tmp/tok.json"; then
    ok "tokenize json"
  else
    bad "tokenize json: $(cat "$tmp/tok.json")"
  fi
  if "$bin" tokenize --tokenizer "$tok" --text "a,b.c" >"$tmp/ab.json" &&
    "$bin" forward --model-dir "$fx" --tokenizer "$tok" --text "a,b.c" --last >"$tmp/t.json" 2>/dev/null &&
    python3 -c 'import json,sys; a=json.load(open(sys.argv[1])); b=json.load(open(sys.argv[2])); assert a["ids"]==b["ids"] and len(b["logits"])==1, (a,b)' "$tmp/ab.json" "$tmp/t.json"; then
    ok "forward --text with --tokenizer"
  else
    bad "forward --text with --tokenizer"
  fi
else
  bad "shared tokenizer not found at $tok"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
