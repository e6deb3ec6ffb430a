import NIOCore
import PostgresNIO

/// The type ids pgvector's `vector` and `vector[]` got in this database. An extension type has no fixed
/// OID, so the store looks them up once per process (``PostgresVectorStore``).
struct PGVectorTypes: Sendable, Hashable {
    var vector: PostgresDataType
    var array: PostgresDataType
}

/// A pgvector `vector` in pgvector's binary wire format: `int16` dimension, `int16` unused (0), then each
/// component as a big-endian `float4`. Sent as a bound parameter, the server neither parses float text nor
/// casts from `real[]`.
struct PGVector: PostgresDynamicTypeEncodable, Sendable {
    var values: [Float]
    var types: PGVectorTypes

    var psqlType: PostgresDataType { types.vector }
    var psqlFormat: PostgresFormat { .binary }

    func encode<JSONEncoder: PostgresJSONEncoder>(into buffer: inout ByteBuffer, context: PostgresEncodingContext<JSONEncoder>) {
        PGVector.writePayload(values, into: &buffer)
    }

    static func writePayload(_ values: some Collection<Float>, into buffer: inout ByteBuffer) {
        buffer.reserveCapacity(minimumWritableBytes: 4 + 4 * values.count)
        buffer.writeInteger(Int16(values.count))
        buffer.writeInteger(Int16(0))
        for v in values { buffer.writeInteger(v.bitPattern) }
    }
}

/// A one-dimensional `vector[]` in PostgreSQL's binary array format, NULL elements allowed: a whole batch
/// of embeddings in one parameter for `UNNEST`.
struct PGVectorArray: PostgresDynamicTypeEncodable, Sendable {
    /// Components of all non-NULL elements, back to back.
    var flat: [Float]
    /// Per element: its dimension, or nil for NULL.
    var dimensions: [Int?]
    var types: PGVectorTypes

    init(_ vectors: [[Float]?], types: PGVectorTypes) {
        flat = []
        flat.reserveCapacity(vectors.reduce(0) { $0 + ($1?.count ?? 0) })
        dimensions = []
        dimensions.reserveCapacity(vectors.count)
        for v in vectors {
            dimensions.append(v?.count)
            if let v { flat.append(contentsOf: v) }
        }
        self.types = types
    }

    var psqlType: PostgresDataType { types.array }
    var psqlFormat: PostgresFormat { .binary }

    func encode<JSONEncoder: PostgresJSONEncoder>(into buffer: inout ByteBuffer, context: PostgresEncodingContext<JSONEncoder>) {
        buffer.reserveCapacity(minimumWritableBytes: 20 + 8 * dimensions.count + 4 * flat.count)
        buffer.writeInteger(Int32(1))  // dimensions of the array
        buffer.writeInteger(Int32(dimensions.contains(nil) ? 1 : 0))  // has NULLs
        buffer.writeInteger(types.vector.rawValue)  // element type
        buffer.writeInteger(Int32(dimensions.count))  // length
        buffer.writeInteger(Int32(1))  // lower bound
        var offset = 0
        for d in dimensions {
            guard let d else {
                buffer.writeInteger(Int32(-1))
                continue
            }
            buffer.writeInteger(Int32(4 + 4 * d))
            PGVector.writePayload(flat[offset..<offset + d], into: &buffer)
            offset += d
        }
    }
}
