/* crash: the cheapest hostile plugin. Its instances start in microseconds
 * (no language runtime), so that thousands of failures can be measured:
 * ppa_train traps, ppa_predict never returns. Freestanding C, no libc;
 * rebuild with ./build.sh. */

typedef unsigned int u32;
typedef unsigned long long u64;

#define EXPORT(name) __attribute__((export_name(name)))

static const char DESCRIPTION[] =
    "\0\0\0\0" /* status OK */
    "{\"name\":\"crash\",\"version\":\"1.0.0\","
    "\"description\":\"traps in train and loops forever in predict (a test guest)\","
    "\"parameters\":[],\"capabilities\":{\"intervals\":false,\"min_points\":1}}";

static unsigned char arena[1 << 16];
static u32 top;

EXPORT("ppa_abi_version") int ppa_abi_version(void) { return 0x00010000; }

EXPORT("ppa_alloc") u32 ppa_alloc(u32 size) {
    if (size > sizeof arena - top) return 0;
    u32 p = (u32)(unsigned long)&arena[top];
    top += (size + 7) & ~7u;
    return p;
}

EXPORT("ppa_free") void ppa_free(u32 ptr, u32 size) {
    (void)ptr;
    (void)size;
    top = 0;
}

EXPORT("ppa_describe") u64 ppa_describe(void) {
    return ((u64)(u32)(unsigned long)DESCRIPTION << 32) | (sizeof DESCRIPTION - 1);
}

EXPORT("ppa_train") u64 ppa_train(u32 ptr, u32 len) {
    (void)ptr;
    (void)len;
    __builtin_trap();
}

EXPORT("ppa_predict") u64 ppa_predict(u32 ptr, u32 len) {
    volatile u32 spin = ptr + len;
    for (;;) spin++;
}
