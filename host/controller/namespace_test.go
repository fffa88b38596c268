package controller

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// A Model's training pods get a ServiceAccount allowed to report results
// unless the Model names its own.
func TestWorkflowServiceAccount(t *testing.T) {
	r := testReconciler()
	m := testModel()
	if got := r.workflowSpec(m, nil, training{}, trainingInitial).ServiceAccountName; got != DefaultTrainingServiceAccount {
		t.Errorf("training service account %q, want the controller's %q", got, DefaultTrainingServiceAccount)
	}
	m.Spec.Training.ServiceAccountName = "own"
	if got := r.workflowSpec(m, nil, training{}, trainingInitial).ServiceAccountName; got != "own" {
		t.Errorf("training service account %q, want the Model's", got)
	}
}

// TestEnsureNamespace: in a Model's namespace the controller provides the
// training ServiceAccount, a Role for Argo's WorkflowTaskResults and its
// binding, and a copy of the default store's Secret; it leaves objects it
// did not make alone, and follows changes of the original Secret.
func TestEnsureNamespace(t *testing.T) {
	c := startEnv(t)
	ctx := context.Background()
	src, ns := newNamespace(t, c), newNamespace(t, c)
	scheme, err := NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	o := NewOptions()
	o.DefaultStoreURI, o.DefaultStoreCredentialsSecret, o.StoreCredentialsNamespace = "s3://shared/ppa", "ppa-store", src
	r := &ModelReconciler{Client: c, APIReader: c, Scheme: scheme, Options: o}

	orig := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: src, Name: "ppa-store"},
		Data: map[string][]byte{"AWS_ACCESS_KEY_ID": []byte("id"), "AWS_SECRET_ACCESS_KEY": []byte("key")}}
	if err := c.Create(ctx, orig); err != nil {
		t.Fatal(err)
	}
	// A Model using the default store (the manager under test has none:
	// it only reports NoStore for this one).
	m := newModel(ns, "shared-store")
	m.Spec.Store = nil
	if err := c.Create(ctx, m); err != nil {
		t.Fatal(err)
	}
	tr := training{plugin: "prophet", storeURI: o.DefaultStoreURI, storeSecret: o.DefaultStoreCredentialsSecret}
	if err := r.ensureNamespace(ctx, m, tr); err != nil {
		t.Fatal(err)
	}

	sa := DefaultTrainingServiceAccount
	var acct corev1.ServiceAccount
	var role rbacv1.Role
	var rb rbacv1.RoleBinding
	var copied corev1.Secret
	for _, o := range []struct {
		name string
		obj  client.Object
	}{{sa, &acct}, {sa, &role}, {sa, &rb}, {"ppa-store", &copied}} {
		obj := o.obj
		if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: o.name}, obj); err != nil {
			t.Fatalf("%T %s: %v", obj, o.name, err)
		}
		if refs := obj.GetOwnerReferences(); len(refs) != 1 || refs[0].UID != m.UID || refs[0].Controller != nil && *refs[0].Controller {
			t.Errorf("%T %s: owners %+v, want the Model, not as controller", obj, o.name, refs)
		}
	}
	if !equality.Semantic.DeepEqual(role.Rules, trainingRoleRules) {
		t.Errorf("role rules %+v", role.Rules)
	}
	if rb.RoleRef.Name != sa || len(rb.Subjects) != 1 || rb.Subjects[0].Name != sa || rb.Subjects[0].Namespace != ns {
		t.Errorf("role binding %+v %+v", rb.RoleRef, rb.Subjects)
	}
	if string(copied.Data["AWS_SECRET_ACCESS_KEY"]) != "key" {
		t.Errorf("copied secret data %v", copied.Data)
	}

	// The original changes: the copy follows.
	orig.Data["AWS_SECRET_ACCESS_KEY"] = []byte("rotated")
	if err := c.Update(ctx, orig); err != nil {
		t.Fatal(err)
	}
	// A second Model shares the objects as a second owner.
	m2 := newModel(ns, "second")
	m2.Spec.Store = nil
	if err := c.Create(ctx, m2); err != nil {
		t.Fatal(err)
	}
	if err := r.ensureNamespace(ctx, m2, tr); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "ppa-store"}, &copied); err != nil {
		t.Fatal(err)
	}
	if string(copied.Data["AWS_SECRET_ACCESS_KEY"]) != "rotated" || len(copied.OwnerReferences) != 2 {
		t.Errorf("copy after rotation: data %q owners %d", copied.Data["AWS_SECRET_ACCESS_KEY"], len(copied.OwnerReferences))
	}

	// A Secret of that name the controller did not make is left alone.
	other := newNamespace(t, c)
	mine := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: other, Name: "ppa-store"}, Data: map[string][]byte{"k": []byte("mine")}}
	if err := c.Create(ctx, mine); err != nil {
		t.Fatal(err)
	}
	m3 := newModel(other, "own-secret")
	m3.Spec.Store = nil
	if err := c.Create(ctx, m3); err != nil {
		t.Fatal(err)
	}
	if err := r.ensureNamespace(ctx, m3, tr); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(ctx, types.NamespacedName{Namespace: other, Name: "ppa-store"}, mine); err != nil {
		t.Fatal(err)
	}
	if string(mine.Data["k"]) != "mine" || len(mine.OwnerReferences) != 0 {
		t.Errorf("a user's Secret was changed: %v owners %v", mine.Data, mine.OwnerReferences)
	}
}
