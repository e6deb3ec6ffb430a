import Crypto
import Foundation

/// What a key may do. Scopes are independent: a `write` key cannot read unless it also has `read`.
public enum APIScope: String, Sendable, Hashable, Codable, CaseIterable, Comparable {
    /// Search, get, list, recall, verify.
    case read
    /// Ingest, delete documents, remember, forget, hold, run writes.
    case write
    /// Manage the tenant's keys and sweep its expired records.
    case admin

    public static func < (a: APIScope, b: APIScope) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }

    /// `read,write` → the scopes, `invalid_input` naming any unknown one.
    public static func parse(list: String) throws -> Set<APIScope> {
        let names = list.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        var scopes: Set<APIScope> = []
        for name in names {
            guard let scope = APIScope(rawValue: name) else {
                throw EngramError(.invalidInput, "unknown scope '\(TerminalText.escaped(name))' (expected read, write or admin, comma-separated)")
            }
            scopes.insert(scope)
        }
        return scopes
    }
}

/// An API key as stored: never its secret, only the secret's SHA-256.
public struct APIKey: Sendable, Hashable, Codable {
    /// `key_` and 16 hex digits: public, printed by `keys list`, the first part of the key itself.
    public var id: String
    /// The tenant every request made with the key acts for.
    public var tenant: String
    public var name: String
    public var scopes: Set<APIScope>
    public var createdAt: Date
    /// When the key was revoked; a revoked key authenticates nothing.
    public var revokedAt: Date?

    public init(id: String, tenant: String, name: String, scopes: Set<APIScope>, createdAt: Date, revokedAt: Date? = nil) {
        self.id = id
        self.tenant = tenant
        self.name = name
        self.scopes = scopes
        self.createdAt = createdAt
        self.revokedAt = revokedAt
    }

    public var sortedScopes: [APIScope] { scopes.sorted() }
}

/// A stored key with the hash its secret must match.
public struct StoredAPIKey: Sendable, Hashable {
    public var key: APIKey
    /// SHA-256 of the whole key text (`egk_…`), 32 bytes.
    public var secretSHA256: [UInt8]

    public init(key: APIKey, secretSHA256: [UInt8]) {
        self.key = key
        self.secretSHA256 = secretSHA256
    }
}

/// The API keys of a store's tenants. Every backend keeps them in the store's own database; the rules
/// (format, hashing, comparison, validation) are ``APIKeys``', so a backend only stores and fetches.
public protocol APIKeyStore: Sendable {
    /// Stores a new key (`conflict` if its id exists).
    func insertKey(_ key: StoredAPIKey) async throws
    /// The key with this id, when `secretSHA256` is its stored hash (nil otherwise, and when there is
    /// none). A backend may use the hash to find the row (PostgreSQL's policy shows a key's row to a
    /// session that presents its hash); ``APIKeys/authenticate(_:in:)`` compares it again in constant time.
    func key(id: String, presenting secretSHA256: [UInt8]) async throws -> StoredAPIKey?
    /// The tenant's keys, revoked ones included, oldest first.
    func keys(tenant: String) async throws -> [APIKey]
    /// Marks the tenant's key revoked (`not_found` when the tenant has no key with this id); revoking a
    /// revoked key keeps its first revocation time.
    func revokeKey(id: String, tenant: String, at: Date) async throws -> APIKey
}

/// Creating, parsing and checking API keys: `egk_<16 hex id>_<43 base64url characters>` (a 256-bit
/// random secret). Only the SHA-256 of the whole text is stored; the text is shown once, when created.
public enum APIKeys {
    public static let prefix = "egk_"

    /// A new key for `tenant`, stored; returns the key and its text (shown to the user once).
    public static func create(tenant: String, name: String, scopes: Set<APIScope>, in store: any APIKeyStore, now: Date = Date()) async throws -> (APIKey, String) {
        try CollectionRef.validateTenant(tenant)
        try validate(name: name)
        guard !scopes.isEmpty else { throw EngramError(.invalidInput, "a key needs at least one scope (read, write, admin)") }
        var g = SystemRandomNumberGenerator()
        let id = "key_" + SHA256Hex.hex((0..<8).map { _ in UInt8.random(in: 0...255, using: &g) })
        let secret = (0..<32).map { _ in UInt8.random(in: 0...255, using: &g) }
        let text = prefix + id.dropFirst(4) + "_" + base64URL(secret)
        let key = APIKey(id: id, tenant: tenant, name: name, scopes: scopes, createdAt: RunRules.instant(now))
        try await store.insertKey(StoredAPIKey(key: key, secretSHA256: digest(text)))
        return (key, text)
    }

    /// The key a bearer token names, when it exists, matches and is not revoked; `unauthenticated`
    /// otherwise (one message for every case, so that a caller learns nothing about which keys exist).
    public static func authenticate(_ token: String, in store: any APIKeyStore) async throws -> APIKey {
        guard let id = keyID(of: token) else { throw refused }
        let hash = digest(token)
        guard let stored = try await store.key(id: id, presenting: hash), constantTimeEqual(stored.secretSHA256, hash),
              stored.key.revokedAt == nil else { throw refused }
        return stored.key
    }

    static let refused = EngramError(.unauthenticated, "the API key is missing, malformed, unknown or revoked")

    /// `key_<id>` of a well-formed key text, nil for anything else.
    public static func keyID(of token: String) -> String? {
        let bytes = Array(token.utf8)
        guard bytes.count == prefix.utf8.count + 16 + 1 + 43, token.hasPrefix(prefix) else { return nil }
        let id = bytes[4..<20], sep = bytes[20], secret = bytes[21...]
        guard id.allSatisfy(isLowerHex), sep == UInt8(ascii: "_"),
              secret.allSatisfy({ isBase64URL($0) }) else { return nil }
        return "key_" + String(decoding: id, as: UTF8.self)
    }

    /// `key_` and 16 lowercase hex digits.
    public static func validate(id: String) throws {
        let hex = id.utf8.dropFirst(4)
        guard id.hasPrefix("key_"), hex.count == 16, hex.allSatisfy(isLowerHex) else {
            throw EngramError(.invalidInput, "'\(TerminalText.escaped(id))' is not a key id (key_ and 16 hex digits)")
        }
    }

    /// 1–200 characters, no control characters.
    public static func validate(name: String) throws {
        guard !name.isEmpty, name.count <= 200, !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw EngramError(.invalidInput, "a key name must be 1 to 200 characters without control characters")
        }
    }

    public static func digest(_ token: String) -> [UInt8] { Array(SHA256.hash(data: Data(token.utf8))) }

    /// Equal bytes, in a time that depends only on the lengths.
    public static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var diff: UInt8 = 0
        for i in a.indices { diff |= a[i] ^ b[i] }
        return diff == 0
    }

    static func base64URL(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    static func isLowerHex(_ c: UInt8) -> Bool { (0x30...0x39).contains(c) || (0x61...0x66).contains(c) }

    static func isBase64URL(_ c: UInt8) -> Bool {
        (0x41...0x5A).contains(c) || (0x61...0x7A).contains(c) || (0x30...0x39).contains(c) || c == UInt8(ascii: "-") || c == UInt8(ascii: "_")
    }
}

/// The reference key store: a dictionary.
public actor InMemoryAPIKeyStore: APIKeyStore {
    var stored: [String: StoredAPIKey] = [:]

    public init() {}

    public func insertKey(_ key: StoredAPIKey) async throws {
        guard stored[key.key.id] == nil else { throw EngramError(.conflict, "a key with id \(key.key.id) exists") }
        stored[key.key.id] = key
    }

    public func key(id: String, presenting secretSHA256: [UInt8]) async throws -> StoredAPIKey? { stored[id] }

    public func keys(tenant: String) async throws -> [APIKey] {
        try CollectionRef.validateTenant(tenant)
        return stored.values.map(\.key).filter { $0.tenant == tenant }.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
    }

    public func revokeKey(id: String, tenant: String, at: Date) async throws -> APIKey {
        try CollectionRef.validateTenant(tenant)
        try APIKeys.validate(id: id)
        guard var s = stored[id], s.key.tenant == tenant else { throw APIKeys.unknown(id) }
        if s.key.revokedAt == nil { s.key.revokedAt = RunRules.instant(at) }
        stored[id] = s
        return s.key
    }
}

extension APIKeys {
    /// `not_found` for a key id of another tenant or none: the same words either way.
    public static func unknown(_ id: String) -> EngramError { EngramError(.notFound, "no key \(id) in this tenant") }
}
