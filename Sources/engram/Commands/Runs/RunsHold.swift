import ArgumentParser
import EngramCore
import EngramWire

extension RunsCommand {
    struct Hold: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Set or clear a legal hold: a held run is neither deleted nor pruned.")

        @OptionGroup var global: GlobalOptions
        @Argument(help: "Run id.") var runID: String
        @Flag(help: "Clear the hold instead of setting it.") var clear = false
        @Option(help: "Why (recorded in the audit trail).") var reason: String
        @Option(help: "Who (recorded in the audit trail).") var actor: String = "cli"

        func run() async throws {
            try await reporting(global) {
                let run = try await global.withRunStore(.existing) { try await $0.setLegalHold(id: runID, tenant: global.tenant, held: !clear, actor: actor, reason: reason) }
                if global.json { Output.printJSON(Wire.Run(run)) } else { Output.say("\(clear ? "hold cleared" : "held") \(RunOutput.line(run))") }
            }
        }
    }
}
