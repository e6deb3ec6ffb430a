import EngramCore
import EngramPostgres
import EngramTesting
import Foundation
import PostgresNIO
import Testing

/// The path for PostgreSQL-only operators (README, "Backup and restore"): pg_dump of Engram's schema,
/// pg_restore into another database, and the store there answers as before.
@Suite("PostgreSQL pg_dump and pg_restore",
       .enabled(if: PostgresTestEnvironment.available && ProcessInfo.processInfo.environment["ENGRAM_POSTGRES_SUPERUSER_URL"] != nil
                && ProcessInfo.processInfo.environment["ENGRAM_PG_BIN"] != nil))
struct PostgresDumpTests {
    static func run(_ tool: String, _ arguments: [String]) async throws -> (status: Int32, output: String) {
        try await offThePool { try runBlocking(tool, arguments) }
    }

    static func runBlocking(_ tool: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ProcessInfo.processInfo.environment["ENGRAM_PG_BIN"]!).appendingPathComponent(tool)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, output)
    }

    @Test func aDumpedSchemaRestoresIntoAnotherDatabaseAndAnswersTheSame() async throws {
        let env = ProcessInfo.processInfo.environment
        let superuser = try PostgresStoreConfiguration(url: env["ENGRAM_POSTGRES_SUPERUSER_URL"]!)
        let database = "engram_restore_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(8)
        let dump = FileManager.default.temporaryDirectory.appendingPathComponent("\(database).dump").path
        try await PostgresTestEnvironment.withScratchSchema { config, client in
            try await PostgresMigrator(schema: config.schema).migrate(client)
            let store = try PostgresVectorStore(client: client, schema: config.schema)
            let fx = Fixtures()
            try await fx.load(store, (0..<20).map { ("mem://\($0)", "document \($0) about rivers\n\nand \($0) lakes \(String(repeating: "stone ", count: $0))", ["n": .int(Int64($0))]) })
            let requests = [SearchRequest(mode: .vector, vector: fx.query("rivers 7"), vectorIdentity: fx.identity, k: 5),
                            SearchRequest(mode: .hybrid, text: "lakes stone", vector: fx.query("lakes stone"), vectorIdentity: fx.identity, filter: .compare("n", .gt, .int(10)), k: 5)]
            var before: [[String]] = []
            for r in requests { before.append(try await store.search(r, in: fx.ref).hits.map(\.chunk.id)) }

            let base = "postgresql://\(superuser.username)@\(superuser.host):\(superuser.port)"
            let dumped = try await Self.run("pg_dump", ["-Fc", "-n", config.schema, "-f", dump, "\(base)/\(superuser.database)"])
            #expect(dumped.status == 0, "\(dumped.output)")
            try await superuser.withClient { admin in
                _ = try await admin.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(database) OWNER \(config.username)"))
            }
            do {
                var inNew = superuser
                inNew.database = database
                try await inNew.withClient { admin in
                    _ = try await admin.query(PostgresQuery(unsafeSQL: "CREATE EXTENSION vector"))
                }
                let restored = try await Self.run("pg_restore", ["--exit-on-error", "-d", "\(base)/\(database)", dump])
                #expect(restored.status == 0, "\(restored.output)")
                var target = config
                target.database = database
                try await target.withClient { c in
                    #expect(try await PostgresMigrator(schema: config.schema).status(c).allSatisfy { $0.state == .applied })
                    let copy = try PostgresVectorStore(client: c, schema: config.schema)
                    var after: [[String]] = []
                    for r in requests { after.append(try await copy.search(r, in: fx.ref).hits.map(\.chunk.id)) }
                    #expect(after == before && after.allSatisfy { $0.count == 5 })
                    #expect(try await copy.stats(fx.ref).documents == 20)
                }
            } catch {
                try? await superuser.withClient { admin in _ = try await admin.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(database)")) }
                throw error
            }
            try await superuser.withClient { admin in _ = try await admin.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(database)")) }
        }
        try? FileManager.default.removeItem(atPath: dump)
    }
}
