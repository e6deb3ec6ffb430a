// Element-wise kernels of Engram's native encoder, in C so that they are fast in debug builds too
// (unoptimized Swift SIMD code is hundreds of times slower) and auto-vectorized in release builds.
#ifndef ENGRAM_KERNELS_H
#define ENGRAM_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/// e^x (Cephes' single-precision method; relative error ~1e-7; 0 below -87.3).
float engram_expf(float x);
/// erf(x) as a rational function on [-4, 4], ±1 outside; absolute error below 1e-6.
float engram_erff(float x);

/// Exact GELU, x·½·(1 + erf(x/√2)), in place.
void engram_gelu(float *x, size_t count);
/// Row-wise softmax of a rows × cols matrix with leading dimension ld, in place.
void engram_softmax_rows(float *p, size_t rows, size_t cols, size_t ld);
/// Row-wise LayerNorm of a contiguous rows × width matrix, in place.
void engram_layer_norm(float *x, size_t rows, size_t width, const float *weight, const float *bias, float epsilon);
/// Sets (accumulate = 0) or adds (accumulate = 1) `bias` to every row of a rows × width matrix.
void engram_bias_rows(float *out, size_t rows, size_t width, const float *bias, int accumulate);
/// x[t] = word[ids[t]] + position[t] + type0 for t < count; rows of width floats.
void engram_embed_tokens(float *x, const int32_t *ids, size_t count, size_t width,
                         const float *word, const float *position, const float *type0);
/// out = normalize(mean of rows), accumulated in double precision.
void engram_mean_pool_normalize(const float *x, size_t rows, size_t width, float *out);

/// 1 when the AVX2+FMA builds of the kernels are in use (x86-64 CPUs that have them).
int engram_kernels_use_avx2(void);
/// Tests: 1 forces the baseline builds, 0 restores the automatic choice. Not thread-safe.
void engram_kernels_force_baseline(int on);

#endif
