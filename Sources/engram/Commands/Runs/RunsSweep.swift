import ArgumentParser
import EngramCore
import EngramWire
import Foundation

extension RunsCommand {
    struct Sweep: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Apply retention to finished runs: delete expired ones, prune checkpoints beyond their keep count; held runs are spared.")

        @OptionGroup var global: GlobalOptions
        @Flag(name: .customLong("all-tenants"), help: "Sweep every tenant, not only --tenant.") var allTenants = false
        @Option(help: "Runs per transaction.") var batch: Int = 500
        @Option(help: "Who (recorded in the audit trail).") var actor: String = "sweeper"

        func run() async throws {
            try await reporting(global) {
                let receipt = try await global.withRunStore(.existing) {
                    try await $0.sweep(tenant: allTenants ? nil : global.tenant, now: Date(), actor: actor, batchSize: batch)
                }
                RunOutput.receipt(receipt, json: global.json, verb: "expired")
            }
        }
    }
}
