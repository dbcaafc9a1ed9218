// Connected-component labelling by parallel union-find (face connectivity).
//
// Two face neighbours belong to the same component iff both carry the same non-zero
// value (a binary mask is the special case of one value). Every component ends up
// pointing at its root, which is the smallest flat (raster, C-order z-y-x) index of the
// component: unions always hang the larger root below the smaller one (atomicMin), so the
// final forest does not depend on the order in which threads run. The host then numbers
// the roots 1, 2, ... in raster order, i.e. in order of first occurrence.
//
// CPU twin: gputrack/segment/labeling.py (_ccl_twin, numba), same three steps.
//
// Entry points (templates, instantiated through name_expressions):
//   ccl_init<T>(img, parent, n)              parent[i] = i for foreground, -1 for background
//   ccl_merge<T>(img, parent, nz, ny, nx)    unite each pixel with its -x, -y, -z neighbours
//   ccl_compress(parent, n)                  parent[i] = root(i)

__device__ __forceinline__ int ccl_find(const int* parent, int a)
{
    int p = parent[a];
    while (p != a) {
        a = p;
        p = parent[a];
    }
    return a;
}

__device__ __forceinline__ void ccl_unite(int* parent, int a, int b)
{
    bool done = false;
    while (!done) {
        a = ccl_find(parent, a);
        b = ccl_find(parent, b);
        if (a < b) {
            int old = atomicMin(&parent[b], a);
            done = (old == b);
            b = old;
        } else if (b < a) {
            int old = atomicMin(&parent[a], b);
            done = (old == a);
            a = old;
        } else {
            done = true;
        }
    }
}

template <typename T>
__global__ void ccl_init(const T* img, int* parent, long long n)
{
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    parent[i] = (img[i] != (T)0) ? (int)i : -1;
}

template <typename T>
__global__ void ccl_merge(const T* img, int* parent, int nz, int ny, int nx)
{
    long long n = (long long)nz * ny * nx;
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    T v = img[i];
    if (v == (T)0) return;
    long long plane = (long long)ny * nx;
    int x = (int)(i % nx);
    int y = (int)((i / nx) % ny);
    int z = (int)(i / plane);
    int me = (int)i;
    if (x > 0 && img[i - 1] == v) ccl_unite(parent, me, me - 1);
    if (y > 0 && img[i - nx] == v) ccl_unite(parent, me, me - nx);
    if (z > 0 && img[i - plane] == v) ccl_unite(parent, me, (int)(i - plane));
}

extern "C" __global__ void ccl_compress(int* parent, long long n)
{
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    int p = parent[i];
    if (p < 0) return;
    parent[i] = ccl_find(parent, (int)i);
}

// explicit instantiations so that nvcc -ptx checks them too
template __global__ void ccl_init<unsigned char>(const unsigned char*, int*, long long);
template __global__ void ccl_init<unsigned short>(const unsigned short*, int*, long long);
template __global__ void ccl_init<unsigned int>(const unsigned int*, int*, long long);
template __global__ void ccl_init<unsigned long long>(const unsigned long long*, int*, long long);
template __global__ void ccl_merge<unsigned char>(const unsigned char*, int*, int, int, int);
template __global__ void ccl_merge<unsigned short>(const unsigned short*, int*, int, int, int);
template __global__ void ccl_merge<unsigned int>(const unsigned int*, int*, int, int, int);
template __global__ void ccl_merge<unsigned long long>(const unsigned long long*, int*, int, int, int);
