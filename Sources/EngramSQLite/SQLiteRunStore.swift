import EngramCore
import Foundation
import GRDB

/// Run state in the embedded SQLite file (tables `runs`, `run_heads`, `run_checkpoints`, `run_channels`,
/// `run_values`, `run_writes`, `run_events`, `run_audit`; see migration `v7_runs`).
///
/// Every write is one transaction of SQLite's single writer, which reads the run, its lease and the
/// namespace's latest checkpoint, asks ``RunRules`` what to do, and writes that: a stale writer or a
/// second writer from the same parent is refused before anything is written. Deletions run with
/// `secure_delete` and end with the write-ahead log checkpointed and truncated, as for memories.
public final class SQLiteRunStore: RunStore, Sendable {
    /// The file's owner, shared with the file's other stores.
    public let database: SQLiteDatabase
    public let limits: RunLimits
    let clock: @Sendable () -> Date

    public var path: String { database.path }

    public init(database: SQLiteDatabase, limits: RunLimits = .standard, now: @escaping @Sendable () -> Date = { Date() }) {
        self.database = database
        self.limits = limits
        self.clock = now
    }

    /// Opens (creating and migrating when needed) the store at `path`.
    public convenience init(path: String, limits: RunLimits = .standard, now: @escaping @Sendable () -> Date = { Date() }) throws {
        self.init(database: try SQLiteDatabase(path: path, access: .create, now: now), limits: limits, now: now)
    }

    func instant() -> Date { RunRules.instant(clock()) }
    static func ms(_ d: Date) -> Int64 { MetadataValue.milliseconds(d) }
    static func date(_ ms: Int64) -> Date { Date(timeIntervalSince1970: Double(ms) / 1000) }

    func write<T>(_ body: (Database) throws -> T) async throws -> T { try await database.writing(body) }
    func read<T: Sendable>(_ body: @Sendable (Database) throws -> T) async throws -> T { try await database.reading(body) }

    // MARK: Rows

    static func run(_ r: Row) throws -> Run {
        let token: Int64 = r["lease_token"]
        let lease = token == 0 ? nil : RunLease(tenant: r["tenant_id"], runID: r["id"], owner: (r["lease_owner"] as String?) ?? "", token: token,
                                                expiresAt: date((r["lease_expires_ms"] as Int64?) ?? 0))
        guard let status = RunStatus(rawValue: r["status"]) else { throw EngramError(.storageFailure, "run \(r["id"] as String) has an unknown status") }
        let forked: CheckpointRef? = (r["forked_run_id"] as String?).map { CheckpointRef(runID: $0, checkpointID: (r["forked_checkpoint_id"] as String?) ?? "") }
        return Run(id: r["id"], tenant: r["tenant_id"], agent: r["agent"], status: status, metadata: try Metadata.parse(json: r["metadata"]),
                   createdAt: date(r["created_ms"]), updatedAt: date(r["updated_ms"]), finishedAt: (r["finished_ms"] as Int64?).map(date),
                   retention: try MemoryRules.fromStoredJSON(RunRetention.self, r["retention"]), legalHold: r["legal_hold"], forkedFrom: forked, lease: lease)
    }

    /// The run, `not_found` when it does not exist (worded for a tombstone).
    static func owned(_ db: Database, _ id: String, _ tenant: String) throws -> Run {
        guard let row = try db.row("SELECT * FROM runs WHERE tenant_id = \(tenant) AND id = \(id)") else { throw RunRules.notFound(id) }
        if (row["deleted_ms"] as Int64?) != nil { throw RunRules.deleted(id) }
        return try run(row)
    }

    static func insert(_ db: Database, _ run: Run) throws {
        if try db.row("SELECT 1 FROM runs WHERE tenant_id = \(run.tenant) AND id = \(run.id)") != nil { throw RunRules.idTaken(run.id) }
        try db.execute(literal: """
            INSERT INTO runs (tenant_id, id, agent, status, metadata, created_ms, updated_ms, finished_ms, retention, legal_hold, forked_run_id, forked_checkpoint_id)
            VALUES (\(run.tenant), \(run.id), \(run.agent), \(run.status.rawValue), \(run.metadata.canonicalJSON), \(ms(run.createdAt)), \(ms(run.updatedAt)),
                    \(run.finishedAt.map(ms)), \(try MemoryRules.storedJSON(run.retention)), \(run.legalHold), \(run.forkedFrom?.runID), \(run.forkedFrom?.checkpointID))
            """)
    }

    /// Writes the run's changing columns (status, times, lease, hold).
    static func update(_ db: Database, _ run: Run) throws {
        try db.execute(literal: """
            UPDATE runs SET status = \(run.status.rawValue), updated_ms = \(ms(run.updatedAt)), finished_ms = \(run.finishedAt.map(ms)), legal_hold = \(run.legalHold),
                lease_owner = \(run.lease?.owner), lease_token = \(run.lease?.token ?? 0), lease_expires_ms = \(run.lease.map { ms($0.expiresAt) })
            WHERE tenant_id = \(run.tenant) AND id = \(run.id)
            """)
    }

    static func appendEvent(_ db: Database, _ e: RunEventDraft, tenant: String, runID: String, actor: String, at: Date) throws -> RunEvent {
        let next = (try db.value(Int64.self, "SELECT max(sequence) FROM run_events WHERE tenant_id = \(tenant) AND run_id = \(runID)") ?? 0) + 1
        try db.execute(literal: """
            INSERT INTO run_events (tenant_id, run_id, sequence, kind, step, task_id, detail, actor, at_ms)
            VALUES (\(tenant), \(runID), \(next), \(e.kind.rawValue), \(e.step), \(e.taskID), \(e.detail.map { $0.serialized(sortedKeys: true) }), \(actor), \(ms(at)))
            """)
        return RunEvent(sequence: next, tenant: tenant, runID: runID, kind: e.kind, step: e.step, taskID: e.taskID, detail: e.detail, actor: actor, at: at)
    }

    static func audit(_ db: Database, _ action: RunAuditEvent.Action, tenant: String, runID: String, actor: String, reason: String, removed: RunRemoval, at: Date) throws {
        let next = (try db.value(Int64.self, "SELECT max(sequence) FROM run_audit WHERE tenant_id = \(tenant)") ?? 0) + 1
        try db.execute(literal: """
            INSERT INTO run_audit (tenant_id, sequence, run_id, action, actor, reason, removed, at_ms)
            VALUES (\(tenant), \(next), \(runID), \(action.rawValue), \(actor), \(reason), \(try MemoryRules.storedJSON(removed)), \(ms(at)))
            """)
    }

    /// A checkpoint's columns joined to its channels' hashes and sizes (and values when `values`).
    static func checkpointInfos(_ db: Database, tenant: String, runID: String, where condition: SQL, values: Bool = false) throws -> [(CheckpointInfo, [String: String])] {
        let valueColumn: SQL = values ? ", v.value" : ""
        let valueJoin: SQL = values ? "LEFT JOIN run_values v ON v.tenant_id = rc.tenant_id AND v.sha256 = rc.sha256" : ""
        let rows = try db.rows("""
            SELECT c.id, c.namespace, c.parent_id, c.step, c.tasks, c.metadata, c.created_ms,
                   j.key AS channel, j.value AS version, rc.sha256, rc.size\(valueColumn)
            FROM run_checkpoints c
            LEFT JOIN json_each(c.channels) j
            LEFT JOIN run_channels rc ON rc.tenant_id = c.tenant_id AND rc.run_id = c.run_id AND rc.namespace = c.namespace AND rc.channel = j.key AND rc.version = j.value
            \(valueJoin)
            WHERE c.tenant_id = \(tenant) AND c.run_id = \(runID) AND \(condition)
            ORDER BY c.step DESC, c.id
            """)
        var out: [(CheckpointInfo, [String: String])] = []
        for r in rows {
            let id: String = r["id"]
            if out.last?.0.id != id {
                out.append((CheckpointInfo(id: id, tenant: tenant, runID: runID, namespace: r["namespace"], parentID: r["parent_id"], step: r["step"], channels: [:],
                                           tasks: try RunRules.parseTasks(r["tasks"]), metadata: try Metadata.parse(json: r["metadata"]), createdAt: date(r["created_ms"])), [:]))
            }
            guard let channel = r["channel"] as String? else { continue }
            guard let sha = r["sha256"] as String? else {
                throw EngramError(.storageFailure, "channel \(channel) version \(r["version"] as Int) of checkpoint \(id) has no stored version")
            }
            out[out.count - 1].0.channels[channel] = ChannelVersion(version: r["version"], sha256: sha, size: r["size"])
            if values {
                guard let v = r["value"] as String? else { throw EngramError(.storageFailure, "the value of channel \(channel) of checkpoint \(id) is missing") }
                out[out.count - 1].1[channel] = v
            }
        }
        return out
    }

    static func head(_ db: Database, tenant: String, runID: String, namespace: String) throws -> CheckpointInfo? {
        guard let id = try db.value(String.self, "SELECT checkpoint_id FROM run_heads WHERE tenant_id = \(tenant) AND run_id = \(runID) AND namespace = \(namespace)") else {
            return nil
        }
        return try checkpointInfos(db, tenant: tenant, runID: runID, where: "c.id = \(id)").first?.0
    }

    static func insert(_ db: Database, checkpoint c: CheckpointInfo) throws {
        try db.execute(literal: """
            INSERT INTO run_checkpoints (tenant_id, run_id, id, namespace, parent_id, step, channels, tasks, metadata, created_ms)
            VALUES (\(c.tenant), \(c.runID), \(c.id), \(c.namespace), \(c.parentID), \(c.step), \(RunRules.storedVersions(c.channels)), \(RunRules.storedTasks(c.tasks)),
                    \(c.metadata.canonicalJSON), \(ms(c.createdAt)))
            """)
        try db.execute(literal: """
            INSERT INTO run_heads (tenant_id, run_id, namespace, checkpoint_id) VALUES (\(c.tenant), \(c.runID), \(c.namespace), \(c.id))
            ON CONFLICT (tenant_id, run_id, namespace) DO UPDATE SET checkpoint_id = excluded.checkpoint_id
            """)
    }

    static func insertVersion(_ db: Database, tenant: String, runID: String, namespace: String, channel: String, _ v: ChannelVersion) throws {
        try db.execute(literal: """
            INSERT INTO run_channels (tenant_id, run_id, namespace, channel, version, sha256, size)
            VALUES (\(tenant), \(runID), \(namespace), \(channel), \(v.version), \(v.sha256), \(v.size))
            """)
    }

    // MARK: RunStore

    public func startRun(_ draft: RunDraft, actor: String) async throws -> Run {
        try RunRules.validate(draft, actor: actor)
        let run = RunRules.newRun(draft, now: instant())
        return try await write { db in
            try Self.insert(db, run)
            _ = try Self.appendEvent(db, RunEventDraft(kind: .started), tenant: run.tenant, runID: run.id, actor: actor, at: run.createdAt)
            return run
        }
    }

    public func run(id: String, tenant: String) async throws -> Run? {
        try await read { db in
            try db.row("SELECT * FROM runs WHERE tenant_id = \(tenant) AND id = \(id) AND deleted_ms IS NULL").map(Self.run)
        }
    }

    public func runs(_ request: RunListRequest) async throws -> RunPage {
        try RunRules.validate(request)
        var condition: SQL = "tenant_id = \(request.tenant) AND deleted_ms IS NULL"
        if let status = request.status { condition += " AND status = \(status.rawValue)" }
        if let agent = request.agent { condition += " AND agent = \(agent)" }
        if let (ms, id) = try request.cursor.map(RunRules.parseCursor) { condition += " AND (created_ms > \(ms) OR (created_ms = \(ms) AND id > \(id)))" }
        let sql: SQL = "SELECT * FROM runs WHERE \(condition) ORDER BY created_ms, id LIMIT \(request.limit + 1)"
        let runs = try await read { db in try db.rows(sql).map(Self.run) }
        let page = Array(runs.prefix(request.limit))
        return RunPage(runs: page, nextCursor: runs.count > page.count ? page.last.map(RunRules.cursor(after:)) : nil)
    }

    public func acquireLease(runID: String, tenant: String, owner: String, duration: Duration) async throws -> RunLease {
        let now = instant()
        return try await write { db in
            var run = try Self.owned(db, runID, tenant)
            let lease = try RunRules.acquire(run, owner: owner, duration: duration, now: now)
            run.lease = lease
            try Self.update(db, run)
            return lease
        }
    }

    public func renewLease(_ lease: RunLease, duration: Duration) async throws -> RunLease {
        let now = instant()
        return try await write { db in
            var run = try Self.owned(db, lease.runID, lease.tenant)
            let renewed = try RunRules.renewed(lease, of: run, duration: duration, now: now)
            run.lease = renewed
            try Self.update(db, run)
            return renewed
        }
    }

    public func releaseLease(_ lease: RunLease) async throws {
        let now = instant()
        try await write { db in
            var run = try Self.owned(db, lease.runID, lease.tenant)
            try RunRules.checkCurrent(lease, of: run)
            run.lease = RunRules.released(lease, now: now)
            try Self.update(db, run)
        }
    }

    public func putCheckpoint(_ draft: CheckpointDraft, lease: RunLease) async throws -> CheckpointInfo {
        try RunRules.validate(draft, limits: limits)
        let now = instant(), limits = self.limits
        return try await write { db in
            var run = try Self.owned(db, draft.runID, draft.tenant)
            let head = try Self.head(db, tenant: run.tenant, runID: run.id, namespace: draft.namespace)
            let plan = try RunRules.plan(draft, lease: lease, run: run, head: head, limits: limits, now: now)
            FaultPoint.reached("runs.checkpoint")
            for v in plan.values {
                try db.execute(literal: "INSERT INTO run_values (tenant_id, sha256, value) VALUES (\(run.tenant), \(v.sha256), \(v.json)) ON CONFLICT DO NOTHING")
            }
            for (channel, version) in plan.newVersions {
                try Self.insertVersion(db, tenant: run.tenant, runID: run.id, namespace: draft.namespace, channel: channel, version)
            }
            try Self.insert(db, checkpoint: plan.info)
            run.updatedAt = now
            try Self.update(db, run)
            return plan.info
        }
    }

    public func putWrites(_ writes: [TaskWrite], taskID: String, checkpointID: String, lease: RunLease) async throws -> Int {
        try RunRules.validate(writes, taskID: taskID, checkpointID: checkpointID, limits: limits)
        let limits = self.limits
        return try await write { db in
            let run = try Self.owned(db, lease.runID, lease.tenant)
            guard let checkpoint = try Self.checkpointInfos(db, tenant: run.tenant, runID: run.id, where: "c.id = \(checkpointID)").first?.0 else {
                throw RunRules.checkpointNotFound(checkpointID, runID: run.id)
            }
            let headID = try db.value(String.self, "SELECT checkpoint_id FROM run_heads WHERE tenant_id = \(run.tenant) AND run_id = \(run.id) AND namespace = \(checkpoint.namespace)")
            let recorded = try Self.writes(db, tenant: run.tenant, runID: run.id, checkpointID: checkpointID, taskID: taskID)
            let planned = try RunRules.planWrites(writes, taskID: taskID, at: checkpoint, headID: headID, lease: lease, run: run, recorded: recorded, limits: limits)
            for (i, p) in planned.enumerated() {
                if i > 0 { FaultPoint.reached("runs.writes") }
                try db.execute(literal: """
                    INSERT INTO run_writes (tenant_id, run_id, checkpoint_id, task_id, idx, channel, value)
                    VALUES (\(run.tenant), \(run.id), \(checkpointID), \(taskID), \(p.write.index), \(p.write.channel), \(p.value.json))
                    """)
            }
            return planned.count
        }
    }

    static func writes(_ db: Database, tenant: String, runID: String, checkpointID: String, taskID: String? = nil) throws -> [PendingWrite] {
        var sql: SQL = "SELECT task_id, idx, channel, value FROM run_writes WHERE tenant_id = \(tenant) AND run_id = \(runID) AND checkpoint_id = \(checkpointID)"
        if let taskID { sql += " AND task_id = \(taskID)" }
        return try db.rows(sql + " ORDER BY task_id, idx").map {
            PendingWrite(taskID: $0["task_id"], index: $0["idx"], channel: $0["channel"], value: try RunRules.parseStored($0["value"], what: "a task write"))
        }
    }

    public func checkpoint(runID: String, tenant: String, namespace: String, id: String?) async throws -> Checkpoint? {
        try RunRules.validateNamespace(namespace)
        return try await read { db in
            guard try db.row("SELECT 1 FROM runs WHERE tenant_id = \(tenant) AND id = \(runID) AND deleted_ms IS NULL") != nil else { return nil }
            let wanted: String? = try id ?? db.value(String.self, "SELECT checkpoint_id FROM run_heads WHERE tenant_id = \(tenant) AND run_id = \(runID) AND namespace = \(namespace)")
            guard let wanted, let found = try Self.checkpointInfos(db, tenant: tenant, runID: runID, where: "c.id = \(wanted) AND c.namespace = \(namespace)", values: true).first else {
                return nil
            }
            let (info, json) = found
            var state: [String: JSONValue] = [:]
            for (channel, text) in json { state[channel] = try RunRules.parseStored(text, what: "channel \(channel)") }
            let pending = try Self.writes(db, tenant: tenant, runID: runID, checkpointID: info.id)
            return Checkpoint(info: info, state: state, pendingWrites: pending, remainingTasks: RunRules.remainingTasks(info.tasks, writes: pending))
        }
    }

    public func history(runID: String, tenant: String, namespace: String, limit: Int, before: Int?) async throws -> [CheckpointInfo] {
        try RunRules.validateNamespace(namespace)
        try RunRules.validateLimit(limit)
        return try await read { db in
            var condition: SQL = "c.namespace = \(namespace)"
            if let before { condition += " AND c.step < \(before)" }
            let ids = try db.values(String.self, """
                SELECT id FROM run_checkpoints c WHERE c.tenant_id = \(tenant) AND c.run_id = \(runID) AND \(condition) ORDER BY c.step DESC LIMIT \(limit)
                """)
            guard !ids.isEmpty else { return [] }
            return try Self.checkpointInfos(db, tenant: tenant, runID: runID, where: "c.id IN \(ids)").map(\.0)
        }
    }

    public func setStatus(_ status: RunStatus, lease: RunLease) async throws -> Run {
        let now = instant()
        return try await write { db in
            let run = try Self.owned(db, lease.runID, lease.tenant)
            try RunRules.checkWritable(run, lease: lease)
            let changed = RunRules.withStatus(run, status, now: now)
            try Self.update(db, changed)
            _ = try Self.appendEvent(db, RunRules.statusEvent(status), tenant: run.tenant, runID: run.id, actor: lease.owner, at: now)
            return changed
        }
    }

    public func cancel(runID: String, tenant: String, actor: String, reason: String) async throws -> Run {
        try RunRules.validateName(actor, what: "actor")
        try MemoryRules.validateReason(reason)
        let now = instant()
        return try await write { db in
            let cancelled = try RunRules.cancelled(try Self.owned(db, runID, tenant), now: now)
            try Self.update(db, cancelled)
            _ = try Self.appendEvent(db, RunRules.statusEvent(.cancelled, reason: reason), tenant: tenant, runID: runID, actor: actor, at: now)
            try Self.audit(db, .cancelled, tenant: tenant, runID: runID, actor: actor, reason: reason, removed: RunRemoval(), at: now)
            return cancelled
        }
    }

    public func record(_ event: RunEventDraft, lease: RunLease) async throws -> RunEvent {
        try RunRules.validate(event)
        let now = instant()
        return try await write { db in
            let run = try Self.owned(db, lease.runID, lease.tenant)
            try RunRules.checkCurrent(lease, of: run)
            return try Self.appendEvent(db, event, tenant: run.tenant, runID: run.id, actor: lease.owner, at: now)
        }
    }

    public func events(runID: String, tenant: String) async throws -> [RunEvent] {
        try await read { db in
            try db.rows("SELECT * FROM run_events WHERE tenant_id = \(tenant) AND run_id = \(runID) ORDER BY sequence").map { r in
                RunEvent(sequence: r["sequence"], tenant: tenant, runID: runID, kind: RunEvent.Kind(rawValue: r["kind"]), step: r["step"], taskID: r["task_id"],
                         detail: try (r["detail"] as String?).map { try RunRules.parseStored($0, what: "an event's detail") }, actor: r["actor"], at: Self.date(r["at_ms"]))
            }
        }
    }

    public func fork(runID: String, tenant: String, from checkpointID: String, newRunID: String?, actor: String) async throws -> Run {
        try RunRules.validateName(actor, what: "actor")
        if let id = newRunID { try RunRules.validateName(id, what: "run id") }
        let now = instant()
        return try await write { db in
            let source = try Self.owned(db, runID, tenant)
            guard let at = try Self.checkpointInfos(db, tenant: tenant, runID: runID, where: "c.id = \(checkpointID)").first?.0 else {
                throw RunRules.checkpointNotFound(checkpointID, runID: runID)
            }
            let (run, first) = RunRules.fork(source, at: at, newRunID: newRunID, now: now)
            try Self.insert(db, run)
            for (channel, version) in first.channels {
                try Self.insertVersion(db, tenant: tenant, runID: run.id, namespace: first.namespace, channel: channel, version)
            }
            try Self.insert(db, checkpoint: first)
            _ = try Self.appendEvent(db, RunRules.forkedEvent(from: run.forkedFrom!), tenant: tenant, runID: run.id, actor: actor, at: now)
            return run
        }
    }

    /// Deletes the values of `candidates` that no channel version of the tenant refers to any more.
    static func collectValues(_ db: Database, tenant: String, candidates: [String]) throws -> Int {
        var removed = 0
        for start in stride(from: 0, to: candidates.count, by: 500) {
            try db.execute(literal: """
                DELETE FROM run_values WHERE tenant_id = \(tenant) AND sha256 IN \(candidates[start..<min(candidates.count, start + 500)])
                AND NOT EXISTS (SELECT 1 FROM run_channels rc WHERE rc.tenant_id = run_values.tenant_id AND rc.sha256 = run_values.sha256)
                """)
            removed += db.changesCount
        }
        return removed
    }

    /// Deletes every row of a run but its tombstone, which it writes.
    static func removeRun(_ db: Database, tenant: String, runID: String, at: Date) throws -> RunRemoval {
        var removed = RunRemoval()
        let candidates = try db.values(String.self, "SELECT DISTINCT sha256 FROM run_channels WHERE tenant_id = \(tenant) AND run_id = \(runID)")
        try db.execute(literal: "DELETE FROM run_checkpoints WHERE tenant_id = \(tenant) AND run_id = \(runID)")
        removed.checkpoints = db.changesCount
        try db.execute(literal: "DELETE FROM run_channels WHERE tenant_id = \(tenant) AND run_id = \(runID)")
        removed.channelVersions = db.changesCount
        try db.execute(literal: "DELETE FROM run_writes WHERE tenant_id = \(tenant) AND run_id = \(runID)")
        removed.writes = db.changesCount
        try db.execute(literal: "DELETE FROM run_events WHERE tenant_id = \(tenant) AND run_id = \(runID)")
        removed.events = db.changesCount
        try db.execute(literal: "DELETE FROM run_heads WHERE tenant_id = \(tenant) AND run_id = \(runID)")
        removed.values = try collectValues(db, tenant: tenant, candidates: candidates)
        try db.execute(literal: """
            UPDATE runs SET deleted_ms = \(ms(at)), metadata = '{}', lease_owner = NULL, lease_expires_ms = NULL, updated_ms = \(ms(at))
            WHERE tenant_id = \(tenant) AND id = \(runID)
            """)
        return removed
    }

    /// Deletes the run's checkpoints but the newest `keep` of each namespace, with their writes and what
    /// only they referred to.
    static func prune(_ db: Database, tenant: String, runID: String, keep: Int) throws -> RunRemoval {
        var removed = RunRemoval()
        let all = try db.rows("SELECT id, namespace, step FROM run_checkpoints WHERE tenant_id = \(tenant) AND run_id = \(runID)").map {
            (id: $0["id"] as String, namespace: $0["namespace"] as String, step: $0["step"] as Int)
        }
        let doomed = RunRules.pruned(all, keep: keep)
        for start in stride(from: 0, to: doomed.count, by: 500) {
            let part = doomed[start..<min(doomed.count, start + 500)]
            try db.execute(literal: "DELETE FROM run_checkpoints WHERE tenant_id = \(tenant) AND run_id = \(runID) AND id IN \(part)")
            removed.checkpoints += db.changesCount
            try db.execute(literal: "DELETE FROM run_writes WHERE tenant_id = \(tenant) AND run_id = \(runID) AND checkpoint_id IN \(part)")
            removed.writes += db.changesCount
        }
        let unreferenced: SQL = """
            tenant_id = \(tenant) AND run_id = \(runID) AND NOT EXISTS (
                SELECT 1 FROM run_checkpoints c, json_each(c.channels) j
                WHERE c.tenant_id = run_channels.tenant_id AND c.run_id = run_channels.run_id AND c.namespace = run_channels.namespace
                  AND j.key = run_channels.channel AND j.value = run_channels.version)
            """
        let candidates = try db.values(String.self, "SELECT DISTINCT sha256 FROM run_channels WHERE \(unreferenced)")
        try db.execute(literal: "DELETE FROM run_channels WHERE \(unreferenced)")
        removed.channelVersions = db.changesCount
        removed.values = try collectValues(db, tenant: tenant, candidates: candidates)
        return removed
    }

    public func deleteRun(id: String, tenant: String, actor: String, reason: String) async throws -> RunDeletionReceipt {
        try RunRules.validateName(actor, what: "actor")
        try MemoryRules.validateReason(reason)
        let now = instant()
        let receipt = try await write { db in
            let run = try Self.owned(db, id, tenant)
            guard !run.legalHold else { throw RunRules.held(id) }
            let removed = try Self.removeRun(db, tenant: tenant, runID: id, at: now)
            try Self.audit(db, .deleted, tenant: tenant, runID: id, actor: actor, reason: reason, removed: removed, at: now)
            return RunDeletionReceipt(tenant: tenant, deleted: [id], pruned: [], held: [], removed: removed, actor: actor, reason: reason, at: now)
        }
        return try erase(receipt)
    }

    /// Finishes a deletion on disk (``SQLiteErasure``).
    func erase(_ receipt: RunDeletionReceipt) throws -> RunDeletionReceipt {
        guard !receipt.deleted.isEmpty || !receipt.pruned.isEmpty else { return receipt }
        var r = receipt
        r.erasurePending = !SQLiteErasure.complete(try database.writer(), now: clock())
        return r
    }

    public func setLegalHold(id: String, tenant: String, held: Bool, actor: String, reason: String) async throws -> Run {
        try RunRules.validateName(actor, what: "actor")
        try MemoryRules.validateReason(reason)
        let now = instant()
        return try await write { db in
            var run = try Self.owned(db, id, tenant)
            guard run.legalHold != held else { return run }
            run.legalHold = held
            try db.execute(literal: "UPDATE runs SET legal_hold = \(held) WHERE tenant_id = \(tenant) AND id = \(id)")
            try Self.audit(db, held ? .holdSet : .holdCleared, tenant: tenant, runID: id, actor: actor, reason: reason, removed: RunRemoval(), at: now)
            return run
        }
    }

    public func sweep(tenant: String?, now: Date, actor: String, batchSize: Int) async throws -> RunDeletionReceipt {
        try RunRules.validateSweep(tenant: tenant, actor: actor, batchSize: batchSize)
        let now = RunRules.instant(now)
        var receipt = RunDeletionReceipt.sweep(tenant: tenant, actor: actor, at: now)
        // Finished runs with a retention rule, in key order; each batch is re-read in its own transaction.
        var condition: SQL = "deleted_ms IS NULL AND finished_ms IS NOT NULL AND retention <> '{}'"
        if let tenant { condition += " AND tenant_id = \(tenant)" }
        let candidates = try await read { [condition] db in
            try db.rows("SELECT tenant_id, id FROM runs WHERE \(condition) ORDER BY tenant_id, id").map { (tenant: $0["tenant_id"] as String, id: $0["id"] as String) }
        }
        for start in stride(from: 0, to: candidates.count, by: batchSize) {
            let batch = candidates[start..<min(candidates.count, start + batchSize)]
            let part = try await write { db -> RunDeletionReceipt in
                var part = RunDeletionReceipt.sweep(tenant: tenant, actor: actor, at: now)
                for c in batch {
                    guard let row = try db.row("SELECT * FROM runs WHERE tenant_id = \(c.tenant) AND id = \(c.id) AND deleted_ms IS NULL") else { continue }
                    let run = try Self.run(row)
                    var counts: [String: Int] = [:]
                    if run.retention.keepCheckpoints != nil {
                        for r in try db.rows("SELECT namespace, count(*) AS n FROM run_checkpoints WHERE tenant_id = \(c.tenant) AND run_id = \(c.id) GROUP BY namespace") {
                            counts[r["namespace"]] = r["n"]
                        }
                    }
                    switch RunRules.sweepAction(run, checkpointCounts: counts, now: now) {
                    case .keep: continue
                    case .held: part.held.append(c.id)
                    case .delete:
                        let removed = try Self.removeRun(db, tenant: c.tenant, runID: c.id, at: now)
                        try Self.audit(db, .expired, tenant: c.tenant, runID: c.id, actor: actor, reason: RunRules.sweepReason, removed: removed, at: now)
                        part.note(c.id, pruned: false, removed: removed)
                    case .prune(let keep):
                        let removed = try Self.prune(db, tenant: c.tenant, runID: c.id, keep: keep)
                        try Self.audit(db, .pruned, tenant: c.tenant, runID: c.id, actor: actor, reason: RunRules.sweepReason, removed: removed, at: now)
                        part.note(c.id, pruned: true, removed: removed)
                    }
                }
                return part
            }
            receipt.merge(part)
        }
        return try erase(receipt.sorted)
    }

    public func audit(tenant: String) async throws -> [RunAuditEvent] {
        try await read { db in
            try db.rows("SELECT * FROM run_audit WHERE tenant_id = \(tenant) ORDER BY sequence").map { r in
                guard let action = RunAuditEvent.Action(rawValue: r["action"]) else { throw EngramError(.storageFailure, "unknown run audit action '\(r["action"] as String)'") }
                return RunAuditEvent(sequence: r["sequence"], tenant: tenant, runID: r["run_id"], action: action, actor: r["actor"], reason: r["reason"],
                                     removed: try MemoryRules.fromStoredJSON(RunRemoval.self, r["removed"]), at: Self.date(r["at_ms"]))
            }
        }
    }
}
