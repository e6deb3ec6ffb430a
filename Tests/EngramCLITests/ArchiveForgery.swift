import EngramCore
import Foundation
import ZIPFoundation

/// Builds tampered backup archives the way an attacker would: members edited and the manifest's counts,
/// sizes and hashes recomputed to match, so that the archive passes every checksum.
struct ArchiveForgery {
    var manifest: JSONValue
    /// Member name → its lines (without newlines).
    var parts: [String: [String]]

    init(_ url: URL) throws {
        let archive = try Archive(url: url, accessMode: .read)
        var manifest: JSONValue = .null
        var parts: [String: [String]] = [:]
        for entry in archive {
            var data = Data()
            _ = try archive.extract(entry) { data.append($0) }
            if entry.path == "manifest.json" {
                manifest = try JSONValue.parse(data)
            } else {
                parts[entry.path] = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
            }
        }
        self.manifest = manifest
        self.parts = parts
    }

    /// Each line of `part` as JSON, changed by `edit` (return nil to drop the line).
    mutating func edit(_ part: String, _ edit: (JSONValue) throws -> JSONValue?) rethrows {
        parts[part] = try parts[part, default: []].compactMap { line in try edit(try! JSONValue.parse(line)).map { $0.serialized() } }
    }

    /// Replaces a top-level member of the manifest.
    mutating func setManifest(_ key: String, _ value: JSONValue) {
        guard case .object(var members) = manifest else { return }
        if let i = members.firstIndex(where: { $0.0 == key }) { members[i].1 = value } else { members.append((key, value)) }
        manifest = .object(members)
    }

    /// Writes the archive with the manifest's file entries recomputed; `extra` members are added as they are.
    func write(to url: URL, extra: [(String, Data)] = []) throws {
        var manifest = self.manifest
        var files: [JSONValue] = []
        var bodies: [(String, Data)] = []
        for name in ["collections", "documents", "chunks", "memories", "memory_events"].map({ "\($0).jsonl" }) {
            let lines = parts[name] ?? []
            let body = Data(lines.map { $0 + "\n" }.joined().utf8)
            bodies.append((name, body))
            files.append(.object([("name", .string(name)), ("rows", .int(Int64(lines.count))), ("bytes", .int(Int64(body.count))),
                                  ("sha256", .string(SHA256Hex.hash(bytes: [UInt8](body))))]))
        }
        if case .object(var members) = manifest, let i = members.firstIndex(where: { $0.0 == "files" }) {
            members[i].1 = .array(files)
            manifest = .object(members)
        }
        try? FileManager.default.removeItem(at: url)
        let archive = try Archive(url: url, accessMode: .create)
        func add(_ name: String, _ data: Data) throws {
            try archive.addEntry(with: name, type: .file, uncompressedSize: Int64(data.count), compressionMethod: .deflate) { position, size in
                data.subdata(in: Int(position)..<Int(position) + size)
            }
        }
        try add("manifest.json", Data(manifest.serialized().utf8))
        for (name, body) in bodies { try add(name, body) }
        for (name, body) in extra { try add(name, body) }
    }
}

extension JSONValue {
    /// This object with `key` set to `value`.
    func setting(_ key: String, _ value: JSONValue) -> JSONValue {
        guard case .object(var members) = self else { return self }
        if let i = members.firstIndex(where: { $0.0 == key }) { members[i].1 = value } else { members.append((key, value)) }
        return .object(members)
    }
}
