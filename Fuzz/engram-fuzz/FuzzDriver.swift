// The fuzz driver. Built by scripts/fuzz.sh with -sanitize=fuzzer (and ENGRAM_FUZZ defined), it hands the
// target named by ENGRAM_FUZZ_TARGET to libFuzzer's driver. Built normally, it replays files:
// `engram-fuzz TARGET FILE...` (what the regression tests do, without libFuzzer).
import EngramFuzz
import Foundation
#if ENGRAM_FUZZ
import CEngramFuzz
#endif

@main
struct FuzzDriver {
    static func main() {
        #if ENGRAM_FUZZ
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv) { data, count in
            let target = ProcessInfo.processInfo.environment["ENGRAM_FUZZ_TARGET"] ?? "filter"
            FuzzTargets.runBlocking(target, count == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: count)))
            return 0
        })
        #else
        let arguments = CommandLine.arguments.dropFirst()
        guard let target = arguments.first, FuzzTargets.names.contains(target) else {
            FileHandle.standardError.write(Data("usage: engram-fuzz TARGET FILE... (targets: \(FuzzTargets.names.joined(separator: ", ")))\n".utf8))
            exit(64)
        }
        for path in arguments.dropFirst() {
            FuzzTargets.runBlocking(target, [UInt8](FileManager.default.contents(atPath: path) ?? Data()))
            print("ok \(path)")
        }
        #endif
    }
}
