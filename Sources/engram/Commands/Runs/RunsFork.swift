import ArgumentParser
import EngramCore
import EngramWire

extension RunsCommand {
    struct Fork: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Start a new run from a past checkpoint (its values are shared, not copied).")

        @OptionGroup var global: GlobalOptions
        @Argument(help: "Run id.") var runID: String
        @Option(help: "The checkpoint to start from.") var from: String
        @Option(help: "The new run's id (default: run_ and 24 hex digits).") var id: String?
        @Option(help: "Who (recorded in the new run's log).") var actor: String = "cli"

        func run() async throws {
            try await reporting(global) {
                let run = try await global.withRunStore(.existing) { try await $0.fork(runID: runID, tenant: global.tenant, from: from, newRunID: id, actor: actor) }
                if global.json { Output.printJSON(Wire.Run(run)) } else { print(run.id) }
            }
        }
    }
}
