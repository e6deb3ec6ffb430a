import EngramCore
import Foundation
import GRDB

extension SQLiteVectorStore: BackupSource {
    /// One read transaction: in WAL mode it sees one snapshot while writers go on.
    public func exportRows(tenants: [String]?, vectors: Bool, memories: Bool, to sink: any BackupSink) async throws -> [String]? {
        try await wrap {
            try await reader.read { db in
                var collections = try Row.fetchAll(db, sql: "SELECT * FROM collections ORDER BY tenant_id, name").map(Self.collectionRow)
                if let tenants { collections = collections.filter { tenants.contains($0.info.ref.tenant) } }
                for c in collections {
                    let ref = c.info.ref
                    try sink.write(.collection(BackupCollection(ref: ref, identity: c.info.identity, createdAt: c.info.createdAt)))
                    let documents = try Row.fetchCursor(db, sql: "SELECT * FROM documents WHERE collection_id = ? ORDER BY id", arguments: [c.id])
                    while let row = try documents.next() {
                        try sink.write(.document(BackupDocument(collection: ref, info: try Self.documentInfo(row), text: row["text"])))
                    }
                    let chunks = try Row.fetchCursor(db, sql: """
                        SELECT \(Self.chunkColumns), c.embedding FROM chunks c
                        JOIN documents d ON d.collection_id = c.collection_id AND d.id = c.document_id
                        WHERE c.collection_id = ? AND c.generation = ? ORDER BY c.document_id, c.ordinal
                        """, arguments: [c.id, c.info.generation])
                    while let row = try chunks.next() {
                        var embedding: [Float]?
                        if vectors, let data = row["embedding"] as Data? {
                            // Copy rather than rebind: a blob's bytes need not be aligned for Float.
                            var v = [Float](repeating: 0, count: data.count / 4)
                            _ = v.withUnsafeMutableBytes { data.copyBytes(to: $0) }
                            embedding = v
                        }
                        try sink.write(.chunk(BackupChunk(collection: ref, chunk: try Self.storedChunk(row), embedding: embedding)))
                    }
                }
                guard memories else { return nil }
                let memoryTenants = try tenants ?? String.fetchAll(db, sql: "SELECT tenant_id FROM memories UNION SELECT tenant_id FROM memory_events ORDER BY tenant_id")
                for tenant in memoryTenants {
                    let rows = try Row.fetchCursor(db, sql: "SELECT \(SQLiteMemoryStore.columns) FROM memories WHERE tenant_id = ? ORDER BY created_ms, id", arguments: [tenant])
                    while let row = try rows.next() {
                        var m = try SQLiteMemoryStore.memory(row)
                        if !vectors { m.embedding = nil }
                        try sink.write(.memory(m))
                    }
                    let events = try Row.fetchCursor(db, sql: "SELECT * FROM memory_events WHERE tenant_id = ? ORDER BY sequence", arguments: [tenant])
                    while let row = try events.next() { try sink.write(.memoryEvent(try SQLiteMemoryStore.event(row))) }
                }
                return memoryTenants
            }
        }
    }
}
