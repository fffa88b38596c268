package chart

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	kedav1alpha1 "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	"sigs.k8s.io/yaml"

	ppav1 "github.com/ppa-autoscaler/ppa/api/v1alpha1"
	"github.com/ppa-autoscaler/ppa/host/decision"
	"github.com/ppa-autoscaler/ppa/host/scaler"
)

var update = flag.Bool("update", false, "rewrite the values table of charts/ppa/README.md from values.yaml")

// value is one documented key of values.yaml.
type value struct {
	path, description string
}

var (
	keyLine     = regexp.MustCompile(`^( *)([A-Za-z0-9_.-]+):(.*)$`)
	commentLine = regexp.MustCompile(`^ *#(.*)$`)
)

// documentedValues reads values.yaml: a key whose comment starts with
// "# -- " is a value (its children, if any, are its default's content);
// a key without one is a section and its children are values or sections.
// Every value must be documented: a leaf key without "# --" is an error.
func documentedValues(t *testing.T, text []byte) []value {
	t.Helper()
	type frame struct {
		indent int
		key    string
	}
	var (
		stack      []frame
		out        []value
		comment    []string
		documented bool
		skipBelow  = -1 // indentation of a documented block's key
		pendingSec *value
		pendingIn  int
		lineNo     int
	)
	// A section is a key with an empty value and deeper lines below; a
	// key with an empty value and nothing below would be an undocumented
	// leaf (reported when the next line is not deeper).
	closePending := func(nextIndent int) {
		if pendingSec != nil && nextIndent <= pendingIn {
			t.Errorf("values.yaml: %s has no value and no children", pendingSec.path)
		}
		pendingSec = nil
	}
	sc := bufio.NewScanner(bytes.NewReader(text))
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			comment, documented = nil, false
			continue
		}
		if m := commentLine.FindStringSubmatch(line); m != nil {
			c := strings.TrimSpace(m[1])
			if c == "--" || strings.HasPrefix(c, "-- ") {
				comment, documented = []string{strings.TrimSpace(strings.TrimPrefix(c, "--"))}, true
			} else if documented {
				comment = append(comment, c)
			}
			continue
		}
		indent := len(line) - len(strings.TrimLeft(line, " "))
		if skipBelow >= 0 {
			if indent > skipBelow {
				continue // content of a documented block
			}
			skipBelow = -1
		}
		if strings.HasPrefix(strings.TrimSpace(line), "- ") {
			t.Errorf("values.yaml:%d: list item outside a documented value", lineNo)
			continue
		}
		m := keyLine.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("values.yaml:%d: cannot read %q", lineNo, line)
			continue
		}
		closePending(indent)
		for len(stack) > 0 && stack[len(stack)-1].indent >= indent {
			stack = stack[:len(stack)-1]
		}
		var parts []string
		for _, f := range stack {
			parts = append(parts, f.key)
		}
		path := strings.Join(append(parts, m[2]), ".")
		inline := strings.TrimSpace(m[3])
		switch {
		case documented:
			out = append(out, value{path, strings.Join(comment, " ")})
			if inline == "" {
				skipBelow = indent
			}
		case inline != "":
			t.Errorf("values.yaml:%d: %s has no \"# --\" comment", lineNo, path)
		default:
			stack = append(stack, frame{indent, m[2]})
			pendingSec, pendingIn = &value{path: path}, indent
		}
		comment, documented = nil, false
	}
	closePending(-1)
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// lookup returns the value at a dotted path of the parsed values.
func lookup(values map[string]any, path string) (any, bool) {
	var cur any = values
	for _, k := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[k]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// valuesTable renders the README's values table.
func valuesTable(t *testing.T, text []byte) string {
	t.Helper()
	var values map[string]any
	if err := yaml.Unmarshal(text, &values); err != nil {
		t.Fatalf("values.yaml: %v", err)
	}
	var b strings.Builder
	b.WriteString("| key | type | default | description |\n|---|---|---|---|\n")
	for _, v := range documentedValues(t, text) {
		def, ok := lookup(values, v.path)
		if !ok {
			t.Fatalf("values.yaml: %s not found after parsing", v.path)
		}
		js, err := json.Marshal(def)
		if err != nil {
			t.Fatal(err)
		}
		typ := "string"
		switch def.(type) {
		case bool:
			typ = "bool"
		case float64:
			typ = "int"
		case map[string]any:
			typ = "object"
		case []any:
			typ = "list"
		}
		desc := strings.ReplaceAll(v.description, "|", `\|`)
		fmt.Fprintf(&b, "| `%s` | %s | `%s` | %s |\n", v.path, typ, strings.ReplaceAll(string(js), "|", `\|`), desc)
	}
	return b.String()
}

// section splits text around the lines between the markers
// <!-- NAME:begin --> and <!-- NAME:end -->: before ends with the begin
// marker's line, after starts with the end marker.
func section(t *testing.T, text, name string) (before, body, after string) {
	t.Helper()
	begin, end := "<!-- "+name+":begin -->\n", "<!-- "+name+":end -->"
	i, j := strings.Index(text, begin), strings.Index(text, end)
	if i < 0 || j < i {
		t.Fatalf("README.md: no %s section (%q ... %q)", name, begin, end)
	}
	return text[:i+len(begin)], text[i+len(begin) : j], text[j:]
}

func TestReadmeValues(t *testing.T) {
	dir := chartDir(t)
	values, err := os.ReadFile(filepath.Join(dir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	table := valuesTable(t, values)
	readmePath := filepath.Join(dir, "README.md")
	readme, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	before, body, after := section(t, string(readme), "values")
	if body == table {
		return
	}
	if *update {
		if err := os.WriteFile(readmePath, []byte(before+table+after), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatal("charts/ppa/README.md: the values table is stale: run go test ./test/chart -run TestReadmeValues -update")
}

// TestReadmeExamples checks the README's examples: they are the files in
// charts/ppa/examples, they decode strictly into the Model and KEDA
// ScaledObject types, and the scaler accepts the trigger's metadata.
func TestReadmeExamples(t *testing.T) {
	dir := chartDir(t)
	readme, err := os.ReadFile(filepath.Join(dir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	example := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, "examples", name+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		_, body, _ := section(t, string(readme), "example:"+name)
		if body != "```yaml\n"+string(b)+"```\n" {
			t.Errorf("README.md: the %s example differs from examples/%s.yaml", name, name)
		}
		return b
	}

	var m ppav1.Model
	if err := yaml.UnmarshalStrict(example("model"), &m); err != nil {
		t.Fatalf("examples/model.yaml: %v", err)
	}
	if m.Spec.Serving.Runtime != "" && m.Spec.Serving.Runtime != ppav1.DefaultRuntime {
		t.Errorf("examples/model.yaml: runtime %q", m.Spec.Serving.Runtime)
	}
	if m.Spec.Training.ServiceAccountName != "ppa-workflow" {
		t.Errorf("examples/model.yaml: serviceAccountName %q, want the chart's ppa-workflow", m.Spec.Training.ServiceAccountName)
	}

	var so kedav1alpha1.ScaledObject
	if err := yaml.UnmarshalStrict(example("scaledobject"), &so); err != nil {
		t.Fatalf("examples/scaledobject.yaml: %v", err)
	}
	if len(so.Spec.Triggers) != 1 || so.Spec.Triggers[0].Type != "external" {
		t.Fatalf("examples/scaledobject.yaml: want one external trigger, got %+v", so.Spec.Triggers)
	}
	md := so.Spec.Triggers[0].Metadata
	if md["scalerAddress"] != "ppa-scaler.ppa-system.svc.cluster.local:9090" {
		t.Errorf("scalerAddress %q is not the scaler Service of a release ppa in ppa-system", md["scalerAddress"])
	}
	if md[scaler.KeyModelName] != m.Name || md[scaler.KeyModelNamespace] != m.Namespace {
		t.Errorf("the ScaledObject's trigger does not name the example Model %s/%s", m.Namespace, m.Name)
	}
	// The chart's scaler watches Models (scaler.runtimeAddress is empty by
	// default): the trigger leaves the runtime to the Model's
	// status.endpoint, as the trigger table says to in a cluster.
	if v, ok := md[scaler.KeyRuntimeAddress]; ok {
		t.Errorf("examples/scaledobject.yaml sets %s %q; in a cluster the scaler reads the Model's status.endpoint", scaler.KeyRuntimeAddress, v)
	}
	scalerKeys := map[string]string{}
	for k, v := range md {
		if k != "scalerAddress" {
			scalerKeys[k] = v
		}
	}
	if _, err := scaler.ParseTrigger(so.Namespace+"/"+so.Name, so.Namespace, scalerKeys); err != nil {
		t.Fatalf("the scaler rejects the example trigger: %v", err)
	}
}

// TestReadmeTriggerKeys checks the README's trigger table against the
// scaler: every key the scaler reads is a row, with the scaler's defaults.
func TestReadmeTriggerKeys(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(chartDir(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string][]string{}
	for _, line := range strings.Split(string(readme), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) == 6 && strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
			key := strings.Trim(strings.TrimSpace(cells[1]), "`")
			rows[key] = cells[1:5]
		}
	}
	// The scaler's keys and defaults: a renamed key or a changed default
	// fails here.
	probe, err := scaler.ParseTrigger("ns/so", "ns", map[string]string{scaler.KeyModelName: "m", scaler.KeyTargetValue: "1"})
	if err != nil {
		t.Fatal(err)
	}
	// Without decision keys the scaler applies the model's learned policy,
	// which is what the table must say for those keys.
	if !probe.Learned {
		t.Fatal("a trigger without decision keys does not apply the learned policy")
	}
	const learned = "the learned policy's"
	for _, tt := range []struct {
		key, def string
	}{
		{scaler.KeyModelName, ""},
		{scaler.KeyModelNamespace, "the ScaledObject's namespace"},
		{scaler.KeyTargetValue, ""},
		{scaler.KeyHorizon, "`" + shortDuration(scaler.DefaultHorizon.String()) + "`"},
		{scaler.KeyAggregation, learned},
		{scaler.KeyBound, learned},
		{scaler.KeyActivationValue, fmt.Sprintf("`%g`", probe.ActivationValue)},
		{scaler.KeyMode, "`" + string(probe.Mode) + "`"},
		{scaler.KeyReactiveQuery, ""},
		{scaler.KeyPrometheusAddress, ""},
		{scaler.KeyMaxForecastAge, "`" + shortDuration(scaler.DefaultMaxForecastAge.String()) + "`"},
		{scaler.KeyRuntimeAddress, "the scaler's `--runtime-address`, else the Model's `status.endpoint`"},
		{scaler.KeyAnchor, learned},
		{scaler.KeyAnchorHalfLife, learned},
	} {
		row, ok := rows[tt.key]
		if !ok {
			t.Errorf("README.md: no row for trigger key %s", tt.key)
			continue
		}
		if got := strings.TrimSpace(row[2]); got != tt.def {
			t.Errorf("README.md: %s default %q, want %q", tt.key, got, tt.def)
		}
	}
	for _, a := range []decision.Aggregation{decision.AggMax, decision.AggMean, decision.AggLast} {
		if !strings.Contains(rows[scaler.KeyAggregation][3], "`"+string(a)+"`") {
			t.Errorf("README.md: aggregation %s not listed", a)
		}
	}
	for _, b := range []decision.Bound{decision.BoundYhat, decision.BoundUpper, decision.BoundLower} {
		if !strings.Contains(rows[scaler.KeyBound][3], "`"+string(b)+"`") {
			t.Errorf("README.md: bound %s not listed", b)
		}
	}
}

// shortDuration turns Go's "5m0s" into "5m" and "1h0m0s" into "1h".
func shortDuration(s string) string {
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
