import ArgumentParser
import EngramCore
import EngramPipeline
import EngramKit
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
                let memories = try await global.withMemoryStore(create: false) { try await $0.export(tenant: global.tenant, subject: subject) }
                let lines = memories.map { $0.json.serialized(sortedKeys: true) + "\n" }.joined()
                if let out, let destination {
                    try destination.write(Data(lines.utf8))
                    if !global.json { print("exported \(memories.count) memories to \(out)") } else { Output.printJSON(.object([("exported", .int(Int64(memories.count))), ("file", .string(out))])) }
                } else {
                    FileHandle.standardOutput.write(Data(lines.utf8))
                }
            }
        }
    }
}
