import EngramCore
import Foundation
import Logging
import PostgresNIO
import Synchronization

/// Run state in PostgreSQL (tables of migration 8: `runs`, `run_heads`, `run_checkpoints`, `run_channels`,
/// `run_values`, `run_writes`, `run_events`, `run_audit`, `run_tenants`), isolated by tenant with forced
/// row-level security like every other table.
///
/// Every write is one tenant-scoped transaction that locks the run's row (`FOR UPDATE`), reads the facts
/// ``RunRules`` decides on (the lease, the namespace's latest checkpoint), and writes the plan in one
/// statement: two writers of one run are serialized by the lock, and the second finds the chain moved on.
/// A writer's next checkpoint after one this store wrote skips the read: planned from that checkpoint, it
/// is checked under the same locks by the server (`run_advance`, or `run_advance_many` for writers that
/// arrive together, see ``PostgresRunAdvances``), and goes the whole way only when the check fails.
public final class PostgresRunStore: RunStore, Sendable {
    public let limits: RunLimits
    let db: PostgresDatabase
    let clock: @Sendable () -> Date
    /// The checkpoints this store wrote last, by run and namespace: the parent a writer's next checkpoint
    /// names, so that its plan needs no read (see ``putCheckpoint(_:lease:)``).
    let written = Mutex<[HeadKey: CheckpointInfo]>([:])
    /// Those next checkpoints, sent in groups when many writers write at once.
    let advances: PostgresRunAdvances
    public var database: PostgresDatabase { db }

    struct HeadKey: Hashable {
        var tenant: String
        var run: String
        var namespace: String
    }

    func remember(_ c: CheckpointInfo) {
        written.withLock { w in
            if w.count >= 10_000 { w.removeAll() }
            w[HeadKey(tenant: c.tenant, run: c.runID, namespace: c.namespace)] = c
        }
    }
    var schema: SQLIdentifier { db.schemaName }

    public init(database: PostgresDatabase, limits: RunLimits = .standard, now: @escaping @Sendable () -> Date = { Date() }) {
        db = database
        self.limits = limits
        self.clock = now
        advances = PostgresRunAdvances { [database] group in await Self.write(group, database) }
    }

    /// - Parameters:
    ///   - client: a client whose `run()` the application schedules.
    ///   - schema: the migrated schema (see ``PostgresMigrator``).
    public convenience init(client: PostgresClient, schema: String = "engram", limits: RunLimits = .standard, now: @escaping @Sendable () -> Date = { Date() },
                            logger: Logger = Logger(label: "engram.postgres", factory: { _ in SwiftLogNoOpLogHandler() })) throws {
        self.init(database: try PostgresDatabase(client: client, schema: schema, logger: logger), limits: limits, now: now)
    }

    func instant() -> Date { RunRules.instant(clock()) }

    /// A stored time, to the millisecond every store keeps.
    static func date(_ cell: PostgresCell) throws -> Date { RunRules.instant(try cell.decode(Date.self)) }
    static func optionalDate(_ cell: PostgresCell) throws -> Date? { try cell.decode(Date?.self).map(RunRules.instant) }

    /// Statements written at once and answered in order: one wait for all of them.
    func pipelined(_ c: PostgresConnection, _ statements: [PostgresSQL]) async throws -> [[PostgresRandomAccessRow]] {
        let pending = statements.map { c.enqueueKept($0.query, logger: db.logger) }
        var out: [[PostgresRandomAccessRow]] = []
        for p in pending { out.append(try await p.get().rows.map { $0.makeRandomAccess() }) }
        return out
    }

    // MARK: Rows

    static func run(_ r: PostgresRandomAccessRow) throws -> Run {
        let token = try r["lease_token"].decode(Int64.self)
        let tenant = try r["tenant_id"].decode(String.self), id = try r["id"].decode(String.self)
        let lease = token == 0 ? nil : RunLease(tenant: tenant, runID: id, owner: try r["lease_owner"].decode(String?.self) ?? "", token: token,
                                                expiresAt: try optionalDate(r["lease_expires_at"]) ?? Date(timeIntervalSince1970: 0))
        let statusName = try r["status"].decode(String.self)
        guard let status = RunStatus(rawValue: statusName) else { throw EngramError(.storageFailure, "run \(id) has an unknown status '\(statusName)'") }
        let forked = try r["forked_run_id"].decode(String?.self).map { CheckpointRef(runID: $0, checkpointID: try r["forked_checkpoint_id"].decode(String?.self) ?? "") }
        return Run(id: id, tenant: tenant, agent: try r["agent"].decode(String.self), status: status, metadata: try Metadata.parse(json: r["metadata"].decode(String.self)),
                   createdAt: try date(r["created_at"]), updatedAt: try date(r["updated_at"]), finishedAt: try optionalDate(r["finished_at"]),
                   retention: try MemoryRules.fromStoredJSON(RunRetention.self, r["retention"].decode(String.self)), legalHold: try r["legal_hold"].decode(Bool.self),
                   forkedFrom: forked, lease: lease)
    }

    static let runColumns: PostgresSQL = """
        r.tenant_id, r.id, r.agent, r.status, r.metadata::text AS metadata, r.created_at, r.updated_at, r.finished_at, r.retention::text AS retention,
        r.legal_hold, r.forked_run_id, r.forked_checkpoint_id, r.lease_owner, r.lease_token, r.lease_expires_at, r.deleted_at
        """

    /// The run's row, locked for the transaction.
    func lockRun(_ id: String, _ tenant: String) -> PostgresSQL {
        "SELECT \(Self.runColumns) FROM \(schema).runs r WHERE r.tenant_id = \(tenant) AND r.id = \(id) FOR UPDATE"
    }

    /// The run of a locked row, `not_found` when there is none (worded for a tombstone).
    static func owned(_ rows: [PostgresRandomAccessRow], _ id: String) throws -> Run {
        guard let row = rows.first else { throw RunRules.notFound(id) }
        if try row["deleted_at"].decode(Date?.self) != nil { throw RunRules.deleted(id) }
        return try run(row)
    }

    func owned(_ c: PostgresConnection, _ id: String, _ tenant: String) async throws -> Run {
        try Self.owned(try await db.rows(c, lockRun(id, tenant)), id)
    }

    func update(_ c: PostgresConnection, _ run: Run) async throws {
        _ = try await db.rows(c, """
            UPDATE \(schema).runs SET status = \(run.status.rawValue), updated_at = \(run.updatedAt), finished_at = \(run.finishedAt), legal_hold = \(run.legalHold),
                lease_owner = \(run.lease?.owner), lease_token = \(run.lease?.token ?? 0), lease_expires_at = \(run.lease?.expiresAt)
            WHERE tenant_id = \(run.tenant) AND id = \(run.id)
            """)
    }

    func appendEvent(_ c: PostgresConnection, _ e: RunEventDraft, tenant: String, runID: String, actor: String, at: Date) async throws -> RunEvent {
        let rows = try await db.rows(c, """
            INSERT INTO \(schema).run_events (tenant_id, run_id, sequence, kind, step, task_id, detail, actor, at)
            SELECT \(tenant), \(runID), coalesce(max(sequence), 0) + 1, \(e.kind.rawValue), \(e.step), \(e.taskID), \(e.detail.map { $0.serialized(sortedKeys: true) }), \(actor), \(at)
            FROM \(schema).run_events WHERE tenant_id = \(tenant) AND run_id = \(runID)
            RETURNING sequence
            """)
        return RunEvent(sequence: try rows[0]["sequence"].decode(Int64.self), tenant: tenant, runID: runID, kind: e.kind, step: e.step, taskID: e.taskID,
                        detail: e.detail, actor: actor, at: at)
    }

    /// Appends to the tenant's audit log; the tenant's row of `run_tenants` is locked first, so that two
    /// transactions never take the same number.
    func audit(_ c: PostgresConnection, _ action: RunAuditEvent.Action, tenant: String, runID: String, actor: String, reason: String, removed: RunRemoval, at: Date) async throws {
        _ = try await pipelined(c, [
            "SELECT 1 FROM \(schema).run_tenants WHERE tenant_id = \(tenant) FOR UPDATE",
            """
            INSERT INTO \(schema).run_audit (tenant_id, sequence, run_id, action, actor, reason, removed, at)
            SELECT \(tenant), coalesce(max(sequence), 0) + 1, \(runID), \(action.rawValue), \(actor), \(reason), \(try MemoryRules.storedJSON(removed)), \(at)
            FROM \(schema).run_audit WHERE tenant_id = \(tenant)
            """,
        ])
    }

    /// Which checkpoints a query reads.
    enum Selection {
        /// One by id (in `namespace` when given).
        case id(String, namespace: String?)
        /// The namespace's latest.
        case head(namespace: String)
        /// The namespace's newest `limit`, older than step `before` when given.
        case history(namespace: String, limit: Int, before: Int?)
    }

    /// Checkpoints with their channels' hashes and sizes (and values when `values`), newest first.
    func checkpointInfos(_ c: PostgresConnection, tenant: String, runID: String, _ selection: Selection, values: Bool = false) async throws -> [(CheckpointInfo, [String: String])] {
        try Self.infos(try await db.rows(c, checkpointQuery(tenant: tenant, runID: runID, selection, values: values)), tenant: tenant, runID: runID, values: values)
    }

    /// The selected checkpoints' rows, one per channel, through `run_checkpoint_rows` (migration 8), whose
    /// plans the session keeps.
    func checkpointQuery(tenant: String, runID: String, _ selection: Selection, values: Bool = false) -> PostgresSQL {
        let namespace: String?, id: String?, limit: Int?, before: Int?
        switch selection {
        case .id(let i, let ns): (namespace, id, limit, before) = (ns, i, nil, nil)
        case .head(let ns): (namespace, id, limit, before) = (ns, nil, nil, nil)
        case .history(let ns, let l, let b): (namespace, id, limit, before) = (ns, nil, l, b)
        }
        let limitSQL: PostgresSQL = limit.map { "\($0)" } ?? "NULL", beforeSQL: PostgresSQL = before.map { "\($0)" } ?? "NULL"
        return "SELECT * FROM \(schema).run_checkpoint_rows(\(tenant), \(runID), \(namespace), \(id), \(limitSQL)::int, \(beforeSQL)::int, \(values))"
    }

    static func infos(_ rows: [PostgresRandomAccessRow], tenant: String, runID: String, values: Bool) throws -> [(CheckpointInfo, [String: String])] {
        var out: [(CheckpointInfo, [String: String])] = []
        for r in rows {
            let id = try r["id"].decode(String.self)
            if out.last?.0.id != id {
                out.append((CheckpointInfo(id: id, tenant: tenant, runID: runID, namespace: try r["namespace"].decode(String.self), parentID: try r["parent_id"].decode(String?.self),
                                           step: try r["step"].decode(Int.self), channels: [:], tasks: try RunRules.parseTasks(r["tasks"].decode(String.self)),
                                           metadata: try Metadata.parse(json: r["metadata"].decode(String.self)), createdAt: try date(r["created_at"])), [:]))
            }
            guard let channel = try r["channel"].decode(String?.self) else { continue }
            guard let sha = try r["sha256"].decode(String?.self) else {
                throw EngramError(.storageFailure, "channel \(channel) of checkpoint \(id) has no stored version")
            }
            out[out.count - 1].0.channels[channel] = ChannelVersion(version: try r["version"].decode(Int.self), sha256: sha, size: try r["size"].decode(Int.self))
            if values {
                guard let v = try r["value"].decode(String?.self) else { throw EngramError(.storageFailure, "the value of channel \(channel) of checkpoint \(id) is missing") }
                out[out.count - 1].1[channel] = v
            }
        }
        return out
    }

    /// Inserts a checkpoint, the versions that are new in it and their values, and makes it its
    /// namespace's latest: one statement.
    func insert(_ c: PostgresConnection, checkpoint cp: CheckpointInfo, versions: [(channel: String, version: ChannelVersion)], values: [RunRules.StoredValue]) async throws {
        _ = try await db.rows(c, """
            WITH v AS (
                INSERT INTO \(schema).run_values (tenant_id, sha256, value)
                SELECT \(cp.tenant), decode(s, 'hex'), x FROM unnest(\(values.map(\.sha256))::text[], \(values.map(\.json))::text[]) AS u(s, x)
                ON CONFLICT DO NOTHING
            ), ch AS (
                INSERT INTO \(schema).run_channels (tenant_id, run_id, namespace, channel, version, sha256, size)
                SELECT \(cp.tenant), \(cp.runID), \(cp.namespace), n, ver, decode(s, 'hex'), sz
                FROM unnest(\(versions.map(\.channel))::text[], \(versions.map { $0.version.version })::int[], \(versions.map { $0.version.sha256 })::text[],
                            \(versions.map { $0.version.size })::int[]) AS u(n, ver, s, sz)
            ), cp AS (
                INSERT INTO \(schema).run_checkpoints (tenant_id, run_id, id, namespace, parent_id, step, channels, tasks, metadata, created_at)
                VALUES (\(cp.tenant), \(cp.runID), \(cp.id), \(cp.namespace), \(cp.parentID), \(cp.step), \(RunRules.storedVersions(cp.channels))::json,
                        \(RunRules.storedTasks(cp.tasks))::jsonb, \(cp.metadata.canonicalJSON)::jsonb, \(cp.createdAt))
            )
            INSERT INTO \(schema).run_heads (tenant_id, run_id, namespace, checkpoint_id) VALUES (\(cp.tenant), \(cp.runID), \(cp.namespace), \(cp.id))
            ON CONFLICT (tenant_id, run_id, namespace) DO UPDATE SET checkpoint_id = EXCLUDED.checkpoint_id
            """)
    }

    // MARK: RunStore

    public func startRun(_ draft: RunDraft, actor: String) async throws -> Run {
        try RunRules.validate(draft, actor: actor)
        let run = RunRules.newRun(draft, now: instant())
        return try await db.inTenant(run.tenant) { c in
            let inserted = try await self.pipelined(c, [
                "INSERT INTO \(self.schema).run_tenants (tenant_id) VALUES (\(run.tenant)) ON CONFLICT DO NOTHING",
                """
                INSERT INTO \(self.schema).runs (tenant_id, id, agent, status, metadata, created_at, updated_at, finished_at, retention, legal_hold, forked_run_id, forked_checkpoint_id)
                VALUES (\(run.tenant), \(run.id), \(run.agent), \(run.status.rawValue), \(run.metadata.canonicalJSON)::jsonb, \(run.createdAt), \(run.updatedAt), \(run.finishedAt),
                        \(try MemoryRules.storedJSON(run.retention))::jsonb, \(run.legalHold), \(run.forkedFrom?.runID), \(run.forkedFrom?.checkpointID))
                ON CONFLICT (tenant_id, id) DO NOTHING
                RETURNING id
                """,
            ])[1]
            guard !inserted.isEmpty else { throw RunRules.idTaken(run.id) }
            _ = try await self.appendEvent(c, RunEventDraft(kind: .started), tenant: run.tenant, runID: run.id, actor: actor, at: run.createdAt)
            return run
        }
    }

    public func run(id: String, tenant: String) async throws -> Run? {
        try await db.reading(tenant) { c in
            try await self.db.rows(c, "SELECT \(Self.runColumns) FROM \(self.schema).runs r WHERE r.tenant_id = \(tenant) AND r.id = \(id) AND r.deleted_at IS NULL").first.map(Self.run)
        }
    }

    public func runs(_ request: RunListRequest) async throws -> RunPage {
        try RunRules.validate(request)
        var parts: [PostgresSQL] = ["r.tenant_id = \(request.tenant)", "r.deleted_at IS NULL"]
        if let status = request.status { parts.append("r.status = \(status.rawValue)") }
        if let agent = request.agent { parts.append("r.agent = \(agent)") }
        if let (ms, id) = try request.cursor.map(RunRules.parseCursor) {
            let at = Date(timeIntervalSince1970: Double(ms) / 1000)
            parts.append("(r.created_at > \(at) OR (r.created_at = \(at) AND r.id > \(id) COLLATE \"C\"))")
        }
        let sql: PostgresSQL = "SELECT \(Self.runColumns) FROM \(schema).runs r WHERE \(PostgresSQL.joined(parts, separator: " AND ")) ORDER BY r.created_at, r.id COLLATE \"C\" LIMIT \(request.limit + 1)"
        let runs = try await db.reading(request.tenant) { c in try await self.db.rows(c, sql).map(Self.run) }
        let page = Array(runs.prefix(request.limit))
        return RunPage(runs: page, nextCursor: runs.count > page.count ? page.last.map(RunRules.cursor(after:)) : nil)
    }

    public func acquireLease(runID: String, tenant: String, owner: String, duration: Duration) async throws -> RunLease {
        let now = instant()
        return try await db.inTenant(tenant) { c in
            var run = try await self.owned(c, runID, tenant)
            let lease = try RunRules.acquire(run, owner: owner, duration: duration, now: now)
            run.lease = lease
            try await self.update(c, run)
            return lease
        }
    }

    public func renewLease(_ lease: RunLease, duration: Duration) async throws -> RunLease {
        let now = instant()
        return try await db.inTenant(lease.tenant) { c in
            var run = try await self.owned(c, lease.runID, lease.tenant)
            let renewed = try RunRules.renewed(lease, of: run, duration: duration, now: now)
            run.lease = renewed
            try await self.update(c, run)
            return renewed
        }
    }

    public func releaseLease(_ lease: RunLease) async throws {
        let now = instant()
        try await db.inTenant(lease.tenant) { c in
            var run = try await self.owned(c, lease.runID, lease.tenant)
            try RunRules.checkCurrent(lease, of: run)
            run.lease = RunRules.released(lease, now: now)
            try await self.update(c, run)
        }
    }

    /// The one statement of a checkpoint whose parent this store wrote: `run_advance` (migration 8) sets
    /// the tenant, locks the run and the namespace's head, checks what
    /// ``RunRules/plan(_:lease:run:head:limits:now:)`` checks (the lease is current, the run neither
    /// finished nor deleted, the head is the parent), and writes the plan only then; it answers whether it
    /// wrote.
    static func advance(_ schema: SQLIdentifier, _ plan: RunRules.CheckpointPlan, lease: RunLease) -> PostgresSQL {
        let cp = plan.info, values = plan.values, versions = plan.newVersions
        return """
            SELECT \(schema).run_advance(\(cp.tenant), \(cp.runID), \(cp.namespace), \(cp.parentID), \(lease.token), \(lease.owner),
                \(cp.id), \(cp.step), \(RunRules.storedVersions(cp.channels))::json, \(RunRules.storedTasks(cp.tasks))::jsonb, \(cp.metadata.canonicalJSON)::jsonb, \(cp.createdAt),
                \(values.map(\.sha256))::text[], \(values.map(\.json))::text[], \(versions.map(\.channel))::text[], \(versions.map { $0.version.version })::int[],
                \(versions.map { $0.version.sha256 })::text[], \(versions.map { $0.version.size })::int[]) AS written
            """
    }

    /// Several such checkpoints in one statement (`run_advance_many`, migration 8: `run_advance` for each);
    /// it answers for each whether it was written.
    static func advanceMany(_ schema: SQLIdentifier, _ group: [PostgresRunAdvances.Pending]) -> PostgresSQL {
        let cps = group.map(\.plan.info)
        var valueOf: [Int] = [], shas: [String] = [], jsons: [String] = []
        var versionOf: [Int] = [], names: [String] = [], versions: [Int] = [], versionShas: [String] = [], sizes: [Int] = []
        for (i, p) in group.enumerated() {
            for v in p.plan.values { valueOf.append(i + 1); shas.append(v.sha256); jsons.append(v.json) }
            for v in p.plan.newVersions {
                versionOf.append(i + 1); names.append(v.channel); versions.append(v.version.version); versionShas.append(v.version.sha256); sizes.append(v.version.size)
            }
        }
        return """
            SELECT \(schema).run_advance_many(\(cps.map(\.tenant))::text[], \(cps.map(\.runID))::text[], \(cps.map(\.namespace))::text[],
                \(cps.map { $0.parentID ?? "" })::text[], \(group.map(\.lease.token))::int8[], \(group.map(\.lease.owner))::text[],
                \(cps.map(\.id))::text[], \(cps.map(\.step))::int[], \(cps.map { RunRules.storedVersions($0.channels) })::text[]::json[],
                \(cps.map { RunRules.storedTasks($0.tasks) })::text[]::jsonb[], \(cps.map(\.metadata.canonicalJSON))::text[]::jsonb[], \(cps.map(\.createdAt))::timestamptz[],
                \(valueOf)::int[], \(shas)::text[], \(jsons)::text[],
                \(versionOf)::int[], \(names)::text[], \(versions)::int[], \(versionShas)::text[], \(sizes)::int[]) AS written
            """
    }

    /// Writes a group of next checkpoints (see ``PostgresRunAdvances``): one alone by `run_advance`,
    /// several by `run_advance_many`. When the server refuses the group's statement (one checkpoint's id
    /// is already taken, say), nothing of it was written, and each is tried alone, so that the error
    /// reaches its own writer only; a lost connection fails them all (whether the server committed is
    /// unknown).
    static func write(_ group: [PostgresRunAdvances.Pending], _ db: PostgresDatabase) async -> [PostgresRunAdvances.Outcome] {
        if group.count == 1 {
            do {
                return [.success(try await db.standalone(advance(db.schemaName, group[0].plan, lease: group[0].lease)).first?["written"].decode(Bool.self) == true)]
            } catch {
                return [.failure(PostgresStoreConfiguration.describe(error))]
            }
        }
        do {
            let flags = try await db.standalone(advanceMany(db.schemaName, group)).first?["written"].decode([Bool].self) ?? []
            guard flags.count == group.count else {
                let e = EngramError(.storageFailure, "run_advance_many answered \(flags.count) flags for \(group.count) checkpoints")
                return group.map { _ in .failure(e) }
            }
            return flags.map { .success($0) }
        } catch where PostgresDatabase.sqlState(error) != nil {
            var outcomes: [PostgresRunAdvances.Outcome] = []
            for p in group { outcomes += await write([p], db) }
            return outcomes
        } catch {
            let e = PostgresStoreConfiguration.describe(error)
            return group.map { _ in .failure(e) }
        }
    }

    public func putCheckpoint(_ draft: CheckpointDraft, lease: RunLease) async throws -> CheckpointInfo {
        try RunRules.validate(draft, limits: limits)
        let now = instant(), limits = self.limits
        // A writer's next step names the checkpoint it wrote last: planned from that, checked and written by
        // one statement in one round trip. Anything else (a first checkpoint, another writer's parent, a
        // refused check) goes the whole way, which also words the refusal.
        if !db.readOnly, let parent = draft.parentID, lease.tenant == draft.tenant, lease.runID == draft.runID,
           let head = written.withLock({ $0[HeadKey(tenant: draft.tenant, run: draft.runID, namespace: draft.namespace)] }), head.id == parent {
            let plan = try RunRules.plan(draft, after: head, limits: limits, now: now)
            FaultPoint.reached("runs.checkpoint")
            if try await advances.advance(plan, lease: lease) {
                remember(plan.info)
                return plan.info
            }
        }
        let info = try await db.inTenant(draft.tenant) { c in
            let facts = try await self.pipelined(c, [
                self.lockRun(draft.runID, draft.tenant),
                self.checkpointQuery(tenant: draft.tenant, runID: draft.runID, .head(namespace: draft.namespace)),
            ])
            let run = try Self.owned(facts[0], draft.runID)
            let head = try Self.infos(facts[1], tenant: run.tenant, runID: run.id, values: false).first?.0
            let plan = try RunRules.plan(draft, lease: lease, run: run, head: head, limits: limits, now: now)
            FaultPoint.reached("runs.checkpoint")
            try await self.insert(c, checkpoint: plan.info, versions: plan.newVersions, values: plan.values)
            _ = try await self.db.rows(c, "UPDATE \(self.schema).runs SET updated_at = \(now) WHERE tenant_id = \(run.tenant) AND id = \(run.id)")
            return plan.info
        }
        remember(info)
        return info
    }

    public func putWrites(_ writes: [TaskWrite], taskID: String, checkpointID: String, lease: RunLease) async throws -> Int {
        try RunRules.validate(writes, taskID: taskID, checkpointID: checkpointID, limits: limits)
        let limits = self.limits, tenant = lease.tenant, runID = lease.runID
        return try await db.inTenant(tenant) { c in
            let facts = try await self.pipelined(c, [
                self.lockRun(runID, tenant),
                self.checkpointQuery(tenant: tenant, runID: runID, .id(checkpointID, namespace: nil)),
                "SELECT task_id, idx, channel, value FROM \(self.schema).run_writes WHERE tenant_id = \(tenant) AND run_id = \(runID) AND checkpoint_id = \(checkpointID) AND task_id = \(taskID)",
            ])
            let run = try Self.owned(facts[0], runID)
            guard let checkpoint = try Self.infos(facts[1], tenant: tenant, runID: runID, values: false).first?.0 else { throw RunRules.checkpointNotFound(checkpointID, runID: runID) }
            let headID = try await self.db.rows(c, """
                SELECT checkpoint_id FROM \(self.schema).run_heads WHERE tenant_id = \(tenant) AND run_id = \(runID) AND namespace = \(checkpoint.namespace)
                """).first.map { try $0["checkpoint_id"].decode(String.self) }
            let planned = try RunRules.planWrites(writes, taskID: taskID, at: checkpoint, headID: headID, lease: lease, run: run, recorded: try facts[2].map(Self.write), limits: limits)
            guard !planned.isEmpty else { return 0 }
            FaultPoint.reached("runs.writes")
            _ = try await self.db.rows(c, """
                INSERT INTO \(self.schema).run_writes (tenant_id, run_id, checkpoint_id, task_id, idx, channel, value)
                SELECT \(tenant), \(runID), \(checkpointID), \(taskID), i, ch, v
                FROM unnest(\(planned.map(\.write.index))::int[], \(planned.map(\.write.channel))::text[], \(planned.map(\.value.json))::text[]) AS u(i, ch, v)
                """)
            return planned.count
        }
    }

    static func write(_ r: PostgresRandomAccessRow) throws -> PendingWrite {
        PendingWrite(taskID: try r["task_id"].decode(String.self), index: try r["idx"].decode(Int.self), channel: try r["channel"].decode(String.self),
                     value: try RunRules.parseStored(r["value"].decode(String.self), what: "a task write"))
    }

    public func checkpoint(runID: String, tenant: String, namespace: String, id: String?) async throws -> Checkpoint? {
        try RunRules.validateNamespace(namespace)
        let selection: Selection = id.map { .id($0, namespace: namespace) } ?? .head(namespace: namespace)
        let checkpointID: PostgresSQL = id.map { "\($0)" }
            ?? "(SELECT h.checkpoint_id FROM \(schema).run_heads h WHERE h.tenant_id = \(tenant) AND h.run_id = \(runID) AND h.namespace = \(namespace))"
        return try await db.reading(tenant) { c in
            // The run, the checkpoint and its writes in one round trip.
            let rows = try await self.pipelined(c, [
                "SELECT 1 FROM \(self.schema).runs WHERE tenant_id = \(tenant) AND id = \(runID) AND deleted_at IS NULL",
                self.checkpointQuery(tenant: tenant, runID: runID, selection, values: true),
                "SELECT task_id, idx, channel, value FROM \(self.schema).run_writes WHERE tenant_id = \(tenant) AND run_id = \(runID) AND checkpoint_id = \(checkpointID)",
            ])
            guard !rows[0].isEmpty, let found = try Self.infos(rows[1], tenant: tenant, runID: runID, values: true).first else { return nil }
            let (info, json) = found
            var state: [String: JSONValue] = [:]
            for (channel, text) in json { state[channel] = try RunRules.parseStored(text, what: "channel \(channel)") }
            let pending = try rows[2].map(Self.write)
            return Checkpoint(info: info, state: state, pendingWrites: RunRules.ordered(pending), remainingTasks: RunRules.remainingTasks(info.tasks, writes: pending))
        }
    }

    public func history(runID: String, tenant: String, namespace: String, limit: Int, before: Int?) async throws -> [CheckpointInfo] {
        try RunRules.validateNamespace(namespace)
        try RunRules.validateLimit(limit)
        return try await db.reading(tenant) { c in
            try await self.checkpointInfos(c, tenant: tenant, runID: runID, .history(namespace: namespace, limit: limit, before: before)).map(\.0)
        }
    }

    public func setStatus(_ status: RunStatus, lease: RunLease) async throws -> Run {
        let now = instant()
        return try await db.inTenant(lease.tenant) { c in
            let run = try await self.owned(c, lease.runID, lease.tenant)
            try RunRules.checkWritable(run, lease: lease)
            let changed = RunRules.withStatus(run, status, now: now)
            try await self.update(c, changed)
            _ = try await self.appendEvent(c, RunRules.statusEvent(status), tenant: run.tenant, runID: run.id, actor: lease.owner, at: now)
            return changed
        }
    }

    public func cancel(runID: String, tenant: String, actor: String, reason: String) async throws -> Run {
        try RunRules.validateName(actor, what: "actor")
        try MemoryRules.validateReason(reason)
        let now = instant()
        return try await db.inTenant(tenant) { c in
            let cancelled = try RunRules.cancelled(try await self.owned(c, runID, tenant), now: now)
            try await self.update(c, cancelled)
            _ = try await self.appendEvent(c, RunRules.statusEvent(.cancelled, reason: reason), tenant: tenant, runID: runID, actor: actor, at: now)
            try await self.audit(c, .cancelled, tenant: tenant, runID: runID, actor: actor, reason: reason, removed: RunRemoval(), at: now)
            return cancelled
        }
    }

    public func record(_ event: RunEventDraft, lease: RunLease) async throws -> RunEvent {
        try RunRules.validate(event)
        let now = instant()
        return try await db.inTenant(lease.tenant) { c in
            let run = try await self.owned(c, lease.runID, lease.tenant)
            try RunRules.checkCurrent(lease, of: run)
            return try await self.appendEvent(c, event, tenant: run.tenant, runID: run.id, actor: lease.owner, at: now)
        }
    }

    public func events(runID: String, tenant: String) async throws -> [RunEvent] {
        try await db.reading(tenant) { c in
            try await self.db.rows(c, """
                SELECT sequence, kind, step, task_id, detail, actor, at FROM \(self.schema).run_events WHERE tenant_id = \(tenant) AND run_id = \(runID) ORDER BY sequence
                """).map { r in
                RunEvent(sequence: try r["sequence"].decode(Int64.self), tenant: tenant, runID: runID, kind: RunEvent.Kind(rawValue: try r["kind"].decode(String.self)),
                         step: try r["step"].decode(Int?.self), taskID: try r["task_id"].decode(String?.self),
                         detail: try r["detail"].decode(String?.self).map { try RunRules.parseStored($0, what: "an event's detail") },
                         actor: try r["actor"].decode(String.self), at: try Self.date(r["at"]))
            }
        }
    }

    public func fork(runID: String, tenant: String, from checkpointID: String, newRunID: String?, actor: String) async throws -> Run {
        try RunRules.validateName(actor, what: "actor")
        if let id = newRunID { try RunRules.validateName(id, what: "run id") }
        let now = instant()
        return try await db.inTenant(tenant) { c in
            let facts = try await self.pipelined(c, [self.lockRun(runID, tenant), self.checkpointQuery(tenant: tenant, runID: runID, .id(checkpointID, namespace: nil))])
            let source = try Self.owned(facts[0], runID)
            guard let at = try Self.infos(facts[1], tenant: tenant, runID: runID, values: false).first?.0 else { throw RunRules.checkpointNotFound(checkpointID, runID: runID) }
            let (run, first) = RunRules.fork(source, at: at, newRunID: newRunID, now: now)
            let inserted = try await self.db.rows(c, """
                INSERT INTO \(self.schema).runs (tenant_id, id, agent, status, metadata, created_at, updated_at, retention, legal_hold, forked_run_id, forked_checkpoint_id)
                VALUES (\(tenant), \(run.id), \(run.agent), \(run.status.rawValue), \(run.metadata.canonicalJSON)::jsonb, \(run.createdAt), \(run.updatedAt),
                        \(try MemoryRules.storedJSON(run.retention))::jsonb, \(run.legalHold), \(runID), \(checkpointID))
                ON CONFLICT (tenant_id, id) DO NOTHING
                RETURNING id
                """)
            guard !inserted.isEmpty else { throw RunRules.idTaken(run.id) }
            try await self.insert(c, checkpoint: first, versions: first.channels.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }, values: [])
            _ = try await self.appendEvent(c, RunRules.forkedEvent(from: run.forkedFrom!), tenant: tenant, runID: run.id, actor: actor, at: now)
            return run
        }
    }

    /// Deletes the values among `candidates` that no channel version of the tenant refers to any more.
    func collectValues(_ c: PostgresConnection, tenant: String, candidates: [String]) async throws -> Int {
        guard !candidates.isEmpty else { return 0 }
        return try await db.rows(c, """
            WITH d AS (
                DELETE FROM \(schema).run_values v WHERE v.tenant_id = \(tenant) AND v.sha256 = ANY(ARRAY(SELECT decode(x, 'hex') FROM unnest(\(candidates)::text[]) AS x))
                AND NOT EXISTS (SELECT 1 FROM \(schema).run_channels rc WHERE rc.tenant_id = v.tenant_id AND rc.sha256 = v.sha256)
                RETURNING 1
            ) SELECT count(*)::int8 AS n FROM d
            """)[0]["n"].decode(Int.self)
    }

    /// Deletes every row of a run but its tombstone, which it writes.
    func removeRun(_ c: PostgresConnection, tenant: String, runID: String, at: Date) async throws -> RunRemoval {
        let row = try await db.rows(c, """
            WITH dc AS (DELETE FROM \(schema).run_checkpoints WHERE tenant_id = \(tenant) AND run_id = \(runID) RETURNING 1),
                 dv AS (DELETE FROM \(schema).run_channels WHERE tenant_id = \(tenant) AND run_id = \(runID) RETURNING encode(sha256, 'hex') AS sha256),
                 dw AS (DELETE FROM \(schema).run_writes WHERE tenant_id = \(tenant) AND run_id = \(runID) RETURNING 1),
                 de AS (DELETE FROM \(schema).run_events WHERE tenant_id = \(tenant) AND run_id = \(runID) RETURNING 1),
                 dh AS (DELETE FROM \(schema).run_heads WHERE tenant_id = \(tenant) AND run_id = \(runID) RETURNING 1),
                 t AS (UPDATE \(schema).runs SET deleted_at = \(at), metadata = '{}', lease_owner = NULL, lease_expires_at = NULL, updated_at = \(at)
                       WHERE tenant_id = \(tenant) AND id = \(runID) RETURNING 1)
            SELECT (SELECT count(*) FROM dc)::int8 AS checkpoints, (SELECT count(*) FROM dv)::int8 AS versions, (SELECT count(*) FROM dw)::int8 AS writes,
                   (SELECT count(*) FROM de)::int8 AS events, (SELECT count(*) FROM t)::int8 AS tombstones,
                   (SELECT coalesce(array_agg(DISTINCT sha256), '{}') FROM dv) AS candidates
            """)[0]
        var removed = RunRemoval()
        removed.checkpoints = try row["checkpoints"].decode(Int.self)
        removed.channelVersions = try row["versions"].decode(Int.self)
        removed.writes = try row["writes"].decode(Int.self)
        removed.events = try row["events"].decode(Int.self)
        removed.values = try await collectValues(c, tenant: tenant, candidates: try row["candidates"].decode([String].self))
        return removed
    }

    /// Deletes the run's checkpoints but the newest `keep` of each namespace, with their writes and what
    /// only they referred to.
    func prune(_ c: PostgresConnection, tenant: String, runID: String, keep: Int) async throws -> RunRemoval {
        let all = try await db.rows(c, "SELECT id, namespace, step FROM \(schema).run_checkpoints WHERE tenant_id = \(tenant) AND run_id = \(runID)").map {
            (id: try $0["id"].decode(String.self), namespace: try $0["namespace"].decode(String.self), step: try $0["step"].decode(Int.self))
        }
        let doomed = RunRules.pruned(all, keep: keep)
        let row = try await db.rows(c, """
            WITH dc AS (DELETE FROM \(schema).run_checkpoints WHERE tenant_id = \(tenant) AND run_id = \(runID) AND id = ANY(\(doomed)::text[]) RETURNING 1),
                 dw AS (DELETE FROM \(schema).run_writes WHERE tenant_id = \(tenant) AND run_id = \(runID) AND checkpoint_id = ANY(\(doomed)::text[]) RETURNING 1)
            SELECT (SELECT count(*) FROM dc)::int8 AS checkpoints, (SELECT count(*) FROM dw)::int8 AS writes
            """)[0]
        let versions = try await db.rows(c, """
            DELETE FROM \(schema).run_channels rc WHERE rc.tenant_id = \(tenant) AND rc.run_id = \(runID) AND NOT EXISTS (
                SELECT 1 FROM \(schema).run_checkpoints c, json_each_text(c.channels) j
                WHERE c.tenant_id = rc.tenant_id AND c.run_id = rc.run_id AND c.namespace = rc.namespace AND j.key = rc.channel AND j.value::int = rc.version)
            RETURNING encode(rc.sha256, 'hex') AS sha256
            """).map { try $0["sha256"].decode(String.self) }
        var removed = RunRemoval()
        removed.checkpoints = try row["checkpoints"].decode(Int.self)
        removed.writes = try row["writes"].decode(Int.self)
        removed.channelVersions = versions.count
        removed.values = try await collectValues(c, tenant: tenant, candidates: Array(Set(versions)).sorted())
        return removed
    }

    public func deleteRun(id: String, tenant: String, actor: String, reason: String) async throws -> RunDeletionReceipt {
        try RunRules.validateName(actor, what: "actor")
        try MemoryRules.validateReason(reason)
        let now = instant()
        return try await db.inTenant(tenant) { c in
            let run = try await self.owned(c, id, tenant)
            guard !run.legalHold else { throw RunRules.held(id) }
            let removed = try await self.removeRun(c, tenant: tenant, runID: id, at: now)
            try await self.audit(c, .deleted, tenant: tenant, runID: id, actor: actor, reason: reason, removed: removed, at: now)
            return RunDeletionReceipt(tenant: tenant, deleted: [id], pruned: [], held: [], removed: removed, actor: actor, reason: reason, at: now)
        }
    }

    public func setLegalHold(id: String, tenant: String, held: Bool, actor: String, reason: String) async throws -> Run {
        try RunRules.validateName(actor, what: "actor")
        try MemoryRules.validateReason(reason)
        let now = instant()
        return try await db.inTenant(tenant) { c in
            var run = try await self.owned(c, id, tenant)
            guard run.legalHold != held else { return run }
            run.legalHold = held
            _ = try await self.db.rows(c, "UPDATE \(self.schema).runs SET legal_hold = \(held) WHERE tenant_id = \(tenant) AND id = \(id)")
            try await self.audit(c, held ? .holdSet : .holdCleared, tenant: tenant, runID: id, actor: actor, reason: reason, removed: RunRemoval(), at: now)
            return run
        }
    }

    public func sweep(tenant: String?, now: Date, actor: String, batchSize: Int) async throws -> RunDeletionReceipt {
        try RunRules.validateSweep(tenant: tenant, actor: actor, batchSize: batchSize)
        let now = RunRules.instant(now)
        var receipt = RunDeletionReceipt.sweep(tenant: tenant, actor: actor, at: now)
        // Every tenant in its own tenant-scoped transactions, so row-level security still applies.
        let tenants: [String]
        if let tenant {
            tenants = [tenant]
        } else {
            tenants = try await db.reading("") { c in
                try await self.db.rows(c, "SELECT tenant_id FROM \(self.schema).run_tenants ORDER BY tenant_id COLLATE \"C\"").map { try $0["tenant_id"].decode(String.self) }
            }
        }
        for t in tenants {
            let candidates = try await db.reading(t) { c in
                try await self.db.rows(c, """
                    SELECT id FROM \(self.schema).runs WHERE tenant_id = \(t) AND deleted_at IS NULL AND finished_at IS NOT NULL AND retention <> '{}'::jsonb
                    ORDER BY id COLLATE "C"
                    """).map { try $0["id"].decode(String.self) }
            }
            for start in stride(from: 0, to: candidates.count, by: batchSize) {
                let batch = Array(candidates[start..<min(candidates.count, start + batchSize)])
                let part = try await db.inTenant(t) { c -> RunDeletionReceipt in
                    var part = RunDeletionReceipt.sweep(tenant: tenant, actor: actor, at: now)
                    for id in batch {
                        guard let row = try await self.db.rows(c, self.lockRun(id, t)).first, try row["deleted_at"].decode(Date?.self) == nil else { continue }
                        let run = try Self.run(row)
                        var counts: [String: Int] = [:]
                        if run.retention.keepCheckpoints != nil {
                            for r in try await self.db.rows(c, "SELECT namespace, count(*)::int8 AS n FROM \(self.schema).run_checkpoints WHERE tenant_id = \(t) AND run_id = \(id) GROUP BY namespace") {
                                counts[try r["namespace"].decode(String.self)] = try r["n"].decode(Int.self)
                            }
                        }
                        switch RunRules.sweepAction(run, checkpointCounts: counts, now: now) {
                        case .keep: continue
                        case .held: part.held.append(id)
                        case .delete:
                            let removed = try await self.removeRun(c, tenant: t, runID: id, at: now)
                            try await self.audit(c, .expired, tenant: t, runID: id, actor: actor, reason: RunRules.sweepReason, removed: removed, at: now)
                            part.note(id, pruned: false, removed: removed)
                        case .prune(let keep):
                            let removed = try await self.prune(c, tenant: t, runID: id, keep: keep)
                            try await self.audit(c, .pruned, tenant: t, runID: id, actor: actor, reason: RunRules.sweepReason, removed: removed, at: now)
                            part.note(id, pruned: true, removed: removed)
                        }
                    }
                    return part
                }
                receipt.merge(part)
            }
        }
        return receipt.sorted
    }

    public func audit(tenant: String) async throws -> [RunAuditEvent] {
        try await db.reading(tenant) { c in
            try await self.db.rows(c, "SELECT sequence, run_id, action, actor, reason, removed, at FROM \(self.schema).run_audit WHERE tenant_id = \(tenant) ORDER BY sequence").map { r in
                let name = try r["action"].decode(String.self)
                guard let action = RunAuditEvent.Action(rawValue: name) else { throw EngramError(.storageFailure, "unknown run audit action '\(name)'") }
                return RunAuditEvent(sequence: try r["sequence"].decode(Int64.self), tenant: tenant, runID: try r["run_id"].decode(String.self), action: action,
                                     actor: try r["actor"].decode(String.self), reason: try r["reason"].decode(String.self),
                                     removed: try MemoryRules.fromStoredJSON(RunRemoval.self, r["removed"].decode(String.self)), at: try Self.date(r["at"]))
            }
        }
    }
}
