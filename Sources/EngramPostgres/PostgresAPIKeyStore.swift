import EngramCore
import Foundation
import PostgresNIO

/// API keys in the schema's `api_keys` table (migration 9), under forced row-level security: a session
/// sees its tenant's keys, and reads one other key's row only by presenting that key's hash.
public final class PostgresAPIKeyStore: APIKeyStore, Sendable {
    let db: PostgresDatabase
    var schema: SQLIdentifier { db.schemaName }

    public init(database: PostgresDatabase) { db = database }

    static let columns: PostgresSQL = "id, tenant_id, name, scopes, encode(secret_sha256, 'hex') AS secret_sha256, created_at, revoked_at"

    static func key(_ r: PostgresRandomAccessRow) throws -> StoredAPIKey {
        let id = try r["id"].decode(String.self)
        guard let hash = SHA256Hex.bytes(hex: try r["secret_sha256"].decode(String.self)) else { throw EngramError(.storageFailure, "key \(id) has a malformed hash") }
        let key = APIKey(id: id, tenant: try r["tenant_id"].decode(String.self), name: try r["name"].decode(String.self),
                         scopes: try APIScope.parse(list: r["scopes"].decode(String.self)), createdAt: try PostgresRunStore.date(r["created_at"]),
                         revokedAt: try PostgresRunStore.optionalDate(r["revoked_at"]))
        return StoredAPIKey(key: key, secretSHA256: hash)
    }

    public func insertKey(_ s: StoredAPIKey) async throws {
        let k = s.key
        let sql: PostgresSQL = """
            INSERT INTO \(schema).api_keys (id, tenant_id, name, scopes, secret_sha256, created_at, revoked_at)
            VALUES (\(k.id), \(k.tenant), \(k.name), \(k.sortedScopes.map(\.rawValue).joined(separator: ",")), decode(\(SHA256Hex.hex(s.secretSHA256)), 'hex'),
                    \(k.createdAt), \(k.revokedAt))
            ON CONFLICT (id) DO NOTHING RETURNING id
            """
        let inserted = try await db.inTenant(k.tenant) { c in try await self.db.rows(c, sql) }
        if inserted.isEmpty { throw EngramError(.conflict, "a key with id \(k.id) exists") }
    }

    public func key(id: String, presenting secretSHA256: [UInt8]) async throws -> StoredAPIKey? {
        // No tenant yet: the empty tenant matches no row, the presented hash matches at most this key's.
        try await db.reading("", settings: [("engram.key_sha256", SHA256Hex.hex(secretSHA256))]) { c in
            try await self.db.rows(c, "SELECT \(Self.columns) FROM \(self.schema).api_keys WHERE id = \(id)").first.map(Self.key)
        }
    }

    public func keys(tenant: String) async throws -> [APIKey] {
        try CollectionRef.validateTenant(tenant)
        return try await db.reading(tenant) { c in
            try await self.db.rows(c, "SELECT \(Self.columns) FROM \(self.schema).api_keys WHERE tenant_id = \(tenant) ORDER BY created_at, id").map { try Self.key($0).key }
        }
    }

    public func revokeKey(id: String, tenant: String, at: Date) async throws -> APIKey {
        try CollectionRef.validateTenant(tenant)
        try APIKeys.validate(id: id)
        let at = RunRules.instant(at)
        return try await db.inTenant(tenant) { c in
            let rows = try await self.db.rows(c, """
                UPDATE \(self.schema).api_keys SET revoked_at = COALESCE(revoked_at, \(at)) WHERE id = \(id) AND tenant_id = \(tenant)
                RETURNING \(Self.columns)
                """)
            guard let row = rows.first else { throw APIKeys.unknown(id) }
            return try Self.key(row).key
        }
    }
}
