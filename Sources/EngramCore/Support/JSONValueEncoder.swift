import Foundation

/// Encodes any `Encodable` to a ``JSONValue``, the small canonical encoder behind every JSON output of
/// Engram (command output, and the HTTP API to come). It differs from Foundation's `JSONEncoder` where
/// a reader of the output cares:
///
/// - integers stay integers and doubles stay doubles: `3.0` is written `3.0`, so metadata read back keeps
///   its type;
/// - every key of a type is always written: a nil optional is `null`, never a missing key;
/// - a `Date` is its canonical string (UTC, milliseconds, `Z`), as everywhere else in Engram;
/// - a double that is not finite is `null` (JSON has no NaN), never an error halfway through an output.
///
/// With ``JSONValue/serialized(sortedKeys:)`` the text is canonical: the same value, the same bytes.
public struct JSONValueEncoder: Sendable {
    public init() {}

    public func encode(_ value: some Encodable) throws -> JSONValue {
        let box = JSONBox()
        try box.store(value, codingPath: [])
        return box.value
    }

    /// The value as compact JSON text with sorted keys.
    public func text(_ value: some Encodable) throws -> String {
        try encode(value).serialized(sortedKeys: true)
    }
}

extension JSONValue: Codable {
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
        } else if let a = try? c.decode([JSONValue].self) {
            self = .array(a)
        } else {
            let o = try c.decode([String: JSONValue].self)
            self = .object(o.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
        }
    }

    /// For other encoders (``JSONValueEncoder`` takes a `JSONValue` as it is).
    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .string(let s): var c = encoder.singleValueContainer(); try c.encode(s)
        case .int(let i): var c = encoder.singleValueContainer(); try c.encode(i)
        case .double(let d): var c = encoder.singleValueContainer(); try d.isFinite ? c.encode(d) : c.encodeNil()
        case .bool(let b): var c = encoder.singleValueContainer(); try c.encode(b)
        case .null: var c = encoder.singleValueContainer(); try c.encodeNil()
        case .array(let a): var c = encoder.unkeyedContainer(); for v in a { try c.encode(v) }
        case .object(let members):
            var c = encoder.container(keyedBy: JSONKey.self)
            for (k, v) in members { try c.encode(v, forKey: JSONKey(k)) }
        }
    }
}

struct JSONKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ s: String) { stringValue = s }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// One value being encoded: a scalar, or an object or array whose members are boxes filled later (a
/// nested container is handed out before its members are written).
final class JSONBox {
    private var scalar: JSONValue = .object([])
    private var members: [(String, JSONBox)]?
    private var items: [JSONBox]?

    var value: JSONValue {
        if let members { return .object(members.map { ($0.0, $0.1.value) }) }
        if let items { return .array(items.map(\.value)) }
        return scalar
    }

    func set(_ v: JSONValue) {
        scalar = v
        members = nil
        items = nil
    }

    func member(_ key: String) -> JSONBox {
        makeObject()
        let child = JSONBox()
        if let i = members!.firstIndex(where: { $0.0 == key }) { members![i].1 = child } else { members!.append((key, child)) }
        return child
    }

    func item() -> JSONBox {
        makeArray()
        let child = JSONBox()
        items!.append(child)
        return child
    }

    func makeObject() { if members == nil { set(.null); members = [] } }
    func makeArray() { if items == nil { set(.null); items = [] } }

    func store(_ value: some Encodable, codingPath: [any CodingKey]) throws {
        switch value {
        case let j as JSONValue: set(j)
        case let d as Date: set(.string(MetadataValue.canonicalDateString(d)))
        case let d as Double: set(d.isFinite ? .double(d) : .null)
        case let f as Float: set(f.isFinite ? .double(Double("\(f)") ?? Double(f)) : .null)
        case let s as String: set(.string(s))
        case let b as Bool: set(.bool(b))
        case let i as any BinaryInteger: set(JSONBox.integer(i))
        default: try value.encode(to: JSONBoxEncoder(box: self, codingPath: codingPath))
        }
    }

    static func integer(_ i: some BinaryInteger) -> JSONValue {
        if let exact = Int64(exactly: i) { return .int(exact) }
        return .double(Double(i))
    }
}

struct JSONBoxEncoder: Encoder {
    let box: JSONBox
    var codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        box.makeObject()
        return KeyedEncodingContainer(JSONKeyedContainer<Key>(box: box, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        box.makeArray()
        return JSONUnkeyedContainer(box: box, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        JSONSingleContainer(box: box, codingPath: codingPath)
    }
}

struct JSONKeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let box: JSONBox
    var codingPath: [any CodingKey]

    mutating func encodeNil(forKey key: Key) throws { box.member(key.stringValue).set(.null) }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try box.member(key.stringValue).store(value, codingPath: codingPath + [key])
    }

    /// Synthesized encoders call these for optionals: here a nil is written as `null` under its key.
    mutating func encodeIfPresent<T: Encodable>(_ value: T?, forKey key: Key) throws { try encodeIfPresent(value, key) }
    mutating func encodeIfPresent(_ value: Bool?, forKey key: Key) throws { try encodeIfPresent(value as Bool?, key) }
    mutating func encodeIfPresent(_ value: String?, forKey key: Key) throws { try encodeIfPresent(value as String?, key) }
    mutating func encodeIfPresent(_ value: Double?, forKey key: Key) throws { try encodeIfPresent(value as Double?, key) }
    mutating func encodeIfPresent(_ value: Float?, forKey key: Key) throws { try encodeIfPresent(value as Float?, key) }
    mutating func encodeIfPresent(_ value: Int?, forKey key: Key) throws { try encodeIfPresent(value as Int?, key) }
    mutating func encodeIfPresent(_ value: Int8?, forKey key: Key) throws { try encodeIfPresent(value as Int8?, key) }
    mutating func encodeIfPresent(_ value: Int16?, forKey key: Key) throws { try encodeIfPresent(value as Int16?, key) }
    mutating func encodeIfPresent(_ value: Int32?, forKey key: Key) throws { try encodeIfPresent(value as Int32?, key) }
    mutating func encodeIfPresent(_ value: Int64?, forKey key: Key) throws { try encodeIfPresent(value as Int64?, key) }
    mutating func encodeIfPresent(_ value: UInt?, forKey key: Key) throws { try encodeIfPresent(value as UInt?, key) }
    mutating func encodeIfPresent(_ value: UInt8?, forKey key: Key) throws { try encodeIfPresent(value as UInt8?, key) }
    mutating func encodeIfPresent(_ value: UInt16?, forKey key: Key) throws { try encodeIfPresent(value as UInt16?, key) }
    mutating func encodeIfPresent(_ value: UInt32?, forKey key: Key) throws { try encodeIfPresent(value as UInt32?, key) }
    mutating func encodeIfPresent(_ value: UInt64?, forKey key: Key) throws { try encodeIfPresent(value as UInt64?, key) }

    private mutating func encodeIfPresent<T: Encodable>(_ value: T?, _ key: Key) throws {
        if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) }
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        let child = box.member(key.stringValue)
        child.makeObject()
        return KeyedEncodingContainer(JSONKeyedContainer<NestedKey>(box: child, codingPath: codingPath + [key]))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let child = box.member(key.stringValue)
        child.makeArray()
        return JSONUnkeyedContainer(box: child, codingPath: codingPath + [key])
    }

    mutating func superEncoder() -> any Encoder { JSONBoxEncoder(box: box.member("super"), codingPath: codingPath) }
    mutating func superEncoder(forKey key: Key) -> any Encoder { JSONBoxEncoder(box: box.member(key.stringValue), codingPath: codingPath + [key]) }
}

struct JSONUnkeyedContainer: UnkeyedEncodingContainer {
    let box: JSONBox
    var codingPath: [any CodingKey]
    var count = 0

    init(box: JSONBox, codingPath: [any CodingKey]) {
        self.box = box
        self.codingPath = codingPath
    }

    mutating func encodeNil() throws { box.item().set(.null); count += 1 }
    mutating func encode<T: Encodable>(_ value: T) throws {
        try box.item().store(value, codingPath: codingPath)
        count += 1
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let child = box.item()
        child.makeObject()
        count += 1
        return KeyedEncodingContainer(JSONKeyedContainer<NestedKey>(box: child, codingPath: codingPath))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let child = box.item()
        child.makeArray()
        count += 1
        return JSONUnkeyedContainer(box: child, codingPath: codingPath)
    }

    mutating func superEncoder() -> any Encoder {
        count += 1
        return JSONBoxEncoder(box: box.item(), codingPath: codingPath)
    }
}

struct JSONSingleContainer: SingleValueEncodingContainer {
    let box: JSONBox
    var codingPath: [any CodingKey]

    mutating func encodeNil() throws { box.set(.null) }
    mutating func encode<T: Encodable>(_ value: T) throws { try box.store(value, codingPath: codingPath) }
}
