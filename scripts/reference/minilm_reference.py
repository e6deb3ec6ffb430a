"""Independent reference for Engram's native all-MiniLM-L6-v2 embedder.

Token ids come from Hugging Face `tokenizers` reading the model's own tokenizer.json (truncated at 256
tokens, as sentence-transformers' max_seq_length); embeddings come from a float64 numpy forward pass over
the weights read by `safetensors`: BERT encoder, mean pooling over the tokens, L2 normalization.

Writes Tests/EngramEmbeddingsTests/Fixtures/minilm-reference.json. Run through
scripts/minilm-reference.sh, which builds the virtualenv.
"""
import json
import math
import os
import sys

import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer

MAX_TOKENS = 256

LONG = " ".join(
    f"Paragraph {i}: the quick brown fox jumps over the lazy dog while PostgreSQL vacuums its tables."
    for i in range(40)
)

SENTENCES = [
    "",
    "   ",
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog.",
    "Engram gives RAG applications durable, auditable memory.",
    "How do I rotate the signing keys without downtime?",
    "Café, naïve, résumé, façade, jalapeño, Ångström.",
    "ÀÉÎÕÜ àéîõü ÇçÑñ",
    "Straße und Fußgängerübergänge in München",
    "İstanbul'da ılık bir gün; DİKKAT!",
    "ΣΊΣΥΦΟΣ και η ΟΔΟΣ: σίσυφος",
    "Москва — столица России.",
    "東京は日本の首都です。",
    "我爱自然语言处理和向量数据库",
    "한국어 문장도 처리합니다.",
    "ภาษาไทยไม่มีช่องว่างระหว่างคำ",
    "हिन्दी में एक वाक्य।",
    "مرحبا بالعالم",
    "שלום עולם",
    "Emoji: 😀🎉👍🏽 and a family 👨‍👩‍👧‍👦 and flags 🇫🇷🇯🇵",
    "func embed(_ texts: [String]) async throws -> [[Float]] { texts.map(vector(for:)) }",
    "SELECT id, embedding <=> $1 AS d FROM engram.chunks WHERE metadata @> '{\"lang\":\"en\"}' ORDER BY d LIMIT 10;",
    "def f(x):\n\treturn {k: v for k, v in x.items() if v is not None}  # comment",
    "<div class=\"note\">&nbsp;Tags &amp; entities</div>",
    "!!!???...,,,;;;:::---___***&&&%%%$$$###@@@",
    "Wait... what?! (really) [sure] {ok} <no> \"quoted\" 'single' `tick`",
    "a-b_c.d/e\\f|g~h^i+j=k",
    "Ellipsis… “curly quotes” ‘single’ «guillemets» — em dash – en dash",
    "Price: $1,299.99 (~€1.2k) — 15% off; 3×4=12; 2^10=1024",
    "Version 2.10.3-beta+build.45 released on 2026-11-27T08:57:10Z",
    "https://example.com/path?query=value&other=1#fragment",
    "user.name+tag@example.co.uk",
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "x" * 101,
    "y" * 100,
    "pneumonoultramicroscopicsilicovolcanoconiosis " * 3,
    "tab\tseparated\tvalues\nand\r\nnew lines\u00a0nbsp\u2003em space",
    "zero\u200bwidth\u200cnon\u200djoiner and soft\u00adhyphen",
    "control\u0001chars\u0007here\u001fand\u007fdel",
    "replacement \ufffd char and private use \ue000 area",
    "fullwidth ＡＢＣ１２３ and ｶﾀｶﾅ",
    "ligatures ﬁ ﬂ and roman numeral Ⅻ and superscript x²",
    "combining: e\u0301 a\u0308 n\u0303 and precomposed é ä ñ",
    "Math: ∀x ∈ ℝ, ∃y: x² + y² ≤ 1 ⇒ |x| ≤ 1",
    "mixed CASE WoRdS With ALLCAPS and camelCaseIdentifiers",
    "The patient's HbA1c was 7.2% (ref < 5.7%).",
    "Ünïcödé ñormalization tëst with ÅÄÖ åäö",
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen",
    "Retrieval-augmented generation combines a retriever with a generator.",
    "PostgreSQL with pgvector stores embeddings next to the rows they describe.",
    "Legal hold prevents deletion until the hold is cleared by an authorised operator.",
    "日本語とEnglishが混在したtext、そして数字123。",
    LONG,
]


def tokenize(tokenizer, text):
    return tokenizer.encode(text).ids


def layer_norm(x, w, b, eps=1e-12):
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def gelu(x):
    erf = np.vectorize(math.erf)
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def embed(weights, config, ids):
    w = lambda name: weights[name].astype(np.float64)
    n = len(ids)
    hidden = config["hidden_size"]
    heads = config["num_attention_heads"]
    dh = hidden // heads
    x = w("embeddings.word_embeddings.weight")[ids]
    x = x + w("embeddings.position_embeddings.weight")[:n] + w("embeddings.token_type_embeddings.weight")[0]
    x = layer_norm(x, w("embeddings.LayerNorm.weight"), w("embeddings.LayerNorm.bias"))
    for i in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        lin = lambda t, name: t @ w(p + name + ".weight").T + w(p + name + ".bias")
        q = lin(x, "attention.self.query").reshape(n, heads, dh).transpose(1, 0, 2)
        k = lin(x, "attention.self.key").reshape(n, heads, dh).transpose(1, 0, 2)
        v = lin(x, "attention.self.value").reshape(n, heads, dh).transpose(1, 0, 2)
        scores = q @ k.transpose(0, 2, 1) / math.sqrt(dh)
        scores = scores - scores.max(axis=-1, keepdims=True)
        probs = np.exp(scores)
        probs = probs / probs.sum(axis=-1, keepdims=True)
        ctx = (probs @ v).transpose(1, 0, 2).reshape(n, hidden)
        x = layer_norm(x + lin(ctx, "attention.output.dense"),
                       w(p + "attention.output.LayerNorm.weight"), w(p + "attention.output.LayerNorm.bias"))
        inner = gelu(lin(x, "intermediate.dense"))
        x = layer_norm(x + lin(inner, "output.dense"),
                       w(p + "output.LayerNorm.weight"), w(p + "output.LayerNorm.bias"))
    pooled = x.mean(axis=0)
    return pooled / np.linalg.norm(pooled)


def main():
    model_dir = sys.argv[1]
    out = sys.argv[2]
    tokenizer = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(MAX_TOKENS)
    weights = load_file(os.path.join(model_dir, "model.safetensors"))
    with open(os.path.join(model_dir, "config.json")) as f:
        config = json.load(f)
    items = []
    for text in SENTENCES:
        ids = tokenize(tokenizer, text)
        vec = embed(weights, config, ids)
        items.append({"text": text, "ids": ids, "embedding": [float(f"{x:.8g}") for x in vec]})
    assert any(len(it["ids"]) == MAX_TOKENS for it in items), "no text reaches the truncation limit"
    with open(out, "w") as f:
        json.dump({"model": "sentence-transformers/all-MiniLM-L6-v2", "max_tokens": MAX_TOKENS, "items": items},
                  f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {len(items)} reference embeddings to {out}")


if __name__ == "__main__":
    main()
