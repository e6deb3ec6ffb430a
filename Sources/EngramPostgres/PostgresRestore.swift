import EngramCore
import Foundation
import PostgresNIO

extension PostgresVectorStore: RestoreTarget {
    /// A ``PostgresMemoryStore`` of the same client and schema.
    public func holdsMemories(of store: any MemoryStore) -> Bool {
        guard let other = store as? PostgresMemoryStore else { return false }
        return other.db.client === client && other.db.schema == schema
    }

    /// One transaction for the whole restore, on one connection: each step runs with its tenant set
    /// (`engram.tenant_id`, transaction-local), so row-level security applies to every row as it does to
    /// any write. A failure or a lost connection rolls all of it back. The search indexes are built after
    /// the commit (`CREATE INDEX CONCURRENTLY` cannot run inside a transaction); until then searches rank
    /// exactly.
    public func restore(_ steps: any RestoreSteps, plan: RestorePlan, memories: Bool) async throws -> MemoryRestoreOutcome {
        let types = try await vectorTypes()
        let memoryTables = PostgresMemoryStore(database: database)
        let (outcome, restored) = try await inTenant("") { connection in
            var outcome = MemoryRestoreOutcome()
            var collections: [CollectionRef: CollectionRow] = [:]
            var tenant = ""
            func use(_ t: String) async throws {
                guard t != tenant else { return }
                _ = try await self.rows(connection, "SELECT set_config('engram.tenant_id', \(t), true)")
                tenant = t
            }
            while let step = try steps.next() {
                FaultPoint.reached("restore.step")
                switch step {
                case .collection(let c):
                    try c.ref.validateNew(identity: c.identity)
                    try await use(c.ref.tenant)
                    collections[c.ref] = try await self.createCollection(connection, c.ref, identity: c.identity)
                case .documents(let batch, let ref, _):
                    guard let c = collections[ref] else { throw EngramError.collectionNotFound(ref) }
                    try await use(ref.tenant)
                    _ = try await self.write(connection, c, batch, types: types)
                case .memories(let batch, let t):
                    guard memories else { continue }
                    try await use(t)
                    outcome.merge(try await memoryTables.restore(connection, memories: batch, tenant: t, plan: plan, types: types))
                case .events(let batch, let t):
                    guard memories else { continue }
                    try await use(t)
                    outcome.importedEvents += try await memoryTables.importEvents(connection, batch, tenant: t, plan: plan)
                }
            }
            return (outcome, Array(collections.keys))
        }
        for ref in restored.sorted(by: { ($0.tenant, $0.name) < ($1.tenant, $1.name) }) { try await buildIndexes(ref) }
        return outcome
    }
}
