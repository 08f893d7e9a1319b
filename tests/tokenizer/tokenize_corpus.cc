// Encodes every string of a JSON corpus with our Tokenizer, for the parity check against
// @huggingface/tokenizers (run_parity.sh). Usage: tokenize_corpus TOKENIZER_JSON CORPUS_JSON
// Prints one JSON array of id arrays (one per corpus string, in order) to stdout; exits non-zero
// with a message on stderr if a file cannot be read or parsed or a string fails to encode.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "nlohmann/json.hpp"
#include "src/model/tokenizer.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: " << argv[0] << " TOKENIZER_JSON CORPUS_JSON\n";
    return 2;
  }
  auto tokenizer = mamba_explain::Tokenizer::FromFile(argv[1]);
  if (!tokenizer.ok()) {
    std::cerr << tokenizer.status() << "\n";
    return 1;
  }
  std::ifstream corpus_file(argv[2], std::ios::binary);
  if (!corpus_file) {
    std::cerr << argv[2] << ": cannot open corpus\n";
    return 1;
  }
  std::ostringstream corpus_text;
  corpus_text << corpus_file.rdbuf();
  nlohmann::json corpus;
  try {
    corpus = nlohmann::json::parse(corpus_text.str());
  } catch (const nlohmann::json::exception& e) {
    std::cerr << argv[2] << ": not valid JSON: " << e.what() << "\n";
    return 1;
  }
  if (!corpus.is_array()) {
    std::cerr << argv[2] << ": expected a JSON array of strings\n";
    return 1;
  }
  nlohmann::json result = nlohmann::json::array();
  for (size_t i = 0; i < corpus.size(); ++i) {
    if (!corpus[i].is_string()) {
      std::cerr << argv[2] << "[" << i << "]: not a string\n";
      return 1;
    }
    auto ids = (*tokenizer)->Encode(corpus[i].get<std::string>());
    if (!ids.ok()) {
      std::cerr << argv[2] << "[" << i << "]: " << ids.status() << "\n";
      return 1;
    }
    result.push_back(*ids);
  }
  std::cout << result.dump() << "\n";
  return 0;
}
