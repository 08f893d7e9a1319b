// Reference token ids for the parity test, from @huggingface/tokenizers (an independent JS port
// of HF tokenizers). Usage: node reference.mjs TOKENIZER_JSON CORPUS_JSON
// Prints a JSON array with one id array per corpus string. No special tokens are added (the
// GPT-NeoX post-processor adds none anyway), so the ids are the raw encoding of each string.
//
// One correction: the package's ByteLevel pre-tokenizer (0.2.0) hard-codes the GPT-2 regex as a
// JavaScript literal, where \s means JS white space (adds U+FEFF, lacks U+0085). HF tokenizers
// compiles it with Oniguruma, whose Unicode \s is U+0009..U+000D, U+0085 and Zs/Zl/Zp, i.e. the
// White_Space property (Oniguruma doc/RE, "Character types"). The package's own regex translator
// maps \s to \p{White_Space} for the same reason, so we swap in that spelling of the pattern.
// stderr reports which corpus strings the swap changes, so the correction stays visible.
import { readFileSync } from "node:fs";
import { Tokenizer } from "@huggingface/tokenizers";

const JS_GPT2_PATTERN = String.raw`'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`;
const ONIGURUMA_GPT2_PATTERN = new RegExp(
  String.raw`'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\p{White_Space}\p{L}\p{N}]+` +
    String.raw`|\p{White_Space}+(?!\P{White_Space})|\p{White_Space}+`,
  "gu",
);

// ByteLevel pre-tokenizers holding the JS-literal pattern, directly or inside a Sequence.
function byteLevelsWithJsPattern(preTokenizer) {
  if (!preTokenizer) return [];
  if (Array.isArray(preTokenizer.tokenizers)) {
    return preTokenizer.tokenizers.flatMap(byteLevelsWithJsPattern);
  }
  const pattern = preTokenizer.pattern;
  return pattern instanceof RegExp && pattern.source === JS_GPT2_PATTERN ? [preTokenizer] : [];
}

const [tokenizerPath, corpusPath] = process.argv.slice(2);
if (!tokenizerPath || !corpusPath) {
  console.error("usage: node reference.mjs TOKENIZER_JSON CORPUS_JSON");
  process.exit(2);
}
const tokenizerJson = JSON.parse(readFileSync(tokenizerPath, "utf8"));
const corpus = JSON.parse(readFileSync(corpusPath, "utf8"));
if (!Array.isArray(corpus) || !corpus.every((s) => typeof s === "string")) {
  console.error(`${corpusPath}: expected a JSON array of strings`);
  process.exit(2);
}
const tokenizer = new Tokenizer(tokenizerJson, {});
const encodeAll = () =>
  corpus.map((text) => tokenizer.encode(text, { add_special_tokens: false }).ids);

const patched = byteLevelsWithJsPattern(tokenizer.pre_tokenizer);
if (patched.length === 0) {
  console.error("reference.mjs: no JS-literal GPT-2 pattern found; nothing corrected");
  process.stdout.write(JSON.stringify(encodeAll()) + "\n");
  process.exit(0);
}
const unpatchedIds = encodeAll();
for (const preTokenizer of patched) preTokenizer.pattern = ONIGURUMA_GPT2_PATTERN;
const ids = encodeAll();
const changed = corpus.flatMap((text, i) =>
  JSON.stringify(ids[i]) === JSON.stringify(unpatchedIds[i]) ? [] : [JSON.stringify(text)],
);
console.error(
  `reference.mjs: Oniguruma \\s correction changes ${changed.length} of ${corpus.length} ` +
    `strings${changed.length ? ": " + changed.join(", ") : ""}`,
);
process.stdout.write(JSON.stringify(ids) + "\n");
