// Package purem provides the elementary functions the prophet numeric core
// needs, written in pure Go so that every platform computes bit-identical
// results.
//
// The standard library's math.Exp and math.Log use assembly on amd64 (and
// other architectures) while the wasm build uses the portable Go code; the
// two can differ in the last bit, and L-BFGS amplifies such differences
// into visibly different forecasts. The functions here follow the classic
// fdlibm algorithms (the same ones the portable code of package math uses)
// and convert every product explicitly to float64 so that no compiler may
// fuse a multiply and an add into one FMA instruction.
//
// Sin and Cos delegate to package math, whose implementations are portable
// Go on every architecture this project builds for (amd64, arm64, wasm);
// Sqrt is correctly rounded everywhere.
package purem

import "math"

const (
	ln2Hi = 6.93147180369123816490e-01 // 0x3fe62e42fee00000
	ln2Lo = 1.90821492927058770002e-10 // 0x3dea39ef35793c76
	log2e = 1.44269504088896338700e+00

	expOverflow  = 7.09782712893383973096e+02
	expUnderflow = -7.45133219101941108420e+02
	expNearZero  = 1.0 / (1 << 28)

	expP1 = 1.66666666666666657415e-01
	expP2 = -2.77777777770155933842e-03
	expP3 = 6.61375632143793436117e-05
	expP4 = -1.65339022054652515390e-06
	expP5 = 4.13813679705723846039e-08

	logL1 = 6.666666666666735130e-01
	logL2 = 3.999999999940941908e-01
	logL3 = 2.857142874366239149e-01
	logL4 = 2.222219843214978396e-01
	logL5 = 1.818357216161805012e-01
	logL6 = 1.531383769920937332e-01
	logL7 = 1.479819860511658591e-01
)

// Exp returns e**x.
func Exp(x float64) float64 {
	switch {
	case math.IsNaN(x) || math.IsInf(x, 1):
		return x
	case math.IsInf(x, -1):
		return 0
	case x > expOverflow:
		return math.Inf(1)
	case x < expUnderflow:
		return 0
	case -expNearZero < x && x < expNearZero:
		return 1 + x
	}
	// Reduce x = k*ln2 + r with |r| <= ln2/2.
	var k int
	switch {
	case x < 0:
		k = int(float64(log2e*x) - 0.5)
	case x > 0:
		k = int(float64(log2e*x) + 0.5)
	}
	hi := x - float64(float64(k)*ln2Hi)
	lo := float64(float64(k) * ln2Lo)
	r := hi - lo
	t := float64(r * r)
	p := expP4 + float64(t*expP5)
	p = expP3 + float64(t*p)
	p = expP2 + float64(t*p)
	p = expP1 + float64(t*p)
	c := r - float64(t*p)
	y := 1 - ((lo - float64(r*c)/(2-c)) - hi)
	if -1021 <= k && k <= 1022 {
		// y is in [0.5, 2): scaling by a normal power of two is exact and
		// equals Ldexp, without its call and normalisation.
		return y * math.Float64frombits(uint64(k+1023)<<52)
	}
	return math.Ldexp(y, k)
}

// Log returns the natural logarithm of x.
func Log(x float64) float64 {
	switch {
	case math.IsNaN(x) || math.IsInf(x, 1):
		return x
	case x < 0:
		return math.NaN()
	case x == 0:
		return math.Inf(-1)
	}
	f1, ki := math.Frexp(x)
	if f1 < math.Sqrt2/2 {
		f1 *= 2
		ki--
	}
	f := f1 - 1
	k := float64(ki)
	s := f / (2 + f)
	s2 := float64(s * s)
	s4 := float64(s2 * s2)
	t1 := logL5 + float64(s4*logL7)
	t1 = logL3 + float64(s4*t1)
	t1 = logL1 + float64(s4*t1)
	t1 = float64(s2 * t1)
	t2 := logL4 + float64(s4*logL6)
	t2 = logL2 + float64(s4*t2)
	t2 = float64(s4 * t2)
	r := t1 + t2
	hfsq := float64(0.5 * f * f)
	return float64(k*ln2Hi) - ((hfsq - (float64(s*(hfsq+r)) + float64(k*ln2Lo))) - f)
}

// Sin returns the sine of x (radians).
func Sin(x float64) float64 { return math.Sin(x) }

// Cos returns the cosine of x (radians).
func Cos(x float64) float64 { return math.Cos(x) }

// Sqrt returns the square root of x, correctly rounded.
func Sqrt(x float64) float64 { return math.Sqrt(x) }

// InvLogit returns 1/(1+e**-x).
func InvLogit(x float64) float64 { return 1 / (1 + Exp(-x)) }
