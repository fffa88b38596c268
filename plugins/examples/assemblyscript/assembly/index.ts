// moving-average-as: a PPA forecaster plugin written in AssemblyScript
// against the ABI directly (abi/SPEC.md), with no SDK.
//
// Method: the forecast for any time is the mean of the last `window`
// observed values of the training series. It gives no intervals.
//
// Memory: the stub runtime's bump allocator used as an arena. ppa_alloc
// (request buffers) and result buffers count as live; ppa_free decrements
// the count and, when nothing is live (after the host freed the request and
// the result of a call), resets the heap, dropping the call's scratch
// objects with it. Calls are never concurrent. Nothing allocated on the
// heap may outlive a call: no global keeps a heap object for a later call.
//
// Build: ./build.sh (asc --runtime stub).

const ABI_VERSION: i32 = 0x00010000; // 1.0.0

const STATUS_OK: u32 = 0;
const STATUS_INVALID_ARGUMENT: u32 = 1;
const STATUS_INSUFFICIENT_DATA: u32 = 2;
const STATUS_INVALID_MODEL: u32 = 3;
const STATUS_UNSUPPORTED: u32 = 4;

const MIN_POINTS: i32 = 1;
const DEFAULT_WINDOW: i32 = 12;
const MAX_WINDOW: f64 = 1e9;

const MODEL_MAGIC: u32 = 0x7361616d; // "maas"
const MODEL_VERSION: u32 = 1;
const MODEL_SIZE: u32 = 16;

const DESCRIPTION =
  '{"name":"moving-average-as","version":"1.0.0",' +
  '"description":"Mean of the last window observed values, written in AssemblyScript against the ABI with no SDK (an example plugin).",' +
  '"parameters":[{"name":"window","type":"int","default":12,' +
  '"description":"number of most recent observed values averaged, at least 1"}],' +
  '"capabilities":{"intervals":false,"min_points":1}}';

// ---- memory ----

let live: i32 = 0;

export function ppa_alloc(size: i32): i32 {
  if (size < 0) return 0;
  live++;
  return <i32>heap.alloc(<usize>max(size, 1));
}

export function ppa_free(ptr: i32, size: i32): void {
  if (ptr == 0 || live == 0) return;
  live--;
  if (live == 0) heap.reset();
}

// ---- results ----

function pack(ptr: i32, len: i32): i64 {
  return (<i64>(<u32>ptr) << 32) | <i64>(<u32>len);
}

function errorResult(status: u32, message: string): i64 {
  const msg = String.UTF8.encode(message);
  const n = msg.byteLength;
  const p = ppa_alloc(4 + n);
  store<u32>(p, status);
  memory.copy(<usize>p + 4, changetype<usize>(msg), <usize>n);
  return pack(p, 4 + n);
}

// ---- request reading ----

class Reader {
  off: i32 = 0;
  bad: bool = false;
  constructor(public ptr: i32, public len: i32) {}

  u32(): u32 {
    if (this.bad || this.len - this.off < 4) {
      this.bad = true;
      return 0;
    }
    const v = load<u32>(this.ptr + this.off);
    this.off += 4;
    return v;
  }

  // span skips count*width bytes and returns their address.
  span(count: u32, width: u32): i32 {
    const n = <u64>count * <u64>width;
    if (this.bad || n > <u64>(this.len - this.off)) {
      this.bad = true;
      return 0;
    }
    const p = this.ptr + this.off;
    this.off += <i32>n;
    return p;
  }
}

// ---- request metadata: {"params":{...},"seed":N} ----

class Json {
  off: i32 = 0;
  constructor(public ptr: i32, public len: i32) {}

  peek(): i32 {
    while (this.off < this.len) {
      const c = load<u8>(this.ptr + this.off);
      if (c != 0x20 && c != 0x09 && c != 0x0a && c != 0x0d) return c;
      this.off++;
    }
    return -1;
  }

  // str reads a string and returns its raw text (escapes kept), or null.
  str(): string | null {
    if (this.peek() != 0x22) return null;
    const start = ++this.off;
    while (this.off < this.len) {
      const c = load<u8>(this.ptr + this.off++);
      if (c == 0x22) return String.UTF8.decodeUnsafe(<usize>(this.ptr + start), <usize>(this.off - 1 - start));
      if (c == 0x5c) this.off++;
    }
    return null;
  }

  // value skips any value. It returns its kind ("number", "string",
  // "bool", "null", "object", "array") or "" on a syntax error, and leaves
  // the text of a number in this.num.
  num: string = "";
  value(depth: i32): string {
    const c = this.peek();
    if (depth > 64) return "";
    if (c == 0x22) return this.str() == null ? "" : "string";
    if (c == 0x2d || (c >= 0x30 && c <= 0x39)) {
      const start = this.off;
      while (this.off < this.len) {
        const d = load<u8>(this.ptr + this.off);
        if (!(d == 0x2d || d == 0x2b || d == 0x2e || d == 0x65 || d == 0x45 || (d >= 0x30 && d <= 0x39))) break;
        this.off++;
      }
      this.num = String.UTF8.decodeUnsafe(<usize>(this.ptr + start), <usize>(this.off - start));
      return "number";
    }
    if (c == 0x74) return this.lit("true") ? "bool" : "";
    if (c == 0x66) return this.lit("false") ? "bool" : "";
    if (c == 0x6e) return this.lit("null") ? "null" : "";
    if (c == 0x5b || c == 0x7b) {
      const obj = c == 0x7b;
      const close = obj ? 0x7d : 0x5d;
      this.off++;
      if (this.peek() == close) {
        this.off++;
        return obj ? "object" : "array";
      }
      for (;;) {
        if (obj) {
          if (this.str() == null || this.peek() != 0x3a) return "";
          this.off++;
        }
        if (this.value(depth + 1) == "") return "";
        const d = this.peek();
        this.off++;
        if (d == 0x2c) continue;
        if (d == close) return obj ? "object" : "array";
        return "";
      }
    }
    return "";
  }

  lit(s: string): bool {
    if (this.len - this.off < s.length) return false;
    for (let i = 0; i < s.length; i++) {
      if (<i32>load<u8>(this.ptr + this.off + i) != s.charCodeAt(i)) return false;
    }
    this.off += s.length;
    return true;
  }
}

// parseWindow returns the window parameter, or a negative number after
// storing an error message in paramError.
let paramError: string = "";

function parseWindow(ptr: i32, len: i32): i32 {
  let window = DEFAULT_WINDOW;
  if (len == 0) return window;
  const j = new Json(ptr, len);
  if (j.peek() != 0x7b) return syntax();
  j.off++;
  if (j.peek() == 0x7d) return window;
  for (;;) {
    const key = j.str();
    if (key == null || j.peek() != 0x3a) return syntax();
    j.off++;
    if (key == "params" && j.peek() == 0x7b) {
      j.off++;
      if (j.peek() == 0x7d) {
        j.off++;
      } else {
        for (;;) {
          const name = j.str();
          if (name == null || j.peek() != 0x3a) return syntax();
          j.off++;
          const kind = j.value(0);
          if (kind == "") return syntax();
          if (name != "window") {
            paramError = 'parameter "' + name + '": unknown to plugin moving-average-as (known: window)';
            return -1;
          }
          if (kind == "number") {
            const v = parseFloat(j.num);
            if (!(v == Math.floor(v)) || v < 1 || v > MAX_WINDOW) {
              paramError = 'parameter "window": want an integer of at least 1, got ' + j.num;
              return -1;
            }
            window = <i32>v;
          } else if (kind != "null") {
            paramError = 'parameter "window": want an integer, got a ' + kind;
            return -1;
          }
          const d = j.peek();
          j.off++;
          if (d == 0x7d) break;
          if (d != 0x2c) return syntax();
        }
      }
    } else if (j.value(0) == "") {
      return syntax();
    }
    const d = j.peek();
    j.off++;
    if (d == 0x7d) break;
    if (d != 0x2c) return syntax();
  }
  return window;
}

function syntax(): i32 {
  paramError = "request metadata is not valid JSON";
  return -1;
}

// columnsError checks the trailing column list: none are understood.
function columnsError(r: Reader): i64 {
  const n = r.u32();
  if (r.bad) return errorResult(STATUS_INVALID_ARGUMENT, "request ends before its column count");
  if (n > 0) return errorResult(STATUS_UNSUPPORTED, "columns: moving-average-as uses no extra columns");
  if (r.off != r.len) return errorResult(STATUS_INVALID_ARGUMENT, "unexpected bytes after the last field");
  return 0;
}

// ---- exports ----

export function ppa_abi_version(): i32 {
  return ABI_VERSION;
}

export function ppa_describe(): i64 {
  const d = String.UTF8.encode(DESCRIPTION);
  const n = d.byteLength;
  const p = ppa_alloc(4 + n);
  store<u32>(p, STATUS_OK);
  memory.copy(<usize>p + 4, changetype<usize>(d), <usize>n);
  return pack(p, 4 + n);
}

export function ppa_train(ptr: i32, len: i32): i64 {
  const r = new Reader(ptr, len);
  const mlen = r.u32();
  const meta = r.span(mlen, 1);
  const nt = r.u32();
  const ts = r.span(nt, 8);
  const nv = r.u32();
  const vs = r.span(nv, 8);
  if (r.bad) return errorResult(STATUS_INVALID_ARGUMENT, "train request is truncated");
  if (nt != nv) return errorResult(STATUS_INVALID_ARGUMENT, "timestamps and values differ in count");
  const window = parseWindow(meta, <i32>mlen);
  if (window < 0) return errorResult(STATUS_INVALID_ARGUMENT, paramError);
  const cerr = columnsError(r);
  if (cerr != 0) return cerr;

  let observed = 0;
  for (let i: i32 = 0; i < <i32>nt; i++) {
    if (i > 0 && load<i64>(ts + 8 * i) <= load<i64>(ts + 8 * (i - 1))) {
      return errorResult(STATUS_INVALID_ARGUMENT, "timestamps[" + i.toString() + "]: not after the previous one");
    }
    const y = load<f64>(vs + 8 * i);
    if (!isFinite(y) && !isNaN(y)) {
      return errorResult(STATUS_INVALID_ARGUMENT, "values[" + i.toString() + "]: infinite");
    }
    if (!isNaN(y)) observed++;
  }
  if (observed < MIN_POINTS) {
    return errorResult(STATUS_INSUFFICIENT_DATA, observed.toString() + " observed points, need at least " + MIN_POINTS.toString());
  }
  // Sum the last `window` observed values, oldest first, so that the
  // result does not depend on anything but the values.
  let first = <i32>nt;
  let taken = 0;
  while (first > 0 && taken < window) {
    first--;
    if (!isNaN(load<f64>(vs + 8 * first))) taken++;
  }
  let sum: f64 = 0;
  for (let i = first; i < <i32>nt; i++) {
    const y = load<f64>(vs + 8 * i);
    if (!isNaN(y)) sum += y;
  }
  const mean = sum / <f64>taken;

  const size = 4 + 4 + 2 + 4 + MODEL_SIZE;
  const p = ppa_alloc(size);
  store<u32>(p, STATUS_OK);
  store<u32>(p + 4, 2);
  store<u8>(p + 8, 0x7b); // {}
  store<u8>(p + 9, 0x7d);
  store<u32>(p + 10, MODEL_SIZE);
  store<u32>(p + 14, MODEL_MAGIC);
  store<u32>(p + 18, MODEL_VERSION);
  store<f64>(p + 22, mean);
  return pack(p, size);
}

export function ppa_predict(ptr: i32, len: i32): i64 {
  const r = new Reader(ptr, len);
  const mlen = r.u32();
  r.span(mlen, 1); // metadata: only the seed, unused
  const blen = r.u32();
  const model = r.span(blen, 1);
  const nt = r.u32();
  r.span(nt, 8);
  if (r.bad) return errorResult(STATUS_INVALID_ARGUMENT, "predict request is truncated");
  const cerr = columnsError(r);
  if (cerr != 0) return cerr;
  if (blen != MODEL_SIZE) return errorResult(STATUS_INVALID_MODEL, "model: " + blen.toString() + " bytes is not the size of a moving-average-as model");
  if (load<u32>(model) != MODEL_MAGIC) return errorResult(STATUS_INVALID_MODEL, "model: not a moving-average-as model");
  if (load<u32>(model + 4) != MODEL_VERSION) return errorResult(STATUS_INVALID_MODEL, "model: unsupported format version");
  const mean = load<f64>(model + 8);
  if (!isFinite(mean)) return errorResult(STATUS_INVALID_MODEL, "model: mean is not finite");

  // OK, {}, yhat, and empty lower and upper bounds.
  const size = 4 + 4 + 2 + 4 + 8 * <i32>nt + 4 + 4;
  const p = ppa_alloc(size);
  store<u32>(p, STATUS_OK);
  store<u32>(p + 4, 2);
  store<u8>(p + 8, 0x7b);
  store<u8>(p + 9, 0x7d);
  store<u32>(p + 10, nt);
  for (let i: i32 = 0; i < <i32>nt; i++) store<f64>(p + 14 + 8 * i, mean);
  store<u32>(p + 14 + 8 * <i32>nt, 0);
  store<u32>(p + 18 + 8 * <i32>nt, 0);
  return pack(p, size);
}
