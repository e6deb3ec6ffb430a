// The fuzz driver. Built by scripts/fuzz.sh with -sanitize=fuzzer (and ENGRAM_FUZZ defined), libFuzzer
// calls LLVMFuzzerTestOneInput with the target named by ENGRAM_FUZZ_TARGET. Built normally, it replays
// files: `engram-fuzz TARGET FILE...` (what the regression tests do, without libFuzzer).
import EngramFuzz
import Foundation

#if ENGRAM_FUZZ
let fuzzTarget = ProcessInfo.processInfo.environment["ENGRAM_FUZZ_TARGET"] ?? "filter"

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    FuzzTargets.runBlocking(fuzzTarget, count == 0 ? [] : Array(UnsafeBufferPointer(start: start, count: count)))
    return 0
}
#else
@main
struct Replay {
    static func main() {
        let arguments = CommandLine.arguments.dropFirst()
        guard let target = arguments.first, FuzzTargets.names.contains(target) else {
            FileHandle.standardError.write(Data("usage: engram-fuzz TARGET FILE... (targets: \(FuzzTargets.names.joined(separator: ", ")))\n".utf8))
            exit(64)
        }
        for path in arguments.dropFirst() {
            FuzzTargets.runBlocking(target, [UInt8](FileManager.default.contents(atPath: path) ?? Data()))
            print("ok \(path)")
        }
    }
}
#endif
