import ArgumentParser
import EngramCore
import EngramPipeline
import EngramKit
import EngramWire
import Foundation

extension MemoryCommand {
    struct Events: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The audit trail (who, when, why, content hash — never content).")

        @OptionGroup var global: GlobalOptions
        @Option(help: "Only this memory's events.") var id: String?

        func run() async throws {
            try await reporting(global) {
                let events = try await global.withMemoryStore(.read) { try await $0.events(tenant: global.tenant, memoryID: id) }
                if global.json { Output.printJSON(events.map(Wire.MemoryEvent.init)); return }
                for e in events {
                    let origin = e.origin.map { "  (imported from \($0))" } ?? ""
                    Output.say("\(e.sequence)  \(MetadataValue.canonicalDateString(e.at))  \(e.kind.rawValue)  \(e.memoryID)  by \(e.actor)\(e.reason.isEmpty ? "" : " — \(e.reason)")  sha256 \(e.contentSHA256.prefix(16))\(origin)")
                }
            }
        }
    }
}
