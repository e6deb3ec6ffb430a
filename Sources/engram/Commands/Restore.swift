import ArgumentParser
import EngramCore
import EngramPipeline
import EngramKit
import EngramWire
import Foundation

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

    @Option(help: "empty: refuse a target where the tenants have data; merge: add to it.")
    var mode: BackupArchive.RestoreMode = .emptyOnly

    @Flag(help: "Restore every tenant the archive holds (instead of --tenant).")
    var allTenants = false

    @Option(help: "Who restores (recorded in the memories' audit trail).")
    var actor: String = "restore"

    @Flag(help: "Only check the archive against its manifest; write nothing.")
    var verifyOnly = false

    func run() async throws {
        try await reporting(global) {
            let url = URL(fileURLWithPath: archive)
            if verifyOnly {
                let verified = try BackupArchive.verify(url)
                verified.remove()
                let m = verified.manifest
                if global.json {
                    Output.printJSON(Wire.ArchiveCheck(m))
                } else {
                    Output.say("\(FilePaths.display(archive)): every file matches the manifest (\(m.parts.map { "\($0.file) \($0.rows) rows" }.joined(separator: ", ")))")
                }
                return
            }
            try global.ref.validate()
            let tenants: Set<String>? = allTenants ? nil : [global.tenant]
            try await global.withStores(.create, memories: true) { stores in
                let started = Date()
                let report = try await BackupArchive.restore(url, into: stores, mode: mode, tenants: tenants,
                                                             actor: actor, embedder: { try await EmbedderSpec.embedder(for: $0) })
                let seconds = Date().timeIntervalSince(started)
                if global.json {
                    Output.printJSON(Wire.Restored(report, seconds: seconds))
                } else {
                    Output.say("restored \(report.collections) collections, \(report.documents) documents, \(report.chunks) chunks, \(report.memories) memories, \(report.memoryEvents) memory events of \(report.tenants.joined(separator: ", "))\(report.embedded > 0 ? " (\(report.embedded) embedded again)" : "") in \(String(format: "%.2f", seconds)) s")
                    for id in report.keptHeld { Output.say("  kept \(id): under legal hold in the target, not changed") }
                    for id in report.keptDuplicate { Output.say("  left out \(id): the target holds its content under another id") }
                }
            }
        }
    }
}

extension BackupArchive.RestoreMode: ExpressibleByArgument {}
