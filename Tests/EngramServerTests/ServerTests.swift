import EngramCore
import EngramKit
import EngramServer
import EngramWire
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

/// A server over fresh in-memory stores, called in process (HummingbirdTesting's router client).
struct Harness: Sendable {
    let client: any TestClientProtocol
    let stores: Stores

    struct Reply: Sendable {
        let status: Int
        let headers: HTTPFields
        let text: String
        var json: JSONValue { (try? JSONValue.parse(text)) ?? .null }
        var code: String? { json["error"]?["code"]?.string }
    }

    func call(_ method: HTTPRequest.Method, _ uri: String, key: String?, body: String? = nil, headers extra: HTTPFields = [:]) async throws -> Reply {
        var headers = extra
        if let key { headers[.authorization] = "Bearer \(key)" }
        if body != nil { headers[.contentType] = "application/json" }
        let r = try await client.execute(uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) })
        return Reply(status: Int(r.status.code), headers: r.headers, text: String(buffer: r.body))
    }

    func key(_ tenant: String, _ scopes: Set<APIScope> = [.read, .write, .admin]) async throws -> String {
        try await APIKeys.create(tenant: tenant, name: "test", scopes: scopes, in: stores.keys).1
    }

    static func with(_ configuration: ServerConfiguration = ServerConfiguration(embedder: "hash:64"), _ body: @escaping @Sendable (Harness) async throws -> Void) async throws {
        try await Engram.withStores("memory:", access: .create) { stores in
            let server = try EngramServer(stores: stores, configuration: configuration)
            try await server.application().test(.router) { client in try await body(Harness(client: client, stores: stores)) }
        }
    }
}

extension JSONValue {
    var string: String? { if case .string(let s) = self { s } else { nil } }
    var array: [JSONValue]? { if case .array(let a) = self { a } else { nil } }
}

@Suite("HTTP API: authentication, scopes, tenants, bodies")
struct ServerTests {
    /// Every route of the API, with a body where it takes one.
    static let routes: [(HTTPRequest.Method, String, String?)] = [
        (.get, "/v1/collections", nil),
        (.post, "/v1/collections", #"{"name": "notes"}"#),
        (.get, "/v1/collections/notes", nil),
        (.delete, "/v1/collections/notes", nil),
        (.post, "/v1/collections/notes/documents", #"{"documents": [{"text": "x"}]}"#),
        (.get, "/v1/collections/notes/documents/doc_x", nil),
        (.delete, "/v1/collections/notes/documents/doc_x", nil),
        (.get, "/v1/collections/notes/chunks/chk_x", nil),
        (.post, "/v1/collections/notes/search", #"{"query": "x"}"#),
        (.post, "/v1/verify", "{}"),
        (.post, "/v1/memories", #"{"content": "x", "subject": "s"}"#),
        (.get, "/v1/memories", nil),
        (.post, "/v1/memories/recall", #"{"query": "x"}"#),
        (.post, "/v1/memories/forget", #"{"subject": "s", "reason": "r"}"#),
        (.get, "/v1/memories/events", nil),
        (.get, "/v1/memories/mem_x", nil),
        (.post, "/v1/memories/mem_x/hold", #"{"reason": "r"}"#),
        (.get, "/v1/keys", nil),
        (.post, "/v1/keys", #"{"name": "k"}"#),
        (.delete, "/v1/keys/key_0123456789abcdef", nil),
    ]

    /// Routes that change something, and those that only read (``routes`` split by the scope they need).
    static let writeRoutes: Set<String> = ["POST /v1/collections", "DELETE /v1/collections/notes", "POST /v1/collections/notes/documents",
                                            "DELETE /v1/collections/notes/documents/doc_x", "POST /v1/memories", "POST /v1/memories/forget", "POST /v1/memories/mem_x/hold"]
    static let adminRoutes: Set<String> = ["GET /v1/keys", "POST /v1/keys", "DELETE /v1/keys/key_0123456789abcdef"]

    @Test func everyRouteNeedsAValidKey() async throws {
        try await Harness.with { h in
            let revokedKey = try await h.key("alice")
            _ = try await h.stores.keys.revokeKey(id: APIKeys.keyID(of: revokedKey)!, tenant: "alice", at: Date())
            for (method, path, body) in Self.routes {
                for key in [nil, "", "egk_0123456789abcdef_" + String(repeating: "A", count: 43), revokedKey, "Basic " + revokedKey] {
                    var headers = HTTPFields()
                    if let key { headers[.authorization] = key.hasPrefix("Basic") ? key : "Bearer \(key)" }
                    let r = try await h.call(method, path, key: nil, body: body, headers: headers)
                    #expect(r.status == 401, "\(method) \(path) with \(key ?? "no key"): \(r.status) \(r.text)")
                    #expect(r.code == "unauthenticated")
                    #expect(r.headers[.wwwAuthenticate] == "Bearer")
                }
            }
            #expect(try await h.call(.get, "/healthz", key: nil).status == 200)
        }
    }

    @Test func scopesDecideWhatAKeyMayDo() async throws {
        try await Harness.with { h in
            let reader = try await h.key("alice", [.read])
            let writer = try await h.key("alice", [.write])
            for (method, path, body) in Self.routes {
                let name = "\(method) \(path)"
                let needed: APIScope = Self.adminRoutes.contains(name) ? .admin : Self.writeRoutes.contains(name) ? .write : .read
                for (key, scope) in [(reader, APIScope.read), (writer, .write)] where scope != needed {
                    let r = try await h.call(method, path, key: key, body: body)
                    #expect(r.status == 403, "\(name) with a \(scope) key: \(r.status) \(r.text)")
                    #expect(r.code == "forbidden")
                }
            }
            // Nothing was written by the refused calls.
            #expect(try await h.stores.vectors.collections(tenant: "alice").isEmpty)
            #expect(try await h.stores.memories.list(MemoryListRequest(tenant: "alice")).memories.isEmpty)
        }
    }

    @Test func aRevokedKeyStopsAtOnce() async throws {
        try await Harness.with { h in
            let admin = try await h.key("alice")
            let created = try await h.call(.post, "/v1/keys", key: admin, body: #"{"name": "temp", "scopes": ["read"]}"#)
            #expect(created.status == 201)
            let temp = try #require(created.json["secret"]?.string)
            let id = try #require(created.json["key"]?["id"]?.string)
            #expect(try await h.call(.get, "/v1/collections", key: temp).status == 200)
            #expect(try await h.call(.delete, "/v1/keys/\(id)", key: admin).status == 200)
            let after = try await h.call(.get, "/v1/collections", key: temp)
            #expect(after.status == 401)
            // Listing shows the key revoked, and never a secret.
            let listed = try await h.call(.get, "/v1/keys", key: admin)
            #expect(!listed.text.contains(temp) && !listed.text.contains(String(temp.suffix(43))))
            #expect(listed.json.array?.first(where: { $0["id"]?.string == id })?["revoked_at"]?.string != nil)
        }
    }

    /// Bob, holding every scope, tries every route on Alice's records, and with every way of naming a
    /// tenant the API does not take (a header, a query parameter, a body field): he sees nothing of hers,
    /// changes nothing of hers, and another tenant's id is a 404, never a 403.
    @Test func aTenantCannotReachAnotherTenantsRecords() async throws {
        try await Harness.with { h in
            let alice = try await h.key("alice"), bob = try await h.key("bob")
            let ingest = try await h.call(.post, "/v1/collections/notes/documents", key: alice,
                                          body: #"{"documents": [{"id": "plan", "text": "Alice's secret launch plan for March.", "metadata": {"team": "a"}}]}"#)
            #expect(ingest.status == 200, "\(ingest.text)")
            let search = try await h.call(.post, "/v1/collections/notes/search", key: alice, body: #"{"query": "launch plan", "k": 1}"#)
            let hit = try #require(search.json["hits"]?.array?.first)
            let doc = try #require(hit["document_id"]?.string), chunk = try #require(hit["chunk_id"]?.string)
            let manifest = try #require(search.json["manifest"]).serialized(sortedKeys: true)
            let remembered = try await h.call(.post, "/v1/memories", key: alice, body: #"{"content": "Alice's pin is 4321", "subject": "alice"}"#)
            let memory = try #require(remembered.json["memory"]?["id"]?.string)
            let aliceKeyID = try #require(APIKeys.keyID(of: alice))

            var tenantHeader = HTTPFields()
            tenantHeader[HTTPField.Name("X-Engram-Tenant")!] = "alice"
            let attempts: [(HTTPRequest.Method, String, String?, Set<Int>)] = [
                (.get, "/v1/collections/notes", nil, [404]),
                (.get, "/v1/collections/notes?tenant=alice", nil, [404]),
                (.post, "/v1/collections/notes/search", #"{"query": "launch plan"}"#, [404]),
                (.post, "/v1/collections/notes/search", #"{"query": "launch plan", "tenant": "alice"}"#, [400]),
                (.get, "/v1/collections/notes/documents/\(doc)", nil, [404]),
                (.get, "/v1/collections/notes/documents/plan", nil, [404]),
                (.delete, "/v1/collections/notes/documents/\(doc)", nil, [404]),
                (.get, "/v1/collections/notes/chunks/\(chunk)", nil, [404]),
                (.delete, "/v1/collections/notes", nil, [404]),
                (.get, "/v1/memories/\(memory)", nil, [404]),
                (.post, "/v1/memories/\(memory)/hold", #"{"reason": "mine now"}"#, [404]),
                (.delete, "/v1/keys/\(aliceKeyID)", nil, [404]),
            ]
            for (method, path, body, expected) in attempts {
                for headers in [HTTPFields(), tenantHeader] {
                    let r = try await h.call(method, path, key: bob, body: body, headers: headers)
                    #expect(expected.contains(r.status), "bob \(method) \(path): \(r.status) \(r.text)")
                    #expect(!r.text.contains("secret launch") && !r.text.contains("4321"), "bob \(method) \(path) leaked: \(r.text)")
                }
            }
            // Lists, recall, events and verification answer for Bob's own (empty) tenant.
            #expect(try await h.call(.get, "/v1/collections", key: bob, headers: tenantHeader).json == .array([]))
            #expect(try await h.call(.get, "/v1/memories?tenant=alice", key: bob).json["memories"] == .array([]))
            #expect(try await h.call(.post, "/v1/memories/recall", key: bob, body: #"{"query": "pin", "subject": "alice"}"#).json["hits"] == .array([]))
            #expect(try await h.call(.get, "/v1/memories/events?memory_id=\(memory)", key: bob).json == .array([]))
            #expect(try await h.call(.get, "/v1/keys", key: bob).json.array?.count == 1)
            let forget = try await h.call(.post, "/v1/memories/forget", key: bob, body: #"{"ids": ["\#(memory)"], "reason": "attack"}"#)
            #expect(forget.json["deleted"] == .array([]) && forget.json["missing"] == .array([.string(memory)]), "\(forget.text)")
            #expect(try await h.call(.post, "/v1/memories/forget", key: bob, body: #"{"subject": "alice", "reason": "attack"}"#).json["deleted"] == .array([]))
            // A manifest of Alice's is refused for Bob before any chunk is looked up.
            let verified = try await h.call(.post, "/v1/verify", key: bob, body: manifest)
            #expect(verified.status == 400 && !verified.text.contains("launch"), "\(verified.text)")
            // Bob's own collection of the same name is his, not hers.
            #expect(try await h.call(.post, "/v1/collections/notes/documents", key: bob, body: #"{"documents": [{"id": "plan", "text": "Bob's notes."}]}"#).status == 200)

            // Alice's records are all there, unchanged.
            #expect(try await h.stores.vectors.stats(CollectionRef(tenant: "alice", name: "notes")).documents == 1)
            let again = try await h.call(.get, "/v1/collections/notes/documents/plan", key: alice)
            #expect(again.status == 200 && again.json["document_id"]?.string == doc, "\(again.text)")
            let mem = try await h.call(.get, "/v1/memories/\(memory)", key: alice)
            #expect(mem.json["legal_hold"] == .bool(false) && mem.json["content"]?.string == "Alice's pin is 4321", "\(mem.text)")
            #expect(try await h.call(.get, "/v1/collections", key: alice).status == 200)
            let own = try await h.call(.post, "/v1/verify", key: alice, body: manifest)
            #expect(own.json["hits"]?.array?.first?["status"]?.string == "verified", "\(own.text)")
        }
    }

    @Test func badBodiesAreRefusedWithTheirReasonAndChangeNothing() async throws {
        var configuration = ServerConfiguration(embedder: "hash:64")
        configuration.maxBodyBytes = 4_096
        try await Harness.with(configuration) { h in
            let key = try await h.key("alice")
            #expect(try await h.call(.post, "/v1/collections", key: key, body: #"{"name": "notes", "embedder": "hash:8"}"#).status == 201)
            let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
            let deepFilter = #"{"query": "x", "filter": "# + String(repeating: #"{"$not": "#, count: 200) + #"{"a": 1}"# + String(repeating: "}", count: 200) + "}"
            let cases: [(String, String, Int, String)] = [
                ("/v1/collections/notes/search", #"{"query": "x""#, 400, "invalid_input"),
                ("/v1/collections/notes/search", "not json", 400, "invalid_input"),
                ("/v1/collections/notes/search", "", 400, "invalid_input"),
                ("/v1/collections/notes/search", "[1, 2]", 400, "invalid_input"),
                ("/v1/collections/notes/search", #"{"query": 5}"#, 400, "invalid_input"),
                ("/v1/collections/notes/search", #"{"query": "x", "k": "ten"}"#, 400, "invalid_input"),
                ("/v1/collections/notes/search", #"{"query": "x", "k": 0}"#, 400, "invalid_input"),
                ("/v1/collections/notes/search", #"{"query": "x", "mode": "magic"}"#, 400, "invalid_input"),
                ("/v1/collections/notes/search", #"{"query": "x", "filters": {"a": 1}}"#, 400, "invalid_input"),
                ("/v1/collections/notes/search", #"{"query": "x", "filter": {"$bogus": 1}}"#, 400, "invalid_filter"),
                ("/v1/collections/notes/search", deepFilter, 400, "invalid_filter"),
                ("/v1/collections/notes/search", String(deep.prefix(4_000)), 400, "invalid_input"),
                ("/v1/collections/notes/search", #"{"vector": [1, 2, 3]}"#, 422, "embedding_mismatch"),
                ("/v1/collections/notes/search", #"{"vector": [1, 2, 3, 4, 5, 6, 7, 1e39]}"#, 400, "invalid_input"),
                ("/v1/collections/notes/search", deep, 413, "too_large"),
                ("/v1/collections/notes/documents", #"{"documents": []}"#, 400, "invalid_input"),
                ("/v1/collections/notes/documents", #"{"documents": [{"text": "a", "title": "t"}]}"#, 400, "invalid_input"),
                ("/v1/collections/notes/documents", #"{"documents": [{"text": "a\u0000b"}]}"#, 400, "invalid_input"),
                ("/v1/collections/notes/documents", #"{"documents": [{"text": "a", "metadata": [1]}]}"#, 400, "invalid_input"),
                ("/v1/collections/notes/documents", #"{"documents": [{"id": "a", "text": "a"}, {"id": "a", "text": "b"}]}"#, 400, "invalid_input"),
                ("/v1/collections/notes/documents", #"{"documents": [{"text": "a"}], "embedder": "hash:9"}"#, 422, "embedding_mismatch"),
                ("/v1/collections/no%2Fpe/documents", #"{"documents": [{"text": "a"}]}"#, 400, "invalid_input"),
                ("/v1/memories", #"{"content": "", "subject": "s"}"#, 400, "invalid_input"),
                ("/v1/memories", #"{"content": "x", "subject": "s", "importance": 7}"#, 400, "invalid_input"),
                ("/v1/memories/forget", #"{"reason": "r"}"#, 400, "invalid_input"),
                ("/v1/memories/forget", #"{"ids": ["m"], "subject": "s", "reason": "r"}"#, 400, "invalid_input"),
                ("/v1/verify", #"{"not": "a manifest"}"#, 400, "invalid_manifest"),
            ]
            for (path, body, status, code) in cases {
                let r = try await h.call(.post, path, key: key, body: body)
                #expect(r.status == status && r.code == code, "\(path) \(body.prefix(80)): \(r.status) \(r.text.prefix(300))")
                #expect(r.headers[HTTPField.Name("X-Request-Id")!]?.count == 16)
            }
            #expect(try await h.stores.vectors.stats(CollectionRef(tenant: "alice", name: "notes")).documents == 0)
            #expect(try await h.stores.memories.list(MemoryListRequest(tenant: "alice")).memories.isEmpty)
            let unknown = try await h.call(.get, "/v1/nothing/here", key: key)
            #expect(unknown.status == 404 && unknown.code == "not_found")
        }
    }

    @Test func insecureModeBindsLoopbackOnlyAndActsForItsTenant() async throws {
        for host in ["0.0.0.0", "10.1.2.3", "::", "example.com"] {
            #expect(throws: EngramError.self, "\(host)") { try ServerConfiguration(host: host, authentication: .insecureNoAuth(tenant: "dev")).validate() }
        }
        let insecure = ServerConfiguration(authentication: .insecureNoAuth(tenant: "dev"), embedder: "hash:64")
        try await Harness.with(insecure) { (h: Harness) async throws in
            #expect(try await h.call(.post, "/v1/memories", key: nil, body: #"{"content": "x", "subject": "s"}"#).status == 201)
            #expect(try await h.stores.memories.list(MemoryListRequest(tenant: "dev")).memories.count == 1)
        }
    }

    static func bigIngest(_ n: Int) -> String {
        #"{"documents": ["# + (0..<n).map { "{\"id\": \"d\($0)\", \"text\": \"Document \($0) about tea and trains and taxes.\"}" }.joined(separator: ",") + "]}"
    }

    @Test func aRequestOverItsTimeIsAnswered503() async throws {
        var configuration = ServerConfiguration(embedder: "hash:64")
        configuration.requestTimeout = .milliseconds(20)
        try await Harness.with(configuration) { h in
            let key = try await h.key("alice")
            let started = ContinuousClock.now
            let r = try await h.call(.post, "/v1/collections/notes/documents", key: key, body: Self.bigIngest(2_000))
            #expect(r.status == 503 && r.code == "unavailable" && r.headers[.retryAfter] == "1", "\(r.status) \(r.text.prefix(200))")
            #expect(ContinuousClock.now - started < .seconds(30))
            #expect(try await h.call(.get, "/healthz", key: nil).status == 200)
        }
    }

    /// With room for one request, a second one that arrives while the first runs is answered 503 at once
    /// (whichever of the two got in first, the other is refused; neither waits in a queue).
    @Test func requestsOverTheConcurrencyLimitAreRefusedNotQueued() async throws {
        var configuration = ServerConfiguration(embedder: "hash:64")
        configuration.maxConcurrentRequests = 1
        try await Harness.with(configuration) { h in
            let key = try await h.key("alice")
            let slow = Task { try await h.call(.post, "/v1/collections/notes/documents", key: key, body: Self.bigIngest(1_500)) }
            try await Task.sleep(for: .milliseconds(200))
            let quick = try await h.call(.get, "/v1/collections", key: key)
            let first = try await slow.value
            #expect(Set([first.status, quick.status]) == [200, 503], "\(first.status) \(quick.status) \(quick.text)")
            let refused = first.status == 503 ? first : quick
            #expect(refused.code == "unavailable" && refused.headers[.retryAfter] == "1")
            #expect(try await h.call(.get, "/v1/collections", key: key).status == 200, "the slot is free again")
        }
    }
}
