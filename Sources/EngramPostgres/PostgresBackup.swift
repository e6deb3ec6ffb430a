import EngramCore
import Foundation
import PostgresNIO

extension PostgresVectorStore: BackupSource {
    /// Rows read per statement: each page continues where the previous one ended, inside the snapshot.
    static let backupPageRows = 2_000

    /// One repeatable-read, read-only transaction: every tenant and page is read from the same snapshot.
    /// Row-level security shows one tenant at a time, so the tenants must be named (`tenants` nil is
    /// refused); the transaction switches `engram.tenant_id` from one to the next.
    public func exportRows(tenants: [String]?, vectors: Bool, to sink: any BackupSink) async throws {
        guard let tenants else {
            throw EngramError(.invalidInput, "a PostgreSQL backup names its tenants: row-level security shows the store one tenant at a time")
        }
        let types = try await vectorTypes()
        do {
            try await client.withConnection { connection in
                _ = try await self.rows(connection, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                do {
                    for tenant in tenants.sorted() {
                        try await self.export(connection, tenant: tenant, vectors: vectors, types: types, to: sink)
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
    }

    func export(_ connection: PostgresConnection, tenant: String, vectors: Bool, types: PGVectorTypes, to sink: any BackupSink) async throws {
        var b = BoundSQL()
        _ = try await rows(connection, "SELECT set_config('engram.tenant_id', \(b.bind(tenant)), true)", b)
        b = BoundSQL()
        let collections = try await rows(connection, "\(collectionColumns) WHERE tenant_id = \(b.bind(tenant)) ORDER BY name COLLATE \"C\"", b).map(Self.collectionRow)
        for c in collections {
            let ref = c.info.ref
            try sink.write(.collection(BackupCollection(ref: ref, identity: c.info.identity, createdAt: c.info.createdAt)))
            var after = ""
            while true {
                b = BoundSQL()
                let page = try await rows(connection, """
                    SELECT \(Self.documentColumns), text FROM \(schema).documents
                    WHERE collection_id = \(b.bind(c.id)) AND id COLLATE "C" > \(b.bind(after)) ORDER BY id COLLATE "C" LIMIT \(Self.backupPageRows)
                    """, b)
                for r in page {
                    try sink.write(.document(BackupDocument(collection: ref, info: try Self.documentInfo(r), text: try r["text"].decode(String.self))))
                }
                guard page.count == Self.backupPageRows, let last = page.last else { break }
                after = try last["id"].decode(String.self)
            }
            var cursor = ("", -1)
            while true {
                b = BoundSQL()
                let page = try await rows(connection, """
                    SELECT \(Self.chunkColumns)\(vectors ? ", c.embedding::real[] AS vector" : "")
                    FROM \(schema).chunks c JOIN \(schema).documents d ON d.collection_id = c.collection_id AND d.id = c.document_id
                    WHERE c.collection_id = \(b.bind(c.id)) AND c.generation = \(b.bind(c.info.generation))
                      AND (c.document_id COLLATE "C", c.ordinal) > (\(b.bind(cursor.0)) COLLATE "C", \(b.bind(cursor.1)))
                    ORDER BY c.document_id COLLATE "C", c.ordinal LIMIT \(Self.backupPageRows)
                    """, b)
                for r in page {
                    let embedding = vectors ? try r["vector"].decode([Float]?.self) : nil
                    try sink.write(.chunk(BackupChunk(collection: ref, chunk: try Self.storedChunk(r), embedding: embedding)))
                }
                guard page.count == Self.backupPageRows, let last = page.last else { break }
                cursor = (try last["document_id"].decode(String.self), try last["ordinal"].decode(Int.self))
            }
        }
        _ = types
    }
}
