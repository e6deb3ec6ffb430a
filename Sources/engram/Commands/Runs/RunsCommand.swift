import ArgumentParser
import EngramCore
import EngramKit
import EngramWire
import Foundation

/// `engram runs …`: the state of agent runs — checkpoints, task writes, events, retention.
struct RunsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runs",
        abstract: "Run state for agents: start runs, checkpoint their state, record task writes, resume, fork, delete (audited), sweep by retention.",
        discussion: """
            A command that writes to a run takes the run's lease as --owner for the command's duration \
            (refused while another owner holds it) and gives it back when done. A checkpoint follows the \
            namespace's latest unless --parent names another, which is refused if the run moved on.
            """,
        subcommands: [Start.self, Checkpoint.self, Write.self, Show.self, History.self, List.self, Status.self, Cancel.self, Events.self,
                      Fork.self, Delete.self, Hold.self, Sweep.self, Audit.self]
    )

    /// Accepted here too: `engram runs --store URL list`.
    @OptionGroup var global: GlobalOptions
}

extension RunStatus: ExpressibleByArgument {}

extension GlobalOptions {
    /// Runs `body` with the run store of `--store`, opened with `access`. Runs belong to a tenant, not a
    /// collection: `--collection` is refused.
    func withRunStore<T>(_ access: StoreAccess, _ body: (any RunStore) async throws -> T) async throws -> T {
        guard collection == nil else {
            throw EngramError(.invalidInput, "runs belong to a tenant, not a collection: leave out --collection")
        }
        return try await withStores(access) { try await body($0.runs) }
    }
}

/// The writer a command acts as.
struct LeaseOptions: ParsableArguments {
    @Option(help: "The lease owner this command writes as.") var owner: String = "engram-cli"
    @Option(name: .customLong("lease-seconds"), help: "How long the command's lease lasts.") var leaseSeconds: Int = 60

    /// Takes the run's lease for `body` and gives it back afterwards (also when `body` fails).
    func withLease<T>(_ store: any RunStore, runID: String, tenant: String, _ body: (RunLease) async throws -> T) async throws -> T {
        let lease = try await store.acquireLease(runID: runID, tenant: tenant, owner: owner, duration: .seconds(leaseSeconds))
        do {
            let result = try await body(lease)
            try? await store.releaseLease(lease)
            return result
        } catch {
            try? await store.releaseLease(lease)
            throw error
        }
    }
}

enum RunOutput {
    static func line(_ r: Run) -> String {
        var flags = [r.status.rawValue, r.agent]
        if r.legalHold { flags.append("legal hold") }
        if let f = r.forkedFrom { flags.append("forked from \(f.runID)@\(f.checkpointID)") }
        return "\(r.id)  (\(flags.joined(separator: ", ")))  created \(MetadataValue.canonicalDateString(r.createdAt))"
    }

    static func line(_ c: CheckpointInfo) -> String {
        let changed = c.channels.values.filter { $0.version > 1 }.count
        return "\(c.id)  step \(c.step)\(c.namespace.isEmpty ? "" : "  [\(c.namespace)]")  \(c.channels.count) channels (\(changed) changed since they appeared)"
            + (c.tasks.isEmpty ? "" : "  tasks \(c.tasks.joined(separator: ","))") + "  \(MetadataValue.canonicalDateString(c.createdAt))"
    }

    static func receipt(_ r: RunDeletionReceipt, json: Bool, verb: String) {
        if json { Output.printJSON(Wire.RunReceipt(r)); return }
        let m = r.removed
        Output.say("\(verb) \(r.deleted.count) runs\(r.pruned.isEmpty ? "" : ", pruned \(r.pruned.count)")\(r.held.isEmpty ? "" : ", kept \(r.held.count) under legal hold"): "
            + "\(m.checkpoints) checkpoints, \(m.channelVersions) channel versions, \(m.values) values, \(m.writes) writes, \(m.events) events")
        for id in r.deleted { Output.say("  \(verb) \(id)") }
        for id in r.pruned { Output.say("  pruned \(id)") }
        for id in r.held { Output.say("  held \(id)") }
        if r.erasurePending {
            Output.say("erasure pending: another connection still reads an older snapshot of the store; the next engram command on this store completes the erasure")
        }
    }

    /// The JSON object of a file (a state, a list of writes), parsed strictly.
    static func jsonFile(_ path: String, what: String) throws -> JSONValue {
        let data = try InputFile.read(path, limit: 64 << 20, what: what)
        do {
            return try JSONValue.parse(data)
        } catch let e as EngramError {
            throw EngramError(.invalidInput, "\(FilePaths.display(path)) is not JSON: \(e.message)")
        }
    }
}
