/*
 * ses-c: a PPA forecaster plugin written in C against the ABI directly
 * (abi/SPEC.md), with no SDK and no C library.
 *
 * Method: simple exponential smoothing. The level starts at the first
 * observed value and moves towards each new observation by alpha times the
 * one-step error. The forecast for any time is the final level. Intervals
 * are the empirical quantiles (at (1 - w)/2 and (1 + w)/2, w being
 * interval_width) of the one-step errors, clamped to contain 0, and scaled
 * for a forecast h steps past the end of training by
 * sqrt(1 + (h - 1) * alpha^2), the standard SES variance growth. The step
 * is the median gap between timestamps.
 *
 * Memory: an arena. Allocation bumps a pointer, growing linear memory when
 * needed. ppa_alloc (request buffers) and result buffers count as live;
 * ppa_free decrements the count and, when nothing is live any more (after
 * the host has freed the request and the result of a call), the arena
 * starts over, dropping the call's scratch space with it. Calls are never
 * concurrent, so nothing else needs bookkeeping.
 *
 * Build: ./build.sh (clang --target=wasm32 -nostdlib).
 */

typedef unsigned char u8;
typedef unsigned int u32;
typedef int i32;
typedef unsigned long long u64;
typedef long long i64;
typedef unsigned long size_t;

#define EXPORT(name) __attribute__((export_name(name)))

enum {
    STATUS_OK = 0,
    STATUS_INVALID_ARGUMENT = 1,
    STATUS_INSUFFICIENT_DATA = 2,
    STATUS_INVALID_MODEL = 3,
    STATUS_UNSUPPORTED = 4,
    STATUS_INTERNAL = 5,
};

#define ABI_VERSION 0x00010000 /* 1.0.0 */
#define MIN_POINTS 3
#define DEFAULT_ALPHA 0.5
#define DEFAULT_WIDTH 0.8

static const char DESCRIPTION[] =
    "{\"name\":\"ses-c\",\"version\":\"1.0.0\","
    "\"description\":\"Simple exponential smoothing, written in C against the ABI with no SDK "
    "and no libc (an example plugin).\","
    "\"parameters\":["
    "{\"name\":\"alpha\",\"type\":\"float\",\"default\":0.5,"
    "\"description\":\"smoothing factor in (0, 1]: weight of the newest observation\"},"
    "{\"name\":\"interval_width\",\"type\":\"float\",\"default\":0.8,"
    "\"description\":\"probability mass of the prediction interval, in (0, 1)\"}],"
    "\"capabilities\":{\"intervals\":true,\"min_points\":3}}";

/* ---- freestanding helpers the compiler may call ---- */

void *memcpy(void *dst, const void *src, size_t n) {
    u8 *d = dst;
    const u8 *s = src;
    while (n--) *d++ = *s++;
    return dst;
}

void *memset(void *dst, int c, size_t n) {
    u8 *d = dst;
    while (n--) *d++ = (u8)c;
    return dst;
}

static size_t str_len(const char *s) {
    size_t n = 0;
    while (s[n]) n++;
    return n;
}

static int is_nan(double x) { return x != x; }
static int is_inf(double x) { return !is_nan(x) && is_nan(x - x); }

/* ---- arena allocator ---- */

extern u8 __heap_base;
static u32 arena_top;
static u32 arena_live;

/* bump takes size bytes from the arena without counting them as live:
 * scratch space of the current call. */
static u32 bump(u32 size) {
    if (arena_top == 0) arena_top = (u32)&__heap_base;
    u32 p = (arena_top + 7u) & ~7u;
    u64 end = (u64)p + (u64)(size ? size : 1);
    u64 have = (u64)__builtin_wasm_memory_size(0) * 65536u;
    if (end > have) {
        u64 pages = (end - have + 65535u) / 65536u;
        if (__builtin_wasm_memory_grow(0, (size_t)pages) == (size_t)-1) return 0;
    }
    arena_top = (u32)end;
    return p;
}

/* ppa_alloc hands out a buffer the host will pass to ppa_free: a request
 * buffer or (through buf_init) a result. */
EXPORT("ppa_alloc") u32 ppa_alloc(u32 size) {
    u32 p = bump(size);
    if (p) arena_live++;
    return p;
}

EXPORT("ppa_free") void ppa_free(u32 ptr, u32 size) {
    (void)size;
    if (ptr == 0 || arena_live == 0) return;
    if (--arena_live == 0) arena_top = (u32)&__heap_base;
}

static void *scratch(u32 size) { return (void *)(size_t)bump(size); }

/* ---- result buffers ---- */

typedef struct {
    u8 *p;
    u32 len, cap;
} buf;

/* buf_init allocates a result buffer, which the host frees. */
static int buf_init(buf *b, u32 cap) {
    b->p = (u8 *)(size_t)ppa_alloc(cap);
    b->len = 0;
    b->cap = cap;
    return b->p != 0;
}

static void put(buf *b, const void *src, u32 n) {
    if (b->len + n > b->cap) return; /* callers size buffers exactly */
    memcpy(b->p + b->len, src, n);
    b->len += n;
}

static void put_u32(buf *b, u32 v) { put(b, &v, 4); }
static void put_f64(buf *b, double v) { put(b, &v, 8); }
static void put_str(buf *b, const char *s) { put(b, s, (u32)str_len(s)); }

static u64 pack(buf *b) { return ((u64)(u32)(size_t)b->p << 32) | b->len; }

/* error_result returns a result buffer with a non-OK status and a message
 * made of up to three pieces. */
static u64 error_result(u32 status, const char *a, const char *b, const char *c) {
    buf r;
    u32 n = (u32)(str_len(a) + (b ? str_len(b) : 0) + (c ? str_len(c) : 0));
    if (!buf_init(&r, 4 + n)) return 0;
    put_u32(&r, status);
    put_str(&r, a);
    if (b) put_str(&r, b);
    if (c) put_str(&r, c);
    return pack(&r);
}

/* ---- request reading ---- */

typedef struct {
    const u8 *p;
    u32 len, off;
    int bad;
} reader;

static u32 rd_u32(reader *r) {
    u32 v = 0;
    if (r->bad || r->len - r->off < 4) {
        r->bad = 1;
        return 0;
    }
    memcpy(&v, r->p + r->off, 4);
    r->off += 4;
    return v;
}

/* rd_span returns a pointer to count*width bytes and advances. */
static const u8 *rd_span(reader *r, u32 count, u32 width) {
    u64 n = (u64)count * width;
    if (r->bad || n > (u64)(r->len - r->off)) {
        r->bad = 1;
        return 0;
    }
    const u8 *p = r->p + r->off;
    r->off += (u32)n;
    return p;
}

static i64 ld_i64(const u8 *p, u32 i) {
    i64 v;
    memcpy(&v, p + 8 * i, 8);
    return v;
}

static double ld_f64(const u8 *p, u32 i) {
    double v;
    memcpy(&v, p + 8 * i, 8);
    return v;
}

/* ---- a small JSON reader for the request metadata ---- */

typedef struct {
    const u8 *p;
    u32 len, off;
} json;

enum { J_ERR, J_NUMBER, J_STRING, J_BOOL, J_NULL, J_OBJECT, J_ARRAY };

static void j_ws(json *j) {
    while (j->off < j->len) {
        u8 c = j->p[j->off];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        j->off++;
    }
}

static int j_peek(json *j) {
    j_ws(j);
    return j->off < j->len ? j->p[j->off] : -1;
}

static int j_lit(json *j, const char *s) {
    u32 n = (u32)str_len(s);
    if (j->len - j->off < n) return 0;
    for (u32 i = 0; i < n; i++)
        if (j->p[j->off + i] != (u8)s[i]) return 0;
    j->off += n;
    return 1;
}

/* j_string reads a string into out (at most cap-1 bytes kept, NUL
 * terminated; escapes are kept verbatim). Returns 0 on a syntax error. */
static int j_string(json *j, char *out, u32 cap) {
    u32 n = 0;
    if (j_peek(j) != '"') return 0;
    j->off++;
    while (j->off < j->len) {
        u8 c = j->p[j->off++];
        if (c == '"') {
            if (out) out[n] = 0;
            return 1;
        }
        if (c == '\\') {
            if (j->off >= j->len) return 0;
            if (out && n + 1 < cap) out[n++] = (char)c;
            c = j->p[j->off++];
        }
        if (out && n + 1 < cap) out[n++] = (char)c;
    }
    return 0;
}

static int j_number(json *j, double *out) {
    int neg = 0, digits = 0, exp = 0, eneg = 0, e = 0;
    u64 mant = 0;
    if (j->off < j->len && j->p[j->off] == '-') neg = 1, j->off++;
    while (j->off < j->len && j->p[j->off] >= '0' && j->p[j->off] <= '9') {
        if (mant < 100000000000000000ULL) mant = mant * 10 + (j->p[j->off] - '0');
        else exp++;
        j->off++, digits++;
    }
    if (j->off < j->len && j->p[j->off] == '.') {
        j->off++;
        while (j->off < j->len && j->p[j->off] >= '0' && j->p[j->off] <= '9') {
            if (mant < 100000000000000000ULL) mant = mant * 10 + (j->p[j->off] - '0'), exp--;
            j->off++, digits++;
        }
    }
    if (!digits) return 0;
    if (j->off < j->len && (j->p[j->off] == 'e' || j->p[j->off] == 'E')) {
        j->off++;
        if (j->off < j->len && (j->p[j->off] == '+' || j->p[j->off] == '-')) eneg = j->p[j->off++] == '-';
        if (j->off >= j->len || j->p[j->off] < '0' || j->p[j->off] > '9') return 0;
        while (j->off < j->len && j->p[j->off] >= '0' && j->p[j->off] <= '9') {
            if (e < 10000) e = e * 10 + (j->p[j->off] - '0');
            j->off++;
        }
    }
    exp += eneg ? -e : e;
    double v = (double)mant, p10 = 1;
    int a = exp < 0 ? -exp : exp;
    if (a > 400) a = 400;
    while (a--) p10 *= 10;
    v = exp < 0 ? v / p10 : v * p10;
    *out = neg ? -v : v;
    return 1;
}

/* j_value reads any value; for numbers it stores the value in num. */
static int j_value(json *j, double *num, int depth) {
    int c = j_peek(j);
    if (depth > 64) return J_ERR;
    if (c == '"') return j_string(j, 0, 0) ? J_STRING : J_ERR;
    if (c == '-' || (c >= '0' && c <= '9')) {
        double v;
        if (!j_number(j, &v)) return J_ERR;
        if (num) *num = v;
        return J_NUMBER;
    }
    if (c == 't') return j_lit(j, "true") ? J_BOOL : J_ERR;
    if (c == 'f') return j_lit(j, "false") ? J_BOOL : J_ERR;
    if (c == 'n') return j_lit(j, "null") ? J_NULL : J_ERR;
    if (c == '[' || c == '{') {
        int obj = c == '{';
        j->off++;
        if (j_peek(j) == (obj ? '}' : ']')) {
            j->off++;
            return obj ? J_OBJECT : J_ARRAY;
        }
        for (;;) {
            if (obj) {
                if (!j_string(j, 0, 0) || j_peek(j) != ':') return J_ERR;
                j->off++;
            }
            if (j_value(j, 0, depth + 1) == J_ERR) return J_ERR;
            c = j_peek(j);
            j->off++;
            if (c == ',') continue;
            if (c == (obj ? '}' : ']')) return obj ? J_OBJECT : J_ARRAY;
            return J_ERR;
        }
    }
    return J_ERR;
}

static int str_eq(const char *a, const char *b) {
    while (*a && *a == *b) a++, b++;
    return *a == *b;
}

typedef struct {
    double alpha, width;
} params;

/* parse_meta reads {"params":{...},"seed":N}; on error it returns a
 * result buffer, else 0. */
static u64 parse_meta(const u8 *p, u32 len, params *ps) {
    json j = {p, len, 0};
    char key[64];
    ps->alpha = DEFAULT_ALPHA;
    ps->width = DEFAULT_WIDTH;
    if (len == 0) return 0;
    if (j_peek(&j) != '{') goto syntax;
    j.off++;
    if (j_peek(&j) == '}') return 0;
    for (;;) {
        if (!j_string(&j, key, sizeof key) || j_peek(&j) != ':') goto syntax;
        j.off++;
        if (str_eq(key, "params") && j_peek(&j) == '{') {
            j.off++;
            if (j_peek(&j) == '}') {
                j.off++;
            } else {
                for (;;) {
                    char name[64];
                    double v = 0;
                    if (!j_string(&j, name, sizeof name) || j_peek(&j) != ':') goto syntax;
                    j.off++;
                    int t = j_value(&j, &v, 0);
                    if (t == J_ERR) goto syntax;
                    if (str_eq(name, "alpha") || str_eq(name, "interval_width")) {
                        if (t == J_NUMBER) {
                            if (name[0] == 'a') ps->alpha = v;
                            else ps->width = v;
                        } else if (t != J_NULL) {
                            return error_result(STATUS_INVALID_ARGUMENT, "parameter \"", name, "\": want a number");
                        }
                    } else {
                        return error_result(STATUS_INVALID_ARGUMENT, "parameter \"", name,
                                            "\": unknown to plugin ses-c (known: alpha, interval_width)");
                    }
                    int c = j_peek(&j);
                    j.off++;
                    if (c == '}') break;
                    if (c != ',') goto syntax;
                }
            }
        } else if (j_value(&j, 0, 0) == J_ERR) {
            goto syntax;
        }
        int c = j_peek(&j);
        j.off++;
        if (c == '}') break;
        if (c != ',') goto syntax;
    }
    if (!(ps->alpha > 0 && ps->alpha <= 1))
        return error_result(STATUS_INVALID_ARGUMENT, "parameter \"alpha\": not in (0, 1]", 0, 0);
    if (!(ps->width > 0 && ps->width < 1))
        return error_result(STATUS_INVALID_ARGUMENT, "parameter \"interval_width\": not in (0, 1)", 0, 0);
    return 0;
syntax:
    return error_result(STATUS_INVALID_ARGUMENT, "request metadata is not valid JSON", 0, 0);
}

/* check_columns returns an error result when the request carries columns
 * (or is malformed there), else 0. */
static u64 check_columns(reader *r) {
    u32 n = rd_u32(r);
    if (r->bad) return error_result(STATUS_INVALID_ARGUMENT, "request ends before its column count", 0, 0);
    if (n > 0) return error_result(STATUS_UNSUPPORTED, "columns: ses-c uses no extra columns", 0, 0);
    if (r->off != r->len) return error_result(STATUS_INVALID_ARGUMENT, "unexpected bytes after the last field", 0, 0);
    return 0;
}

/* ---- sorting and quantiles ---- */

static void sift(double *a, u32 i, u32 n) {
    for (;;) {
        u32 l = 2 * i + 1, m = i;
        if (l < n && a[l] > a[m]) m = l;
        if (l + 1 < n && a[l + 1] > a[m]) m = l + 1;
        if (m == i) return;
        double t = a[i];
        a[i] = a[m], a[m] = t, i = m;
    }
}

static void heapsort(double *a, u32 n) {
    for (u32 i = n / 2; i-- > 0;) sift(a, i, n);
    for (u32 k = n; k-- > 1;) {
        double t = a[0];
        a[0] = a[k], a[k] = t;
        sift(a, 0, k);
    }
}

/* quantile of sorted a by linear interpolation (type 7). */
static double quantile(const double *a, u32 n, double q) {
    if (n == 1) return a[0];
    double h = q * (double)(n - 1);
    u32 lo = (u32)h;
    if (lo >= n - 1) return a[n - 1];
    return a[lo] + (h - (double)lo) * (a[lo + 1] - a[lo]);
}

/* ---- the model ---- */

#define MODEL_MAGIC 0x63736573u /* "sesc" */
#define MODEL_VERSION 1u
#define MODEL_SIZE 56u

typedef struct {
    double level, alpha, qlo, qhi;
    i64 last, step;
} model;

/* ---- exports ---- */

EXPORT("ppa_abi_version") i32 ppa_abi_version(void) { return ABI_VERSION; }

EXPORT("ppa_describe") u64 ppa_describe(void) {
    buf r;
    u32 n = (u32)str_len(DESCRIPTION);
    if (!buf_init(&r, 4 + n)) return 0;
    put_u32(&r, STATUS_OK);
    put(&r, DESCRIPTION, n);
    return pack(&r);
}

EXPORT("ppa_train") u64 ppa_train(const u8 *req, u32 len) {
    reader r = {req, len, 0, 0};
    params ps;
    u32 mlen = rd_u32(&r);
    const u8 *meta = rd_span(&r, mlen, 1);
    u32 nt = rd_u32(&r);
    const u8 *ts = rd_span(&r, nt, 8);
    u32 nv = rd_u32(&r);
    const u8 *vs = rd_span(&r, nv, 8);
    if (r.bad) return error_result(STATUS_INVALID_ARGUMENT, "train request is truncated", 0, 0);
    if (nt != nv) return error_result(STATUS_INVALID_ARGUMENT, "timestamps and values differ in count", 0, 0);
    u64 err = parse_meta(meta, mlen, &ps);
    if (err) return err;
    if ((err = check_columns(&r))) return err;

    u32 observed = 0;
    for (u32 i = 0; i < nt; i++) {
        double y = ld_f64(vs, i);
        if (i > 0 && ld_i64(ts, i) <= ld_i64(ts, i - 1))
            return error_result(STATUS_INVALID_ARGUMENT, "timestamps: not strictly ascending", 0, 0);
        if (is_inf(y)) return error_result(STATUS_INVALID_ARGUMENT, "values: infinite value", 0, 0);
        if (!is_nan(y)) observed++;
    }
    if (observed < MIN_POINTS)
        return error_result(STATUS_INSUFFICIENT_DATA, "fewer than 3 observed points", 0, 0);

    /* Median gap between consecutive timestamps. */
    double *gaps = scratch(8 * (nt - 1));
    double *errs = scratch(8 * observed);
    if (!gaps || !errs) return error_result(STATUS_INTERNAL, "out of memory", 0, 0);
    for (u32 i = 1; i < nt; i++) gaps[i - 1] = (double)(ld_i64(ts, i) - ld_i64(ts, i - 1));
    heapsort(gaps, nt - 1);
    model m;
    m.step = (i64)gaps[(nt - 1) / 2];
    m.alpha = ps.alpha;

    /* Smooth, collecting one-step errors. */
    u32 ne = 0;
    int started = 0;
    for (u32 i = 0; i < nt; i++) {
        double y = ld_f64(vs, i);
        if (is_nan(y)) continue;
        if (!started) {
            m.level = y, started = 1;
        } else {
            double e = y - m.level;
            errs[ne++] = e;
            m.level += ps.alpha * e;
        }
        m.last = ld_i64(ts, i);
    }
    heapsort(errs, ne);
    m.qlo = quantile(errs, ne, (1 - ps.width) / 2);
    m.qhi = quantile(errs, ne, (1 + ps.width) / 2);
    if (m.qlo > 0) m.qlo = 0;
    if (m.qhi < 0) m.qhi = 0;

    buf out;
    if (!buf_init(&out, 4 + 4 + 2 + 4 + MODEL_SIZE)) return error_result(STATUS_INTERNAL, "out of memory", 0, 0);
    put_u32(&out, STATUS_OK);
    put_u32(&out, 2);
    put_str(&out, "{}");
    put_u32(&out, MODEL_SIZE);
    put_u32(&out, MODEL_MAGIC);
    put_u32(&out, MODEL_VERSION);
    put_f64(&out, m.level);
    put_f64(&out, m.alpha);
    put_f64(&out, m.qlo);
    put_f64(&out, m.qhi);
    put(&out, &m.last, 8);
    put(&out, &m.step, 8);
    return pack(&out);
}

EXPORT("ppa_predict") u64 ppa_predict(const u8 *req, u32 len) {
    reader r = {req, len, 0, 0};
    u32 mlen = rd_u32(&r);
    rd_span(&r, mlen, 1); /* metadata: only the seed, which SES does not use */
    u32 blen = rd_u32(&r);
    const u8 *mb = rd_span(&r, blen, 1);
    u32 nt = rd_u32(&r);
    const u8 *ts = rd_span(&r, nt, 8);
    if (r.bad) return error_result(STATUS_INVALID_ARGUMENT, "predict request is truncated", 0, 0);
    u64 err = check_columns(&r);
    if (err) return err;

    model m;
    u32 magic, version;
    if (blen != MODEL_SIZE) return error_result(STATUS_INVALID_MODEL, "model: wrong size for a ses-c model", 0, 0);
    memcpy(&magic, mb, 4);
    memcpy(&version, mb + 4, 4);
    if (magic != MODEL_MAGIC) return error_result(STATUS_INVALID_MODEL, "model: not a ses-c model", 0, 0);
    if (version != MODEL_VERSION) return error_result(STATUS_INVALID_MODEL, "model: unsupported format version", 0, 0);
    memcpy(&m.level, mb + 8, 8);
    memcpy(&m.alpha, mb + 16, 8);
    memcpy(&m.qlo, mb + 24, 8);
    memcpy(&m.qhi, mb + 32, 8);
    memcpy(&m.last, mb + 40, 8);
    memcpy(&m.step, mb + 48, 8);
    if (is_nan(m.level) || is_inf(m.level) || !(m.alpha > 0 && m.alpha <= 1) || !(m.qlo <= 0) ||
        !(m.qhi >= 0) || is_inf(m.qlo) || is_inf(m.qhi) || m.step <= 0)
        return error_result(STATUS_INVALID_MODEL, "model: fields out of range", 0, 0);

    buf out;
    if (!buf_init(&out, 4 + 4 + 2 + 3 * (4 + 8 * nt))) return error_result(STATUS_INTERNAL, "out of memory", 0, 0);
    put_u32(&out, STATUS_OK);
    put_u32(&out, 2);
    put_str(&out, "{}");
    for (int part = 0; part < 3; part++) {
        put_u32(&out, nt);
        for (u32 i = 0; i < nt; i++) {
            double v = m.level;
            if (part > 0) {
                i64 ahead = ld_i64(ts, i) - m.last;
                double h = ahead <= 0 ? 1 : __builtin_ceil((double)ahead / (double)m.step);
                double scale = __builtin_sqrt(1 + (h - 1) * m.alpha * m.alpha);
                v += (part == 1 ? m.qlo : m.qhi) * scale;
            }
            put_f64(&out, v);
        }
    }
    return pack(&out);
}
