import Foundation

// A restore as the stores see it: rows read from an archive and checked in full before the first write
// (see `BackupArchive.restore` in EngramPipeline), handed over in order as steps.

/// One step of a restore, already checked.
public enum RestoreStep: Sendable {
    /// Create the collection (or, merging, use the one that exists with the same identity).
    case collection(BackupCollection)
    /// Write documents (each replacing a document of the same id) into a collection of an earlier step.
    case documents([DocumentUpsert], in: CollectionRef, identity: EmbeddingIdentity)
    /// Write memories of one tenant (see ``MemoryRules/restoreDecision(existing:contentHeldBy:id:)``).
    case memories([Memory], tenant: String)
    /// Append audit events of one tenant, marked with the restore's ``RestorePlan/origin``.
    case events([MemoryEvent], tenant: String)
}

/// The checked steps of a restore, read one at a time (synchronously, from files the archive was
/// checked into), so that a store can write them inside one transaction.
public protocol RestoreSteps: AnyObject, Sendable {
    func next() throws -> RestoreStep?
}

/// What a restore records about itself.
public struct RestorePlan: Sendable, Hashable {
    /// Who restores (the `restored` events' actor).
    public var actor: String
    /// The archive, as the imported events' origin and the `restored` events' reason, for example
    /// `backup 3f2a… taken 2026-11-30T10:00:00.000Z`.
    public var origin: String
    /// The time of the `restored` events.
    public var at: Date

    public init(actor: String, origin: String, at: Date) {
        self.actor = actor
        self.origin = origin
        self.at = at
    }
}

/// What a restore did with memories beyond writing them.
public struct MemoryRestoreOutcome: Sendable, Hashable {
    /// Memories written (created or replaced), each with a `restored` event.
    public var written: [String] = []
    /// Memories of the archive not written because the target holds the same id under legal hold.
    public var keptHeld: [String] = []
    /// Memories of the archive not written because the target already holds their content (same subject
    /// and namespace) under another id.
    public var keptDuplicate: [String] = []
    /// Audit events imported.
    public var importedEvents = 0

    public init() {}

    public mutating func merge(_ other: MemoryRestoreOutcome) {
        written += other.written
        keptHeld += other.keptHeld
        keptDuplicate += other.keptDuplicate
        importedEvents += other.importedEvents
    }
}

/// A store that writes a whole restore in one transaction: after a failure, or a process killed midway,
/// none of it is there, and a second attempt starts from the same state.
public protocol RestoreTarget: VectorStore {
    /// Writes every step; collections, documents, chunks and (when `memories`) the long-term memories
    /// and audit events, in one transaction. Builds the collections' search indexes after the commit.
    /// - Throws: the first failure; the store is then unchanged.
    func restore(_ steps: any RestoreSteps, plan: RestorePlan, memories: Bool) async throws -> MemoryRestoreOutcome
    /// Whether `store` keeps its memories in this store's database, so that one transaction covers both.
    func holdsMemories(of store: any MemoryStore) -> Bool
}

extension MemoryRules {
    /// What a restore does with an archived memory.
    public enum RestoreDecision: Sendable, Equatable {
        case insert
        /// Replace the target's memory of the same id (in the same tenant).
        case replace
        /// The target's memory of this id is under legal hold: a restore never changes it.
        case keepHeld
        /// The target already holds this content (same subject and namespace) under another id.
        case keepDuplicate
    }

    /// The rule every store applies to an archived memory, given the target tenant's memory of the same id
    /// (`existing`: whether it is held; nil when there is none) and the id of the target's memory that
    /// holds the same content, subject and namespace, if any. Ids are matched within the tenant only.
    public static func restoreDecision(existing: Bool?, contentHeldBy other: String?, id: String) -> RestoreDecision {
        if existing == true { return .keepHeld }
        if let other, other != id { return .keepDuplicate }
        return existing == nil ? .insert : .replace
    }

    /// The reason of a `restored` event.
    public static func restoredReason(_ plan: RestorePlan) -> String {
        "restored from \(plan.origin)"
    }

    /// An archived memory's id taken by another tenant's memory: refused, since ids are unique.
    public static func idOfAnotherTenant(_ id: String, tenant: String) -> EngramError {
        EngramError(.conflict, "memory \(id) of the archive cannot be restored into tenant '\(tenant)': another tenant's memory has this id")
    }

    /// Checks a memory read from an archive as thoroughly as a new one: every field, its content hash,
    /// its id's form and its times.
    /// - Throws: `invalid_input` naming the field.
    public static func validateRestored(_ m: Memory) throws {
        try validateID(m.id)
        try validateTenant(m.tenant)
        try validateLabel(m.subject, what: "subject")
        try CollectionRef.validateName(m.namespace, what: "namespace")
        try validateKind(m.kind)
        try validateContent(m.content)
        guard SHA256Hex.hash(m.content) == m.contentSHA256 else {
            throw EngramError(.invalidInput, "memory \(m.id): content_sha256 does not match its content")
        }
        try validateImportance(m.importance)
        try UpsertValidation.validateMetadata(m.metadata, context: "memory \(m.id)")
        try validateMetadataSize(m.metadata, context: "memory \(m.id)")
        try validateEmbedding(m.embedding, m.embeddingIdentity)
        try CollectionRef.validateName(m.retention, what: "retention policy")
        guard m.accessCount >= 0 else { throw EngramError(.invalidInput, "memory \(m.id): access_count is negative") }
        guard m.updatedAt >= m.createdAt else { throw EngramError(.invalidInput, "memory \(m.id): updated before it was created") }
        if let s = m.supersedes { try validateID(s) }
    }

    /// Checks an audit event read from an archive.
    public static func validateRestored(_ e: MemoryEvent) throws {
        try validateTenant(e.tenant)
        try validateID(e.memoryID)
        try validateLabel(e.actor, what: "event actor")
        try validateReason(e.reason)
        guard e.contentSHA256.utf8.count == 64, e.contentSHA256.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) else {
            throw EngramError(.invalidInput, "event of memory \(e.memoryID): content_sha256 is not a SHA-256")
        }
        if let origin = e.origin { try validateReason(origin) }
    }

    /// The origin an imported event is stored with: the restored archive, and the archive it had been
    /// imported from before, if any.
    public static func importedOrigin(_ plan: RestorePlan, archived: String?) -> String {
        archived.map { "\(plan.origin), imported there from \($0)" } ?? plan.origin
    }

    /// Memory ids: `mem_` and 1 to 64 letters, digits or `_` (stores make `mem_` and 24 hex digits).
    public static func validateID(_ id: String) throws {
        let body = id.utf8.dropFirst(4)
        guard id.hasPrefix("mem_"), (1...64).contains(body.count),
              body.allSatisfy({ (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) || $0 == 0x5F }) else {
            throw EngramError(.invalidInput, "'\(TerminalText.escaped(String(id.prefix(80))))' is not a memory id (mem_ and letters or digits)")
        }
    }
}
