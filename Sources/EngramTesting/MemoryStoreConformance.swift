import EngramCore
import Foundation
import Synchronization

/// A clock a test moves by hand.
public final class TestClock: Sendable {
    private let current: Mutex<Date>

    public init(_ start: Date = Date(timeIntervalSince1970: 1_800_000_000)) {
        current = Mutex(start)
    }

    public var now: Date { current.withLock { $0 } }

    public func advance(by seconds: TimeInterval) {
        current.withLock { $0 = $0.addingTimeInterval(seconds) }
    }

    /// The clock as a store's `now` function.
    public var function: @Sendable () -> Date { { self.now } }
}

/// One behavioural check that every ``MemoryStore`` must pass. The store it gets is empty and reads its
/// time from `clock`.
public struct MemoryConformanceCase: Sendable, CustomStringConvertible {
    public let name: String
    let body: @Sendable (any MemoryStore, TestClock) async throws -> Void

    public var description: String { name }

    public func run(on store: any MemoryStore, clock: TestClock) async throws {
        try await body(store, clock)
    }
}

/// The memory conformance suite: the reference semantics of Engram's memory stores, run against every
/// backend (`@Test(arguments: MemoryStoreConformance.cases)`, a fresh store and clock per case).
public enum MemoryStoreConformance {
    public static let cases: [MemoryConformanceCase] = [
        MemoryConformanceCase(name: "remember creates, then refreshes the same content", body: rememberAndRefresh),
        MemoryConformanceCase(name: "bad input is refused and changes nothing", body: badInput),
        MemoryConformanceCase(name: "recall scores: similarity, keywords, recency, importance", body: recallScores),
        MemoryConformanceCase(name: "recall selection: subject, namespace, kinds, filter, expiry", body: recallSelection),
        MemoryConformanceCase(name: "recall among many memories ranks as the reference score", body: recallAmongMany),
        MemoryConformanceCase(name: "list pages with a stable cursor", body: listPages),
        MemoryConformanceCase(name: "update records an event; conflicts and holds refuse", body: updates),
        MemoryConformanceCase(name: "forget by id, subject, filter and all, with receipts", body: forgetting),
        MemoryConformanceCase(name: "forgotten content is gone from every API", body: deletionIsComplete),
        MemoryConformanceCase(name: "sweep deletes expired memories except held ones", body: sweeping),
        MemoryConformanceCase(name: "tenants never see each other", body: tenantSeparation),
        MemoryConformanceCase(name: "no batch cap on forget", body: noBatchCap),
        MemoryConformanceCase(name: "audit events never hold content", body: auditHasNoContent),
        MemoryConformanceCase(name: "concurrent remembers of one content make one memory", body: concurrentRemembers),
        MemoryConformanceCase(name: "restore matches ids within the tenant and never changes a held memory", body: restoring),
        MemoryConformanceCase(name: "events are numbered within their tenant", body: eventNumbering),
    ]

    static let embedder = HashEmbedder(dimension: 64)

    static func draft(_ content: String, tenant: String = "t1", subject: String = "alice", namespace: String = "default", kind: MemoryKind = .fact,
                      metadata: Metadata = [:], importance: Double = 0.5, retention: String = "default", embed: Bool = true) -> MemoryDraft {
        MemoryDraft(tenant: tenant, subject: subject, namespace: namespace, kind: kind, content: content, metadata: metadata, importance: importance,
                    retention: retention, embedding: embed ? embedder.vector(for: content) : nil, embeddingIdentity: embed ? embedder.identity : nil)
    }

    static func recall(_ text: String?, tenant: String = "t1", subject: String? = nil, namespace: String? = nil, kinds: [MemoryKind]? = nil,
                       filter: Filter? = nil, vector: Bool = true, limit: Int = 10) -> RecallQuery {
        RecallQuery(tenant: tenant, subject: subject, namespace: namespace, kinds: kinds, filter: filter, text: text,
                    vector: vector ? text.map(embedder.vector(for:)) : nil, vectorIdentity: vector && text != nil ? embedder.identity : nil, limit: limit)
    }

    /// Everything a tenant has, as comparable text (content, state and events).
    static func snapshot(_ store: any MemoryStore, tenant: String = "t1") async throws -> String {
        let memories = try await store.export(tenant: tenant, subject: nil)
        let events = try await store.events(tenant: tenant, memoryID: nil)
        return memories.map { "\($0.id)|\($0.content)|\($0.importance)|\($0.metadata.canonicalJSON)|\($0.legalHold)|\(String(describing: $0.expiresAt))" }.joined(separator: "\n")
            + "\n" + events.map { "\($0.memoryID)|\($0.kind.rawValue)|\($0.contentSHA256)" }.joined(separator: "\n")
    }

    static func rememberAndRefresh(_ store: any MemoryStore, _ clock: TestClock) async throws {
        let first = try await store.remember(draft("Alice prefers tea over coffee", metadata: ["topic": .string("drinks")], importance: 0.4), actor: "agent")
        try expect(first.created, "a new content is created")
        try expect(first.memory.id.hasPrefix("mem_"), "ids start with mem_")
        try expectEqual(first.memory.contentSHA256, SHA256Hex.hash("Alice prefers tea over coffee"))
        try expectEqual(first.memory.expiresAt, clock.now.addingTimeInterval(365 * 86_400), "the default policy keeps a memory 365 days")
        clock.advance(by: 60)
        let again = try await store.remember(draft("Alice prefers tea over coffee", metadata: ["source": .string("chat")], importance: 0.9, retention: "session"), actor: "agent")
        try expect(!again.created, "the same content for the same subject and namespace is refreshed")
        try expectEqual(again.memory.id, first.memory.id)
        try expectEqual(again.memory.importance, 0.9, "the larger importance")
        try expectEqual(again.memory.metadata, ["topic": .string("drinks"), "source": .string("chat")], "metadata merged")
        try expectEqual(again.memory.updatedAt, clock.now)
        try expectEqual(again.memory.createdAt, first.memory.createdAt)
        try expectEqual(again.memory.retention, "session")
        try expectEqual(again.memory.expiresAt, clock.now.addingTimeInterval(86_400), "expiry computed again from the refresh")
        let otherNamespace = try await store.remember(draft("Alice prefers tea over coffee", namespace: "work"), actor: "agent")
        try expect(otherNamespace.created && otherNamespace.memory.id != first.memory.id, "another namespace is another memory")
        let otherSubject = try await store.remember(draft("Alice prefers tea over coffee", subject: "bob"), actor: "agent")
        try expect(otherSubject.created, "another subject is another memory")
        let events = try await store.events(tenant: "t1", memoryID: first.memory.id)
        try expectEqual(events.map(\.kind), [.created, .updated])
        try expectEqual(events.map(\.actor), ["agent", "agent"])
        try expect(events[0].sequence < events[1].sequence, "event sequence increases")
        let got = try await store.memory(id: first.memory.id, tenant: "t1")
        try expectEqual(got?.content, "Alice prefers tea over coffee")
        try expectEqual(got?.accessCount, 1, "get counts as an access")
        try expectEqual(got?.lastAccessedAt, clock.now)
        try expectEqual(got?.embedding, embedder.vector(for: "Alice prefers tea over coffee"))
        try expectEqual(got?.embeddingIdentity, embedder.identity)
        let superseding = try await store.remember(MemoryDraft(tenant: "t1", subject: "alice", content: "Alice now prefers green tea", supersedes: first.memory.id), actor: "agent")
        try expectEqual(superseding.memory.supersedes, first.memory.id)
        try await expectError(.notFound, "supersedes must name an existing memory") {
            try await store.remember(MemoryDraft(tenant: "t1", subject: "alice", content: "x", supersedes: "mem_000000000000000000000000"), actor: "agent")
        }
    }

    static func badInput(_ store: any MemoryStore, _ clock: TestClock) async throws {
        _ = try await store.remember(draft("a memory that stays"), actor: "agent")
        let before = try await snapshot(store)
        var past = draft("expired already")
        past.expiresAt = clock.now.addingTimeInterval(-1)
        var noIdentity = draft("vector without identity")
        noIdentity.embeddingIdentity = nil
        var wrongDimension = draft("wrong dimension")
        wrongDimension.embedding = [0.1, 0.2]
        var nan = draft("not a number")
        nan.embedding![3] = .nan
        let bad: [(String, EngramError.Code, MemoryDraft, String)] = [
            ("importance above 1", .invalidInput, draft("x", importance: 1.5), "agent"),
            ("importance below 0", .invalidInput, draft("x", importance: -0.1), "agent"),
            ("importance NaN", .invalidInput, draft("x", importance: .nan), "agent"),
            ("unknown retention", .invalidInput, draft("x", retention: "decade"), "agent"),
            ("expiry in the past", .invalidInput, past, "agent"),
            ("subject with a control character", .invalidInput, draft("x", subject: "al\u{7}ice"), "agent"),
            ("subject with a newline", .invalidInput, draft("x", subject: "alice\nbob"), "agent"),
            ("tenant with a control character", .invalidInput, draft("x", tenant: "t\u{0}1"), "agent"),
            ("empty content", .invalidInput, draft("  \n "), "agent"),
            ("content over the limit", .invalidInput, draft(String(repeating: "a", count: MemoryRules.maxContentBytes + 1), embed: false), "agent"),
            ("bad kind", .invalidInput, draft("x", kind: "Fact!"), "agent"),
            ("metadata key with a double quote", .invalidInput, draft("x", metadata: ["a\"b": .string("v")]), "agent"),
            ("metadata value not finite", .invalidInput, draft("x", metadata: ["score": .double(.infinity)]), "agent"),
            ("embedding without identity", .embeddingMismatch, noIdentity, "agent"),
            ("wrong dimension", .embeddingMismatch, wrongDimension, "agent"),
            ("NaN in the embedding", .invalidInput, nan, "agent"),
            ("empty actor", .invalidInput, draft("x"), ""),
        ]
        for (what, code, d, actor) in bad {
            try await expectError(code, what) { try await store.remember(d, actor: actor) }
        }
        try await expectError(.invalidInput, "recall limit 0") { try await store.recall(recall("x", limit: 0)) }
        try await expectError(.embeddingMismatch, "recall vector of another dimension") {
            try await store.recall(RecallQuery(tenant: "t1", vector: [1, 2, 3], vectorIdentity: embedder.identity))
        }
        try await expectError(.invalidInput, "bad cursor") { try await store.list(MemoryListRequest(tenant: "t1", cursor: "nonsense")) }
        try await expectError(.invalidInput, "forget with an empty filter") {
            try await store.forget(ForgetRequest(tenant: "t1", selector: .filter(.and([]), subject: nil, namespace: nil), actor: "ops", reason: "cleanup"))
        }
        try await expectError(.invalidInput, "forget without an actor") {
            try await store.forget(ForgetRequest(tenant: "t1", selector: .all, actor: "", reason: "cleanup"))
        }
        let id = try await store.export(tenant: "t1", subject: nil)[0].id
        try await expectError(.invalidInput, "update to importance 2") { try await store.update(id: id, tenant: "t1", MemoryUpdate(importance: 2), actor: "ops", reason: "") }
        try await expectError(.invalidInput, "update to an unknown retention") { try await store.update(id: id, tenant: "t1", MemoryUpdate(retention: "decade"), actor: "ops", reason: "") }
        try await expectError(.notFound, "update of an unknown id") { try await store.update(id: "mem_ffffffffffffffffffffffff", tenant: "t1", MemoryUpdate(importance: 1), actor: "ops", reason: "") }
        let after = try await snapshot(store)
        try expectEqual(after, before, "refused calls leave the store exactly as it was")
    }

    static func recallScores(_ store: any MemoryStore, _ clock: TestClock) async throws {
        let tea = try await store.remember(draft("Alice drinks green tea every morning", importance: 0.5), actor: "a").memory
        _ = try await store.remember(draft("The deployment pipeline runs on Fridays", importance: 0.5), actor: "a")
        _ = try await store.remember(draft("Bob's favourite editor is vim", subject: "bob", importance: 0.5), actor: "a")
        let hits = try await store.recall(recall("what tea does alice drink"))
        try expect(!hits.isEmpty, "something is recalled")
        try expectEqual(hits[0].memory.id, tea.id, "the tea memory ranks first")
        let w = RecallWeights()
        for h in hits {
            let s = h.score
            try expect(s.similarity != nil, "every hit has a similarity: all memories are embedded in the query's space")
            let expectedRelevance = (1 - w.keywordShare) * min(1, max(0, s.similarity!)) + w.keywordShare * (s.keyword ?? 0)
            try expect(abs(s.relevance - expectedRelevance) < 1e-9, "relevance mixes similarity and keywords: \(s)")
            try expect(abs(s.total - (w.similarity * s.relevance + w.recency * s.recency + w.importance * s.importance)) < 1e-9, "total is the weighted sum: \(s)")
            try expect(s.recency > 0 && s.recency <= 1, "recency in (0, 1]")
        }
        try expect(abs(hits[0].score.keyword! - 2.0 / 5.0) < 1e-9, "2 of the 5 query words (what tea does alice drink) appear: \(hits[0].score)")
        try expectEqual(hits[0].memory.accessCount, 1, "recall counts as an access")
        try expect(zip(hits, hits.dropFirst()).allSatisfy { $0.score.total >= $1.score.total }, "sorted by total")

        // Keyword only: memories sharing no word are left out.
        let keywordOnly = try await store.recall(recall("vim editor", vector: false))
        try expectEqual(keywordOnly.map(\.memory.subject), ["bob"])
        try expectEqual(keywordOnly[0].score.keyword, 1.0)
        try expect(keywordOnly[0].score.similarity == nil, "no vector, no similarity")

        // Recency halves every half-life: an identical memory of another subject written 30 days later ranks first.
        let old = try await store.remember(draft("shared fact about the office", subject: "carol", importance: 0.5), actor: "a").memory
        clock.advance(by: 30 * 86_400)
        let new = try await store.remember(draft("shared fact about the office", subject: "dave", importance: 0.5), actor: "a").memory
        let ranked = try await store.recall(recall("shared fact about the office"))
        try expectEqual(Array(ranked.prefix(2).map(\.memory.id)), [new.id, old.id])
        try expect(abs(ranked[0].score.recency - 1) < 1e-9 && abs(ranked[1].score.recency - 0.5) < 1e-9, "recency 1 and 0.5: \(ranked[0].score.recency), \(ranked[1].score.recency)")

        // Importance breaks the tie between equally relevant, equally recent memories.
        let low = try await store.remember(draft("the wifi password is on the fridge", subject: "erin", importance: 0.1), actor: "a").memory
        let high = try await store.remember(draft("the wifi password is on the fridge", subject: "frank", importance: 0.9), actor: "a").memory
        let byImportance = try await store.recall(recall("wifi password fridge"))
        try expectEqual(Array(byImportance.prefix(2).map(\.memory.id)), [high.id, low.id])
        let limited = try await store.recall(recall("wifi password fridge", limit: 1))
        try expectEqual(limited.count, 1)
    }

    /// Several hundred memories of varied words, importance and age, some without a vector: each recall's
    /// hits are the best by the reference score computed over an export (stores may skip memories that
    /// cannot rank, but never one that should).
    static func recallAmongMany(_ store: any MemoryStore, _ clock: TestClock) async throws {
        let words = ["tea", "coffee", "train", "invoice", "garden", "report", "budget", "flight", "server", "holiday", "dentist", "backup"]
        var rng = SplitMix64(seed: 7)
        func word() -> String { words[Int(rng.next() % UInt64(words.count))] }
        for i in 0..<360 {
            if i % 40 == 0 { clock.advance(by: 3 * 86_400) }
            let importance = Double(rng.next() % 101) / 100
            _ = try await store.remember(draft("note \(i): \(word()) \(word()) and \(word())", subject: i % 3 == 0 ? "bob" : "alice",
                                               importance: importance, embed: i % 5 != 0), actor: "a")
        }
        clock.advance(by: 86_400)
        let all = try await store.export(tenant: "t1", subject: nil)
        try expectEqual(all.count, 360)
        for (text, vector, limit) in [("tea and coffee", true, 1), ("garden budget report", true, 7), ("flight holiday", false, 25), ("server backup dentist train", true, 40)] {
            let query = recall(text, vector: vector, limit: limit)
            let prepared = MemoryRules.PreparedRecall(query)
            let reference = all.compactMap { m in prepared.score(m, now: clock.now).map { (m.id, $0.total) } }
                .sorted { MemoryRules.ranksBefore(total: $0.1, id: $0.0, total: $1.1, id: $1.0) }
            let hits = try await store.recall(query)
            try expectEqual(hits.count, min(limit, reference.count), "\(text): as many hits as the limit allows")
            let expected = Dictionary(uniqueKeysWithValues: reference.map { ($0.0, $0.1) })
            let cut = reference[hits.count - 1].1
            for (rank, hit) in hits.enumerated() {
                let total = try expectValue(expected[hit.memory.id], "\(text): hit \(hit.memory.id) is a memory the reference scores")
                // A backend computing in SQL may differ in the last digits, never by more.
                try expect(abs(total - hit.score.total) < 1e-6, "\(text): the hit's total \(hit.score.total) is the reference's \(total)")
                try expect(total >= cut - 1e-6, "\(text): hit \(rank) scores \(total), below the reference's rank-\(limit) total \(cut)")
                try expect(abs(total - reference[rank].1) < 1e-6, "\(text): rank \(rank) scores \(total), the reference's rank \(rank) \(reference[rank].1)")
            }
        }
    }

    static func recallSelection(_ store: any MemoryStore, _ clock: TestClock) async throws {
        _ = try await store.remember(draft("project apollo launches in may", namespace: "work", kind: .fact, metadata: ["project": .string("apollo")]), actor: "a")
        _ = try await store.remember(draft("project apollo standup is at nine", namespace: "work", kind: .episode, metadata: ["project": .string("apollo")]), actor: "a")
        _ = try await store.remember(draft("project zeus launches in june", namespace: "work", metadata: ["project": .string("zeus")]), actor: "a")
        _ = try await store.remember(draft("project apollo is a secret hobby", namespace: "home", metadata: ["project": .string("apollo")]), actor: "a")
        _ = try await store.remember(draft("project apollo notes from bob", subject: "bob", namespace: "work"), actor: "a")
        _ = try await store.remember(draft("project apollo temporary note", namespace: "work", retention: "session"), actor: "a")
        func contents(_ q: RecallQuery) async throws -> Set<String> { Set(try await store.recall(q).map(\.memory.content)) }
        try expectEqual(try await contents(recall("project apollo", subject: "alice", namespace: "work", kinds: [.episode])), ["project apollo standup is at nine"])
        try expectEqual(try await contents(recall("project launches", subject: "alice", filter: try Filter.parse(#"project == "zeus""#))), ["project zeus launches in june"])
        try expectEqual(try await contents(recall("apollo", subject: "alice", namespace: "home")), ["project apollo is a secret hobby"])
        try expectEqual(try await contents(recall("apollo", subject: "bob")), ["project apollo notes from bob"])
        try expect(try await contents(recall("temporary note", vector: false)).contains("project apollo temporary note"), "not expired yet")
        clock.advance(by: 86_400)
        try expect(!(try await contents(recall("temporary note", vector: false)).contains("project apollo temporary note")), "expired memories are never recalled, swept or not")
    }

    static func listPages(_ store: any MemoryStore, _ clock: TestClock) async throws {
        var ids: [String] = []
        for i in 0..<25 {
            ids.append(try await store.remember(draft("note number \(i)", embed: false), actor: "a").memory.id)
            if i % 3 == 0 { clock.advance(by: 1) }
        }
        _ = try await store.remember(draft("someone else's note", subject: "bob", embed: false), actor: "a")
        var seen: [String] = []
        var cursor: String?
        var pages = 0
        repeat {
            let page = try await store.list(MemoryListRequest(tenant: "t1", subject: "alice", limit: 10, cursor: cursor))
            seen += page.memories.map(\.id)
            cursor = page.nextCursor
            pages += 1
            if pages == 2 {
                clock.advance(by: 1)
                ids.append(try await store.remember(draft("written while paging", embed: false), actor: "a").memory.id)
            }
        } while cursor != nil && pages < 10
        try expectEqual(pages, 3)
        try expectEqual(Set(seen), Set(ids), "every memory exactly once, including one written while paging")
        try expectEqual(seen.count, ids.count)
        let all = try await store.list(MemoryListRequest(tenant: "t1", limit: 1000)).memories
        try expectEqual(all.count, 27)
        try expect(zip(all, all.dropFirst()).allSatisfy { MemoryRules.listsBefore($0, $1) }, "creation order, then id")
        let byKind = try await store.list(MemoryListRequest(tenant: "t1", kind: .episode))
        try expect(byKind.memories.isEmpty && byKind.nextCursor == nil, "no episodes")
    }

    static func updates(_ store: any MemoryStore, _ clock: TestClock) async throws {
        let m = try await store.remember(draft("the meeting is on monday"), actor: "a").memory
        let other = try await store.remember(draft("the meeting is on tuesday"), actor: "a").memory
        clock.advance(by: 10)
        let changed = try await store.update(id: m.id, tenant: "t1", MemoryUpdate(content: "the meeting moved to wednesday", metadata: ["room": .string("b2")], importance: 0.8, kind: .episode, retention: "session"), actor: "ops", reason: "correction")
        try expectEqual(changed.content, "the meeting moved to wednesday")
        try expectEqual(changed.contentSHA256, SHA256Hex.hash("the meeting moved to wednesday"))
        try expectEqual(changed.metadata, ["room": .string("b2")])
        try expectEqual(changed.importance, 0.8)
        try expectEqual(changed.kind, .episode)
        try expectEqual(changed.expiresAt, clock.now.addingTimeInterval(86_400))
        try expect(changed.embedding == nil, "an embedding of the old content is dropped")
        try expectEqual(changed.updatedAt, clock.now)
        let events = try await store.events(tenant: "t1", memoryID: m.id)
        try expectEqual(events.map(\.kind), [.created, .updated])
        try expectEqual(events[1].contentSHA256, changed.contentSHA256)
        try expectEqual(events[1].reason, "correction")
        try expectEqual(try await store.memory(id: m.id, tenant: "t1")?.content, "the meeting moved to wednesday")
        let reembedded = try await store.update(id: m.id, tenant: "t1", MemoryUpdate(content: "the meeting is on friday", embedding: embedder.vector(for: "the meeting is on friday"), embeddingIdentity: embedder.identity), actor: "ops", reason: "")
        try expectEqual(reembedded.embedding, embedder.vector(for: "the meeting is on friday"))

        let before = try await snapshot(store)
        try await expectError(.conflict, "content another memory of the subject holds") {
            try await store.update(id: m.id, tenant: "t1", MemoryUpdate(content: "the meeting is on tuesday"), actor: "ops", reason: "")
        }
        _ = try await store.setLegalHold(id: other.id, tenant: "t1", held: true, actor: "legal", reason: "case 7")
        let held = try await snapshot(store)
        try await expectError(.legalHold, "a held memory is not changed") {
            try await store.update(id: other.id, tenant: "t1", MemoryUpdate(importance: 1), actor: "ops", reason: "")
        }
        try expectEqual(try await snapshot(store), held)
        try expect(before != held, "the hold itself is recorded")
        let again = try await store.setLegalHold(id: other.id, tenant: "t1", held: true, actor: "legal", reason: "again")
        try expect(again.legalHold, "still held")
        let released = try await store.setLegalHold(id: other.id, tenant: "t1", held: false, actor: "legal", reason: "case closed")
        try expect(!released.legalHold, "released")
        try expectEqual(try await store.events(tenant: "t1", memoryID: other.id).map(\.kind), [.created, .holdSet, .holdCleared], "setting a hold twice records it once")
    }

    static func forgetting(_ store: any MemoryStore, _ clock: TestClock) async throws {
        var alice: [String] = []
        for i in 0..<5 { alice.append(try await store.remember(draft("alice fact \(i)", metadata: ["source": .string(i < 2 ? "import" : "chat")]), actor: "a").memory.id) }
        let bob = try await store.remember(draft("bob fact", subject: "bob", metadata: ["source": .string("import")]), actor: "a").memory.id
        let foreign = try await store.remember(draft("another tenant's fact", tenant: "t2"), actor: "a").memory.id
        _ = try await store.setLegalHold(id: alice[4], tenant: "t1", held: true, actor: "legal", reason: "case")

        let byID = try await store.forget(ForgetRequest(tenant: "t1", selector: .ids([alice[0], foreign, "mem_000000000000000000000000"]), actor: "ops", reason: "user request"))
        try expectEqual(byID.deleted, [alice[0]])
        try expectEqual(Set(byID.missing), [foreign, "mem_000000000000000000000000"], "another tenant's id is simply missing")
        try expectEqual(byID.actor, "ops")
        try expectEqual(byID.at, clock.now)
        try expect(try await store.memory(id: foreign, tenant: "t2") != nil, "the other tenant's memory is untouched")

        let byFilter = try await store.forget(ForgetRequest(tenant: "t1", selector: .filter(try Filter.parse(#"source == "import""#), subject: "alice", namespace: nil), actor: "ops", reason: "bad import"))
        try expectEqual(byFilter.deleted, [alice[1]], "only alice's imported memory that is left")
        try expect(try await store.memory(id: bob, tenant: "t1") != nil, "bob's import is outside the subject")

        let bySubject = try await store.forget(ForgetRequest(tenant: "t1", selector: .subject("alice"), actor: "ops", reason: "erasure"))
        try expectEqual(Set(bySubject.deleted), Set(alice[2...3]))
        try expectEqual(bySubject.held, [alice[4]], "the held memory is kept and reported")
        try expectEqual(try await store.export(tenant: "t1", subject: "alice").map(\.id), [alice[4]])

        let everything = try await store.forget(ForgetRequest(tenant: "t1", selector: .all, actor: "ops", reason: "tenant closed"))
        try expectEqual(everything.deleted, [bob])
        try expectEqual(everything.held, [alice[4]])
        let deletedEvents = try await store.events(tenant: "t1", memoryID: nil).filter { $0.kind == .deleted }
        try expectEqual(Set(deletedEvents.map(\.memoryID)), Set([alice[0], alice[1], alice[2], alice[3], bob]))
        try expectEqual(try await store.export(tenant: "t2", subject: nil).map(\.id), [foreign])
    }

    static func deletionIsComplete(_ store: any MemoryStore, _ clock: TestClock) async throws {
        let secret = "my bank pin is 4711 zanzibar"
        let m = try await store.remember(draft(secret, metadata: ["kind": .string("secret")]), actor: "a").memory
        _ = try await store.remember(draft("an unrelated memory about zanzibar travel"), actor: "a")
        try expect(try await store.recall(recall("bank pin zanzibar")).contains { $0.memory.id == m.id }, "found before")
        let receipt = try await store.forget(ForgetRequest(tenant: "t1", selector: .ids([m.id]), actor: "ops", reason: "erasure"))
        try expectEqual(receipt.deleted, [m.id])
        try expect(!(try await store.recall(recall("bank pin zanzibar"))).contains { $0.memory.content == secret }, "not recalled by vector")
        try expect(!(try await store.recall(recall("bank pin 4711", vector: false))).contains { $0.memory.content == secret }, "not recalled by keyword")
        try expect(try await store.memory(id: m.id, tenant: "t1") == nil, "not by id")
        try expect(!(try await store.list(MemoryListRequest(tenant: "t1", limit: 1000))).memories.contains { $0.id == m.id }, "not listed")
        try expect(!(try await store.export(tenant: "t1", subject: nil)).contains { $0.content == secret }, "not exported")
        try await expectError(.notFound, "cannot be updated") { try await store.update(id: m.id, tenant: "t1", MemoryUpdate(importance: 1), actor: "ops", reason: "") }
        let again = try await store.forget(ForgetRequest(tenant: "t1", selector: .ids([m.id]), actor: "ops", reason: "erasure"))
        try expect(again.deleted.isEmpty && again.missing == [m.id], "forgetting again finds nothing")
    }

    static func sweeping(_ store: any MemoryStore, _ clock: TestClock) async throws {
        let short = try await store.remember(draft("session scratch one", retention: "session"), actor: "a").memory
        let kept = try await store.remember(draft("session scratch held", retention: "session"), actor: "a").memory
        let forever = try await store.remember(draft("keep this forever", retention: "forever"), actor: "a").memory
        let otherTenant = try await store.remember(draft("other tenant scratch", tenant: "t2", retention: "session"), actor: "a").memory
        try expect(forever.expiresAt == nil, "forever never expires")
        _ = try await store.setLegalHold(id: kept.id, tenant: "t1", held: true, actor: "legal", reason: "case")
        let early = try await store.sweep(tenant: "t1", now: clock.now, actor: "sweeper")
        try expect(early.deleted.isEmpty, "nothing has expired yet")
        clock.advance(by: 2 * 86_400)
        let swept = try await store.sweep(tenant: "t1", now: clock.now, actor: "sweeper")
        try expectEqual(swept.deleted, [short.id])
        try expectEqual(swept.held, [kept.id])
        try expect(try await store.memory(id: otherTenant.id, tenant: "t2") != nil, "a tenant's sweep leaves other tenants alone")
        try expectEqual(try await store.events(tenant: "t1", memoryID: short.id).map(\.kind), [.created, .expired])
        try expectEqual(Set(try await store.export(tenant: "t1", subject: nil).map(\.id)), [kept.id, forever.id])
        let all = try await store.sweep(tenant: nil, now: clock.now, actor: "sweeper")
        try expectEqual(all.deleted, [otherTenant.id], "a sweep of all tenants")
        let rerun = try await store.sweep(tenant: nil, now: clock.now, actor: "sweeper")
        try expect(rerun.deleted.isEmpty && rerun.held == [kept.id], "a rerun has nothing left to do")
    }

    static func tenantSeparation(_ store: any MemoryStore, _ clock: TestClock) async throws {
        let mine = try await store.remember(draft("tenant one secret plan", tenant: "t1"), actor: "a").memory
        _ = try await store.remember(draft("tenant two secret plan", tenant: "t2"), actor: "a")
        try expect(try await store.memory(id: mine.id, tenant: "t2") == nil, "get")
        try await expectError(.notFound, "update") { try await store.update(id: mine.id, tenant: "t2", MemoryUpdate(importance: 1), actor: "x", reason: "") }
        try await expectError(.notFound, "hold") { try await store.setLegalHold(id: mine.id, tenant: "t2", held: true, actor: "x", reason: "") }
        let forget = try await store.forget(ForgetRequest(tenant: "t2", selector: .ids([mine.id]), actor: "x", reason: ""))
        try expect(forget.deleted.isEmpty && forget.missing == [mine.id], "forget")
        try await expectError(.notFound, "supersede") {
            try await store.remember(MemoryDraft(tenant: "t2", subject: "alice", content: "y", supersedes: mine.id), actor: "x")
        }
        let recalled = try await store.recall(recall("secret plan", tenant: "t2"))
        try expectEqual(recalled.map(\.memory.content), ["tenant two secret plan"])
        try expect(try await store.list(MemoryListRequest(tenant: "t2")).memories.allSatisfy { $0.tenant == "t2" }, "list")
        try expect(try await store.events(tenant: "t2", memoryID: mine.id).isEmpty, "events")
        try expectEqual(try await store.memory(id: mine.id, tenant: "t1")?.content, "tenant one secret plan", "untouched")
    }

    static func noBatchCap(_ store: any MemoryStore, _ clock: TestClock) async throws {
        let n = 2_500
        for i in 0..<n { _ = try await store.remember(draft("bulk memory \(i)", subject: "bulk", embed: false), actor: "loader") }
        _ = try await store.remember(draft("stays", subject: "other", embed: false), actor: "loader")
        let receipt = try await store.forget(ForgetRequest(tenant: "t1", selector: .subject("bulk"), actor: "ops", reason: "erasure"))
        try expectEqual(receipt.deleted.count, n, "every one of them")
        try expectEqual(try await store.export(tenant: "t1", subject: "bulk").count, 0)
        try expectEqual(try await store.export(tenant: "t1", subject: nil).count, 1)
    }

    static func concurrentRemembers(_ store: any MemoryStore, _ clock: TestClock) async throws {
        let outcomes = try await withThrowingTaskGroup(of: RememberOutcome.self) { group in
            for _ in 0..<8 { group.addTask { try await store.remember(draft("said eight times at once"), actor: "a") } }
            return try await group.reduce(into: [RememberOutcome]()) { $0.append($1) }
        }
        try expectEqual(outcomes.filter(\.created).count, 1, "one creation")
        try expectEqual(Set(outcomes.map(\.memory.id)).count, 1, "one memory")
        try expectEqual(try await store.export(tenant: "t1", subject: nil).count, 1)
        try expectEqual(try await store.events(tenant: "t1", memoryID: nil).map(\.kind), [.created] + Array(repeating: .updated, count: 7))
    }

    static func auditHasNoContent(_ store: any MemoryStore, _ clock: TestClock) async throws {
        let content = "the launch code is swordfish-77"
        let m = try await store.remember(draft(content), actor: "agent").memory
        _ = try await store.update(id: m.id, tenant: "t1", MemoryUpdate(content: content + " (rotated)"), actor: "ops", reason: "rotation")
        _ = try await store.setLegalHold(id: m.id, tenant: "t1", held: true, actor: "legal", reason: "case")
        _ = try await store.setLegalHold(id: m.id, tenant: "t1", held: false, actor: "legal", reason: "closed")
        _ = try await store.forget(ForgetRequest(tenant: "t1", selector: .ids([m.id]), actor: "ops", reason: "erasure"))
        let events = try await store.events(tenant: "t1", memoryID: m.id)
        try expectEqual(events.map(\.kind), [.created, .updated, .holdSet, .holdCleared, .deleted])
        try expectEqual(events.map(\.contentSHA256), [SHA256Hex.hash(content)] + Array(repeating: SHA256Hex.hash(content + " (rotated)"), count: 4))
        for e in events {
            try expect(!String(reflecting: e).contains("swordfish"), "event \(e.kind) holds no content")
        }
    }

    static func restoring(_ store: any MemoryStore, _ clock: TestClock) async throws {
        let plan = RestorePlan(actor: "restorer", origin: "backup 0123 taken 2026-01-01T00:00:00.000Z", at: clock.now)
        let held = try await store.remember(draft("held content"), actor: "a").memory
        _ = try await store.setLegalHold(id: held.id, tenant: "t1", held: true, actor: "legal", reason: "case")
        let plain = try await store.remember(draft("plain content"), actor: "a").memory
        let other = try await store.remember(draft("other tenant content", tenant: "t2"), actor: "a").memory
        let before = try await snapshot(store, tenant: "t2")

        // An id of another tenant: refused, and nothing of the batch is written.
        var fresh = Memory(id: MemoryRules.newID(), tenant: "t1", subject: "alice", namespace: "default", kind: .fact, content: "new content", metadata: [:],
                           importance: 0.5, provenance: MemoryProvenance(), createdAt: clock.now, updatedAt: clock.now, lastAccessedAt: nil, accessCount: 0,
                           expiresAt: nil, retention: "default", legalHold: false, supersedes: nil, embedding: nil, embeddingIdentity: nil)
        var stolen = fresh
        stolen.id = other.id
        stolen.content = "taken over"
        stolen.contentSHA256 = SHA256Hex.hash(stolen.content)
        try await expectError(.conflict, "an id of another tenant") { try await store.restore(memories: [fresh, stolen], tenant: "t1", plan: plan) }
        try expectEqual(try await snapshot(store, tenant: "t2"), before, "the other tenant's memory is untouched")
        try expect(try await store.export(tenant: "t1", subject: nil).count == 2, "nothing of the refused batch")

        // Held: kept as it is. Same content under another id: left out. Plain: replaced. New: inserted.
        var changedHeld = held
        changedHeld.content = "held content, changed"
        changedHeld.contentSHA256 = SHA256Hex.hash(changedHeld.content)
        changedHeld.legalHold = false
        var duplicate = fresh
        duplicate.id = MemoryRules.newID()
        duplicate.content = plain.content
        duplicate.contentSHA256 = plain.contentSHA256
        var replaced = plain
        replaced.importance = 0.9
        fresh.createdAt = clock.now
        let outcome = try await store.restore(memories: [changedHeld, duplicate, replaced, fresh], tenant: "t1", plan: plan)
        try expectEqual(outcome.keptHeld, [held.id])
        try expectEqual(outcome.keptDuplicate, [duplicate.id])
        try expectEqual(Set(outcome.written), [plain.id, fresh.id])
        let after = try await store.export(tenant: "t1", subject: nil)
        try expectEqual(after.first { $0.id == held.id }?.content, "held content", "a held memory is never changed")
        try expect(after.first { $0.id == held.id }?.legalHold == true, "and stays held")
        try expectEqual(after.first { $0.id == plain.id }?.importance, 0.9)
        try expect(after.contains { $0.id == fresh.id } && !after.contains { $0.id == duplicate.id }, "inserted; duplicate left out")
        let restored = try await store.events(tenant: "t1", memoryID: nil).filter { $0.kind == .restored }
        try expectEqual(Set(restored.map(\.memoryID)), [plain.id, fresh.id], "one restored event per memory written")
        try expect(restored.allSatisfy { $0.actor == "restorer" && $0.reason.contains("backup 0123") && $0.origin == nil }, "restored events are the store's own")

        // Imported events keep their time and say where they came from.
        let archived = MemoryEvent(sequence: 99, tenant: "t1", memoryID: fresh.id, kind: .deleted, actor: "someone", reason: "claimed",
                                   contentSHA256: fresh.contentSHA256, at: Date(timeIntervalSince1970: 1_700_000_000))
        try expectEqual(try await store.importEvents([archived], tenant: "t1", plan: plan), 1)
        let imported = try expectValue(try await store.events(tenant: "t1", memoryID: fresh.id).last, "the imported event")
        try expectEqual(imported.origin, plan.origin)
        try expectEqual(imported.kind, .deleted)
        try expectEqual(MetadataValue.milliseconds(imported.at), 1_700_000_000_000)
        try await expectError(.invalidInput, "an event of another tenant") { try await store.importEvents([archived], tenant: "t2", plan: plan) }
    }

    static func eventNumbering(_ store: any MemoryStore, _ clock: TestClock) async throws {
        for i in 0..<3 { _ = try await store.remember(draft("first tenant \(i)", tenant: "t1"), actor: "a") }
        for i in 0..<2 { _ = try await store.remember(draft("second tenant \(i)", tenant: "t2"), actor: "a") }
        let m = try await store.remember(draft("first tenant last", tenant: "t1"), actor: "a").memory
        try expectEqual(try await store.events(tenant: "t2", memoryID: nil).map(\.sequence), [1, 2], "another tenant's events leave no gaps")
        try expectEqual(try await store.events(tenant: "t1", memoryID: nil).map(\.sequence), [1, 2, 3, 4])
        try expectEqual(try await store.events(tenant: "t1", memoryID: m.id).map(\.sequence), [4], "a memory's events keep their tenant numbers")
    }
}
