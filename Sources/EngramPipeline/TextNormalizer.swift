import EngramCore
import Foundation

/// Turns raw bytes into the normalized text that chunk offsets index into.
///
/// Rules: the bytes must be valid UTF-8 and hold no NUL byte (NUL means a binary file); a byte-order mark
/// is dropped; `\r\n` and `\r` become `\n`; the text is put in Unicode NFC form.
public enum TextNormalizer {
    /// - Parameter source: names the input in error messages.
    /// - Throws: `load_failed` for empty, binary or invalid UTF-8 input.
    public static func normalize(_ bytes: some Collection<UInt8>, source: String) throws -> String {
        guard !bytes.isEmpty else {
            throw EngramError(.loadFailed, "\(source): file is empty")
        }
        if let nul = bytes.firstIndex(of: 0) {
            throw EngramError(.loadFailed, "\(source): binary file (NUL byte at offset \(bytes.distance(from: bytes.startIndex, to: nul)))")
        }
        guard let decoded = String(validating: bytes, as: UTF8.self) else {
            throw EngramError(.loadFailed, "\(source): not valid UTF-8 (at byte \(firstInvalidUTF8Offset(bytes)))")
        }
        return normalize(text: decoded)
    }

    /// Normalizes already-decoded text (newlines, BOM, NFC).
    public static func normalize(text: String) -> String {
        var s = text
        if s.unicodeScalars.first == "\u{FEFF}" { s.unicodeScalars.removeFirst() }
        if s.utf8.contains(0x0D) {
            s = s.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
        }
        if !s.utf8.allSatisfy({ $0 < 0x80 }) {
            s = s.precomposedStringWithCanonicalMapping
        }
        return s
    }

    static func firstInvalidUTF8Offset(_ bytes: some Collection<UInt8>) -> Int {
        var decoder = UTF8()
        var it = bytes.makeIterator()
        var offset = 0
        while true {
            switch decoder.decode(&it) {
            case .scalarValue(let s): offset += UTF8.width(s)
            case .emptyInput: return offset
            case .error: return offset
            }
        }
    }
}
