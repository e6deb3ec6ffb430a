import EngramCore
import EngramEmbeddings
import EngramPipeline
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
import Testing

/// A real HTTP/1.1 server on 127.0.0.1 whose answers the test scripts: each request's JSON body goes to
/// `respond`, which returns status, headers, body and an optional delay.
final class ScriptedHTTPServer: Sendable {
    struct Reply: Sendable {
        var status: HTTPResponseStatus = .ok
        var headers: [(String, String)] = []
        var body: Data
        var delay: Duration? = nil
    }

    struct Request: Sendable {
        var path: String
        var headers: HTTPHeaders
        var json: [String: any Sendable]
        var inputs: [String] { (json["input"] as? [String]) ?? [] }
    }

    let port: Int
    private let channel: NIOAsyncChannel<NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, Never>
    final class Log: Sendable {
        let entries = Mutex<[Request]>([])
        func append(_ r: Request) -> Int { entries.withLock { $0.append(r); return $0.count } }
    }
    private let log = Log()
    var requests: [Request] { log.entries.withLock { $0 } }

    init(_ respond: @escaping @Sendable (Int, Request) -> Reply) async throws {
        channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: "127.0.0.1", port: 0) { child in
                child.eventLoop.makeCompletedFuture {
                    try child.pipeline.syncOperations.configureHTTPServerPipeline()
                    return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(wrappingChannelSynchronously: child)
                }
            }
        port = channel.channel.localAddress!.port!
        let channel = self.channel, log = self.log
        Task {
            try? await withThrowingDiscardingTaskGroup { group in
                try await channel.executeThenClose { connections in
                    for try await connection in connections {
                        group.addTask {
                            try? await ScriptedHTTPServer.serve(connection, log: log, respond: respond)
                        }
                    }
                }
            }
        }
    }

    private static func serve(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, log: Log,
                              respond: @Sendable (Int, Request) -> Reply) async throws {
        try await connection.executeThenClose { inbound, outbound in
            var head: HTTPRequestHead?
            var body = ByteBuffer()
            for try await part in inbound {
                switch part {
                case .head(let h):
                    head = h
                    body.clear()
                case .body(var chunk):
                    body.writeBuffer(&chunk)
                case .end:
                    let json = (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any] ?? [:]
                    let request = Request(path: head?.uri ?? "", headers: head?.headers ?? [:], json: json.mapValues { $0 as! any Sendable })
                    let number = log.append(request)
                    let reply = respond(number, request)
                    if let delay = reply.delay { try await Task.sleep(for: delay) }
                    var headers = HTTPHeaders()
                    headers.add(name: "Content-Length", value: "\(reply.body.count)")
                    headers.add(name: "Content-Type", value: "application/json")
                    for (k, v) in reply.headers { headers.add(name: k, value: v) }
                    try await outbound.write(.head(HTTPResponseHead(version: .http1_1, status: reply.status, headers: headers)))
                    try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: reply.body))))
                    try await outbound.write(.end(nil))
                }
            }
        }
    }

    func shutdown() async {
        try? await channel.channel.close()
    }

    var baseURL: String { "http://127.0.0.1:\(port)/v1" }

    /// An OpenAI-shaped answer: the hash embedder's vector (dimension `dim`) for each input, listed in
    /// reverse order with their indices, so a client that ignores `index` gets them wrong.
    static func embeddings(for inputs: [String], dim: Int) -> Data {
        let e = HashEmbedder(dimension: dim)
        let items = inputs.enumerated().reversed().map { i, text in
            ["object": "embedding", "index": i, "embedding": e.vector(for: text).map(Double.init)] as [String: Any]
        }
        return try! JSONSerialization.data(withJSONObject: ["object": "list", "data": items, "model": "test"])
    }
}

@Suite("OpenAI-compatible embedder")
struct OpenAIEmbedderTests {
    func configuration(_ server: ScriptedHTTPServer, dimension: Int? = 8) -> OpenAICompatibleEmbedder.Configuration {
        var c = OpenAICompatibleEmbedder.Configuration(baseURL: server.baseURL, model: "test-embed", dimension: dimension, apiKey: "sk-test")
        c.initialBackoff = .milliseconds(10)
        c.maxBackoff = .milliseconds(50)
        return c
    }

    @Test func batchesKeepsOrderAndSendsModelAndKey() async throws {
        let server = try await ScriptedHTTPServer { _, req in .init(body: ScriptedHTTPServer.embeddings(for: req.inputs, dim: 8)) }
        defer { Task { await server.shutdown() } }
        var config = configuration(server)
        config.batchSize = 3
        let embedder = try OpenAICompatibleEmbedder(config, dimension: 8)
        let texts = (0..<7).map { "text number \($0) about vectors" }
        let vectors = try await embedder.embed(texts)
        let expected = texts.map(HashEmbedder(dimension: 8).vector(for:))
        #expect(vectors == expected)
        let requests = server.requests
        #expect(requests.map(\.inputs.count) == [3, 3, 1])
        #expect(requests.allSatisfy { $0.path == "/v1/embeddings" && $0.json["model"] as? String == "test-embed" })
        #expect(requests.allSatisfy { $0.headers.first(name: "Authorization") == "Bearer sk-test" })
        #expect(embedder.identity.model == "openai:test-embed" && embedder.identity.revision == server.baseURL && embedder.identity.dimension == 8)
    }

    @Test func learnsTheDimensionWhenNoneIsGiven() async throws {
        let server = try await ScriptedHTTPServer { _, req in .init(body: ScriptedHTTPServer.embeddings(for: req.inputs, dim: 12)) }
        defer { Task { await server.shutdown() } }
        let embedder = try await OpenAICompatibleEmbedder.connect(configuration(server, dimension: nil))
        #expect(embedder.identity.dimension == 12)
        let spec = try await EmbedderSpec.parse("openai:\(server.baseURL)?model=test-embed", environment: [:])
        #expect(spec.identity == embedder.identity)
        let rebuilt = try await EmbedderSpec.embedder(for: embedder.identity, environment: [:])
        #expect(try await rebuilt.embed(["same text"]) == (try await embedder.embed(["same text"])))
    }

    @Test func retries429And5xxWithBackoffThenSucceeds() async throws {
        let server = try await ScriptedHTTPServer { n, req in
            switch n {
            case 1: return .init(status: .tooManyRequests, headers: [("Retry-After", "0")], body: Data(#"{"error":{"message":"slow down"}}"#.utf8))
            case 2: return .init(status: .serviceUnavailable, body: Data("overloaded".utf8))
            default: return .init(body: ScriptedHTTPServer.embeddings(for: req.inputs, dim: 8))
            }
        }
        defer { Task { await server.shutdown() } }
        let v = try await OpenAICompatibleEmbedder(configuration(server), dimension: 8).embed(["a", "b"])
        #expect(v.count == 2 && server.requests.count == 3)
    }

    @Test func givesUpAfterTheRetryBudgetAndSaysWhatTheServerSaid() async throws {
        let server = try await ScriptedHTTPServer { _, _ in .init(status: .internalServerError, body: Data(#"{"error":{"message":"model crashed"}}"#.utf8)) }
        defer { Task { await server.shutdown() } }
        var config = configuration(server)
        config.maxRetries = 2
        let error = await #expect(throws: EngramError.self) { try await OpenAICompatibleEmbedder(config, dimension: 8).embed(["a"]) }
        #expect(error?.message.contains("500") == true && error?.message.contains("model crashed") == true)
        #expect(server.requests.count == 3)
    }

    @Test func clientErrorsAreNotRetried() async throws {
        let server = try await ScriptedHTTPServer { _, _ in .init(status: .unauthorized, body: Data(#"{"error":{"message":"invalid api key"}}"#.utf8)) }
        defer { Task { await server.shutdown() } }
        let error = await #expect(throws: EngramError.self) { try await OpenAICompatibleEmbedder(configuration(server), dimension: 8).embed(["a"]) }
        #expect(error?.code == .invalidConfiguration && error?.message.contains("invalid api key") == true)
        #expect(server.requests.count == 1)
    }

    @Test func malformedAnswersAreClearErrors() async throws {
        let cases: [(Data, String)] = [
            (Data("<html>gateway</html>".utf8), "not an embeddings list"),
            (Data(#"{"data":[]}"#.utf8), "returned 0 embeddings for 1 inputs"),
            (Data(#"{"data":[{"index":0,"embedding":[1,2,3]}]}"#.utf8), "dimension 3, expected 8"),
            (Data(#"{"data":[{"index":5,"embedding":[1,2,3,4,5,6,7,8]}]}"#.utf8), "index 5"),
        ]
        for (body, message) in cases {
            let server = try await ScriptedHTTPServer { _, _ in .init(body: body) }
            let error = await #expect(throws: EngramError.self) { try await OpenAICompatibleEmbedder(configuration(server), dimension: 8).embed(["a"]) }
            #expect(error?.message.contains(message) == true, "\(error?.message ?? "no error") should mention \(message)")
            #expect(server.requests.count == 1, "a malformed answer is not retried")
            await server.shutdown()
        }
    }

    @Test(.timeLimit(.minutes(1))) func aSilentServerTimesOut() async throws {
        let server = try await ScriptedHTTPServer { _, req in .init(body: ScriptedHTTPServer.embeddings(for: req.inputs, dim: 8), delay: .seconds(5)) }
        defer { Task { await server.shutdown() } }
        var config = configuration(server)
        config.timeout = .milliseconds(300)
        config.maxRetries = 1
        let started = ContinuousClock.now
        let error = await #expect(throws: EngramError.self) { try await OpenAICompatibleEmbedder(config, dimension: 8).embed(["a"]) }
        // Without the timeout the two attempts would wait 10 s for the silent server; with it, well under
        // that even on a loaded machine.
        #expect(ContinuousClock.now - started < .seconds(9))
        #expect(error?.message.contains("after 2 attempts") == true)
    }

    @Test func specsAreCheckedBeforeAnyRequest() async throws {
        for bad in ["openai:", "openai:not a url", "openai:http://127.0.0.1:1/v1", "openai:http://127.0.0.1:1/v1?model=m&dim=0", "openai:http://127.0.0.1:1/v1?model=m&colour=red"] {
            await #expect(throws: EngramError.self, "\(bad)") { try await EmbedderSpec.parse(bad, environment: [:]) }
        }
        #expect(throws: EngramError.self) { try OpenAICompatibleEmbedder(.init(baseURL: "ftp://x/v1", model: "m"), dimension: 8) }
        let e = try await EmbedderSpec.parse("openai:http://127.0.0.1:1/v1?model=m&dim=16", environment: [:])
        #expect(e.identity.dimension == 16 && e.identity.model == "openai:m")
    }
}
