import AsyncHTTPClient
import EngramCore
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// Embeddings from an OpenAI-compatible `POST {base}/embeddings` endpoint: OpenAI, Ollama, vLLM,
/// Hugging Face TEI, LocalAI…
///
/// Texts are sent in batches of ``Configuration/batchSize``; each request has a timeout; 429 and 5xx
/// answers and lost connections are retried with exponential backoff (honouring `Retry-After`); every
/// answer is checked — one finite vector of the expected dimension per input, indices complete — and
/// anything else is an error that says what the server sent.
///
/// The identity is `openai:MODEL`, revision = the base URL, so a collection remembers where its vectors
/// come from and a search re-creates the same embedder. The API key is never part of it.
public struct OpenAICompatibleEmbedder: Embedder {
    public struct Configuration: Sendable {
        /// The API base, e.g. `https://api.openai.com/v1` or `http://127.0.0.1:11434/v1`.
        public var baseURL: String
        public var model: String
        /// The vector length; nil asks the server once (``connect(_:client:logger:)``).
        public var dimension: Int?
        /// Sent as `"dimensions"` (OpenAI's text-embedding-3 models can shorten their vectors).
        public var requestDimensions = false
        /// Sent as `Authorization: Bearer …` when set.
        public var apiKey: String?
        public var batchSize = 128
        public var timeout: TimeAmount = .seconds(60)
        /// Retries after the first attempt, for 429, 5xx and connection failures.
        public var maxRetries = 4
        public var initialBackoff: TimeAmount = .milliseconds(250)
        public var maxBackoff: TimeAmount = .seconds(8)

        public init(baseURL: String, model: String, dimension: Int? = nil, apiKey: String? = nil) {
            self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
            self.model = model
            self.dimension = dimension
            self.apiKey = apiKey
        }
    }

    public static let modelPrefix = "openai:"

    public let identity: EmbeddingIdentity
    public let configuration: Configuration
    private let client: HTTPClient
    let logger: Logger

    public var preferredBatchSize: Int { configuration.batchSize }

    /// An embedder for a known dimension (no request is made).
    /// - Parameter logger: told of every retried request (status or error, and the wait).
    public init(_ configuration: Configuration, dimension: Int, client: HTTPClient = .shared,
                logger: Logger = Logger(label: "engram.embed", factory: { _ in SwiftLogNoOpLogHandler() })) throws {
        guard dimension > 0, dimension <= 16_000 else {
            throw EngramError(.invalidInput, "embedding dimension must be from 1 to 16000, not \(dimension)")
        }
        guard configuration.batchSize > 0 else { throw EngramError(.invalidInput, "batch size must be positive") }
        guard let url = URL(string: configuration.baseURL), let scheme = url.scheme?.lowercased(), ["http", "https"].contains(scheme), url.host != nil else {
            throw EngramError(.invalidConfiguration, "embedding endpoint '\(configuration.baseURL)' is not an http(s) URL")
        }
        guard !configuration.model.isEmpty else {
            throw EngramError(.invalidConfiguration, "embedding endpoint \(configuration.baseURL): no model named")
        }
        var configuration = configuration
        configuration.dimension = dimension
        self.configuration = configuration
        self.client = client
        self.logger = logger
        identity = EmbeddingIdentity(model: Self.modelPrefix + configuration.model, revision: configuration.baseURL, dimension: dimension, distance: .cosine, normalized: false)
    }

    /// An embedder whose dimension is the configured one, or else learned by embedding one probe text.
    public static func connect(_ configuration: Configuration, client: HTTPClient = .shared,
                               logger: Logger = Logger(label: "engram.embed", factory: { _ in SwiftLogNoOpLogHandler() })) async throws -> OpenAICompatibleEmbedder {
        if let dimension = configuration.dimension {
            return try OpenAICompatibleEmbedder(configuration, dimension: dimension, client: client, logger: logger)
        }
        let probe = try await request(["dimension probe"], configuration: configuration, client: client, dimension: nil, logger: logger)
        return try OpenAICompatibleEmbedder(configuration, dimension: probe[0].count, client: client, logger: logger)
    }

    public func embed(_ texts: [String]) async throws -> [[Float]] {
        var vectors: [[Float]] = []
        vectors.reserveCapacity(texts.count)
        var start = 0
        while start < texts.count {
            let end = min(start + configuration.batchSize, texts.count)
            vectors += try await Self.request(Array(texts[start..<end]), configuration: configuration, client: client, dimension: identity.dimension, logger: logger)
            start = end
        }
        return vectors
    }

    // MARK: Requests

    private struct RequestBody: Encodable {
        var model: String
        var input: [String]
        var encoding_format = "float"
        var dimensions: Int?
    }

    private struct ResponseBody: Decodable {
        struct Item: Decodable {
            var index: Int?
            var embedding: [Float]
        }
        var data: [Item]
    }

    private struct ErrorBody: Decodable {
        struct Detail: Decodable { var message: String? }
        var error: Detail?
    }

    /// One batch, with retries.
    static func request(_ texts: [String], configuration: Configuration, client: HTTPClient, dimension: Int?, logger: Logger) async throws -> [[Float]] {
        let endpoint = configuration.baseURL + "/embeddings"
        var body = RequestBody(model: configuration.model, input: texts)
        if configuration.requestDimensions { body.dimensions = configuration.dimension }
        let payload = try JSONEncoder().encode(body)
        var attempt = 0
        while true {
            var req = HTTPClientRequest(url: endpoint)
            req.method = .POST
            req.headers.add(name: "Content-Type", value: "application/json")
            req.headers.add(name: "Accept", value: "application/json")
            if let key = configuration.apiKey, !key.isEmpty { req.headers.add(name: "Authorization", value: "Bearer \(key)") }
            req.body = .bytes(ByteBuffer(bytes: payload))
            let outcome: Result<(HTTPResponseStatus, HTTPHeaders, ByteBuffer), any Error>
            do {
                let response = try await client.execute(req, timeout: configuration.timeout)
                let bytes = try await response.body.collect(upTo: 256 << 20)
                outcome = .success((response.status, response.headers, bytes))
            } catch {
                outcome = .failure(error)
            }
            let retryAfter: TimeAmount?
            switch outcome {
            case .success(let (status, headers, bytes)):
                if status == .ok {
                    return try decode(bytes, count: texts.count, dimension: dimension, endpoint: endpoint)
                }
                let detail = errorDetail(bytes)
                guard status == .tooManyRequests || status.code >= 500, attempt < configuration.maxRetries else {
                    throw EngramError(status == .unauthorized || status == .forbidden || status == .notFound ? .invalidConfiguration : .storageFailure,
                                      "embedding endpoint \(endpoint) answered \(status.code) \(status.reasonPhrase)\(detail.isEmpty ? "" : ": " + detail)\(attempt > 0 ? " (after \(attempt + 1) attempts)" : "")")
                }
                retryAfter = headers.first(name: "Retry-After").flatMap(Double.init).map { .milliseconds(Int64($0 * 1000)) }
            case .failure(let error):
                guard attempt < configuration.maxRetries, !(error is CancellationError) else {
                    throw EngramError(.storageFailure, "embedding endpoint \(endpoint) failed\(attempt > 0 ? " after \(attempt + 1) attempts" : ""): \(error)")
                }
                retryAfter = nil
            }
            let exponential = configuration.initialBackoff.nanoseconds << min(attempt, 20)
            var wait = min(exponential, configuration.maxBackoff.nanoseconds)
            wait = wait / 2 + Int64.random(in: 0...max(wait / 2, 1))
            if let retryAfter { wait = min(max(wait, retryAfter.nanoseconds), configuration.maxBackoff.nanoseconds * 4) }
            let reason: String
            switch outcome {
            case .success(let (status, _, _)): reason = "\(status.code)"
            case .failure(let error): reason = "\(error)"
            }
            logger.notice("retrying an embedding request", metadata: ["endpoint": "\(endpoint)", "attempt": "\(attempt + 1)", "reason": "\(reason)", "wait_ms": "\(wait / 1_000_000)"])
            try await Task.sleep(nanoseconds: UInt64(wait))
            attempt += 1
        }
    }

    static func decode(_ bytes: ByteBuffer, count: Int, dimension: Int?, endpoint: String) throws -> [[Float]] {
        let body: ResponseBody
        do {
            body = try JSONDecoder().decode(ResponseBody.self, from: Data(bytes.readableBytesView))
        } catch {
            let excerpt = String(decoding: bytes.readableBytesView.prefix(200), as: UTF8.self)
            throw EngramError(.storageFailure, "embedding endpoint \(endpoint) sent a response that is not an embeddings list: \(excerpt.isEmpty ? "(empty body)" : excerpt)")
        }
        guard body.data.count == count else {
            throw EngramError(.storageFailure, "embedding endpoint \(endpoint) returned \(body.data.count) embeddings for \(count) inputs")
        }
        var vectors = [[Float]?](repeating: nil, count: count)
        for (position, item) in body.data.enumerated() {
            let index = item.index ?? position
            guard (0..<count).contains(index), vectors[index] == nil else {
                throw EngramError(.storageFailure, "embedding endpoint \(endpoint) returned a missing or repeated index \(index)")
            }
            let expected = dimension ?? body.data[0].embedding.count
            guard item.embedding.count == expected, expected > 0 else {
                throw EngramError(.embeddingMismatch, "embedding endpoint \(endpoint) returned a vector of dimension \(item.embedding.count), expected \(expected)")
            }
            guard item.embedding.allSatisfy(\.isFinite) else {
                throw EngramError(.storageFailure, "embedding endpoint \(endpoint) returned a vector with NaN or infinity")
            }
            vectors[index] = item.embedding
        }
        return vectors.map { $0! }
    }

    static func errorDetail(_ bytes: ByteBuffer) -> String {
        let data = Data(bytes.readableBytesView)
        if let body = try? JSONDecoder().decode(ErrorBody.self, from: data), let message = body.error?.message {
            return message
        }
        return String(decoding: data.prefix(200), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
