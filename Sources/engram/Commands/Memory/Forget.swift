import ArgumentParser
import EngramCore
import EngramPipeline
import EngramKit
import Foundation

extension MemoryCommand {
    struct Forget: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Forget memories for good (by id, subject or filter) and print the receipt.")

        @OptionGroup var global: GlobalOptions
        @Option(help: "Memory ids (repeatable).") var id: [String] = []
        @Option(help: "Every memory of this subject (with --filter: only its matching ones).") var subject: String?
        @Option(help: "Within this namespace (with --filter).") var namespace: String?
        @Option(help: ArgumentHelp("Memories whose metadata match (readable or JSON).", valueName: "expr")) var filter: String?
        @Flag(help: "Every memory of the tenant.") var all = false
        @Option(help: "Why (recorded in the audit trail).") var reason: String
        @Option(help: "Who (recorded in the audit trail).") var actor: String = "cli"

        func validate() throws {
            let selectors = [!id.isEmpty, filter != nil || (subject != nil && filter == nil), all].filter { $0 }.count
            guard selectors == 1 else { throw ValidationError("choose one of --id, --subject, --filter or --all") }
        }

        func run() async throws {
            try await reporting(global) {
                let selector: ForgetSelector
                if !id.isEmpty {
                    selector = .ids(id)
                } else if let filter {
                    selector = .filter(try Filter.parseAny(filter), subject: subject, namespace: namespace)
                } else if let subject {
                    selector = .subject(subject)
                } else {
                    selector = .all
                }
                let request = ForgetRequest(tenant: global.tenant, selector: selector, actor: actor, reason: reason)
                try MemoryRules.validate(request)
                let receipt = try await global.withMemoryStore(.existing) { try await $0.forget(request) }
                MemoryOutput.receipt(receipt, json: global.json, verb: "forgot")
            }
        }
    }
}
