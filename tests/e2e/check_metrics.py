#!/usr/bin/env python3
"""Checks Prometheus text exposition format 0.0.4 (prometheus.io exposition_formats): HELP/TYPE
before samples, contiguous families, sample syntax, histogram buckets cumulative in increasing le
with a +Inf bucket equal to _count. Usage: check_metrics.py FILE NAME... (names that must exist)."""
import re
import sys

text = open(sys.argv[1]).read()
assert text.endswith("\n"), "last line must end with \\n"
# Values: Prometheus parses them with Go's strconv.ParseFloat, which accepts NaN/Inf in any case
# (prometheus-cpp 1.0 writes "Nan").
sample = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*",?)*\})? '
                    r'(-?[0-9.eE+-]+|(?i:nan)|[+-]?(?i:inf))( -?[0-9]+)?$')
types, seen_done, current = {}, set(), None
hist = {}
for line in text.splitlines():
    if not line:
        continue
    if line.startswith("# HELP ") or line.startswith("# TYPE "):
        parts = line.split(" ", 3)
        name = parts[2]
        assert name not in seen_done, f"family {name} not contiguous"
        if current and current != name:
            seen_done.add(current)
        current = name
        if parts[1] == "TYPE":
            assert parts[3] in ("counter", "gauge", "histogram", "summary", "untyped"), line
            types[name] = parts[3]
        continue
    m = sample.match(line)
    assert m, f"bad sample line: {line!r}"
    name = m.group(1)
    base = re.sub(r"_(bucket|sum|count)$", "", name)
    assert base in types or name in types, f"sample before TYPE: {line}"
    if types.get(base) == "histogram":
        labels = m.group(2) or ""
        key = (base, re.sub(r',?le="[^"]*"', "", labels))
        h = hist.setdefault(key, {"buckets": [], "count": None})
        if name.endswith("_bucket"):
            le = re.search(r'le="([^"]*)"', labels).group(1)
            h["buckets"].append((float("inf") if le == "+Inf" else float(le), float(m.group(5))))
        elif name.endswith("_count"):
            h["count"] = float(m.group(5))
for key, h in hist.items():
    les = [b[0] for b in h["buckets"]]
    assert les == sorted(les), f"{key}: le not increasing"
    assert les and les[-1] == float("inf"), f"{key}: no +Inf bucket"
    counts = [b[1] for b in h["buckets"]]
    assert all(a <= b for a, b in zip(counts, counts[1:])), f"{key}: buckets not cumulative"
    assert counts[-1] == h["count"], f"{key}: +Inf bucket != _count"
for want in sys.argv[2:]:
    assert want in types, f"metric {want} missing"
print(f"metrics ok: {len(types)} families, {len(hist)} histograms")
