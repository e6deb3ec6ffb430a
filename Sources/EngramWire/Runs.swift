import EngramCore
import Foundation

extension Wire {
    /// A run's writer lease: who holds it, its fencing token, until when.
    public struct Lease: Codable, Sendable, Hashable {
        public var owner: String
        public var token: Int64
        public var expiresAt: Date

        enum CodingKeys: String, CodingKey {
            case owner, token
            case expiresAt = "expires_at"
        }

        public init(_ l: RunLease) {
            owner = l.owner
            token = l.token
            expiresAt = l.expiresAt
        }
    }

    /// An agent run (`runs start`, `runs show`, `runs list`).
    public struct Run: Codable, Sendable, Hashable {
        public struct Origin: Codable, Sendable, Hashable {
            public var runID: String
            public var checkpointID: String

            enum CodingKeys: String, CodingKey {
                case runID = "run_id"
                case checkpointID = "checkpoint_id"
            }
        }

        public var id: String
        public var tenant: String
        public var agent: String
        /// `running`, `waiting`, `completed`, `failed` or `cancelled`.
        public var status: String
        public var metadata: Metadata
        public var createdAt: Date
        public var updatedAt: Date
        public var finishedAt: Date?
        public var retention: RunRetention
        public var legalHold: Bool
        /// The checkpoint a fork started from.
        public var forkedFrom: Origin?
        /// Null before any writer took a lease; an owner of "" means the lease was given up or ended.
        public var lease: Lease?

        enum CodingKeys: String, CodingKey {
            case id, tenant, agent, status, metadata, retention, lease
            case createdAt = "created_at"
            case updatedAt = "updated_at"
            case finishedAt = "finished_at"
            case legalHold = "legal_hold"
            case forkedFrom = "forked_from"
        }

        public init(_ r: EngramCore.Run) {
            id = r.id
            tenant = r.tenant
            agent = r.agent
            status = r.status.rawValue
            metadata = r.metadata
            createdAt = r.createdAt
            updatedAt = r.updatedAt
            finishedAt = r.finishedAt
            retention = r.retention
            legalHold = r.legalHold
            forkedFrom = r.forkedFrom.map { Origin(runID: $0.runID, checkpointID: $0.checkpointID) }
            lease = r.lease.map(Lease.init)
        }
    }

    /// `runs list`: a page of runs and the cursor of the next one (null on the last).
    public struct RunPage: Codable, Sendable, Hashable {
        public var runs: [Run]
        public var nextCursor: String?

        enum CodingKeys: String, CodingKey {
            case runs
            case nextCursor = "next_cursor"
        }

        public init(_ p: EngramCore.RunPage) {
            runs = p.runs.map(Run.init)
            nextCursor = p.nextCursor
        }
    }

    /// A checkpoint without its values (`runs history`, `runs checkpoint`).
    public struct CheckpointSummary: Codable, Sendable, Hashable {
        public var id: String
        public var runID: String
        public var namespace: String
        public var parentID: String?
        public var step: Int
        /// By channel: its version, the SHA-256 of its value's canonical JSON, and that JSON's size.
        public var channels: [String: ChannelVersion]
        public var tasks: [String]
        public var metadata: Metadata
        public var createdAt: Date

        enum CodingKeys: String, CodingKey {
            case id, namespace, step, channels, tasks, metadata
            case runID = "run_id"
            case parentID = "parent_id"
            case createdAt = "created_at"
        }

        public init(_ c: CheckpointInfo) {
            id = c.id
            runID = c.runID
            namespace = c.namespace
            parentID = c.parentID
            step = c.step
            channels = c.channels
            tasks = c.tasks
            metadata = c.metadata
            createdAt = c.createdAt
        }
    }

    /// A value a task wrote from a checkpoint.
    public struct PendingWrite: Codable, Sendable, Hashable {
        public var taskID: String
        public var index: Int
        public var channel: String
        public var value: JSONValue

        enum CodingKeys: String, CodingKey {
            case index, channel, value
            case taskID = "task_id"
        }

        public init(_ w: EngramCore.PendingWrite) {
            taskID = w.taskID
            index = w.index
            channel = w.channel
            value = w.value
        }
    }

    /// `runs show`: a checkpoint with its state, the writes of its finished tasks, and the tasks a resumed
    /// run must still run.
    public struct Checkpoint: Codable, Sendable, Hashable {
        public var checkpoint: CheckpointSummary
        public var state: [String: JSONValue]
        public var pendingWrites: [PendingWrite]
        public var remainingTasks: [String]

        enum CodingKeys: String, CodingKey {
            case checkpoint, state
            case pendingWrites = "pending_writes"
            case remainingTasks = "remaining_tasks"
        }

        public init(_ c: EngramCore.Checkpoint) {
            checkpoint = CheckpointSummary(c.info)
            state = c.state
            pendingWrites = c.pendingWrites.map(PendingWrite.init)
            remainingTasks = c.remainingTasks
        }
    }

    /// `runs show RUN` with no checkpoint yet, and `runs write`'s answer: the run and its latest checkpoint.
    public struct RunState: Codable, Sendable, Hashable {
        public var run: Run
        public var latest: Checkpoint?

        public init(run: EngramCore.Run, latest: EngramCore.Checkpoint?) {
            self.run = Run(run)
            self.latest = latest.map(Checkpoint.init)
        }
    }

    /// `runs write`: how many writes the task recorded against which checkpoint (0: they were there already).
    public struct Recorded: Codable, Sendable, Hashable {
        public var taskID: String
        public var checkpointID: String
        public var recorded: Int

        enum CodingKeys: String, CodingKey {
            case recorded
            case taskID = "task_id"
            case checkpointID = "checkpoint_id"
        }

        public init(taskID: String, checkpointID: String, recorded: Int) {
            self.taskID = taskID
            self.checkpointID = checkpointID
            self.recorded = recorded
        }
    }

    /// An entry of a run's event log (`runs events`).
    public struct RunEvent: Codable, Sendable, Hashable {
        public var sequence: Int64
        public var runID: String
        public var kind: String
        public var step: Int?
        public var taskID: String?
        public var detail: JSONValue?
        public var actor: String
        public var at: Date

        enum CodingKeys: String, CodingKey {
            case sequence, kind, step, detail, actor, at
            case runID = "run_id"
            case taskID = "task_id"
        }

        public init(_ e: EngramCore.RunEvent) {
            sequence = e.sequence
            runID = e.runID
            kind = e.kind.rawValue
            step = e.step
            taskID = e.taskID
            detail = e.detail
            actor = e.actor
            at = e.at
        }
    }

    /// `runs delete` and `runs sweep`: what was removed, run by run and in rows.
    public struct RunReceipt: Codable, Sendable, Hashable {
        public var tenant: String?
        public var deleted: [String]
        public var pruned: [String]
        public var held: [String]
        public var removed: RunRemoval
        public var actor: String
        public var reason: String
        public var at: Date
        public var erasurePending: Bool

        enum CodingKeys: String, CodingKey {
            case tenant, deleted, pruned, held, removed, actor, reason, at
            case erasurePending = "erasure_pending"
        }

        public init(_ r: RunDeletionReceipt) {
            tenant = r.tenant
            deleted = r.deleted
            pruned = r.pruned
            held = r.held
            removed = r.removed
            actor = r.actor
            reason = r.reason
            at = r.at
            erasurePending = r.erasurePending
        }
    }

    /// An entry of a tenant's run audit log (`runs audit`): ids, who, why and counts — never state.
    public struct RunAuditEvent: Codable, Sendable, Hashable {
        public var sequence: Int64
        public var runID: String
        public var action: String
        public var actor: String
        public var reason: String
        public var removed: RunRemoval
        public var at: Date

        enum CodingKeys: String, CodingKey {
            case sequence, action, actor, reason, removed, at
            case runID = "run_id"
        }

        public init(_ e: EngramCore.RunAuditEvent) {
            sequence = e.sequence
            runID = e.runID
            action = e.action.rawValue
            actor = e.actor
            reason = e.reason
            removed = e.removed
            at = e.at
        }
    }
}
