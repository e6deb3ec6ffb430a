import Crypto
import EngramCore
import Foundation

/// A `.safetensors` file mapped into memory: an 8-byte little-endian header length, a JSON header naming
/// each tensor's dtype, shape and byte range, then the tensor bytes.
///
/// The file is memory-mapped read-only and never copied; float32 tensors are read in place. Every
/// problem (truncated file, malformed header, wrong dtype or shape, missing tensor) is an
/// `invalid_configuration` error naming the file.
public final class SafeTensorsFile: @unchecked Sendable {
    public struct TensorInfo: Sendable, Equatable {
        public var dtype: String
        public var shape: [Int]
        /// Byte range within the data section.
        public var range: Range<Int>
    }

    public let url: URL
    public let tensors: [String: TensorInfo]
    private let base: UnsafeRawPointer
    private let mappedLength: Int
    private let dataOffset: Int

    public init(url: URL) throws {
        self.url = url
        let path = url.path
        // Without blocking: a FIFO put where the weights should be is refused below, not waited on.
        let fd = open(path, O_RDONLY | O_NONBLOCK)
        guard fd >= 0 else {
            throw EngramError(.invalidConfiguration, "cannot open model weights \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw EngramError(.invalidConfiguration, "cannot read model weights \(path): \(String(cString: strerror(errno)))")
        }
        guard st.st_mode & S_IFMT == S_IFREG else {
            throw EngramError(.invalidConfiguration, "model weights \(path) are not a regular file")
        }
        let length = Int(st.st_size)
        guard length >= 8 else {
            throw EngramError(.invalidConfiguration, "model weights \(path) are truncated: \(length) bytes, not even a header length")
        }
        guard let map = mmap(nil, length, PROT_READ, MAP_PRIVATE, fd, 0), map != MAP_FAILED else {
            throw EngramError(.invalidConfiguration, "cannot map model weights \(path): \(String(cString: strerror(errno)))")
        }
        let raw = UnsafeRawPointer(map)
        do {
            let declared = UInt64(littleEndian: raw.loadUnaligned(as: UInt64.self))
            let headerLength = Int(exactly: declared) ?? Int.max
            guard headerLength > 1, headerLength <= length - 8, headerLength < 100_000_000 else {
                throw EngramError(.invalidConfiguration, "model weights \(path) are truncated or not safetensors: header length \(declared) for a \(length)-byte file")
            }
            let header = Data(bytes: raw + 8, count: headerLength)
            tensors = try SafeTensorsFile.parseHeader(header, dataLength: length - 8 - headerLength, path: path)
            dataOffset = 8 + headerLength
        } catch {
            munmap(map, length)
            throw error
        }
        base = raw
        mappedLength = length
    }

    deinit {
        munmap(UnsafeMutableRawPointer(mutating: base), mappedLength)
    }

    static func parseHeader(_ header: Data, dataLength: Int, path: String) throws -> [String: TensorInfo] {
        guard let object = try? JSONSerialization.jsonObject(with: header), let entries = object as? [String: Any] else {
            throw EngramError(.invalidConfiguration, "model weights \(path) have a malformed safetensors header (not a JSON object)")
        }
        var tensors: [String: TensorInfo] = [:]
        for (name, value) in entries where name != "__metadata__" {
            guard let entry = value as? [String: Any],
                  let dtype = entry["dtype"] as? String,
                  let shape = (entry["shape"] as? [Any])?.compactMap({ ($0 as? NSNumber)?.intValue }),
                  let offsets = (entry["data_offsets"] as? [Any])?.compactMap({ ($0 as? NSNumber)?.intValue }),
                  offsets.count == 2, shape.allSatisfy({ $0 >= 0 })
            else {
                throw EngramError(.invalidConfiguration, "model weights \(path): tensor '\(name)' has a malformed header entry")
            }
            guard offsets[0] >= 0, offsets[0] <= offsets[1] else {
                throw EngramError(.invalidConfiguration, "model weights \(path): tensor '\(name)' has invalid byte offsets \(offsets)")
            }
            guard offsets[1] <= dataLength else {
                throw EngramError(.invalidConfiguration, "model weights \(path) are truncated: tensor '\(name)' ends at byte \(offsets[1]) of a \(dataLength)-byte data section")
            }
            tensors[name] = TensorInfo(dtype: dtype, shape: shape, range: offsets[0]..<offsets[1])
        }
        return tensors
    }

    /// SHA-256 of the whole file, hashed from the mapping (no second read of the file).
    public func sha256Hex() -> String {
        SHA256.hash(data: UnsafeRawBufferPointer(start: base, count: mappedLength)).map { String(format: "%02x", $0) }.joined()
    }

    /// The float32 tensor `name`, checked against `shape`, read in place.
    public func float32(_ name: String, shape: [Int]) throws -> UnsafeBufferPointer<Float> {
        guard let info = tensors[name] else {
            throw EngramError(.invalidConfiguration, "model weights \(url.path) have no tensor '\(name)'")
        }
        guard info.dtype == "F32" else {
            throw EngramError(.invalidConfiguration, "model weights \(url.path): tensor '\(name)' has dtype \(info.dtype), expected F32")
        }
        guard info.shape == shape else {
            throw EngramError(.invalidConfiguration, "model weights \(url.path): tensor '\(name)' has shape \(info.shape), expected \(shape)")
        }
        let count = shape.reduce(1, *)
        guard info.range.count == count * MemoryLayout<Float>.size else {
            throw EngramError(.invalidConfiguration, "model weights \(url.path): tensor '\(name)' holds \(info.range.count) bytes for shape \(shape)")
        }
        let start = base + dataOffset + info.range.lowerBound
        guard Int(bitPattern: start) % MemoryLayout<Float>.alignment == 0 else {
            throw EngramError(.invalidConfiguration, "model weights \(url.path): tensor '\(name)' is not 4-byte aligned")
        }
        return UnsafeBufferPointer(start: start.assumingMemoryBound(to: Float.self), count: count)
    }
}
