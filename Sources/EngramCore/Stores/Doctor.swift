import Foundation

/// Something `engram doctor` found wrong, and how to fix it.
public struct DoctorFinding: Sendable, Hashable {
    /// `schema`, `index`, `orphan_chunks`, `embedding_dimension`, `document_hash`, `chunk_text`.
    public var check: String
    /// What it is about: `schema`, or `tenant/collection`, with a document's source URI when there is one.
    public var subject: String
    public var problem: String
    public var fix: String

    public init(check: String, subject: String, problem: String, fix: String) {
        self.check = check
        self.subject = subject
        self.problem = problem
        self.fix = fix
    }
}

/// What `engram doctor` checked and found.
public struct DoctorReport: Sendable, Hashable {
    /// Applied migrations, and those this build knows but the store has not applied.
    public var appliedMigrations: [String]
    public var pendingMigrations: [String]
    public var collections: Int
    public var documents: Int
    public var chunks: Int
    public var findings: [DoctorFinding]

    public init(appliedMigrations: [String], pendingMigrations: [String], collections: Int = 0, documents: Int = 0, chunks: Int = 0, findings: [DoctorFinding] = []) {
        self.appliedMigrations = appliedMigrations
        self.pendingMigrations = pendingMigrations
        self.collections = collections
        self.documents = documents
        self.chunks = chunks
        self.findings = findings
    }

    public var healthy: Bool { findings.isEmpty }
}

/// A store that can check itself.
public protocol StoreDoctor: Sendable {
    /// Checks the schema, and every collection of `tenants` (nil: all the store can see): the search
    /// index of the active generation, chunks without a document, vectors of the wrong dimension, and
    /// documents whose text no longer matches their hash or their chunks.
    func diagnose(tenants: [String]?) async throws -> DoctorReport
}

/// The checks every backend runs the same way on what it read.
public enum DoctorChecks {
    /// A chunk as stored: what the document checks need.
    public struct StoredChunkFacts: Sendable {
        public var id: String
        public var ordinal: Int
        public var charStart: Int
        public var charEnd: Int
        public var text: String
        public var sha256: String
        /// Number of vector components stored (nil: no vector).
        public var dimension: Int?

        public init(id: String, ordinal: Int, charStart: Int, charEnd: Int, text: String, sha256: String, dimension: Int?) {
            self.id = id
            self.ordinal = ordinal
            self.charStart = charStart
            self.charEnd = charEnd
            self.text = text
            self.sha256 = sha256
            self.dimension = dimension
        }
    }

    /// Findings for one document and its chunks in a collection of `dimension`.
    public static func document(ref: CollectionRef, sourceURI: String, text: String, sha256: String, chunks: [StoredChunkFacts], dimension: Int) -> [DoctorFinding] {
        let subject = "\(ref) \(sourceURI)"
        let reingest = "re-ingest \(sourceURI) (engram ingest PATH --tenant \(ref.tenant) --collection \(ref.name)), or delete it (engram delete \(sourceURI))"
        var findings: [DoctorFinding] = []
        if SHA256Hex.hash(text) != sha256 {
            findings.append(DoctorFinding(check: "document_hash", subject: subject, problem: "the stored text no longer matches the document's SHA-256 \(sha256.prefix(16))…", fix: reingest))
        }
        let scalars = ScalarText(text)
        for c in chunks {
            let inRange = c.charStart >= 0 && c.charStart < c.charEnd && c.charEnd <= scalars.count
            if !inRange || !scalars.bytes(c.charStart, c.charEnd).elementsEqual(c.text.utf8) || SHA256Hex.hash(c.text) != c.sha256 {
                findings.append(DoctorFinding(check: "chunk_text", subject: subject, problem: "chunk \(c.ordinal) (\(c.id)) no longer equals characters \(c.charStart)..<\(c.charEnd) of the document or its SHA-256", fix: reingest))
            }
            if let d = c.dimension, d != dimension {
                findings.append(DoctorFinding(check: "embedding_dimension", subject: subject, problem: "chunk \(c.ordinal) (\(c.id)) has a \(d)-dimensional vector; the collection's generation has \(dimension)", fix: reingest))
            }
        }
        return findings
    }

    /// Generations beside the active one: an unfinished reindex (`pending`, with how many chunks it has
    /// copied), and rows of generations that are neither active nor pending (a reindex stopped after its
    /// switch, before dropping them).
    public static func generations(ref: CollectionRef, active: EmbeddingIdentity, pending: PendingGeneration?, progress: GenerationProgress?, leftoverRows: Int) -> [DoctorFinding] {
        var findings: [DoctorFinding] = []
        let target = "--tenant \(ref.tenant) --collection \(ref.name)"
        if let pending, let progress {
            findings.append(DoctorFinding(
                check: "reindex", subject: "\(ref)",
                problem: "an unfinished reindex to \(pending.identity) (generation \(pending.generation)) has copied \(progress.copied) of \(progress.chunks) chunks; searches still use \(active)",
                fix: "finish it: engram reindex \(target) --embedder SPEC (the embedder of \(pending.identity.model)); or drop it: engram reindex \(target) --abandon"))
        }
        if leftoverRows > 0 {
            findings.append(DoctorFinding(
                check: "old_generation", subject: "\(ref)",
                problem: "\(leftoverRows) chunk rows of an old generation are left (a reindex stopped after switching to \(active))",
                fix: "drop them: engram reindex \(target) --embedder SPEC (the collection's embedder, \(active.model))"))
        }
        return findings
    }

    public static func orphans(ref: CollectionRef, count: Int) -> DoctorFinding {
        DoctorFinding(check: "orphan_chunks", subject: "\(ref)", problem: "\(count) chunks belong to no document", fix: "delete them: they can never be returned by a search that cites its document (engram delete --drop-collection and re-ingest, or remove the rows)")
    }

    public static func pending(_ migrations: [String]) -> DoctorFinding {
        DoctorFinding(check: "schema", subject: "schema", problem: "\(migrations.count) migrations are not applied: \(migrations.joined(separator: ", "))", fix: "engram migrate --store URL")
    }
}
