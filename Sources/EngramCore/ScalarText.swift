/// A text addressed by Unicode-scalar offsets, the unit of chunk ranges, with O(1) slicing.
///
/// Offsets are code points (what Python's `str` and PostgreSQL's `substr` count), not grapheme clusters
/// and not bytes. Slicing copies UTF-8 bytes instead of appending scalars one by one.
public struct ScalarText: Sendable {
    public let utf8: [UInt8]
    /// UTF-8 offset of each scalar offset, plus the end.
    private let offsets: [Int32]

    public init(_ text: String) {
        utf8 = Array(text.utf8)
        var offsets: [Int32] = []
        offsets.reserveCapacity(utf8.count + 1)
        for (i, b) in utf8.enumerated() where b & 0xC0 != 0x80 {
            offsets.append(Int32(i))
        }
        offsets.append(Int32(utf8.count))
        self.offsets = offsets
    }

    /// Number of Unicode scalars.
    public var count: Int { offsets.count - 1 }

    /// The text of scalars `start..<end`; nil when the range is out of bounds or empty-inverted.
    public func slice(_ start: Int, _ end: Int) -> String? {
        guard start >= 0, start <= end, end <= count else { return nil }
        return String(decoding: utf8[Int(offsets[start])..<Int(offsets[end])], as: UTF8.self)
    }

    /// The UTF-8 bytes of scalars `start..<end` (bounds must be valid).
    public func bytes(_ start: Int, _ end: Int) -> ArraySlice<UInt8> {
        utf8[Int(offsets[start])..<Int(offsets[end])]
    }
}
