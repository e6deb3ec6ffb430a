import ArgumentParser
import EngramCore
import EngramWire

extension RunsCommand {
    struct Write: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Record a finished task's writes against the latest checkpoint (all or none; repeating them changes nothing).")

        @OptionGroup var global: GlobalOptions
        @OptionGroup var writer: LeaseOptions
        @Argument(help: "Run id.") var runID: String
        @Option(help: "The task's id.") var task: String
        @Option(help: ArgumentHelp("A JSON file: an object of channel → value, or an array of {\"channel\": …, \"value\": …}.", valueName: "file")) var writes: String
        @Option(help: "The checkpoint the task ran from (default: the namespace's latest).") var checkpoint: String?
        @Option(help: "The namespace of the default checkpoint.") var namespace: String = ""

        func parsedWrites() throws -> [TaskWrite] {
            switch try RunOutput.jsonFile(writes, what: "writes") {
            case .object(let members):
                return members.map { TaskWrite(channel: $0.0, value: $0.1) }
            case .array(let items):
                return try items.enumerated().map { i, item in
                    guard case .string(let channel)? = item["channel"], let value = item["value"] else {
                        throw EngramError(.invalidInput, "write \(i) in \(FilePaths.display(writes)) must be an object with a string \"channel\" and a \"value\"")
                    }
                    return TaskWrite(channel: channel, value: value)
                }
            default:
                throw EngramError(.invalidInput, "the writes in \(FilePaths.display(writes)) must be a JSON object or array")
            }
        }

        func run() async throws {
            try await reporting(global) {
                let list = try parsedWrites()
                let (count, at) = try await global.withRunStore(.existing) { store in
                    try await writer.withLease(store, runID: runID, tenant: global.tenant) { lease -> (Int, String) in
                        var at = checkpoint
                        if at == nil { at = try await store.history(runID: runID, tenant: global.tenant, namespace: namespace, limit: 1, before: nil).first?.id }
                        guard let at else {
                            throw EngramError(.notFound, "run \(runID) has no checkpoint\(namespace.isEmpty ? "" : " in namespace \(namespace)") to record writes against")
                        }
                        return (try await store.putWrites(list, taskID: task, checkpointID: at, lease: lease), at)
                    }
                }
                if global.json {
                    Output.printJSON(Wire.Recorded(taskID: task, checkpointID: at, recorded: count))
                } else {
                    Output.say(count == 0 ? "task \(task): these writes were recorded already" : "task \(task): recorded \(count) writes against \(at)")
                }
            }
        }
    }
}
