// ilastik's 2-D pixel features of one scale column, fused: two kernels per scale and plane.
//
//   presmooth2d   the pre-smoothing Gaussian along y then x over a region of the plane
//                 (y result rounded to float32 in shared memory, as the two-pass path stores it);
//   features2d    for one tile of output pixels: the pre-smoothed tile + halo in shared memory,
//                 the operator passes along y (smoothing, first and second derivative, DoG's
//                 narrow Gaussian, the structure tensor's inner Gaussian and derivative), the x
//                 passes, the tensor's products and outer smoothing, then Gaussian smoothing, LoG,
//                 gradient magnitude, DoG and both tensors' eigenvalues written straight into the
//                 channels-last output.
//
// CPU twin: gputrack/features/fused.py (same passes, same order) and the two-pass
// gputrack/features/filters.py. Every 1-D pass is the float64 arithmetic of
// gputrack/features/correlate.py: folded (anti)symmetric taps, acc = w_c x_0 then
// acc += w_j (x_j +- x_-j) for j = 1..r, rounded to float32; the families are float32
// operations as numpy's, the eigenvalues double as eigen.cu. Launched with --fmad=false so
// that no multiply-add is contracted (the features are then the CPU's bits).
//
// Borders are scipy's mode="mirror" (reflect about the edge pixel, period 2n - 2). Each stage
// keeps the values of *image* pixels over a range [lo, hi) of rows and columns; a tap reads
// pixel mirror(i + j) of the previous stage, which lies in the range widened by the tap
// radius (and clipped to the image) whatever the tile and image sizes.
//
// Weights: float64 tables of 6 filters (OP0, OP1, OP2, DOG0, INNER0, INNER1) of `wlen`
// entries, the centre of filter f at f * wlen + r_f (gputrack/features/fused.py, _tables).
// Self-contained for NVRTC (no includes).

#define GT_GS 0
#define GT_LOG 1
#define GT_GGM 2
#define GT_DOG 3
#define GT_ST0 4
#define GT_ST1 5
#define GT_HESS0 6
#define GT_HESS1 7

#define GT_OP0 0
#define GT_OP1 1
#define GT_OP2 2
#define GT_DOG0 3
#define GT_INNER0 4
#define GT_INNER1 5

__device__ __forceinline__ int gt_mirror(int i, int n)
{
    if (n == 1) return 0;
    int period = 2 * n - 2;
    i %= period;
    if (i < 0) i += period;
    if (i >= n) i = period - i;
    return i;
}

// correlation at one position: tap j reads src[stride * (mirror(c + j) - lo)] (templates so that
// a kernel parameter keeps its own pointer type)
template <class S, class W>
__device__ __forceinline__ float gt_taps(S src, long long stride, int c, int lo, int n, W w, int r, int sym)
{
    double acc = w[r] * (double)src[stride * (c - lo)];
    for (int j = 1; j <= r; ++j) {
        double up = (double)src[stride * (gt_mirror(c + j, n) - lo)];
        double dn = (double)src[stride * (gt_mirror(c - j, n) - lo)];
        acc += w[r + j] * (sym > 0 ? up + dn : up - dn);
    }
    return (float)acc;
}

__device__ __forceinline__ void gt_eig2(float xx, float xy, float yy, float* e0, float* e1)
{
    double a = xx, b = xy, c = yy;
    double m = 0.5 * (a + c);
    double h = 0.5 * (a - c);
    double d = sqrt(h * h + b * b);
    *e0 = (float)(m + d);
    *e1 = (float)(m - d);
}

// Pre-smoothing of rows [r0, r1) x columns [c0, c1) of one plane into pre ((r1 - r0) x (c1 - c0)).
// Plane pixel (i, k) is img[base + i * sy + k * sx]. Block (bx, by) computes the tile of
// ty x tx pixels at (r0 + by * ty, c0 + bx * tx); dynamic shared memory: ty * (tx + 2 rx) floats.
extern "C" __global__ void presmooth2d(const float* __restrict__ img,
                                       long long base,
                                       long long sy,
                                       long long sx,
                                       int ny,
                                       int nx,
                                       const double* __restrict__ wy,
                                       int ry,
                                       const double* __restrict__ wx,
                                       int rx,
                                       float* __restrict__ pre,
                                       int r0,
                                       int r1,
                                       int c0,
                                       int c1,
                                       int ty,
                                       int tx)
{
    extern __shared__ float smem[];
    const int tid = threadIdx.x, nt = blockDim.x;
    const int y0 = r0 + blockIdx.y * ty, y1 = min(y0 + ty, r1);
    const int x0 = c0 + blockIdx.x * tx, x1 = min(x0 + tx, c1);
    const int lo = max(x0 - rx, 0), hi = min(x1 + rx, nx);
    const int w = hi - lo, h = y1 - y0;
    for (int e = tid; e < h * w; e += nt) {  // y pass at image columns [lo, hi)
        int i = y0 + e / w, k = lo + e % w;
        smem[e] = gt_taps(img + base + k * sx, sy, i, 0, ny, wy, ry, 1);
    }
    __syncthreads();
    const int ow = x1 - x0, pw = c1 - c0;
    for (int e = tid; e < h * ow; e += nt) {  // x pass
        int li = e / ow, k = x0 + e % ow;
        pre[(long long)(y0 + li - r0) * pw + (k - c0)] = gt_taps(smem + li * w, 1, k, lo, nx, wx, rx, 1);
    }
}

// Channels of the output tile of block (bx, by): rows [y0, y1), columns [x0, x1) of the crop
// [cy0, cy1) x [cx0, cx1), for one scale. pre holds the pre-smoothed plane over rows from pr0
// and columns from pc0 (row length pw), at least the crop widened by (hy, hx); chans[slot] is
// the output channel of each result (GT_GS .. GT_HESS1) or -1; output pixel (i, k), channel c
// is out[obase + (i - cy0) * orow + (k - cx0) * n_out + c]. hy >= every y radius and the
// tensor's outer + inner y radius (hx alike); dynamic shared memory: features2d_shared floats
// (gputrack/features/fused_gpu.py, shared_floats).
extern "C" __global__ void features2d(const float* __restrict__ pre,
                                      int pr0,
                                      int pc0,
                                      int pw,
                                      int ny,
                                      int nx,
                                      const double* __restrict__ wy,
                                      const int* __restrict__ ry,
                                      const double* __restrict__ wx,
                                      const int* __restrict__ rx,
                                      int wlen,
                                      const long long* __restrict__ chans,
                                      float* __restrict__ out,
                                      long long obase,
                                      long long orow,
                                      int n_out,
                                      int cy0,
                                      int cy1,
                                      int cx0,
                                      int cx1,
                                      int ty,
                                      int tx,
                                      int hy,
                                      int hx)
{
    extern __shared__ float smem[];
    const int tid = threadIdx.x, nt = blockDim.x;
    const int y0 = cy0 + blockIdx.y * ty, y1 = min(y0 + ty, cy1);
    const int x0 = cx0 + blockIdx.x * tx, x1 = min(x0 + tx, cx1);
    const int th = y1 - y0, tw = x1 - x0;

    long long ch[8];
    for (int s = 0; s < 8; ++s) ch[s] = chans[s];
    const bool want_s = ch[GT_GS] >= 0 || ch[GT_DOG] >= 0;
    const bool want_xx = ch[GT_LOG] >= 0 || ch[GT_HESS0] >= 0;
    const bool want_g = ch[GT_GGM] >= 0;
    const bool want_h = ch[GT_HESS0] >= 0;
    const bool want_d = ch[GT_DOG] >= 0;
    const bool want_t = ch[GT_ST0] >= 0;
    const bool ypass[4] = {want_s || want_xx || want_g, want_g || want_h, want_xx, want_d};
    int ryf[6], rxf[6];
    for (int f = 0; f < 6; ++f) {
        ryf[f] = ry[f];
        rxf[f] = rx[f];
    }
    const int rmx = max(max(rxf[0], rxf[1]), max(rxf[2], rxf[3]));
    const int r0y = ryf[GT_OP0], r0x = rxf[GT_OP0];
    const int rix = max(rxf[GT_INNER0], rxf[GT_INNER1]);

    // ranges of image pixels kept by each stage
    const int py0 = max(y0 - hy, 0), py1 = min(y1 + hy, ny);   // pre-smoothed tile + halo
    const int px0 = max(x0 - hx, 0), px1 = min(x1 + hx, nx);
    const int mx0 = max(x0 - rmx, 0), mx1 = min(x1 + rmx, nx);  // operator y passes
    const int ty0 = max(y0 - r0y, 0), ty1 = min(y1 + r0y, ny);  // tensor products
    const int tx0 = max(x0 - r0x, 0), tx1 = min(x1 + r0x, nx);
    const int gx0 = max(tx0 - rix, 0), gx1 = min(tx1 + rix, nx);  // tensor gradients' y passes
    const int pwd = px1 - px0, mw = mx1 - mx0, tw1 = tx1 - tx0, gw = gx1 - gx0, th1 = ty1 - ty0;

    // shared memory, each buffer at its capacity (same formula as fused_gpu.shared_floats)
    const int cap_h = ty + 2 * hy, cap_w = tx + 2 * hx;
    float* P = smem;                       // cap_h x cap_w
    float* Y = P + cap_h * cap_w;          // 4 x ty x cap_w
    float* G = Y + 4 * ty * cap_w;         // 2 x cap_h x cap_w
    float* T = G + 2 * cap_h * cap_w;      // 3 x cap_h x cap_w
    float* Q = T + 3 * cap_h * cap_w;      // 3 x ty x cap_w
    const int ys = ty * cap_w, gs = cap_h * cap_w;

    for (int e = tid; e < (py1 - py0) * pwd; e += nt) {
        int i = py0 + e / pwd, k = px0 + e % pwd;
        P[e] = pre[(long long)(i - pr0) * pw + (k - pc0)];
    }
    __syncthreads();

    // y passes: operators at rows [y0, y1) x columns [mx0, mx1), tensor gradients at
    // rows [ty0, ty1) x columns [gx0, gx1)
    for (int e = tid; e < th * mw; e += nt) {
        int i = y0 + e / mw, k = mx0 + e % mw;
        const float* col = P + (k - px0);
        for (int f = 0; f < 4; ++f)
            if (ypass[f])
                Y[f * ys + e] = gt_taps(col, pwd, i, py0, ny, wy + f * wlen, ryf[f], f == GT_OP1 ? -1 : 1);
    }
    if (want_t) {
        for (int e = tid; e < th1 * gw; e += nt) {
            int i = ty0 + e / gw, k = gx0 + e % gw;
            const float* col = P + (k - px0);
            G[e] = gt_taps(col, pwd, i, py0, ny, wy + GT_INNER1 * wlen, ryf[GT_INNER1], -1);
            G[gs + e] = gt_taps(col, pwd, i, py0, ny, wy + GT_INNER0 * wlen, ryf[GT_INNER0], 1);
        }
    }
    __syncthreads();

    // x passes and the families of the operators; the tensor's gradients and products
    for (int e = tid; e < th * tw; e += nt) {
        int li = e / tw, k = x0 + e % tw;
        const float* y_s = Y + li * mw;
        float s_row = 0.f, lxx = 0.f, gx = 0.f, gy = 0.f, hxy = 0.f, lyy = 0.f, nrw = 0.f;
        if (want_s) s_row = gt_taps(y_s, 1, k, mx0, nx, wx + GT_OP0 * wlen, rxf[GT_OP0], 1);
        if (want_xx) lxx = gt_taps(y_s, 1, k, mx0, nx, wx + GT_OP2 * wlen, rxf[GT_OP2], 1);
        if (want_g) {
            gx = gt_taps(y_s, 1, k, mx0, nx, wx + GT_OP1 * wlen, rxf[GT_OP1], -1);
            gy = gt_taps(y_s + ys, 1, k, mx0, nx, wx + GT_OP0 * wlen, rxf[GT_OP0], 1);
        }
        if (want_h) hxy = gt_taps(y_s + ys, 1, k, mx0, nx, wx + GT_OP1 * wlen, rxf[GT_OP1], -1);
        if (want_xx) lyy = gt_taps(y_s + 2 * ys, 1, k, mx0, nx, wx + GT_OP0 * wlen, rxf[GT_OP0], 1);
        if (want_d) nrw = gt_taps(y_s + 3 * ys, 1, k, mx0, nx, wx + GT_DOG0 * wlen, rxf[GT_DOG0], 1);
        auto o = out + obase + (long long)(y0 + li - cy0) * orow + (long long)(k - cx0) * n_out;
        if (ch[GT_GS] >= 0) o[ch[GT_GS]] = s_row;
        if (ch[GT_LOG] >= 0) o[ch[GT_LOG]] = lyy + lxx;
        if (ch[GT_GGM] >= 0) {
            float v = gy * gy;
            v += gx * gx;
            o[ch[GT_GGM]] = sqrtf(v);
        }
        if (ch[GT_DOG] >= 0) o[ch[GT_DOG]] = s_row - nrw;
        if (want_h) {
            float e0, e1;
            gt_eig2(lyy, hxy, lxx, &e0, &e1);
            o[ch[GT_HESS0]] = e0;
            o[ch[GT_HESS1]] = e1;
        }
    }
    if (want_t) {
        for (int e = tid; e < th1 * tw1; e += nt) {
            int li = e / tw1, k = tx0 + e % tw1;
            float g_y = gt_taps(G + li * gw, 1, k, gx0, nx, wx + GT_INNER0 * wlen, rxf[GT_INNER0], 1);
            float g_x = gt_taps(G + gs + li * gw, 1, k, gx0, nx, wx + GT_INNER1 * wlen, rxf[GT_INNER1], -1);
            T[e] = g_y * g_y;
            T[gs + e] = g_y * g_x;
            T[2 * gs + e] = g_x * g_x;
        }
    }
    __syncthreads();

    // the tensor's outer smoothing along y (rows [y0, y1) x columns [tx0, tx1)), then x
    if (want_t) {
        for (int e = tid; e < th * tw1; e += nt) {
            int i = y0 + e / tw1, lk = e % tw1;
            for (int c = 0; c < 3; ++c)
                Q[c * ys + e] = gt_taps(T + c * gs + lk, tw1, i, ty0, ny, wy + GT_OP0 * wlen, r0y, 1);
        }
    }
    __syncthreads();
    if (want_t) {
        for (int e = tid; e < th * tw; e += nt) {
            int li = e / tw, k = x0 + e % tw;
            float t[3];
            for (int c = 0; c < 3; ++c)
                t[c] = gt_taps(Q + c * ys + li * tw1, 1, k, tx0, nx, wx + GT_OP0 * wlen, r0x, 1);
            float e0, e1;
            gt_eig2(t[0], t[1], t[2], &e0, &e1);
            auto o = out + obase + (long long)(y0 + li - cy0) * orow + (long long)(k - cx0) * n_out;
            o[ch[GT_ST0]] = e0;
            o[ch[GT_ST1]] = e1;
        }
    }
}
