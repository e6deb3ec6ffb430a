import ArgumentParser
import EngramCore
import EngramWire

extension RunsCommand {
    struct History: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A run's checkpoints, newest first.")

        @OptionGroup var global: GlobalOptions
        @Argument(help: "Run id.") var runID: String
        @Option(help: "The chain within the run.") var namespace: String = ""
        @Option(help: "At most this many.") var limit: Int = 20
        @Option(help: "Only checkpoints before this step.") var before: Int?

        func run() async throws {
            try await reporting(global) {
                let list = try await global.withRunStore(.read) { store in
                    guard try await store.run(id: runID, tenant: global.tenant) != nil else { throw RunRules.notFound(runID) }
                    return try await store.history(runID: runID, tenant: global.tenant, namespace: namespace, limit: limit, before: before)
                }
                if global.json { Output.printJSON(list.map(Wire.CheckpointSummary.init)); return }
                for c in list { Output.say(RunOutput.line(c)) }
            }
        }
    }
}
