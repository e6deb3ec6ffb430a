import ArgumentParser
import EngramCore
import EngramPipeline
import EngramKit
import EngramWire
import Foundation

extension MemoryCommand {
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List memories in creation order, a page at a time.")

        @OptionGroup var global: GlobalOptions
        @Option(help: "Only this subject's memories.") var subject: String?
        @Option(help: "Only this namespace.") var namespace: String?
        @Option(help: "Only this kind.") var kind: String?
        @Option(help: ArgumentHelp("Metadata filter (readable or JSON).", valueName: "expr")) var filter: String?
        @Option(help: "Page size.") var limit: Int = 100
        @Option(help: "The cursor printed after the previous page.") var cursor: String?

        func run() async throws {
            try await reporting(global) {
                let request = MemoryListRequest(tenant: global.tenant, subject: subject, namespace: namespace, kind: kind.map(MemoryKind.init(rawValue:)),
                                                filter: try filter.map(Filter.parseAny), limit: limit, cursor: cursor)
                let page = try await global.withMemoryStore(.read) { try await $0.list(request) }
                if global.json {
                    Output.printJSON(Wire.MemoryList(page))
                    return
                }
                for m in page.memories { Output.say(MemoryOutput.line(m)) }
                if let next = page.nextCursor { Output.say("more: --cursor \(next)") }
            }
        }
    }
}
