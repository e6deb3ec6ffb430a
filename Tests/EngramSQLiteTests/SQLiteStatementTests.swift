import EngramCore
@testable import EngramSQLite
import EngramTesting
import Foundation
import GRDB
import Testing

/// SQLite statements bind by default: they are GRDB `SQL` literals, and raw text gets in only through
/// the named `\(sql:)` door.
@Suite("SQLite statements")
struct SQLiteStatementTests {
    let fx = Fixtures()

    static let sourceFolder = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Sources/EngramSQLite")

    /// Every `sql:` argument label in a file: a statement given as a plain string (`sql: "…"`,
    /// `execute(sql:`) or the raw door inside a literal (`\(sql: …)`).
    static func labels(in text: String) -> (plain: Int, raw: Int) {
        var plain = 0, raw = 0
        var rest = text[...]
        while let r = rest.range(of: "sql:") {
            let before = rest[..<r.lowerBound]
            if before.hasSuffix("\\(") { raw += 1 } else if before.hasSuffix("(") || before.hasSuffix(", ") { plain += 1 }
            rest = rest[r.upperBound...]
        }
        return (plain, raw)
    }

    @Test func noStatementOutsideTheFrozenMigrationsIsAPlainString() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.sourceFolder.path).filter { $0.hasSuffix(".swift") }
        #expect(files.contains("SQLiteVectorStore.swift"), "the sources were not found at \(Self.sourceFolder.path)")
        var raw: [String: Int] = [:]
        for file in files where file != "SQLiteSchema.swift" {
            let text = try String(contentsOf: Self.sourceFolder.appendingPathComponent(file), encoding: .utf8)
            let found = Self.labels(in: text)
            #expect(found.plain == 0, "\(file) builds \(found.plain) statement(s) from a plain string; write a GRDB SQL literal")
            if found.raw > 0 { raw[file] = found.raw }
        }
        // The one raw splice: a pragma's number, which SQLite does not accept as a bound argument.
        #expect(raw == ["SQLiteErasure.swift": 1], "raw SQL doors: \(raw)")
        // The scanner itself sees both kinds.
        #expect(Self.labels(in: #"db.execute(sql: "x"); f(a, sql: s); "\(sql: n)""#) == (plain: 2, raw: 1))
    }

    @Test func aCompiledFilterCarriesKeysAndValuesAsArgumentsOnly() throws {
        let hostile = "x'); DROP TABLE chunks; --"
        let filter = Filter.and([.compare(hostile, .eq, .string(hostile)), .oneOf("lang", [.string(hostile), .int(3)]),
                                 .compare("n", .gte, .double(2.5)), .exists(hostile, true)])
        let sql = try SQLiteFilterCompiler(column: "metadata").compile(filter)
        let db = try DatabaseQueue()
        let text = try db.read { db in try sql.build(db).sql }
        #expect(!text.contains("DROP"), "\(text)")
        #expect(!text.contains("lang"), "a key is a bound path, never text")
        // The statement runs and keeps the reference semantics of Filter.matches.
        let matching: Metadata = [hostile: .string(hostile), "lang": .int(3), "n": .double(2.5)]
        let other: Metadata = [hostile: .string(hostile), "lang": .string("en"), "n": .double(2.5)]
        for metadata in [matching, other] {
            let passes = try db.read { db in try db.value(Bool.self, "SELECT \(sql) FROM (SELECT \(metadata.canonicalJSON) AS metadata)") }
            #expect(passes == filter.matches(metadata), "\(metadata.canonicalJSON)")
        }
        #expect(filter.matches(matching) && !filter.matches(other))
    }

    @Test func hostileKeysValuesAndSourcesAreMatchedLiterallyAndHarmNothing() async throws {
        let path = temporaryStorePath()
        let store = try SQLiteVectorStore(path: path)
        let hostile = "x'); DROP TABLE chunks; --"
        // Tenants and collection names are validated to a safe alphabet; sources and metadata are not.
        let ref = fx.ref, source = "mem://a'); DELETE FROM documents; --"
        try await fx.load(store, [(source, "alpha bananas", [hostile: .string(hostile)]), ("mem://b", "beta bananas", [hostile: .string("other")])], in: ref)
        let filter = Filter.compare(hostile, .eq, .string(hostile))
        for mode in [SearchMode.vector, .keyword, .hybrid] {
            let response = try await store.search(SearchRequest(mode: mode, text: "bananas", vector: fx.query("bananas"), filter: filter, k: 5), in: ref)
            #expect(response.hits.map(\.chunk.sourceURI) == [source], "\(mode)")
        }
        // A cold store compiles the filter to SQL for a keyword search (no cache loaded).
        let cold = try SQLiteVectorStore(path: path, create: false)
        let keyword = try await cold.search(SearchRequest(mode: .keyword, text: "bananas", filter: filter, k: 5), in: ref)
        #expect(keyword.hits.map(\.chunk.sourceURI) == [source])
        #expect(try await store.collections(tenant: ref.tenant).map(\.ref) == [ref])
        #expect(try await store.stats(ref).chunks == 2)
        #expect(try await store.documents(in: ref).map(\.sourceURI).sorted() == ["mem://b", source].sorted())
    }
}
