import ArgumentParser
import EngramCore
import EngramWire

extension RunsCommand {
    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A run and a checkpoint (default: the latest): its state, pending writes and the tasks still to run.")

        @OptionGroup var global: GlobalOptions
        @Argument(help: "Run id.") var runID: String
        @Option(help: "A checkpoint id (default: the namespace's latest).") var checkpoint: String?
        @Option(help: "The chain within the run.") var namespace: String = ""

        func run() async throws {
            try await reporting(global) {
                let (run, cp) = try await global.withRunStore(.read) { store -> (Run, EngramCore.Checkpoint?) in
                    guard let run = try await store.run(id: runID, tenant: global.tenant) else { throw RunRules.notFound(runID) }
                    let cp = try await store.checkpoint(runID: runID, tenant: global.tenant, namespace: namespace, id: checkpoint)
                    if let checkpoint, cp == nil { throw RunRules.checkpointNotFound(checkpoint, runID: runID) }
                    return (run, cp)
                }
                if global.json { Output.printJSON(Wire.RunState(run: run, latest: cp)); return }
                Output.say(RunOutput.line(run))
                guard let cp else { Output.say("  no checkpoint yet"); return }
                Output.say("  " + RunOutput.line(cp.info))
                for (channel, value) in cp.state.sorted(by: { $0.key < $1.key }) {
                    Output.say("    \(channel) v\(cp.info.channels[channel]?.version ?? 0): \(Output.oneLine(value.serialized(sortedKeys: true), max: 100))")
                }
                for w in cp.pendingWrites { Output.say("  write \(w.taskID)[\(w.index)] → \(w.channel): \(Output.oneLine(w.value.serialized(sortedKeys: true), max: 80))") }
                if !cp.info.tasks.isEmpty { Output.say("  remaining tasks: \(cp.remainingTasks.isEmpty ? "none" : cp.remainingTasks.joined(separator: ", "))") }
            }
        }
    }
}
