import EngramCore
import Foundation

/// One behavioural check that every ``APIKeyStore`` must pass, on an empty store.
public struct APIKeyConformanceCase: Sendable, CustomStringConvertible {
    public let name: String
    let body: @Sendable (any APIKeyStore) async throws -> Void

    public var description: String { name }

    public func run(on store: any APIKeyStore) async throws { try await body(store) }
}

/// The API key suite, run against every backend (`@Test(arguments: APIKeyStoreConformance.cases)`).
public enum APIKeyStoreConformance {
    public static let cases: [APIKeyConformanceCase] = [
        APIKeyConformanceCase(name: "a created key authenticates its tenant with its scopes", body: roundTrip),
        APIKeyConformanceCase(name: "wrong, forged and malformed keys are refused", body: forgeries),
        APIKeyConformanceCase(name: "a revoked key stops working at once", body: revocation),
        APIKeyConformanceCase(name: "tenants list and revoke only their own keys", body: tenants),
        APIKeyConformanceCase(name: "bad key fields are refused and store nothing", body: badInput),
    ]

    static func roundTrip(_ store: any APIKeyStore) async throws {
        let (key, text) = try await APIKeys.create(tenant: "alice", name: "ci deploy", scopes: [.read, .write], in: store)
        try expectEqual(APIKeys.keyID(of: text), key.id, "the key's text starts with its id")
        let found = try await APIKeys.authenticate(text, in: store)
        try expectEqual(found, key, "authenticate returns the stored key")
        try expectEqual(found.tenant, "alice", "tenant")
        try expectEqual(found.sortedScopes, [.read, .write], "scopes")
        let listed = try await store.keys(tenant: "alice")
        try expectEqual(listed, [key], "listed")
        // The store holds the hash of the text, never the text.
        let stored = try expectValue(try await store.key(id: key.id, presenting: APIKeys.digest(text)), "stored key")
        try expectEqual(stored.secretSHA256, APIKeys.digest(text), "stored hash")
    }

    static func forgeries(_ store: any APIKeyStore) async throws {
        let (_, text) = try await APIKeys.create(tenant: "alice", name: "k", scopes: [.read], in: store)
        var changed = Array(text)
        changed[changed.count - 1] = changed[changed.count - 1] == "A" ? "B" : "A"
        let other = try await APIKeys.create(tenant: "bob", name: "k", scopes: [.admin], in: store).1
        // Alice's id with Bob's secret: a real secret, the wrong key.
        let spliced = String(text.prefix(21)) + String(other.dropFirst(21))
        for token in [String(changed), spliced, "", "Bearer " + text, text + "x", String(text.dropLast()), "egk_" + String(repeating: "0", count: 16) + "_" + String(repeating: "A", count: 43),
                      text.uppercased(), String(text.prefix(20)) + "-" + String(text.dropFirst(21))] {
            try await expectError(.unauthenticated, "token \(token)") { try await APIKeys.authenticate(token, in: store) }
        }
    }

    static func revocation(_ store: any APIKeyStore) async throws {
        let (key, text) = try await APIKeys.create(tenant: "alice", name: "k", scopes: [.read], in: store)
        let (kept, keptText) = try await APIKeys.create(tenant: "alice", name: "k2", scopes: [.read], in: store)
        let at = Date(timeIntervalSince1970: 1_800_000_000)
        let revoked = try await store.revokeKey(id: key.id, tenant: "alice", at: at)
        try expectEqual(revoked.revokedAt, at, "revocation time")
        try await expectError(.unauthenticated, "revoked key") { try await APIKeys.authenticate(text, in: store) }
        try expectEqual(try await APIKeys.authenticate(keptText, in: store), kept, "the other key still works")
        let again = try await store.revokeKey(id: key.id, tenant: "alice", at: at.addingTimeInterval(60))
        try expectEqual(again.revokedAt, at, "revoking again keeps the first time")
        let listed = Dictionary(uniqueKeysWithValues: try await store.keys(tenant: "alice").map { ($0.id, $0.revokedAt) })
        try expectEqual(listed, [key.id: at, kept.id: nil], "listing shows the revoked key")
    }

    static func tenants(_ store: any APIKeyStore) async throws {
        let (a, aText) = try await APIKeys.create(tenant: "alice", name: "a", scopes: [.read], in: store)
        let (b, _) = try await APIKeys.create(tenant: "bob", name: "b", scopes: [.read], in: store)
        try expectEqual(try await store.keys(tenant: "alice").map(\.id), [a.id], "alice's list")
        try expectEqual(try await store.keys(tenant: "bob").map(\.id), [b.id], "bob's list")
        try expectEqual(try await store.keys(tenant: "carol"), [], "carol has none")
        try await expectError(.notFound, "bob revoking alice's key") { try await store.revokeKey(id: a.id, tenant: "bob", at: Date()) }
        try expectEqual(try await APIKeys.authenticate(aText, in: store).tenant, "alice", "alice's key survives bob's attempt")
        try await expectError(.notFound, "an unknown id") { try await store.revokeKey(id: "key_0123456789abcdef", tenant: "alice", at: Date()) }
    }

    static func badInput(_ store: any APIKeyStore) async throws {
        try await expectError(.invalidInput, "tenant") { try await APIKeys.create(tenant: "a/b", name: "k", scopes: [.read], in: store) }
        try await expectError(.invalidInput, "tenant lookalike") { try await APIKeys.create(tenant: "аlice", name: "k", scopes: [.read], in: store) }
        try await expectError(.invalidInput, "no scope") { try await APIKeys.create(tenant: "alice", name: "k", scopes: [], in: store) }
        try await expectError(.invalidInput, "control characters") { try await APIKeys.create(tenant: "alice", name: "a\u{1b}[2J", scopes: [.read], in: store) }
        try await expectError(.invalidInput, "empty name") { try await APIKeys.create(tenant: "alice", name: "", scopes: [.read], in: store) }
        try await expectError(.invalidInput, "long name") { try await APIKeys.create(tenant: "alice", name: String(repeating: "n", count: 201), scopes: [.read], in: store) }
        try await expectError(.invalidInput, "bad id") { try await store.revokeKey(id: "key_'; DROP TABLE api_keys; --", tenant: "alice", at: Date()) }
        try expectEqual(try await store.keys(tenant: "alice"), [], "nothing was stored")
        try expectEqual(try APIScope.parse(list: "write,read"), [.read, .write], "scopes parse")
        try await expectError(.invalidInput, "unknown scope") { try APIScope.parse(list: "read,root") }
    }
}
