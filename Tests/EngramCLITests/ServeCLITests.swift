import EngramCore
import EngramTesting
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Synchronization
import Testing

/// `engram serve` as a process: keys made by `engram keys`, requests over the loopback, revocation seen
/// by a running server at once, and SIGTERM during an ingest.
@Suite("engram serve")
struct ServeCLITests {
    /// A running `engram serve` and the port it printed.
    final class Server: Sendable {
        let process: Process
        let port: Int
        /// Everything the server wrote on standard error so far.
        let log = Log()
        final class Log: Sendable {
            let text = Mutex("")
            var value: String { text.withLock { $0 } }
        }
        var stderr: String { log.value }

        init(_ cli: CLI, _ arguments: [String]) async throws {
            let process = Process()
            process.executableURL = CLI.binary
            process.arguments = ["serve", "--port", "0", "--store", cli.storeURL] + arguments
            process.currentDirectoryURL = cli.directory
            let err = Pipe()
            process.standardError = err
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            self.process = process
            let log = self.log
            // Read standard error off the pool until the server says where it listens (or 60 s pass).
            port = try await offThePool {
                let handle = err.fileHandleForReading
                let deadline = Date().addingTimeInterval(60)
                while Date() < deadline {
                    let chunk = handle.availableData
                    if chunk.isEmpty { break }
                    let all = log.text.withLock { $0 += String(decoding: chunk, as: UTF8.self); return $0 }
                    if let range = all.range(of: #"listening on http://127\.0\.0\.1:(\d+)"#, options: .regularExpression),
                       let port = Int(all[range].split(separator: ":").last!) {
                        // Keep reading, so that the server never blocks on a full pipe and its last lines are kept.
                        Thread {
                            while true {
                                let more = handle.availableData
                                if more.isEmpty { break }
                                log.text.withLock { $0 += String(decoding: more, as: UTF8.self) }
                            }
                        }.start()
                        return port
                    }
                }
                process.terminate()
                throw EngramError(.storageFailure, "the server did not start: \(log.value)")
            }
        }

        func call(_ method: String, _ path: String, key: String?, body: String? = nil) async throws -> (status: Int, json: JSONValue) {
            var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
            request.httpMethod = method
            request.timeoutInterval = 120
            if let key { request.setValue("Bearer \(key)", forHTTPHeaderField: "Authorization") }
            request.httpBody = body.map { Data($0.utf8) }
            let (data, response) = try await URLSession.shared.data(for: request)
            return ((response as! HTTPURLResponse).statusCode, (try? JSONValue.parse(data)) ?? .null)
        }

        /// Waits for the process to end, at most `seconds`; its exit status, or nil if it still runs.
        func exit(within seconds: Double) async throws -> Int32? {
            try await offThePool { [process] in
                let deadline = Date().addingTimeInterval(seconds)
                while process.isRunning, Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
                if process.isRunning { kill(process.processIdentifier, SIGKILL); return nil }
                return process.terminationStatus
            }
        }
    }

    @Test func keysWorkOverHTTPRevocationIsImmediateAndSIGTERMDrains() async throws {
        let cli = try CLI()
        let reader = try await cli.run(["keys", "create", "--tenant", "alice", "--scopes", "read", "--json"])
        #expect(reader.status == 0, "\(reader.stderr)")
        let readKey = try #require(try reader.json()["secret"]?.string)
        let writeKey = try #require(try await cli.run(["keys", "create", "--tenant", "alice", "--scopes", "read,write", "--json"]).json()["secret"]?.string)
        let server = try await Server(cli, ["--embedder", "hash:64", "--drain-timeout", "120"])

        #expect(try await server.call("GET", "/v1/collections", key: nil).status == 401)
        #expect(try await server.call("GET", "/v1/collections", key: readKey).status == 200)
        #expect(try await server.call("POST", "/v1/memories", key: readKey, body: #"{"content": "x", "subject": "s"}"#).status == 403)
        // Another process revokes the key; the running server refuses it on the next request.
        let id = try #require(try await cli.run(["keys", "list", "--tenant", "alice", "--json"]).json().array?.first?["id"]?.string)
        #expect(try await cli.run(["keys", "revoke", id, "--tenant", "alice"]).status == 0)
        #expect(try await server.call("GET", "/v1/collections", key: readKey).status == 401)

        // SIGTERM while a large ingest is in flight: the ingest finishes (the drain allows 120 s), its
        // answer arrives, and the process exits 0.
        let documents = (0..<5_000).map { i in
            let text = String(repeating: "Document \(i) about tea, trains and tax returns. ", count: 12)
            return "{\"id\": \"d\(i)\", \"text\": \"\(text)\"}"
        }
        let body = #"{"documents": ["# + documents.joined(separator: ",") + "]}"
        let ingest = Task { (try await server.call("POST", "/v1/collections/notes/documents", key: writeKey, body: body), Date()) }
        try await Task.sleep(for: .milliseconds(500))
        let signaled = Date()
        kill(server.process.processIdentifier, SIGTERM)
        let (answer, answered) = try await ingest.value
        #expect(answered > signaled, "the ingest was still running when SIGTERM came")
        let status = try await server.exit(within: 150)
        #expect(status == 0, "\(server.stderr)")
        #expect(answer.status == 200 && answer.json["added"] == .int(5_000), "\(answer.json)")
        let stats = try await cli.run(["stats", "--tenant", "alice", "--collection", "notes", "--json"])
        #expect(try stats.json()["documents"] == .int(5_000), "\(stats.stdout)")
        #expect(server.stderr.contains("stopped"))
    }

    @Test func insecureModeRefusesANonLoopbackAddress() async throws {
        let cli = try CLI()
        let r = try await cli.run(["serve", "--insecure-no-auth", "--host", "0.0.0.0", "--port", "0"])
        #expect(r.status == 78 && r.stderr.contains("loopback"), "\(r.stderr)")
    }
}
