import Crypto
import Foundation

/// SHA-256 as lowercase hex, the form Engram stores and prints.
public enum SHA256Hex {
    public static func hash(_ text: String) -> String {
        hash(bytes: Data(text.utf8))
    }

    public static func hash(bytes: some DataProtocol) -> String {
        let digest = SHA256.hash(data: bytes)
        var out = ""
        out.reserveCapacity(64)
        for b in digest {
            let hex = "0123456789abcdef".utf8
            out.unicodeScalars.append(Unicode.Scalar(hex[hex.index(hex.startIndex, offsetBy: Int(b >> 4))]))
            out.unicodeScalars.append(Unicode.Scalar(hex[hex.index(hex.startIndex, offsetBy: Int(b & 0xF))]))
        }
        return out
    }
}
