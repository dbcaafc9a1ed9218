// Connected-component labelling by parallel union-find (face connectivity).
//
// Two face neighbours belong to the same component iff both carry the same non-zero
// value (a binary mask is the special case of one value). Every component ends up
// pointing at its root, which is the smallest flat (raster, C-order z-y-x) index of the
// component: unions always hang the larger root below the smaller one (atomicMin), so the
// final forest does not depend on the order in which threads run. The host then numbers
// the roots 1, 2, ... in raster order, i.e. in order of first occurrence.
//
// Every parent is smaller than its child (or the node itself, for a root). ccl_find halves
// the path it walks: each visited node is re-pointed at its grandparent with atomicMin, so
// a parent only ever moves to another ancestor of the node (never up, never to another
// component), roots are never written, and a root stored by ccl_compress stays. Concurrent
// finds and unions therefore keep the forest valid, and chains stay short under any
// interleaving.
//
// Indices are I = int for frames below 2**31 pixels and I = long long above.
//
// CPU twin: gputrack/segment/labeling.py (_ccl_twin, numba), same three steps.
//
// Entry points (templates, instantiated through name_expressions, see labeling.py):
//   ccl_init<T, I>(img, parent, n)              parent[i] = i for foreground, -1 for background
//   ccl_merge<T, I>(img, parent, nz, ny, nx)    unite each pixel with its -x, -y, -z neighbours
//   ccl_compress<I>(parent, n)                  parent[i] = root(i)

template <typename I>
__device__ __forceinline__ I ccl_find(I* parent, I a)
{
    I p = parent[a];
    while (p != a) {
        const I g = parent[p];
        if (g == p) {
            return p;
        }
        atomicMin(&parent[a], g);  // halving: a now points at its grandparent
        a = g;
        p = parent[a];
    }
    return a;
}

template <typename I>
__device__ __forceinline__ void ccl_unite(I* parent, I a, I b)
{
    bool done = false;
    while (!done) {
        a = ccl_find(parent, a);
        b = ccl_find(parent, b);
        if (a < b) {
            I old = atomicMin(&parent[b], a);
            done = (old == b);
            b = old;
        } else if (b < a) {
            I old = atomicMin(&parent[a], b);
            done = (old == a);
            a = old;
        } else {
            done = true;
        }
    }
}

template <typename T, typename I>
__global__ void ccl_init(const T* img, I* parent, long long n)
{
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    parent[i] = (img[i] != (T)0) ? (I)i : (I)-1;
}

template <typename T, typename I>
__global__ void ccl_merge(const T* img, I* parent, int nz, int ny, int nx)
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
    const I me = (I)i;
    if (x > 0 && img[i - 1] == v) ccl_unite<I>(parent, me, me - 1);
    if (y > 0 && img[i - nx] == v) ccl_unite<I>(parent, me, (I)(i - nx));
    if (z > 0 && img[i - plane] == v) ccl_unite<I>(parent, me, (I)(i - plane));
}

template <typename I>
__global__ void ccl_compress(I* parent, long long n)
{
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    I p = parent[i];
    if (p < 0) return;
    parent[i] = ccl_find<I>(parent, (I)i);
}
