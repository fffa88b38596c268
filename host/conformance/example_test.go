package conformance_test

import (
	"context"
	"fmt"

	"github.com/ppa-autoscaler/ppa/host/conformance"
	"github.com/ppa-autoscaler/ppa/host/engine"
	"github.com/ppa-autoscaler/ppa/plugins/seasonalnaive"
)

// A native plugin can be checked without compiling it to WebAssembly; Run
// does the same for a module, adding the checks of its bytes.
func ExampleRunForecaster() {
	r := conformance.RunForecaster(context.Background(), engine.Native(seasonalnaive.New()))
	fmt.Println(r.Plugin, r.Passed())
	for _, c := range r.Results[:3] {
		fmt.Println(c.Status, c.Name)
	}
	// Output:
	// seasonal-naive true
	// pass describe
	// pass defaults
	// pass round-trip/seasonal
}
