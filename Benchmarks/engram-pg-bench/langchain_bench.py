"""langchain-postgres side of engram-pg-bench: the same rows and queries through PGVector.

Usage: python langchain_bench.py WORK_DIR SQLALCHEMY_URL
Reads WORK_DIR/lc-rows.jsonl, lc-vectors.f32 and lc-queries.f32 (written by engram-pg-bench) and prints
`name value` lines. add_embeddings sends one multi-row INSERT per call, and PostgreSQL caps a statement at
65,535 parameters, so the rows go in calls of 1,000 (5 parameters each), as applications do.
"""
import json
import sys
import time

import numpy as np
from langchain_core.embeddings import Embeddings
from langchain_postgres import PGVector
from sqlalchemy import create_engine, text


class Precomputed(Embeddings):
    """Vectors are passed in; embedding text is never needed."""

    def embed_documents(self, texts):
        raise RuntimeError("not used")

    def embed_query(self, text):
        raise RuntimeError("not used")


work, url = sys.argv[1], sys.argv[2]
rows = [json.loads(line) for line in open(f"{work}/lc-rows.jsonl", encoding="utf-8")]
vectors = np.fromfile(f"{work}/lc-vectors.f32", dtype=np.float32).reshape(-1, 384)
queries = np.fromfile(f"{work}/lc-queries.f32", dtype=np.float32).reshape(-1, 384)

store = PGVector(embeddings=Precomputed(), connection=url, embedding_length=384, collection_name="bench",
                 pre_delete_collection=True, use_jsonb=True, create_extension=False)
texts = [r["text"] for r in rows]
metadatas = [json.loads(r["metadata"]) for r in rows]
ids = [r["id"] for r in rows]
embeddings = vectors.tolist()
start = time.perf_counter()
for i in range(0, len(rows), 1000):
    store.add_embeddings(texts[i:i + 1000], embeddings[i:i + 1000], metadatas[i:i + 1000], ids[i:i + 1000])
print(f"load_seconds {time.perf_counter() - start:.3f}")

# The HNSW index a langchain-postgres user adds (the library creates none), same parameters as Engram's.
engine = create_engine(url)
start = time.perf_counter()
with engine.begin() as c:
    c.execute(text("SET maintenance_work_mem = '512MB'"))
    c.execute(text("CREATE INDEX lc_hnsw ON langchain_pg_embedding USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64)"))
    c.execute(text("ANALYZE langchain_pg_embedding"))
print(f"index_seconds {time.perf_counter() - start:.3f}")


def measure(flt):
    times, counts = [], []
    for q in queries:
        t = time.perf_counter()
        docs = store.similarity_search_by_vector(q.tolist(), k=10, filter=flt)
        times.append((time.perf_counter() - t) * 1000)
        counts.append(len(docs))
    times.sort()
    return times[len(times) // 2], times[int(0.95 * (len(times) - 1))], counts


for q in queries[:5]:
    store.similarity_search_by_vector(q.tolist(), k=10)
p50, p95, _ = measure(None)
print(f"plain_p50 {p50:.3f}")
print(f"plain_p95 {p95:.3f}")
p50, p95, counts = measure({"bucket": {"$eq": "b7"}})
print(f"filtered_p50 {p50:.3f}")
print(f"filtered_p95 {p95:.3f}")
print(f"filtered_avg_results {sum(counts) / len(counts):.3f}")
print(f"filtered_full {sum(1 for c in counts if c == 10)}")
