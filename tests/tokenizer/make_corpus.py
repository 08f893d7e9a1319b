#!/usr/bin/env python3
"""Writes corpus.json, the strings run_parity.sh encodes with our tokenizer and with
@huggingface/tokenizers. Deterministic (no randomness, standard library only) so the committed
corpus can be regenerated and audited: python3 make_corpus.py > corpus.json

The cases aim at the places a byte-level BPE port goes wrong: whitespace runs (the added
whitespace tokens and the regex's \\s+(?!\\S) backtracking), the Unicode classes of the GPT-2
regex (letters, numbers, White_Space), NFC, added tokens inside text, and long words (merge order).
"""
import json
import sys


def whitespace_cases():
    out = []
    for n in range(2, 31):
        out.append("a" + " " * n + "b")
    for n in (1, 2, 3, 5, 8, 25, 26, 30):
        out.append(" " * n + "leading")
        out.append("trailing" + " " * n)
        out.append(" " * n)
    out += [
        "\t", "\t\t", "a\tb", "a\t\tb", "a \tb", "a\t b", "tab\there", "\ttabbed line",
        "\n", "\n\n", "\n\n\n\n", "x\ny", "x\n\ny", "x\n\n\ny", "x \ny", "x\n y", "x \n y",
        "\r\n", "line one\r\nline two\r\n", "a\r\rb", "a\r\n\r\nb", "end with newline\n",
        " \n \n ", "mixed \t\n \t\n  end", "a\u000bb\u000cc", "  \t  \n  \t  ",
        "word \n\n\n   word", "  a  b  c  ", "a" + " " * 24 + "b" + " " * 2 + "c",
        "one two  three   four    five     six", "\n    indented\n        more\n",
    ]
    return out


def newline_and_code_cases():
    return [
        "def f(x):\n    return x + 1\n",
        "    def f(x):\n        return x",
        "class Foo:\n    def __init__(self, a, b=2):\n        self.a = a  # note\n",
        "for i in range(10):\n\tprint(i, end=' ')\n",
        "if __name__ == \"__main__\":\n    main()",
        "lambda x: x**2 if x > 0 else -x",
        "import numpy as np\narr = np.zeros((3, 4), dtype=np.float32)",
        "#include <vector>\nint main() {\n  std::vector<int> v{1, 2, 3};\n  return 0;\n}\n",
        "template <typename T>\nT max(T a, T b) { return a > b ? a : b; }",
        "auto it = map.find(key); if (it != map.end()) { ++it->second; }",
        "x <<= 2; y >>= 3; z &&= w; p->q.r[5] = *s++;",
        "{\"name\": \"mamba\", \"layers\": 24, \"d_model\": 768, \"ok\": true, \"x\": null}",
        "[1, 2.5, -3e10, \"str\", {\"nested\": [ ]}]",
        "{\n  \"key\": \"value\",\n  \"list\": [\n    1,\n    2\n  ]\n}",
        "#!/bin/bash\nset -euo pipefail\nfor f in *.txt; do echo \"$f\"; done",
        "ls -la | grep '^d' | awk '{print $9}' > dirs.txt 2>&1",
        "export PATH=\"$HOME/.local/bin:$PATH\"; cd ~/src && make -j$(nproc)",
        "SELECT id, name FROM users WHERE age >= 21 ORDER BY name DESC;",
        "<div class=\"main\"><p>Hello, <b>world</b>!</p></div>",
        "fn main() { let v: Vec<u8> = vec![0; 16]; println!(\"{:?}\", v); }",
        "const f = async (a, b) => { await g(a ?? b); return `${a}-${b}`; };",
        "x=1;y=2;z=x+y;print(z)",
        "// comment\n/* block\n   comment */\n",
        "a_b_c = snake_case_name__with__double",
        "CamelCaseIdentifierWithMANYWords and mixedCASE",
    ]


def number_cases():
    return [
        "0", "7", "12", "123", "1234", "12345", "123456789", "3.14", "3.14159265358979",
        "-42", "-0.001", "+1", "1e-9", "6.022e23", "1,000,000", "1_000_000", "0xDEADBEEF",
        "0b1010", "v1.2.3", "2024-01-15", "12:30:45", "$19.99", "100%", "50°C",
        "9" * 40, "1234567890" * 5, "call 555-0100 now", "pi is 3.14 and e is 2.71",
        "٠١٢٣٤٥٦٧٨٩", "١٢٣", "۱۲۳", "१२३", "๑๒๓", "x² + y² = z²", "H₂O", "½ cup",
        "Ⅷ Ⅻ ⅻ", "①②③", "１２３", "3rd 21st 100th", "a1b2c3", "abc123def", "123abc",
    ]


def contraction_cases():
    return [
        "I'm don't 12345 3.14", "THE'S 's", "it's", "It's", "IT'S", "isn't", "ISN'T",
        "you're", "YOU'RE", "we've", "WE'VE", "I'm", "I'M", "we'll", "WE'LL", "he'd", "HE'D",
        "'s 't 're 've 'm 'll 'd", "'S 'T 'RE 'VE 'M 'LL 'D", "'''", "''s", "rock 'n' roll",
        "it\u2019s", "don\u2019t", "\u2018quoted\u2019", "\u201cdouble\u201d", "'tis", "o'clock",
        "the cat's hat's brim", "'", "'x", "'re'", "'s's's",
    ]


def accent_cases():
    return [
        "naïve café 日本語", "e\u0301", "cafe\u0301", "Cafe\u0301 nai\u0308ve", "A\u030a",
        "n\u0303", "o\u0308\u0304", "\u1100\u1161\u11a8", "é", "résumé", "Ångström", "Zürich",
        "façade", "crème brûlée", "Dvořák", "Łódź", "Ærøskøbing", "straße", "İstanbul",
        "q\u0307\u0323", "e\u0301\u0301\u0301", "\u0301alone", "x\u20d7",
        "\u212b", "\u2126", "\ufb01 ligature", "ﬀ ﬃ",
    ]


def script_cases():
    return [
        "日本語のテキストです。", "中文文本，包括标点。", "漢字かなカナ混じり文",
        "한국어 텍스트입니다", "안녕하세요 세계", "مرحبا بالعالم", "العربية ١٢٣ نص",
        "שלום עולם", "עִבְרִית", "नमस्ते दुनिया", "हिन्दी में लिखा", "สวัสดีชาวโลก",
        "ภาษาไทยไม่มีช่องว่าง", "Привет, мир!", "Ελληνικά κείμενα", "Ողջույն",
        "გამარჯობა", "ሰላም ዓለም", "தமிழ் உரை", "বাংলা লেখা", "Tiếng Việt có dấu",
        "mixed English 日本語 and العربية", "ŋ ɑ ʃ ʒ θ ð", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "𝐁𝐨𝐥𝐝",
        "ｆｕｌｌｗｉｄｔｈ", "ﾊﾝｶｸ", "𠀀𠀁 rare CJK",
    ]


def emoji_cases():
    return [
        "emoji 🙂 ok", "🙂", "🙂🙂🙂", "👍🏽", "👍🏿 thumbs", "👨\u200d👩\u200d👧\u200d👦",
        "👩\u200d💻 coder", "🏳️\u200d🌈", "🇺🇸🇯🇵🇩🇪", "🇫🇷 flag", "❤️", "❤\ufe0f❤", "☺", "✨ sparkle ✨",
        "1️⃣ keycap", "#️⃣", "🤖🚀🔥💯", "text🙂text", "🙂 🙂  🙂   🙂",
    ]


def unicode_space_cases():
    return [
        "\u00a0nbsp", "a\u00a0b", "a\u00a0\u00a0b", "a \u00a0b", "a\u00a0 b", "\u00a0",
        "a\u2003b", "a\u2003\u2003b", "em\u2003space ", "a\u3000b", "全角\u3000空白",
        "a\u200bb", "zero\u200bwidth\u200bspace", "a\u2009b", "a\u202fb", "a\u205fb",
        "a\u1680b", "a\u2028b", "a\u2029b", "a\u0085b", "\u0085", "a\u00a0\nb",
        "a\u200cb\u200dc", "\u2060joiner", "a \u3000 b", "\u2002\u2003\u2004 spaces",
        # Where Oniguruma's \s (White_Space) and JavaScript's \s disagree: U+0085 and U+1680 are
        # White_Space, U+FEFF, U+180E, U+200B and U+001C..U+001F are not. A space before the
        # character tells the two readings apart (" ?[^\s...]+" vs a white-space run).
        "a \u0085b", "a\u0085\u0085b", "a \u0085\u0085 b", "x \ufeffy", "a\ufeff\ufeff b",
        "a \u200bb", "a \u180eb", "a \u001cb", "a \u001fb", "a \u1680b", "a \u00a0b",
        "a \u2028\u2029 b",
    ]


def special_token_cases():
    return [
        "<|endoftext|>", "<|endoftext|>The", "The<|endoftext|>", "a<|endoftext|>b<|endoftext|>c",
        "<|endoftext|><|endoftext|>", "<|unk|>", "x<|unk|>y", "<|endof", "<|endoftext",
        "endoftext|>", "<|endoftext|", "< |endoftext| >", "<|ENDOFTEXT|>", "<|padding|>",
        " <|endoftext|> spaced ", "<|endoftext|>  two spaces", "  <|endoftext|>",
        "<<|endoftext|>>", "<|<|endoftext|>|>", "text <|unk|><|endoftext|> more",
        "<|endoftext|>\n\nNext document", "e\u0301<|endoftext|>e\u0301",
    ]


def punctuation_and_misc_cases():
    return [
        "Hello my name is", "Hey how are you doing?", "Hello world", " Hello", "Hello there       dear",
        "!!!", "?!?!", "...", "…", "—", "--", "---", "-->", "<=>", "!= == === !==", "@#$%^&*()",
        "(((nested)))", "[[link]]", "{{template}}", "a/b/c", "a\\b\\c", "a|b|c", "~~strike~~",
        "https://example.com/path?q=1&r=two#frag", "http://localhost:8080/api/v1/items/42",
        "user@example.com", "ftp://files.example.org/pub/file-1.2.tar.gz", "www.example.co.uk",
        "# Heading\n\n## Sub\n\n- item 1\n- item 2\n\n**bold** _it_ `code`",
        "| a | b |\n|---|---|\n| 1 | 2 |", "> quote\n>> nested", "```python\nprint(1)\n```",
        "[text](http://x.y/z) ![img](a.png)", "1. first\n2. second\n   - sub",
        "Supercalifragilisticexpialidocious", "Pneumonoultramicroscopicsilicovolcanoconiosis",
        "antidisestablishmentarianism" * 3, "a" * 100, "ab" * 64, "xyz" * 50 + "!",
        "Llanfairpwllgwyngyllgogerychwyrndrobwllllantysiliogogogoch", "ThisIsAVeryLongCamelCase" * 4,
        "", " ", "a", "Z", ".", "\u00e9", "日", "😀", "\u0000", "a\u0000b", "\u0001\u0002\u0003",
        "\u007f", "bell\u0007char", "esc\u001b[31mred\u001b[0m", "\u0080", "\u009f", "\ufeffBOM",
        "\ufffd", "\uffff", "\U0010ffff", "\U000e0041 tag", "\u00ad soft hyphen",
        "¡Hola! ¿Qué tal?", "«guillemets»", "„German“", "“smart” ‘quotes’", "§1 ¶2 © ® ™",
        "±×÷", "∑∫∂√∞≈≠≤≥", "→←↑↓⇒", "★☆♠♣♥♦", "€£¥₹₿", "°′″",
        "The quick brown fox jumps over the lazy dog.", "THE QUICK BROWN FOX", "tHe QuIcK",
        "Mr. Smith went to Washington, D.C., on Jan. 5th.", "e.g., i.e., etc.",
        "don't stop—keep going…", "co-operate re-enter", "snake_case kebab-case dot.case",
        "A.B.C.D.", "U.S.A.", "a,b;c:d", "(a)", "[a]", "{a}", "\"quoted\"",
        "Hello, world! How's it going? I'm fine, thanks. You?",
        "The year 1999 had 365 days; 2000 had 366.", "Room 101, Floor 3, Building B-12",
        "tokenization is the first step in NLP pipelines",
        "Mamba is a selective state space model (SSM) architecture.",
    ]


def main():
    corpus = []
    for group in (whitespace_cases, newline_and_code_cases, number_cases, contraction_cases,
                  accent_cases, script_cases, emoji_cases, unicode_space_cases,
                  special_token_cases, punctuation_and_misc_cases):
        corpus.extend(group())
    # Long composites: every case next to every other, joined three ways, so that interactions
    # (a case's leading space after another's trailing one, added tokens mid-run) get exercised
    # and BPE runs on a few very long pre-tokens.
    corpus += [" ".join(corpus), "\n".join(corpus), "".join(corpus)]
    corpus += [
        "In 2023, researchers introduced Mamba, a selective state space model. Unlike "
        "Transformers, it scales linearly with sequence length; on language modeling it matched "
        "models twice its size.\n\nThe key idea: make the SSM parameters (\u0394, B, C) "
        "functions of the input.",
        "Q: What's 2+2?\nA: It's 4.\n\nQ: Who wrote \"Hamlet\"?\nA: Shakespeare (c. 1600).",
    ]
    seen = set()
    unique = [s for s in corpus if not (s in seen or seen.add(s))]
    json.dump(unique, sys.stdout, ensure_ascii=True, indent=0)
    sys.stdout.write("\n")
    print(f"{len(unique)} strings", file=sys.stderr)


if __name__ == "__main__":
    main()
