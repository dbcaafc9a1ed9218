// Closed-form eigenvalues of symmetric 2x2 and 3x3 matrices, one matrix per thread.
//
// Used for ilastik's "Hessian of Gaussian Eigenvalues" and "Structure Tensor
// Eigenvalues" features. Inputs are the independent tensor components as separate
// float32 planes of n elements; outputs are float32 planes, eigenvalues sorted in
// DESCENDING order (out0 >= out1 [>= out2]). Arithmetic is in double precision.
// CPU twin: gputrack/features/eigen.py (_eig2_cpu, _eig3_cpu), same algorithm.
//
// Self-contained for NVRTC (no includes).

extern "C" __global__ void sym_eigvals2(const float* __restrict__ xx,
                                        const float* __restrict__ xy,
                                        const float* __restrict__ yy,
                                        float* __restrict__ out0,
                                        float* __restrict__ out1,
                                        long long n)
{
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    long long step = (long long)blockDim.x * gridDim.x;
    for (; i < n; i += step) {
        double a = xx[i], b = xy[i], c = yy[i];
        double m = 0.5 * (a + c);
        double h = 0.5 * (a - c);
        double d = sqrt(h * h + b * b);
        out0[i] = (float)(m + d);
        out1[i] = (float)(m - d);
    }
}

extern "C" __global__ void sym_eigvals3(const float* __restrict__ a00,
                                        const float* __restrict__ a01,
                                        const float* __restrict__ a02,
                                        const float* __restrict__ a11,
                                        const float* __restrict__ a12,
                                        const float* __restrict__ a22,
                                        float* __restrict__ out0,
                                        float* __restrict__ out1,
                                        float* __restrict__ out2,
                                        long long n)
{
    const double two_pi_3 = 2.0943951023931954923;  // 2*pi/3
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    long long step = (long long)blockDim.x * gridDim.x;
    for (; i < n; i += step) {
        double m00 = a00[i], m01 = a01[i], m02 = a02[i];
        double m11 = a11[i], m12 = a12[i], m22 = a22[i];
        double q = (m00 + m11 + m22) / 3.0;
        double d0 = m00 - q, d1 = m11 - q, d2 = m22 - q;
        double off = m01 * m01 + m02 * m02 + m12 * m12;
        double p2 = d0 * d0 + d1 * d1 + d2 * d2 + 2.0 * off;
        double e0, e1, e2;
        if (p2 <= 0.0) {
            e0 = q; e1 = q; e2 = q;
        } else {
            double p = sqrt(p2 / 6.0);
            double inv = 1.0 / p;
            double b00 = d0 * inv, b11 = d1 * inv, b22 = d2 * inv;
            double b01 = m01 * inv, b02 = m02 * inv, b12 = m12 * inv;
            double det = b00 * (b11 * b22 - b12 * b12)
                       - b01 * (b01 * b22 - b12 * b02)
                       + b02 * (b01 * b12 - b11 * b02);
            double r = 0.5 * det;
            r = r < -1.0 ? -1.0 : (r > 1.0 ? 1.0 : r);
            double phi = acos(r) / 3.0;
            e0 = q + 2.0 * p * cos(phi);
            e2 = q + 2.0 * p * cos(phi + two_pi_3);
            e1 = 3.0 * q - e0 - e2;
            // guard the order against rounding
            if (e1 > e0) { double t = e0; e0 = e1; e1 = t; }
            if (e2 > e1) { double t = e1; e1 = e2; e2 = t; }
            if (e1 > e0) { double t = e0; e0 = e1; e1 = t; }
        }
        out0[i] = (float)e0;
        out1[i] = (float)e1;
        out2[i] = (float)e2;
    }
}
