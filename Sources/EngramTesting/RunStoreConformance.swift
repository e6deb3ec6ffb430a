import EngramCore
import Foundation

/// One behavioural check that every ``RunStore`` must pass. The store it gets is empty, keeps the
/// standard limits and reads its time from `clock`.
public struct RunConformanceCase: Sendable, CustomStringConvertible {
    public let name: String
    let body: @Sendable (any RunStore, TestClock) async throws -> Void

    public var description: String { name }

    public func run(on store: any RunStore, clock: TestClock) async throws {
        try await body(store, clock)
    }
}

/// The run-state conformance suite: the reference semantics of Engram's run stores, run against every
/// backend (`@Test(arguments: RunStoreConformance.cases)`, a fresh store and clock per case).
public enum RunStoreConformance {
    public static let cases: [RunConformanceCase] = [
        RunConformanceCase(name: "checkpoints chain, keep versions of unchanged channels and read back whole", body: chain),
        RunConformanceCase(name: "one writer: leases fence out the former holder", body: leases),
        RunConformanceCase(name: "concurrent checkpoints from one parent make one chain", body: concurrentWriters),
        RunConformanceCase(name: "task writes are atomic, idempotent and decide the remaining tasks", body: taskWrites),
        RunConformanceCase(name: "bad input is refused and changes nothing", body: badInput),
        RunConformanceCase(name: "status, cancel and the event log", body: statusAndEvents),
        RunConformanceCase(name: "a deleted run leaves a tombstone and nothing else", body: deletion),
        RunConformanceCase(name: "a fork shares values and leaves its source alone", body: forking),
        RunConformanceCase(name: "retention: sweeps delete expired runs, prune checkpoints, spare held runs", body: sweeping),
        RunConformanceCase(name: "tenants never see each other's runs", body: tenantSeparation),
        RunConformanceCase(name: "runs list in pages by status and agent", body: listing),
        RunConformanceCase(name: "namespaces are separate chains", body: namespaces),
    ]

    static let owner = "worker-1"

    static func start(_ store: any RunStore, tenant: String = "t1", id: String? = nil, agent: String = "planner", retention: RunRetention = .forever) async throws -> (Run, RunLease) {
        let run = try await store.startRun(RunDraft(tenant: tenant, id: id, agent: agent, retention: retention), actor: "test")
        let lease = try await store.acquireLease(runID: run.id, tenant: tenant, owner: owner, duration: .seconds(60))
        return (run, lease)
    }

    static func state(_ step: Int, channels: Int = 10, changing: Int = 1) -> [String: JSONValue] {
        var s: [String: JSONValue] = [:]
        for c in 0..<channels {
            s["ch\(c)"] = c < changing ? .object([("step", .int(Int64(step))), ("text", .string("value of channel \(c) at step \(step)"))]) : .object([("fixed", .int(Int64(c)))])
        }
        return s
    }

    @discardableResult
    static func put(_ store: any RunStore, _ lease: RunLease, parent: String?, step: Int, state: [String: JSONValue], tasks: [String] = [], namespace: String = "") async throws -> CheckpointInfo {
        try await store.putCheckpoint(CheckpointDraft(tenant: lease.tenant, runID: lease.runID, namespace: namespace, parentID: parent, step: step, state: state, tasks: tasks), lease: lease)
    }

    /// A value in the canonical form stores return.
    static func canonical(_ v: JSONValue) throws -> JSONValue { try JSONValue.parse(v.serialized(sortedKeys: true)) }

    static func chain(_ store: any RunStore, _ clock: TestClock) async throws {
        let (run, lease) = try await start(store)
        try expectEqual(run.status, .running)
        let first = try await put(store, lease, parent: nil, step: 0, state: state(0))
        try expectEqual(first.channels.count, 10)
        try expect(first.channels.values.allSatisfy { $0.version == 1 }, "every channel starts at version 1")
        clock.advance(by: 1)
        let second = try await put(store, lease, parent: first.id, step: 1, state: state(1))
        try expectEqual(second.parentID, first.id)
        try expectEqual(second.channels["ch0"]?.version, 2, "the changed channel")
        for c in 1..<10 { try expectEqual(second.channels["ch\(c)"], first.channels["ch\(c)"], "unchanged channel ch\(c) keeps its version and value") }
        // A channel left out is gone; a new one starts at 1; a value equal to an earlier one is stored once.
        var s = state(1)
        s["ch9"] = nil
        s["extra"] = .array([.int(1), .double(2.5), .null, .bool(true), .string("é \"q\"")])
        s["ch0"] = state(0)["ch0"]
        clock.advance(by: 1)
        let third = try await put(store, lease, parent: second.id, step: 2, state: s)
        try expectEqual(third.channels["ch9"], nil)
        try expectEqual(third.channels["extra"]?.version, 1)
        try expectEqual(third.channels["ch0"]?.version, 3)
        try expectEqual(third.channels["ch0"]?.sha256, first.channels["ch0"]?.sha256, "same content, same hash")
        let latest = try expectValue(try await store.checkpoint(runID: run.id, tenant: "t1", namespace: "", id: nil), "the latest checkpoint")
        try expectEqual(latest.info, third)
        try expectEqual(latest.state, try s.mapValues(canonical))
        let old = try expectValue(try await store.checkpoint(runID: run.id, tenant: "t1", namespace: "", id: first.id), "the first checkpoint by id")
        try expectEqual(old.state, try state(0).mapValues(canonical))
        let history = try await store.history(runID: run.id, tenant: "t1", namespace: "", limit: 10, before: nil)
        try expectEqual(history.map(\.id), [third.id, second.id, first.id], "newest first")
        try expectEqual(try await store.history(runID: run.id, tenant: "t1", namespace: "", limit: 1, before: 2).map(\.id), [second.id])
        try expectEqual(try await store.checkpoint(runID: run.id, tenant: "t1", namespace: "", id: "cp_missing"), nil)
        try expectEqual(try await store.run(id: run.id, tenant: "t1")?.updatedAt, third.createdAt)
    }

    static func leases(_ store: any RunStore, _ clock: TestClock) async throws {
        let (run, a) = try await start(store)
        try expectEqual(a.token, 1)
        try await expectError(.conflict, "another owner while the lease runs") {
            try await store.acquireLease(runID: run.id, tenant: "t1", owner: "worker-2", duration: .seconds(60))
        }
        let first = try await put(store, a, parent: nil, step: 0, state: state(0))
        let renewed = try await store.renewLease(a, duration: .seconds(60))
        try expectEqual(renewed.token, a.token, "renewing keeps the token")
        clock.advance(by: 61)
        let b = try await store.acquireLease(runID: run.id, tenant: "t1", owner: "worker-2", duration: .seconds(60))
        try expectEqual(b.token, 2, "a new holder gets the next token")
        try await expectError(.superseded, "the former holder's checkpoint") { try await put(store, a, parent: first.id, step: 1, state: state(1)) }
        try await expectError(.superseded, "the former holder's writes") {
            try await store.putWrites([TaskWrite(channel: "ch0", value: .int(1))], taskID: "t", checkpointID: first.id, lease: a)
        }
        try await expectError(.superseded, "the former holder's renewal") { try await store.renewLease(a, duration: .seconds(60)) }
        try await expectError(.superseded, "the former holder's event") { try await store.record(RunEventDraft(kind: .stepStarted), lease: a) }
        let second = try await put(store, b, parent: first.id, step: 1, state: state(1))
        try expectEqual(try await store.history(runID: run.id, tenant: "t1", namespace: "", limit: 10, before: nil).map(\.id), [second.id, first.id])
        try await store.releaseLease(b)
        try await expectError(.superseded, "a released lease writes no more") { try await put(store, b, parent: second.id, step: 2, state: state(2)) }
        let c = try await store.acquireLease(runID: run.id, tenant: "t1", owner: "worker-3", duration: .seconds(60))
        try expectEqual(c.token, 3, "a released lease is taken at once, with the next token")
        try await expectError(.invalidInput, "a lease of zero seconds") { try await store.acquireLease(runID: run.id, tenant: "t1", owner: "worker-3", duration: .zero) }
        try await expectError(.notFound, "a lease on a run that does not exist") { try await store.acquireLease(runID: "run_none", tenant: "t1", owner: "w", duration: .seconds(5)) }
    }

    static func concurrentWriters(_ store: any RunStore, _ clock: TestClock) async throws {
        let (run, lease) = try await start(store)
        let first = try await put(store, lease, parent: nil, step: 0, state: state(0))
        let outcomes = try await withThrowingTaskGroup(of: Result<CheckpointInfo, EngramError>.self) { group in
            for i in 0..<8 {
                group.addTask {
                    do { return .success(try await put(store, lease, parent: first.id, step: 1, state: state(100 + i))) } catch let e as EngramError { return .failure(e) }
                }
            }
            var all: [Result<CheckpointInfo, EngramError>] = []
            for try await r in group { all.append(r) }
            return all
        }
        let won = outcomes.compactMap { try? $0.get() }
        try expectEqual(won.count, 1, "exactly one of eight concurrent checkpoints from the same parent is stored")
        for case .failure(let e) in outcomes { try expectEqual(e.code, .superseded, e.message) }
        let history = try await store.history(runID: run.id, tenant: "t1", namespace: "", limit: 10, before: nil)
        try expectEqual(history.map(\.id), [won[0].id, first.id], "one chain")
        let latest = try expectValue(try await store.checkpoint(runID: run.id, tenant: "t1", namespace: "", id: nil), "latest")
        try expectEqual(latest.info.id, won[0].id)
    }

    static func taskWrites(_ store: any RunStore, _ clock: TestClock) async throws {
        let (run, lease) = try await start(store)
        let cp = try await put(store, lease, parent: nil, step: 0, state: state(0), tasks: ["search", "summarize", "email"])
        let searchWrites = [TaskWrite(channel: "ch0", value: .string("results")), TaskWrite(channel: "ch1", value: .object([("n", .int(3))]))]
        try expectEqual(try await store.putWrites(searchWrites, taskID: "search", checkpointID: cp.id, lease: lease), 2)
        try expectEqual(try await store.putWrites(searchWrites, taskID: "search", checkpointID: cp.id, lease: lease), 0, "the same writes again change nothing")
        try await expectError(.conflict, "other writes for a task that recorded its own") {
            try await store.putWrites([TaskWrite(channel: "ch0", value: .string("other"))], taskID: "search", checkpointID: cp.id, lease: lease)
        }
        try expectEqual(try await store.putWrites([TaskWrite(channel: "ch2", value: .null)], taskID: "email", checkpointID: cp.id, lease: lease), 1)
        let resumed = try expectValue(try await store.checkpoint(runID: run.id, tenant: "t1", namespace: "", id: nil), "latest")
        try expectEqual(resumed.remainingTasks, ["summarize"], "only the task without writes runs again")
        try expectEqual(resumed.pendingWrites.map { "\($0.taskID)/\($0.index)/\($0.channel)" }, ["email/0/ch2", "search/0/ch0", "search/1/ch1"])
        try expectEqual(resumed.pendingWrites.first { $0.taskID == "search" && $0.index == 1 }?.value, .object([("n", .int(3))]))
        try await expectError(.invalidInput, "a task with no writes") { try await store.putWrites([], taskID: "summarize", checkpointID: cp.id, lease: lease) }
        try await expectError(.notFound, "a checkpoint that does not exist") {
            try await store.putWrites([TaskWrite(channel: "x", value: .int(1))], taskID: "summarize", checkpointID: "cp_none", lease: lease)
        }
        let next = try await put(store, lease, parent: cp.id, step: 1, state: state(1), tasks: ["review"])
        try await expectError(.superseded, "writes against a checkpoint that is no longer the latest") {
            try await store.putWrites([TaskWrite(channel: "x", value: .int(1))], taskID: "summarize", checkpointID: cp.id, lease: lease)
        }
        let fresh = try expectValue(try await store.checkpoint(runID: run.id, tenant: "t1", namespace: "", id: next.id), "next")
        try expectEqual(fresh.remainingTasks, ["review"])
        try expectEqual(fresh.pendingWrites, [])
        // The earlier checkpoint keeps its writes.
        try expectEqual(try await store.checkpoint(runID: run.id, tenant: "t1", namespace: "", id: cp.id)?.pendingWrites.count, 3)
    }

    static func badInput(_ store: any RunStore, _ clock: TestClock) async throws {
        try await expectError(.invalidInput, "a bad tenant") { try await store.startRun(RunDraft(tenant: "bad tenant", agent: "a"), actor: "test") }
        try await expectError(.invalidInput, "an empty agent") { try await store.startRun(RunDraft(tenant: "t1", agent: ""), actor: "test") }
        try await expectError(.invalidInput, "a control character in an id") { try await store.startRun(RunDraft(tenant: "t1", id: "run\u{0}x", agent: "a"), actor: "test") }
        try await expectError(.invalidInput, "a negative retention") { try await store.startRun(RunDraft(tenant: "t1", agent: "a", retention: RunRetention(keepCheckpoints: 0)), actor: "test") }
        let (run, lease) = try await start(store, id: "run_fixed")
        try await expectError(.conflict, "an id in use") { try await store.startRun(RunDraft(tenant: "t1", id: "run_fixed", agent: "a"), actor: "test") }
        let first = try await put(store, lease, parent: nil, step: 0, state: state(0))
        let big = JSONValue.string(String(repeating: "x", count: store.limits.maxValueBytes))
        try await expectError(.invalidInput, "a value over the limit") { try await put(store, lease, parent: first.id, step: 1, state: ["ch0": big]) }
        try await expectError(.invalidInput, "a write over the limit") {
            try await store.putWrites([TaskWrite(channel: "c", value: big)], taskID: "t", checkpointID: first.id, lease: lease)
        }
        try await expectError(.superseded, "a parent that does not exist") { try await put(store, lease, parent: "cp_nowhere", step: 1, state: state(1)) }
        try await expectError(.superseded, "no parent although the chain has begun") { try await put(store, lease, parent: nil, step: 1, state: state(1)) }
        try await expectError(.invalidInput, "a step that does not follow") { try await put(store, lease, parent: first.id, step: 0, state: state(1)) }
        try await expectError(.invalidInput, "an empty channel name") { try await put(store, lease, parent: first.id, step: 1, state: ["": .int(1)]) }
        try await expectError(.invalidInput, "duplicate tasks") { try await put(store, lease, parent: first.id, step: 1, state: state(1), tasks: ["a", "a"]) }
        try await expectError(.invalidInput, "a bad event kind") { try await store.record(RunEventDraft(kind: "Not A Kind"), lease: lease) }
        // Another run's checkpoint is not this run's.
        let (other, otherLease) = try await start(store)
        let foreign = try await put(store, otherLease, parent: nil, step: 0, state: state(0))
        try expectEqual(try await store.checkpoint(runID: run.id, tenant: "t1", namespace: "", id: foreign.id), nil, "another run's checkpoint read through this run")
        try await expectError(.notFound, "writes to another run's checkpoint") {
            try await store.putWrites([TaskWrite(channel: "c", value: .int(1))], taskID: "t", checkpointID: foreign.id, lease: lease)
        }
        try await expectError(.superseded, "a parent of another run") { try await put(store, lease, parent: foreign.id, step: 1, state: state(1)) }
        // Nothing of the refused calls was written.
        try expectEqual(try await store.history(runID: run.id, tenant: "t1", namespace: "", limit: 10, before: nil).map(\.id), [first.id])
        try expectEqual(try await store.checkpoint(runID: run.id, tenant: "t1", namespace: "", id: nil)?.pendingWrites, [])
        try expectEqual(try await store.history(runID: other.id, tenant: "t1", namespace: "", limit: 10, before: nil).map(\.id), [foreign.id])
    }

    static func statusAndEvents(_ store: any RunStore, _ clock: TestClock) async throws {
        let (run, lease) = try await start(store)
        try await store.record(RunEventDraft(kind: .stepStarted, step: 0, taskID: "search"), lease: lease)
        let error = try await store.record(RunEventDraft(kind: .error, step: 0, taskID: "search", detail: .object([("message", .string("timeout"))])), lease: lease)
        try expectEqual(error.sequence, 3, "started, step_started, error")
        let waiting = try await store.setStatus(.waiting, lease: lease)
        try expectEqual(waiting.status, .waiting)
        try await store.record(RunEventDraft(kind: .humanInput, detail: .string("yes")), lease: lease)
        clock.advance(by: 5)
        let done = try await store.setStatus(.completed, lease: lease)
        try expectEqual(done.status, .completed)
        try expectEqual(done.finishedAt, RunRules.instant(clock.now))
        try await expectError(.superseded, "a finished run's writer writes no more") { try await put(store, lease, parent: nil, step: 0, state: state(0)) }
        try await expectError(.conflict, "a finished run takes no new writer") { try await store.acquireLease(runID: run.id, tenant: "t1", owner: "w2", duration: .seconds(5)) }
        try await expectError(.conflict, "cancelling a finished run") { try await store.cancel(runID: run.id, tenant: "t1", actor: "ops", reason: "stop") }
        let events = try await store.events(runID: run.id, tenant: "t1")
        try expectEqual(events.map(\.kind.rawValue), ["started", "step_started", "error", "status", "human_input", "status"])
        try expectEqual(events.map(\.sequence), [1, 2, 3, 4, 5, 6])
        try expectEqual(events[2].detail, .object([("message", .string("timeout"))]))
        try expectEqual(events[2].taskID, "search")
        try expectEqual(events[1].actor, owner)
        // Cancelled from outside: the writer is fenced out at once.
        let (second, writer) = try await start(store)
        let cancelled = try await store.cancel(runID: second.id, tenant: "t1", actor: "ops", reason: "user asked")
        try expectEqual(cancelled.status, .cancelled)
        try await expectError(.superseded, "the cancelled run's writer") { try await put(store, writer, parent: nil, step: 0, state: state(0)) }
        try expectEqual(try await store.audit(tenant: "t1").map(\.action), [.cancelled])
    }

    static func deletion(_ store: any RunStore, _ clock: TestClock) async throws {
        let (run, lease) = try await start(store, id: "run_doomed")
        var parent: String?
        for step in 0..<5 {
            let cp = try await put(store, lease, parent: parent, step: step, state: state(step, changing: 2), tasks: ["a"])
            try await store.putWrites([TaskWrite(channel: "ch0", value: .int(Int64(step)))], taskID: "a", checkpointID: cp.id, lease: lease)
            parent = cp.id
        }
        let receipt = try await store.deleteRun(id: run.id, tenant: "t1", actor: "ops", reason: "erasure request")
        try expectEqual(receipt.deleted, [run.id])
        try expectEqual(receipt.removed.checkpoints, 5)
        try expectEqual(receipt.removed.writes, 5)
        try expectEqual(receipt.removed.events, 1)
        try expectEqual(receipt.removed.channelVersions, 10 + 4 * 2, "10 channels, then 2 new versions per step")
        try expectEqual(receipt.removed.values, 8 + 5 * 2, "the 8 fixed values once, the 2 changing ones per step")
        try expectEqual(try await store.run(id: run.id, tenant: "t1"), nil)
        try expectEqual(try await store.checkpoint(runID: run.id, tenant: "t1", namespace: "", id: nil), nil)
        try expectEqual(try await store.history(runID: run.id, tenant: "t1", namespace: "", limit: 10, before: nil), [])
        try expectEqual(try await store.events(runID: run.id, tenant: "t1"), [])
        try await expectError(.notFound, "a checkpoint after the delete") { try await put(store, lease, parent: parent, step: 5, state: state(5)) }
        try await expectError(.notFound, "writes after the delete") {
            try await store.putWrites([TaskWrite(channel: "c", value: .int(1))], taskID: "b", checkpointID: parent!, lease: lease)
        }
        try await expectError(.notFound, "a lease after the delete") { try await store.acquireLease(runID: run.id, tenant: "t1", owner: "w", duration: .seconds(5)) }
        try await expectError(.conflict, "the id of a deleted run") { try await store.startRun(RunDraft(tenant: "t1", id: "run_doomed", agent: "a"), actor: "test") }
        try await expectError(.notFound, "deleting twice") { try await store.deleteRun(id: run.id, tenant: "t1", actor: "ops", reason: "again") }
        let audit = try await store.audit(tenant: "t1")
        try expectEqual(audit.map(\.action), [.deleted])
        try expectEqual(audit[0].runID, run.id)
        try expectEqual(audit[0].removed, receipt.removed)
        try expectEqual(audit[0].reason, "erasure request")
    }

    static func forking(_ store: any RunStore, _ clock: TestClock) async throws {
        let (source, lease) = try await start(store)
        let a = try await put(store, lease, parent: nil, step: 0, state: state(0), tasks: ["x", "y"])
        try await store.putWrites([TaskWrite(channel: "ch0", value: .int(1))], taskID: "x", checkpointID: a.id, lease: lease)
        let b = try await put(store, lease, parent: a.id, step: 1, state: state(1))
        let fork = try await store.fork(runID: source.id, tenant: "t1", from: a.id, newRunID: "run_fork", actor: "test")
        try expectEqual(fork.id, "run_fork")
        try expectEqual(fork.forkedFrom, CheckpointRef(runID: source.id, checkpointID: a.id))
        let start = try expectValue(try await store.checkpoint(runID: fork.id, tenant: "t1", namespace: "", id: nil), "the fork's first checkpoint")
        try expectEqual(start.state, try state(0).mapValues(canonical))
        try expectEqual(start.info.channels, a.channels, "the fork shares the versions and values")
        try expectEqual(start.info.parentID, nil)
        try expectEqual(start.remainingTasks, ["x", "y"], "a fork runs all of the checkpoint's tasks")
        let forkLease = try await store.acquireLease(runID: fork.id, tenant: "t1", owner: "w2", duration: .seconds(60))
        let f1 = try await put(store, forkLease, parent: start.info.id, step: 1, state: state(7))
        try expectEqual(try await store.history(runID: source.id, tenant: "t1", namespace: "", limit: 10, before: nil).map(\.id), [b.id, a.id], "the source is unchanged")
        try expectEqual(try await store.events(runID: fork.id, tenant: "t1").map(\.kind), [.forked])
        // Deleting the source keeps the fork whole.
        let receipt = try await store.deleteRun(id: source.id, tenant: "t1", actor: "ops", reason: "done")
        try expectEqual(receipt.removed.values, 1, "only the source's own step-1 value goes; the shared ones stay")
        try expectEqual(try await store.checkpoint(runID: fork.id, tenant: "t1", namespace: "", id: start.info.id)?.state, try state(0).mapValues(canonical))
        try expectEqual(try await store.checkpoint(runID: fork.id, tenant: "t1", namespace: "", id: nil)?.info.id, f1.id)
        try await expectError(.notFound, "forking a checkpoint that does not exist") {
            try await store.fork(runID: fork.id, tenant: "t1", from: "cp_none", newRunID: nil, actor: "test")
        }
        try await expectError(.conflict, "forking into a taken id") { try await store.fork(runID: fork.id, tenant: "t1", from: f1.id, newRunID: "run_fork", actor: "test") }
    }

    static func sweeping(_ store: any RunStore, _ clock: TestClock) async throws {
        let day = RunRetention(deleteAfter: .seconds(86_400))
        let keep2 = RunRetention(keepCheckpoints: 2)
        var expiring: [String] = []
        for _ in 0..<3 {
            let (run, lease) = try await start(store, retention: day)
            try await put(store, lease, parent: nil, step: 0, state: state(0))
            _ = try await store.setStatus(.completed, lease: lease)
            expiring.append(run.id)
        }
        let (held, heldLease) = try await start(store, retention: day)
        try await put(store, heldLease, parent: nil, step: 0, state: state(0))
        _ = try await store.setStatus(.failed, lease: heldLease)
        _ = try await store.setLegalHold(id: held.id, tenant: "t1", held: true, actor: "legal", reason: "litigation")
        let (live, liveLease) = try await start(store, retention: day)
        try await put(store, liveLease, parent: nil, step: 0, state: state(0))
        let (pruned, prunedLease) = try await start(store, retention: keep2)
        var parent: String?
        var ids: [String] = []
        for step in 0..<5 {
            let cp = try await put(store, prunedLease, parent: parent, step: step, state: state(step), tasks: ["t"])
            try await store.putWrites([TaskWrite(channel: "ch0", value: .int(Int64(step)))], taskID: "t", checkpointID: cp.id, lease: prunedLease)
            parent = cp.id
            ids.append(cp.id)
        }
        _ = try await store.setStatus(.completed, lease: prunedLease)
        // Before a day has passed nothing expires, but the finished run is pruned.
        clock.advance(by: 3_600)
        let early = try await store.sweep(tenant: "t1", now: clock.now, actor: "sweeper", batchSize: 2)
        try expectEqual(early.deleted, [])
        try expectEqual(early.pruned, [pruned.id])
        try expectEqual(early.removed.checkpoints, 3)
        try expectEqual(early.removed.writes, 3)
        try expectEqual(early.removed.channelVersions, 3, "versions of ch0 only the pruned checkpoints used")
        try expectEqual(try await store.history(runID: pruned.id, tenant: "t1", namespace: "", limit: 10, before: nil).map(\.id), Array(ids.suffix(2).reversed()))
        let kept = try expectValue(try await store.checkpoint(runID: pruned.id, tenant: "t1", namespace: "", id: ids[3]), "a kept checkpoint")
        try expectEqual(kept.state, try state(3).mapValues(canonical))
        try expectEqual(kept.pendingWrites.count, 1)
        try expectEqual(try await store.checkpoint(runID: pruned.id, tenant: "t1", namespace: "", id: ids[0]), nil, "a pruned checkpoint")
        clock.advance(by: 86_400)
        let late = try await store.sweep(tenant: nil, now: clock.now, actor: "sweeper", batchSize: 2)
        try expectEqual(late.deleted, expiring.sorted())
        try expectEqual(late.held, [held.id])
        try expectEqual(late.pruned, [], "pruning again removes nothing more")
        for id in expiring { try expectEqual(try await store.run(id: id, tenant: "t1"), nil) }
        try expect(try await store.run(id: held.id, tenant: "t1") != nil, "the held run stays")
        try expect(try await store.run(id: live.id, tenant: "t1") != nil, "a running run never expires")
        try await expectError(.legalHold, "deleting a held run") { try await store.deleteRun(id: held.id, tenant: "t1", actor: "ops", reason: "x") }
        let audit = try await store.audit(tenant: "t1")
        try expectEqual(audit.filter { $0.action == .expired }.map(\.runID).sorted(), expiring.sorted())
        try expectEqual(audit.filter { $0.action == .pruned }.map(\.runID), [pruned.id])
        try expectEqual(audit.first { $0.action == .holdSet }?.actor, "legal")
        // A sweep leaves nothing behind: running it again removes nothing.
        let again = try await store.sweep(tenant: nil, now: clock.now, actor: "sweeper", batchSize: 100)
        try expectEqual(again.removed, RunRemoval())
        try expectEqual(again.deleted, [])
    }

    static func tenantSeparation(_ store: any RunStore, _ clock: TestClock) async throws {
        let (run, lease) = try await start(store, tenant: "t1", id: "run_shared_name")
        let cp = try await put(store, lease, parent: nil, step: 0, state: state(0))
        try expectEqual(try await store.run(id: run.id, tenant: "t2"), nil)
        try expectEqual(try await store.checkpoint(runID: run.id, tenant: "t2", namespace: "", id: cp.id), nil)
        try expectEqual(try await store.history(runID: run.id, tenant: "t2", namespace: "", limit: 10, before: nil), [])
        try expectEqual(try await store.events(runID: run.id, tenant: "t2"), [])
        try expectEqual(try await store.runs(RunListRequest(tenant: "t2")).runs, [])
        try await expectError(.notFound, "another tenant's lease") { try await store.acquireLease(runID: run.id, tenant: "t2", owner: "w", duration: .seconds(5)) }
        try await expectError(.notFound, "another tenant's delete") { try await store.deleteRun(id: run.id, tenant: "t2", actor: "x", reason: "y") }
        try await expectError(.notFound, "another tenant's fork") { try await store.fork(runID: run.id, tenant: "t2", from: cp.id, newRunID: nil, actor: "x") }
        var forged = lease
        forged.tenant = "t2"
        try await expectError(.notFound, "a lease forged for another tenant") { try await put(store, forged, parent: cp.id, step: 1, state: state(1)) }
        // The same run id in another tenant is another run.
        let (twin, twinLease) = try await start(store, tenant: "t2", id: "run_shared_name")
        try await put(store, twinLease, parent: nil, step: 0, state: ["only": .int(2)])
        try expectEqual(try await store.checkpoint(runID: twin.id, tenant: "t2", namespace: "", id: nil)?.state, ["only": .int(2)])
        try expectEqual(try await store.checkpoint(runID: run.id, tenant: "t1", namespace: "", id: nil)?.state.count, 10)
        _ = try await store.deleteRun(id: twin.id, tenant: "t2", actor: "x", reason: "y")
        try expectEqual(try await store.checkpoint(runID: run.id, tenant: "t1", namespace: "", id: nil)?.state, try state(0).mapValues(canonical))
        try expectEqual(try await store.audit(tenant: "t1"), [])
    }

    static func listing(_ store: any RunStore, _ clock: TestClock) async throws {
        var ids: [String] = []
        for i in 0..<7 {
            let run = try await store.startRun(RunDraft(tenant: "t1", agent: i % 2 == 0 ? "even" : "odd", metadata: ["i": .int(Int64(i))]), actor: "test")
            ids.append(run.id)
            clock.advance(by: 1)
        }
        let lease = try await store.acquireLease(runID: ids[0], tenant: "t1", owner: "w", duration: .seconds(60))
        _ = try await store.setStatus(.completed, lease: lease)
        var seen: [String] = []
        var cursor: String?
        repeat {
            let page = try await store.runs(RunListRequest(tenant: "t1", limit: 3, cursor: cursor))
            seen += page.runs.map(\.id)
            cursor = page.nextCursor
        } while cursor != nil
        try expectEqual(seen, ids, "pages in creation order")
        try expectEqual(try await store.runs(RunListRequest(tenant: "t1", status: .completed)).runs.map(\.id), [ids[0]])
        try expectEqual(try await store.runs(RunListRequest(tenant: "t1", status: .running, agent: "even")).runs.map(\.id), [ids[2], ids[4], ids[6]])
        try expectEqual(try await store.runs(RunListRequest(tenant: "t1", agent: "odd")).runs.first?.metadata, ["i": .int(1)])
        try await expectError(.invalidInput, "a limit of 0") { try await store.runs(RunListRequest(tenant: "t1", limit: 0)) }
        try await expectError(.invalidInput, "a bad cursor") { try await store.runs(RunListRequest(tenant: "t1", cursor: "nonsense")) }
    }

    static func namespaces(_ store: any RunStore, _ clock: TestClock) async throws {
        let (run, lease) = try await start(store)
        let main = try await put(store, lease, parent: nil, step: 0, state: state(0))
        let sub = try await put(store, lease, parent: nil, step: 0, state: ["ch0": .string("sub")], namespace: "child")
        try expectEqual(sub.channels["ch0"]?.version, 1, "another chain, its own versions")
        let sub2 = try await put(store, lease, parent: sub.id, step: 1, state: ["ch0": .string("sub 2")], namespace: "child")
        try expectEqual(try await store.checkpoint(runID: run.id, tenant: "t1", namespace: "", id: nil)?.info.id, main.id)
        try expectEqual(try await store.checkpoint(runID: run.id, tenant: "t1", namespace: "child", id: nil)?.state, ["ch0": .string("sub 2")])
        try expectEqual(try await store.checkpoint(runID: run.id, tenant: "t1", namespace: "child", id: main.id), nil, "a checkpoint of another namespace")
        try expectEqual(try await store.history(runID: run.id, tenant: "t1", namespace: "child", limit: 10, before: nil).map(\.id), [sub2.id, sub.id])
        try await expectError(.superseded, "a parent of the other chain") { try await put(store, lease, parent: sub2.id, step: 1, state: state(1)) }
    }
}

/// The sweep at scale the backends' own tests check row by row in their tables.
public enum RunSweepFixture {
    public static let tenants = 10
    /// Runs that never finish (every 101st, spread over every tenant): they stay.
    public static func unfinished(_ i: Int) -> Bool { i % 101 == 0 }
    public static func unfinishedCount(_ runs: Int) -> Int { (0..<runs).filter(unfinished).count }

    /// Starts `runs` runs over `tenants` tenants with a one-hour retention, each with one checkpoint (a
    /// prompt value every run of a tenant shares, and its own answer) and one task write, and finishes all
    /// but the unfinished ones; `workers` at a time.
    public static func load(_ store: any RunStore, runs: Int, workers: Int) async throws {
        let retention = RunRetention(deleteAfter: .seconds(3_600))
        let shared = JSONValue.string("a system prompt every run holds")
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<workers {
                group.addTask {
                    for i in stride(from: worker, to: runs, by: workers) {
                        let run = try await store.startRun(RunDraft(tenant: "t\(i % tenants)", agent: "a", retention: retention), actor: "test")
                        let lease = try await store.acquireLease(runID: run.id, tenant: run.tenant, owner: "w", duration: .seconds(60))
                        let cp = try await store.putCheckpoint(CheckpointDraft(tenant: run.tenant, runID: run.id, parentID: nil, step: 0,
                                                                               state: ["prompt": shared, "answer": .int(Int64(i))], tasks: ["t"]), lease: lease)
                        try await store.putWrites([TaskWrite(channel: "answer", value: .int(1))], taskID: "t", checkpointID: cp.id, lease: lease)
                        if !unfinished(i) { _ = try await store.setStatus(.completed, lease: lease) }
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    /// Sweeps an hour and a second later and checks the receipt and the audit log.
    public static func sweepAndCheck(_ store: any RunStore, runs: Int, clock: TestClock) async throws {
        clock.advance(by: 3_601)
        let receipt = try await store.sweep(tenant: nil, now: clock.now, actor: "sweeper", batchSize: 500)
        let expired = runs - unfinishedCount(runs)
        try expectEqual(receipt.deleted.count, expired, "every finished run expired")
        try expectEqual(receipt.removed.checkpoints, expired)
        try expectEqual(receipt.removed.writes, expired)
        try expectEqual(receipt.removed.channelVersions, 2 * expired)
        try expectEqual(receipt.removed.values, expired, "every expired run's answer; each tenant's prompt stays for its runs left")
        try expectEqual(receipt.removed.events, 2 * expired, "started and completed")
        let audited = try await store.audit(tenant: "t3").filter { $0.action == .expired }.count
        try expectEqual(audited, (0..<runs).filter { $0 % tenants == 3 && !unfinished($0) }.count)
        let again = try await store.sweep(tenant: nil, now: clock.now, actor: "sweeper", batchSize: 500)
        try expectEqual(again.removed, RunRemoval(), "a second sweep finds nothing")
    }
}
