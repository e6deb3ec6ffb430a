import CEngramKernels
import COpenBLAS
import EngramCore
import Foundation

/// The hyper-parameters of a BERT encoder, read from the model's `config.json`.
public struct BertConfiguration: Sendable, Equatable, Decodable {
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var layers: Int
    public var heads: Int
    public var maxPositions: Int
    public var vocabularySize: Int
    public var typeVocabularySize: Int
    public var layerNormEpsilon: Float
    public var hiddenActivation: String

    enum CodingKeys: String, CodingKey {
        case hiddenSize = "hidden_size", intermediateSize = "intermediate_size", layers = "num_hidden_layers"
        case heads = "num_attention_heads", maxPositions = "max_position_embeddings", vocabularySize = "vocab_size"
        case typeVocabularySize = "type_vocab_size", layerNormEpsilon = "layer_norm_eps", hiddenActivation = "hidden_act"
    }

    public static func load(_ url: URL) throws -> BertConfiguration {
        guard let data = try? InputFile.read(url.path, limit: 1 << 20, what: "model configuration") else {
            throw EngramError(.invalidConfiguration, "cannot read the model configuration \(url.path) (missing, not a regular file, or over 1 MiB)")
        }
        let config: BertConfiguration
        do {
            config = try JSONDecoder().decode(BertConfiguration.self, from: data)
        } catch {
            throw EngramError(.invalidConfiguration, "model configuration \(url.path) is not a BERT config.json: \(error)")
        }
        guard config.hiddenActivation == "gelu" else {
            throw EngramError(.invalidConfiguration, "model configuration \(url.path): hidden_act '\(config.hiddenActivation)' is not supported (only exact 'gelu')")
        }
        guard config.hiddenSize > 0, config.hiddenSize <= 4096 else {
            throw EngramError(.invalidConfiguration, "model configuration \(url.path): hidden_size \(config.hiddenSize) is outside 1...4096")
        }
        guard config.heads > 0, config.hiddenSize % config.heads == 0, config.layers > 0, config.intermediateSize > 0 else {
            throw EngramError(.invalidConfiguration, "model configuration \(url.path): hidden_size \(config.hiddenSize) is not divisible into \(config.heads) heads")
        }
        return config
    }
}

/// A BERT encoder evaluated in float32 with OpenBLAS matrix products, with mean pooling and L2
/// normalization on top (the sentence-transformers recipe).
///
/// Sequences of a batch are packed one after another instead of padded: the linear layers run over all
/// tokens of the batch at once, and attention runs per sequence over its own tokens only, so no work is
/// spent on padding and no attention mask is needed.
final class BertEncoder: @unchecked Sendable {
    let config: BertConfiguration
    private let weights: SafeTensorsFile
    private let wordEmbeddings, positionEmbeddings, typeEmbeddings, embeddingNormWeight, embeddingNormBias: UnsafePointer<Float>
    private let layers: [Layer]

    private struct Layer {
        /// Query, key and value weights stacked into one [3·hidden, hidden] matrix, and their biases.
        var qkvWeight: [Float]
        var qkvBias: [Float]
        var outputWeight, outputBias, attentionNormWeight, attentionNormBias: UnsafePointer<Float>
        var intermediateWeight, intermediateBias, finalWeight, finalBias, finalNormWeight, finalNormBias: UnsafePointer<Float>
    }

    init(config: BertConfiguration, weights: SafeTensorsFile) throws {
        self.config = config
        self.weights = weights
        let h = config.hiddenSize, inner = config.intermediateSize
        func tensor(_ name: String, _ shape: [Int]) throws -> UnsafePointer<Float> {
            try weights.float32(name, shape: shape).baseAddress!
        }
        wordEmbeddings = try tensor("embeddings.word_embeddings.weight", [config.vocabularySize, h])
        positionEmbeddings = try tensor("embeddings.position_embeddings.weight", [config.maxPositions, h])
        typeEmbeddings = try tensor("embeddings.token_type_embeddings.weight", [config.typeVocabularySize, h])
        embeddingNormWeight = try tensor("embeddings.LayerNorm.weight", [h])
        embeddingNormBias = try tensor("embeddings.LayerNorm.bias", [h])
        var layers: [Layer] = []
        for i in 0..<config.layers {
            let p = "encoder.layer.\(i)."
            var qkvWeight: [Float] = []
            var qkvBias: [Float] = []
            qkvWeight.reserveCapacity(3 * h * h)
            for part in ["query", "key", "value"] {
                qkvWeight.append(contentsOf: try weights.float32(p + "attention.self.\(part).weight", shape: [h, h]))
                qkvBias.append(contentsOf: try weights.float32(p + "attention.self.\(part).bias", shape: [h]))
            }
            layers.append(Layer(
                qkvWeight: qkvWeight, qkvBias: qkvBias,
                outputWeight: try tensor(p + "attention.output.dense.weight", [h, h]),
                outputBias: try tensor(p + "attention.output.dense.bias", [h]),
                attentionNormWeight: try tensor(p + "attention.output.LayerNorm.weight", [h]),
                attentionNormBias: try tensor(p + "attention.output.LayerNorm.bias", [h]),
                intermediateWeight: try tensor(p + "intermediate.dense.weight", [inner, h]),
                intermediateBias: try tensor(p + "intermediate.dense.bias", [inner]),
                finalWeight: try tensor(p + "output.dense.weight", [h, inner]),
                finalBias: try tensor(p + "output.dense.bias", [h]),
                finalNormWeight: try tensor(p + "output.LayerNorm.weight", [h]),
                finalNormBias: try tensor(p + "output.LayerNorm.bias", [h])
            ))
        }
        self.layers = layers
    }

    /// Scratch buffers, reused across the passes of one embedding call.
    struct Workspace {
        var x: [Float] = [], qkv: [Float] = [], context: [Float] = [], intermediate: [Float] = [], scores: [Float] = []

        static func ensure(_ buffer: inout [Float], _ count: Int) {
            if buffer.count < count { buffer = [Float](repeating: 0, count: count) }
        }
    }

    /// Embeds a batch of token-id sequences (each at most `maxPositions` long, ids within the vocabulary):
    /// mean-pooled, L2-normalized vectors in input order.
    func embed(_ sequences: [[Int32]], workspace: inout Workspace) -> [[Float]] {
        let h = config.hiddenSize, inner = config.intermediateSize
        let heads = config.heads, dh = h / heads
        let total = sequences.reduce(0) { $0 + $1.count }
        let longest = sequences.map(\.count).max() ?? 0
        guard total > 0 else { return sequences.map { _ in [Float](repeating: 0, count: h) } }
        var offsets: [Int] = []
        var o = 0
        for s in sequences { offsets.append(o); o += s.count }

        Workspace.ensure(&workspace.x, total * h)
        Workspace.ensure(&workspace.qkv, total * 3 * h)
        Workspace.ensure(&workspace.context, total * h)
        Workspace.ensure(&workspace.intermediate, total * inner)
        Workspace.ensure(&workspace.scores, longest * longest)
        let eps = config.layerNormEpsilon
        let scale = 1 / Float(dh).squareRoot()

        workspace.x.withUnsafeMutableBufferPointer { xb in
            let x = xb.baseAddress!
            // Embeddings: word + position + token type 0, then LayerNorm.
            for (s, ids) in sequences.enumerated() {
                ids.withUnsafeBufferPointer { idp in
                    engram_embed_tokens(x + offsets[s] * h, idp.baseAddress!, ids.count, h, wordEmbeddings, positionEmbeddings, typeEmbeddings)
                }
            }
            engram_layer_norm(x, total, h, embeddingNormWeight, embeddingNormBias, eps)

            workspace.qkv.withUnsafeMutableBufferPointer { qb in
            workspace.context.withUnsafeMutableBufferPointer { cb in
            workspace.intermediate.withUnsafeMutableBufferPointer { ib in
            workspace.scores.withUnsafeMutableBufferPointer { sb in
                let qkv = qb.baseAddress!, ctx = cb.baseAddress!, inter = ib.baseAddress!, sc = sb.baseAddress!
                for layer in layers {
                    layer.qkvWeight.withUnsafeBufferPointer { w in
                        layer.qkvBias.withUnsafeBufferPointer { b in
                            linear(x, rows: total, inputs: h, weight: w.baseAddress!, bias: b.baseAddress!, outputs: 3 * h, into: qkv)
                        }
                    }
                    // Attention, per sequence and head, over the sequence's own tokens.
                    for (s, ids) in sequences.enumerated() {
                        let n = Int32(ids.count)
                        let base = offsets[s]
                        for head in 0..<heads {
                            let q = qkv + base * 3 * h + head * dh
                            let k = q + h, v = q + 2 * h
                            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, Int32(dh),
                                        scale, q, Int32(3 * h), k, Int32(3 * h), 0, sc, n)
                            engram_softmax_rows(sc, Int(n), Int(n), Int(n))
                            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, Int32(dh), n,
                                        1, sc, n, v, Int32(3 * h), 0, ctx + base * h + head * dh, Int32(h))
                        }
                    }
                    // Output projection, residual, LayerNorm.
                    linear(ctx, rows: total, inputs: h, weight: layer.outputWeight, bias: layer.outputBias, outputs: h, into: x, accumulate: true)
                    engram_layer_norm(x, total, h, layer.attentionNormWeight, layer.attentionNormBias, eps)
                    // Feed-forward with exact GELU, residual, LayerNorm.
                    linear(x, rows: total, inputs: h, weight: layer.intermediateWeight, bias: layer.intermediateBias, outputs: inner, into: inter)
                    engram_gelu(inter, total * inner)
                    linear(inter, rows: total, inputs: inner, weight: layer.finalWeight, bias: layer.finalBias, outputs: h, into: x, accumulate: true)
                    engram_layer_norm(x, total, h, layer.finalNormWeight, layer.finalNormBias, eps)
                }
            }}}}
        }

        // Mean pooling over each sequence's tokens, then L2 normalization (in double precision).
        return workspace.x.withUnsafeBufferPointer { xb in
            sequences.indices.map { s in
                [Float](unsafeUninitializedCapacity: h) { out, count in
                    engram_mean_pool_normalize(xb.baseAddress! + offsets[s] * h, sequences[s].count, h, out.baseAddress!)
                    count = h
                }
            }
        }
    }

    /// `out = in · Wᵀ + b` (or `out += in · Wᵀ + b` when accumulating) for `rows` rows; W is [outputs, inputs].
    private func linear(_ input: UnsafePointer<Float>, rows: Int, inputs: Int, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                        outputs: Int, into out: UnsafeMutablePointer<Float>, accumulate: Bool = false) {
        engram_bias_rows(out, rows, outputs, bias, accumulate ? 1 : 0)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(outputs), Int32(inputs),
                    1, input, Int32(inputs), weight, Int32(inputs), 1, out, Int32(outputs))
    }
}
