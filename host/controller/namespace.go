package controller

import (
	"context"
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	ppav1 "github.com/ppa-autoscaler/ppa/api/v1alpha1"
)

// trainingRoleRules let Argo's executor report a step's outputs (the
// trainer's result) through WorkflowTaskResults (Argo 3.4 and later).
var trainingRoleRules = []rbacv1.PolicyRule{{
	APIGroups: []string{"argoproj.io"},
	Resources: []string{"workflowtaskresults"},
	Verbs:     []string{"create", "patch"},
}}

// +kubebuilder:rbac:groups="",resources=serviceaccounts,verbs=get;create;update
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;create;update
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=roles;rolebindings,verbs=get;create;update
// +kubebuilder:rbac:groups=argoproj.io,resources=workflowtaskresults,verbs=create;patch

// ensureNamespace provides what the Model's training pods need in its
// namespace: the training ServiceAccount with its Role and RoleBinding
// (when the Model names no ServiceAccount of its own and
// Options.TrainingServiceAccount is set), and a copy of the default
// store's credentials Secret (when the Model uses the default store and
// Options.StoreCredentialsNamespace holds the original). Each object is
// shared by the namespace's Models, each Model an owner (not the
// controller), so the garbage collector removes it with the last one.
//
// Objects are read past the cache (APIReader): the controller does not
// watch every ServiceAccount, Role and Secret of the cluster.
func (r *ModelReconciler) ensureNamespace(ctx context.Context, m *ppav1.Model, t training) error {
	if sa := r.trainingServiceAccount(m); sa != "" && m.Spec.Training.ServiceAccountName == "" {
		labels := map[string]string{labelManagedBy: managedBy}
		if err := r.ensureShared(ctx, m, &corev1.ServiceAccount{}, sa, labels, func(client.Object) {}); err != nil {
			return err
		}
		if err := r.ensureShared(ctx, m, &rbacv1.Role{}, sa, labels, func(o client.Object) {
			o.(*rbacv1.Role).Rules = trainingRoleRules
		}); err != nil {
			return err
		}
		if err := r.ensureShared(ctx, m, &rbacv1.RoleBinding{}, sa, labels, func(o client.Object) {
			rb := o.(*rbacv1.RoleBinding)
			rb.RoleRef = rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: sa}
			rb.Subjects = []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: sa, Namespace: m.Namespace}}
		}); err != nil {
			return err
		}
	}
	src := r.Options.StoreCredentialsNamespace
	if m.Spec.Store != nil || t.storeSecret == "" || src == "" || src == m.Namespace {
		return nil
	}
	var orig corev1.Secret
	if err := r.reader().Get(ctx, types.NamespacedName{Namespace: src, Name: t.storeSecret}, &orig); err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("store credentials: secret %s/%s not found (--store-credentials-namespace)", src, t.storeSecret)
		}
		return fmt.Errorf("store credentials: get secret %s/%s: %w", src, t.storeSecret, err)
	}
	return r.ensureShared(ctx, m, &corev1.Secret{}, t.storeSecret, map[string]string{labelManagedBy: managedBy}, func(o client.Object) {
		s := o.(*corev1.Secret)
		s.Type = orig.Type
		s.Data = maps.Clone(orig.Data)
	})
}

// trainingServiceAccount is the ServiceAccount m's training pods run as:
// the Model's own, else the one the controller provides (may be empty).
func (r *ModelReconciler) trainingServiceAccount(m *ppav1.Model) string {
	if sa := m.Spec.Training.ServiceAccountName; sa != "" {
		return sa
	}
	return r.Options.TrainingServiceAccount
}

func (r *ModelReconciler) reader() client.Reader {
	if r.APIReader != nil {
		return r.APIReader
	}
	return r.Client
}

// ensureShared creates or updates the object name in m's namespace: labels
// and what set writes, with m among its owners. An existing object without
// the labels (app.kubernetes.io/managed-by: ppa-controller) was made by
// someone else, e.g. the chart, and is not changed.
func (r *ModelReconciler) ensureShared(ctx context.Context, m *ppav1.Model, obj client.Object, name string, labels map[string]string, set func(client.Object)) error {
	key := types.NamespacedName{Namespace: m.Namespace, Name: name}
	kind := fmt.Sprintf("%T", obj)
	err := r.reader().Get(ctx, key, obj)
	switch {
	case apierrors.IsNotFound(err):
		obj.SetNamespace(m.Namespace)
		obj.SetName(name)
		obj.SetLabels(labels)
		set(obj)
		if err := controllerutil.SetOwnerReference(m, obj, r.Scheme); err != nil {
			return fmt.Errorf("%s %s: owner: %w", kind, key, err)
		}
		if err := r.Client.Create(ctx, obj); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create %s %s: %w", kind, key, err)
		}
		log.FromContext(ctx).Info("created for the namespace's trainings", "kind", kind, "name", key.String())
		return nil
	case err != nil:
		return fmt.Errorf("get %s %s: %w", kind, key, err)
	}
	for k, v := range labels {
		if obj.GetLabels()[k] != v {
			return nil // not ours
		}
	}
	before := obj.DeepCopyObject()
	set(obj)
	if err := controllerutil.SetOwnerReference(m, obj, r.Scheme); err != nil {
		return fmt.Errorf("%s %s: owner: %w", kind, key, err)
	}
	if equality.Semantic.DeepEqual(before, obj) {
		return nil
	}
	if err := r.Client.Update(ctx, obj); err != nil {
		return fmt.Errorf("update %s %s: %w", kind, key, err)
	}
	return nil
}
