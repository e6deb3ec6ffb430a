import ArgumentParser
import EngramCore
import EngramWire

extension RunsCommand {
    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Cancel a run from outside: its writer's next write is refused.")

        @OptionGroup var global: GlobalOptions
        @Argument(help: "Run id.") var runID: String
        @Option(help: "Why (recorded in the log and the audit trail).") var reason: String
        @Option(help: "Who (recorded in the audit trail).") var actor: String = "cli"

        func run() async throws {
            try await reporting(global) {
                let run = try await global.withRunStore(.existing) { try await $0.cancel(runID: runID, tenant: global.tenant, actor: actor, reason: reason) }
                if global.json { Output.printJSON(Wire.Run(run)) } else { Output.say(RunOutput.line(run)) }
            }
        }
    }
}
