import EngramCore
import Foundation

extension Wire {
    /// A memory, without its embedding (what `memory get` prints and `memory export` writes, one per line).
    public struct Memory: Codable, Sendable, Hashable {
        /// Where a memory came from: the run and message, and the chunks it was drawn from.
        public struct Provenance: Codable, Sendable, Hashable {
            public var runID: String?
            public var messageID: String?
            public var chunkIDs: [String]

            enum CodingKeys: String, CodingKey {
                case runID = "run_id"
                case messageID = "message_id"
                case chunkIDs = "chunk_ids"
            }
        }

        public var id: String
        public var tenant: String
        public var subject: String
        public var namespace: String
        public var kind: String
        public var content: String
        public var contentSHA256: String
        public var metadata: Metadata
        public var importance: Double
        public var provenance: Provenance
        public var createdAt: Date
        public var updatedAt: Date
        public var lastAccessedAt: Date?
        public var accessCount: Int
        public var expiresAt: Date?
        /// The retention policy's name.
        public var retention: String
        public var legalHold: Bool
        /// The id of the memory this one replaced.
        public var supersedes: String?
        /// The embedding's identity as `model@revision/dimension/distance`, or null for a memory without one.
        public var embeddingIdentity: String?

        enum CodingKeys: String, CodingKey {
            case id, tenant, subject, namespace, kind, content, metadata, importance, provenance, retention, supersedes
            case contentSHA256 = "content_sha256"
            case createdAt = "created_at"
            case updatedAt = "updated_at"
            case lastAccessedAt = "last_accessed_at"
            case accessCount = "access_count"
            case expiresAt = "expires_at"
            case legalHold = "legal_hold"
            case embeddingIdentity = "embedding_identity"
        }

        public init(_ m: EngramCore.Memory) {
            id = m.id
            tenant = m.tenant
            subject = m.subject
            namespace = m.namespace
            kind = m.kind.rawValue
            content = m.content
            contentSHA256 = m.contentSHA256
            metadata = m.metadata
            importance = m.importance
            provenance = Provenance(runID: m.provenance.runID, messageID: m.provenance.messageID, chunkIDs: m.provenance.chunkIDs)
            createdAt = m.createdAt
            updatedAt = m.updatedAt
            lastAccessedAt = m.lastAccessedAt
            accessCount = m.accessCount
            expiresAt = m.expiresAt
            retention = m.retention
            legalHold = m.legalHold
            supersedes = m.supersedes
            embeddingIdentity = m.embeddingIdentity?.description
        }
    }

    /// `memory remember`: `created` or `refreshed` (the same content was already remembered), and the memory.
    public struct Remembered: Codable, Sendable, Hashable {
        public var outcome: String
        public var memory: Memory

        public init(_ o: RememberOutcome) {
            outcome = o.created ? "created" : "refreshed"
            memory = Memory(o.memory)
        }
    }

    /// `memory list`: a page, and the cursor of the next one (null on the last page).
    public struct MemoryList: Codable, Sendable, Hashable {
        public var memories: [Memory]
        public var nextCursor: String?

        enum CodingKeys: String, CodingKey {
            case memories
            case nextCursor = "next_cursor"
        }

        public init(_ page: MemoryPage) {
            memories = page.memories.map(Memory.init)
            nextCursor = page.nextCursor
        }
    }

    /// `memory recall`: the memories in order, each with the parts of its score.
    public struct Recall: Codable, Sendable, Hashable {
        public struct Score: Codable, Sendable, Hashable {
            public var total: Double
            public var relevance: Double
            /// Cosine similarity to the query vector; null without a vector.
            public var similarity: Double?
            /// Share of the query's words in the memory; null without query text.
            public var keyword: Double?
            public var recency: Double
            public var importance: Double
        }

        public struct Hit: Codable, Sendable, Hashable {
            public var memory: Memory
            public var score: Score
        }

        public var hits: [Hit]

        public init(_ hits: [RecallHit]) {
            self.hits = hits.map { h in
                Hit(memory: Memory(h.memory), score: Score(total: h.score.total, relevance: h.score.relevance, similarity: h.score.similarity,
                                                           keyword: h.score.keyword, recency: h.score.recency, importance: h.score.importance))
            }
        }
    }

    /// An audit event of a memory (`memory events`). It holds the content's hash, never the content.
    public struct MemoryEvent: Codable, Sendable, Hashable {
        /// The event's number within its tenant, from 1, without gaps.
        public var sequence: Int64
        public var tenant: String
        public var memoryID: String
        /// `created`, `updated`, `deleted`, `expired`, `hold_set`, `hold_cleared` or `restored`.
        public var event: String
        public var actor: String
        public var reason: String
        public var contentSHA256: String
        public var at: Date
        /// For an event imported by a restore, the archive it came from; null for this store's own.
        public var origin: String?

        enum CodingKeys: String, CodingKey {
            case sequence, tenant, event, actor, reason, at, origin
            case memoryID = "memory_id"
            case contentSHA256 = "content_sha256"
        }

        public init(_ e: EngramCore.MemoryEvent) {
            sequence = e.sequence
            tenant = e.tenant
            memoryID = e.memoryID
            event = e.kind.rawValue
            actor = e.actor
            reason = e.reason
            contentSHA256 = e.contentSHA256
            at = e.at
            origin = e.origin
        }
    }

    /// Proof of `memory forget` or `memory sweep`: what was deleted, what a legal hold kept, which ids did
    /// not exist for the tenant.
    public struct Receipt: Codable, Sendable, Hashable {
        /// Null for a sweep of every tenant.
        public var tenant: String?
        public var deletedCount: Int
        public var deleted: [String]
        public var held: [String]
        public var missing: [String]
        public var actor: String
        public var reason: String
        public var at: Date
        /// True when a copy of the deleted pages stays on disk until an older reader lets go (SQLite's
        /// write-ahead log); the next command on the store completes the erasure.
        public var erasurePending: Bool

        enum CodingKeys: String, CodingKey {
            case tenant, deleted, held, missing, actor, reason, at
            case deletedCount = "deleted_count"
            case erasurePending = "erasure_pending"
        }

        public init(_ r: DeletionReceipt) {
            tenant = r.tenant
            deletedCount = r.deleted.count
            deleted = r.deleted
            held = r.held
            missing = r.missing
            actor = r.actor
            reason = r.reason
            at = r.at
            erasurePending = r.erasurePending
        }
    }

    /// `memory export --out FILE`.
    public struct Exported: Codable, Sendable, Hashable {
        public var exported: Int
        public var file: String

        public init(exported: Int, file: String) {
            self.exported = exported
            self.file = file
        }
    }
}
