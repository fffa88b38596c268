package main

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestRunFlagErrors(t *testing.T) {
	// A kubeconfig that cannot work, so that valid flags stop at the
	// connection and nothing reaches a real cluster.
	bad := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(bad, []byte("not: [a kubeconfig"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBECONFIG", bad)
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"help", []string{"--help"}, flag.ErrHelp.Error()},
		{"unknown flag", []string{"--nope"}, "flag provided but not defined: -nope"},
		{"bad port", []string{"--grpc-port=http"}, `grpc port "http"`},
		{"port out of range", []string{"--grpc-port=70000"}, "grpc port 70000: want 1..65535"},
		{"empty trainer image", []string{"--trainer-image="}, "trainer image: empty"},
		{"secret without store", []string{"--default-store-credentials-secret=s3"}, "set without a default store URI"},
		{"bad log level", []string{"--log-level=loud"}, "loud"},
		{"no cluster", []string{"--default-store-uri=s3://models/ppa"}, "kubernetes config"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := run(tc.args)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("run(%q) = %v, want an error containing %q", tc.args, err, tc.want)
			}
			if tc.name == "help" && !errors.Is(err, flag.ErrHelp) {
				t.Errorf("help: %v is not flag.ErrHelp", err)
			}
		})
	}
}

func TestSplitList(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"prophet", []string{"prophet"}},
		{" prophet, seasonalnaive ,,", []string{"prophet", "seasonalnaive"}},
	}
	for _, tc := range tests {
		if got := splitList(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("splitList(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
