import EngramCore
import Foundation

/// How `engram serve` listens, authenticates and bounds its work.
public struct ServerConfiguration: Sendable {
    /// Who a request acts for.
    public enum Authentication: Sendable, Hashable {
        /// Every request carries `Authorization: Bearer KEY`; the key's tenant and scopes decide (default).
        case apiKeys
        /// No key is asked for: every request acts for `tenant` with every scope. For local development
        /// only; the server then refuses any address but loopback.
        case insecureNoAuth(tenant: String)
    }

    public var host: String
    public var port: Int
    public var authentication: Authentication
    /// Larger bodies are refused with 413 before they are read whole.
    public var maxBodyBytes: Int
    /// A request still running after this long is answered 503 and cancelled.
    public var requestTimeout: Duration
    /// Requests handled at once; more are answered 503 with `Retry-After` at once, never queued.
    public var maxConcurrentRequests: Int
    /// After SIGTERM or SIGINT: how long in-flight requests may take to finish before they are cancelled.
    public var drainTimeout: Duration
    /// The embedder spec of collections an ingest creates and of memories (default: minilm when
    /// installed, else hash).
    public var embedder: String?

    public init(host: String = "127.0.0.1", port: Int = 8080, authentication: Authentication = .apiKeys, maxBodyBytes: Int = 16 << 20,
                requestTimeout: Duration = .seconds(60), maxConcurrentRequests: Int = 64, drainTimeout: Duration = .seconds(10), embedder: String? = nil) {
        self.host = host
        self.port = port
        self.authentication = authentication
        self.maxBodyBytes = maxBodyBytes
        self.requestTimeout = requestTimeout
        self.maxConcurrentRequests = maxConcurrentRequests
        self.drainTimeout = drainTimeout
        self.embedder = embedder
    }

    /// Loopback addresses: the only ones `insecureNoAuth` may bind.
    public static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    /// `invalid_configuration` for settings that cannot work or are unsafe.
    public func validate() throws {
        guard (0...65_535).contains(port) else { throw EngramError(.invalidConfiguration, "--port must be between 0 and 65535, got \(port)") }
        guard maxBodyBytes >= 1_024 else { throw EngramError(.invalidConfiguration, "the body limit must be at least 1024 bytes") }
        guard maxConcurrentRequests >= 1 else { throw EngramError(.invalidConfiguration, "the concurrency limit must be at least 1") }
        guard requestTimeout > .zero, drainTimeout >= .zero else { throw EngramError(.invalidConfiguration, "timeouts must be positive") }
        if case .insecureNoAuth(let tenant) = authentication {
            try CollectionRef.validateTenant(tenant)
            guard Self.isLoopback(host) else {
                throw EngramError(.invalidConfiguration, "--insecure-no-auth serves anyone who can connect, so it binds loopback only (127.0.0.1, ::1 or localhost), not \(host)")
            }
        }
    }
}
