#!/usr/bin/env bash
# The --html report of a LaTIM explanation served by the engine (committed Mamba-1 fixture): one
# self-contained file (no http(s) references) rendered by headless Chromium
# (Debian `chromium`). Checks the screenshot is not blank, the DOM holds the heatmap cells, bars
# and summary, and the page logged no errors. A page with a deliberate script error must be
# caught by the same detector (so the check can fail). Skips (77) without chromium.
# usage: html_report_test.sh MAMBA_EXPLAIND MAMBA_EXPLAIN
set -u
server_bin=$1
client_bin=$2
here=$(cd "$(dirname "$0")" && pwd)
chrome=$(command -v chromium || command -v chromium-browser || true)
[ -z "$chrome" ] && { echo "chromium not installed: skipped"; exit 77; }
source "$here/lib.sh"
mkdir -p "$tmp/repo/m"
cp "$here/../fixtures/mamba1_bias_tied/config.json" \
  "$here/../fixtures/mamba1_bias_tied/model.safetensors" "$tmp/repo/m/"
start_server h --model_repository "$tmp/repo" --plaintext || finish
"$client_bin" explain --server 127.0.0.1:$h_port --model m --ids 5,17,33,2,9,41,8,60 \
  --method latim-l2,latim-alti-logit --top-k 4 --json "$tmp/r.json" --html "$tmp/r.html" \
  2>"$tmp/err" || { bad "explain --html: $(cat "$tmp/err")"; finish; }
if grep -qiE "(src|href)=\"?(https?:)?//" "$tmp/r.html"; then bad "report references the network"
else ok "report is self-contained"; fi

# render FILE PREFIX: screenshot, DOM and browser log.
render() {
  local home=$tmp/chrome-home
  mkdir -p "$home"
  HOME=$home timeout 120 "$chrome" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
    --no-first-run --user-data-dir="$home/profile" --enable-logging=stderr --v=0 \
    --window-size=1280,1000 --virtual-time-budget=5000 --screenshot="$2.png" "file://$1" \
    >"$2.shot.log" 2>&1
  HOME=$home timeout 120 "$chrome" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
    --no-first-run --user-data-dir="$home/profile" --enable-logging=stderr --v=0 \
    --virtual-time-budget=5000 --dump-dom "file://$1" >"$2.dom" 2>"$2.dom.log"
}
page_errors() { grep -hE "Uncaught|:ERROR:CONSOLE|CONSOLE\([0-9]+\)\] \"?(Error|Uncaught)" "$1.shot.log" "$1.dom.log"; }

render "$tmp/r.html" "$tmp/r"
if python3 - "$tmp/r.png" <<'PY'
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n"
pos, idat, w = 8, b"", 0
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b"IHDR":
        w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
        bpp = {2: 3, 6: 4}[ctype]
    elif kind == b"IDAT":
        idat += body
    pos += 12 + n
raw, stride, prev, colors = zlib.decompress(idat), w * bpp, None, set()
for y in range(h):
    f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):
        a = line[i - bpp] if i >= bpp else 0
        b = prev[i] if prev else 0
        c = prev[i - bpp] if prev and i >= bpp else 0
        if f == 1: line[i] = (line[i] + a) & 255
        elif f == 2: line[i] = (line[i] + b) & 255
        elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    prev = line
    if y % 4 == 0:
        for x in range(0, w, 4): colors.add(bytes(line[x * bpp:x * bpp + 3]))
print(len(colors), "colors")
assert len(colors) > 20, "screenshot looks blank"
PY
then ok "screenshot is not blank"; else bad "screenshot blank or missing: $(tail -5 "$tmp/r.shot.log")"; fi
cells=$(grep -oE '<td [^>]*style="background' "$tmp/r.dom" | wc -l)
if [ "$cells" -ge 36 ] && grep -q 'class="bar"' "$tmp/r.dom" && grep -q "batch_size" "$tmp/r.dom"; then
  ok "DOM has heatmap cells ($cells), relevance bars and summary"
else bad "DOM: $cells cells"; fi
if page_errors "$tmp/r" >/dev/null; then bad "page logged errors: $(page_errors "$tmp/r" | head -3)"
else ok "page logged no errors"; fi
sed 's|fillLayers();\n})();|x|; s|^  fillLayers();$|  fillLayers(); undefinedFunction();|' "$tmp/r.html" >"$tmp/broken.html"
render "$tmp/broken.html" "$tmp/broken"
if page_errors "$tmp/broken" >/dev/null; then ok "the error detector catches a broken page"
else bad "a deliberate script error went unnoticed"; fi
finish
