import ArgumentParser
import EngramCore
import EngramPipeline
import EngramKit
import Foundation

struct Backup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a backup archive: collections, documents and chunks (with vectors) from one consistent snapshot, with a manifest of row counts and SHA-256 per file.")

    @OptionGroup var global: GlobalOptions

    @Option(help: "The archive to write (a zip file).")
    var out: String

    @Flag(help: "Every tenant (SQLite; PostgreSQL's row-level security shows one tenant at a time: use --tenant).")
    var allTenants = false

    @Flag(help: "Leave the vectors out (a restore embeds the chunks again).")
    var noVectors = false

    @Flag(help: "Replace the archive if it exists.")
    var force = false

    func run() async throws {
        try await reporting(global) {
            let destination = try global.output(out, force: force, private: true)
            try await global.withStores(.existing, memories: true) { stores in
                let store = try stores.require(\.backupSource, "be backed up")
                let started = Date()
                let manifest = try await BackupArchive.write(from: store, memories: stores.memories, tenants: allTenants ? nil : [global.tenant], vectors: !noVectors,
                                                             to: destination)
                let seconds = Date().timeIntervalSince(started)
                let size = (try? FileManager.default.attributesOfItem(atPath: out)[.size] as? Int) ?? 0
                if global.json {
                    Output.printJSON(.object([
                        ("archive", .string(out)), ("bytes", .int(Int64(size))), ("seconds", .double(seconds)), ("vectors", .bool(!noVectors)),
                        ("tenants", .array(manifest.tenants.map { .string($0) })), ("collections", .int(Int64(manifest.collections.count))),
                        ("files", .array(manifest.parts.map { .object([("name", .string($0.file)), ("rows", .int(Int64($0.rows))), ("sha256", .string($0.sha256))]) })),
                    ]))
                } else {
                    Output.say("backed up \(manifest.collections.count) collections of \(manifest.tenants.count) tenants to \(out) (\(size) bytes, \(String(format: "%.2f", seconds)) s)")
                    for p in manifest.parts { Output.say("  \(p.file.padding(toLength: 18, withPad: " ", startingAt: 0)) \(p.rows) rows  sha256 \(p.sha256)") }
                }
            }
        }
    }
}

struct Restore: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Restore a backup archive into a store of any backend, whole or not at all, after checking every file and row.",
        discussion: """
            Restores the tenant named by --tenant (default: default), or every tenant of the archive with \
            --all-tenants; rows of a tenant the archive's manifest does not declare are refused. Mode empty \
            (the default) refuses a store where those tenants have collections or memories. Mode merge \
            requires existing collections to have the backup's embedding identity; the backup's documents \
            replace documents of the same id, others stay; memories replace the same ids of the same tenant \
            except those under legal hold. A backup without vectors is embedded again. SQLite and PostgreSQL \
            write the restore in one transaction.
            """)

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The archive.")
    var archive: String

    @Option(help: "empty or merge.")
    var mode: String = "empty"

    @Flag(help: "Restore every tenant the archive holds (instead of --tenant).")
    var allTenants = false

    @Option(help: "Who restores (recorded in the memories' audit trail).")
    var actor: String = "restore"

    @Flag(help: "Only check the archive against its manifest; write nothing.")
    var verifyOnly = false

    func validate() throws {
        guard BackupArchive.RestoreMode(rawValue: mode) != nil else { throw ValidationError("--mode is empty or merge") }
    }

    func run() async throws {
        try await reporting(global) {
            let url = URL(fileURLWithPath: archive)
            if verifyOnly {
                let verified = try BackupArchive.verify(url)
                verified.remove()
                let m = verified.manifest
                if global.json {
                    Output.printJSON(.object([("verified", .bool(true)), ("collections", .int(Int64(m.collections.count))), ("tenants", .array(m.tenants.map { .string($0) })),
                                              ("files", .array(m.parts.map { .object([("name", .string($0.file)), ("rows", .int(Int64($0.rows)))]) }))]))
                } else {
                    Output.say("\(FilePaths.display(archive)): every file matches the manifest (\(m.parts.map { "\($0.file) \($0.rows) rows" }.joined(separator: ", ")))")
                }
                return
            }
            try global.ref.validate()
            let tenants: Set<String>? = allTenants ? nil : [global.tenant]
            try await global.withStores(.create, memories: true) { stores in
                let started = Date()
                let report = try await BackupArchive.restore(url, into: stores, mode: BackupArchive.RestoreMode(rawValue: mode)!, tenants: tenants,
                                                             actor: actor, embedder: { try await EmbedderSpec.embedder(for: $0) })
                let seconds = Date().timeIntervalSince(started)
                if global.json {
                    Output.printJSON(.object([("collections", .int(Int64(report.collections))), ("documents", .int(Int64(report.documents))),
                                              ("chunks", .int(Int64(report.chunks))), ("memories", .int(Int64(report.memories))),
                                              ("memory_events", .int(Int64(report.memoryEvents))), ("embedded", .int(Int64(report.embedded))),
                                              ("kept_held", .array(report.keptHeld.map { .string($0) })), ("kept_duplicate", .array(report.keptDuplicate.map { .string($0) })),
                                              ("tenants", .array(report.tenants.map { .string($0) })), ("atomic", .bool(report.atomic)), ("seconds", .double(seconds))]))
                } else {
                    Output.say("restored \(report.collections) collections, \(report.documents) documents, \(report.chunks) chunks, \(report.memories) memories, \(report.memoryEvents) memory events of \(report.tenants.joined(separator: ", "))\(report.embedded > 0 ? " (\(report.embedded) embedded again)" : "") in \(String(format: "%.2f", seconds)) s")
                    for id in report.keptHeld { Output.say("  kept \(id): under legal hold in the target, not changed") }
                    for id in report.keptDuplicate { Output.say("  left out \(id): the target holds its content under another id") }
                }
            }
        }
    }
}
