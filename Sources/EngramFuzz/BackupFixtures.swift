import EngramCore
import Foundation
import ZIPFoundation

/// Packs the five parts of a backup into an archive whose manifest lists them with their true row
/// counts, sizes and SHA-256, so that fuzzed or forged rows get past the checksums to the row checks.
public enum BackupFixtures {
    public static let partNames = ["collections", "documents", "chunks", "memories", "memory_events"].map { "\($0).jsonl" }

    static let defaultManifest: JSONValue = .object([
        ("format", .string("engram-backup")), ("format_version", .int(1)), ("created_at", .string("2026-01-01T00:00:00.000Z")),
        ("source", .object([("kind", .string("memory")), ("schema_version", .int(1))])),
        ("tenants", .array([.string("t1")])), ("memory_tenants", .array([.string("t1")])), ("vectors", .bool(true)), ("collections", .array([])),
    ])

    /// - Parameters:
    ///   - manifest: a manifest without its `files` (replaced); the default one when it is not a JSON object.
    ///   - parts: the bodies of the five parts, in the order of ``partNames``.
    ///   - extra: members added as they are, after the others (a second entry of a name, a stray file).
    public static func archive(manifest: Data, parts: [Data], to url: URL, extra: [(String, Data)] = []) throws {
        var m = (try? JSONValue.parse(manifest)) ?? defaultManifest
        guard case .object(var members) = m else { return try archive(manifest: Data(defaultManifest.serialized().utf8), parts: parts, to: url, extra: extra) }
        let files: [JSONValue] = zip(partNames, parts).map { name, body in
            .object([("name", .string(name)), ("rows", .int(Int64(body.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }))), ("bytes", .int(Int64(body.count))),
                     ("sha256", .string(SHA256Hex.hash(bytes: [UInt8](body))))])
        }
        members.removeAll { $0.0 == "files" }
        members.append(("files", .array(files)))
        m = .object(members)
        try? FileManager.default.removeItem(at: url)
        let archive = try Archive(url: url, accessMode: .create)
        func add(_ name: String, _ data: Data) throws {
            try archive.addEntry(with: name, type: .file, uncompressedSize: Int64(data.count), compressionMethod: .deflate) { position, size in
                data.subdata(in: Int(position)..<Int(position) + size)
            }
        }
        try add("manifest.json", Data(m.serialized().utf8))
        for (name, body) in zip(partNames, parts) { try add(name, body) }
        for (name, body) in extra { try add(name, body) }
    }
}
