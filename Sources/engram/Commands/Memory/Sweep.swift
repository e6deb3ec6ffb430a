import ArgumentParser
import EngramCore
import EngramPipeline
import EngramKit
import Foundation

extension MemoryCommand {
    struct Sweep: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete expired memories (not those under legal hold) and print the receipt.")

        @OptionGroup var global: GlobalOptions
        @Flag(help: "Sweep every tenant, not only --tenant.") var allTenants = false
        @Option(help: "Who (recorded in the audit trail).") var actor: String = "cli"

        func run() async throws {
            try await reporting(global) {
                let receipt = try await global.withMemoryStore(.existing) { try await $0.sweep(tenant: allTenants ? nil : global.tenant, now: Date(), actor: actor) }
                MemoryOutput.receipt(receipt, json: global.json, verb: "expired")
            }
        }
    }
}
