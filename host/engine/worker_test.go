package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/internal/testwasm"
)

// probeEnv makes TestLockDownProbe's child process lock itself down and
// try what a worker must not do.
const probeEnv = "PPA_ENGINE_LOCKDOWN_PROBE"

// TestLockDownProbe runs lockDown in a child process (this test binary)
// and checks that files, sockets, processes and signals to others are
// refused while threads, memory and pipes keep working.
func TestLockDownProbe(t *testing.T) {
	if os.Getenv(probeEnv) == "1" {
		lockDownProbe()
		return
	}
	requireWorkers(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockDownProbe$")
	cmd.Env = append(os.Environ(), probeEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("probe: %v\n%s", err, out)
	}
	got := string(out)
	for _, want := range []string{
		"open: operation not permitted",
		"create: operation not permitted",
		"socket: operation not permitted",
		"exec: operation not permitted",
		"kill: operation not permitted",
		"setrlimit NOFILE: operation not permitted",
		"threads: ok",
		"memory: ok",
		"done",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("probe output lacks %q:\n%s", want, got)
		}
	}
}

// lockDownProbe is the child of TestLockDownProbe.
func lockDownProbe() {
	say := func(what string, err error) {
		if err == nil {
			fmt.Printf("%s: ALLOWED\n", what)
			return
		}
		msg := err.Error()
		if i := strings.LastIndex(msg, ": "); i >= 0 {
			msg = msg[i+2:]
		}
		fmt.Printf("%s: %s\n", what, msg)
	}
	if err := limitWorker(workerInit{AddressSpace: 16 << 30}); err != nil {
		fmt.Println("limits:", err)
		os.Exit(1)
	}
	if err := lockDown(); err != nil {
		fmt.Println("lock down:", err)
		os.Exit(1)
	}
	_, err := os.Open("/proc/self/status")
	say("open", err)
	_, err = os.Create(filepath.Join(os.TempDir(), "ppa-lockdown-probe"))
	say("create", err)
	_, err = net.Dial("tcp", "127.0.0.1:9")
	say("socket", err)
	say("exec", exec.Command("/bin/true").Run())
	p, _ := os.FindProcess(1)
	say("kill", p.Signal(os.Interrupt))
	say("setrlimit NOFILE", setNoFile())
	// New threads (a locked goroutine each) and a large allocation.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			runtime.LockOSThread()
			b := make([]byte, 1<<20)
			b[len(b)-1] = 1
		})
	}
	wg.Wait()
	fmt.Println("threads: ok")
	big := make([]byte, 512<<20)
	for i := 0; i < len(big); i += 4096 {
		big[i] = 1
	}
	runtime.GC()
	fmt.Println("memory: ok")
	fmt.Println("done")
	os.Exit(0)
}

// TestWorkerProcessLimits loads a module in a worker process and reads the
// worker's limits, seccomp state and environment from /proc.
func TestWorkerProcessLimits(t *testing.T) {
	requireWorkers(t)
	wasm := testwasm.Build(t, "./host/engine/testdata/guests/echo")
	ctx := context.Background()
	e, err := New(ctx, NewConfig().WithIsolation(IsolationProcess).WithMemoryLimitPages(1024).WithPoolSize(1))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)
	p, err := e.Load(ctx, wasm, "")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	if p.RunMode() != RunSandboxedProcess {
		t.Fatalf("run mode %q, want %q", p.RunMode(), RunSandboxedProcess)
	}
	slot, _, err := p.s.pool.get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer p.s.pool.put(slot, true)
	w := slot.(*worker)
	proc := fmt.Sprintf("/proc/%d/", w.cmd.Process.Pid)
	read := func(name string) string {
		b, err := os.ReadFile(proc + name)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	status := read("status")
	for _, want := range []string{"Seccomp:\t2", "NoNewPrivs:\t1"} {
		if !strings.Contains(status, want) {
			t.Errorf("worker status lacks %q", want)
		}
	}
	limits := strings.Join(strings.Fields(read("limits")), " ")
	as := 1024*65536 + DefaultWorkerOverhead
	for _, want := range []string{
		"Max open files 16 16 files",
		"Max file size 0 0 bytes",
		"Max core file size 0 0 bytes",
		fmt.Sprintf("Max address space %d %d bytes", as, as),
	} {
		if !strings.Contains(limits, want) {
			t.Errorf("worker limits lack %q:\n%s", want, limits)
		}
	}
	if env := strings.Split(strings.TrimRight(read("environ"), "\x00"), "\x00"); len(env) != 2 || env[0] != workerEnv+"=1" {
		t.Errorf("worker environment %q: want only %s and GOMAXPROCS", env, workerEnv)
	}
}

// hostProbeEnv makes TestWorkersDieWithHost's child start a worker, print
// its pid and wait to be killed.
const hostProbeEnv = "PPA_ENGINE_HOST_PROBE"

// TestWorkersDieWithHost kills a host process with SIGKILL (no chance to
// clean up) while its worker runs an endless call, and checks that the
// worker dies too (Pdeathsig).
func TestWorkersDieWithHost(t *testing.T) {
	if os.Getenv(hostProbeEnv) == "1" {
		hostProbe()
		return
	}
	requireWorkers(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestWorkersDieWithHost$")
	cmd.Env = append(os.Environ(), hostProbeEnv+"=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pid int
	if _, err := fmt.Fscanf(out, "worker %d\n", &pid); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("no worker pid from the host probe: %v", err)
	}
	if !alive(pid) {
		t.Fatalf("worker %d is not running before its host is killed", pid)
	}
	cmd.Process.Kill()
	cmd.Wait()
	for range 100 {
		if !alive(pid) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	syscall.Kill(pid, syscall.SIGKILL)
	t.Fatalf("worker %d outlived its host by 5 s", pid)
}

// alive reports whether pid is a process that is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(f) > 0 && f[0] != "Z" && f[0] != "X"
}

// hostProbe is the child of TestWorkersDieWithHost.
func hostProbe() {
	wasm, err := os.ReadFile(filepath.Join("testdata", "crash", "crash.wasm"))
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	ctx := context.Background()
	e, err := New(ctx, NewConfig().WithIsolation(IsolationProcess).WithPoolSize(1))
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	p, err := e.Load(ctx, wasm, "")
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	p.s.pool.mu.Lock()
	w := p.s.pool.idle[0].(*worker)
	p.s.pool.mu.Unlock()
	// A runaway call: the worker is not reading its pipe when the host
	// dies, so only Pdeathsig can end it.
	go p.Predict(ctx, &abi.PredictRequest{Model: []byte{1}, Timestamps: []int64{1}})
	for p.Stats().Busy == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	fmt.Printf("worker %d\n", w.cmd.Process.Pid)
	time.Sleep(time.Hour)
}

// TestFrames round-trips frames and checks what readFrame refuses.
func TestFrames(t *testing.T) {
	big := make([]byte, 100<<10)
	big[len(big)-1] = 7
	tests := []struct {
		name  string
		parts [][]byte
		max   int
		err   string
	}{
		{name: "empty", max: 0},
		{name: "small parts", parts: [][]byte{{1}, []byte("abc")}, max: 4},
		{name: "large last part", parts: [][]byte{{2}, big}, max: len(big) + 1},
		{name: "over the limit", parts: [][]byte{[]byte("abcd")}, max: 3, err: "frame of 4 bytes exceeds the 3-byte limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf strings.Builder
			if err := writeFrame(&buf, frameCall, tt.parts...); err != nil {
				t.Fatal(err)
			}
			kind, body, err := readFrame(strings.NewReader(buf.String()), tt.max)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("readFrame error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || kind != frameCall {
				t.Fatalf("readFrame: kind %d, %v", kind, err)
			}
			var want []byte
			for _, p := range tt.parts {
				want = append(want, p...)
			}
			if string(body) != string(want) {
				t.Errorf("body of %d bytes, want %d", len(body), len(want))
			}
			// Truncated: the body is cut short.
			if len(want) > 0 {
				if _, _, err := readFrame(strings.NewReader(buf.String()[:buf.Len()-1]), tt.max); err == nil {
					t.Error("a truncated frame was accepted")
				}
			}
		})
	}
}

// TestWorkerCompilationCache checks that workers share a compilation
// cache even when the engine has none: the first worker fills a temporary
// one, a restarted worker loads from it, and Close removes it.
func TestWorkerCompilationCache(t *testing.T) {
	requireWorkers(t)
	wasm, err := os.ReadFile(filepath.Join("testdata", "crash", "crash.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	e, err := New(ctx, NewConfig().WithIsolation(IsolationProcess).WithPoolSize(1).WithCallTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	dir := e.workerCache
	if dir == "" || e.ownCache != dir {
		t.Fatalf("worker cache %q (own %q): want a temporary directory", dir, e.ownCache)
	}
	p, err := e.Load(ctx, wasm, "")
	if err != nil {
		t.Fatal(err)
	}
	files := func() map[string]os.FileInfo {
		out := map[string]os.FileInfo{}
		filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				if fi, err := os.Stat(path); err == nil {
					out[path] = fi
				}
			}
			return nil
		})
		return out
	}
	before := files()
	if len(before) == 0 {
		t.Fatal("the first worker left nothing in the compilation cache")
	}
	// A timeout kills the worker; the next call starts another from the cache.
	if _, err := p.Predict(ctx, &abi.PredictRequest{Model: []byte{1}, Timestamps: []int64{1}}); err == nil {
		t.Fatal("the endless predict succeeded")
	}
	if _, err := p.Train(ctx, &abi.TrainRequest{Timestamps: []int64{1}, Values: []float64{1}}); err == nil {
		t.Fatal("the trapping train succeeded")
	}
	if st := p.Stats(); st.Instantiations != 2 {
		t.Errorf("stats %+v: want a second worker after the kill", st)
	}
	// A compilation would have written the entry anew (a new file renamed
	// over the old one).
	after := files()
	for path, fi := range before {
		if a, ok := after[path]; !ok || !os.SameFile(a, fi) {
			t.Errorf("cache entry %s was rewritten: the restarted worker compiled again", path)
		}
	}
	p.Close(ctx)
	if err := e.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the temporary cache %s is still there after Close (%v)", dir, err)
	}
}

// TestWorkerCrash kills a worker from outside in the middle of a call: the
// call fails as a crash (not a timeout) and the next call gets a new
// worker.
func TestWorkerCrash(t *testing.T) {
	requireWorkers(t)
	wasm, err := os.ReadFile(filepath.Join("testdata", "crash", "crash.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	e, err := New(ctx, NewConfig().WithIsolation(IsolationProcess).WithPoolSize(1))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)
	p, err := e.Load(ctx, wasm, "")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	p.s.pool.mu.Lock()
	pid := p.s.pool.idle[0].(*worker).cmd.Process.Pid
	p.s.pool.mu.Unlock()
	done := make(chan error, 1)
	go func() {
		_, err := p.Predict(ctx, &abi.PredictRequest{Model: []byte{1}, Timestamps: []int64{1}})
		done <- err
	}()
	for p.Stats().Busy == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err = <-done
	var ce *CallError
	if !errors.As(err, &ce) || ce.Failure != FailureCrash || !strings.Contains(err.Error(), "worker process died (signal: killed)") {
		t.Fatalf("predict whose worker was killed: %v, want a crash", err)
	}
	if _, err := p.Train(ctx, &abi.TrainRequest{Timestamps: []int64{1}, Values: []float64{1}}); !errors.As(err, &ce) || ce.Failure != FailureTrap {
		t.Fatalf("train on a new worker: %v, want the guest's trap", err)
	}
	if st := p.Stats(); st.Instantiations != 2 || st.Failures != 2 || st.Idle != 1 {
		t.Errorf("stats %+v: want a second worker, kept after the trap", st)
	}
}
