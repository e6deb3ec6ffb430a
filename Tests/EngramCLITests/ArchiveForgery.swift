import EngramCore
import EngramFuzz
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
        let bodies = BackupFixtures.partNames.map { Data((parts[$0] ?? []).map { $0 + "\n" }.joined().utf8) }
        try BackupFixtures.archive(manifest: Data(manifest.serialized().utf8), parts: bodies, to: url, extra: extra)
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
