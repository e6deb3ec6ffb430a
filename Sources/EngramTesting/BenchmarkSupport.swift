import Foundation

// Small helpers the benchmark executables share.

/// A monotonic clock reading in nanoseconds.
public func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

/// Seconds elapsed since a reading of ``now()``.
public func seconds(since start: UInt64) -> Double { Double(now() - start) / 1e9 }

/// Prints a line to standard output at once (not buffered until exit).
public func say(_ line: String = "") { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }

/// A number with a fixed count of decimals.
public func fmt(_ v: Double, _ digits: Int = 1) -> String { String(format: "%.\(digits)f", v) }

/// Prints `message` on standard error, prefixed with the program's name, and exits with status 1.
public func fail(_ message: String) -> Never {
    let program = (CommandLine.arguments.first.map { ($0 as NSString).lastPathComponent }) ?? "benchmark"
    FileHandle.standardError.write(Data("\(program): \(message)\n".utf8))
    exit(1)
}
