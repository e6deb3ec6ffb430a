import EngramCore
import EngramWire
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// The context of one request: the caller, once authenticated (``AuthMiddleware``).
public struct EngramRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The key the request was made with (nil before authentication, and with `insecureNoAuth`).
    public var key: APIKey?
    /// The tenant the request acts for: the key's, never one the request names.
    public var tenant: String?
    var scopes: Set<APIScope> = []

    public init(source: Source) {
        coreContext = .init(source: source)
    }

    /// The caller's tenant, after checking that its key has `scope` (`forbidden` otherwise).
    func tenant(_ scope: APIScope) throws -> String {
        guard let tenant else { throw EngramError(.unauthenticated, "the request is not authenticated") }
        guard scopes.contains(scope) else {
            throw EngramError(.forbidden, "this key lacks the \(scope.rawValue) scope (it has \(scopes.sorted().map(\.rawValue).joined(separator: ", ")))")
        }
        return tenant
    }
}

/// HTTP status of each error code; an unknown code is a 500.
enum ErrorStatus {
    static func status(_ code: EngramError.Code) -> HTTPResponse.Status {
        switch code {
        case .invalidInput, .invalidFilter, .invalidManifest, .emptyDocument, .loadFailed, .invalidConfiguration: .badRequest
        case .unauthenticated: .unauthorized
        case .forbidden: .forbidden
        case .notFound, .collectionNotFound: .notFound
        case .collectionExists, .conflict, .legalHold, .superseded: .conflict
        case .tooLarge: .contentTooLarge
        case .embeddingMismatch, .unsupported: .unprocessableContent
        case .unavailable, .schemaMismatch: .serviceUnavailable
        default: .internalServerError
        }
    }
}

/// JSON responses of wire types.
enum Reply {
    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        let text = try Wire.text(value)
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func error(_ e: EngramError, requestID: String) -> Response {
        var response = (try? json(Wire.ErrorBody(e), status: ErrorStatus.status(e.code))) ?? Response(status: .internalServerError)
        if e.code == .unauthenticated { response.headers[.wwwAuthenticate] = "Bearer" }
        if e.code == .unavailable { response.headers[.retryAfter] = "1" }
        response.headers[.requestID] = requestID
        return response
    }
}

extension HTTPField.Name {
    static let requestID = HTTPField.Name("X-Request-Id")!
}

/// The outermost middleware: gives each request an id (in its log lines and its response), turns every
/// error into the one JSON error shape (internal failures are logged with their detail and answered
/// without it) and bounds the requests in flight. (Each route bounds its own time: ``Routes``.)
final class FrontMiddleware: RouterMiddleware {
    typealias Context = EngramRequestContext
    let limit: Int
    let inFlight = Atomic<Int>(0)

    init(limit: Int) { self.limit = limit }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        // Hummingbird's own id lives in the logger's metadata, which a logger that drops messages lacks.
        let id = SHA256Hex.hex((0..<8).map { _ in UInt8.random(in: 0...255) })
        var context = context
        context.logger[metadataKey: "request_id"] = .string(id)
        let started = ContinuousClock.now
        defer {
            let ms = (ContinuousClock.now - started) / .milliseconds(1)
            context.logger.debug("request", metadata: ["method": "\(request.method)", "path": "\(request.uri.path)", "ms": "\(ms)"])
        }
        let admitted = inFlight.add(1, ordering: .relaxed).newValue
        defer { inFlight.subtract(1, ordering: .relaxed) }
        guard admitted <= limit else {
            return Reply.error(EngramError(.unavailable, "the server is at its limit of \(limit) requests at once; try again shortly"), requestID: id)
        }
        do {
            var response = try await next(request, context)
            response.headers[.requestID] = id
            return response
        } catch let e as EngramError {
            if ErrorStatus.status(e.code) == .internalServerError {
                context.logger.error("request failed", metadata: ["code": "\(e.code)", "error": "\(e)"])
                return Reply.error(EngramError(e.code, "the store failed; the request id \(id) finds the cause in the server's log"), requestID: id)
            }
            return Reply.error(e, requestID: id)
        } catch let e as any HTTPResponseError {
            let code: EngramError.Code = e.status == .contentTooLarge ? .tooLarge : e.status == .notFound ? .notFound : e.status == .methodNotAllowed ? .notFound : .invalidInput
            let message = e.status == .contentTooLarge ? "the body is larger than this server accepts" : e.status == .notFound ? "no such route: \(request.method) \(request.uri.path)" : "\(e.status)"
            return Reply.error(EngramError(code, message), requestID: id)
        } catch is CancellationError {
            return Reply.error(EngramError(.unavailable, "the request was cancelled (the server is stopping)"), requestID: id)
        } catch {
            context.logger.error("request failed", metadata: ["error": "\(error)"])
            return Reply.error(EngramError(.storageFailure, "internal error; the request id \(id) finds the cause in the server's log"), requestID: id)
        }
    }

}

/// The routes of a group, each bounded in time: a handler still running after the timeout is cancelled
/// and answered `unavailable` (503).
struct Routes {
    typealias Handler = @Sendable (Request, EngramRequestContext) async throws -> Response
    let group: RouterGroup<EngramRequestContext>
    let timeout: Duration

    func get(_ path: RouterPath, _ handler: @escaping Handler) { group.get(path) { r, c in try await Self.bounded(timeout) { try await handler(r, c) } } }
    func post(_ path: RouterPath, _ handler: @escaping Handler) { group.post(path) { r, c in try await Self.bounded(timeout) { try await handler(r, c) } } }
    func delete(_ path: RouterPath, _ handler: @escaping Handler) { group.delete(path) { r, c in try await Self.bounded(timeout) { try await handler(r, c) } } }

    /// `body`, cancelled and answered `unavailable` once `timeout` has passed.
    static func bounded(_ timeout: Duration, _ body: @escaping @Sendable () async throws -> Response) async throws -> Response {
        try await withThrowingTaskGroup(of: Response?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let response = first else {
                throw EngramError(.unavailable, "the request took longer than the server's limit of \(timeout)")
            }
            return response
        }
    }
}

/// Authenticates `/v1` requests: the bearer key decides the tenant and the scopes.
struct AuthMiddleware: RouterMiddleware {
    typealias Context = EngramRequestContext
    let authentication: ServerConfiguration.Authentication
    let keys: any APIKeyStore

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        switch authentication {
        case .insecureNoAuth(let tenant):
            context.tenant = tenant
            context.scopes = Set(APIScope.allCases)
        case .apiKeys:
            guard let header = request.headers[.authorization], header.count > 7, header.prefix(7).lowercased() == "bearer " else {
                throw EngramError(.unauthenticated, "send the API key as Authorization: Bearer KEY")
            }
            let key = try await APIKeys.authenticate(String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces), in: keys)
            context.key = key
            context.tenant = key.tenant
            context.scopes = key.scopes
            context.logger[metadataKey: "key_id"] = .string(key.id)
        }
        return try await next(request, context)
    }
}

extension Request {
    /// The body, at most `limit` bytes (`too_large` beyond), decoded as a request type.
    func decode<T: WireRequest>(_ type: T.Type, limit: Int) async throws -> T {
        let buffer = try await bytes(limit: limit)
        guard buffer.readableBytes > 0 else { throw EngramError(.invalidInput, "the request needs a JSON body") }
        return try Wire.request(type, from: Data(buffer.readableBytesView))
    }

    /// The body, at most `limit` bytes (`too_large` beyond; a declared length beyond is refused unread).
    func bytes(limit: Int) async throws -> ByteBuffer {
        if let declared = headers[.contentLength].flatMap(Int.init), declared > limit {
            throw EngramError(.tooLarge, "the body (\(declared) bytes) is larger than this server's limit of \(limit) bytes")
        }
        do {
            return try await body.collect(upTo: limit)
        } catch let e as any HTTPResponseError where e.status == .contentTooLarge {
            throw EngramError(.tooLarge, "the body is larger than this server's limit of \(limit) bytes")
        }
    }

    /// A query parameter as an integer in `range` (`invalid_input` naming it otherwise), or nil.
    func integer(_ name: String, in range: ClosedRange<Int>) throws -> Int? {
        guard let text = uri.queryParameters.get(name) else { return nil }
        guard let n = Int(text), range.contains(n) else { throw EngramError(.invalidInput, "\(name) must be an integer between \(range.lowerBound) and \(range.upperBound)") }
        return n
    }
}

extension EngramRequestContext {
    /// A path parameter the route declares.
    func path(_ name: String) throws -> String {
        guard let value = parameters.get(name) else { throw EngramError(.invalidInput, "missing \(name) in the path") }
        return value.removingPercentEncoding ?? value
    }
}
