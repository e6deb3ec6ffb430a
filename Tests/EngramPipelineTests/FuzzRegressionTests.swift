import EngramFuzz
import Foundation
import Testing

/// Every input kept from fuzzing (the seeds, and each input that once crashed or broke an invariant)
/// replayed through its target: a regression crashes or traps this test.
@Suite("Fuzz regressions")
struct FuzzRegressionTests {
    static let root = Bundle.module.url(forResource: "Fuzz", withExtension: nil)!

    static var targets: [String] { FuzzTargets.names }

    @Test(arguments: targets)
    func keptInputsStillPass(target: String) async throws {
        let folder = Self.root.appendingPathComponent(target)
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
        #expect(!files.isEmpty, "target \(target) keeps at least its seeds")
        for name in files {
            await FuzzTargets.run(target, [UInt8](try Data(contentsOf: folder.appendingPathComponent(name))))
        }
    }
}
