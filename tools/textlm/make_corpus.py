#!/usr/bin/env python3
"""Extracts the text demo model's English corpus from Debian's wordnet-base package.

Corpus: the WordNet 3.0 database as Debian packages it (wordnet-base 1:3.0-37, files
/usr/share/wordnet/data.{noun,verb,adj,adv}; WordNet 3.0 licence, BSD-like: use, copy, modify
and distribute with the copyright notice — tools/textlm/WORDNET_LICENSE). One line per synset,
in file order (noun, verb, adj, adv; byte offset order inside a file):

    lemma one, lemma two: the gloss, with its "quoted usage examples"

Lemmas have '_' turned into spaces and adjective markers such as "(a)" removed; the gloss is the
text after "| " with trailing blanks stripped. Deterministic: the same package gives the same
bytes. Synsets whose running index i (over all four files) has i % 50 == 0 form the held-out
split (2 %); the rest is the training split.

    python3 tools/textlm/make_corpus.py OUT_DIR [--wordnet /usr/share/wordnet]

writes OUT_DIR/train.txt and OUT_DIR/valid.txt (UTF-8, '\\n'-terminated lines) and prints their
sizes and SHA-256 sums.
"""
import argparse
import hashlib
import os
import re
import sys

FILES = ("data.noun", "data.verb", "data.adj", "data.adv")
HELD_OUT_EVERY = 50
_MARKER = re.compile(r"\((?:a|p|ip)\)$")


def synset_line(raw):
    """The corpus line of one data.* record, or None for the licence header lines."""
    if raw.startswith("  "):  # the licence header of every data file
        return None
    head, sep, gloss = raw.partition(" | ")
    if not sep:
        return None
    fields = head.split(" ")
    # offset lex_filenum ss_type w_cnt(hex) word lex_id [word lex_id ...] p_cnt ...
    w_cnt = int(fields[3], 16)
    lemmas = []
    for k in range(w_cnt):
        word = _MARKER.sub("", fields[4 + 2 * k]).replace("_", " ")
        if word not in lemmas:
            lemmas.append(word)
    gloss = gloss.strip()
    return ", ".join(lemmas) + ": " + gloss


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out_dir")
    parser.add_argument("--wordnet", default="/usr/share/wordnet")
    args = parser.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    train, valid = [], []
    index = 0
    for name in FILES:
        path = os.path.join(args.wordnet, name)
        if not os.path.exists(path):
            sys.exit(f"{path} is missing: apt-get install wordnet-base")
        with open(path, encoding="utf-8") as f:
            for raw in f:
                line = synset_line(raw.rstrip("\n"))
                if line is None:
                    continue
                (valid if index % HELD_OUT_EVERY == 0 else train).append(line)
                index += 1
    for split, lines in (("train", train), ("valid", valid)):
        data = ("\n".join(lines) + "\n").encode("utf-8")
        out = os.path.join(args.out_dir, split + ".txt")
        with open(out, "wb") as f:
            f.write(data)
        print(f"{out}: {len(lines)} lines, {len(data)} bytes, "
              f"sha256 {hashlib.sha256(data).hexdigest()}")


if __name__ == "__main__":
    main()
