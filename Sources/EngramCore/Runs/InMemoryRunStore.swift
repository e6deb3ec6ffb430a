import Foundation

/// The reference run store: everything in memory. Its behaviour defines Engram's run semantics; the other
/// stores must match it (the conformance suite checks).
public actor InMemoryRunStore: RunStore {
    struct Key: Hashable {
        var tenant: String
        var run: String
    }

    private var runs: [Key: Run] = [:]
    private var tombstones: Set<Key> = []
    /// Per run, in the order they were written.
    private var checkpoints: [Key: [CheckpointInfo]] = [:]
    private var heads: [Key: [String: String]] = [:]
    /// Per run: the value hash of each channel version.
    private var versions: [Key: [RunRules.VersionKey: String]] = [:]
    /// Per tenant: values by hash.
    private var values: [String: [String: String]] = [:]
    /// Per run and checkpoint.
    private var writes: [Key: [String: [PendingWrite]]] = [:]
    private var logs: [Key: [RunEvent]] = [:]
    private var auditLog: [String: [RunAuditEvent]] = [:]
    private let clock: @Sendable () -> Date
    public nonisolated let limits: RunLimits

    public init(limits: RunLimits = .standard, now: @escaping @Sendable () -> Date = { Date() }) {
        self.limits = limits
        self.clock = now
    }

    /// Now, to the millisecond (what every store keeps).
    private func instant() -> Date { RunRules.instant(clock()) }

    private func owned(_ id: String, _ tenant: String) throws -> Run {
        guard let run = runs[Key(tenant: tenant, run: id)] else {
            throw tombstones.contains(Key(tenant: tenant, run: id)) ? RunRules.deleted(id) : RunRules.notFound(id)
        }
        return run
    }

    private func append(_ draft: RunEventDraft, to key: Key, actor: String, at: Date) -> RunEvent {
        let e = RunEvent(sequence: Int64((logs[key]?.count ?? 0) + 1), tenant: key.tenant, runID: key.run, kind: draft.kind, step: draft.step, taskID: draft.taskID,
                         detail: draft.detail, actor: actor, at: at)
        logs[key, default: []].append(e)
        return e
    }

    private func audit(_ action: RunAuditEvent.Action, _ key: Key, actor: String, reason: String, removed: RunRemoval, at: Date) {
        let n = Int64((auditLog[key.tenant]?.count ?? 0) + 1)
        auditLog[key.tenant, default: []].append(RunAuditEvent(sequence: n, tenant: key.tenant, runID: key.run, action: action, actor: actor, reason: reason, removed: removed, at: at))
    }

    public func startRun(_ draft: RunDraft, actor: String) throws -> Run {
        try RunRules.validate(draft, actor: actor)
        let run = RunRules.newRun(draft, now: instant())
        let key = Key(tenant: run.tenant, run: run.id)
        guard runs[key] == nil, !tombstones.contains(key) else { throw RunRules.idTaken(run.id) }
        runs[key] = run
        _ = append(RunEventDraft(kind: .started), to: key, actor: actor, at: run.createdAt)
        return run
    }

    public func run(id: String, tenant: String) -> Run? {
        runs[Key(tenant: tenant, run: id)]
    }

    public func runs(_ request: RunListRequest) throws -> RunPage {
        try RunRules.validate(request)
        let after = try request.cursor.map(RunRules.parseCursor)
        let selected = runs.values.filter { r in
            r.tenant == request.tenant && (request.status.map { r.status == $0 } ?? true) && (request.agent.map { r.agent == $0 } ?? true)
                && (after.map { MetadataValue.milliseconds(r.createdAt) > $0.0 || (MetadataValue.milliseconds(r.createdAt) == $0.0 && r.id > $0.1) } ?? true)
        }.sorted(by: RunRules.listsBefore)
        let page = Array(selected.prefix(request.limit))
        return RunPage(runs: page, nextCursor: selected.count > page.count ? page.last.map(RunRules.cursor(after:)) : nil)
    }

    public func acquireLease(runID: String, tenant: String, owner: String, duration: Duration) throws -> RunLease {
        var run = try owned(runID, tenant)
        let lease = try RunRules.acquire(run, owner: owner, duration: duration, now: instant())
        run.lease = lease
        runs[Key(tenant: tenant, run: runID)] = run
        return lease
    }

    public func renewLease(_ lease: RunLease, duration: Duration) throws -> RunLease {
        var run = try owned(lease.runID, lease.tenant)
        let renewed = try RunRules.renewed(lease, of: run, duration: duration, now: instant())
        run.lease = renewed
        runs[Key(tenant: lease.tenant, run: lease.runID)] = run
        return renewed
    }

    public func releaseLease(_ lease: RunLease) throws {
        var run = try owned(lease.runID, lease.tenant)
        try RunRules.checkCurrent(lease, of: run)
        run.lease = RunRules.released(lease, now: instant())
        runs[Key(tenant: lease.tenant, run: lease.runID)] = run
    }

    private func head(_ key: Key, _ namespace: String) -> CheckpointInfo? {
        guard let id = heads[key]?[namespace] else { return nil }
        return checkpoints[key]?.last { $0.id == id }
    }

    public func putCheckpoint(_ draft: CheckpointDraft, lease: RunLease) throws -> CheckpointInfo {
        try RunRules.validate(draft, limits: limits)
        let run = try owned(draft.runID, draft.tenant)
        let key = Key(tenant: run.tenant, run: run.id)
        let plan = try RunRules.plan(draft, lease: lease, run: run, head: head(key, draft.namespace), limits: limits, now: instant())
        for v in plan.values { values[run.tenant, default: [:]][v.sha256] = v.json }
        for (channel, version) in plan.newVersions {
            versions[key, default: [:]][RunRules.VersionKey(namespace: draft.namespace, channel: channel, version: version.version)] = version.sha256
        }
        checkpoints[key, default: []].append(plan.info)
        heads[key, default: [:]][draft.namespace] = plan.info.id
        runs[key]?.updatedAt = plan.info.createdAt
        return plan.info
    }

    public func putWrites(_ writes: [TaskWrite], taskID: String, checkpointID: String, lease: RunLease) throws -> Int {
        try RunRules.validate(writes, taskID: taskID, checkpointID: checkpointID, limits: limits)
        let run = try owned(lease.runID, lease.tenant)
        let key = Key(tenant: run.tenant, run: run.id)
        guard let checkpoint = checkpoints[key]?.first(where: { $0.id == checkpointID }) else { throw RunRules.checkpointNotFound(checkpointID, runID: run.id) }
        let recorded = (self.writes[key]?[checkpointID] ?? []).filter { $0.taskID == taskID }
        let planned = try RunRules.planWrites(writes, taskID: taskID, at: checkpoint, headID: heads[key]?[checkpoint.namespace], lease: lease, run: run,
                                              recorded: recorded, limits: limits)
        self.writes[key, default: [:]][checkpointID, default: []] += planned.map(\.write)
        return planned.count
    }

    public func checkpoint(runID: String, tenant: String, namespace: String, id: String?) throws -> Checkpoint? {
        try RunRules.validateNamespace(namespace)
        let key = Key(tenant: tenant, run: runID)
        guard runs[key] != nil else { return nil }
        let found = id.map { id in checkpoints[key]?.first { $0.id == id && $0.namespace == namespace } } ?? head(key, namespace)
        guard let info = found else { return nil }
        var state: [String: JSONValue] = [:]
        for (channel, version) in info.channels {
            guard let sha = versions[key]?[RunRules.VersionKey(namespace: namespace, channel: channel, version: version.version)], let json = values[tenant]?[sha] else {
                throw EngramError(.storageFailure, "the value of channel \(channel) version \(version.version) of checkpoint \(info.id) is missing")
            }
            state[channel] = try RunRules.parseStored(json, what: "channel \(channel)")
        }
        let pending = RunRules.ordered(writes[key]?[info.id] ?? [])
        return Checkpoint(info: info, state: state, pendingWrites: pending, remainingTasks: RunRules.remainingTasks(info.tasks, writes: pending))
    }

    public func history(runID: String, tenant: String, namespace: String, limit: Int, before: Int?) throws -> [CheckpointInfo] {
        try RunRules.validateNamespace(namespace)
        try RunRules.validateLimit(limit)
        let all = checkpoints[Key(tenant: tenant, run: runID)] ?? []
        return Array(all.filter { c in c.namespace == namespace && (before.map { c.step < $0 } ?? true) }.sorted { $0.step > $1.step }.prefix(limit))
    }

    public func setStatus(_ status: RunStatus, lease: RunLease) throws -> Run {
        let run = try owned(lease.runID, lease.tenant)
        try RunRules.checkWritable(run, lease: lease)
        let now = instant()
        let changed = RunRules.withStatus(run, status, now: now)
        let key = Key(tenant: run.tenant, run: run.id)
        runs[key] = changed
        _ = append(RunRules.statusEvent(status), to: key, actor: lease.owner, at: now)
        return changed
    }

    public func cancel(runID: String, tenant: String, actor: String, reason: String) throws -> Run {
        try RunRules.validateName(actor, what: "actor")
        try MemoryRules.validateReason(reason)
        let run = try owned(runID, tenant)
        let now = instant()
        let cancelled = try RunRules.cancelled(run, now: now)
        let key = Key(tenant: tenant, run: runID)
        runs[key] = cancelled
        _ = append(RunRules.statusEvent(.cancelled, reason: reason), to: key, actor: actor, at: now)
        audit(.cancelled, key, actor: actor, reason: reason, removed: RunRemoval(), at: now)
        return cancelled
    }

    public func record(_ event: RunEventDraft, lease: RunLease) throws -> RunEvent {
        try RunRules.validate(event)
        let run = try owned(lease.runID, lease.tenant)
        try RunRules.checkCurrent(lease, of: run)
        return append(event, to: Key(tenant: run.tenant, run: run.id), actor: lease.owner, at: instant())
    }

    public func events(runID: String, tenant: String) -> [RunEvent] {
        logs[Key(tenant: tenant, run: runID)] ?? []
    }

    public func fork(runID: String, tenant: String, from checkpointID: String, newRunID: String?, actor: String) throws -> Run {
        try RunRules.validateName(actor, what: "actor")
        if let id = newRunID { try RunRules.validateName(id, what: "run id") }
        let source = try owned(runID, tenant)
        let sourceKey = Key(tenant: tenant, run: runID)
        guard let at = checkpoints[sourceKey]?.first(where: { $0.id == checkpointID }) else { throw RunRules.checkpointNotFound(checkpointID, runID: runID) }
        let now = instant()
        let (run, first) = RunRules.fork(source, at: at, newRunID: newRunID, now: now)
        let key = Key(tenant: tenant, run: run.id)
        guard runs[key] == nil, !tombstones.contains(key) else { throw RunRules.idTaken(run.id) }
        runs[key] = run
        for (channel, version) in first.channels {
            let k = RunRules.VersionKey(namespace: first.namespace, channel: channel, version: version.version)
            versions[key, default: [:]][k] = versions[sourceKey]?[k]
        }
        checkpoints[key] = [first]
        heads[key] = [first.namespace: first.id]
        _ = append(RunRules.forkedEvent(from: run.forkedFrom!), to: key, actor: actor, at: now)
        return run
    }

    /// Removes the run's rows (all of them, or the given checkpoints with what only they refer to).
    private func remove(_ key: Key, checkpoints selected: Set<String>?) -> RunRemoval {
        var removed = RunRemoval()
        let all = checkpoints[key] ?? []
        let remaining = selected.map { s in all.filter { !s.contains($0.id) } } ?? []
        removed.checkpoints = all.count - remaining.count
        let referenced = RunRules.referencedVersions(remaining)
        let oldVersions = versions[key] ?? [:]
        let keptVersions = oldVersions.filter { referenced.contains($0.key) }
        removed.channelVersions = oldVersions.count - keptVersions.count
        let oldWrites = writes[key] ?? [:]
        let keptWrites = oldWrites.filter { id, _ in remaining.contains { $0.id == id } }
        removed.writes = oldWrites.values.map(\.count).reduce(0, +) - keptWrites.values.map(\.count).reduce(0, +)
        if selected == nil {
            removed.events = logs[key]?.count ?? 0
            checkpoints[key] = nil; heads[key] = nil; versions[key] = nil; writes[key] = nil; logs[key] = nil
        } else {
            checkpoints[key] = remaining; versions[key] = keptVersions; writes[key] = keptWrites
        }
        // Values no channel version of the tenant refers to any more.
        let used = Set(versions.filter { $0.key.tenant == key.tenant }.values.flatMap(\.values))
        let before = values[key.tenant]?.count ?? 0
        values[key.tenant] = values[key.tenant]?.filter { used.contains($0.key) }
        removed.values = before - (values[key.tenant]?.count ?? 0)
        return removed
    }

    public func deleteRun(id: String, tenant: String, actor: String, reason: String) throws -> RunDeletionReceipt {
        try RunRules.validateName(actor, what: "actor")
        try MemoryRules.validateReason(reason)
        let run = try owned(id, tenant)
        guard !run.legalHold else { throw RunRules.held(id) }
        let key = Key(tenant: tenant, run: id)
        let now = instant()
        let removed = remove(key, checkpoints: nil)
        runs[key] = nil
        tombstones.insert(key)
        audit(.deleted, key, actor: actor, reason: reason, removed: removed, at: now)
        return RunDeletionReceipt(tenant: tenant, deleted: [id], pruned: [], held: [], removed: removed, actor: actor, reason: reason, at: now)
    }

    public func setLegalHold(id: String, tenant: String, held: Bool, actor: String, reason: String) throws -> Run {
        try RunRules.validateName(actor, what: "actor")
        try MemoryRules.validateReason(reason)
        var run = try owned(id, tenant)
        guard run.legalHold != held else { return run }
        run.legalHold = held
        let key = Key(tenant: tenant, run: id)
        runs[key] = run
        audit(held ? .holdSet : .holdCleared, key, actor: actor, reason: reason, removed: RunRemoval(), at: instant())
        return run
    }

    public func sweep(tenant: String?, now: Date, actor: String, batchSize: Int) throws -> RunDeletionReceipt {
        try RunRules.validateSweep(tenant: tenant, actor: actor, batchSize: batchSize)
        let now = RunRules.instant(now)
        var receipt = RunDeletionReceipt.sweep(tenant: tenant, actor: actor, at: now)
        for key in runs.keys.sorted(by: { ($0.tenant, $0.run) < ($1.tenant, $1.run) }) where tenant.map({ key.tenant == $0 }) ?? true {
            let run = runs[key]!
            let counts = Dictionary(grouping: checkpoints[key] ?? [], by: \.namespace).mapValues(\.count)
            switch RunRules.sweepAction(run, checkpointCounts: counts, now: now) {
            case .keep: continue
            case .held: receipt.held.append(key.run)
            case .delete:
                let removed = remove(key, checkpoints: nil)
                runs[key] = nil
                tombstones.insert(key)
                audit(.expired, key, actor: actor, reason: RunRules.sweepReason, removed: removed, at: now)
                receipt.note(key.run, pruned: false, removed: removed)
            case .prune(let keep):
                let all = (checkpoints[key] ?? []).map { (id: $0.id, namespace: $0.namespace, step: $0.step) }
                let removed = remove(key, checkpoints: Set(RunRules.pruned(all, keep: keep)))
                audit(.pruned, key, actor: actor, reason: RunRules.sweepReason, removed: removed, at: now)
                receipt.note(key.run, pruned: true, removed: removed)
            }
        }
        return receipt.sorted
    }

    public func audit(tenant: String) -> [RunAuditEvent] {
        auditLog[tenant] ?? []
    }
}
