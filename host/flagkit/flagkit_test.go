package flagkit

import (
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestDurations(t *testing.T) {
	for _, c := range []struct {
		in   string
		want time.Duration
		err  string
	}{
		{"14d", 14 * 24 * time.Hour, ""},
		{"1d12h", 36 * time.Hour, ""},
		{"0", 0, ""},
		{"", 5 * time.Minute, ""}, // the default
		{"-1h", 0, "--x -1h: must not be negative"},
		{"soon", 0, "--x: invalid duration"},
		{"3000000d", 0, "--x: duration \"3000000d\" is too long"},
	} {
		got, err := ParseDurationFlag("x", c.in, 5*time.Minute)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseDurationFlag(%q) = %v, %v; want error %q", c.in, got, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("ParseDurationFlag(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	var d Duration
	if err := d.Set("1d6h"); err != nil || d.String() != "1d6h" {
		t.Errorf("Duration 1d6h: %q, %v", d.String(), err)
	}
	if err := d.Set("-5m"); err == nil {
		t.Error("Duration accepted -5m")
	}
	for d, want := range map[time.Duration]string{0: "0", 90 * time.Minute: "1h30m", 5 * time.Minute: "5m", 1500 * time.Millisecond: "1.5s",
		14 * 24 * time.Hour: "14d", -30 * time.Hour: "-1d6h"} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestParseParams(t *testing.T) {
	kv, err := ParseParams([]string{"season=1d", " level = x=y"})
	if err != nil || kv["season"] != "1d" || kv["level"] != " x=y" {
		t.Fatalf("ParseParams = %v, %v", kv, err)
	}
	if kv, err := ParseParams(nil); kv != nil || err != nil {
		t.Fatalf("no flags: %v, %v", kv, err)
	}
	for in, want := range map[string]string{"season": `--param "season": want name=value`, "=1": `want name=value`} {
		if _, err := ParseParams([]string{in}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseParams(%q) = %v, want %q", in, err, want)
		}
	}
	if _, err := ParseParams([]string{"a=1", "a=2"}); err == nil || !strings.Contains(err.Error(), `parameter "a" given twice`) {
		t.Errorf("twice: %v", err)
	}
}

func TestParseLogLevel(t *testing.T) {
	if l, err := ParseLogLevel("WARN"); err != nil || l != slog.LevelWarn {
		t.Errorf("WARN: %v, %v", l, err)
	}
	if _, err := ParseLogLevel("loud"); err == nil || !strings.Contains(err.Error(), `--log-level "loud": want debug, info, warn or error`) {
		t.Errorf("loud: %v", err)
	}
}

func TestSourceCheck(t *testing.T) {
	for _, c := range []struct {
		name string
		s    Source
		csv  bool
		err  string
	}{
		{"csv", Source{Data: "f.csv"}, true, ""},
		{"prometheus", Source{Prometheus: "http://p", Query: "up"}, false, ""},
		{"none", Source{}, false, "no data: give --data FILE.csv or --prometheus URL --query PROMQL"},
		{"both", Source{Data: "f.csv", Prometheus: "http://p"}, false, "give one data source, not both"},
		{"query with csv", Source{Data: "f.csv", Query: "up"}, false, "--query and --aggregate go with --prometheus"},
		{"history with csv", Source{Data: "f.csv", PrometheusOnly: []string{"history"}}, false, "--history goes with --prometheus, not --data"},
		{"step and end with csv", Source{Data: "f.csv", PrometheusOnly: []string{"step", "end"}}, false, "--end and --step go with --prometheus"},
		{"prometheus without query", Source{Prometheus: "http://p", Query: " "}, false, "--prometheus needs --query"},
	} {
		csv, err := c.s.Check()
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: %v, want %q", c.name, err, c.err)
			}
			continue
		}
		if err != nil || csv != c.csv {
			t.Errorf("%s: csv %v, %v", c.name, csv, err)
		}
	}
}
