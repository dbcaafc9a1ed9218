// CUDA on the host: the compatibility layer that kernels/*.cu are compiled against by g++.
//
// Every CUDA thread of a launch runs as one fiber on the calling OS thread (ucontext; on
// x86-64 with a faster stack switch, see "fiber contexts").
// Fibers are scheduled cooperatively by gpt::Launch:
//   serial      blocks one after another in raster order, the threads of a block in order;
//               each thread runs until it reaches __syncthreads (a real barrier) or exits.
//   random      up to `resident` blocks at once; at every atomic, every barrier and (with a
//               probability) every access through a kernel pointer parameter, the running
//               thread may yield and a seeded random ready thread of any resident block runs.
// Pointer parameters of __global__ functions are rewritten (by runtime.py) to gpt::gptr<T>:
// bounds-checked, and `p[i] += v` is load / yield / store, so a non-atomic update of shared
// data loses updates under random scheduling as it would on a GPU.
// __shared__ memory is per block and filled with 0xff bytes (NaN, -1) when a block starts.
#pragma once

#include <math.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>

#include <algorithm>
#include <cstdio>
#include <deque>
#include <functional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#define GPT_EXPORT extern "C" __attribute__((visibility("default")))

// ------------------------------------------------------------------ qualifiers
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
#define __constant__ static

// ------------------------------------------------------------------ vector types
struct dim3 {
    unsigned int x, y, z;
    constexpr dim3(unsigned int x_ = 1, unsigned int y_ = 1, unsigned int z_ = 1) : x(x_), y(y_), z(z_) {}
};
#define GPT_VEC(T, N2, N3, N4)                                                   \
    struct N2 { T x, y; };                                                       \
    struct N3 { T x, y, z; };                                                    \
    struct alignas(4 * sizeof(T) <= 16 ? 4 * sizeof(T) : 16) N4 { T x, y, z, w; }; \
    inline N2 make_##N2(T x, T y) { return N2{x, y}; }                           \
    inline N3 make_##N3(T x, T y, T z) { return N3{x, y, z}; }                   \
    inline N4 make_##N4(T x, T y, T z, T w) { return N4{x, y, z, w}; }
GPT_VEC(int, int2, int3, int4)
GPT_VEC(unsigned int, uint2, uint3, uint4)
GPT_VEC(float, float2, float3, float4)
GPT_VEC(double, double2, double3, double4)
#undef GPT_VEC

namespace gpt {

// ------------------------------------------------------------------ errors, random numbers
struct Fault : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct Rng {  // splitmix64
    uint64_t s;
    uint64_t next() {
        uint64_t z = (s += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    uint64_t below(uint64_t n) { return next() % n; }
};

// ------------------------------------------------------------------ fiber contexts
// ucontext (makecontext / swapcontext) everywhere; on x86-64 a stack switch that saves only
// the callee-saved registers and the FP control words replaces swapcontext, which makes two
// sigprocmask system calls per switch (about 10x faster launches). -DGPT_UCONTEXT forces
// ucontext (runtime.py: GPUTRACK_EMULATION_FIBERS=ucontext).
#if defined(__x86_64__) && !defined(GPT_UCONTEXT)
#define GPT_FAST_SWITCH 1
extern "C" void gpt_switch_stack(void** save_sp, void* load_sp);
asm(R"(
    .text
    .p2align 4
    .globl gpt_switch_stack
    .hidden gpt_switch_stack
    .type gpt_switch_stack,@function
gpt_switch_stack:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $8, %rsp
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    ldmxcsr (%rsp)
    fldcw 4(%rsp)
    addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size gpt_switch_stack, .-gpt_switch_stack
)");
struct Context {
    void* sp = nullptr;
};
#else
struct Context {
    ucontext_t uc;
};
#endif

// ------------------------------------------------------------------ launch state
enum State { NEW, READY, RUNNING, BARRIER, DONE };

struct Fiber {
    Context ctx;
    uint3 tid;
    int slot;
    int state;
    char* stack;
};

struct Slot {  // a resident block
    bool active = false;
    uint3 bid{0, 0, 0};
    int live = 0;       // threads not yet exited
    int arrived = 0;    // threads waiting at the barrier
    int barrier_line = 0;
    std::vector<Fiber*> waiting;
    std::vector<Fiber> fibers;
    char* stacks = nullptr;
    size_t stacks_bytes = 0;
    std::vector<unsigned char> dyn_shared;
    std::vector<unsigned char> static_shared;
    size_t static_used = 0;
    std::vector<std::pair<int, size_t>> static_slots;  // declaration id -> offset
};

struct Range {
    const char* lo;
    const char* hi;
};

struct Config {  // filled by runtime.py (ctypes), layout shared with it
    long long grid[3];
    long long block[3];
    long long shared_bytes;
    long long resident;      // blocks in flight at once (random mode)
    long long random;        // 0 serial, 1 random
    unsigned long long seed;
    long long mem_yield;     // 1/probability of a yield at a pointer access (random mode), 0 = never
    long long rmw_yield;     // 1/probability of a yield inside p[i] op= v
    long long atomic_yield;  // 1/probability of a yield before an atomic
    long long counters[8];   // out: gpt::count(k) totals; [7] = context switches
};

constexpr size_t kStack = 64 * 1024;
constexpr size_t kPage = 4096;
constexpr size_t kStaticShared = 48 * 1024;

struct Launch;
inline thread_local Launch* g_launch = nullptr;

struct Launch {
    Config* cfg;
    dim3 grid, block;
    long long nthreads = 0, nblocks = 0;
    std::vector<Slot> slots;
    std::deque<Fiber*> queue;   // serial
    std::vector<Fiber*> pool;   // random
    std::vector<long long> order;
    long long admitted = 0;
    Context main_ctx;
    Fiber* cur = nullptr;
    Rng rng{0};
    std::function<void()> body;
    std::string error;
    std::vector<Range> ranges;

    bool random() const { return cfg->random != 0; }

    void push(Fiber* f) {
        f->state = f->state == NEW ? NEW : READY;
        if (random())
            pool.push_back(f);
        else
            queue.push_back(f);
    }
    bool empty() const { return random() ? pool.empty() : queue.empty(); }
    Fiber* pick() {
        Fiber* f;
        if (random()) {
            size_t k = (size_t)rng.below(pool.size());
            f = pool[k];
            pool[k] = pool.back();
            pool.pop_back();
        } else {
            f = queue.front();
            queue.pop_front();
        }
        return f;
    }

    void fail(const std::string& msg) {
        if (error.empty()) error = msg;
    }

    std::string where(const Fiber* f) const {
        char buf[160];
        if (!f) return "host";
        const Slot& s = slots[f->slot];
        snprintf(buf, sizeof buf, "block (%u,%u,%u) thread (%u,%u,%u)", s.bid.x, s.bid.y, s.bid.z, f->tid.x,
                 f->tid.y, f->tid.z);
        return buf;
    }
    std::string where() const { return where(cur); }

    static void entry() {
        Launch* L = g_launch;
        try {
            L->body();
        } catch (const std::exception& e) {
            L->fail(L->where() + ": " + e.what());
        } catch (...) {
            L->fail(L->where() + ": unknown exception");
        }
        L->cur->state = DONE;
        transfer(&L->cur->ctx, &L->main_ctx);
    }

    static void transfer(Context* save, Context* load) {
#ifdef GPT_FAST_SWITCH
        gpt_switch_stack(&save->sp, load->sp);
#else
        swapcontext(&save->uc, &load->uc);
#endif
    }

    static void start(Fiber* f) {  // a context that enters entry() on the fiber's own stack
#ifdef GPT_FAST_SWITCH
        uint64_t* sp = (uint64_t*)(f->stack + kStack);  // 16-byte aligned top
        *--sp = 0;                                       // entry()'s return address: never used
        *--sp = (uint64_t)(void (*)())entry;             // where gpt_switch_stack returns to
        for (int r = 0; r < 6; ++r) *--sp = 0;           // rbp rbx r12-r15
        uint32_t ctl[2];
        asm volatile("stmxcsr %0\n\tfnstcw %1" : "=m"(ctl[0]), "=m"(ctl[1]));
        *--sp = (uint64_t)ctl[0] | ((uint64_t)(ctl[1] & 0xffff) << 32);
        f->ctx.sp = sp;
#else
        getcontext(&f->ctx.uc);
        f->ctx.uc.uc_stack.ss_sp = f->stack;
        f->ctx.uc.uc_stack.ss_size = kStack;
        f->ctx.uc.uc_link = nullptr;
        makecontext(&f->ctx.uc, (void (*)())entry, 0);
#endif
    }

    void admit(int s) {
        Slot& slot = slots[s];
        long long b = order.empty() ? admitted : order[admitted];
        admitted++;
        slot.active = true;
        slot.bid = uint3{(unsigned)(b % grid.x), (unsigned)((b / grid.x) % grid.y),
                         (unsigned)(b / ((long long)grid.x * grid.y))};
        slot.live = (int)nthreads;
        slot.arrived = 0;
        slot.waiting.clear();
        memset(slot.dyn_shared.data(), 0xff, slot.dyn_shared.size());
        if (slot.static_used) memset(slot.static_shared.data(), 0xff, slot.static_used);
        slot.static_used = 0;
        slot.static_slots.clear();
        if (slot.fibers.empty()) {
            slot.fibers.resize(nthreads);
            slot.stacks_bytes = nthreads * (kStack + kPage);
            void* m = mmap(nullptr, slot.stacks_bytes, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
            if (m == MAP_FAILED) throw Fault("cannot map fiber stacks");
            slot.stacks = (char*)m;
            for (long long t = 0; t < nthreads; ++t) {
                char* base = slot.stacks + t * (kStack + kPage);
                mprotect(base, kPage, PROT_NONE);  // guard page below each stack
                slot.fibers[t].stack = base + kPage;
            }
        }
        for (long long t = 0; t < nthreads; ++t) {
            Fiber& f = slot.fibers[t];
            f.tid = uint3{(unsigned)(t % block.x), (unsigned)((t / block.x) % block.y),
                          (unsigned)(t / ((long long)block.x * block.y))};
            f.slot = s;
            f.state = NEW;
            push(&f);
        }
    }

    void release(Slot& slot) {
        slot.arrived = 0;
        for (Fiber* f : slot.waiting) push(f);
        slot.waiting.clear();
    }

    void resume(Fiber* f) {
        cur = f;
        if (f->state == NEW) start(f);
        f->state = RUNNING;
        cfg->counters[7]++;
        transfer(&main_ctx, &f->ctx);
        cur = nullptr;
    }

    // the running fiber gives the processor back (state already set)
    void switch_out() {
        Fiber* f = cur;
        transfer(&f->ctx, &main_ctx);
        cur = f;
    }

    void run() {
        grid = dim3((unsigned)cfg->grid[0], (unsigned)cfg->grid[1], (unsigned)cfg->grid[2]);
        block = dim3((unsigned)cfg->block[0], (unsigned)cfg->block[1], (unsigned)cfg->block[2]);
        nthreads = (long long)block.x * block.y * block.z;
        nblocks = (long long)grid.x * grid.y * grid.z;
        rng.s = cfg->seed;
        long long r = random() ? std::max(1LL, std::min(cfg->resident, nblocks)) : 1;
        if (random()) {  // blocks admitted in a seeded random order
            order.resize(nblocks);
            for (long long b = 0; b < nblocks; ++b) order[b] = b;
            for (long long b = nblocks - 1; b > 0; --b) std::swap(order[b], order[rng.below(b + 1)]);
        }
        slots.resize(r);
        for (Slot& s : slots) {
            s.dyn_shared.assign((size_t)cfg->shared_bytes, 0xff);
            s.static_shared.assign(kStaticShared, 0xff);
        }
        for (long long s = 0; s < r && admitted < nblocks; ++s) admit((int)s);
        while (!empty()) {
            Fiber* f = pick();
            resume(f);
            Slot& slot = slots[f->slot];
            if (f->state == READY) {
                push(f);
            } else if (f->state == DONE) {
                slot.live--;
                if (slot.arrived > 0) {
                    char buf[120];
                    snprintf(buf, sizeof buf, "exited while %d threads of its block wait at __syncthreads (line %d)",
                             slot.arrived, slot.barrier_line);
                    fail(where(f) + ": " + buf);
                }
                if (slot.live > 0 && slot.arrived == slot.live) release(slot);
                if (slot.live == 0) {
                    slot.active = false;
                    if (admitted < nblocks) admit(f->slot);
                }
            }
        }
        for (Slot& s : slots)
            if (s.stacks) munmap(s.stacks, s.stacks_bytes);
    }

    // ---- called from fibers
    void maybe_yield(long long inv) {
        if (!random() || inv <= 0 || !cur) return;
        if (inv > 1 && rng.below((uint64_t)inv) != 0) return;
        cur->state = READY;
        switch_out();
    }

    // A barrier must be reached by every thread of the block at the same __syncthreads:
    // one reached after a thread exited, or at another line than the threads waiting,
    // is reported (CUDA leaves both undefined; a GPU may hang or go on).
    void syncthreads(int line) {
        Slot& slot = slots[cur->slot];
        if (slot.live < nthreads) {
            char buf[120];
            snprintf(buf, sizeof buf, "__syncthreads (line %d) reached after %lld threads of the block exited",
                     line, nthreads - slot.live);
            throw Fault(buf);
        }
        if (slot.arrived == 0) {
            slot.barrier_line = line;
        } else if (line != slot.barrier_line) {
            char buf[120];
            snprintf(buf, sizeof buf, "divergent __syncthreads: line %d while %d threads wait at line %d", line,
                     slot.arrived, slot.barrier_line);
            throw Fault(buf);
        }
        slot.arrived++;
        if (slot.arrived == slot.live) {
            release(slot);
            maybe_yield(1);
            return;
        }
        cur->state = BARRIER;
        slot.waiting.push_back(cur);
        switch_out();
    }

    void check_atomic(const void* p, size_t n) {
        const char* c = (const char*)p;
        for (const Range& r : ranges)
            if (c >= r.lo && c + n <= r.hi) return;
        Slot& slot = slots[cur->slot];
        const char* d = (const char*)slot.dyn_shared.data();
        if (c >= d && c + n <= d + slot.dyn_shared.size()) return;
        const char* st = (const char*)slot.static_shared.data();
        if (c >= st && c + n <= st + slot.static_used) return;
        throw Fault("atomic on an address outside every kernel argument and shared memory");
    }

    void* static_shared(int id, size_t bytes, size_t align) {
        Slot& slot = slots[cur->slot];
        for (auto& kv : slot.static_slots)
            if (kv.first == id) return slot.static_shared.data() + kv.second;
        size_t off = (slot.static_used + align - 1) / align * align;
        if (off + bytes > slot.static_shared.size()) throw Fault("static __shared__ memory exceeds 48 KiB");
        slot.static_slots.emplace_back(id, off);
        slot.static_used = off + bytes;
        return slot.static_shared.data() + off;
    }
};

inline Launch& L() { return *g_launch; }
inline void mem_yield() { Launch* l = g_launch; if (l->cfg->random) l->maybe_yield(l->cfg->mem_yield); }
inline void rmw_yield() { Launch* l = g_launch; if (l->cfg->random) l->maybe_yield(l->cfg->rmw_yield); }
inline void atomic_yield(const void* p, size_t n) {
    Launch* l = g_launch;
    l->check_atomic(p, n);
    if (l->cfg->random) l->maybe_yield(l->cfg->atomic_yield);
}
// test hook: gpt::count(k) adds one to counter k (0..6) of the launch
inline void count(int k) { g_launch->cfg->counters[k & 7]++; }

inline const uint3& thread_idx() { return g_launch->cur->tid; }
inline const uint3& block_idx() { return g_launch->slots[g_launch->cur->slot].bid; }

template <class T>
T* dynamic_shared() { return (T*)L().slots[L().cur->slot].dyn_shared.data(); }
template <class T>
T& static_shared(int id) { return *(T*)L().static_shared(id, sizeof(T), alignof(T)); }

// ------------------------------------------------------------------ instrumented pointers
template <class T>
struct gref {  // what gptr<T>[i] returns for arithmetic T
    using V = std::remove_const_t<T>;
    T* p;
    operator V() const { mem_yield(); return *p; }
    T* operator&() const { return p; }
    const gref& operator=(const gref& o) const { V v = o; mem_yield(); *p = v; return *this; }
    template <class U>
    const gref& operator=(U v) const { mem_yield(); *p = (V)v; return *this; }
#define GPT_RMW(OP)                                                        \
    template <class U>                                                     \
    const gref& operator OP##=(U v) const {                                \
        V old = *p;                                                        \
        rmw_yield();                                                       \
        *p = (V)(old OP v);                                                \
        return *this;                                                      \
    }
    GPT_RMW(+) GPT_RMW(-) GPT_RMW(*) GPT_RMW(/) GPT_RMW(%) GPT_RMW(&) GPT_RMW(|) GPT_RMW(^)
    GPT_RMW(<<) GPT_RMW(>>)
#undef GPT_RMW
    const gref& operator++() const { *this += 1; return *this; }
    const gref& operator--() const { *this -= 1; return *this; }
    V operator++(int) const { V old = *p; rmw_yield(); *p = old + 1; return old; }
    V operator--(int) const { V old = *p; rmw_yield(); *p = old - 1; return old; }
};

template <class T>
struct gptr {
    using ref = std::conditional_t<std::is_arithmetic_v<T>, gref<T>, T&>;
    T* p = nullptr;
    const char* lo = nullptr;  // bounds of the argument buffer (bytes); null = unknown
    const char* hi = nullptr;
    int arg = -1;

    gptr() = default;
    gptr(T* p_) : p(p_) {}
    gptr(T* p_, const char* lo_, const char* hi_, int arg_) : p(p_), lo(lo_), hi(hi_), arg(arg_) {}
    template <class U, class = std::enable_if_t<std::is_convertible_v<U*, T*>>>
    gptr(const gptr<U>& o) : p(o.p), lo(o.lo), hi(o.hi), arg(o.arg) {}

    operator T*() const { return p; }
    template <class U, class = std::enable_if_t<!std::is_same_v<std::remove_cv_t<U>, std::remove_cv_t<T>>>>
    explicit operator U*() const { return (U*)p; }

    T* at(long long i) const {
        T* q = p + i;
        if (lo && ((const char*)q < lo || (const char*)(q + 1) > hi)) {
            char buf[200];
            snprintf(buf, sizeof buf, "access out of bounds: argument %d, element %lld of a %lld-element buffer",
                     arg, (long long)((const char*)q - lo) / (long long)sizeof(T),
                     (long long)(hi - lo) / (long long)sizeof(T));
            throw Fault(buf);
        }
        return q;
    }
    template <class I, class = std::enable_if_t<std::is_integral_v<I>>>
    ref operator[](I i) const { return mk(at((long long)i)); }
    ref operator*() const { return mk(at(0)); }
    static ref mk(T* q) {
        if constexpr (std::is_arithmetic_v<T>) return gref<T>{q};
        else return *q;
    }
    T* operator->() const { return at(0); }

    template <class I, class = std::enable_if_t<std::is_integral_v<I>>>
    gptr operator+(I i) const { gptr q = *this; q.p += i; return q; }
    template <class I, class = std::enable_if_t<std::is_integral_v<I>>>
    gptr operator-(I i) const { gptr q = *this; q.p -= i; return q; }
    template <class I, class = std::enable_if_t<std::is_integral_v<I>>>
    friend gptr operator+(I i, const gptr& g) { return g + i; }
    long long operator-(const gptr& o) const { return p - o.p; }
    template <class I, class = std::enable_if_t<std::is_integral_v<I>>>
    gptr& operator+=(I i) { p += i; return *this; }
    template <class I, class = std::enable_if_t<std::is_integral_v<I>>>
    gptr& operator-=(I i) { p -= i; return *this; }
    gptr& operator++() { ++p; return *this; }
    gptr& operator--() { --p; return *this; }
    gptr operator++(int) { gptr q = *this; ++p; return q; }
    gptr operator--(int) { gptr q = *this; --p; return q; }
};
}  // namespace gpt

// ------------------------------------------------------------------ built-in variables
#define threadIdx (::gpt::thread_idx())
#define blockIdx (::gpt::block_idx())
#define blockDim (::gpt::g_launch->block)
#define gridDim (::gpt::g_launch->grid)
#define warpSize 32

#define __syncthreads() (::gpt::L().syncthreads(__LINE__))
inline void __threadfence() { gpt::mem_yield(); }
inline void __threadfence_block() { gpt::mem_yield(); }

// ------------------------------------------------------------------ reinterpretation, loads
inline float __int_as_float(int i) { float f; memcpy(&f, &i, 4); return f; }
inline int __float_as_int(float f) { int i; memcpy(&i, &f, 4); return i; }
inline float __uint_as_float(unsigned int i) { float f; memcpy(&f, &i, 4); return f; }
inline unsigned int __float_as_uint(float f) { unsigned int i; memcpy(&i, &f, 4); return i; }
inline double __longlong_as_double(long long i) { double f; memcpy(&f, &i, 8); return f; }
inline long long __double_as_longlong(double f) { long long i; memcpy(&i, &f, 8); return i; }

template <class T>
inline T __ldg(const T* p) { return *p; }
template <class T>
inline std::remove_const_t<T> __ldg(const gpt::gptr<T>& p) { return *p.at(0); }

// ------------------------------------------------------------------ math (math.h gives the rest)
#define GPT_MINMAX(T)                                   \
    inline T min(T a, T b) { return b < a ? b : a; }    \
    inline T max(T a, T b) { return a < b ? b : a; }
GPT_MINMAX(int)
GPT_MINMAX(unsigned int)
GPT_MINMAX(long long)
GPT_MINMAX(unsigned long long)
GPT_MINMAX(float)
GPT_MINMAX(double)
#undef GPT_MINMAX
inline float __fdividef(float a, float b) { return a / b; }
inline float rsqrtf(float a) { return 1.0f / sqrtf(a); }
inline double rsqrt(double a) { return 1.0 / sqrt(a); }
inline float __saturatef(float a) { return a < 0.0f ? 0.0f : (a > 1.0f ? 1.0f : a); }

// ------------------------------------------------------------------ atomics
// Fibers are cooperative, so an operation between two yields is atomic; the yield before
// it lets another thread run first (random mode).
#define GPT_ATOMIC(NAME, T, EXPR)                          \
    inline T NAME(T* a, T v) {                             \
        gpt::atomic_yield(a, sizeof(T));                   \
        T old = *a;                                        \
        *a = (EXPR);                                       \
        return old;                                        \
    }
#define GPT_ATOMIC_INT(T)                                                  \
    GPT_ATOMIC(atomicAdd, T, (T)(old + v))                                 \
    GPT_ATOMIC(atomicSub, T, (T)(old - v))                                 \
    GPT_ATOMIC(atomicExch, T, v)                                           \
    GPT_ATOMIC(atomicMin, T, v < old ? v : old)                            \
    GPT_ATOMIC(atomicMax, T, v > old ? v : old)                            \
    GPT_ATOMIC(atomicAnd, T, (T)(old & v))                                 \
    GPT_ATOMIC(atomicOr, T, (T)(old | v))                                  \
    GPT_ATOMIC(atomicXor, T, (T)(old ^ v))                                 \
    inline T atomicCAS(T* a, T cmp, T v) {                                 \
        gpt::atomic_yield(a, sizeof(T));                                   \
        T old = *a;                                                        \
        if (old == cmp) *a = v;                                            \
        return old;                                                        \
    }
GPT_ATOMIC_INT(int)
GPT_ATOMIC_INT(unsigned int)
GPT_ATOMIC_INT(long long)
GPT_ATOMIC_INT(unsigned long long)
GPT_ATOMIC(atomicAdd, float, old + v)
GPT_ATOMIC(atomicAdd, double, old + v)
GPT_ATOMIC(atomicExch, float, v)
inline unsigned short atomicCAS(unsigned short* a, unsigned short cmp, unsigned short v) {
    gpt::atomic_yield(a, sizeof(unsigned short));
    unsigned short old = *a;
    if (old == cmp) *a = v;
    return old;
}
inline unsigned int atomicInc(unsigned int* a, unsigned int v) {
    gpt::atomic_yield(a, sizeof(unsigned int));
    unsigned int old = *a;
    *a = old >= v ? 0u : old + 1u;
    return old;
}
inline unsigned int atomicDec(unsigned int* a, unsigned int v) {
    gpt::atomic_yield(a, sizeof(unsigned int));
    unsigned int old = *a;
    *a = (old == 0u || old > v) ? v : old - 1u;
    return old;
}
#undef GPT_ATOMIC_INT
#undef GPT_ATOMIC

// ------------------------------------------------------------------ launch shims
namespace gpt {

template <class T> struct tcode { static constexpr const char* v = nullptr; };
#define GPT_TCODE(T, S) template <> struct tcode<T> { static constexpr const char* v = S; };
GPT_TCODE(bool, "b1")
GPT_TCODE(char, "i1")
GPT_TCODE(signed char, "i1")
GPT_TCODE(unsigned char, "u1")
GPT_TCODE(short, "i2")
GPT_TCODE(unsigned short, "u2")
GPT_TCODE(int, "i4")
GPT_TCODE(unsigned int, "u4")
GPT_TCODE(long, "i8")
GPT_TCODE(unsigned long, "u8")
GPT_TCODE(long long, "i8")
GPT_TCODE(unsigned long long, "u8")
GPT_TCODE(float, "f4")
GPT_TCODE(double, "f8")
GPT_TCODE(int2, "i4x2")
GPT_TCODE(int4, "i4x4")
GPT_TCODE(uint2, "u4x2")
GPT_TCODE(uint4, "u4x4")
GPT_TCODE(float2, "f4x2")
GPT_TCODE(float4, "f4x4")
GPT_TCODE(double2, "f8x2")
#undef GPT_TCODE

template <class P> struct param {  // a scalar parameter, passed by value
    static std::string code() {
        static_assert(tcode<std::remove_cv_t<P>>::v != nullptr, "kernel parameter of an unsupported type");
        return std::string("s:") + tcode<std::remove_cv_t<P>>::v;
    }
    static P get(void* a, int, std::vector<Range>&) {
        std::remove_cv_t<P> v;
        memcpy(&v, a, sizeof(P));
        return v;
    }
};
template <class U> struct param<gptr<U>> {  // a pointer parameter: {data, nbytes}
    static std::string code() {
        static_assert(tcode<std::remove_cv_t<U>>::v != nullptr, "kernel pointer parameter of an unsupported type");
        return std::string(std::is_const_v<U> ? "pc:" : "pm:") + tcode<std::remove_cv_t<U>>::v;
    }
    static gptr<U> get(void* a, int i, std::vector<Range>& ranges) {
        struct Buf { void* data; long long nbytes; };
        Buf b;
        memcpy(&b, a, sizeof b);
        const char* lo = (const char*)b.data;
        ranges.push_back(Range{lo, lo + b.nbytes});
        return gptr<U>((U*)b.data, lo, lo + b.nbytes, i);
    }
};

template <class... P>
std::string signature(void (*)(P...)) {
    std::string s;
    ((s += (s.empty() ? "" : ","), s += param<P>::code()), ...);
    return s;
}

template <class... P, size_t... I>
std::tuple<P...> unpack(void** argv, std::vector<Range>& ranges, std::index_sequence<I...>) {
    return std::tuple<P...>(param<P>::get(argv[I], (int)I, ranges)...);
}

template <class... P>
int launch(void (*f)(P...), Config* cfg, void** argv, char* err, int errlen) {
    Launch L;
    L.cfg = cfg;
    std::string msg;
    try {
        auto args = unpack<P...>(argv, L.ranges, std::index_sequence_for<P...>{});
        L.body = [&]() { std::apply(f, args); };
        g_launch = &L;
        L.run();
        msg = L.error;
    } catch (const std::exception& e) {
        msg = e.what();
    }
    g_launch = nullptr;
    if (msg.empty()) return 0;
    snprintf(err, (size_t)errlen, "%s", msg.c_str());
    return 1;
}

}  // namespace gpt
