// Reference token ids for the parity test, from @huggingface/tokenizers (an independent JS port
// of HF tokenizers). Usage: node reference.mjs TOKENIZER_JSON CORPUS_JSON
// Prints a JSON array with one id array per corpus string. No special tokens are added (the
// GPT-NeoX post-processor adds none anyway), so the ids are the raw encoding of each string.
import { readFileSync } from "node:fs";
import { Tokenizer } from "@huggingface/tokenizers";

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
const ids = corpus.map((text) => tokenizer.encode(text, { add_special_tokens: false }).ids);
process.stdout.write(JSON.stringify(ids) + "\n");
