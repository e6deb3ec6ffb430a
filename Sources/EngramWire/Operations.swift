import EngramCore
import EngramPipeline
import Foundation

extension Wire {
    /// `doctor`: the schema's migrations, what was checked, and each finding with its fix.
    public struct Doctor: Codable, Sendable, Hashable {
        public struct Finding: Codable, Sendable, Hashable {
            /// `schema`, `index`, `orphan_chunks`, `embedding_dimension`, `document_hash`, `chunk_text`.
            public var check: String
            /// `schema`, or `tenant/collection`, with a document's source URI when there is one.
            public var subject: String
            public var problem: String
            public var fix: String
        }

        public var healthy: Bool
        public var appliedMigrations: [String]
        public var pendingMigrations: [String]
        public var collections: Int
        public var documents: Int
        public var chunks: Int
        public var findings: [Finding]

        enum CodingKeys: String, CodingKey {
            case healthy, collections, documents, chunks, findings
            case appliedMigrations = "applied_migrations"
            case pendingMigrations = "pending_migrations"
        }

        public init(_ r: DoctorReport) {
            healthy = r.healthy
            appliedMigrations = r.appliedMigrations
            pendingMigrations = r.pendingMigrations
            collections = r.collections
            documents = r.documents
            chunks = r.chunks
            findings = r.findings.map { Finding(check: $0.check, subject: $0.subject, problem: $0.problem, fix: $0.fix) }
        }
    }

    /// `migrate` and `migrate status`: every migration this build knows and its state, and those applied
    /// by this call (empty for `status`).
    public struct Migrations: Codable, Sendable, Hashable {
        public struct Migration: Codable, Sendable, Hashable {
            public var version: Int
            public var name: String
            /// `applied` or `pending`.
            public var state: String
        }

        public var migrations: [Migration]
        public var appliedNow: [Int]

        enum CodingKeys: String, CodingKey {
            case migrations
            case appliedNow = "applied_now"
        }

        public init(_ status: [MigrationState], appliedNow: [Int]) {
            migrations = status.map { Migration(version: $0.version, name: $0.name, state: $0.applied ? "applied" : "pending") }
            self.appliedNow = appliedNow
        }
    }

    /// `backup`: the archive written and its files with their row counts and hashes.
    public struct Backup: Codable, Sendable, Hashable {
        public var archive: String
        public var bytes: Int
        public var seconds: Double
        /// False for `--no-vectors` (a restore embeds again).
        public var vectors: Bool
        public var tenants: [String]
        public var collections: Int
        public var files: [ArchiveFile]

        public init(_ m: BackupManifest, archive: String, bytes: Int, seconds: Double) {
            self.archive = archive
            self.bytes = bytes
            self.seconds = seconds
            vectors = m.includesVectors
            tenants = m.tenants
            collections = m.collections.count
            files = m.parts.map(ArchiveFile.init)
        }
    }

    /// `restore --verify-only`: the archive matches its manifest (anything else is an error).
    public struct ArchiveCheck: Codable, Sendable, Hashable {
        public var verified: Bool
        public var tenants: [String]
        public var collections: Int
        public var files: [ArchiveFile]

        public init(_ m: BackupManifest) {
            verified = true
            tenants = m.tenants
            collections = m.collections.count
            files = m.parts.map(ArchiveFile.init)
        }
    }

    /// `restore`: what was written, and the memories of the archive that were left out.
    public struct Restored: Codable, Sendable, Hashable {
        public var collections: Int
        public var documents: Int
        public var chunks: Int
        public var memories: Int
        public var memoryEvents: Int
        /// Chunks and memories embedded again (an archive without vectors).
        public var embedded: Int
        /// Memories left out: the target holds the same id under legal hold.
        public var keptHeld: [String]
        /// Memories left out: the target holds their content under another id.
        public var keptDuplicate: [String]
        public var tenants: [String]
        /// Whether the restore was one transaction.
        public var atomic: Bool
        public var seconds: Double

        enum CodingKeys: String, CodingKey {
            case collections, documents, chunks, memories, embedded, tenants, atomic, seconds
            case memoryEvents = "memory_events"
            case keptHeld = "kept_held"
            case keptDuplicate = "kept_duplicate"
        }

        public init(_ r: RestoreReport, seconds: Double) {
            collections = r.collections
            documents = r.documents
            chunks = r.chunks
            memories = r.memories
            memoryEvents = r.memoryEvents
            embedded = r.embedded
            keptHeld = r.keptHeld
            keptDuplicate = r.keptDuplicate
            tenants = r.tenants
            atomic = r.atomic
            self.seconds = seconds
        }
    }

    /// `reindex`: the move from one embedding to another.
    public struct Reindexed: Codable, Sendable, Hashable {
        public var collection: String
        public var from: Embedding
        public var to: Embedding
        /// The generation now active.
        public var generation: Int
        /// False when the collection already used the target embedding.
        public var switched: Bool
        /// True when this run continued an interrupted one.
        public var resumed: Bool
        public var alreadyCopied: Int
        public var embedded: Int
        public var catchUpPasses: Int
        public var droppedRows: Int
        public var seconds: Double

        enum CodingKeys: String, CodingKey {
            case collection, from, to, generation, switched, resumed, embedded, seconds
            case alreadyCopied = "already_copied"
            case catchUpPasses = "catch_up_passes"
            case droppedRows = "dropped_rows"
        }

        public init(_ r: ReindexReport, seconds: Double) {
            collection = r.collection.name
            from = Embedding(r.from)
            to = Embedding(r.to)
            generation = r.generation
            switched = r.switched
            resumed = r.resumed
            alreadyCopied = r.alreadyCopied
            embedded = r.embedded
            catchUpPasses = r.catchUpPasses
            droppedRows = r.droppedRows
            self.seconds = seconds
        }
    }

    /// `reindex --status`: the active generation, and the unfinished one if a reindex was interrupted.
    public struct ReindexStatus: Codable, Sendable, Hashable {
        public struct Pending: Codable, Sendable, Hashable {
            public var generation: Int
            public var embedding: Embedding
            /// Chunks of the collection, and how many the unfinished run has copied.
            public var chunks: Int
            public var copied: Int
        }

        public var collection: String
        public var generation: Int
        public var embedding: Embedding
        /// Null when no reindex is unfinished.
        public var pending: Pending?

        public init(_ c: CollectionInfo, pending: (identity: EmbeddingIdentity, generation: Int, progress: GenerationProgress)?) {
            collection = c.ref.name
            generation = c.generation
            embedding = Embedding(c.identity)
            self.pending = pending.map { Pending(generation: $0.generation, embedding: Embedding($0.identity), chunks: $0.progress.chunks, copied: $0.progress.copied) }
        }
    }

    /// `reindex --abandon`: whether there was an unfinished reindex to drop.
    public struct Abandoned: Codable, Sendable, Hashable {
        public var abandoned: Bool

        public init(abandoned: Bool) { self.abandoned = abandoned }
    }
}
