/// Vector kernels used by the exact scans. Written with SIMD types so they vectorize in release builds.
public enum VectorMath {
    /// Dot product of two equally long buffers.
    @inlinable
    public static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
        var acc0 = SIMD8<Float>(), acc1 = SIMD8<Float>()
        var i = 0
        let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
        while i + 16 <= count {
            acc0 += ra.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self) * rb.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
            acc1 += ra.loadUnaligned(fromByteOffset: (i + 8) * 4, as: SIMD8<Float>.self) * rb.loadUnaligned(fromByteOffset: (i + 8) * 4, as: SIMD8<Float>.self)
            i += 16
        }
        var s = (acc0 + acc1).sum()
        while i < count {
            s += a[i] * b[i]
            i += 1
        }
        return s
    }

    /// Squared Euclidean distance.
    @inlinable
    public static func squaredL2(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
        var acc = SIMD8<Float>()
        var i = 0
        let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
        while i + 8 <= count {
            let d = ra.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self) - rb.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
            acc += d * d
            i += 8
        }
        var s = acc.sum()
        while i < count {
            let d = a[i] - b[i]
            s += d * d
            i += 1
        }
        return s
    }

    public static func norm(_ v: [Float]) -> Float {
        v.withUnsafeBufferPointer { p in dot(p.baseAddress!, p.baseAddress!, count: v.count).squareRoot() }
    }

    /// The score of `stored` against `query` under `distance` (higher is closer). `storedNorm` and
    /// `queryNorm` are used by cosine.
    @inlinable
    public static func score(_ distance: Distance, query: UnsafePointer<Float>, queryNorm: Float, stored: UnsafePointer<Float>, storedNorm: Float, count: Int) -> Float {
        switch distance {
        case .cosine:
            let d = dot(query, stored, count: count)
            let n = queryNorm * storedNorm
            let s = n > 0 ? d / n : 0
            // Only vectors stored before norms were bounded can overflow; they rank last, never first.
            return s.isNaN ? -.infinity : s
        case .innerProduct:
            return dot(query, stored, count: count)
        case .l2:
            return -squaredL2(query, stored, count: count).squareRoot()
        }
    }
}

/// Keeps the best `k` scored items seen (a bounded min-heap), ordering ties by a caller-given key.
public struct TopK<Key: Comparable, Score: Comparable> {
    public let k: Int
    private var heap: [(score: Score, key: Key, index: Int)] = []

    public init(k: Int) {
        self.k = k
        heap.reserveCapacity(k + 1)
    }

    // "a is worse than b": lower score, or equal score and larger key.
    @inline(__always)
    private static func worse(_ a: (score: Score, key: Key, index: Int), _ b: (score: Score, key: Key, index: Int)) -> Bool {
        a.score != b.score ? a.score < b.score : a.key > b.key
    }

    /// The worst score kept, once `k` items are kept.
    public var threshold: Score? { heap.count == k ? heap[0].score : nil }

    public mutating func insert(score: Score, key: Key, index: Int) {
        let item = (score: score, key: key, index: index)
        if heap.count < k {
            heap.append(item)
            var c = heap.count - 1
            while c > 0 {
                let p = (c - 1) / 2
                if TopK.worse(heap[c], heap[p]) { heap.swapAt(c, p); c = p } else { break }
            }
        } else if k > 0, TopK.worse(heap[0], item) {
            heap[0] = item
            var p = 0
            while true {
                let l = 2 * p + 1, r = l + 1
                var m = p
                if l < heap.count, TopK.worse(heap[l], heap[m]) { m = l }
                if r < heap.count, TopK.worse(heap[r], heap[m]) { m = r }
                if m == p { break }
                heap.swapAt(p, m)
                p = m
            }
        }
    }

    /// The kept items, best first.
    public func sorted() -> [(score: Score, key: Key, index: Int)] {
        heap.sorted { TopK.worse($1, $0) }
    }
}
