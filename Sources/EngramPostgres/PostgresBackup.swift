import EngramCore
import Foundation
import PostgresNIO

extension PostgresVectorStore: BackupSource {
    /// One repeatable-read, read-only transaction: every tenant and page is read from the same snapshot.
    /// Row-level security shows one tenant at a time, so the tenants must be named (`tenants` nil is
    /// refused); the transaction switches `engram.tenant_id` from one to the next.
    public func exportRows(tenants: [String]?, vectors: Bool, memories: Bool, to sink: any BackupSink) async throws -> [String]? {
        guard let tenants else {
            throw EngramError(.invalidInput, "a PostgreSQL backup names its tenants: row-level security shows the store one tenant at a time")
        }
        do {
            try await client.withConnection { connection in
                _ = try await self.rows(connection, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                do {
                    for tenant in tenants.sorted() {
                        try await self.export(connection, tenant: tenant, vectors: vectors, to: sink)
                        if memories { try await self.exportMemories(connection, tenant: tenant, vectors: vectors, to: sink) }
                    }
                } catch {
                    _ = try? await self.rows(connection, "ROLLBACK")
                    throw error
                }
                _ = try await self.rows(connection, "COMMIT")
            }
        } catch {
            throw PostgresStoreConfiguration.describe(error)
        }
        return memories ? tenants.sorted() : nil
    }

    /// The tenant's memories and audit events, in the export's transaction (the tenant is set).
    func exportMemories(_ connection: PostgresConnection, tenant: String, vectors: Bool, to sink: any BackupSink) async throws {
        let memories = try await connection.query(PostgresSQL("""
            SELECT \(PostgresMemoryStore.columns) FROM \(schemaName).memories m WHERE m.tenant_id = \(tenant)
            ORDER BY \(PostgresMemoryStore.createdMillisecond), m.id COLLATE "C"
            """).query, logger: logger)
        for try await row in memories {
            var m = try PostgresMemoryStore.memory(row.makeRandomAccess())
            if !vectors { m.embedding = nil }
            try sink.write(.memory(m))
        }
        let events = try await rows(connection, "SELECT \(PostgresMemoryStore.eventColumns) FROM \(schemaName).memory_events WHERE tenant_id = \(tenant) ORDER BY sequence")
        for r in events { try sink.write(.memoryEvent(try PostgresMemoryStore.event(r))) }
    }

    func export(_ connection: PostgresConnection, tenant: String, vectors: Bool, to sink: any BackupSink) async throws {
        _ = try await rows(connection, "SELECT set_config('engram.tenant_id', \(tenant), true)")
        let collections = try await rows(connection, "\(collectionColumns) WHERE tenant_id = \(tenant) ORDER BY name COLLATE \"C\"").map(Self.collectionRow)
        for c in collections {
            let ref = c.info.ref
            try sink.write(.collection(BackupCollection(ref: ref, identity: c.info.identity, createdAt: c.info.createdAt)))
            // Each table in one statement whose rows stream in as the sink takes them (one sort on the server).
                let documents = try await connection.query(PostgresSQL("""
                SELECT \(Self.documentColumns), text FROM \(schemaName).documents
                WHERE collection_id = \(c.id) ORDER BY id COLLATE "C"
                """).query, logger: logger)
            for try await row in documents {
                let r = row.makeRandomAccess()
                try sink.write(.document(BackupDocument(collection: ref, info: try Self.documentInfo(r), text: try r["text"].decode(String.self))))
            }
                let chunks = try await connection.query(PostgresSQL("""
                SELECT \(Self.chunkColumns)\(unsafeRaw: vectors ? ", c.embedding::real[] AS vector" : "")
                FROM \(schemaName).chunks c JOIN \(schemaName).documents d ON d.collection_id = c.collection_id AND d.id = c.document_id
                WHERE c.collection_id = \(c.id) AND c.generation = \(c.info.generation)
                ORDER BY c.document_id COLLATE "C", c.ordinal
                """).query, logger: logger)
            for try await row in chunks {
                let r = row.makeRandomAccess()
                let embedding = vectors ? try r["vector"].decode([Float]?.self) : nil
                try sink.write(.chunk(BackupChunk(collection: ref, chunk: try Self.storedChunk(r), embedding: embedding)))
            }
        }
    }
}
