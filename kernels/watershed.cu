// Seeded watershed by parallel relaxation (face connectivity), ilastik's "don't merge objects".
//
// Definitions (gputrack/segment/watershed.py states them in full; every quantity is a unique
// fixed point, so the order in which threads run does not change the result):
//   cost c[i]   float32 flooding cost; "graph" pixels are the seeds (label > 0) and the mask
//   W[i]        flooding level: c[s] on a seed s; on a mask pixel the smallest, over paths from
//               a seed through mask pixels, of the largest cost on the path (seed included);
//               +inf where no path exists and off the mask
//   m(i)        smallest W of the face neighbours of i
//   D[i]        0 on seeds; 1 + min D over the neighbours n with W[n] == m(i) (mask pixels)
//   P[i]        parent: the neighbour n with W[n] == m(i) of smallest (D[n], flat index);
//               seeds are their own parent; mask pixels reached and the pixels off the mask
//               next to a reached pixel (ilastik's one-pixel ring, see watershed.py) get one
// W and D are relaxed from +inf / INT_MAX: each pass can only lower a value towards the fixed
// point, reads of a neighbour written concurrently see an older (larger) value, so passes
// repeat until none changes. ws_jump then points every pixel at its seed.
//
// CPU twin: gputrack/segment/watershed.py (_flood_twin, numba: a priority flood and a
// breadth-first pass computing the same W, D and P).
//
// Entry points (extern "C"; n = nz * ny * nx):
//   ws_level(cost, mask, seeds, W, nz, ny, nx, changed)    one relaxation pass of W
//   ws_depth(W, mask, seeds, D, nz, ny, nx, changed)       one relaxation pass of D
//   ws_parent(cost, W, mask, seeds, D, P, nz, ny, nx)      parents (-1: unlabelled)
//   ws_jump(P, n, changed)                                 P[i] = P[P[i]]

#define WS_INF __int_as_float(0x7f800000)
#define WS_DMAX 2147483647

__device__ __forceinline__ int ws_neighbours(long long i, int nz, int ny, int nx, long long* nb)
{
    const long long plane = (long long)ny * nx;
    const int x = (int)(i % nx);
    const int y = (int)((i / nx) % ny);
    const int z = (int)(i / plane);
    int k = 0;
    if (x > 0) nb[k++] = i - 1;
    if (x < nx - 1) nb[k++] = i + 1;
    if (y > 0) nb[k++] = i - nx;
    if (y < ny - 1) nb[k++] = i + nx;
    if (z > 0) nb[k++] = i - plane;
    if (z < nz - 1) nb[k++] = i + plane;
    return k;
}

__device__ __forceinline__ float ws_min_level(const float* W, const long long* nb, int k)
{
    float m = WS_INF;
    for (int j = 0; j < k; ++j) {
        const float w = W[nb[j]];
        if (w < m) m = w;
    }
    return m;
}

extern "C" __global__ void ws_level(const float* cost, const unsigned char* mask, const unsigned int* seeds,
                                    float* W, int nz, int ny, int nx, int* changed)
{
    const long long n = (long long)nz * ny * nx;
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n || !mask[i] || seeds[i] != 0u) return;
    long long nb[6];
    const int k = ws_neighbours(i, nz, ny, nx, nb);
    const float m = ws_min_level(W, nb, k);
    if (!(m < WS_INF)) return;
    const float c = cost[i];
    const float w = c > m ? c : m;
    if (w < W[i]) {
        W[i] = w;
        *changed = 1;
    }
}

extern "C" __global__ void ws_depth(const float* W, const unsigned char* mask, const unsigned int* seeds,
                                    int* D, int nz, int ny, int nx, int* changed)
{
    const long long n = (long long)nz * ny * nx;
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n || !mask[i] || seeds[i] != 0u || !(W[i] < WS_INF)) return;
    long long nb[6];
    const int k = ws_neighbours(i, nz, ny, nx, nb);
    const float m = ws_min_level(W, nb, k);
    int best = WS_DMAX;
    for (int j = 0; j < k; ++j) {
        if (W[nb[j]] == m) {
            const int d = D[nb[j]];
            if (d < best) best = d;
        }
    }
    if (best != WS_DMAX && best + 1 < D[i]) {
        D[i] = best + 1;
        *changed = 1;
    }
}

extern "C" __global__ void ws_parent(const float* cost, const float* W, const unsigned char* mask,
                                     const unsigned int* seeds, const int* D, long long* P,
                                     int nz, int ny, int nx)
{
    const long long n = (long long)nz * ny * nx;
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    if (seeds[i] != 0u) {
        P[i] = i;
        return;
    }
    P[i] = -1;
    const float c = cost[i];
    if (mask[i] ? !(W[i] < WS_INF) : (c != c)) return;  // unreached mask pixel, or NaN
    long long nb[6];
    const int k = ws_neighbours(i, nz, ny, nx, nb);
    const float m = ws_min_level(W, nb, k);
    if (!(m < WS_INF)) return;
    long long best = -1;
    int best_d = WS_DMAX;
    for (int j = 0; j < k; ++j) {
        const long long q = nb[j];
        if (W[q] == m && (D[q] < best_d || (D[q] == best_d && q < best))) {
            best = q;
            best_d = D[q];
        }
    }
    P[i] = best;
}

extern "C" __global__ void ws_jump(long long* P, long long n, int* changed)
{
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const long long p = P[i];
    if (p < 0) return;
    const long long pp = P[p];
    if (pp != p) {
        P[i] = pp;
        *changed = 1;
    }
}
