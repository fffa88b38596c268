package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

func TestNewVersion(t *testing.T) {
	for _, c := range []struct {
		now     time.Time
		entropy string
		want    string
	}{
		{t0, "\xa1\xb2\xc3", "20261129T170655.123Z-a1b2c3"},
		{time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("CET", 3600)), "\x00\x00\x01", "20260102T020405.000Z-000001"},
		{time.Date(999, 1, 1, 0, 0, 0, 999_999_999, time.UTC), "abc", "09990101T000000.999Z-616263"},
	} {
		got, err := NewVersion(c.now, strings.NewReader(c.entropy))
		if err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("NewVersion(%v) = %q, want %q", c.now, got, c.want)
		}
		if err := checkComponent("version", got); err != nil {
			t.Errorf("NewVersion(%v) = %q: not a valid version: %v", c.now, got, err)
		}
		back, err := VersionTime(got)
		if err != nil || !back.Equal(c.now.Truncate(time.Millisecond)) {
			t.Errorf("VersionTime(%q) = %v, %v; want %v", got, back, err, c.now.Truncate(time.Millisecond))
		}
	}
	if _, err := NewVersion(t0, strings.NewReader("ab")); err == nil {
		t.Error("NewVersion with 2 bytes of entropy: no error")
	}
	if _, err := VersionTime("v1"); err == nil {
		t.Error(`VersionTime("v1"): no error`)
	}
}

func TestNewVersionSortsByTime(t *testing.T) {
	// Times that sort differently as strings of other formats: across a
	// second, a day, a year, with sub-millisecond and zone differences.
	times := []time.Time{
		time.Date(2026, 12, 31, 23, 59, 59, 999_000_000, time.UTC),
		time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 11, 29, 17, 6, 55, 9_000_000, time.UTC),
		time.Date(2026, 11, 29, 17, 6, 55, 10_000_000, time.UTC),
		time.Date(2026, 11, 29, 18, 6, 56, 0, time.FixedZone("CET", 3600)), // 17:06:56Z
		time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC),
	}
	var vs []string
	for i, tm := range times {
		v, err := NewVersion(tm, bytes.NewReader([]byte{byte(255 - i), 0, 0}))
		if err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	sort.Strings(vs)
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	for i, v := range vs {
		got, err := VersionTime(v)
		if err != nil || !got.Equal(times[i]) {
			t.Fatalf("sorted versions %v: position %d is %v, want %v", vs, i, got, times[i])
		}
	}
}

func TestComparePluginVersions(t *testing.T) {
	// Ascending; each compares below every later one.
	ordered := []string{
		"dev", "latest-ish", // not semver: lexical, before any semver
		"0.9.0", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
		"1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.2.0", "1.10.0", "v2.0.0", "10.0.0",
	}
	for i := range ordered {
		for j := range ordered {
			got := ComparePluginVersions(ordered[i], ordered[j])
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got != want {
				t.Errorf("ComparePluginVersions(%q, %q) = %d, want %d", ordered[i], ordered[j], got, want)
			}
		}
	}
	for _, notSemver := range []string{"1.0", "1.0.0.0", "01.0.0", "1.0.0-", "1.0.0-a..b", "x.y.z"} {
		if _, ok := parseSemver(notSemver); ok {
			t.Errorf("parseSemver(%q) accepted", notSemver)
		}
	}
}

// TestManifestJSON pins the manifest's JSON form, which other programs (and
// older and newer PPA versions) read: testdata/manifest.json.
func TestManifestJSON(t *testing.T) {
	m := manifest(refA, "20261129T170655.123Z-a1b2c3", false)
	m.Metrics["mase"] = math.Inf(1)
	m.Metrics["nan"] = math.NaN()
	m.Metrics["neg"] = math.Inf(-1)
	m.Gate.Reason = "mase +Inf > 1"
	m.ModelSHA256 = digest([]byte("model"))
	m.ModelSize = 5
	got, err := encodeDocument(m)
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "manifest.json")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("manifest JSON differs from %s (run with -update if intended):\n%s", golden, got)
	}
	var back Manifest
	if err := json.Unmarshal(want, &back); err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(back.Metrics["nan"]) || !math.IsInf(back.Metrics["mase"], 1) || !math.IsInf(back.Metrics["neg"], -1) {
		t.Fatalf("non-finite metrics did not survive: %v", back.Metrics)
	}
	delete(back.Metrics, "nan")
	delete(m.Metrics, "nan")
	if !reflect.DeepEqual(back, m) {
		t.Fatalf("round trip\n%+v\nwant\n%+v", back, m)
	}
	if !back.Rejected() {
		t.Fatal("Rejected() false for a manifest the gate refused")
	}
}

func TestManifestJSONErrors(t *testing.T) {
	for _, doc := range []string{
		`{"metrics": {"mase": "lots"}}`,
		`{"metrics": {"mase": true}}`,
		`{"metrics": []}`,
		`{"data": {"step": 60}}`,
		`{"data": {"step": "soon"}}`,
	} {
		var m Manifest
		if err := json.Unmarshal([]byte(doc), &m); err == nil {
			t.Errorf("%s: no error", doc)
		}
	}
	var m Manifest
	if err := json.Unmarshal([]byte(`{"data": {"step": "1d"}, "metrics": null}`), &m); err != nil || time.Duration(m.Data.Step) != 24*time.Hour {
		t.Fatalf("step 1d: %v, %v", m.Data.Step, err)
	}
}

func TestParseModelRef(t *testing.T) {
	for _, c := range []struct {
		in   string
		want ModelRef
		ok   bool
	}{
		{"shop/checkout-rps", ModelRef{"shop", "checkout-rps"}, true},
		{"shop", ModelRef{}, false},
		{"shop/", ModelRef{}, false},
		{"/m", ModelRef{}, false},
		{"a/b/c", ModelRef{}, false},
		{"../m", ModelRef{}, false},
		{"ns/" + strings.Repeat("x", 129), ModelRef{}, false},
	} {
		got, err := ParseModelRef(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("ParseModelRef(%q) = %v, %v", c.in, got, err)
		}
		if c.ok && got.String() != c.in {
			t.Errorf("String() = %q, want %q", got.String(), c.in)
		}
	}
}

func TestOpenLocal(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, uri := range []string{dir, "file://" + dir, filepath.Join(dir, "new", "sub")} {
		s, err := Open(ctx, uri)
		if err != nil {
			t.Fatalf("Open(%q): %v", uri, err)
		}
		if !filepath.IsAbs(s.String()) {
			t.Errorf("Open(%q).String() = %q, want an absolute path", uri, s.String())
		}
	}
	// Relative directories are resolved once, at Open.
	t.Chdir(dir)
	s, err := Open(ctx, "rel")
	if err != nil || s.String() != filepath.Join(dir, "rel") {
		t.Fatalf("Open(rel) = %v, %v", s, err)
	}
}

func TestOpenInvalid(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	creds := S3Options{AccessKey: "a", SecretKey: "b"}
	for _, c := range []struct {
		uri  string
		o    S3Options
		want string
	}{
		{"", creds, "empty location"},
		{"  ", creds, "empty location"},
		{"gs://bucket/x", creds, `unsupported scheme "gs"`},
		{"http://host/x", creds, `unsupported scheme "http"`},
		{"file://", creds, "no directory"},
		{"file:///tmp/x?y=1", creds, "no query"},
		{file, creds, "not a directory"},
		{"s3://", creds, "no bucket"},
		{"s3:///prefix", creds, "no bucket"},
		{"s3://Bad_Bucket", creds, "bucket"},
		{"s3://ab", creds, "bucket"},
		{"s3://bucket/a//b", creds, "path element"},
		{"s3://bucket/a/../b", creds, "path element"},
		{"s3://key:secret@bucket", creds, "credentials do not belong"},
		{"s3://bucket#x", creds, "fragment"},
		{"s3://bucket?color=red", creds, `unknown query parameter "color"`},
		{"s3://bucket?insecure=maybe", creds, "insecure"},
		{"s3://bucket?lookup=sideways", creds, `bucket lookup "sideways"`},
		{"s3://bucket", S3Options{Endpoint: "ftp://host", AccessKey: "a", SecretKey: "b"}, `scheme "ftp"`},
		{"s3://bucket", S3Options{Endpoint: "http://host/path", AccessKey: "a", SecretKey: "b"}, "nothing else"},
		{"s3://bucket", S3Options{Endpoint: "host/path", AccessKey: "a", SecretKey: "b"}, "want host[:port]"},
		{"s3://bucket", S3Options{}, "credentials: none found"},
		{"s3://bucket", S3Options{AccessKey: "a"}, "both an access key and a secret key"},
		{"s3://bucket", S3Options{AccessKeyFile: "/nonexistent"}, "both an access key file and a secret key file"},
		{"s3://bucket", S3Options{AccessKey: "a", SecretKey: "b", CAFile: "/nonexistent/ca.pem"}, "ca file"},
		{"s3://bucket", S3Options{Endpoint: "http://h", AccessKey: "a", SecretKey: "b", CAFile: "/x.pem"}, "plain-HTTP"},
	} {
		// No endpoint is reachable: every error must come before the network.
		o := c.o
		if o.Endpoint == "" && !strings.Contains(c.uri, "endpoint=") {
			o.Endpoint = "http://192.0.2.1:9" // TEST-NET-1: never contacted
		}
		ctx, cancel := context.WithCancel(ctx)
		cancel() // and a dead context, so any attempt fails at once
		_, err := Open(ctx, c.uri, WithS3(o), WithGetenv(noEnv))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Open(%q, %+v): %v, want an error containing %q", c.uri, c.o, err, c.want)
		}
		if err != nil && errors.Is(err, context.Canceled) {
			t.Errorf("Open(%q, %+v): reached the network: %v", c.uri, c.o, err)
		}
	}
}

func TestEnvironmentDefaults(t *testing.T) {
	env := map[string]string{
		"AWS_ENDPOINT_URL":    "http://from-env:9000",
		"AWS_REGION":          "eu-west-3",
		"MINIO_ROOT_USER":     "user",
		"MINIO_ROOT_PASSWORD": "password",
	}
	client, shown, err := newS3Client(S3Options{}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if shown != "http://from-env:9000" || client.EndpointURL().Host != "from-env:9000" {
		t.Fatalf("endpoint %s (%s)", shown, client.EndpointURL())
	}
	env["AWS_ENDPOINT_URL_S3"] = "s3.example.com"
	_, shown, err = newS3Client(S3Options{}, func(k string) string { return env[k] })
	if err != nil || shown != "https://s3.example.com" {
		t.Fatalf("AWS_ENDPOINT_URL_S3 precedence: %s, %v", shown, err)
	}
	_, shown, err = newS3Client(S3Options{Endpoint: "minio:9000", Insecure: true}, func(k string) string { return env[k] })
	if err != nil || shown != "http://minio:9000" {
		t.Fatalf("option precedence and insecure: %s, %v", shown, err)
	}
	delete(env, "MINIO_ROOT_PASSWORD")
	if _, _, err := newS3Client(S3Options{}, func(k string) string { return env[k] }); err == nil ||
		!strings.Contains(err.Error(), "MINIO_ROOT_PASSWORD") {
		t.Fatalf("half a credential pair: %v", err)
	}
}
