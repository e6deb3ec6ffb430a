import ArgumentParser
import EngramCore
import EngramKit
import EngramServer
import Foundation

/// `engram serve`: the HTTP API over `--store`.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the HTTP API over --store (every request needs an API key: engram keys create).",
        discussion: "SIGTERM or SIGINT stops accepting connections, lets in-flight requests finish (at most --drain-timeout seconds) and closes the store."
    )

    @OptionGroup var global: GlobalOptions
    @Option(help: "Address to listen on.") var host: String = "127.0.0.1"
    @Option(help: "Port (0 picks a free one; the address is printed).") var port: Int = 8080
    @Flag(help: "Ask for no key: every request acts for --tenant with every scope. Local development only; binds loopback only.") var insecureNoAuth = false
    @Option(help: "Largest request body, in bytes.") var maxBodyBytes: Int = 16 << 20
    @Option(help: "Seconds a request may take.") var requestTimeout: Int = 60
    @Option(help: "Requests handled at once (more are answered 503).") var maxConcurrentRequests: Int = 64
    @Option(help: "Seconds in-flight requests may take to finish after SIGTERM.") var drainTimeout: Int = 10
    @Option(help: "Embedder of new collections and of memories (default: minilm when installed, else hash).") var embedder: String?

    func run() async throws {
        try await reporting(global) {
            let configuration = ServerConfiguration(host: host, port: port, authentication: insecureNoAuth ? .insecureNoAuth(tenant: global.tenant) : .apiKeys,
                                                    maxBodyBytes: maxBodyBytes, requestTimeout: .seconds(requestTimeout), maxConcurrentRequests: maxConcurrentRequests,
                                                    drainTimeout: .seconds(drainTimeout), embedder: embedder)
            try configuration.validate()
            try await global.withStores(.create, memories: true) { stores in
                let server = try EngramServer(stores: stores, configuration: configuration, logger: try global.logger())
                if insecureNoAuth {
                    Output.notice("WARNING: --insecure-no-auth: no API key is asked for; anyone who can connect to \(host) acts as tenant \(global.tenant) with every scope")
                }
                try await server.run { port in
                    Output.notice("listening on http://\(host.contains(":") ? "[\(host)]" : host):\(port)")
                }
                Output.notice("stopped")
            }
        }
    }
}
