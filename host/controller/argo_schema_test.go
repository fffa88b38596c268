package controller

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"
)

// argoVersions are the Argo Workflows releases the chart README documents
// (3.4 or newer), each with its full CronWorkflow CRD in
// testdata/crds/argo-full (gzipped copies of the module's
// manifests/base/crds/full/argoproj.io_cronworkflows.yaml).
var argoVersions = []string{"v3.4.17", "v3.6.10", "v3.7.18"}

// TestCronWorkflowMatchesEachArgoSchema renders a Model's CronWorkflow and
// checks it against the CRD schema of every documented Argo version: the
// apiserver would accept it, prune none of its fields, and each version's
// controller reads the schedule and the time zone.
func TestCronWorkflowMatchesEachArgoSchema(t *testing.T) {
	r := testReconciler()
	m := testModel()
	m.Spec.Training.Schedule = "30 2 * * *"
	m.Spec.Training.TimeZone = "Europe/Paris"
	tr := training{plugin: "prophet", storeURI: "s3://models/ppa", storeSecret: "creds"}
	cw := &wfv1.CronWorkflow{}
	cw.APIVersion, cw.Kind = wfv1.SchemeGroupVersion.String(), "CronWorkflow"
	cw.Name, cw.Namespace = CronWorkflowName(m), m.Namespace
	r.renderCronWorkflow(cw, m, TrainerArgs(m, tr.plugin, tr.storeURI), tr)
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(cw)
	if err != nil {
		t.Fatal(err)
	}
	// Argo owns the status; the controller only sends its zero value.
	delete(obj, "status")
	// The Go type of Argo 3.7 reads the schedule whichever field holds it.
	if got := cw.Spec.GetSchedules(context.Background()); !slices.Equal(got, []string{"30 2 * * *"}) {
		t.Errorf("schedules %v", got)
	}
	for _, v := range argoVersions {
		t.Run(v, func(t *testing.T) {
			schema := cronWorkflowSchema(t, v)
			validator, _, err := validation.NewSchemaValidator(schema)
			if err != nil {
				t.Fatal(err)
			}
			structural, err := structuralschema.NewStructural(schema)
			if err != nil {
				t.Fatal(err)
			}
			// What the apiserver does to a custom resource: prune unknown
			// fields and nulls, then validate.
			pruned := runtime.DeepCopyJSON(obj)
			unknown := pruning.PruneWithOptions(pruned, structural, true, structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})
			defaulting.PruneNonNullableNullsWithoutDefaults(pruned, structural)
			if errs := validation.ValidateCustomResource(field.NewPath(""), pruned, validator); len(errs) > 0 {
				t.Errorf("Argo %s rejects the CronWorkflow: %v", v, errs.ToAggregate())
			}
			// Before 3.7, spec.workflowMetadata has no fields in the full
			// schema: its labels go, and the controller finds the runs by
			// Argo's own label instead (TestWorkflowToModel).
			unknown = slices.DeleteFunc(unknown, func(p string) bool { return p == "spec.workflowMetadata.labels" })
			if len(unknown) > 0 {
				t.Errorf("Argo %s drops the CronWorkflow's fields %v", v, unknown)
			}
			spec, _ := pruned["spec"].(map[string]any)
			if spec["schedule"] != "30 2 * * *" || spec["timezone"] != "Europe/Paris" {
				t.Errorf("Argo %s: stored spec schedule %v timezone %v, want the Model's", v, spec["schedule"], spec["timezone"])
			}
		})
	}
}

// TestWorkflowToModel: a training Workflow maps to its Model by the
// Model's label, or by the label Argo puts on a CronWorkflow's runs.
func TestWorkflowToModel(t *testing.T) {
	m := testModel()
	for _, tt := range []struct {
		name   string
		labels map[string]string
		want   string
	}{
		{"model label", map[string]string{LabelModel: "checkout"}, "checkout"},
		{"argo cron label only", map[string]string{LabelArgoCronWorkflow: CronWorkflowName(m)}, m.Name},
		{"other cron workflow", map[string]string{LabelArgoCronWorkflow: "nightly-report"}, ""},
		{"no labels", nil, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wf := &wfv1.Workflow{}
			wf.Namespace, wf.Labels = "shop", tt.labels
			reqs := workflowToModel(context.Background(), wf)
			got := ""
			if len(reqs) == 1 {
				got = reqs[0].Name
			}
			if got != tt.want || len(reqs) > 1 {
				t.Errorf("maps to %v, want %q", reqs, tt.want)
			}
		})
	}
}

// cronWorkflowSchema reads the openAPIV3Schema of Argo version v's
// CronWorkflow CRD, in the apiserver's internal form.
func cronWorkflowSchema(t *testing.T, v string) *apiextensions.JSONSchemaProps {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "crds", "argo-full", "argoproj.io_cronworkflows-"+v+".yaml.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", f.Name(), err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("%s: %v", f.Name(), err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.Unmarshal(bytes.TrimSpace(raw), &crd); err != nil {
		t.Fatalf("%s: %v", f.Name(), err)
	}
	for _, ver := range crd.Spec.Versions {
		if ver.Name != "v1alpha1" || ver.Schema == nil {
			continue
		}
		var out apiextensions.JSONSchemaProps
		if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(ver.Schema.OpenAPIV3Schema, &out, nil); err != nil {
			t.Fatalf("%s: convert schema: %v", f.Name(), err)
		}
		return &out
	}
	t.Fatalf("%s: no v1alpha1 schema", f.Name())
	return nil
}
