import ArgumentParser
import EngramCore
import EngramPipeline
import EngramKit
import EngramWire
import Foundation

struct Doctor: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the store: schema and pending migrations, search indexes, orphan chunks, vector dimensions, documents whose text no longer matches their hash or chunks.",
        discussion: "Exit status 0 when healthy, 2 when something is wrong (each finding says how to fix it).")

    @OptionGroup var global: GlobalOptions

    @Flag(help: "Check every tenant (SQLite; PostgreSQL's row-level security shows one tenant at a time: use --tenant).")
    var allTenants = false

    func run() async throws {
        var healthy = true
        try await reporting(global) {
            let tenants = allTenants ? nil : [global.tenant]
            let report = try await global.withStores(.inspect) { stores in
                try await stores.require(\.doctor, "check itself").diagnose(tenants: tenants)
            }
            healthy = report.healthy
            if global.json {
                Output.printJSON(Wire.Doctor(report))
                return
            }
            Output.say("schema: \(report.appliedMigrations.count) migrations applied\(report.pendingMigrations.isEmpty ? "" : ", \(report.pendingMigrations.count) pending")")
            Output.say("checked \(report.collections) collections, \(report.documents) documents, \(report.chunks) chunks")
            for f in report.findings {
                Output.say("✗ [\(f.check)] \(f.subject): \(f.problem)")
                Output.say("  fix: \(f.fix)")
            }
            Output.say(report.healthy ? "healthy" : "\(report.findings.count) problems")
        }
        if !healthy { throw ExitCode(2) }
    }
}
