import EngramCore
import Foundation
import GRDB

/// API keys in the embedded file (table `api_keys`, migration `v8_api_keys`).
public final class SQLiteAPIKeyStore: APIKeyStore, Sendable {
    public let database: SQLiteDatabase

    public init(database: SQLiteDatabase) { self.database = database }

    static func key(_ r: Row) throws -> StoredAPIKey {
        let scopes = try APIScope.parse(list: r["scopes"])
        let key = APIKey(id: r["id"], tenant: r["tenant_id"], name: r["name"], scopes: scopes, createdAt: SQLiteRunStore.date(r["created_ms"]),
                         revokedAt: (r["revoked_ms"] as Int64?).map(SQLiteRunStore.date))
        let hash: Data = r["secret_sha256"]
        return StoredAPIKey(key: key, secretSHA256: Array(hash))
    }

    public func insertKey(_ s: StoredAPIKey) async throws {
        let k = s.key
        try await write { db in
            if try db.row("SELECT 1 FROM api_keys WHERE id = \(k.id)") != nil { throw EngramError(.conflict, "a key with id \(k.id) exists") }
            try db.execute(literal: """
                INSERT INTO api_keys (id, tenant_id, name, scopes, secret_sha256, created_ms, revoked_ms)
                VALUES (\(k.id), \(k.tenant), \(k.name), \(k.sortedScopes.map(\.rawValue).joined(separator: ",")), \(Data(s.secretSHA256)),
                        \(SQLiteRunStore.ms(k.createdAt)), \(k.revokedAt.map(SQLiteRunStore.ms)))
                """)
        }
    }

    public func key(id: String, presenting secretSHA256: [UInt8]) async throws -> StoredAPIKey? {
        try await read { db in try db.row("SELECT * FROM api_keys WHERE id = \(id)").map(Self.key) }
    }

    public func keys(tenant: String) async throws -> [APIKey] {
        try CollectionRef.validateTenant(tenant)
        return try await read { db in try db.rows("SELECT * FROM api_keys WHERE tenant_id = \(tenant) ORDER BY created_ms, id").map { try Self.key($0).key } }
    }

    public func revokeKey(id: String, tenant: String, at: Date) async throws -> APIKey {
        try CollectionRef.validateTenant(tenant)
        try APIKeys.validate(id: id)
        return try await write { db in
            try db.execute(literal: "UPDATE api_keys SET revoked_ms = \(SQLiteRunStore.ms(at)) WHERE id = \(id) AND tenant_id = \(tenant) AND revoked_ms IS NULL")
            guard let row = try db.row("SELECT * FROM api_keys WHERE id = \(id) AND tenant_id = \(tenant)") else { throw APIKeys.unknown(id) }
            return try Self.key(row).key
        }
    }

    func write<T>(_ body: (Database) throws -> T) async throws -> T { try await database.writing(body) }
    func read<T: Sendable>(_ body: @Sendable (Database) throws -> T) async throws -> T { try await database.reading(body) }
}
