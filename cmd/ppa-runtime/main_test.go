package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ppa-autoscaler/ppa/internal/teststore"
	"github.com/ppa-autoscaler/ppa/internal/testwasm"
	"github.com/ppa-autoscaler/ppa/test/testenv"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// buildBinary builds ppa-runtime once per test binary.
func buildBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		root, err := testwasm.ModuleRoot()
		if err != nil {
			buildErr = err
			return
		}
		dir, err := os.MkdirTemp("", "ppa-runtime-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "ppa-runtime")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/ppa-runtime")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// TestBinaryServesAndStopsOnSIGTERM runs the binary as a child process:
// it serves REST on the given port, answers a forecast, and exits 0 on
// SIGTERM.
func TestBinaryServesAndStopsOnSIGTERM(t *testing.T) {
	bin := buildBinary(t)
	dir, version := teststore.SeasonalNaive(t)
	httpPort, grpcPort := testenv.FreePort(t), testenv.FreePort(t)
	var logs bytes.Buffer
	cmd := exec.Command(bin, "--store", dir, "--model", "team-a/cpu", "--listen-address", "127.0.0.1",
		"--http-port", strconv.Itoa(httpPort), "--grpc-port", strconv.Itoa(grpcPort),
		"--cache-dir", filepath.Join(t.TempDir(), "cache"), "--poll-interval", "1s")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("ppa-runtime output:\n%s", logs.String())
		}
	})

	base := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := http.Get(base + "/v2/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("ppa-runtime exited before it was ready: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("ppa-runtime not ready after a minute")
		}
		time.Sleep(20 * time.Millisecond)
	}
	body := `{"inputs":[{"name":"horizon","shape":[1],"datatype":"INT64","data":[600]}]}`
	resp, err := http.Post(base+"/v2/models/cpu/infer", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var out struct {
		ModelVersion string `json:"model_version"`
		Outputs      []struct {
			Name  string  `json:"name"`
			Shape []int64 `json:"shape"`
		} `json:"outputs"`
	}
	if err := json.Unmarshal(b, &out); err != nil || resp.StatusCode != 200 {
		t.Fatalf("infer: %d %s: %v", resp.StatusCode, b, err)
	}
	if out.ModelVersion != version || len(out.Outputs) != 4 || out.Outputs[0].Shape[0] != 11 {
		t.Fatalf("infer: %s", b)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		exited <- err
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("ppa-runtime did not stop within a minute of SIGTERM")
	}
	if !strings.Contains(logs.String(), `"msg":"runtime shutting down"`) {
		t.Errorf("no shutdown log line in:\n%s", logs.String())
	}
}

// TestBinaryRejectsBadFlags checks that configuration errors exit non-zero
// with a message naming the problem.
func TestBinaryRejectsBadFlags(t *testing.T) {
	bin := buildBinary(t)
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"--model", "team-a/cpu"}, 1, "--model needs --store"},
		{[]string{"--model", "bad name", "--store", t.TempDir()}, 1, "only letters"},
		{[]string{"--http-port", "70000", "--model-dir", t.TempDir()}, 1, "http port 70000"},
		{[]string{"--max-horizon", "soon", "--model-dir", t.TempDir()}, 2, "invalid duration"},
		{[]string{"--no-such-flag"}, 2, "unknown flag"},
	} {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			out, err := exec.Command(bin, c.args...).CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != c.code {
				t.Fatalf("exit %v, want code %d; output:\n%s", err, c.code, out)
			}
			if !strings.Contains(string(out), c.msg) {
				t.Fatalf("output does not mention %q:\n%s", c.msg, out)
			}
		})
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}
