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

    static func hex(_ digest: SHA256.Digest) -> String {
        var out = [UInt8]()
        out.reserveCapacity(64)
        for b in digest {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
