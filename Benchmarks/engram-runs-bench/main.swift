// Run-state benchmark (run through scripts/bench-runs.sh), side by side in one run: Engram's run store on
// SQLite and on PostgreSQL against LangGraph's PostgresSaver (PyPI langgraph-checkpoint-postgres, driven
// by langgraph_bench.py) on the same server, writing the same states:
//
//   each step checkpoints a state of CHANNELS channels (default 10) of VALUE_BYTES (default 256) of JSON
//   each, of which one changes per step; one writer per run. Figures: checkpoint write p50/p99 and steps/s
//   with one writer, steps/s with RUNS (default 8) runs written at once, storage bytes per step (tables,
//   indexes and TOAST on PostgreSQL; the database file on SQLite), and resume (latest checkpoint with its
//   state) p50.
//
// Usage: engram-runs-bench WORK_DIR   (environment: ENGRAM_POSTGRES_URL, LANGGRAPH_PYTHON; ENGRAM_RUNBENCH_STEPS,
//        _RUNS, _CHANNELS, _VALUE_BYTES)
import EngramCore
import EngramKit
import EngramPostgres
import EngramTesting
import Foundation
import GRDB
import PostgresNIO

let env = ProcessInfo.processInfo.environment
guard CommandLine.arguments.count >= 2 else { fail("usage: engram-runs-bench WORK_DIR") }
let work = CommandLine.arguments[1]
try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
func setting(_ name: String, _ value: Int) -> Int { Int(env[name] ?? "") ?? value }
let steps = setting("ENGRAM_RUNBENCH_STEPS", 2_000)
let concurrentRuns = setting("ENGRAM_RUNBENCH_RUNS", 8)
let channels = setting("ENGRAM_RUNBENCH_CHANNELS", 10)
let valueBytes = setting("ENGRAM_RUNBENCH_VALUE_BYTES", 256)

/// The value LangGraph's side writes too: {"channel": c, "step": s, "text": "channel c at step s …"}.
func value(_ channel: Int, _ step: Int) -> JSONValue {
    let text = "channel \(channel) at step \(step) "
    let padded = String(String(repeating: text, count: valueBytes / text.count + 1).prefix(valueBytes))
    return .object([("channel", .int(Int64(channel))), ("step", .int(Int64(step))), ("text", .string(padded))])
}

struct Figures {
    var p50 = 0.0, p99 = 0.0, stepsPerSecond = 0.0, concurrentStepsPerSecond = 0.0, resumeP50 = 0.0, bytesPerStep = 0.0
}

/// One run of `steps` checkpoints; the latency of each write in ms.
nonisolated(nonsending) func writeRun(_ store: any RunStore, tenant: String) async throws -> (run: String, times: [Double]) {
    let run = try await store.startRun(RunDraft(tenant: tenant, agent: "bench"), actor: "bench")
    let lease = try await store.acquireLease(runID: run.id, tenant: tenant, owner: "bench", duration: .seconds(3_600))
    var state: [String: JSONValue] = [:]
    for c in 0..<channels { state["ch\(c)"] = value(c, 0) }
    var parent: String?
    var times: [Double] = []
    times.reserveCapacity(steps)
    for step in 0..<steps {
        if step > 0 { state["ch0"] = value(0, step) }
        let start = now()
        parent = try await store.putCheckpoint(CheckpointDraft(tenant: tenant, runID: run.id, parentID: parent, step: step, state: state), lease: lease).id
        times.append(seconds(since: start) * 1000)
    }
    return (run.id, times)
}

nonisolated(nonsending) func measure(_ store: any RunStore, bytes: () async throws -> Int64) async throws -> Figures {
    var f = Figures()
    _ = try await writeRun(store, tenant: "warmup")
    let before = try await bytes()
    let single = try await writeRun(store, tenant: "single")
    f.p50 = percentile(single.times, 50)
    f.p99 = percentile(single.times, 99)
    f.stepsPerSecond = Double(steps) / (single.times.reduce(0, +) / 1000)
    let start = now()
    try await withThrowingTaskGroup(of: Void.self) { group in
        for i in 0..<concurrentRuns { group.addTask { _ = try await writeRun(store, tenant: "c\(i)") } }
        try await group.waitForAll()
    }
    f.concurrentStepsPerSecond = Double(concurrentRuns * steps) / seconds(since: start)
    f.bytesPerStep = Double(try await bytes() - before) / Double((concurrentRuns + 1) * steps)
    var resume: [Double] = []
    for _ in 0..<200 {
        let t = now()
        guard try await store.checkpoint(runID: single.run, tenant: "single", namespace: "", id: nil)?.state.count == channels else { fail("resume read the wrong state") }
        resume.append(seconds(since: t) * 1000)
    }
    f.resumeP50 = percentile(resume, 50)
    return f
}

say("Engram run-state benchmark — \(steps) steps per run, \(channels) channels of \(valueBytes) bytes, one changing per step; \(concurrentRuns) runs at once for throughput")
say()

/// The SQLite database file's size once its write-ahead log is checkpointed into it.
func sqliteBytes(_ path: String) throws -> Int64 {
    try DatabaseQueue(path: path).writeWithoutTransaction { db in _ = try Row.fetchOne(db, sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
    return (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int64) ?? 0
}

// SQLite: the database file's growth.
let sqlitePath = work + "/runs.sqlite"
for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: sqlitePath + suffix) }
let sqlite = try await Engram.withStores("sqlite:" + sqlitePath, access: .create) { stores in
    try await measure(stores.runs) { try sqliteBytes(sqlitePath) }
}

func show(_ name: String, _ f: Figures) {
    say("\(name)")
    say("  checkpoint write, one writer     p50 \(fmt(f.p50, 3)) ms  p99 \(fmt(f.p99, 3)) ms   \(fmt(f.stepsPerSecond, 0)) steps/s")
    say("  \(concurrentRuns) runs written at once          \(fmt(f.concurrentStepsPerSecond, 0)) steps/s")
    say("  storage per step                 \(fmt(f.bytesPerStep, 0)) bytes")
    say("  resume (latest checkpoint)       p50 \(fmt(f.resumeP50, 3)) ms")
}
show("Engram, SQLite", sqlite)

guard let url = env["ENGRAM_POSTGRES_URL"] else {
    say("ENGRAM_POSTGRES_URL is not set: PostgreSQL and LangGraph were not measured")
    exit(0)
}
let schema = "engram_runbench"
func admin(_ sql: String) async throws -> [PostgresRow] {
    try await PostgresStoreConfiguration(url: url).withClient { client in
        var rows: [PostgresRow] = []
        for try await r in try await client.query(PostgresQuery(unsafeSQL: sql)) { rows.append(r) }
        return rows
    }
}
_ = try await admin("DROP SCHEMA IF EXISTS \(schema) CASCADE")
let tables = ["runs", "run_heads", "run_checkpoints", "run_channels", "run_values", "run_writes", "run_events", "run_audit", "run_tenants"]
let postgres = try await Engram.withStores(url + (url.contains("?") ? "&" : "?") + "schema=\(schema)&pool_size=\(concurrentRuns)", access: .create) { stores in
    try await measure(stores.runs) {
        let sizes = tables.map { "pg_total_relation_size('\(schema).\($0)')" }.joined(separator: " + ")
        return try await admin("SELECT (\(sizes))::int8")[0].decode(Int64.self)
    }
}
show("Engram, PostgreSQL", postgres)
// The floor under any one-writer figure: one round trip of the driver on the same server.
let roundTrip = try await PostgresStoreConfiguration(url: url).withClient { client in
    var times: [Double] = []
    for i in 0..<2_000 {
        let t = now()
        _ = try await client.query("SELECT \(i)::int")
        if i >= 200 { times.append(seconds(since: t) * 1000) }
    }
    return percentile(times, 50)
}
say("  (one round trip of postgres-nio, SELECT 1: p50 \(fmt(roundTrip, 3)) ms)")
// ENGRAM_RUNBENCH_KEEP=1 keeps the schema for a look at the plans.
if env["ENGRAM_RUNBENCH_KEEP"] != "1" { _ = try await admin("DROP SCHEMA \(schema) CASCADE") }

guard let python = env["LANGGRAPH_PYTHON"] else {
    say("LANGGRAPH_PYTHON is not set: LangGraph was not measured")
    exit(0)
}
let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("langgraph_bench.py").path
let p = Process()
p.executableURL = URL(fileURLWithPath: python)
p.arguments = [script, url, "langgraph_runbench", "\(steps)", "\(concurrentRuns)", "\(channels)", "\(valueBytes)"]
let out = Pipe()
p.standardOutput = out
try p.run()
let data = out.fileHandleForReading.readDataToEndOfFile()
p.waitUntilExit()
guard p.terminationStatus == 0, let lg = try? JSONValue.parse(data) else { fail("langgraph_bench.py failed (\(p.terminationStatus))") }
func number(_ key: String) -> Double {
    switch lg[key] {
    case .double(let d): d
    case .int(let i): Double(i)
    default: fail("langgraph_bench.py printed no \(key)")
    }
}
var langgraph = Figures(p50: number("p50_ms"), p99: number("p99_ms"), stepsPerSecond: number("steps_per_s"),
                        concurrentStepsPerSecond: number("concurrent_steps_per_s"), resumeP50: number("resume_p50_ms"))
langgraph.bytesPerStep = number("bytes") / number("checkpoints")
show("LangGraph PostgresSaver (langgraph-checkpoint-postgres), same server", langgraph)
say()
say("Engram PostgreSQL / LangGraph: one writer \(fmt(postgres.stepsPerSecond / langgraph.stepsPerSecond, 2))x the steps/s, \(concurrentRuns) runs \(fmt(postgres.concurrentStepsPerSecond / langgraph.concurrentStepsPerSecond, 2))x, "
    + "bytes per step \(fmt(postgres.bytesPerStep / langgraph.bytesPerStep, 2))x, resume \(fmt(langgraph.resumeP50 / postgres.resumeP50, 2))x as fast")
