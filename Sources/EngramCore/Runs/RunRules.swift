import Foundation

/// What every run store checks and decides the same way: validation (before anything is written), ids,
/// leases and fencing, the checkpoint plan (which channels changed, which values to store), task writes,
/// remaining tasks and retention. Backends read the facts in their transaction, ask these rules, and
/// write what they return.
public enum RunRules {
    /// The most runs one ``RunStore/runs(_:)`` page or checkpoints one history returns.
    public static let maxLimit = 1_000
    /// The largest metadata of a run or a checkpoint, and the largest detail of an event, as canonical JSON.
    public static let maxMetadataBytes = 65_536
    /// The longest lease a writer may take at once.
    public static let maxLease: Duration = .seconds(86_400)

    // MARK: Time

    /// `date` to the millisecond, the precision every store keeps.
    public static func instant(_ date: Date) -> Date {
        Date(timeIntervalSince1970: Double(MetadataValue.milliseconds(date)) / 1000)
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    // MARK: Ids and names

    /// A new random run id: `run_` and 24 hex digits.
    public static func newRunID() -> String { "run_" + randomHex() }
    /// A new random checkpoint id: `cp_` and 24 hex digits.
    public static func newCheckpointID() -> String { "cp_" + randomHex() }

    static func randomHex() -> String {
        var g = SystemRandomNumberGenerator()
        let a = g.next() as UInt64, b = g.next() as UInt32
        return MemoryRules.hex(a, 16) + MemoryRules.hex(UInt64(b), 8)
    }

    /// Run, checkpoint and task ids, owners, agents and channel names: 1–256 characters, no control
    /// characters.
    public static func validateName(_ value: String, what: String) throws {
        try MemoryRules.validateLabel(value, what: what)
    }

    /// Namespaces: "" (the run's own chain) or a name.
    public static func validateNamespace(_ namespace: String) throws {
        if !namespace.isEmpty { try validateName(namespace, what: "namespace") }
    }

    public static func validate(_ draft: RunDraft, actor: String) throws {
        try MemoryRules.validateTenant(draft.tenant)
        if let id = draft.id { try validateName(id, what: "run id") }
        try validateName(draft.agent, what: "agent")
        try validateName(actor, what: "actor")
        try MemoryRules.validateMetadataSize(draft.metadata, context: "run metadata")
        try validate(draft.retention)
    }

    public static func validate(_ retention: RunRetention) throws {
        if let s = retention.deleteAfterSeconds, s < 0 { throw EngramError(.invalidInput, "a run's delete-after time must not be negative, got \(s) s") }
        if let n = retention.keepCheckpoints, n < 1 { throw EngramError(.invalidInput, "a run must keep at least 1 checkpoint per namespace, got \(n)") }
    }

    public static func validate(_ request: RunListRequest) throws {
        try MemoryRules.validateTenant(request.tenant)
        if let agent = request.agent { try validateName(agent, what: "agent") }
        try validateLimit(request.limit)
    }

    public static func validateLimit(_ limit: Int) throws {
        guard (1...maxLimit).contains(limit) else { throw EngramError(.invalidInput, "limit must be 1 to \(maxLimit), got \(limit)") }
    }

    static func validate(_ duration: Duration, what: String) throws {
        guard duration > .zero, duration <= maxLease else {
            throw EngramError(.invalidInput, "\(what) must be more than 0 s and at most \(maxLease.components.seconds) s, got \(duration)")
        }
    }

    // MARK: Errors worded once

    public static func notFound(_ runID: String) -> EngramError {
        EngramError(.notFound, "run \(runID) does not exist")
    }

    public static func deleted(_ runID: String) -> EngramError {
        EngramError(.notFound, "run \(runID) was deleted; it takes no more writes and its id is not used again")
    }

    public static func held(_ runID: String) -> EngramError {
        EngramError(.legalHold, "run \(runID) is under legal hold")
    }

    public static func idTaken(_ runID: String) -> EngramError {
        EngramError(.conflict, "run id \(runID) is taken (by a run of this or an earlier time: a deleted run's id is not used again)")
    }

    public static func checkpointNotFound(_ id: String, runID: String) -> EngramError {
        EngramError(.notFound, "checkpoint \(id) does not exist in run \(runID)")
    }

    // MARK: Values

    /// A value as stored: its canonical JSON (object keys sorted), that text's SHA-256 and size.
    public struct StoredValue: Sendable, Hashable {
        public var json: String
        public var sha256: String
        public var size: Int { json.utf8.count }

        public init(_ value: JSONValue) {
            json = value.serialized(sortedKeys: true)
            sha256 = SHA256Hex.hash(json)
        }
    }

    /// The value, refused when its canonical JSON is larger than `limits` allow.
    public static func stored(_ value: JSONValue, limits: RunLimits, what: String) throws -> StoredValue {
        let v = StoredValue(value)
        guard v.size <= limits.maxValueBytes else {
            throw EngramError(.invalidInput, "\(what) is \(v.size) bytes of JSON, more than the \(limits.maxValueBytes) a run store keeps (larger values need an artifact store)")
        }
        return v
    }

    /// A stored value read back.
    public static func parseStored(_ json: String, what: String) throws -> JSONValue {
        do {
            return try JSONValue.parse(json)
        } catch {
            throw EngramError(.storageFailure, "the stored value of \(what) is not JSON (\(error))", underlying: error)
        }
    }

    // MARK: Leases

    /// The lease `owner` gets on `run` at `now`.
    /// - Throws: `conflict` while another owner holds an unexpired lease; `conflict` for a finished run.
    public static func acquire(_ run: Run, owner: String, duration: Duration, now: Date) throws -> RunLease {
        try validateName(owner, what: "lease owner")
        try validate(duration, what: "a lease")
        guard !run.status.isFinished else { throw EngramError(.conflict, "run \(run.id) is \(run.status.rawValue); it takes no writer (fork it to go on)") }
        if let current = run.lease, current.owner != owner, current.expiresAt > now {
            throw EngramError(.conflict, "run \(run.id) is leased by \(current.owner) until \(MetadataValue.canonicalDateString(current.expiresAt))")
        }
        return RunLease(tenant: run.tenant, runID: run.id, owner: owner, token: (run.lease?.token ?? 0) + 1, expiresAt: instant(now.addingTimeInterval(seconds(duration))))
    }

    /// Checks that `lease` is the run's current one (its fencing token and owner). An expired lease
    /// nobody took over is still current: fencing, not time, decides.
    /// - Throws: `superseded` when another writer took over or the run was cancelled.
    public static func checkCurrent(_ lease: RunLease, of run: Run) throws {
        guard lease.tenant == run.tenant, lease.runID == run.id, let current = run.lease, current.token == lease.token, current.owner == lease.owner else {
            throw EngramError(.superseded, "the lease of \(lease.owner) on run \(run.id) (token \(lease.token)) is no longer current: "
                + (run.lease.map { "\($0.owner) holds token \($0.token)" } ?? "the run has no writer"))
        }
    }

    /// `lease` extended from `now`.
    public static func renewed(_ lease: RunLease, of run: Run, duration: Duration, now: Date) throws -> RunLease {
        try validate(duration, what: "a lease")
        try checkCurrent(lease, of: run)
        var l = lease
        l.expiresAt = instant(now.addingTimeInterval(seconds(duration)))
        return l
    }

    /// The lease given up at `now`: nobody holds it (its former owner no longer writes) and anyone may take
    /// it, with the next token.
    public static func released(_ lease: RunLease, now: Date) -> RunLease {
        RunLease(tenant: lease.tenant, runID: lease.runID, owner: "", token: lease.token, expiresAt: now)
    }

    /// `run` cancelled from outside at `now`: final, and its writer fenced out (the token moves on).
    /// - Throws: `conflict` when the run has finished already.
    public static func cancelled(_ run: Run, now: Date) throws -> Run {
        guard !run.status.isFinished else { throw EngramError(.conflict, "run \(run.id) is \(run.status.rawValue) already") }
        var r = withStatus(run, .cancelled, now: now)
        r.lease = RunLease(tenant: run.tenant, runID: run.id, owner: "", token: (run.lease?.token ?? 0) + 1, expiresAt: now)
        return r
    }

    /// Checks a writer may still write: current lease and a run that is not finished.
    public static func checkWritable(_ run: Run, lease: RunLease) throws {
        try checkCurrent(lease, of: run)
        guard !run.status.isFinished else { throw EngramError(.conflict, "run \(run.id) is \(run.status.rawValue); it takes no more checkpoints") }
    }

    // MARK: Checkpoints

    /// What a store writes for one checkpoint.
    public struct CheckpointPlan: Sendable {
        /// The new checkpoint (it becomes its namespace's latest).
        public var info: CheckpointInfo
        /// Channels whose version changed (or that are new), with their versions.
        public var newVersions: [(channel: String, version: ChannelVersion)]
        /// The values of those channels, one per distinct content; the store keeps each once (it may
        /// already hold it).
        public var values: [StoredValue]
    }

    /// Validates a draft before anything is read.
    public static func validate(_ draft: CheckpointDraft, limits: RunLimits) throws {
        try MemoryRules.validateTenant(draft.tenant)
        try validateName(draft.runID, what: "run id")
        try validateNamespace(draft.namespace)
        if let p = draft.parentID { try validateName(p, what: "parent checkpoint id") }
        guard draft.step >= -1 else { throw EngramError(.invalidInput, "a checkpoint's step must be -1 or more, got \(draft.step)") }
        guard draft.state.count <= limits.maxChannels else {
            throw EngramError(.invalidInput, "a checkpoint holds at most \(limits.maxChannels) channels, got \(draft.state.count)")
        }
        for name in draft.state.keys { try validateName(name, what: "channel name") }
        guard draft.tasks.count <= limits.maxTasks else { throw EngramError(.invalidInput, "a checkpoint plans at most \(limits.maxTasks) tasks, got \(draft.tasks.count)") }
        for t in draft.tasks { try validateName(t, what: "task id") }
        if Set(draft.tasks).count != draft.tasks.count { throw EngramError(.invalidInput, "a checkpoint's task ids must be distinct") }
        try MemoryRules.validateMetadataSize(draft.metadata, context: "checkpoint metadata")
    }

    /// The checkpoint `draft` makes after `head` (the namespace's latest, read in the writing transaction).
    /// - Throws: `superseded` when the lease is not current or `head` is not the draft's parent;
    ///   `conflict` for a finished run; `invalid_input` for a value over the limit or a step that does not
    ///   follow the parent's.
    public static func plan(_ draft: CheckpointDraft, lease: RunLease, run: Run, head: CheckpointInfo?, limits: RunLimits, now: Date) throws -> CheckpointPlan {
        try checkWritable(run, lease: lease)
        guard draft.parentID == head?.id else {
            throw EngramError(.superseded, "run \(run.id)\(draft.namespace.isEmpty ? "" : " namespace \(draft.namespace)") has moved on: its latest checkpoint is "
                + (head.map { "\($0.id) (step \($0.step))" } ?? "none") + ", not " + (draft.parentID ?? "none"))
        }
        return try plan(draft, after: head, limits: limits, now: now)
    }

    /// The checkpoint `draft` makes after `head`, for a store that checks the lease and the parent itself
    /// in the statement that writes it (and asks ``plan(_:lease:run:head:limits:now:)`` when that check
    /// fails, for the error): which channels changed, their versions and values.
    /// - Throws: `invalid_input` for a value over the limit or a step that does not follow the parent's.
    public static func plan(_ draft: CheckpointDraft, after head: CheckpointInfo?, limits: RunLimits, now: Date) throws -> CheckpointPlan {
        if let head, draft.step <= head.step {
            throw EngramError(.invalidInput, "step \(draft.step) does not follow the parent's step \(head.step)")
        }
        var channels: [String: ChannelVersion] = [:]
        var newVersions: [(channel: String, version: ChannelVersion)] = []
        var values: [String: StoredValue] = [:]
        for (name, value) in draft.state.sorted(by: { $0.key < $1.key }) {
            let v = try stored(value, limits: limits, what: "channel \(name)")
            if let old = head?.channels[name], old.sha256 == v.sha256 {
                channels[name] = old
                continue
            }
            let version = ChannelVersion(version: (head?.channels[name]?.version ?? 0) + 1, sha256: v.sha256, size: v.size)
            channels[name] = version
            newVersions.append((name, version))
            values[v.sha256] = v
        }
        let info = CheckpointInfo(id: newCheckpointID(), tenant: draft.tenant, runID: draft.runID, namespace: draft.namespace, parentID: draft.parentID, step: draft.step,
                                  channels: channels, tasks: draft.tasks, metadata: draft.metadata, createdAt: now)
        return CheckpointPlan(info: info, newVersions: newVersions, values: values.values.sorted { $0.sha256 < $1.sha256 })
    }

    // MARK: Task writes

    /// The writes to record for a task from checkpoint `at` (read in the writing transaction), given the
    /// task's writes already recorded there. Empty when the same writes are recorded already.
    /// - Throws: `superseded` (lease, or `at` is no longer its namespace's latest), `conflict` (other
    ///   writes recorded for the task), `invalid_input`.
    public static func planWrites(_ writes: [TaskWrite], taskID: String, at checkpoint: CheckpointInfo, headID: String?, lease: RunLease, run: Run,
                                  recorded: [PendingWrite], limits: RunLimits) throws -> [(write: PendingWrite, value: StoredValue)] {
        try checkWritable(run, lease: lease)
        guard checkpoint.id == headID else {
            throw EngramError(.superseded, "checkpoint \(checkpoint.id) of run \(run.id) is no longer the latest (\(headID ?? "none") is): its tasks' writes are refused")
        }
        let planned = try writes.enumerated().map { i, w in
            (write: PendingWrite(taskID: taskID, index: i, channel: w.channel, value: w.value), value: try stored(w.value, limits: limits, what: "write \(i) of task \(taskID)"))
        }
        if recorded.isEmpty { return planned }
        let same = recorded.count == planned.count && zip(recorded.sorted { $0.index < $1.index }, planned).allSatisfy {
            $0.channel == $1.write.channel && StoredValue($0.value).sha256 == $1.value.sha256
        }
        guard same else { throw EngramError(.conflict, "task \(taskID) recorded other writes from checkpoint \(checkpoint.id) already") }
        return []
    }

    public static func validate(_ writes: [TaskWrite], taskID: String, checkpointID: String, limits: RunLimits) throws {
        try validateName(taskID, what: "task id")
        try validateName(checkpointID, what: "checkpoint id")
        guard !writes.isEmpty else {
            throw EngramError(.invalidInput, "task \(taskID) has no writes: a finished task records at least one (write null to a channel if it has no output)")
        }
        guard writes.count <= limits.maxWritesPerTask else { throw EngramError(.invalidInput, "a task records at most \(limits.maxWritesPerTask) writes, got \(writes.count)") }
        for w in writes { try validateName(w.channel, what: "channel name") }
    }

    /// The checkpoint's tasks that recorded no writes, in the checkpoint's order.
    public static func remainingTasks(_ tasks: [String], writes: [PendingWrite]) -> [String] {
        let done = Set(writes.map(\.taskID))
        return tasks.filter { !done.contains($0) }
    }

    /// Pending writes in their reading order: by task, then index.
    public static func ordered(_ writes: [PendingWrite]) -> [PendingWrite] {
        writes.sorted { ($0.taskID, $0.index) < ($1.taskID, $1.index) }
    }

    // MARK: Status and events

    /// `run` with `status` at `now`; a final status ends the lease (the token stays, so the former
    /// writer is fenced out).
    public static func withStatus(_ run: Run, _ status: RunStatus, now: Date) -> Run {
        var r = run
        r.status = status
        r.updatedAt = now
        if status.isFinished {
            r.finishedAt = now
            if var lease = r.lease {
                lease.expiresAt = min(lease.expiresAt, now)
                lease.owner = ""
                r.lease = lease
            }
        }
        return r
    }

    /// The event the store writes for a status change.
    public static func statusEvent(_ status: RunStatus, reason: String? = nil) -> RunEventDraft {
        var detail: [(String, JSONValue)] = [("status", .string(status.rawValue))]
        if let reason { detail.append(("reason", .string(reason))) }
        return RunEventDraft(kind: .status, detail: .object(detail))
    }

    public static func validate(_ event: RunEventDraft) throws {
        let ok = !event.kind.rawValue.isEmpty && event.kind.rawValue.count <= 64
            && event.kind.rawValue.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || $0 == "_" }
        guard ok else { throw EngramError(.invalidInput, "an event kind is 1 to 64 lowercase letters and _, got '\(event.kind.rawValue)'") }
        if let t = event.taskID { try validateName(t, what: "task id") }
        if let d = event.detail {
            let size = d.serialized(sortedKeys: true).utf8.count
            guard size <= maxMetadataBytes else { throw EngramError(.invalidInput, "an event's detail is \(size) bytes of JSON, more than \(maxMetadataBytes)") }
        }
    }

    // MARK: Retention

    /// The reason sweeps record.
    public static let sweepReason = "retention"

    /// The most runs one sweep transaction handles.
    public static let maxSweepBatch = 10_000

    public static func validateSweep(tenant: String?, actor: String, batchSize: Int) throws {
        if let tenant { try MemoryRules.validateTenant(tenant) }
        try validateName(actor, what: "actor")
        guard (1...maxSweepBatch).contains(batchSize) else { throw EngramError(.invalidInput, "a sweep's batch size must be 1 to \(maxSweepBatch), got \(batchSize)") }
    }

    /// What a sweep at `now` does to a run.
    public enum SweepAction: Sendable, Hashable {
        case keep
        /// Kept because of the legal hold (it would otherwise be deleted or pruned).
        case held
        case delete
        /// Keep the newest `keep` checkpoints of each namespace.
        case prune(keep: Int)
    }

    /// `checkpointCounts`: how many checkpoints each namespace of the run holds.
    public static func sweepAction(_ run: Run, checkpointCounts: [String: Int], now: Date) -> SweepAction {
        guard run.status.isFinished, let finished = run.finishedAt else { return .keep }
        var action = SweepAction.keep
        if let s = run.retention.deleteAfterSeconds, finished.addingTimeInterval(Double(s)) <= now {
            action = .delete
        } else if let keep = run.retention.keepCheckpoints, checkpointCounts.values.contains(where: { $0 > keep }) {
            action = .prune(keep: keep)
        }
        return action != .keep && run.legalHold ? .held : action
    }

    /// The checkpoints a pruning deletes: all but the newest `keep` (by step) of each namespace.
    public static func pruned(_ checkpoints: [(id: String, namespace: String, step: Int)], keep: Int) -> [String] {
        Dictionary(grouping: checkpoints, by: \.namespace).values.flatMap { chain in
            chain.sorted { $0.step > $1.step }.dropFirst(keep).map(\.id)
        }.sorted()
    }

    /// The channel versions the remaining checkpoints refer to.
    public static func referencedVersions(_ remaining: [CheckpointInfo]) -> Set<VersionKey> {
        Set(remaining.flatMap { c in c.channels.map { VersionKey(namespace: c.namespace, channel: $0.key, version: $0.value.version) } })
    }

    /// A channel version of one run.
    public struct VersionKey: Sendable, Hashable {
        public var namespace: String
        public var channel: String
        public var version: Int

        public init(namespace: String, channel: String, version: Int) {
            self.namespace = namespace
            self.channel = channel
            self.version = version
        }
    }

    // MARK: Stored forms (the same text on every SQL backend)

    /// A checkpoint's channel versions as stored: `{"channel": version}`, keys sorted.
    public static func storedVersions(_ channels: [String: ChannelVersion]) -> String {
        JSONValue.object(channels.sorted { $0.key < $1.key }.map { ($0.key, .int(Int64($0.value.version))) }).serialized(sortedKeys: true)
    }

    /// A checkpoint's tasks as stored: a JSON array of strings.
    public static func storedTasks(_ tasks: [String]) -> String {
        JSONValue.array(tasks.map { .string($0) }).serialized()
    }

    public static func parseTasks(_ json: String) throws -> [String] {
        guard case .array(let items) = try parseStored(json, what: "a checkpoint's tasks") else {
            throw EngramError(.storageFailure, "a checkpoint's stored tasks are not a JSON array")
        }
        return try items.map {
            guard case .string(let s) = $0 else { throw EngramError(.storageFailure, "a checkpoint's stored task is not a string") }
            return s
        }
    }

    // MARK: Listing

    public static func cursor(after run: Run) -> String {
        "\(MetadataValue.milliseconds(run.createdAt)):\(run.id)"
    }

    public static func parseCursor(_ cursor: String) throws -> (Int64, String) {
        let parts = cursor.split(separator: ":", maxSplits: 1)
        guard parts.count == 2, let ms = Int64(parts[0]), !parts[1].isEmpty else {
            throw EngramError(.invalidInput, "not a run list cursor: '\(cursor)'")
        }
        return (ms, String(parts[1]))
    }

    public static func listsBefore(_ a: Run, _ b: Run) -> Bool {
        let am = MetadataValue.milliseconds(a.createdAt), bm = MetadataValue.milliseconds(b.createdAt)
        return am != bm ? am < bm : a.id < b.id
    }

    /// The run `draft` starts.
    public static func newRun(_ draft: RunDraft, now: Date) -> Run {
        Run(id: draft.id ?? newRunID(), tenant: draft.tenant, agent: draft.agent, status: .running, metadata: draft.metadata, createdAt: now, updatedAt: now,
            finishedAt: nil, retention: draft.retention, legalHold: draft.legalHold, forkedFrom: nil, lease: nil)
    }

    /// The run a fork of `checkpoint` of `source` starts, and its first checkpoint (same state, no parent).
    public static func fork(_ source: Run, at checkpoint: CheckpointInfo, newRunID: String?, now: Date) -> (Run, CheckpointInfo) {
        let run = Run(id: newRunID ?? self.newRunID(), tenant: source.tenant, agent: source.agent, status: .running, metadata: source.metadata,
                      createdAt: now, updatedAt: now, finishedAt: nil, retention: source.retention, legalHold: false,
                      forkedFrom: CheckpointRef(runID: source.id, checkpointID: checkpoint.id), lease: nil)
        var first = checkpoint
        first.id = newCheckpointID()
        first.runID = run.id
        first.parentID = nil
        first.createdAt = now
        return (run, first)
    }

    /// The event a forked run's log starts with.
    public static func forkedEvent(from ref: CheckpointRef) -> RunEventDraft {
        RunEventDraft(kind: .forked, detail: .object([("run_id", .string(ref.runID)), ("checkpoint_id", .string(ref.checkpointID))]))
    }
}

