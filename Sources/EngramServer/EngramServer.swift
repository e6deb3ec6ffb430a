import EngramCore
import EngramPipeline
import EngramWire
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import UnixSignals

/// `engram serve`: Engram's HTTP API over opened stores. Routes live in extensions by concept
/// (`Routes+Documents.swift`, `Routes+Memories.swift`, `Routes+Keys.swift`); a new endpoint is one
/// handler there and one line in ``router()``. Every `/v1` route is authenticated (``AuthMiddleware``)
/// and takes its tenant from the key; handlers answer with `EngramWire` types.
public struct EngramServer: Sendable {
    public let stores: Stores
    public let configuration: ServerConfiguration
    public let logger: Logger
    let embedders: CachedEmbedders

    public init(stores: Stores, configuration: ServerConfiguration, embedders: CachedEmbedders = CachedEmbedders(),
                logger: Logger = Logger(label: "engram.server", factory: { _ in SwiftLogNoOpLogHandler() })) throws {
        try configuration.validate()
        self.stores = stores
        self.configuration = configuration
        self.embedders = embedders
        self.logger = logger
    }

    /// The router: health routes open, `/v1` behind the key check.
    public func router() -> Router<EngramRequestContext> {
        let router = Router(context: EngramRequestContext.self)
        router.add(middleware: FrontMiddleware(limit: configuration.maxConcurrentRequests))
        router.get("healthz") { _, _ in try Reply.json(Wire.Health(status: "ok")) }
        router.get("readyz") { _, _ in try await self.ready() }
        let v1 = Routes(group: router.group("v1").add(middleware: AuthMiddleware(authentication: configuration.authentication, keys: stores.keys)),
                        timeout: configuration.requestTimeout)
        addDocumentRoutes(v1)
        addMemoryRoutes(v1)
        addKeyRoutes(v1)
        return router
    }

    /// The application, listening where the configuration says; `onRunning` learns the bound port.
    public func application(onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        Application(router: router(), configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: nil),
                    onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? configuration.port) }, logger: logger)
    }

    /// Serves until SIGTERM or SIGINT, then stops accepting connections, lets in-flight requests finish
    /// for at most the drain timeout, and returns (the caller then closes the stores).
    public func run(onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        var config = ServiceGroupConfiguration(services: [.init(service: application(onRunning: onRunning))], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        config.maximumGracefulShutdownDuration = configuration.drainTimeout
        try await ServiceGroup(configuration: config).run()
    }

    /// `GET /readyz`: the stores answer (a read of the key table and the collection list).
    func ready() async throws -> Response {
        do {
            _ = try await stores.keys.keys(tenant: "readyz")
            _ = try await stores.vectors.collections(tenant: "readyz")
            return try Reply.json(Wire.Health(status: "ready"))
        } catch let e as EngramError {
            logger.warning("not ready", metadata: ["error": "\(e)"])
            throw EngramError(.unavailable, "the store is not ready: \(e.code)")
        }
    }

    /// Who an audit record names for this request: the key, and the name the body gives, if any.
    static func actor(_ context: EngramRequestContext, _ named: String?) -> String {
        let who = context.key?.id ?? "insecure-no-auth"
        guard let named, !named.isEmpty else { return who }
        return "\(who) (\(named))"
    }
}
