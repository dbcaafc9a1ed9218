// Per-object (region) statistics by segmented reduction, two passes over the pixels.
//
// Labels are compact indices idx[i] in 0..n (0 = background). Each thread walks a run of
// `run` consecutive pixels (raster order), accumulates in registers while the index stays
// the same, and flushes with atomics when it changes or the run ends: objects are runs of
// equal indices along x, so this needs far fewer atomics than one per pixel.
// Accumulators are double; the layouts match the numba twins in gputrack/objects/regions.py.
// Pixel indices and accumulator offsets are 64-bit: frames may hold 2**31 pixels or more.
//
//   coord_pass1  acc1[n+1][4]  = count, sum z, sum y, sum x;  bbox[n+1][6] = min z,y,x, max z,y,x
//   coord_pass2  acc2[n+1][31] = central coordinate moments of degree 2 (6), 3 (10), 4 (15),
//                monomials d[a]*d[b]*... with a <= b <= ... over (z, y, x) in lexicographic order
//   value_pass1  sum[n+1], vmin[n+1], vmax[n+1]   (one channel)
//   value_pass2  acc[n+1][3] = sum (v-m)^2, (v-m)^3, (v-m)^4

__device__ __forceinline__ void atomic_min_float(float* addr, float v)
{
    int* a = (int*)addr;
    int old = *a;
    while (__int_as_float(old) > v) {
        int assumed = old;
        old = atomicCAS(a, assumed, __float_as_int(v));
        if (old == assumed) break;
    }
}

__device__ __forceinline__ void atomic_max_float(float* addr, float v)
{
    int* a = (int*)addr;
    int old = *a;
    while (__int_as_float(old) < v) {
        int assumed = old;
        old = atomicCAS(a, assumed, __float_as_int(v));
        if (old == assumed) break;
    }
}

__device__ __forceinline__ void unravel(long long i, int ny, int nx, int* c)
{
    c[2] = (int)(i % nx);
    c[1] = (int)((i / nx) % ny);
    c[0] = (int)(i / ((long long)nx * ny));
}

extern "C" __global__ void coord_pass1(const int* idx, long long n, int ny, int nx, int run,
                                       double* acc1, int* bbox)
{
    long long start = ((long long)blockIdx.x * blockDim.x + threadIdx.x) * run;
    if (start >= n) return;
    long long stop = start + run < n ? start + run : n;
    long long cur = 0;  // 64-bit: cur * 31 overflows int past 69M objects
    double s[4] = {0.0, 0.0, 0.0, 0.0};
    int lo[3] = {0, 0, 0}, hi[3] = {0, 0, 0};
    for (long long i = start; i <= stop; ++i) {
        int k = (i < stop) ? idx[i] : -1;
        if (k != cur) {
            if (cur > 0) {
                atomicAdd(&acc1[cur * 4 + 0], s[0]);
                atomicAdd(&acc1[cur * 4 + 1], s[1]);
                atomicAdd(&acc1[cur * 4 + 2], s[2]);
                atomicAdd(&acc1[cur * 4 + 3], s[3]);
                for (int a = 0; a < 3; ++a) {
                    atomicMin(&bbox[cur * 6 + a], lo[a]);
                    atomicMax(&bbox[cur * 6 + 3 + a], hi[a]);
                }
            }
            if (k < 0) break;
            cur = k;
            s[0] = s[1] = s[2] = s[3] = 0.0;
            lo[0] = lo[1] = lo[2] = 2147483647;
            hi[0] = hi[1] = hi[2] = -1;
        }
        if (cur > 0) {
            int c[3];
            unravel(i, ny, nx, c);
            s[0] += 1.0;
            for (int a = 0; a < 3; ++a) {
                s[1 + a] += (double)c[a];
                lo[a] = c[a] < lo[a] ? c[a] : lo[a];
                hi[a] = c[a] > hi[a] ? c[a] : hi[a];
            }
        }
    }
}

extern "C" __global__ void coord_pass2(const int* idx, long long n, int ny, int nx, int run,
                                       const double* mean, double* acc2)
{
    long long start = ((long long)blockIdx.x * blockDim.x + threadIdx.x) * run;
    if (start >= n) return;
    long long stop = start + run < n ? start + run : n;
    long long cur = 0;  // 64-bit: cur * 31 overflows int past 69M objects
    double m[31];
    double mu[3] = {0.0, 0.0, 0.0};
#pragma unroll
    for (int q = 0; q < 31; ++q) m[q] = 0.0;
    for (long long i = start; i <= stop; ++i) {
        int k = (i < stop) ? idx[i] : -1;
        if (k != cur) {
            if (cur > 0) {
#pragma unroll
                for (int q = 0; q < 31; ++q) atomicAdd(&acc2[cur * 31 + q], m[q]);
            }
            if (k < 0) break;
            cur = k;
#pragma unroll
            for (int q = 0; q < 31; ++q) m[q] = 0.0;
            if (cur > 0) {
                mu[0] = mean[cur * 3 + 0];
                mu[1] = mean[cur * 3 + 1];
                mu[2] = mean[cur * 3 + 2];
            }
        }
        if (cur > 0) {
            int c[3];
            unravel(i, ny, nx, c);
            double d[3] = {c[0] - mu[0], c[1] - mu[1], c[2] - mu[2]};
            int q = 0;
#pragma unroll
            for (int a = 0; a < 3; ++a)
#pragma unroll
                for (int b = a; b < 3; ++b) m[q++] += d[a] * d[b];
#pragma unroll
            for (int a = 0; a < 3; ++a)
#pragma unroll
                for (int b = a; b < 3; ++b)
#pragma unroll
                    for (int e = b; e < 3; ++e) m[q++] += d[a] * d[b] * d[e];
#pragma unroll
            for (int a = 0; a < 3; ++a)
#pragma unroll
                for (int b = a; b < 3; ++b)
#pragma unroll
                    for (int e = b; e < 3; ++e)
#pragma unroll
                        for (int f = e; f < 3; ++f) m[q++] += d[a] * d[b] * d[e] * d[f];
        }
    }
}

extern "C" __global__ void value_pass1(const int* idx, const float* v, long long n, int run,
                                       double* sum, float* vmin, float* vmax)
{
    long long start = ((long long)blockIdx.x * blockDim.x + threadIdx.x) * run;
    if (start >= n) return;
    long long stop = start + run < n ? start + run : n;
    long long cur = 0;  // 64-bit: cur * 31 overflows int past 69M objects
    double s = 0.0;
    float lo = 0.0f, hi = 0.0f;
    for (long long i = start; i <= stop; ++i) {
        int k = (i < stop) ? idx[i] : -1;
        if (k != cur) {
            if (cur > 0) {
                atomicAdd(&sum[cur], s);
                atomic_min_float(&vmin[cur], lo);
                atomic_max_float(&vmax[cur], hi);
            }
            if (k < 0) break;
            cur = k;
            s = 0.0;
            lo = __int_as_float(0x7f800000);   // +inf
            hi = __int_as_float(0xff800000);   // -inf
        }
        if (cur > 0) {
            float x = v[i];
            s += (double)x;
            lo = x < lo ? x : lo;
            hi = x > hi ? x : hi;
        }
    }
}

extern "C" __global__ void value_pass2(const int* idx, const float* v, long long n, int run,
                                       const double* mean, double* acc)
{
    long long start = ((long long)blockIdx.x * blockDim.x + threadIdx.x) * run;
    if (start >= n) return;
    long long stop = start + run < n ? start + run : n;
    long long cur = 0;  // 64-bit: cur * 31 overflows int past 69M objects
    double s2 = 0.0, s3 = 0.0, s4 = 0.0, mu = 0.0;
    for (long long i = start; i <= stop; ++i) {
        int k = (i < stop) ? idx[i] : -1;
        if (k != cur) {
            if (cur > 0) {
                atomicAdd(&acc[cur * 3 + 0], s2);
                atomicAdd(&acc[cur * 3 + 1], s3);
                atomicAdd(&acc[cur * 3 + 2], s4);
            }
            if (k < 0) break;
            cur = k;
            s2 = s3 = s4 = 0.0;
            if (cur > 0) mu = mean[cur];
        }
        if (cur > 0) {
            double d = (double)v[i] - mu;
            double d2 = d * d;
            s2 += d2;
            s3 += d2 * d;
            s4 += d2 * d2;
        }
    }
}
