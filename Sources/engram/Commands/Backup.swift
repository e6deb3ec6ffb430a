import ArgumentParser
import EngramCore
import EngramPipeline
import EngramKit
import EngramWire
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
            try await global.withStores(.read, memories: true) { stores in
                let store = try stores.require(\.backupSource, "be backed up")
                let started = Date()
                let manifest = try await BackupArchive.write(from: store, memories: stores.memories, tenants: allTenants ? nil : [global.tenant], vectors: !noVectors,
                                                             to: destination)
                let seconds = Date().timeIntervalSince(started)
                // Archives do not hold run state yet: say so rather than leave it out silently.
                var runsLeftOut = allTenants
                if !runsLeftOut { runsLeftOut = try await !stores.runs.runs(RunListRequest(tenant: global.tenant, limit: 1)).runs.isEmpty }
                if runsLeftOut {
                    Output.notice("run state (engram runs) is not in backup archives yet: \(allTenants ? "the runs of every tenant are" : "this tenant's runs are") left out")
                }
                let size = (try? FileManager.default.attributesOfItem(atPath: out)[.size] as? Int) ?? 0
                if global.json {
                    Output.printJSON(Wire.Backup(manifest, archive: out, bytes: size, seconds: seconds))
                } else {
                    Output.say("backed up \(manifest.collections.count) collections of \(manifest.tenants.count) tenants to \(out) (\(size) bytes, \(String(format: "%.2f", seconds)) s)")
                    for p in manifest.parts { Output.say("  \(p.file.padding(toLength: 18, withPad: " ", startingAt: 0)) \(p.rows) rows  sha256 \(p.sha256)") }
                }
            }
        }
    }
}
