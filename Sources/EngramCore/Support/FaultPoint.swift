import Foundation
import Synchronization

/// Named points in long operations where a test can kill the process, to prove that a rerun finishes the
/// job. `ENGRAM_FAULT_POINT=NAME:N` sends SIGKILL to the process the N-th time it reaches the point NAME
/// (N defaults to 1). Without the variable, reaching a point does nothing.
public enum FaultPoint {
    private static let armed: (name: String, count: Int)? = {
        guard let value = ProcessInfo.processInfo.environment["ENGRAM_FAULT_POINT"], !value.isEmpty else { return nil }
        let parts = value.split(separator: ":", maxSplits: 1)
        return (String(parts[0]), parts.count > 1 ? Int(parts[1]) ?? 1 : 1)
    }()
    private static let hits = Mutex<[String: Int]>([:])

    /// Marks that the operation reached `name`.
    public static func reached(_ name: String) {
        guard let armed, armed.name == name else { return }
        let n = hits.withLock { counts -> Int in
            counts[name, default: 0] += 1
            return counts[name]!
        }
        if n == armed.count { kill(getpid(), SIGKILL) }
    }
}
