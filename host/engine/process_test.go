package engine_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/host/engine"
)

// crashGuest is a C guest whose instances start in microseconds: train
// traps, predict never returns (testdata/crash).
func crashGuest(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "crash", "crash.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// children returns the pids of this process's child processes.
func children(t testing.TB) []int {
	t.Helper()
	dirs, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		t.Fatal(err)
	}
	self := os.Getpid()
	var out []int
	for _, d := range dirs {
		b, err := os.ReadFile(d)
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses.
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 1 {
			if ppid, _ := strconv.Atoi(f[1]); ppid == self {
				pid, _ := strconv.Atoi(strings.Fields(s)[0])
				out = append(out, pid)
			}
		}
	}
	return out
}

// rssKiB returns the resident memory of pid in KiB (VmRSS).
func rssKiB(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	return 0
}

// waitChildren waits (a few seconds at most) for the number of child
// processes to drop to want, and returns the last count.
func waitChildren(t testing.TB, want int) int {
	t.Helper()
	n := 0
	for range 100 {
		if n = len(children(t)); n <= want {
			return n
		}
		time.Sleep(50 * time.Millisecond)
	}
	return n
}

func processConfig() engine.Config {
	return testConfig().WithIsolation(engine.IsolationProcess).WithMemoryLimitPages(1024).WithMaxOutputBytes(4 << 10)
}

// TestProcessFailuresKeepHealthyServing makes a hostile plugin trap and
// overrun its time limit in worker processes while a healthy plugin keeps
// answering, then closes it and checks that its workers are gone.
func TestProcessFailuresKeepHealthyServing(t *testing.T) {
	engine.RequireWorkers(t)
	prebuild(t, "echo")
	ctx := context.Background()
	const limit = time.Second
	e := newEngine(t, processConfig().WithCallTimeout(limit).WithPoolSize(2))
	healthy := load(t, e, "echo")
	checkHealthy(t, healthy)
	base := len(children(t))

	bad, err := e.Load(ctx, crashGuest(t), "")
	if err != nil {
		t.Fatal(err)
	}
	if bad.RunMode() != engine.RunSandboxedProcess {
		t.Fatalf("run mode %q, want %q", bad.RunMode(), engine.RunSandboxedProcess)
	}
	var done atomic.Bool
	var healthyCalls atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		for !done.Load() {
			checkHealthy(t, healthy)
			healthyCalls.Add(1)
		}
	})
	var mu sync.Mutex
	var overruns []time.Duration
	for g := range 2 {
		wg.Go(func() {
			for i := range 10 {
				var err error
				if (i+g)%2 == 0 {
					_, err = bad.Train(ctx, trainRequest(nil))
				} else {
					start := time.Now()
					_, err = bad.Predict(ctx, &abi.PredictRequest{Model: []byte{1}, Timestamps: []int64{1}})
					mu.Lock()
					overruns = append(overruns, time.Since(start)-limit)
					mu.Unlock()
				}
				var ce *engine.CallError
				if !errors.As(err, &ce) || (ce.Failure != engine.FailureTrap && ce.Failure != engine.FailureTimeout) {
					t.Errorf("hostile call: %v, want a trap or a timeout", err)
				}
			}
		})
	}
	// Let the hostile calls finish, then stop the healthy loop.
	for bad.Stats().Calls < 20 {
		time.Sleep(10 * time.Millisecond)
	}
	done.Store(true)
	wg.Wait()
	t.Logf("%d healthy calls answered during 20 hostile ones; runaway calls ended this long after their %v limit: %v",
		healthyCalls.Load(), limit, overruns)
	for _, o := range overruns {
		if o > 5*time.Second {
			t.Errorf("a runaway call ended %v after its limit", o)
		}
	}
	if st := bad.Stats(); st.Failures != 20 {
		t.Errorf("hostile stats %+v: want 20 failures", st)
	}
	bad.Close(ctx)
	if n := waitChildren(t, base); n != base {
		t.Errorf("%d child processes after closing the hostile plugin, want %d (the healthy plugin's)", n, base)
	}
	checkHealthy(t, healthy)
}

// BenchmarkProcessFailures makes b.N consecutive failing calls in worker
// processes — traps (the worker survives, the instance is replaced) or
// timeouts (the worker is killed and restarted) — and reports the child
// processes and the resident memory of the host and of the workers before
// and after.
// For the 10,000-failure figures:
//
//	go test -run '^$' -bench ProcessFailures/trap -benchtime 10000x ./host/engine
func BenchmarkProcessFailures(b *testing.B) {
	engine.RequireWorkers(b)
	for _, kind := range []string{"trap", "timeout"} {
		b.Run(kind, func(b *testing.B) {
			ctx := context.Background()
			e := newEngine(b, processConfig().WithCallTimeout(20*time.Millisecond).WithPoolSize(1))
			p, err := e.Load(ctx, crashGuest(b), "")
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close(ctx)
			call := func() error {
				if kind == "trap" {
					_, err := p.Train(ctx, trainRequest(nil))
					return err
				}
				_, err := p.Predict(ctx, &abi.PredictRequest{Model: []byte{1}, Timestamps: []int64{1}})
				return err
			}
			// Warm up: the first failures grow the heaps to their steady size.
			for range 20 {
				_ = call()
			}
			workersRSS := func() int {
				n := 0
				for _, c := range children(b) {
					n += rssKiB(c)
				}
				return n
			}
			heap := func() float64 {
				runtime.GC()
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				return float64(ms.HeapAlloc) / (1 << 20)
			}
			heapBefore := heap()
			procsBefore, hostBefore, workersBefore := len(children(b)), rssKiB(os.Getpid()), workersRSS()
			for b.Loop() {
				if err := call(); err == nil {
					b.Fatal("the hostile call succeeded")
				}
			}
			b.StopTimer()
			procsAfter := waitChildren(b, procsBefore)
			b.ReportMetric(heapBefore, "MiB-host-heap-before")
			b.ReportMetric(heap(), "MiB-host-heap-after")
			b.ReportMetric(float64(procsBefore), "procs-before")
			b.ReportMetric(float64(procsAfter), "procs-after")
			b.ReportMetric(float64(hostBefore)/1024, "MiB-host-before")
			b.ReportMetric(float64(rssKiB(os.Getpid()))/1024, "MiB-host-after")
			b.ReportMetric(float64(workersBefore)/1024, "MiB-workers-before")
			b.ReportMetric(float64(workersRSS())/1024, "MiB-workers-after")
			if st := p.Stats(); st.Failures < uint64(b.N) {
				b.Fatalf("stats %+v: want at least %d failures", st, b.N)
			}
		})
	}
}
