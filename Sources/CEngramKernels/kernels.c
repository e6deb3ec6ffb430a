#include "engram_kernels.h"
#pragma GCC diagnostic ignored "-Wpsabi"

#include <math.h>
#include <string.h>

#define INLINE static inline __attribute__((always_inline))

// Eight lanes with clang/GCC vector extensions: vectorized in every build (unoptimized builds included),
// and each lane computes exactly what the scalar entry points compute.
typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

INLINE v8f splat(float x) { return (v8f){x, x, x, x, x, x, x, x}; }
INLINE v8f select8(v8i mask, v8f a, v8f b) { return (v8f)((mask & (v8i)a) | (~mask & (v8i)b)); }
INLINE v8f min8(v8f a, v8f b) { return select8(a < b, a, b); }
INLINE v8f max8(v8f a, v8f b) { return select8(a > b, a, b); }

INLINE v8f exp8(v8f x) {
    v8f c = max8(min8(x, splat(88.72283f)), splat(-87.33654f));
    v8f t = c * 1.442695040888963f;
    v8f half = select8(t >= splat(0.0f), splat(0.5f), splat(-0.5f));
    v8i ni = __builtin_convertvector(t + half, v8i);
    v8f n = __builtin_convertvector(ni, v8f);
    v8f r = c - n * 0.693359375f;
    r = r + n * 2.12194440e-4f;
    v8f p = splat(1.9875691500e-4f);
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    v8f scale = (v8f)((ni + 127) << 23);
    return select8(x < splat(-87.33654f), splat(0.0f), p * scale);
}

INLINE v8f erf8(v8f a) {
    v8f x = max8(min8(a, splat(4.0f)), splat(-4.0f));
    v8f x2 = x * x;
    v8f p = splat(-2.72614225801306e-10f);
    p = p * x2 + 2.77068142495902e-08f;
    p = p * x2 - 2.10102402082508e-06f;
    p = p * x2 - 5.69250639462346e-05f;
    p = p * x2 - 7.34990630326855e-04f;
    p = p * x2 - 2.95459980854025e-03f;
    p = p * x2 - 1.60960333262415e-02f;
    p = p * x;
    v8f q = splat(-1.45660718464996e-05f);
    q = q * x2 - 2.13374055278905e-04f;
    q = q * x2 - 1.68282697438203e-03f;
    q = q * x2 - 7.37332916720468e-03f;
    q = q * x2 - 1.42647390514189e-02f;
    return p / q;
}

INLINE v8f load8(const float *p) { v8f v; memcpy(&v, p, sizeof v); return v; }
INLINE void store8(float *p, v8f v) { memcpy(p, &v, sizeof v); }

/// Loads up to 8 floats (the rest `fill`), for loop tails.
INLINE v8f load_partial(const float *p, size_t n, float fill) {
    v8f v = splat(fill);
    for (size_t i = 0; i < n; i++) v[i] = p[i];
    return v;
}
INLINE void store_partial(float *p, v8f v, size_t n) {
    for (size_t i = 0; i < n; i++) p[i] = v[i];
}
INLINE float sum8(v8f v) { return ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7])); }
INLINE float maxof8(v8f v) {
    float m = v[0];
    for (int i = 1; i < 8; i++) m = v[i] > m ? v[i] : m;
    return m;
}

INLINE v8f gelu8(v8f v) { return 0.5f * v * (1.0f + erf8(v * 0.7071067811865476f)); }

float engram_expf(float x) { return exp8(splat(x))[0]; }
float engram_erff(float x) { return erf8(splat(x))[0]; }

INLINE void softmax_rows_impl(float *p, size_t rows, size_t cols, size_t ld) {
    for (size_t r = 0; r < rows; r++) {
        float *row = p + r * ld;
        size_t full = cols & ~(size_t)7, tail = cols - full;
        v8f vm = splat(-INFINITY);
        for (size_t j = 0; j < full; j += 8) vm = max8(vm, load8(row + j));
        if (tail) vm = max8(vm, load_partial(row + full, tail, -INFINITY));
        v8f m = splat(maxof8(vm));
        v8f vs = splat(0.0f);
        for (size_t j = 0; j < full; j += 8) {
            v8f e = exp8(load8(row + j) - m);
            store8(row + j, e);
            vs += e;
        }
        if (tail) {
            v8f e = exp8(load_partial(row + full, tail, -INFINITY) - m);
            store_partial(row + full, e, tail);
            vs += e;
        }
        v8f inv = splat(1.0f / sum8(vs));
        for (size_t j = 0; j < full; j += 8) store8(row + j, load8(row + j) * inv);
        if (tail) store_partial(row + full, load_partial(row + full, tail, 0.0f) * inv, tail);
    }
}

INLINE void layer_norm_impl(float *x, size_t rows, size_t width, const float *weight, const float *bias, float epsilon) {
    size_t full = width & ~(size_t)7, tail = width - full;
    for (size_t r = 0; r < rows; r++) {
        float *row = x + r * width;
        v8f vs = splat(0.0f);
        for (size_t j = 0; j < full; j += 8) vs += load8(row + j);
        if (tail) vs += load_partial(row + full, tail, 0.0f);
        v8f mean = splat(sum8(vs) / (float)width);
        v8f vq = splat(0.0f);
        for (size_t j = 0; j < full; j += 8) {
            v8f d = load8(row + j) - mean;
            vq += d * d;
        }
        if (tail) {
            v8f d = load_partial(row + full, tail, 0.0f) - mean;
            for (size_t i = tail; i < 8; i++) d[i] = 0.0f;
            vq += d * d;
        }
        v8f inv = splat(1.0f / sqrtf(sum8(vq) / (float)width + epsilon));
        for (size_t j = 0; j < full; j += 8)
            store8(row + j, (load8(row + j) - mean) * inv * load8(weight + j) + load8(bias + j));
        for (size_t j = full; j < width; j++) row[j] = (row[j] - mean[0]) * inv[0] * weight[j] + bias[j];
    }
}

INLINE void gelu_impl(float *x, size_t count) {
    size_t i = 0;
    for (; i + 8 <= count; i += 8) store8(x + i, gelu8(load8(x + i)));
    if (i < count) store_partial(x + i, gelu8(load_partial(x + i, count - i, 0.0f)), count - i);
}

// The hottest kernels get an AVX2+FMA build chosen at run time on x86-64 (no global compiler flag).
#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
__attribute__((target("avx2,fma"))) static void layer_norm_avx2(float *x, size_t rows, size_t width, const float *weight, const float *bias, float epsilon) {
    layer_norm_impl(x, rows, width, weight, bias, epsilon);
}
__attribute__((target("avx2,fma"))) static void softmax_rows_avx2(float *p, size_t rows, size_t cols, size_t ld) {
    softmax_rows_impl(p, rows, cols, ld);
}
__attribute__((target("avx2,fma"))) static void gelu_avx2(float *x, size_t count) { gelu_impl(x, count); }
static int forced_baseline = 0;
static int has_avx2(void) {
    static int known = -1;
    if (known < 0) known = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    return known && !forced_baseline;
}
void engram_kernels_force_baseline(int on) { forced_baseline = on; }
int engram_kernels_use_avx2(void) { return has_avx2(); }
#else
void engram_kernels_force_baseline(int on) { (void)on; }
int engram_kernels_use_avx2(void) { return 0; }
#endif

void engram_layer_norm(float *x, size_t rows, size_t width, const float *weight, const float *bias, float epsilon) {
#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
    if (has_avx2()) { layer_norm_avx2(x, rows, width, weight, bias, epsilon); return; }
#endif
    layer_norm_impl(x, rows, width, weight, bias, epsilon);
}

void engram_bias_rows(float *out, size_t rows, size_t width, const float *bias, int accumulate) {
    for (size_t r = 0; r < rows; r++) {
        float *row = out + r * width;
        if (accumulate) {
            for (size_t j = 0; j < width; j++) row[j] += bias[j];
        } else {
            memcpy(row, bias, width * sizeof(float));
        }
    }
}

void engram_embed_tokens(float *x, const int32_t *ids, size_t count, size_t width,
                         const float *word, const float *position, const float *type0) {
    for (size_t t = 0; t < count; t++) {
        float *row = x + t * width;
        const float *w = word + (size_t)ids[t] * width;
        const float *p = position + t * width;
        for (size_t j = 0; j < width; j++) row[j] = w[j] + p[j] + type0[j];
    }
}

void engram_mean_pool_normalize(const float *x, size_t rows, size_t width, float *out) {
    double sums[4096];
    size_t w = width < 4096 ? width : 4096;
    for (size_t j = 0; j < w; j++) sums[j] = 0.0;
    for (size_t t = 0; t < rows; t++)
        for (size_t j = 0; j < w; j++) sums[j] += (double)x[t * width + j];
    double norm = 0.0;
    for (size_t j = 0; j < w; j++) {
        sums[j] /= (double)(rows ? rows : 1);
        norm += sums[j] * sums[j];
    }
    norm = sqrt(norm);
    for (size_t j = 0; j < w; j++) out[j] = norm > 0.0 ? (float)(sums[j] / norm) : 0.0f;
}

void engram_gelu(float *x, size_t count) {
#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
    if (has_avx2()) { gelu_avx2(x, count); return; }
#endif
    gelu_impl(x, count);
}

void engram_softmax_rows(float *p, size_t rows, size_t cols, size_t ld) {
#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
    if (has_avx2()) { softmax_rows_avx2(p, rows, cols, ld); return; }
#endif
    softmax_rows_impl(p, rows, cols, ld);
}
