#include "engram_kernels.h"

#include <math.h>
#include <string.h>

static inline float exp_kernel(float x) {
    float c = x > 88.72283f ? 88.72283f : x;
    c = c < -87.33654f ? -87.33654f : c;
    float t = c * 1.442695040888963f;
    int32_t ni = (int32_t)(t + (t >= 0.0f ? 0.5f : -0.5f));
    float n = (float)ni;
    float r = c - n * 0.693359375f;
    r = r + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    union { uint32_t u; float f; } scale;
    scale.u = (uint32_t)(ni + 127) << 23;
    float result = p * scale.f;
    return x < -87.33654f ? 0.0f : result;
}

static inline float erf_kernel(float a) {
    float x = a > 4.0f ? 4.0f : a;
    x = x < -4.0f ? -4.0f : x;
    float x2 = x * x;
    float p = -2.72614225801306e-10f;
    p = p * x2 + 2.77068142495902e-08f;
    p = p * x2 - 2.10102402082508e-06f;
    p = p * x2 - 5.69250639462346e-05f;
    p = p * x2 - 7.34990630326855e-04f;
    p = p * x2 - 2.95459980854025e-03f;
    p = p * x2 - 1.60960333262415e-02f;
    p = p * x;
    float q = -1.45660718464996e-05f;
    q = q * x2 - 2.13374055278905e-04f;
    q = q * x2 - 1.68282697438203e-03f;
    q = q * x2 - 7.37332916720468e-03f;
    q = q * x2 - 1.42647390514189e-02f;
    return p / q;
}

float engram_expf(float x) { return exp_kernel(x); }
float engram_erff(float x) { return erf_kernel(x); }

void engram_gelu(float *x, size_t count) {
    for (size_t i = 0; i < count; i++) {
        float v = x[i];
        x[i] = 0.5f * v * (1.0f + erf_kernel(v * 0.7071067811865476f));
    }
}

void engram_softmax_rows(float *p, size_t rows, size_t cols, size_t ld) {
    for (size_t r = 0; r < rows; r++) {
        float *row = p + r * ld;
        float m = -INFINITY;
        for (size_t j = 0; j < cols; j++) m = row[j] > m ? row[j] : m;
        float sum = 0.0f;
        for (size_t j = 0; j < cols; j++) {
            float e = exp_kernel(row[j] - m);
            row[j] = e;
            sum += e;
        }
        float inv = 1.0f / sum;
        for (size_t j = 0; j < cols; j++) row[j] *= inv;
    }
}

void engram_layer_norm(float *x, size_t rows, size_t width, const float *weight, const float *bias, float epsilon) {
    for (size_t r = 0; r < rows; r++) {
        float *row = x + r * width;
        float sum = 0.0f;
        for (size_t j = 0; j < width; j++) sum += row[j];
        float mean = sum / (float)width;
        float squares = 0.0f;
        for (size_t j = 0; j < width; j++) {
            float d = row[j] - mean;
            squares += d * d;
        }
        float inv = 1.0f / sqrtf(squares / (float)width + epsilon);
        for (size_t j = 0; j < width; j++) row[j] = (row[j] - mean) * inv * weight[j] + bias[j];
    }
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
