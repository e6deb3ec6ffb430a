import ArgumentParser
import EngramCore
import EngramWire

extension RunsCommand {
    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Set a run's status as its writer (completed, failed and cancelled are final).")

        @OptionGroup var global: GlobalOptions
        @OptionGroup var writer: LeaseOptions
        @Argument(help: "Run id.") var runID: String
        @Argument(help: "running, waiting, completed, failed or cancelled.") var status: RunStatus

        func run() async throws {
            try await reporting(global) {
                let run = try await global.withRunStore(.existing) { store in
                    try await writer.withLease(store, runID: runID, tenant: global.tenant) { try await store.setStatus(status, lease: $0) }
                }
                if global.json { Output.printJSON(Wire.Run(run)) } else { Output.say(RunOutput.line(run)) }
            }
        }
    }
}
