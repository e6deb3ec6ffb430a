import ArgumentParser
import EngramCore
import EngramPipeline
import EngramKit
import EngramWire
import Foundation

extension MemoryCommand {
    struct Hold: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Set or clear a legal hold: a held memory is neither changed, forgotten nor swept.")

        @OptionGroup var global: GlobalOptions
        @Argument(help: "Memory id (mem_…).") var id: String
        @Flag(help: "Clear the hold instead of setting it.") var clear = false
        @Option(help: "Why (recorded in the audit trail).") var reason: String
        @Option(help: "Who (recorded in the audit trail).") var actor: String = "cli"

        func run() async throws {
            try await reporting(global) {
                let m = try await global.withMemoryStore(.existing) { try await $0.setLegalHold(id: id, tenant: global.tenant, held: !clear, actor: actor, reason: reason) }
                if global.json { Output.printJSON(Wire.Memory(m)) } else { print("\(clear ? "hold cleared" : "held") \(MemoryOutput.line(m))") }
            }
        }
    }
}
