import ArgumentParser
import EngramCore
import EngramWire

extension RunsCommand {
    struct Audit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The tenant's run audit trail: deletions, expiries, prunings, cancellations and holds (ids, who, why, counts).")

        @OptionGroup var global: GlobalOptions

        func run() async throws {
            try await reporting(global) {
                let events = try await global.withRunStore(.read) { try await $0.audit(tenant: global.tenant) }
                if global.json { Output.printJSON(events.map(Wire.RunAuditEvent.init)); return }
                for e in events {
                    let m = e.removed
                    Output.say("\(e.sequence)  \(MetadataValue.canonicalDateString(e.at))  \(e.action.rawValue)  \(e.runID)  by \(e.actor) — \(e.reason)"
                        + (m == RunRemoval() ? "" : "  (\(m.checkpoints) checkpoints, \(m.values) values, \(m.writes) writes, \(m.events) events)"))
                }
            }
        }
    }
}
