// Native MiniLM throughput, single BLAS thread, on the workloads written by python_bench.py; prints one
// JSON line per workload in the same shape as the Python engines (scripts/bench-embeddings.sh).
import COpenBLAS
import EngramEmbeddings
import Foundation

struct Workload: Decodable { var short: [String]; var passages: [String] }

func peakRSSMegabytes() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_maxrss) / 1024
}

let args = CommandLine.arguments
guard args.count == 4 else {
    FileHandle.standardError.write(Data("usage: engram-embed-bench MODEL_DIR WORKLOAD.json REF.json\n".utf8))
    exit(64)
}
var embedder = try MiniLMEmbedder(directory: URL(fileURLWithPath: args[1]))
if let pass = ProcessInfo.processInfo.environment["ENGRAM_TOKENS_PER_PASS"].flatMap(Int.init) { embedder.tokensPerPass = pass }
let workload = try JSONDecoder().decode(Workload.self, from: Data(contentsOf: URL(fileURLWithPath: args[2])))
let reference = try JSONDecoder().decode([String: [[Double]]].self, from: Data(contentsOf: URL(fileURLWithPath: args[3])))
FileHandle.standardError.write(Data("OpenBLAS core: \(String(cString: openblas_get_corename())), threads: \(openblas_get_num_threads())\n".utf8))

_ = embedder.embedSynchronously(Array(workload.short.prefix(32)))  // warm-up
let tokenizeStart = ContinuousClock.now
let shortIDs = workload.short.map(embedder.tokenizer.encode)
FileHandle.standardError.write(Data("tokenizing the short workload alone: \(ContinuousClock.now - tokenizeStart) for \(shortIDs.count) texts\n".utf8))
for (name, texts) in [("short", workload.short), ("passages", workload.passages)] {
    let started = ContinuousClock.now
    let vectors = embedder.embedSynchronously(texts)
    let elapsed = ContinuousClock.now - started
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    let tokens = texts.reduce(0) { $0 + embedder.tokenizer.encode($1).count }
    var worst = 1.0
    for (i, truth) in (reference[name] ?? []).enumerated() where i < vectors.count {
        var dot = 0.0, nv = 0.0, nt = 0.0
        for j in truth.indices {
            dot += Double(vectors[i][j]) * truth[j]; nv += Double(vectors[i][j] * vectors[i][j]); nt += truth[j] * truth[j]
        }
        worst = min(worst, dot / (nv.squareRoot() * nt.squareRoot()))
    }
    let line: [String: Any] = [
        "engine": "engram", "workload": name, "texts": texts.count, "tokens": tokens, "seconds": seconds,
        "texts_per_s": Double(texts.count) / seconds, "tokens_per_s": Double(tokens) / seconds,
        "peak_rss_mb": peakRSSMegabytes(), "min_cosine_vs_float64": worst,
    ]
    print(String(decoding: try JSONSerialization.data(withJSONObject: line, options: [.sortedKeys]), as: UTF8.self))
    fflush(nil)
}
