#!/usr/bin/env python3
"""Learns a small byte-level BPE tokenizer and writes it as an HF tokenizer.json.

The file has the layout of data/gpt-neox-20b-tokenizer.json, so src/model/tokenizer.cc (and HF
tokenizers) read it unchanged: NFC normalizer, ByteLevel pre-tokenizer (GPT-2 regex, no prefix
space), ByteLevel decoder and post-processor, a BPE model over the GPT-2 byte-to-unicode
alphabet. Ids: 0 = <|endoftext|> (special, never produced by the corpus), 1..256 = the 256 bytes
in byte order, then one token per merge in merge order, up to --vocab ids in all.

Training is classic BPE on pre-token counts: repeatedly merge the most frequent adjacent pair,
ties broken by the smaller (left, right) pair of byte-to-unicode strings, so the result depends
only on the corpus bytes. Pre-tokens that repeat are counted once with their frequency.

    python3 tools/textlm/learn_bpe.py CORPUS.txt OUT/tokenizer.json [--vocab 2048]
"""
import argparse
import collections
import heapq
import json
import re
import sys

try:  # the GPT-2 pattern needs Unicode categories; Debian's python3-regex has them
    import regex

    PRETOKEN = regex.compile(
        r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")
except ImportError:  # without it, the same pattern restricted to ASCII (checked below)
    regex = None
    PRETOKEN = re.compile(
        r"""'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+""")


def bytes_to_unicode():
    """GPT-2's reversible map from the 256 bytes to printable code points."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(
        range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def learn(text, vocab_size):
    byte_map = bytes_to_unicode()
    counts = collections.Counter(PRETOKEN.findall(text))
    words = []  # symbol lists, one per distinct pre-token
    freq = []
    for piece in sorted(counts):
        words.append([byte_map[b] for b in piece.encode("utf-8")])
        freq.append(counts[piece])
    vocab = {"<|endoftext|>": 0}
    for b in range(256):
        vocab[byte_map[b]] = len(vocab)
    pair_count = collections.Counter()
    where = collections.defaultdict(set)
    for i, w in enumerate(words):
        for p in zip(w, w[1:]):
            pair_count[p] += freq[i]
            where[p].add(i)
    heap = [(-c, p) for p, c in pair_count.items()]
    heapq.heapify(heap)
    merges = []
    while len(vocab) < vocab_size and heap:
        neg, pair = heapq.heappop(heap)
        if pair_count.get(pair, 0) != -neg or -neg <= 0:
            continue  # stale entry
        merges.append(pair)
        merged = pair[0] + pair[1]
        if merged not in vocab:
            vocab[merged] = len(vocab)
        changed = set()
        for i in sorted(where.pop(pair)):
            w = words[i]
            old = list(zip(w, w[1:]))
            out, k = [], 0
            while k < len(w):
                if k + 1 < len(w) and (w[k], w[k + 1]) == pair:
                    out.append(merged)
                    k += 2
                else:
                    out.append(w[k])
                    k += 1
            if len(out) == len(w):
                continue
            words[i] = out
            for p in old:
                pair_count[p] -= freq[i]
                changed.add(p)
            for p in zip(out, out[1:]):
                pair_count[p] += freq[i]
                where[p].add(i)
                changed.add(p)
        for p in changed:
            c = pair_count[p]
            if c > 0 and p != pair:
                heapq.heappush(heap, (-c, p))
        pair_count.pop(pair, None)
    return vocab, merges


def tokenizer_json(vocab, merges):
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True}
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [{"id": 0, "special": True, "content": "<|endoftext|>",
                          "single_word": False, "lstrip": False, "rstrip": False,
                          "normalized": False}],
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": byte_level,
        "post_processor": byte_level,
        "decoder": byte_level,
        "model": {"type": "BPE", "dropout": None, "unk_token": None,
                  "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": False, "vocab": vocab,
                  "merges": [a + " " + b for a, b in merges]},
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("corpus")
    parser.add_argument("out")
    parser.add_argument("--vocab", type=int, default=2048)
    args = parser.parse_args()
    with open(args.corpus, encoding="utf-8") as f:
        text = f.read()
    if regex is None and not text.isascii():
        sys.exit("non-ASCII corpus: install python3-regex for the Unicode GPT-2 pattern")
    vocab, merges = learn(text, args.vocab)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(tokenizer_json(vocab, merges), f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"{args.out}: {len(vocab)} ids, {len(merges)} merges", file=sys.stderr)


if __name__ == "__main__":
    main()
