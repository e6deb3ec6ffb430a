import ArgumentParser
import EngramCore
import EngramPipeline
import EngramKit
import EngramWire
import Foundation

extension MemoryCommand {
    struct Remember: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remember a text for a subject (the same text again refreshes the memory).")

        @OptionGroup var global: GlobalOptions
        @Argument(help: "The memory's content.") var text: String
        @Option(help: "The user or agent the memory is about.") var subject: String
        @Option(help: "Namespace within the subject.") var namespace: String = "default"
        @Option(help: "fact, preference, episode, summary, or another lowercase word.") var kind: String = "fact"
        @Option(help: "0 (trivia) to 1 (essential).") var importance: Double = 0.5
        @Option(help: "Retention policy name.") var retention: String = "default"
        @Option(help: ArgumentHelp("Metadata as a JSON object.", valueName: "json")) var metadata: String?
        @Option(help: "Who remembers (recorded in the audit trail).") var actor: String = "cli"
        @Option(help: "Embedder spec (default: minilm when installed, else hash).") var embedder: String?
        @Flag(help: "Do not embed: keyword recall only.") var noEmbedding = false
        @Flag(help: "Put the memory under legal hold at once.") var hold = false

        func run() async throws {
            try await reporting(global) {
                let meta = try metadata.map { try Metadata.parse(json: $0) } ?? [:]
                var draft = MemoryDraft(tenant: global.tenant, subject: subject, namespace: namespace, kind: MemoryKind(rawValue: kind), content: text, metadata: meta,
                                        importance: importance, retention: retention, legalHold: hold)
                if !noEmbedding {
                    // Checked first, so that bad input is refused before a model loads.
                    try MemoryRules.validateContent(text)
                    let e = try await EmbedderSpec.parse(embedder ?? EmbedderSpec.defaultSpec())
                    draft.embedding = try await e.embed(text)
                    draft.embeddingIdentity = e.identity
                }
                let outcome = try await global.withMemoryStore(.create) { try await $0.remember(draft, actor: actor) }
                if global.json {
                    Output.printJSON(Wire.Remembered(outcome))
                } else {
                    Output.say("\(outcome.created ? "remembered" : "refreshed") \(MemoryOutput.line(outcome.memory))")
                }
            }
        }
    }
}
