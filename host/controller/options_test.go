package controller

import (
	"slices"
	"testing"

	"github.com/ppa-autoscaler/ppa/plugins/builtin"
)

// The built-in forecasters a Model may name are exactly the plugins the
// trainer and the runtime have built in, under the names they load them by
// (the plugins' self-described names, such as seasonal-naive).
func TestDefaultBuiltinForecastersAreTheEmbeddedPlugins(t *testing.T) {
	names := builtin.Names()
	if len(names) == 0 {
		t.Fatal("no built-in plugins embedded: run `make plugins` first")
	}
	got := NewOptions().BuiltinForecasters
	if !slices.Equal(got, names) {
		t.Errorf("default built-in forecasters %v, want plugins/builtin's %v", got, names)
	}
	for _, n := range got {
		if _, err := builtin.Load(n); err != nil {
			t.Errorf("built-in forecaster %q cannot be loaded by the trainer and runtime: %v", n, err)
		}
	}
	if !slices.Contains(got, "seasonal-naive") {
		t.Errorf("default built-in forecasters %v lack seasonal-naive", got)
	}
}
