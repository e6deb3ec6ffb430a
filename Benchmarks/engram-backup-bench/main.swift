// Backup and restore benchmark (issue: operations), run through scripts/bench-backup.sh. On the linux-doc
// collection of scripts/bench.sh (117,048 chunks with 384-d vectors), side by side in one run:
//
//   1. SQLite: engram backup (zip, vectors included) beside SQLite's own VACUUM INTO copy of the file;
//      checking the archive (restore --verify-only); restore into a new SQLite store;
//   2. PostgreSQL (when ENGRAM_POSTGRES_URL is set): restore of the same archive into PostgreSQL, engram
//      backup from it beside pg_dump -Fc of the schema (ENGRAM_PG_BIN), and restore of that archive into
//      SQLite.
//
// Rows are documents + chunks; MB/s counts the uncompressed JSON lines.
//
// Usage: engram-backup-bench SOURCE_SQLITE WORK_DIR
import EngramCore
import EngramPipeline
import EngramKit
import EngramPostgres
import EngramTesting
import Foundation
import GRDB
import PostgresNIO

let env = ProcessInfo.processInfo.environment
guard CommandLine.arguments.count >= 3 else { fail("usage: engram-backup-bench SOURCE_SQLITE WORK_DIR") }
let sourcePath = CommandLine.arguments[1], work = CommandLine.arguments[2]
try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
let ref = CollectionRef(tenant: "bench", name: "linux-doc")
let identity = HashEmbedder(dimension: 384).identity

func fresh(_ name: String) -> String {
    let path = work + "/" + name
    for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
    return path
}
func fileMB(_ path: String) -> Double {
    Double((try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0) / 1e6
}
func timed<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> (T, Double) {
    let start = now()
    let value = try await body()
    return (value, seconds(since: start))
}

// A copy of the source at this build's schema (SQLite's own online copy, timed as the baseline). Every
// store is opened the way the CLI opens it, through Engram.withStores; the source (the benchmarks' own
// fixture) is migrated first, as `engram migrate` would, since reading never migrates.
_ = try await Engram.withMigrations("sqlite:" + sourcePath) { try await $0.migrate(grantTo: nil) }
guard try await Engram.withStores("sqlite:" + sourcePath, access: .read, { try await $0.vectors.collection(ref) })?.identity == identity else {
    fail("\(sourcePath) has no \(ref) collection of \(identity)")
}
let copyPath = fresh("copy.sqlite")
let (_, vacuumSeconds) = try await timed {
    try await DatabaseQueue(path: sourcePath).writeWithoutTransaction { db in try db.execute(sql: "VACUUM INTO ?", arguments: [copyPath]) }
}
let noEmbedder: @Sendable (EmbeddingIdentity) async throws -> any Embedder = { _ in throw EngramError(.unsupported, "the archive has vectors") }
let archive = URL(fileURLWithPath: work + "/sqlite-backup.zip")
let (stats, manifest, backupSeconds) = try await Engram.withStores("sqlite:" + copyPath, access: .existing) { stores in
    let stats = try await stores.vectors.stats(ref)
    let source = try stores.require(\.backupSource, "be backed up")
    let (manifest, seconds) = try await timed { try await BackupArchive.write(from: source, tenants: nil, to: archive) }
    return (stats, manifest, seconds)
}
let rows = stats.documents + stats.chunks
let jsonMB = Double(manifest.parts.reduce(0) { $0 + $1.bytes }) / 1e6
say("Engram backup benchmark — \(stats.documents) documents, \(stats.chunks) chunks with \(identity.dimension)-d vectors (linux-doc)")
say()
func line(_ name: String, _ s: Double, _ extra: String = "") {
    say("\(name.padding(toLength: 48, withPad: " ", startingAt: 0)) \(fmt(s, 2)) s  \(Int(Double(rows) / s)) rows/s  \(fmt(jsonMB / s, 1)) MB/s\(extra)")
}
line("SQLite: engram backup (zip, vectors)", backupSeconds, "  archive \(fmt(fileMB(archive.path), 1)) MB of \(fmt(jsonMB, 1)) MB JSON lines")
say("SQLite: VACUUM INTO (SQLite's own copy)           \(fmt(vacuumSeconds, 2)) s  -> engram backup = \(fmt(vacuumSeconds / backupSeconds, 2)) x its speed (file \(fmt(fileMB(copyPath), 1)) MB)")
let (_, verifySeconds) = try await timed { try BackupArchive.verify(archive).remove() }
line("check the archive (restore --verify-only)", verifySeconds)
try await Engram.withStores("sqlite:" + fresh("restored.sqlite"), access: .create) { restored in
    let (report, restoreSeconds) = try await timed { try await BackupArchive.restore(archive, into: restored, embedder: noEmbedder) }
    guard report.documents == stats.documents, report.chunks == stats.chunks, try await restored.vectors.stats(ref) == stats else { fail("SQLite restore mismatch: \(report)") }
    line("restore into a new SQLite store", restoreSeconds, "  (checks included)")
}

if let base = env["ENGRAM_POSTGRES_URL"] {
    let schema = "engram_backup_bench"
    let config = try PostgresStoreConfiguration(url: base)
    try await config.withClient { client in _ = try await client.query(PostgresQuery(unsafeSQL: "DROP SCHEMA IF EXISTS \(schema) CASCADE")) }
    let url = base + (base.contains("?") ? "&" : "?") + "schema=\(schema)"
    let pgArchive = URL(fileURLWithPath: work + "/postgres-backup.zip")
    try await Engram.withStores(url, access: .create) { pg in
        let (pgReport, pgRestore) = try await timed { try await BackupArchive.restore(archive, into: pg, embedder: noEmbedder) }
        guard pgReport.chunks == stats.chunks, try await pg.vectors.stats(ref).chunks == stats.chunks else { fail("PostgreSQL restore mismatch: \(pgReport)") }
        line("restore into PostgreSQL (HNSW index included)", pgRestore)
        let source = try pg.require(\.backupSource, "be backed up")
        let (_, pgBackup) = try await timed { try await BackupArchive.write(from: source, tenants: [ref.tenant], to: pgArchive) }
        line("PostgreSQL: engram backup (zip, vectors)", pgBackup, "  archive \(fmt(fileMB(pgArchive.path), 1)) MB")
        if let bin = env["ENGRAM_PG_BIN"] {
            let dump = work + "/engram.dump"
            let process = Process()
            process.executableURL = URL(fileURLWithPath: bin + "/pg_dump")
            // As the superuser: row-level security is forced on Engram's tables, so the owner cannot dump them.
            process.arguments = ["-Fc", "-n", schema, "-f", dump, env["ENGRAM_POSTGRES_SUPERUSER_URL"] ?? "postgresql://postgres@\(config.host):\(config.port)/\(config.database)"]
            let start = now()
            try process.run()
            process.waitUntilExit()
            let dumpSeconds = seconds(since: start)
            guard process.terminationStatus == 0 else { fail("pg_dump failed") }
            say("PostgreSQL: pg_dump -Fc of the schema         \(fmt(dumpSeconds, 2)) s  -> engram backup = \(fmt(dumpSeconds / pgBackup, 2)) x its speed (dump \(fmt(fileMB(dump), 1)) MB)")
        }
    }
    try await Engram.withStores("sqlite:" + fresh("from-postgres.sqlite"), access: .create) { back in
        let (backReport, backSeconds) = try await timed { try await BackupArchive.restore(pgArchive, into: back, embedder: noEmbedder) }
        guard backReport.chunks == stats.chunks else { fail("restore from PostgreSQL mismatch: \(backReport)") }
        line("restore the PostgreSQL archive into SQLite", backSeconds)
    }
    try await config.withClient { client in _ = try await client.query(PostgresQuery(unsafeSQL: "DROP SCHEMA \(schema) CASCADE")) }
}
