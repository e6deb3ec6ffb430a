import Foundation

/// Where an agent run stands. `completed`, `failed` and `cancelled` are final: a finished run takes no
/// more checkpoints (fork it to go on from one of them).
public enum RunStatus: String, Sendable, Hashable, Codable, CaseIterable {
    case running, waiting, completed, failed, cancelled

    public var isFinished: Bool { self == .completed || self == .failed || self == .cancelled }
}

/// How long a run's state is kept. Both rules apply to finished runs only; a legal hold overrides both.
public struct RunRetention: Sendable, Hashable, Codable {
    /// A finished run is deleted (audited as `expired`) this many seconds after it finished; nil: never.
    public var deleteAfterSeconds: Int64?
    /// Of a finished run only the last this many checkpoints of each namespace are kept; nil: all.
    public var keepCheckpoints: Int?

    public init(deleteAfter: Duration? = nil, keepCheckpoints: Int? = nil) {
        self.deleteAfterSeconds = deleteAfter.map { $0.components.seconds }
        self.keepCheckpoints = keepCheckpoints
    }

    /// Everything is kept until the run is deleted.
    public static let forever = RunRetention()

    enum CodingKeys: String, CodingKey {
        case deleteAfterSeconds = "delete_after_s"
        case keepCheckpoints = "keep_checkpoints"
    }
}

/// The writer's lease on a run. Only the holder of the run's current lease writes to it; taking the lease
/// over (after it expired) or cancelling the run increases ``token``, so the former holder's writes are
/// refused as `superseded` instead of forking the run's history.
public struct RunLease: Sendable, Hashable, Codable {
    public var tenant: String
    public var runID: String
    public var owner: String
    /// The fencing token: increases with every new holder.
    public var token: Int64
    public var expiresAt: Date

    public init(tenant: String, runID: String, owner: String, token: Int64, expiresAt: Date) {
        self.tenant = tenant
        self.runID = runID
        self.owner = owner
        self.token = token
        self.expiresAt = expiresAt
    }
}

/// A checkpoint of a run, named across runs (a fork remembers where it came from).
public struct CheckpointRef: Sendable, Hashable, Codable {
    public var runID: String
    public var checkpointID: String

    public init(runID: String, checkpointID: String) {
        self.runID = runID
        self.checkpointID = checkpointID
    }
}

/// An agent run of one tenant.
public struct Run: Sendable, Hashable {
    public var id: String
    public var tenant: String
    /// The agent or graph that runs it.
    public var agent: String
    public var status: RunStatus
    public var metadata: Metadata
    public var createdAt: Date
    public var updatedAt: Date
    /// When the run reached a final status.
    public var finishedAt: Date?
    public var retention: RunRetention
    /// Under legal hold a run is neither deleted nor pruned.
    public var legalHold: Bool
    /// The checkpoint this run was forked from.
    public var forkedFrom: CheckpointRef?
    /// The current lease (nil before the first writer took one); an expired lease may be taken over.
    public var lease: RunLease?

    public init(id: String, tenant: String, agent: String, status: RunStatus, metadata: Metadata, createdAt: Date, updatedAt: Date, finishedAt: Date?,
                retention: RunRetention, legalHold: Bool, forkedFrom: CheckpointRef?, lease: RunLease?) {
        self.id = id
        self.tenant = tenant
        self.agent = agent
        self.status = status
        self.metadata = metadata
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.finishedAt = finishedAt
        self.retention = retention
        self.legalHold = legalHold
        self.forkedFrom = forkedFrom
        self.lease = lease
    }
}

/// A run to start.
public struct RunDraft: Sendable {
    public var tenant: String
    /// Nil: the store makes one (`run_` and 24 hex digits).
    public var id: String?
    public var agent: String
    public var metadata: Metadata
    public var retention: RunRetention
    public var legalHold: Bool

    public init(tenant: String, id: String? = nil, agent: String, metadata: Metadata = [:], retention: RunRetention = .forever, legalHold: Bool = false) {
        self.tenant = tenant
        self.id = id
        self.agent = agent
        self.metadata = metadata
        self.retention = retention
        self.legalHold = legalHold
    }
}

/// One channel of a checkpoint: its version (1 when it first appears, one more each time its value
/// changes) and the SHA-256 of its value's canonical JSON. Values are stored once per distinct content.
public struct ChannelVersion: Sendable, Hashable, Codable {
    public var version: Int
    public var sha256: String
    /// Bytes of the value's canonical JSON.
    public var size: Int

    public init(version: Int, sha256: String, size: Int) {
        self.version = version
        self.sha256 = sha256
        self.size = size
    }
}

/// A step's state to keep.
public struct CheckpointDraft: Sendable {
    public var tenant: String
    public var runID: String
    /// The chain within the run (a subgraph's); "" is the run's own.
    public var namespace: String
    /// The checkpoint this one follows: the namespace's latest, nil for its first. Anything else is refused
    /// as `superseded` (another writer moved on).
    public var parentID: String?
    public var step: Int
    /// The whole state, by channel. A channel whose value equals the parent's keeps its version and writes
    /// nothing; a channel left out is no longer part of the state.
    public var state: [String: JSONValue]
    /// The tasks of the next step; a resumed run runs those that have recorded no writes.
    public var tasks: [String]
    public var metadata: Metadata

    public init(tenant: String, runID: String, namespace: String = "", parentID: String?, step: Int, state: [String: JSONValue], tasks: [String] = [], metadata: Metadata = [:]) {
        self.tenant = tenant
        self.runID = runID
        self.namespace = namespace
        self.parentID = parentID
        self.step = step
        self.state = state
        self.tasks = tasks
        self.metadata = metadata
    }
}

/// A checkpoint without its values.
public struct CheckpointInfo: Sendable, Hashable {
    public var id: String
    public var tenant: String
    public var runID: String
    public var namespace: String
    public var parentID: String?
    public var step: Int
    public var channels: [String: ChannelVersion]
    public var tasks: [String]
    public var metadata: Metadata
    public var createdAt: Date

    public init(id: String, tenant: String, runID: String, namespace: String, parentID: String?, step: Int, channels: [String: ChannelVersion],
                tasks: [String], metadata: Metadata, createdAt: Date) {
        self.id = id
        self.tenant = tenant
        self.runID = runID
        self.namespace = namespace
        self.parentID = parentID
        self.step = step
        self.channels = channels
        self.tasks = tasks
        self.metadata = metadata
        self.createdAt = createdAt
    }
}

/// One value a task wrote to a channel, recorded against the checkpoint the task ran from.
public struct PendingWrite: Sendable, Hashable {
    public var taskID: String
    /// The write's position among its task's writes.
    public var index: Int
    public var channel: String
    public var value: JSONValue

    public init(taskID: String, index: Int, channel: String, value: JSONValue) {
        self.taskID = taskID
        self.index = index
        self.channel = channel
        self.value = value
    }
}

/// A checkpoint with everything a resumed run needs.
public struct Checkpoint: Sendable, Hashable {
    public var info: CheckpointInfo
    /// The state by channel, each value in canonical form (object keys sorted).
    public var state: [String: JSONValue]
    /// The writes of the tasks that finished from this checkpoint, by task then index.
    public var pendingWrites: [PendingWrite]
    /// The checkpoint's tasks that recorded no writes: what a resumed run must still run.
    public var remainingTasks: [String]

    public init(info: CheckpointInfo, state: [String: JSONValue], pendingWrites: [PendingWrite], remainingTasks: [String]) {
        self.info = info
        self.state = state
        self.pendingWrites = pendingWrites
        self.remainingTasks = remainingTasks
    }
}

/// An entry of a run's append-only log.
public struct RunEvent: Sendable, Hashable {
    public struct Kind: RawRepresentable, Hashable, Sendable, Codable, ExpressibleByStringLiteral, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public init(stringLiteral value: String) { self.rawValue = value }
        public var description: String { rawValue }

        public static let started: Kind = "started"
        public static let stepStarted: Kind = "step_started"
        public static let stepFinished: Kind = "step_finished"
        public static let error: Kind = "error"
        public static let humanInput: Kind = "human_input"
        /// Written by the store when the status changes.
        public static let status: Kind = "status"
        /// Written by the store in a run made by ``RunStore/fork(runID:tenant:from:newRunID:actor:)``.
        public static let forked: Kind = "forked"
    }

    /// The event's number within its run: 1, 2, 3, …
    public var sequence: Int64
    public var tenant: String
    public var runID: String
    public var kind: Kind
    public var step: Int?
    public var taskID: String?
    /// A small JSON value the caller attaches (an error message, the human's input).
    public var detail: JSONValue?
    public var actor: String
    public var at: Date

    public init(sequence: Int64, tenant: String, runID: String, kind: Kind, step: Int?, taskID: String?, detail: JSONValue?, actor: String, at: Date) {
        self.sequence = sequence
        self.tenant = tenant
        self.runID = runID
        self.kind = kind
        self.step = step
        self.taskID = taskID
        self.detail = detail
        self.actor = actor
        self.at = at
    }
}

/// An event to append to a run's log.
public struct RunEventDraft: Sendable {
    public var kind: RunEvent.Kind
    public var step: Int?
    public var taskID: String?
    public var detail: JSONValue?

    public init(kind: RunEvent.Kind, step: Int? = nil, taskID: String? = nil, detail: JSONValue? = nil) {
        self.kind = kind
        self.step = step
        self.taskID = taskID
        self.detail = detail
    }
}

/// How much of a run a deletion or a pruning removed.
public struct RunRemoval: Sendable, Hashable, Codable {
    public var checkpoints = 0
    /// Channel versions no remaining checkpoint refers to.
    public var channelVersions = 0
    /// Distinct values no remaining channel version refers to.
    public var values = 0
    public var writes = 0
    public var events = 0

    public init() {}

    public static func + (a: RunRemoval, b: RunRemoval) -> RunRemoval {
        var r = a
        r.checkpoints += b.checkpoints
        r.channelVersions += b.channelVersions
        r.values += b.values
        r.writes += b.writes
        r.events += b.events
        return r
    }

    enum CodingKeys: String, CodingKey {
        case checkpoints, values, writes, events
        case channelVersions = "channel_versions"
    }
}

/// An entry of a tenant's run audit log, which outlives the runs it names. It never holds state: only ids,
/// who, why and how much.
public struct RunAuditEvent: Sendable, Hashable {
    public enum Action: String, Sendable, Hashable, CaseIterable, Codable {
        case deleted, expired, pruned, cancelled
        case holdSet = "hold_set"
        case holdCleared = "hold_cleared"
    }

    /// The entry's number within its tenant: 1, 2, 3, …
    public var sequence: Int64
    public var tenant: String
    public var runID: String
    public var action: Action
    public var actor: String
    public var reason: String
    public var removed: RunRemoval
    public var at: Date

    public init(sequence: Int64, tenant: String, runID: String, action: Action, actor: String, reason: String, removed: RunRemoval, at: Date) {
        self.sequence = sequence
        self.tenant = tenant
        self.runID = runID
        self.action = action
        self.actor = actor
        self.reason = reason
        self.removed = removed
        self.at = at
    }
}

/// What a deletion or a sweep removed, run by run.
public struct RunDeletionReceipt: Sendable, Hashable {
    public var tenant: String?
    /// Runs deleted whole, sorted.
    public var deleted: [String]
    /// Runs whose older checkpoints were pruned, sorted.
    public var pruned: [String]
    /// Runs kept because of a legal hold, sorted.
    public var held: [String]
    public var removed: RunRemoval
    public var actor: String
    public var reason: String
    public var at: Date
    /// As for memories: the rows are gone, an old copy of their pages may stay in SQLite's write-ahead log
    /// until a reader of an older snapshot lets go.
    public var erasurePending = false

    public init(tenant: String?, deleted: [String], pruned: [String], held: [String], removed: RunRemoval, actor: String, reason: String, at: Date) {
        self.tenant = tenant
        self.deleted = deleted
        self.pruned = pruned
        self.held = held
        self.removed = removed
        self.actor = actor
        self.reason = reason
        self.at = at
    }
}

extension RunDeletionReceipt {
    /// An empty receipt of a sweep.
    public static func sweep(tenant: String?, actor: String, at: Date) -> RunDeletionReceipt {
        RunDeletionReceipt(tenant: tenant, deleted: [], pruned: [], held: [], removed: RunRemoval(), actor: actor, reason: RunRules.sweepReason, at: at)
    }

    /// Records that a sweep deleted (`pruned` false) or pruned a run, removing `removed`.
    public mutating func note(_ runID: String, pruned: Bool, removed: RunRemoval) {
        if pruned { self.pruned.append(runID) } else { deleted.append(runID) }
        self.removed = self.removed + removed
    }

    /// Adds the part of a sweep one transaction did.
    public mutating func merge(_ part: RunDeletionReceipt) {
        deleted += part.deleted
        pruned += part.pruned
        held += part.held
        removed = removed + part.removed
    }

    /// The receipt with its run lists sorted, as every store returns it.
    public var sorted: RunDeletionReceipt {
        var r = self
        r.deleted.sort()
        r.pruned.sort()
        r.held.sort()
        return r
    }
}

/// A page of a tenant's runs.
public struct RunListRequest: Sendable {
    public var tenant: String
    public var status: RunStatus?
    public var agent: String?
    public var limit: Int
    /// From the previous page's ``RunPage/nextCursor``.
    public var cursor: String?

    public init(tenant: String, status: RunStatus? = nil, agent: String? = nil, limit: Int = 100, cursor: String? = nil) {
        self.tenant = tenant
        self.status = status
        self.agent = agent
        self.limit = limit
        self.cursor = cursor
    }
}

public struct RunPage: Sendable, Hashable {
    /// In creation order (then by id).
    public var runs: [Run]
    public var nextCursor: String?

    public init(runs: [Run], nextCursor: String?) {
        self.runs = runs
        self.nextCursor = nextCursor
    }
}

/// The state of agent runs: runs, their checkpoint chains with content-addressed channel values, the
/// tasks' pending writes, an event log, retention and audited deletion.
///
/// Every operation names its tenant; another tenant's run behaves exactly like one that does not exist.
/// Writes to a run need its current ``RunLease``; each is atomic (a checkpoint and its values, or one
/// task's writes, are stored whole or not at all). A deleted run leaves a tombstone: its id is never used
/// again and every later write is refused. All implementations follow ``InMemoryRunStore`` and pass the
/// conformance suite in `EngramTesting`.
public protocol RunStore: Sendable {
    var limits: RunLimits { get }

    func startRun(_ draft: RunDraft, actor: String) async throws -> Run
    /// Nil when the run does not exist for this tenant (or was deleted).
    func run(id: String, tenant: String) async throws -> Run?
    func runs(_ request: RunListRequest) async throws -> RunPage

    /// Takes the run's lease for `owner` with a new fencing token. Refused as `conflict` while another
    /// owner's lease has not expired; the same owner taking it again gets a new token too.
    func acquireLease(runID: String, tenant: String, owner: String, duration: Duration) async throws -> RunLease
    /// Extends the current lease; `superseded` when it is no longer current.
    func renewLease(_ lease: RunLease, duration: Duration) async throws -> RunLease
    /// Gives the lease up (another owner may take it at once); `superseded` when it is no longer current.
    func releaseLease(_ lease: RunLease) async throws

    /// Stores a checkpoint after the namespace's latest (``CheckpointDraft/parentID``), with the values of
    /// its changed channels, in one transaction.
    func putCheckpoint(_ draft: CheckpointDraft, lease: RunLease) async throws -> CheckpointInfo
    /// Records a task's writes against a checkpoint, all or none. Repeating the same writes changes nothing
    /// (returns 0); other values for a write already recorded are a `conflict`. The checkpoint must be its
    /// namespace's latest.
    @discardableResult
    func putWrites(_ writes: [TaskWrite], taskID: String, checkpointID: String, lease: RunLease) async throws -> Int
    /// A checkpoint with its state, pending writes and remaining tasks: `id` nil for the namespace's latest.
    func checkpoint(runID: String, tenant: String, namespace: String, id: String?) async throws -> Checkpoint?
    /// The namespace's checkpoints, newest first, at most `limit`, older than step `before` if given.
    func history(runID: String, tenant: String, namespace: String, limit: Int, before: Int?) async throws -> [CheckpointInfo]

    /// Changes the status; a final status also ends the lease.
    func setStatus(_ status: RunStatus, lease: RunLease) async throws -> Run
    /// Cancels a run from outside (no lease needed): its writer's lease stops being current.
    func cancel(runID: String, tenant: String, actor: String, reason: String) async throws -> Run
    /// Appends to the run's event log.
    @discardableResult
    func record(_ event: RunEventDraft, lease: RunLease) async throws -> RunEvent
    func events(runID: String, tenant: String) async throws -> [RunEvent]

    /// A new run of the same tenant and agent whose first checkpoint is `checkpointID`'s state (its values
    /// are shared, not copied), with all of that checkpoint's tasks remaining.
    func fork(runID: String, tenant: String, from checkpointID: String, newRunID: String?, actor: String) async throws -> Run

    /// Deletes a run whole (checkpoints, values no other run shares, writes, events), leaves a tombstone
    /// and an audit entry. Refused as `legal_hold` while the run is held.
    func deleteRun(id: String, tenant: String, actor: String, reason: String) async throws -> RunDeletionReceipt
    func setLegalHold(id: String, tenant: String, held: Bool, actor: String, reason: String) async throws -> Run
    /// Applies retention at `now` to finished runs (`tenant` nil: all tenants), `batchSize` runs per
    /// transaction: deletes expired runs and prunes checkpoints beyond `keepCheckpoints`.
    func sweep(tenant: String?, now: Date, actor: String, batchSize: Int) async throws -> RunDeletionReceipt
    /// The tenant's run audit log, oldest first.
    func audit(tenant: String) async throws -> [RunAuditEvent]
}

/// A value a task writes to a channel.
public struct TaskWrite: Sendable, Hashable {
    public var channel: String
    public var value: JSONValue

    public init(channel: String, value: JSONValue) {
        self.channel = channel
        self.value = value
    }
}

/// The sizes a run store accepts.
public struct RunLimits: Sendable, Hashable {
    /// The largest channel value or write, as canonical JSON (larger ones await an artifact store).
    public var maxValueBytes: Int
    public var maxChannels: Int
    public var maxTasks: Int
    public var maxWritesPerTask: Int

    public init(maxValueBytes: Int = 1 << 20, maxChannels: Int = 1_000, maxTasks: Int = 1_000, maxWritesPerTask: Int = 1_000) {
        self.maxValueBytes = maxValueBytes
        self.maxChannels = maxChannels
        self.maxTasks = maxTasks
        self.maxWritesPerTask = maxWritesPerTask
    }

    public static let standard = RunLimits()
}
