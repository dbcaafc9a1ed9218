// Random-forest inference on flat forests (gputrack.forest).
//
// One thread per sample; the thread walks every tree in turn and accumulates the leaf class
// distributions in registers (MAXC >= n_classes slots, fully unrolled), then writes
// acc * scale (scale = 1 / n_trees). Trees are visited in order 0..n_trees-1 with float32
// additions, exactly like the CPU twin in gputrack/forest/predict.py, so both give the same
// bits.
//
// Nodes are int4 {feature, threshold bits, left, missing_left}: inner nodes have
// feature >= 0 and children left, left + 1; leaves have feature = -1 and left = their row
// in `values` (n_leaves x n_classes). Nodes are read with __ldg (read-only cache); all
// threads of a warp start each tree at the same root, so the top levels stay in L1.
//
// STAGE: the block first copies its rows of X (contiguous in memory) into shared memory
// with coalesced loads; each thread then reads its own row from shared memory with an odd
// row stride (no systematic bank conflicts). Without STAGE (very wide X), rows are read
// from global memory through the read-only cache.
//
// MAXC = 0: more classes than register slots; the thread accumulates in its own output row.
//
// op_lt = 0: go left when x <= threshold (scikit-learn); 1: when x < threshold (vigra).
// A NaN feature goes left when missing_left != 0, else right.

template <int MAXC, bool STAGE>
__global__ void forest_proba(const float* __restrict__ X, const long long n_samples,
                             const int n_features, const int4* __restrict__ nodes,
                             const int* __restrict__ roots, const int n_trees,
                             const float* __restrict__ values, const int n_classes,
                             const int op_lt, const float scale, float* __restrict__ out)
{
    extern __shared__ float tile[];
    const long long row0 = (long long)blockIdx.x * blockDim.x;
    const long long row = row0 + threadIdx.x;
    const float* x;
    if (STAGE) {
        const int stride = n_features | 1;
        long long left_rows = n_samples - row0;
        const int rows_here = left_rows < (long long)blockDim.x ? (int)left_rows : (int)blockDim.x;
        const int total = rows_here * n_features;
        const float* src = X + row0 * n_features;
        for (int k = threadIdx.x; k < total; k += blockDim.x) {
            const int r = k / n_features;
            const int f = k - r * n_features;
            tile[r * stride + f] = __ldg(src + k);
        }
        __syncthreads();
        x = tile + threadIdx.x * stride;
    } else {
        x = X + row * n_features;
    }
    if (row >= n_samples) {
        return;
    }
    float* o = out + row * n_classes;
    float acc[MAXC > 0 ? MAXC : 1];
    if (MAXC > 0) {
#pragma unroll
        for (int c = 0; c < (MAXC > 0 ? MAXC : 1); ++c) {
            acc[c] = 0.0f;
        }
    } else {
        for (int c = 0; c < n_classes; ++c) {
            o[c] = 0.0f;
        }
    }
    for (int t = 0; t < n_trees; ++t) {
        int4 nd = __ldg(nodes + __ldg(roots + t));
        while (nd.x >= 0) {
            const float v = STAGE ? x[nd.x] : __ldg(x + nd.x);
            const float thr = __int_as_float(nd.y);
            bool go_left = op_lt ? (v < thr) : (v <= thr);
            if (v != v) {
                go_left = nd.w != 0;
            }
            nd = __ldg(nodes + nd.z + (go_left ? 0 : 1));
        }
        const float* val = values + (long long)nd.z * n_classes;
        if (MAXC > 0) {
#pragma unroll
            for (int c = 0; c < (MAXC > 0 ? MAXC : 1); ++c) {
                if (c < n_classes) {
                    acc[c] += __ldg(val + c);
                }
            }
        } else {
            for (int c = 0; c < n_classes; ++c) {
                o[c] += __ldg(val + c);
            }
        }
    }
    if (MAXC > 0) {
#pragma unroll
        for (int c = 0; c < (MAXC > 0 ? MAXC : 1); ++c) {
            if (c < n_classes) {
                o[c] = acc[c] * scale;
            }
        }
    } else {
        for (int c = 0; c < n_classes; ++c) {
            o[c] = o[c] * scale;
        }
    }
}
