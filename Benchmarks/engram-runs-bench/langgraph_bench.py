"""LangGraph's PostgresSaver writing the same run states as Engram's run benchmark, on the same server.

Each step saves a checkpoint of a 10-channel state in which one channel changes (the checkpoint LangGraph's
loop builds: channel values, channel versions from the saver's own get_next_version, the versions the
node has seen, metadata with the step), one writer per run. Prints one JSON object of figures.

Usage: python langgraph_bench.py CONNINFO SCHEMA STEPS RUNS CHANNELS VALUE_BYTES
"""
import json
import sys
import threading
import time
from datetime import datetime, timezone

from langgraph.checkpoint.base import empty_checkpoint
from langgraph.checkpoint.base.id import uuid6
from langgraph.checkpoint.postgres import PostgresSaver
from psycopg import Connection
from psycopg.rows import dict_row


def value(channel, step, size):
    text = f"channel {channel} at step {step} "
    return {"channel": channel, "step": step, "text": (text * (size // len(text) + 1))[:size]}


def percentile(xs, p):
    s = sorted(xs)
    if not s:
        return 0.0
    k = (len(s) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def run_thread(conninfo, thread_id, steps, channels, size, times):
    with Connection.connect(conninfo, autocommit=True, prepare_threshold=0, row_factory=dict_row) as conn:
        saver = PostgresSaver(conn)
        config = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
        checkpoint = empty_checkpoint()
        for step in range(steps):
            checkpoint = checkpoint.copy()
            checkpoint["channel_values"] = dict(checkpoint["channel_values"])
            checkpoint["channel_versions"] = dict(checkpoint["channel_versions"])
            new_versions = {}
            changed = ["ch0"] if step > 0 else [f"ch{c}" for c in range(channels)]
            for name in changed:
                c = int(name[2:])
                checkpoint["channel_values"][name] = value(c, step, size)
                version = saver.get_next_version(checkpoint["channel_versions"].get(name), None)
                checkpoint["channel_versions"][name] = version
                new_versions[name] = version
            checkpoint["versions_seen"] = {"agent": dict(checkpoint["channel_versions"])}
            checkpoint["updated_channels"] = changed
            checkpoint["id"] = str(uuid6(clock_seq=step))
            checkpoint["ts"] = datetime.now(timezone.utc).isoformat()
            metadata = {"source": "loop", "step": step, "parents": {}}
            start = time.perf_counter()
            config = saver.put(config, checkpoint, metadata, new_versions)
            times.append((time.perf_counter() - start) * 1000)
        resume = []
        for _ in range(200):
            start = time.perf_counter()
            saver.get_tuple({"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}})
            resume.append((time.perf_counter() - start) * 1000)
        return resume


def main():
    conninfo, schema, steps, runs, channels, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
    admin = Connection.connect(conninfo, autocommit=True)
    admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    admin.execute(f"CREATE SCHEMA {schema}")
    conninfo = conninfo + ("&" if "?" in conninfo else "?") + f"options=-csearch_path%3D{schema}"
    with Connection.connect(conninfo, autocommit=True, prepare_threshold=0, row_factory=dict_row) as conn:
        PostgresSaver(conn).setup()

    # One writer: latency per step.
    times = []
    resume = run_thread(conninfo, "single", steps, channels, size, times)
    single_seconds = sum(times) / 1000

    # Several runs at once, one connection each.
    concurrent_times = []
    lock = threading.Lock()
    def worker(i):
        t = []
        run_thread(conninfo, f"concurrent-{i}", steps, channels, size, t)
        with lock:
            concurrent_times.extend(t)
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(runs)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    concurrent_seconds = time.perf_counter() - start

    sizes = {}
    for table in ["checkpoints", "checkpoint_blobs", "checkpoint_writes"]:
        row = admin.execute(f"SELECT pg_total_relation_size('{schema}.{table}')").fetchone()
        sizes[table] = row[0]
    admin.execute(f"DROP SCHEMA {schema} CASCADE")
    print(json.dumps({
        "p50_ms": percentile(times, 50), "p99_ms": percentile(times, 99), "steps_per_s": steps / single_seconds,
        "concurrent_steps_per_s": runs * steps / concurrent_seconds, "concurrent_p50_ms": percentile(concurrent_times, 50),
        "resume_p50_ms": percentile(resume, 50), "bytes": sum(sizes.values()), "tables": sizes, "checkpoints": steps * (runs + 1),
    }))


if __name__ == "__main__":
    main()
