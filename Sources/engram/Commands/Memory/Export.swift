import ArgumentParser
import EngramCore
import EngramPipeline
import EngramKit
import EngramWire
import Foundation

extension MemoryCommand {
    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every memory of the tenant (or one subject) as JSON Lines, for access requests.")

        @OptionGroup var global: GlobalOptions
        @Option(help: "Only this subject's memories.") var subject: String?
        @Option(help: ArgumentHelp("Write to this file instead of standard output.", valueName: "file")) var out: String?
        @Flag(help: "Replace the file if it exists.") var force = false

        func run() async throws {
            try await reporting(global) {
                let destination = try out.map { try global.output($0, force: force, private: true) }
                let memories = try await global.withMemoryStore(.read) { try await $0.export(tenant: global.tenant, subject: subject) }
                let lines = try memories.map { try Wire.text(Wire.Memory($0)) + "\n" }.joined()
                if let out, let destination {
                    try destination.write(Data(lines.utf8))
                    if !global.json { print("exported \(memories.count) memories to \(out)") } else { Output.printJSON(Wire.Exported(exported: memories.count, file: out)) }
                } else {
                    FileHandle.standardOutput.write(Data(lines.utf8))
                }
            }
        }
    }
}
