import EngramCore
import Foundation
import GRDB

extension SQLiteVectorStore: BackupSource {
    /// One read transaction: in WAL mode it sees one snapshot while writers go on.
    public func exportRows(tenants: [String]?, vectors: Bool, memories: Bool, to sink: any BackupSink) async throws -> [String]? {
        try await wrap {
            try await reader.read { db in
                var collections = try db.rows(Self.allCollectionsSQL).map(Self.collectionRow)
                if let tenants { collections = collections.filter { tenants.contains($0.info.ref.tenant) } }
                for c in collections {
                    let ref = c.info.ref
                    try sink.write(.collection(BackupCollection(ref: ref, identity: c.info.identity, createdAt: c.info.createdAt)))
                    let documents = try db.rowCursor("SELECT * FROM documents WHERE collection_id = \(c.id) ORDER BY id")
                    while let row = try documents.next() {
                        try sink.write(.document(BackupDocument(collection: ref, info: try Self.documentInfo(row), text: row["text"])))
                    }
                    let chunks = try db.rowCursor("""
                        SELECT \(Self.chunkColumns), c.embedding FROM chunks c
                        JOIN documents d ON d.collection_id = c.collection_id AND d.id = c.document_id
                        WHERE c.collection_id = \(c.id) AND c.generation = \(c.info.generation) ORDER BY c.document_id, c.ordinal
                        """)
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
                let memoryTenants = try tenants ?? db.values(String.self, SQLiteMemoryStore.tenantsSQL)
                for tenant in memoryTenants {
                    let rows = try db.rowCursor("SELECT \(SQLiteMemoryStore.columns) FROM memories WHERE tenant_id = \(tenant) ORDER BY created_ms, id")
                    while let row = try rows.next() {
                        var m = try SQLiteMemoryStore.memory(row)
                        if !vectors { m.embedding = nil }
                        try sink.write(.memory(m))
                    }
                    let events = try db.rowCursor("SELECT * FROM memory_events WHERE tenant_id = \(tenant) ORDER BY sequence")
                    while let row = try events.next() { try sink.write(.memoryEvent(try SQLiteMemoryStore.event(row))) }
                }
                return memoryTenants
            }
        }
    }
}
