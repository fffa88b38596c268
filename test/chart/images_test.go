package chart

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/ppa-autoscaler/ppa/plugins/builtin"
)

// TestDefaultImagesAreWhatMakeImagesBuilds: the chart's default images are
// exactly the references `make images` (hack/images.sh) gives its images.
func TestDefaultImagesAreWhatMakeImagesBuilds(t *testing.T) {
	out, err := exec.Command("bash", filepath.Join(repoRoot(t), "hack", "images.sh"), "--print-refs").Output()
	if err != nil {
		t.Fatalf("hack/images.sh --print-refs: %v", err)
	}
	built := strings.Fields(string(out))
	sort.Strings(built)

	var used []string
	for bin, cs := range containersOf(t, render(t)) {
		for _, c := range cs {
			used = append(used, c.Image)
			if want := "/" + bin + ":"; !strings.Contains(c.Image, want) {
				t.Errorf("%s runs in image %s, want the image named %s", bin, c.Image, bin)
			}
			if bin == "ppa-controller" {
				if img, ok := argValue(c.Args, "trainer-image"); ok {
					used = append(used, img)
				}
			}
		}
	}
	sort.Strings(used)
	used = slices.Compact(used)
	if !slices.Equal(used, built) {
		t.Errorf("chart default images %v, make images builds %v", used, built)
	}
}

// TestBuiltinForecasterNames: every plugin name the chart's values give as
// built in is one the trainer and the runtime load (plugins/builtin), in
// the default values and in the full example.
func TestBuiltinForecasterNames(t *testing.T) {
	names := builtin.Names()
	if len(names) == 0 {
		t.Fatal("no built-in plugins embedded: run `make plugins` first")
	}
	for _, file := range []string{filepath.Join(chartDir(t), "values.yaml"), filepath.Join(repoRoot(t), fullValues)} {
		var v struct {
			Controller struct {
				BuiltinForecasters []string `json:"builtinForecasters"`
			} `json:"controller"`
			Training struct {
				WorkflowTemplate struct {
					Plugin string `json:"plugin"`
				} `json:"workflowTemplate"`
			} `json:"training"`
		}
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(raw, &v); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		check := append(slices.Clone(v.Controller.BuiltinForecasters), strings.SplitN(v.Training.WorkflowTemplate.Plugin, "@", 2)[0])
		for _, n := range check {
			if n != "" && !slices.Contains(names, n) {
				t.Errorf("%s names built-in plugin %q; the built-in plugins are %v", filepath.Base(file), n, names)
			}
		}
	}
}
