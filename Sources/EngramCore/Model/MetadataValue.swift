import Foundation

/// A metadata value attached to a document or chunk.
///
/// In JSON a date is written `{"$date": "2024-05-01T00:00:00.000Z"}`; every other case is its plain JSON
/// form. Integers and doubles compare numerically with each other.
public enum MetadataValue: Sendable, Hashable {
    case string(String)
    case int(Int64)
    case double(Double)
    case bool(Bool)
    case null
    case date(Date)
    case array([MetadataValue])

    /// The name of this value's type as used in error messages and documentation.
    public var typeName: String {
        switch self {
        case .string: "string"
        case .int, .double: "number"
        case .bool: "bool"
        case .null: "null"
        case .date: "date"
        case .array: "array"
        }
    }

    var numeric: Double? {
        switch self {
        case .int(let v): Double(v)
        case .double(let v): v
        default: nil
        }
    }

    /// Equality as stored: dates are equal when they fall on the same millisecond.
    public static func == (lhs: MetadataValue, rhs: MetadataValue) -> Bool {
        switch (lhs, rhs) {
        case (.string(let a), .string(let b)): a == b
        case (.int(let a), .int(let b)): a == b
        case (.double(let a), .double(let b)): a == b
        case (.bool(let a), .bool(let b)): a == b
        case (.null, .null): true
        case (.date(let a), .date(let b)): milliseconds(a) == milliseconds(b)
        case (.array(let a), .array(let b)): a == b
        default: false
        }
    }

    public func hash(into hasher: inout Hasher) {
        switch self {
        case .string(let s): hasher.combine(0); hasher.combine(s)
        case .int(let i): hasher.combine(1); hasher.combine(i)
        case .double(let d): hasher.combine(2); hasher.combine(d)
        case .bool(let b): hasher.combine(3); hasher.combine(b)
        case .null: hasher.combine(4)
        case .date(let d): hasher.combine(5); hasher.combine(MetadataValue.milliseconds(d))
        case .array(let a): hasher.combine(6); hasher.combine(a)
        }
    }

    /// Whether this value is a scalar (anything but an array).
    public var isScalar: Bool {
        if case .array = self { return false }
        return true
    }
}

/// Metadata: string keys to values.
public typealias Metadata = [String: MetadataValue]

extension MetadataValue {
    /// The canonical text form of a date in Engram: UTC, millisecond precision, `Z` suffix. Its
    /// lexicographic order is chronological order, which the SQL backends rely on.
    public static func canonicalDateString(_ date: Date) -> String {
        // Format whole seconds, then append the milliseconds from integer arithmetic: formatting a
        // fractional Date directly truncates 0.122 stored as 0.12199… to ".121".
        let ms = milliseconds(date)
        let seconds = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000)
        let fraction = ms - seconds * 1000
        let whole = Date(timeIntervalSince1970: TimeInterval(seconds)).formatted(
            Date.ISO8601FormatStyle(timeZone: TimeZone(identifier: "UTC")!))
        let digits = String(fraction)
        return String(whole.dropLast()) + "." + String(repeating: "0", count: 3 - digits.count) + digits + "Z"
    }

    /// The instants Engram stores: years 0001 to 9999, in milliseconds since 1970.
    public static let millisecondRange: ClosedRange<Int64> = -62_135_596_800_000...253_402_300_799_999

    /// A date's instant in whole milliseconds, the precision Engram stores, clamped to
    /// ``millisecondRange`` (a date beyond it cannot trap a conversion).
    public static func milliseconds(_ date: Date) -> Int64 {
        let ms = (date.timeIntervalSince1970 * 1000).rounded()
        guard !ms.isNaN else { return 0 }
        return Int64(min(max(ms, Double(millisecondRange.lowerBound)), Double(millisecondRange.upperBound)))
    }

    /// Parses `2024-05-01`, `2024-05-01T10:00:00Z` or `2024-05-01T10:00:00.123Z` (or with an offset).
    public static func parseDate(_ text: String) -> Date? {
        guard let d = parseISODate(text) else { return nil }
        let ms = (d.timeIntervalSince1970 * 1000).rounded()
        guard ms >= Double(millisecondRange.lowerBound), ms <= Double(millisecondRange.upperBound) else { return nil }
        return d
    }

    static func parseISODate(_ text: String) -> Date? {
        guard text.utf8.count <= 64 else { return nil }
        let utc = TimeZone(identifier: "UTC")!
        if let d = try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: utc)) {
            return d
        }
        if let d = try? Date(text, strategy: Date.ISO8601FormatStyle(timeZone: utc)) {
            return d
        }
        if let d = try? Date(text, strategy: Date.ISO8601FormatStyle(timeZone: utc).year().month().day()) {
            return d
        }
        return nil
    }
}

extension MetadataValue: Codable {
    private struct DateBox: Codable {
        var date: String
        enum CodingKeys: String, CodingKey { case date = "$date" }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let i = try? c.decode(Int64.self) {
            self = .int(i)
        } else if let d = try? c.decode(Double.self) {
            self = .double(d)
        } else if let s = try? c.decode(String.self) {
            self = .string(s)
        } else if let a = try? c.decode([MetadataValue].self) {
            self = .array(a)
        } else if let box = try? c.decode(DateBox.self) {
            guard let date = MetadataValue.parseDate(box.date) else {
                throw DecodingError.dataCorruptedError(in: c, debugDescription: "invalid date '\(box.date)'")
            }
            self = .date(date)
        } else {
            throw DecodingError.dataCorruptedError(
                in: c, debugDescription: "metadata values are strings, numbers, booleans, null, dates or arrays of those")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .string(let s): try c.encode(s)
        case .int(let i): try c.encode(i)
        case .double(let d): try c.encode(d)
        case .bool(let b): try c.encode(b)
        case .null: try c.encodeNil()
        case .date(let d): try c.encode(DateBox(date: MetadataValue.canonicalDateString(d)))
        case .array(let a): try c.encode(a)
        }
    }
}

extension MetadataValue: CustomStringConvertible {
    /// `text` between `quote` characters, with backslash escapes for the quote, backslash, newline and
    /// tab: the readable filter form's string and key syntax, which parses back to `text`.
    static func quoted(_ text: String, by quote: Character) -> String {
        // Scalar by scalar, as the tokenizer reads: a backslash followed by a combining mark is still one.
        var out = String.UnicodeScalarView()
        let q = quote.unicodeScalars.first!
        out.append(q)
        for c in text.unicodeScalars {
            switch c {
            case "\\": out.append(contentsOf: "\\\\".unicodeScalars)
            case q: out.append("\\"); out.append(q)
            case "\n": out.append(contentsOf: "\\n".unicodeScalars)
            case "\t": out.append(contentsOf: "\\t".unicodeScalars)
            default: out.append(c)
            }
        }
        out.append(q)
        return String(out)
    }

    public var description: String {
        switch self {
        case .string(let s): MetadataValue.quoted(s, by: "\"")
        case .int(let i): String(i)
        case .double(let d): String(d)
        case .bool(let b): String(b)
        case .null: "null"
        case .date(let d): "date(\"\(MetadataValue.canonicalDateString(d))\")"
        case .array(let a): "[" + a.map(\.description).joined(separator: ", ") + "]"
        }
    }
}
