import ArgumentParser
import EngramCore
import EngramWire

extension RunsCommand {
    struct Events: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A run's event log, oldest first.")

        @OptionGroup var global: GlobalOptions
        @Argument(help: "Run id.") var runID: String

        func run() async throws {
            try await reporting(global) {
                let events = try await global.withRunStore(.read) { try await $0.events(runID: runID, tenant: global.tenant) }
                if global.json { Output.printJSON(events.map(Wire.RunEvent.init)); return }
                for e in events {
                    let at = [e.step.map { "step \($0)" }, e.taskID.map { "task \($0)" }].compactMap { $0 }.joined(separator: " ")
                    Output.say("\(e.sequence)  \(MetadataValue.canonicalDateString(e.at))  \(e.kind.rawValue)\(at.isEmpty ? "" : "  \(at)")  by \(e.actor)"
                        + (e.detail.map { "  \(Output.oneLine($0.serialized(sortedKeys: true), max: 100))" } ?? ""))
                }
            }
        }
    }
}
