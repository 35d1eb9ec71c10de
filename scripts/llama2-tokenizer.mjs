#!/usr/bin/env node
// The Llama 2 tokenizer, offline: npm `llama-tokenizer-js` (1.2.2) carries LLaMA 1/2's vocabulary (32,000 pieces
// in id order) and its BPE merges (in priority order). This script turns them into a `tokenizer.json` for the
// Hugging Face `tokenizers` library with the Llama-2-7b-hf pipeline, and encodes text with the package's own
// JavaScript BPE, so tests can hold the two independent implementations to the same ids.
//
//   node scripts/llama2-tokenizer.mjs build [--out FILE]   writes the tokenizer.json (default: DEFAULT_OUT)
//   node scripts/llama2-tokenizer.mjs encode < texts.json   prints the package's ids ([BOS, ...]) per text
//
// The pipeline written is the one of Meta's Llama-2-7b-hf conversion (transformers' LlamaConverter, legacy mode):
// normalizer Prepend("▁") + Replace(" " → "▁"), no pre-tokenizer, BPE with byte fallback and fused <unk>, the
// decoder that undoes them, and a post-processor that adds <s>. The output is byte-for-byte deterministic.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import llamaTokenizer from 'llama-tokenizer-js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
/** Where set-up writes it; `medllama.resources.find_llama2_tokenizer()` looks here. */
export const DEFAULT_OUT = join(root, '.cache', 'llama-2-tokenizer', 'tokenizer.json');
const SPECIAL = ['<unk>', '<s>', '</s>'];

/** Vocabulary (piece → id) and merges (pairs, highest priority first) as the package holds them. */
export function vocabularyAndMerges(tokenizer = llamaTokenizer) {
  const pieces = tokenizer.vocabById;
  if (pieces.length !== 32000) throw new Error(`expected 32,000 pieces, the package has ${pieces.length}`);
  SPECIAL.forEach((piece, id) => {
    if (pieces[id] !== piece) throw new Error(`id ${id} is ${JSON.stringify(pieces[id])}, expected ${piece}`);
  });
  // No prototype: pieces such as "toString" or "__proto__" are plain keys here.
  const vocab = Object.create(null);
  pieces.forEach((piece, id) => {
    if (Object.hasOwn(vocab, piece))
      throw new Error(`piece ${JSON.stringify(piece)} appears twice (ids ${vocab[piece]}, ${id})`);
    vocab[piece] = id;
  });
  // The package keys each merge by "left right" with its priority as the value (lower merges first).
  const merges = [...tokenizer.merges.entries()]
    .sort((a, b) => a[1] - b[1])
    .map(([key]) => {
      const cut = key.indexOf(' ');
      const pair = [key.slice(0, cut), key.slice(cut + 1)];
      if (cut < 0 || !pair.every((p) => Object.hasOwn(vocab, p)) || !Object.hasOwn(vocab, pair.join('')))
        throw new Error(`merge ${JSON.stringify(key)} does not join two pieces into a third`);
      return pair;
    });
  return { vocab, merges };
}

/** The tokenizer.json object (Llama-2-7b-hf pipeline). */
export function llama2TokenizerJson(tokenizer = llamaTokenizer) {
  const { vocab, merges } = vocabularyAndMerges(tokenizer);
  const bos = { SpecialToken: { id: '<s>', type_id: 0 } };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIAL.map((content, id) => ({
      id,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: {
      type: 'Sequence',
      normalizers: [
        { type: 'Prepend', prepend: '▁' },
        { type: 'Replace', pattern: { String: ' ' }, content: '▁' },
      ],
    },
    pre_tokenizer: null,
    post_processor: {
      type: 'TemplateProcessing',
      single: [bos, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [bos, { Sequence: { id: 'A', type_id: 0 } }, bos, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
    },
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: '▁' }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        { type: 'Strip', content: ' ', start: 1, stop: 0 },
      ],
    },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: '<unk>',
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      ignore_merges: false,
      vocab,
      merges,
    },
  };
}

/** Writes the tokenizer.json (through a temporary file, so a reader never sees half of it). */
export function buildLlama2Tokenizer(out = DEFAULT_OUT) {
  mkdirSync(dirname(out), { recursive: true });
  const tmp = `${out}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(llama2TokenizerJson())}\n`);
  renameSync(tmp, out);
  return out;
}

function main(argv) {
  const [command, ...rest] = argv;
  if (command === 'build') {
    const at = rest.indexOf('--out');
    console.log(`[llama2-tokenizer] wrote ${buildLlama2Tokenizer(at >= 0 ? rest[at + 1] : DEFAULT_OUT)}`);
    return 0;
  }
  if (command === 'encode') {
    const texts = JSON.parse(readFileSync(0, 'utf8'));
    if (!Array.isArray(texts) || texts.some((t) => typeof t !== 'string'))
      throw new Error('encode: expected a JSON array of strings on stdin');
    process.stdout.write(`${JSON.stringify(texts.map((t) => llamaTokenizer.encode(t)))}\n`);
    return 0;
  }
  console.error('usage: node scripts/llama2-tokenizer.mjs build [--out FILE] | encode < texts.json');
  return 2;
}

if (fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (err) {
    console.error(`[llama2-tokenizer] ${err.message}`);
    process.exitCode = 1;
  }
}
