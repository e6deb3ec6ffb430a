import ArgumentParser
import EngramCore
import EngramWire

extension RunsCommand {
    struct Start: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Start a run (it prints the run's id).")

        @OptionGroup var global: GlobalOptions
        @Option(help: "The agent or graph that runs it.") var agent: String
        @Option(help: "The run's id (default: run_ and 24 hex digits).") var id: String?
        @Option(help: ArgumentHelp("Metadata as a JSON object.", valueName: "json")) var metadata: String?
        @Option(name: .customLong("delete-after"), help: ArgumentHelp("Delete the run this long after it finishes (30d, 12h, 45m, 90s).", valueName: "duration"))
        var deleteAfter: String?
        @Option(name: .customLong("keep-checkpoints"), help: "Once finished, keep only this many newest checkpoints per namespace.") var keepCheckpoints: Int?
        @Option(help: "Who (recorded in the run's log).") var actor: String = "cli"

        func run() async throws {
            try await reporting(global) {
                let after = try deleteAfter.flatMap(RetentionPolicies.parseDuration)
                let retention = RunRetention(deleteAfter: after.map { .seconds($0) }, keepCheckpoints: keepCheckpoints)
                let draft = RunDraft(tenant: global.tenant, id: id, agent: agent, metadata: try metadata.map { try Metadata.parse(json: $0) } ?? [:], retention: retention)
                let run = try await global.withRunStore(.create) { try await $0.startRun(draft, actor: actor) }
                if global.json { Output.printJSON(Wire.Run(run)) } else { print(run.id) }
            }
        }
    }
}
