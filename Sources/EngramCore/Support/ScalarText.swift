/// A text addressed by Unicode-scalar offsets, the unit of chunk ranges, with fast slicing.
///
/// Offsets are code points (what Python's `str` and PostgreSQL's `substr` count), not grapheme clusters
/// and not bytes. Slicing copies UTF-8 bytes instead of appending scalars one by one. An ASCII text needs
/// no index (scalar offsets are byte offsets); otherwise the byte offset of every 64th scalar is kept and
/// the rest is found by skipping at most 63 scalars, so the index costs a sixteenth of the text instead of
/// four times it (a 50 MB document was 250 MB of offsets).
public struct ScalarText: Sendable {
    public let utf8: [UInt8]
    /// Byte offset of scalars 0, 64, 128, …; nil for an ASCII text.
    private let checkpoints: [Int32]?
    /// Number of Unicode scalars.
    public let count: Int

    static let stride = 64

    public init(_ text: String) {
        utf8 = Array(text.utf8)
        var scalars = 0
        var marks: [Int32] = []
        var ascii = true
        for (i, b) in utf8.enumerated() where b & 0xC0 != 0x80 {
            if scalars % ScalarText.stride == 0 { marks.append(Int32(i)) }
            if b >= 0x80 { ascii = false }
            scalars += 1
        }
        count = scalars
        checkpoints = ascii ? nil : marks
    }

    /// The byte offset of scalar `i` (`0...count`).
    @inline(__always)
    func offset(_ i: Int) -> Int {
        guard let checkpoints else { return i }
        if i == count { return utf8.count }
        var byte = Int(checkpoints[i / ScalarText.stride])
        var left = i % ScalarText.stride
        while left > 0 {
            byte += 1
            while byte < utf8.count, utf8[byte] & 0xC0 == 0x80 { byte += 1 }
            left -= 1
        }
        return byte
    }

    /// The text of scalars `start..<end`; nil when the range is out of bounds or empty-inverted.
    public func slice(_ start: Int, _ end: Int) -> String? {
        guard start >= 0, start <= end, end <= count else { return nil }
        return String(decoding: utf8[offset(start)..<offset(end)], as: UTF8.self)
    }

    /// The UTF-8 bytes of scalars `start..<end` (bounds must be valid).
    public func bytes(_ start: Int, _ end: Int) -> ArraySlice<UInt8> {
        utf8[offset(start)..<offset(end)]
    }
}
