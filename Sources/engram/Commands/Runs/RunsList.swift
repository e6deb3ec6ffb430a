import ArgumentParser
import EngramCore
import EngramWire

extension RunsCommand {
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The tenant's runs in creation order, a page at a time.")

        @OptionGroup var global: GlobalOptions
        @Option(help: "Only runs with this status.") var status: RunStatus?
        @Option(help: "Only runs of this agent.") var agent: String?
        @Option(help: "Runs per page.") var limit: Int = 100
        @Option(help: "The cursor a previous page printed.") var cursor: String?

        func run() async throws {
            try await reporting(global) {
                let page = try await global.withRunStore(.read) {
                    try await $0.runs(RunListRequest(tenant: global.tenant, status: status, agent: agent, limit: limit, cursor: cursor))
                }
                if global.json { Output.printJSON(Wire.RunPage(page)); return }
                for r in page.runs { Output.say(RunOutput.line(r)) }
                if let next = page.nextCursor { Output.say("more: --cursor \(next)") }
            }
        }
    }
}
