package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"math"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/ppa-autoscaler/ppa/host/local"
	"github.com/ppa-autoscaler/ppa/host/series"
	"github.com/ppa-autoscaler/ppa/test/testenv"
)

// upProcess is `ppa up` running in-process.
type upProcess struct {
	cancel context.CancelFunc
	result chan error
	// banner is stdout up to the "Serving until Ctrl-C." line; rest
	// receives what follows.
	banner string
	rest   *syncBuffer
	stderr *syncBuffer
}

// startUp runs `ppa up args...` with app until it prints that it serves,
// and fails the test if it ends before.
func startUp(t *testing.T, app *App, args ...string) *upProcess {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	p := &upProcess{cancel: cancel, result: make(chan error, 1), rest: &syncBuffer{}, stderr: &syncBuffer{}}
	app.Out, app.Err = pw, p.stderr
	root := NewRootCommand(app)
	root.SetArgs(append([]string{"up"}, args...))
	go func() {
		err := root.ExecuteContext(ctx)
		pw.Close()
		p.result <- err
	}()
	t.Cleanup(func() {
		cancel()
		<-p.result
	})
	var banner strings.Builder
	sc := bufio.NewScanner(pr)
	serving := false
	for sc.Scan() {
		banner.WriteString(sc.Text() + "\n")
		if sc.Text() == "Serving until Ctrl-C." {
			serving = true
			break
		}
	}
	if !serving {
		err := <-p.result
		p.result <- err
		t.Fatalf("ppa up ended before serving: %v\nstdout:\n%s\nstderr:\n%s", err, banner.String(), p.stderr)
	}
	go io.Copy(p.rest, pr)
	p.banner = banner.String()
	return p
}

// stop cancels the command (as SIGINT does) and returns its error.
func (p *upProcess) stop() error {
	p.cancel()
	err := <-p.result
	p.result <- err
	return err
}

var (
	runtimeLineRe = regexp.MustCompile(`(?m)^runtime: REST http://(\S+) \(metrics on /metrics\), gRPC (\S+), model (\S+)$`)
	scalerLineRe  = regexp.MustCompile(`(?m)^scaler:  gRPC (\S+) `)
	grpcurlRe     = regexp.MustCompile(`grpcurl -plaintext -d '([^']+)' (\S+) externalscaler\.ExternalScaler/GetMetrics`)
	curlRe        = regexp.MustCompile(`curl -s (\S+) -d '([^']+)'`)
)

// TestUp runs `ppa up` on free ports with a CSV file (clock shifted to
// its end) and with the same history in a real Prometheus server (clock at
// its end), then calls the runtime over REST and the scaler with KEDA's
// client, and stops it as SIGINT does.
func TestUp(t *testing.T) {
	const data = "testdata/backtest_hourly.csv"
	s, err := series.ReadFile(data)
	if err != nil {
		t.Fatal(err)
	}
	end := s.Time(s.Len() - 1)
	ps := plugins(t)
	common := []string{"--model", "shop/checkout", "--plugin", "seasonal-naive", "--http-port", "0", "--grpc-port", "0",
		"--scaler-port", "0", "--retrain", "0", "--horizon", "2h", "--target-value", "50"}
	tests := []struct {
		name string
		// args are the data source; prometheus replaces PROM with a
		// server's URL holding the CSV's history.
		args       []string
		prometheus bool
		wall       time.Time
		want       []string
	}{
		{"csv", []string{"--data", data, "--clock-offset", "auto"}, false, time.Date(2026, 5, 1, 12, 34, 56, 0, time.UTC), []string{
			"ppa up: training shop/checkout with seasonal-naive on " + data,
			"clock:   shifted by -786d13h34m56s: the runtime and the scaler take now = 2024-03-05T23:00:00Z\n",
			"window      2024-03-01T00:00:00Z .. 2024-03-05T23:00:00Z every 1h: 120 points, 3 missing",
		}},
		{"prometheus", []string{"--prometheus", "PROM", "--query", `demand{app="web"}`, "--history", "5d", "--step", "1h"}, true, end, []string{
			`ppa up: training shop/checkout with seasonal-naive on PROM demand{app="web"}`,
			"window      2024-03-01T00:00:00Z .. 2024-03-05T23:00:00Z every 1h: 120 points, 3 missing",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append(slices.Clone(tc.args), common...)
			want := slices.Clone(tc.want)
			if tc.prometheus {
				prom := testenv.Prometheus(t, testenv.OpenMetrics("demand", map[string]string{"app": "web"}, s.T, s.Y))
				for i := range args {
					args[i] = strings.ReplaceAll(args[i], "PROM", prom.URL)
				}
				for i := range want {
					want[i] = strings.ReplaceAll(want[i], "PROM", prom.URL)
				}
			}
			app := newApp(ps)
			app.Now = func() time.Time { return tc.wall }
			p := startUp(t, app, append(args, "--store", t.TempDir())...)
			if tc.prometheus && strings.Contains(p.banner, "clock:") {
				t.Errorf("the clock is shifted without --clock-offset:\n%s", p.banner)
			}
			checkUp(t, p, s, end, tc.prometheus, append(want, "gate        ACCEPTED", "policy      ",
				"modelName: \"checkout\"", "modelNamespace: \"shop\"", "targetValue: \"50\"", "horizon: \"2h\""))
		})
	}
}

// checkUp checks a running `ppa up` serving shop/checkout, trained with
// seasonal-naive on s, with now = end and the printed examples for a 2h
// horizon and a target of 50; then stops it.
//
// With learned (Prometheus, which gives the current value) the printed
// trigger applies the model's learned policy, whose value is never below
// the current one; without (a CSV) it names max aggregation, the forecast's
// maximum.
func checkUp(t *testing.T, p *upProcess, s *series.Series, end time.Time, learned bool, wantOutput []string) {
	t.Helper()
	for _, want := range wantOutput {
		if !strings.Contains(p.banner, want) {
			t.Errorf("output lacks %q:\n%s", want, p.banner)
		}
	}
	rl := runtimeLineRe.FindStringSubmatch(p.banner)
	sl := scalerLineRe.FindStringSubmatch(p.banner)
	if rl == nil || sl == nil {
		t.Fatalf("no runtime or scaler address in the output:\n%s", p.banner)
	}
	httpAddr, grpcAddr, model, scalerAddr := rl[1], rl[2], rl[3], sl[1]
	for _, a := range []string{httpAddr, grpcAddr, scalerAddr} {
		if host, port, err := net.SplitHostPort(a); err != nil || host != "127.0.0.1" || port == "0" {
			t.Errorf("address %q: want a bound port on 127.0.0.1", a)
		}
	}
	if model != "checkout" {
		t.Errorf("runtime model %q, want checkout", model)
	}
	if !strings.Contains(p.banner, `scalerAddress: "`+scalerAddr+`"`) {
		t.Errorf("the trigger snippet does not point at the scaler %s:\n%s", scalerAddr, p.banner)
	}

	// The runtime over REST, with the printed curl body, for two hours.
	cm := curlRe.FindStringSubmatch(p.banner)
	if cm == nil || cm[1] != "http://"+httpAddr+"/v2/models/checkout/infer" {
		t.Fatalf("curl line %q", cm)
	}
	resp, err := http.Post(cm[1], "application/json", strings.NewReader(cm[2]))
	if err != nil {
		t.Fatal(err)
	}
	var infer struct {
		ModelName string `json:"model_name"`
		Outputs   []struct {
			Name string    `json:"name"`
			Data []float64 `json:"data"`
		} `json:"outputs"`
	}
	err = json.NewDecoder(resp.Body).Decode(&infer)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("infer: status %d, %v", resp.StatusCode, err)
	}
	out := map[string][]float64{}
	for _, o := range infer.Outputs {
		out[o.Name] = o.Data
	}
	ds, yhat := out["ds"], out["yhat"]
	// Now is the end of the CSV (2024-03-05T23:00:00Z): the forecast
	// covers it and the next two hours, hourly.
	if len(ds) != 3 || int64(ds[0]) != end.Unix() || int64(ds[2]) != end.Add(2*time.Hour).Unix() || len(yhat) != 3 {
		t.Fatalf("forecast ds %v yhat %v, want 3 hourly points from %s", ds, yhat, end)
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, y := range s.Y {
		if !math.IsNaN(y) {
			lo, hi = min(lo, y), max(hi, y)
		}
	}
	want := math.Inf(-1)
	for _, y := range yhat {
		if y < lo || y > hi {
			t.Errorf("seasonal-naive forecast %v outside the data's range [%v, %v]", y, lo, hi)
		}
		want = max(want, y)
	}

	// The scaler with KEDA's client and the printed grpcurl request.
	gm := grpcurlRe.FindStringSubmatch(p.banner)
	if gm == nil || gm[2] != scalerAddr {
		t.Fatalf("grpcurl line %q", gm)
	}
	var req externalscaler.GetMetricsRequest
	if err := protojson.Unmarshal([]byte(gm[1]), &req); err != nil {
		t.Fatalf("the printed grpcurl request is not a GetMetricsRequest: %v", err)
	}
	conn, err := grpc.NewClient(scalerAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := externalscaler.NewExternalScalerClient(conn)
	ctx := context.Background()
	spec, err := client.GetMetricSpec(ctx, req.ScaledObjectRef)
	if err != nil {
		t.Fatal(err)
	}
	if len(spec.MetricSpecs) != 1 || spec.MetricSpecs[0].MetricName != "ppa-shop-checkout" || spec.MetricSpecs[0].TargetSizeFloat != 50 || spec.MetricSpecs[0].TargetSize != 50 {
		t.Errorf("metric spec %v, want ppa-shop-checkout with target 50", spec.MetricSpecs)
	}
	metrics, err := client.GetMetrics(ctx, &req)
	if err != nil {
		t.Fatal(err)
	}
	if len(metrics.MetricValues) != 1 || metrics.MetricValues[0].MetricName != "ppa-shop-checkout" {
		t.Fatalf("metric values %v", metrics.MetricValues)
	}
	got := metrics.MetricValues[0].MetricValueFloat
	switch {
	case learned:
		if !strings.Contains(p.banner, "reactiveQuery:") || strings.Contains(p.banner, "aggregation:") {
			t.Errorf("the trigger snippet does not apply the learned policy with the current value:\n%s", p.banner)
		}
		if cur := s.Y[len(s.Y)-1]; !(got >= cur-1e-9) {
			t.Errorf("GetMetrics %v under the learned policy, below the current value %v", got, cur)
		}
		want = got
	case math.Abs(got-want) > 1e-9*math.Abs(want):
		t.Errorf("GetMetrics %v, want the forecast's maximum over the next 2h, %v (yhat %v)", got, want, yhat)
	}
	if got := metrics.MetricValues[0].MetricValue; got != int64(math.Ceil(want)) {
		t.Errorf("GetMetrics integer value %d, want %d", got, int64(math.Ceil(want)))
	}
	active, err := client.IsActive(ctx, req.ScaledObjectRef)
	if err != nil || !active.Result {
		t.Errorf("IsActive %v, %v; want active (value %v > activation 0)", active, err, want)
	}

	if err := p.stop(); err != nil {
		t.Fatalf("ppa up after cancellation: %v\nstderr:\n%s", err, p.stderr)
	}
	for _, a := range []string{httpAddr, grpcAddr, scalerAddr} {
		if c, err := net.Dial("tcp", a); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after ppa up returned", a)
		}
	}
}

func TestUpErrors(t *testing.T) {
	ps := plugins(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	_, busyPort, _ := net.SplitHostPort(busy.Addr().String())
	data := "testdata/backtest_hourly.csv"
	up := func(extra ...string) []string {
		return append([]string{"up", "--store", t.TempDir(), "--http-port", "0", "--grpc-port", "0", "--scaler-port", "0", "--retrain", "0"}, extra...)
	}
	tests := []errorCase{
		{"no data", up(), []string{"no data: give --data FILE.csv or --prometheus URL --query PROMQL"}},
		{"alias local", append([]string{"local"}, up()[1:]...), []string{"no data: give --data FILE.csv"}},
		{"two sources", up("--data", data, "--prometheus", "http://127.0.0.1:1", "--query", "up"), []string{"give one data source, not both"}},
		{"prometheus without query", up("--prometheus", "http://127.0.0.1:1"), []string{"--prometheus needs --query"}},
		{"query with csv", up("--data", data, "--query", "up"), []string{"--query and --aggregate go with --prometheus"}},
		{"auto offset without csv", up("--prometheus", "http://127.0.0.1:1", "--query", "up", "--clock-offset", "auto"), []string{"--clock-offset auto needs --data"}},
		{"bad clock offset", up("--data", data, "--clock-offset", "yesterday"), []string{`--clock-offset: want "auto" or a signed duration`}},
		{"bad model", up("--data", data, "--model", "demo"), []string{"--model:", `want namespace/name`}},
		{"bad retrain", up("--data", data, "--retrain", "hourly"), []string{"--retrain: invalid duration"}},
		{"bad step", up("--prometheus", "http://127.0.0.1:1", "--query", "up", "--history", "1h", "--step", "2h"), []string{"--history 1h and --step 2h"}},
		{"bad horizon", up("--data", data, "--horizon", "soon"), []string{"--horizon:", `"horizon"`}},
		{"bad target", up("--data", data, "--target-value", "0"), []string{"--target-value 0: want a positive number"}},
		// --history and --step were silently ignored with --data.
		{"history with csv", up("--data", data, "--history", "7d"), []string{"--history goes with --prometheus, not --data"}},
		{"step with csv", up("--data", data, "--step", "5m"), []string{"--step goes with --prometheus, not --data"}},
		{"huge target", up("--data", data, "--target-value", "1e300"), []string{"--target-value 1e+300: more than the scaler's limit"}},
		{"model name the scaler refuses", up("--data", data, "--model", "shop/Checkout"), []string{"--model: the scaler takes Kubernetes names", `"Checkout" is not a Kubernetes object name`}},
		{"s3 store", []string{"up", "--data", data, "--store", "s3://bucket/prefix"}, []string{"keeps its models in a local directory"}},
		{"missing file", up("--data", "testdata/nope.csv"), []string{"open testdata/nope.csv"}},
		{"unknown parameter", up("--data", data, "--param", "seasonality=1d"), []string{`parameter "seasonality"`}},
		{"scaler port in use", up("--data", data, "--scaler-port", busyPort), []string{"local: scaler: listen tcp 127.0.0.1:" + busyPort}},
		{"runtime port in use", up("--data", data, "--http-port", busyPort), []string{"runtime: http: listen tcp 127.0.0.1:" + busyPort}},
	}
	runErrorCases(t, ps, tests)
}

func TestDefaultStore(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"XDG_DATA_HOME": "/x", "HOME": "/h"}, "/x/ppa/store"},
		{map[string]string{"HOME": "/h"}, "/h/.local/share/ppa/store"},
		{map[string]string{}, ""},
	}
	for _, tc := range tests {
		app := &App{Getenv: func(k string) string { return tc.env[k] }}
		if got := app.defaultStore(); got != tc.want {
			t.Errorf("env %v: %q, want %q", tc.env, got, tc.want)
		}
	}
}

// TestUpHorizonParsedOnce gives --horizon as a bare number of minutes, as
// the scaler takes it: the printed examples use 5 minutes too (they said
// horizon 0, parsing it a second time with another rule and ignoring the
// error).
func TestUpHorizonParsedOnce(t *testing.T) {
	o := &UpOptions{Data: "testdata/backtest_hourly.csv", Model: "shop/web", Horizon: "5", TargetValue: 50, Retrain: "0", ClockOffset: "0"}
	lo, err := o.options(newApp(nil))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	o.writeServing(&b, lo, local.Endpoints{RuntimeHTTP: "127.0.0.1:1", RuntimeGRPC: "127.0.0.1:2", Scaler: "127.0.0.1:3"}, time.Unix(0, 0))
	for _, want := range []string{"Forecast for the next 5m from the runtime", `"data":[300]`, `horizon: "5"`} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, b.String())
		}
	}
}
