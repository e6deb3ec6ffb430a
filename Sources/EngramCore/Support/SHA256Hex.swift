import Crypto
import Foundation

/// SHA-256 as lowercase hex, the form Engram stores and prints.
public enum SHA256Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    /// SHA-256 of a slice of UTF-8 bytes.
    public static func hash(utf8 bytes: ArraySlice<UInt8>) -> String {
        bytes.withUnsafeBytes { hash(bytes: $0) }
    }

    public static func hash(_ text: String) -> String {
        hash(bytes: Data(text.utf8))
    }

    public static func hash(bytes: some DataProtocol) -> String {
        hex(SHA256.hash(data: bytes))
    }

    /// SHA-256 of bytes fed in parts.
    public struct Stream {
        private var inner = SHA256()
        public init() {}
        public mutating func update(_ bytes: some DataProtocol) { inner.update(data: bytes) }
        public func finalize() -> String { SHA256Hex.hex(inner.finalize()) }
    }

    /// Bytes as lowercase hex.
    public static func hex(_ bytes: some Sequence<UInt8>) -> String {
        var out = [UInt8]()
        out.reserveCapacity(64)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Lowercase or uppercase hex as bytes; nil for anything else.
    public static func bytes(hex text: String) -> [UInt8]? {
        let chars = Array(text.utf8)
        guard chars.count % 2 == 0 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: c - 0x30
            case 0x61...0x66: c - 0x61 + 10
            case 0x41...0x46: c - 0x41 + 10
            default: nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(chars.count / 2)
        for i in stride(from: 0, to: chars.count, by: 2) {
            guard let hi = nibble(chars[i]), let lo = nibble(chars[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
        }
        return out
    }
}
