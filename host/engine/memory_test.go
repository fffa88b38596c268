package engine_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/host/engine"
)

// memoryFigures are the resident set sizes of a process that ran a
// memory-grabbing guest, in MiB.
type memoryFigures struct {
	Baseline, Peak, After float64
	CapMiB                int
	Pool, Calls           int
}

// procStatusMiB reads a "VmRSS"/"VmHWM" line of /proc/self/status in MiB.
func procStatusMiB(key string) (float64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), key+":"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024, err
		}
	}
	return 0, fmt.Errorf("/proc/self/status has no %s", key)
}

// runGrabbers runs calls trains of the oom guest (it allocates until the
// memory cap stops it), at most pool at once, in this process, and
// returns its RSS before, at the peak and after.
func runGrabbers(t testing.TB, capMiB, pool, calls int) memoryFigures {
	wasm := guest(t, "oom")
	// In process: a worker process's memory is its own (and ends with it);
	// here the guests' memory is this process's, which is what is measured.
	e, err := engine.New(context.Background(), testConfig().WithMemoryLimitPages(uint32(capMiB*16)).WithPoolSize(pool).
		WithIsolation(engine.IsolationInProcess))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(context.Background())
	p, err := e.Load(context.Background(), wasm, "")
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	fig := memoryFigures{CapMiB: capMiB, Pool: pool, Calls: calls}
	if fig.Baseline, err = procStatusMiB("VmRSS"); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range calls {
		wg.Go(func() {
			if _, err := p.Train(context.Background(), &abi.TrainRequest{Timestamps: []int64{0}, Values: []float64{1}}); err == nil {
				t.Error("the oom guest's train succeeded")
			}
		})
	}
	wg.Wait()
	if fig.Peak, err = procStatusMiB("VmHWM"); err != nil {
		t.Fatal(err)
	}
	if fig.After, err = procStatusMiB("VmRSS"); err != nil {
		t.Fatal(err)
	}
	return fig
}

// grabberChild runs the scenario in a fresh process (the peak RSS is the
// process's), this test binary running only TestMemoryBoundUnderHostilePlugin
// in child mode.
func grabberChild(t *testing.T, capMiB, pool, calls int) memoryFigures {
	t.Helper()
	requireProcStatus(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestMemoryBoundUnderHostilePlugin$", "-test.count=1")
	cmd.Env = append(os.Environ(), fmt.Sprintf("PPA_GRABBER_CHILD=%d,%d,%d", capMiB, pool, calls))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, "FIGURES "); ok {
			var fig memoryFigures
			if err := json.Unmarshal([]byte(rest), &fig); err != nil {
				t.Fatal(err)
			}
			return fig
		}
	}
	t.Fatalf("child printed no figures:\n%s", out)
	return memoryFigures{}
}

// TestMemoryBoundUnderHostilePlugin runs guests that grab memory until the
// cap stops them, several at once: the process's peak RSS stays within the
// cap times the instances allowed at once (the pool size) plus what the
// process needed anyway, and the memory of the discarded instances goes
// back to the system at once.
func TestMemoryBoundUnderHostilePlugin(t *testing.T) {
	if v := os.Getenv("PPA_GRABBER_CHILD"); v != "" {
		var capMiB, pool, calls int
		if _, err := fmt.Sscanf(v, "%d,%d,%d", &capMiB, &pool, &calls); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(runGrabbers(t, capMiB, pool, calls))
		fmt.Printf("FIGURES %s\n", b)
		return
	}
	prebuild(t, "oom")
	const capMiB, pool, calls = 64, 2, 6
	fig := grabberChild(t, capMiB, pool, calls)
	t.Logf("cap %d MiB, pool %d, %d calls: RSS %.0f MiB before, peak %.0f MiB, %.0f MiB after",
		capMiB, pool, calls, fig.Baseline, fig.Peak, fig.After)
	// Slack for the Go runtime and the engine's own buffers.
	const slackMiB = 48
	if bound := fig.Baseline + pool*capMiB + slackMiB; fig.Peak > bound {
		t.Errorf("peak RSS %.0f MiB: more than %.0f MiB (baseline + pool × cap + %d MiB)", fig.Peak, bound, slackMiB)
	}
	if bound := fig.Baseline + slackMiB; fig.After > bound {
		t.Errorf("RSS %.0f MiB after every grabbing instance was discarded: more than %.0f MiB (baseline + %d MiB)", fig.After, bound, slackMiB)
	}
}

// BenchmarkHostileMemory reports the RSS (MiB) before, at the peak and
// after of a process running memory-grabbing guests at the default 256 MiB
// cap, eight calls with a pool of four. Run it alone, with -benchtime 1x:
// the peak is the process's.
func BenchmarkHostileMemory(b *testing.B) {
	requireProcStatus(b)
	var fig memoryFigures
	for b.Loop() {
		fig = runGrabbers(b, 256, 4, 8)
	}
	b.ReportMetric(fig.Baseline, "base-MiB")
	b.ReportMetric(fig.Peak, "peak-MiB")
	b.ReportMetric(fig.After, "after-MiB")
}

// requireProcStatus stops a measurement that reads /proc/self/status: a
// failure on Linux, where it always exists, a skip elsewhere.
func requireProcStatus(tb testing.TB) {
	tb.Helper()
	if _, err := os.Stat("/proc/self/status"); err != nil {
		if runtime.GOOS == "linux" {
			tb.Fatalf("reading the RSS: %v", err)
		}
		tb.Skip("needs /proc/self/status (Linux)")
	}
}
