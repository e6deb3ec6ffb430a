import ArgumentParser
import EngramCore
import EngramPipeline
import EngramKit
import EngramWire
import Foundation

extension MemoryCommand {
    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one memory.")

        @OptionGroup var global: GlobalOptions
        @Argument(help: "Memory id (mem_…).") var id: String

        func run() async throws {
            try await reporting(global) {
                guard let m = try await global.withMemoryStore(.existing, { try await $0.memory(id: id, tenant: global.tenant) }) else {
                    throw MemoryRules.notFound(id)
                }
                if global.json { Output.printJSON(Wire.Memory(m)) } else { print(MemoryOutput.line(m)); Output.text(m.content) }
            }
        }
    }
}
