import ArgumentParser
import EngramCore
import EngramWire

extension RunsCommand {
    struct Checkpoint: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Store a checkpoint: the whole state as a JSON object of channels; unchanged channels store nothing new.")

        @OptionGroup var global: GlobalOptions
        @OptionGroup var writer: LeaseOptions
        @Argument(help: "Run id.") var runID: String
        @Option(help: ArgumentHelp("A JSON file holding the state: an object of channels.", valueName: "file")) var state: String
        @Option(help: "The chain within the run (a subgraph's); default: the run's own.") var namespace: String = ""
        @Option(help: "The checkpoint this one follows (default: the namespace's latest).") var parent: String?
        @Option(help: "The step number (default: one more than the parent's, else 0).") var step: Int?
        @Option(name: .customLong("task"), help: "A task of the next step (repeat for several).") var tasks: [String] = []
        @Option(help: ArgumentHelp("Metadata as a JSON object.", valueName: "json")) var metadata: String?

        func run() async throws {
            try await reporting(global) {
                guard case .object(let members) = try RunOutput.jsonFile(state, what: "state") else {
                    throw EngramError(.invalidInput, "the state in \(FilePaths.display(state)) must be a JSON object of channels")
                }
                let channels = Dictionary(members, uniquingKeysWith: { _, last in last })
                let meta = try metadata.map { try Metadata.parse(json: $0) } ?? [:]
                let info = try await global.withRunStore(.existing) { store in
                    try await writer.withLease(store, runID: runID, tenant: global.tenant) { lease in
                        let head = try await store.history(runID: runID, tenant: global.tenant, namespace: namespace, limit: 1, before: nil).first
                        let parentID = parent ?? head?.id
                        let parentStep = parent == nil ? head?.step : try await store.checkpoint(runID: runID, tenant: global.tenant, namespace: namespace, id: parent)?.info.step
                        let draft = CheckpointDraft(tenant: global.tenant, runID: runID, namespace: namespace, parentID: parentID, step: step ?? parentStep.map { $0 + 1 } ?? 0,
                                                    state: channels, tasks: tasks, metadata: meta)
                        return try await store.putCheckpoint(draft, lease: lease)
                    }
                }
                if global.json { Output.printJSON(Wire.CheckpointSummary(info)) } else { Output.say(RunOutput.line(info)) }
            }
        }
    }
}
