import CEngramKernels
import EngramCore
import EngramEmbeddings
import EngramPipeline
import Foundation
import Testing

/// The installed model (scripts/install-model.sh). With `ENGRAM_REQUIRE_SERVICES=1` (CI) a missing model
/// fails the run; otherwise the model tests are skipped.
enum ModelEnvironment {
    static let required = ProcessInfo.processInfo.environment["ENGRAM_REQUIRE_SERVICES"] == "1"
    static let directory = MiniLMEmbedder.locateModel()
    static var available: Bool { directory != nil }
    /// One loaded model for the whole test process.
    static let embedder: MiniLMEmbedder? = directory.flatMap { try? MiniLMEmbedder(directory: $0) }

    struct Reference: Decodable {
        struct Item: Decodable {
            var text: String
            var ids: [Int32]
            var embedding: [Double]
        }
        var max_tokens: Int
        var items: [Item]
    }

    /// Token ids and float64 embeddings from scripts/reference/minilm_reference.py.
    static let reference: Reference = {
        let url = Bundle.module.url(forResource: "minilm-reference", withExtension: "json", subdirectory: "Fixtures")!
        return try! JSONDecoder().decode(Reference.self, from: Data(contentsOf: url))
    }()
}

func cosine(_ a: [Float], _ b: [Double]) -> Double {
    var dot = 0.0, na = 0.0, nb = 0.0
    for i in a.indices {
        dot += Double(a[i]) * b[i]
        na += Double(a[i]) * Double(a[i])
        nb += b[i] * b[i]
    }
    return dot / (na.squareRoot() * nb.squareRoot())
}

@Suite("MiniLM model files")
struct MiniLMInstallTests {
    @Test func modelIsInstalledWhenServicesAreRequired() {
        if ModelEnvironment.required {
            #expect(ModelEnvironment.available, "ENGRAM_REQUIRE_SERVICES=1 but the MiniLM model is not installed: run scripts/install-model.sh")
            #expect(ModelEnvironment.embedder != nil, "the installed model does not load")
        }
    }

    @Test func aMissingModelNamesTheCommandThatInstallsIt() throws {
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("engram-no-model-\(UUID().uuidString)")
        let env = ["HOME": empty.path, "XDG_DATA_HOME": empty.path]
        #expect(MiniLMEmbedder.locateModel(environment: env) == nil)
        let error = #expect(throws: EngramError.self) { try MiniLMEmbedder(environment: env) }
        #expect(error?.code == .invalidConfiguration)
        #expect(error?.message.contains("scripts/install-model.sh") == true)
        #expect(EmbedderSpec.defaultSpec(environment: env) == "hash")
    }

    @Test func theFixtureCoversTheHardCases() {
        let items = ModelEnvironment.reference.items
        #expect(items.count >= 50)
        #expect(items.contains { $0.text.isEmpty })
        #expect(items.contains { $0.ids.count == ModelEnvironment.reference.max_tokens })
        #expect(items.contains { $0.text.unicodeScalars.contains { WordPieceTestHelpers.isCJK($0.value) } })
        #expect(items.contains { $0.text.unicodeScalars.contains { $0.properties.isEmoji && $0.value > 0x2000 } })
    }
}

enum WordPieceTestHelpers {
    static func isCJK(_ v: UInt32) -> Bool { (0x4E00...0x9FFF).contains(v) }
}

@Suite("MiniLM tokenizer and encoder", .enabled(if: ModelEnvironment.available))
struct MiniLMReferenceTests {
    let embedder = ModelEnvironment.embedder!

    @Test func tokenIDsAreIdenticalToTheReferenceTokenizer() {
        for item in ModelEnvironment.reference.items {
            #expect(embedder.tokenizer.encode(item.text) == item.ids, "\(item.text.prefix(60).debugDescription)")
        }
    }

    @Test func embeddingsMatchTheFloat64ReferenceInOneMixedBatch() {
        let items = ModelEnvironment.reference.items
        let vectors = embedder.embedSynchronously(items.map(\.text))
        var worst = 1.0
        for (item, vector) in zip(items, vectors) {
            #expect(vector.count == 384)
            let c = cosine(vector, item.embedding)
            worst = min(worst, c)
            #expect(c >= 0.9999, "cosine \(c) for \(item.text.prefix(60).debugDescription)")
        }
        print("MiniLM vs float64 reference: worst cosine \(worst) over \(items.count) texts")
    }

    @Test func baselineKernelsGiveTheSameVectorsAsTheAVX2Ones() {
        let texts = ModelEnvironment.reference.items.map(\.text)
        let automatic = embedder.embedSynchronously(texts)
        engram_kernels_force_baseline(1)
        defer { engram_kernels_force_baseline(0) }
        #expect(engram_kernels_use_avx2() == 0)
        let baseline = embedder.embedSynchronously(texts)
        for (item, (a, b)) in zip(ModelEnvironment.reference.items, zip(automatic, baseline)) {
            #expect(cosine(b, item.embedding) >= 0.9999)
            #expect(zip(a, b).allSatisfy { abs($0 - $1) < 1e-5 })
        }
    }

    @Test func aTextGetsTheSameVectorAloneAsInABatch() {
        let texts = ModelEnvironment.reference.items.map(\.text).filter { !$0.isEmpty }.prefix(12)
        let batch = embedder.embedSynchronously(Array(texts))
        for (text, vector) in zip(texts, batch) {
            let alone = embedder.embedSynchronously([text])[0]
            let maxDiff = zip(alone, vector).map { abs($0 - $1) }.max()!
            #expect(maxDiff < 1e-5, "\(text.prefix(40).debugDescription): \(maxDiff)")
        }
    }

    @Test func passesAreSplitByTokenBudgetWithoutChangingResults() {
        var small = embedder
        small.tokensPerPass = 20
        let texts = ModelEnvironment.reference.items.map(\.text).prefix(20)
        let a = embedder.embedSynchronously(Array(texts)), b = small.embedSynchronously(Array(texts))
        for (x, y) in zip(a, b) { #expect(zip(x, y).allSatisfy { abs($0 - $1) < 1e-5 }) }
    }

    @Test func megabyteTextIsTruncatedNotCrashed() {
        let huge = String(repeating: "retrieval augmented generation with durable memory ", count: 40_000)
        #expect(huge.utf8.count > 2_000_000)
        let ids = embedder.tokenizer.encode(huge)
        #expect(ids.count == 256 && ids.first == embedder.tokenizer.clsID && ids.last == embedder.tokenizer.sepID)
        let prefix = String(huge.prefix(3_000))
        #expect(ids == embedder.tokenizer.encode(prefix))
        let v = embedder.embedSynchronously([huge])[0]
        #expect(v.count == 384 && v.allSatisfy(\.isFinite))
    }

    @Test func similarMeaningsScoreHigherThanUnrelatedOnes() async throws {
        let v = try await embedder.embed([
            "How do I reset my password?",
            "I forgot my login credentials and need to change them.",
            "The recipe calls for two cups of flour.",
        ])
        let related = zip(v[0], v[1]).map(*).reduce(0, +), unrelated = zip(v[0], v[2]).map(*).reduce(0, +)
        #expect(related > unrelated + 0.3, "related \(related), unrelated \(unrelated)")
    }

    @Test func identityNamesModelAndWeights() {
        let id = embedder.identity
        #expect(id.model == MiniLMEmbedder.modelName && id.dimension == 384 && id.distance == .cosine && id.normalized)
        #expect(id.revision.count == 16 && id.revision.allSatisfy(\.isHexDigit))
    }

    @Test func specRebuildsTheSameEmbedderFromTheCollectionIdentity() async throws {
        let parsed = try await EmbedderSpec.parse("minilm:\(embedder.modelDirectory.path)")
        #expect(parsed.identity == embedder.identity)
        let short = try MiniLMEmbedder(directory: embedder.modelDirectory, maxTokens: 128)
        #expect(short.identity.revision == embedder.identity.revision + "-max128" && short.identity != embedder.identity)
        let rebuilt = try await EmbedderSpec.embedder(for: short.identity, environment: ["ENGRAM_MODEL_DIR": embedder.modelDirectory.path])
        #expect(rebuilt.identity == short.identity)
        var other = embedder.identity
        other.revision = "0000000000000000"
        let error = await #expect(throws: EngramError.self) { try await EmbedderSpec.embedder(for: other, environment: ["ENGRAM_MODEL_DIR": embedder.modelDirectory.path]) }
        #expect(error?.message.contains("other weights") == true)
    }
}

@Suite("Vector kernels")
struct KernelTests {
    @Test func geluSoftmaxAndLayerNormComputeTheirDefinitions() {
        var v: [Float] = [-3, -1, -0.5, 0, 0.5, 1, 3, 10]
        let expected = v.map { x in 0.5 * Double(x) * (1 + Foundation.erf(Double(x) / 2.0.squareRoot())) }
        engram_gelu(&v, v.count)
        for (a, b) in zip(v, expected) { #expect(abs(Double(a) - b) < 1e-6) }

        var m: [Float] = [1, 2, 3, 99, 0, 0, 0, 99]
        engram_softmax_rows(&m, 2, 3, 4)
        let z = Foundation.exp(1.0) + Foundation.exp(2.0) + Foundation.exp(3.0)
        #expect(abs(Double(m[2]) - Foundation.exp(3.0) / z) < 1e-6 && m[3] == 99 && m[7] == 99)
        #expect(abs(m[4] - 1.0 / 3) < 1e-6)

        var row: [Float] = [1, 2, 3, 4]
        let w: [Float] = [1, 1, 2, 1], b: [Float] = [0, 0, 0, 1]
        engram_layer_norm(&row, 1, 4, w, b, 1e-12)
        let sd = (1.25).squareRoot()
        let want = [-1.5 / sd, -0.5 / sd, 2 * 0.5 / sd, 1.5 / sd + 1]
        for (a, e) in zip(row, want) { #expect(abs(Double(a) - e) < 1e-5) }
    }

    @Test func erfAndExpMatchTheCLibrary() {
        var worstErf = 0.0, worstExp = 0.0
        var x = -9.0
        while x <= 9.0 {
            let e = Double(engram_erff(Float(x)))
            worstErf = max(worstErf, abs(e - Foundation.erf(x)))
            x += 0.00137
        }
        x = -87.0
        while x <= 88.0 {
            let e = Double(engram_expf(Float(x)))
            let truth = Foundation.exp(Double(Float(x)))
            worstExp = max(worstExp, abs(e - truth) / truth)
            x += 0.0137
        }
        #expect(worstErf < 1e-6, "erf error \(worstErf)")
        #expect(worstExp < 3e-7, "exp relative error \(worstExp)")
        #expect(engram_expf(-200) == 0)
    }
}

@Suite("MiniLM model files that are broken", .enabled(if: ModelEnvironment.available))
struct BrokenModelTests {
    /// A copy of the installed model directory whose weights file is `weights(original)`.
    func brokenCopy(_ weights: (Data) -> Data, drop: String? = nil) throws -> URL {
        let source = ModelEnvironment.directory!
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("engram-broken-model-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        for file in ["config.json", "vocab.txt"] where file != drop {
            try FileManager.default.copyItem(at: source.appendingPathComponent(file), to: dir.appendingPathComponent(file))
        }
        let original = try Data(contentsOf: source.appendingPathComponent("model.safetensors"), options: .alwaysMapped)
        try weights(original).write(to: dir.appendingPathComponent("model.safetensors"))
        return dir
    }

    /// Replaces `old` by `new` (same length) in the JSON header, so offsets stay valid.
    func patchHeader(_ data: Data, _ old: String, _ new: String) -> Data {
        precondition(old.utf8.count == new.utf8.count)
        let headerLength = Int(data.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        var header = String(decoding: data[8..<(8 + headerLength)], as: UTF8.self)
        let range = header.range(of: old)!
        header.replaceSubrange(range, with: new)
        return data.prefix(8) + Data(header.utf8) + data.suffix(from: 8 + headerLength)
    }

    func loadError(_ dir: URL) -> EngramError? {
        defer { try? FileManager.default.removeItem(at: dir) }
        return #expect(throws: EngramError.self) { try MiniLMEmbedder(directory: dir) }
    }

    @Test func truncatedWeightsNameTheFileAndTheTensor() throws {
        let error = loadError(try brokenCopy { $0.prefix(50_000_000) })
        #expect(error?.code == .invalidConfiguration)
        #expect(error?.message.contains("model.safetensors are truncated") == true, "\(error?.message ?? "")")
        let tiny = loadError(try brokenCopy { $0.prefix(5) })
        #expect(tiny?.message.contains("truncated") == true)
        let header = loadError(try brokenCopy { $0.prefix(4000) })
        #expect(header?.message.contains("truncated") == true)
    }

    @Test func aWrongDtypeIsNamed() throws {
        let error = loadError(try brokenCopy { self.patchHeader($0, #""embeddings.LayerNorm.bias":{"dtype":"F32""#, #""embeddings.LayerNorm.bias":{"dtype":"F16""#) })
        #expect(error?.message.contains("'embeddings.LayerNorm.bias' has dtype F16, expected F32") == true, "\(error?.message ?? "")")
    }

    @Test func aMissingTensorIsNamed() throws {
        let error = loadError(try brokenCopy { self.patchHeader($0, "encoder.layer.5.output.dense.weight", "encoder.layer.5.output.dense.weighz") })
        #expect(error?.message.contains("no tensor 'encoder.layer.5.output.dense.weight'") == true, "\(error?.message ?? "")")
    }

    @Test func aMissingVocabularyIsNamed() throws {
        let error = loadError(try brokenCopy({ $0 }, drop: "vocab.txt"))
        #expect(error?.message.contains("has no vocab.txt") == true && error?.message.contains("install-model.sh") == true)
    }

    @Test func garbageIsNotSafetensors() throws {
        let error = loadError(try brokenCopy { _ in Data(repeating: 0xFF, count: 4096) })
        #expect(error?.message.contains("not safetensors") == true, "\(error?.message ?? "")")
    }
}
