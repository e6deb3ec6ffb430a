import ArgumentParser
import EngramCore
import EngramWire

extension RunsCommand {
    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a run whole (checkpoints, values only it used, writes, events); an audit entry with counts stays, never state.")

        @OptionGroup var global: GlobalOptions
        @Argument(help: "Run id.") var runID: String
        @Option(help: "Why (recorded in the audit trail).") var reason: String
        @Option(help: "Who (recorded in the audit trail).") var actor: String = "cli"

        func run() async throws {
            try await reporting(global) {
                let receipt = try await global.withRunStore(.existing) { try await $0.deleteRun(id: runID, tenant: global.tenant, actor: actor, reason: reason) }
                RunOutput.receipt(receipt, json: global.json, verb: "deleted")
            }
        }
    }
}
