import EngramCore
import Foundation
import GRDB

extension SQLiteVectorStore: RestoreTarget {
    /// A ``SQLiteMemoryStore`` of the same file.
    public func holdsMemories(of store: any MemoryStore) -> Bool {
        guard let other = store as? SQLiteMemoryStore else { return false }
        return FilePaths.canonical(other.path) == FilePaths.canonical(path)
    }

    /// One write transaction for the whole restore: killed midway, SQLite rolls it back when the file is
    /// next opened, and nothing of it is there.
    public func restore(_ steps: any RestoreSteps, plan: RestorePlan, memories: Bool) async throws -> MemoryRestoreOutcome {
        let time = MetadataValue.canonicalDateString(now())
        return try await wrap {
            try writer().write { db in
                var outcome = MemoryRestoreOutcome()
                var collections: [CollectionRef: CollectionRow] = [:]
                while let step = try steps.next() {
                    FaultPoint.reached("restore.step")
                    switch step {
                    case .collection(let c):
                        try c.ref.validateNew(identity: c.identity)
                        collections[c.ref] = try Self.createCollection(db, c.ref, identity: c.identity, created: time)
                    case .documents(let batch, let ref, _):
                        guard let c = collections[ref] else { throw EngramError.collectionNotFound(ref) }
                        for item in batch { _ = try Self.write(db, c, PreparedDocument(item.document, item.chunks), time: time) }
                        try Self.bumpDataVersion(db, c.id)
                    case .memories(let batch, let tenant):
                        if memories { outcome.merge(try SQLiteMemoryStore.restore(db, memories: batch, tenant: tenant, plan: plan)) }
                    case .events(let batch, let tenant):
                        if memories { outcome.importedEvents += try SQLiteMemoryStore.importEvents(db, batch, tenant: tenant, plan: plan) }
                    }
                }
                return outcome
            }
        }
    }
}
