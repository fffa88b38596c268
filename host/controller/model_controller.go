package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	kservev1beta1 "github.com/kserve/kserve/pkg/apis/serving/v1beta1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/ppa-autoscaler/ppa/abi"
	ppav1 "github.com/ppa-autoscaler/ppa/api/v1alpha1"
)

// indexForecasterName indexes Models by spec.forecaster.name, to find the
// Models a Forecaster concerns.
const indexForecasterName = "spec.forecaster.name"

// indexServingGroup indexes shared-mode Models by the name of the
// InferenceService they share (SharedInferenceServiceName).
const indexServingGroup = "ppa.servingGroup"

// groupRequestPrefix starts the name of a reconcile request for a shared
// InferenceService rather than a Model (no Model name holds a slash): it
// follows a member's deletion or move to another InferenceService.
const groupRequestPrefix = "serving-group/"

// ModelReconciler reconciles Models into their training workflows and
// InferenceService, and reports their state in the Model's status.
type ModelReconciler struct {
	// Client reads (from the cache) and writes the API.
	Client client.Client
	// Scheme knows the kinds of the Model's children, for owner
	// references.
	Scheme *runtime.Scheme
	// Options configure what is rendered.
	Options Options
	// Recorder emits an Event on the Model for every condition
	// transition; nil: none.
	Recorder record.EventRecorder
	// APIReader reads past the cache (the manager's API reader): for the
	// runs of a CronWorkflow that lack the Model's label, which the cache
	// of labelled Workflows does not hold. Nil: Client.
	APIReader client.Reader
}

// errUnresolved reports a Model that cannot be rendered for a reason that
// retrying will not fix; the Model's Ready condition carries it.
type errUnresolved struct {
	reason, message string
}

func (e *errUnresolved) Error() string { return e.reason + ": " + e.message }

// +kubebuilder:rbac:groups=ppa-autoscaler.io,resources=models,verbs=get;list;watch
// +kubebuilder:rbac:groups=ppa-autoscaler.io,resources=models/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=ppa-autoscaler.io,resources=forecasters,verbs=get;list;watch
// +kubebuilder:rbac:groups=argoproj.io,resources=workflows;cronworkflows,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=serving.kserve.io,resources=inferenceservices,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch;create;update;patch;delete

// Reconcile brings one Model's children to its spec and its status to
// what the children report.
func (r *ModelReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	logger := log.FromContext(ctx)
	if group, ok := strings.CutPrefix(req.Name, groupRequestPrefix); ok {
		return ctrl.Result{}, r.ensureSharedInferenceService(ctx, req.Namespace, group)
	}
	var m ppav1.Model
	if err := r.Client.Get(ctx, req.NamespacedName, &m); err != nil {
		if apierrors.IsNotFound(err) {
			return ctrl.Result{}, nil // deleted: owner references clean up
		}
		return ctrl.Result{}, fmt.Errorf("get model %s: %w", req.NamespacedName, err)
	}
	if !m.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	orig := m.DeepCopy()

	st := m.Status.DeepCopy()
	st.ObservedGeneration = m.Generation
	renderErr := r.render(ctx, &m, st)

	// Status from whatever children exist, even when rendering failed.
	trained, serving, statusErr := r.observe(ctx, &m, st)
	ready := readyCondition(st, trained, serving)
	var unresolved *errUnresolved
	switch {
	case errors.As(renderErr, &unresolved):
		ready = metav1.Condition{Type: ppav1.ConditionReady, Status: metav1.ConditionFalse, Reason: unresolved.reason, Message: unresolved.message}
	case renderErr != nil:
		ready = metav1.Condition{Type: ppav1.ConditionReady, Status: metav1.ConditionFalse, Reason: ppav1.ReasonReconcileError, Message: renderErr.Error()}
	case statusErr != nil:
		ready = metav1.Condition{Type: ppav1.ConditionReady, Status: metav1.ConditionFalse, Reason: ppav1.ReasonReconcileError, Message: statusErr.Error()}
	}
	now := metav1.NewTime(r.Options.now())
	for _, c := range []metav1.Condition{trained, serving, ready} {
		c.ObservedGeneration = m.Generation
		c.LastTransitionTime = now
		meta.SetStatusCondition(&st.Conditions, c)
	}
	m.Status = *st
	if !equality.Semantic.DeepEqual(orig.Status, m.Status) {
		if err := r.Client.Status().Patch(ctx, &m, client.MergeFrom(orig)); err != nil {
			return ctrl.Result{}, errors.Join(renderErr, statusErr, fmt.Errorf("patch status of model %s: %w", req.NamespacedName, err))
		}
		logger.V(1).Info("status updated", "ready", ready.Status, "reason", ready.Reason,
			"servingVersion", st.ServingVersion, "endpoint", st.Endpoint)
		emitTransitions(r.Recorder, &m, orig.Status.Conditions, m.Status.Conditions, modelConditions...)
	}
	if unresolved != nil {
		// Nothing to retry: a change of the Model or of a Forecaster
		// triggers the next reconcile.
		logger.Info("model not rendered", "reason", unresolved.reason, "message", unresolved.message)
		renderErr = nil
	}
	var res ctrl.Result
	if r.Options.Runtime != nil && r.Options.RuntimeStatusInterval > 0 {
		res.RequeueAfter = r.Options.RuntimeStatusInterval
	}
	return res, errors.Join(renderErr, statusErr)
}

// render resolves the Model's store and forecaster and creates or updates
// its children.
func (r *ModelReconciler) render(ctx context.Context, m *ppav1.Model, st *ppav1.ModelStatus) error {
	t, err := r.resolve(ctx, m, st)
	if err != nil {
		return err
	}
	if err := r.ensureNamespace(ctx, m, t); err != nil {
		return err
	}
	args := append(TrainerArgs(m, t.plugin, t.storeURI), TrainerPluginPinArgs(t.pluginSHA256, t.pluginURI)...)
	if err := r.ensureInitialWorkflow(ctx, m, args, t); err != nil {
		return err
	}
	if err := r.ensureCronWorkflow(ctx, m, args, t); err != nil {
		return err
	}
	return r.ensureInferenceService(ctx, m, t)
}

// store is the Model's store URI and credentials Secret: its own, else the
// controller's default; ok is false when there is neither.
func (r *ModelReconciler) store(m *ppav1.Model) (uri, secret string, ok bool) {
	switch {
	case m.Spec.Store != nil:
		if s := m.Spec.Store.CredentialsSecret; s != nil {
			secret = s.Name
		}
		return m.Spec.Store.URI, secret, true
	case r.Options.DefaultStoreURI != "":
		return r.Options.DefaultStoreURI, r.Options.DefaultStoreCredentialsSecret, true
	}
	return "", "", false
}

// servingGroup is the name of the InferenceService m shares; ok is false
// for a Model in dedicated mode (or without a store).
func (r *ModelReconciler) servingGroup(m *ppav1.Model) (string, bool) {
	s := m.Spec.Serving
	if s.Mode == ppav1.ServingDedicated {
		return "", false
	}
	uri, secret, ok := r.store(m)
	if !ok {
		return "", false
	}
	return SharedInferenceServiceName(orDefault(s.Runtime, ppav1.DefaultRuntime), uri, secret, s.ServiceAccountName), true
}

// inferenceServiceName is the name of the InferenceService that serves m.
func (r *ModelReconciler) inferenceServiceName(m *ppav1.Model) string {
	if g, ok := r.servingGroup(m); ok {
		return g
	}
	return DedicatedInferenceServiceName(m)
}

// resolve finds the Model's store and plugin.
func (r *ModelReconciler) resolve(ctx context.Context, m *ppav1.Model, st *ppav1.ModelStatus) (training, error) {
	var t training
	var ok bool
	if t.storeURI, t.storeSecret, ok = r.store(m); !ok {
		return t, &errUnresolved{ppav1.ReasonNoStore, "spec.store is not set and the controller has no --default-store-uri"}
	}
	if m.Spec.Forecaster.Name == "" {
		// The trainer's policy search picks among its built-in candidates.
		st.Forecaster = nil
		return t, nil
	}
	resolved, err := r.resolveForecaster(ctx, m.Spec.Forecaster)
	if err != nil {
		st.Forecaster = nil
		return t, err
	}
	st.Forecaster = resolved
	t.plugin, t.pluginSHA256, t.pluginURI = resolved.Plugin, resolved.SHA256, resolved.URI
	return t, nil
}

// resolveForecaster finds the plugin a reference names: the registered
// Forecaster of that name and version (without a version, the newest one
// whose ABI this host runs), else a built-in plugin.
func (r *ModelReconciler) resolveForecaster(ctx context.Context, ref ppav1.ForecasterRef) (*ppav1.ResolvedForecaster, error) {
	var f *ppav1.Forecaster
	if ref.Version != "" {
		var got ppav1.Forecaster
		err := r.Client.Get(ctx, types.NamespacedName{Name: ppav1.ForecasterName(ref.Name, ref.Version)}, &got)
		switch {
		case err == nil:
			f = &got
		case !apierrors.IsNotFound(err):
			return nil, fmt.Errorf("get forecaster %s: %w", ppav1.ForecasterName(ref.Name, ref.Version), err)
		}
	} else {
		var list ppav1.ForecasterList
		if err := r.Client.List(ctx, &list); err != nil {
			return nil, fmt.Errorf("list forecasters: %w", err)
		}
		// The newest version this host can run; the newest of all
		// (reported as incompatible) when it can run none.
		fOK := false
		for i := range list.Items {
			c := &list.Items[i]
			if c.Spec.Name != ref.Name {
				continue
			}
			ok := checkABI(c.Spec.ABIVersion) == nil
			if f == nil || (ok && !fOK) || (ok == fOK && compareVersions(c.Spec.Version, f.Spec.Version) > 0) {
				f, fOK = c, ok
			}
		}
	}
	if f != nil {
		if err := checkABI(f.Spec.ABIVersion); err != nil {
			return nil, &errUnresolved{ppav1.ReasonForecasterIncompatible, fmt.Sprintf("forecaster %s: %v", f.Name, err)}
		}
		return &ppav1.ResolvedForecaster{Plugin: f.Spec.Name + "@" + f.Spec.Version, Forecaster: f.Name, SHA256: f.Spec.SHA256, URI: f.Spec.URI}, nil
	}
	if slices.Contains(r.Options.BuiltinForecasters, ref.Name) {
		plugin := ref.Name
		if ref.Version != "" {
			plugin += "@" + ref.Version
		}
		return &ppav1.ResolvedForecaster{Plugin: plugin}, nil
	}
	want := ref.Name
	if ref.Version != "" {
		want = ppav1.ForecasterName(ref.Name, ref.Version)
	}
	return nil, &errUnresolved{ppav1.ReasonForecasterNotFound, fmt.Sprintf(
		"forecaster %q: no Forecaster %s is registered and it is not a built-in plugin (built in: %s)",
		ref.Name, want, strings.Join(r.Options.BuiltinForecasters, ", "))}
}

// checkABI reports whether this host can run a plugin of ABI version v
// (major.minor.patch).
func checkABI(v string) error {
	parts := strings.Split(v, ".")
	if len(parts) != 3 {
		return fmt.Errorf("abi version %q: want major.minor.patch", v)
	}
	var n [3]uint32
	for i, p := range parts {
		x, err := strconv.ParseUint(p, 10, 16)
		if err != nil {
			return fmt.Errorf("abi version %q: %w", v, err)
		}
		n[i] = uint32(x)
	}
	return abi.CheckVersion(abi.PackVersion(n[0], n[1], n[2]))
}

// compareVersions orders semantic versions major.minor.patch[-pre]
// numerically, a pre-release before its release.
func compareVersions(a, b string) int {
	coreA, preA, _ := strings.Cut(a, "-")
	coreB, preB, _ := strings.Cut(b, "-")
	pa, pb := strings.Split(coreA, "."), strings.Split(coreB, ".")
	for i := 0; i < len(pa) && i < len(pb); i++ {
		x, _ := strconv.ParseUint(pa[i], 10, 64)
		y, _ := strconv.ParseUint(pb[i], 10, 64)
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	switch {
	case preA == preB:
		return 0
	case preA == "":
		return 1
	case preB == "":
		return -1
	}
	return strings.Compare(preA, preB)
}

// ensureInitialWorkflow creates the first-training Workflow for these
// training inputs unless it exists. Workflows are never updated: new
// inputs make a new one (see InitialWorkflowName).
func (r *ModelReconciler) ensureInitialWorkflow(ctx context.Context, m *ppav1.Model, args []string, t training) error {
	name := InitialWorkflowName(m, args)
	var wf wfv1.Workflow
	err := r.Client.Get(ctx, types.NamespacedName{Namespace: m.Namespace, Name: name}, &wf)
	if err == nil {
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return fmt.Errorf("get workflow %s: %w", name, err)
	}
	wf = wfv1.Workflow{
		ObjectMeta: metav1.ObjectMeta{
			Name:      name,
			Namespace: m.Namespace,
			Labels:    withLabel(childLabels(m), LabelTraining, trainingInitial),
		},
		Spec: r.workflowSpec(m, args, t, trainingInitial),
	}
	if err := controllerutil.SetControllerReference(m, &wf, r.Scheme); err != nil {
		return fmt.Errorf("workflow %s: owner reference: %w", name, err)
	}
	switch err := r.Client.Create(ctx, &wf); {
	case apierrors.IsAlreadyExists(err):
		return nil // created since the cache was filled
	case err != nil:
		return fmt.Errorf("create workflow %s: %w", name, err)
	}
	log.FromContext(ctx).Info("first training started", "workflow", name, "plugin", t.plugin)
	return nil
}

// ensureCronWorkflow creates or updates the retraining CronWorkflow.
func (r *ModelReconciler) ensureCronWorkflow(ctx context.Context, m *ppav1.Model, args []string, t training) error {
	cw := &wfv1.CronWorkflow{ObjectMeta: metav1.ObjectMeta{Name: CronWorkflowName(m), Namespace: m.Namespace}}
	op, err := controllerutil.CreateOrUpdate(ctx, r.Client, cw, func() error {
		r.renderCronWorkflow(cw, m, args, t)
		return controllerutil.SetControllerReference(m, cw, r.Scheme)
	})
	if err != nil {
		return fmt.Errorf("cronworkflow %s: %w", cw.Name, err)
	}
	if op != controllerutil.OperationResultNone {
		log.FromContext(ctx).Info("cronworkflow "+string(op), "cronworkflow", cw.Name, "schedule", cw.Spec.Schedule)
	}
	return nil
}

// ensureInferenceService creates or updates the InferenceService that
// serves m: the shared one of its group (after deleting a dedicated one
// left from dedicated mode), else its own.
func (r *ModelReconciler) ensureInferenceService(ctx context.Context, m *ppav1.Model, t training) error {
	if group, ok := r.servingGroup(m); ok {
		if err := r.deleteDedicatedInferenceService(ctx, m); err != nil {
			return err
		}
		return r.ensureSharedInferenceService(ctx, m.Namespace, group)
	}
	isvc := &kservev1beta1.InferenceService{ObjectMeta: metav1.ObjectMeta{Name: DedicatedInferenceServiceName(m), Namespace: m.Namespace}}
	op, err := controllerutil.CreateOrUpdate(ctx, r.Client, isvc, func() error {
		r.renderInferenceService(isvc, m, t)
		return controllerutil.SetControllerReference(m, isvc, r.Scheme)
	})
	if err != nil {
		return fmt.Errorf("inferenceservice %s: %w", isvc.Name, err)
	}
	if op != controllerutil.OperationResultNone {
		log.FromContext(ctx).Info("inferenceservice "+string(op), "inferenceservice", isvc.Name)
	}
	return nil
}

// deleteDedicatedInferenceService deletes the InferenceService m controls
// under its own name, if any.
func (r *ModelReconciler) deleteDedicatedInferenceService(ctx context.Context, m *ppav1.Model) error {
	var isvc kservev1beta1.InferenceService
	err := r.Client.Get(ctx, types.NamespacedName{Namespace: m.Namespace, Name: DedicatedInferenceServiceName(m)}, &isvc)
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("get inferenceservice %s: %w", DedicatedInferenceServiceName(m), err)
	case !metav1.IsControlledBy(&isvc, m):
		return nil
	}
	if err := r.Client.Delete(ctx, &isvc); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete dedicated inferenceservice %s: %w", isvc.Name, err)
	}
	log.FromContext(ctx).Info("dedicated inferenceservice deleted: the model is served by a shared one", "inferenceservice", isvc.Name)
	return nil
}

// sharedMembers lists the Models of namespace ns, not being deleted, that
// share the InferenceService named group, sorted by name.
func (r *ModelReconciler) sharedMembers(ctx context.Context, ns, group string) ([]*ppav1.Model, error) {
	var list ppav1.ModelList
	if err := r.Client.List(ctx, &list, client.InNamespace(ns), client.MatchingFields{indexServingGroup: group}); err != nil {
		return nil, fmt.Errorf("list models sharing inferenceservice %s/%s: %w", ns, group, err)
	}
	var out []*ppav1.Model
	for i := range list.Items {
		if m := &list.Items[i]; m.DeletionTimestamp.IsZero() {
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(a, b *ppav1.Model) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// ensureSharedInferenceService renders the shared InferenceService group of
// namespace ns from its members, each an owner (none the controller), or
// deletes it when it has none.
func (r *ModelReconciler) ensureSharedInferenceService(ctx context.Context, ns, group string) error {
	members, err := r.sharedMembers(ctx, ns, group)
	if err != nil {
		return err
	}
	isvc := &kservev1beta1.InferenceService{ObjectMeta: metav1.ObjectMeta{Name: group, Namespace: ns}}
	if len(members) == 0 {
		err := r.Client.Get(ctx, client.ObjectKeyFromObject(isvc), isvc)
		switch {
		case apierrors.IsNotFound(err):
			return nil
		case err != nil:
			return fmt.Errorf("get inferenceservice %s: %w", group, err)
		case isvc.Labels[LabelServingGroup] != group:
			return nil // not the controller's
		}
		if err := r.Client.Delete(ctx, isvc); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete shared inferenceservice %s: %w", group, err)
		}
		log.FromContext(ctx).Info("shared inferenceservice deleted: no model left", "inferenceservice", group)
		return nil
	}
	var t training
	t.storeURI, t.storeSecret, _ = r.store(members[0]) // the index holds only Models with a store
	op, err := controllerutil.CreateOrUpdate(ctx, r.Client, isvc, func() error {
		r.renderSharedInferenceService(isvc, members, t)
		isvc.OwnerReferences = slices.DeleteFunc(isvc.OwnerReferences, func(o metav1.OwnerReference) bool {
			return o.APIVersion == ppav1.GroupVersion.String() && o.Kind == "Model"
		})
		for _, m := range members {
			if err := controllerutil.SetOwnerReference(m, isvc, r.Scheme); err != nil {
				return fmt.Errorf("owner reference to model %s: %w", m.Name, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("shared inferenceservice %s: %w", group, err)
	}
	if op != controllerutil.OperationResultNone {
		log.FromContext(ctx).Info("shared inferenceservice "+string(op), "inferenceservice", group, "models", len(members))
	}
	return nil
}

// observe updates st from the Model's training workflows and
// InferenceService and returns the Trained and Serving conditions.
func (r *ModelReconciler) observe(ctx context.Context, m *ppav1.Model, st *ppav1.ModelStatus) (trained, serving metav1.Condition, err error) {
	if wfs, lerr := r.trainingWorkflows(ctx, m); lerr != nil {
		err = fmt.Errorf("list workflows of model %s: %w", m.Name, lerr)
		trained = metav1.Condition{Type: ppav1.ConditionTrained, Status: conditionStatus(st, ppav1.ConditionTrained),
			Reason: ppav1.ReasonReconcileError, Message: err.Error()}
	} else {
		trained = applyTrainings(st, wfs)
	}

	var isvc kservev1beta1.InferenceService
	isvcName := r.inferenceServiceName(m)
	gerr := r.Client.Get(ctx, types.NamespacedName{Namespace: m.Namespace, Name: isvcName}, &isvc)
	switch {
	case gerr == nil:
		serving = applyServing(st, &isvc, r.Options.GRPCPort)
		if serving.Status == metav1.ConditionTrue && r.Options.Runtime != nil {
			serving = r.askRuntime(ctx, m, st)
			if serving.Status == metav1.ConditionTrue && trained.Status != metav1.ConditionTrue {
				trained = metav1.Condition{Type: ppav1.ConditionTrained, Status: metav1.ConditionTrue, Reason: ppav1.ReasonVersionServed,
					Message: "the runtime serves version " + st.ServingVersion + ", trained outside the controller's workflows"}
			}
		}
	case apierrors.IsNotFound(gerr):
		st.Endpoint = ""
		serving = metav1.Condition{Type: ppav1.ConditionServing, Status: metav1.ConditionFalse,
			Reason: ppav1.ReasonInferenceServiceNotReady, Message: "no InferenceService " + isvcName}
	default:
		gerr = fmt.Errorf("get inferenceservice %s: %w", isvcName, gerr)
		err = errors.Join(err, gerr)
		serving = metav1.Condition{Type: ppav1.ConditionServing, Status: conditionStatus(st, ppav1.ConditionServing),
			Reason: ppav1.ReasonReconcileError, Message: gerr.Error()}
	}
	return trained, serving, err
}

// askRuntime asks the runtime behind st.Endpoint which version of m it
// serves: that version becomes status.servingVersion, and a runtime that
// serves none (or cannot be asked) makes Serving False.
func (r *ModelReconciler) askRuntime(ctx context.Context, m *ppav1.Model, st *ppav1.ModelStatus) metav1.Condition {
	v, err := r.Options.Runtime.ServedVersion(ctx, st.Endpoint, m.Name)
	if err != nil {
		return metav1.Condition{Type: ppav1.ConditionServing, Status: metav1.ConditionFalse,
			Reason: ppav1.ReasonModelNotServed, Message: err.Error()}
	}
	st.ServingVersion = v
	return metav1.Condition{Type: ppav1.ConditionServing, Status: metav1.ConditionTrue,
		Reason: ppav1.ReasonModelServed, Message: "the runtime at " + st.Endpoint + " serves version " + v}
}

// trainingWorkflows lists m's training Workflows: those labelled with the
// Model, and those Argo started from its CronWorkflow. The second set
// matters where Argo's full CRDs are installed: before 3.7 their schema
// has no fields under spec.workflowMetadata, so the apiserver prunes the
// labels the controller puts there, while Argo's own cron-workflow label
// is always set. Those runs are not in the cache (it holds labelled
// Workflows only), so they are read from the API; the CronWorkflow's status
// changes when they start and end, which triggers a reconcile.
func (r *ModelReconciler) trainingWorkflows(ctx context.Context, m *ppav1.Model) ([]wfv1.Workflow, error) {
	var byModel, byCron wfv1.WorkflowList
	if err := r.Client.List(ctx, &byModel, client.InNamespace(m.Namespace), client.MatchingLabels{LabelModel: m.Name}); err != nil {
		return nil, err
	}
	reader := r.APIReader
	if reader == nil {
		reader = r.Client
	}
	if err := reader.List(ctx, &byCron, client.InNamespace(m.Namespace), client.MatchingLabels{LabelArgoCronWorkflow: CronWorkflowName(m)}); err != nil {
		return nil, err
	}
	out := byModel.Items
	seen := make(map[types.UID]bool, len(out))
	for _, wf := range out {
		seen[wf.UID] = true
	}
	for _, wf := range byCron.Items {
		if !seen[wf.UID] {
			out = append(out, wf)
		}
	}
	return out, nil
}

// conditionStatus is the current status of a condition, Unknown when
// absent.
func conditionStatus(st *ppav1.ModelStatus, t string) metav1.ConditionStatus {
	if c := meta.FindStatusCondition(st.Conditions, t); c != nil {
		return c.Status
	}
	return metav1.ConditionUnknown
}

// SetupWithManager registers the reconciler: it watches Models, their
// CronWorkflows and InferenceServices, every Workflow labelled with a
// Model (the CronWorkflow's runs are not owned by the Model), and
// Forecasters (a new version may change what a Model resolves to).
func (r *ModelReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := r.Options.Validate(); err != nil {
		return fmt.Errorf("model controller: %w", err)
	}
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &ppav1.Model{}, indexForecasterName,
		func(o client.Object) []string { return []string{o.(*ppav1.Model).Spec.Forecaster.Name} }); err != nil {
		return fmt.Errorf("model controller: index %s: %w", indexForecasterName, err)
	}
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &ppav1.Model{}, indexServingGroup,
		func(o client.Object) []string {
			if g, ok := r.servingGroup(o.(*ppav1.Model)); ok {
				return []string{g}
			}
			return nil
		}); err != nil {
		return fmt.Errorf("model controller: index %s: %w", indexServingGroup, err)
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("model").
		For(&ppav1.Model{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Owns(&wfv1.CronWorkflow{}).
		// Every owner: a shared InferenceService has one per member.
		Watches(&kservev1beta1.InferenceService{}, handler.EnqueueRequestForOwner(mgr.GetScheme(), mgr.GetRESTMapper(), &ppav1.Model{})).
		Watches(&ppav1.Model{}, handler.Funcs{DeleteFunc: r.modelDeleted, UpdateFunc: r.modelUpdated}).
		Watches(&wfv1.Workflow{}, handler.EnqueueRequestsFromMapFunc(workflowToModel)).
		Watches(&ppav1.Forecaster{}, handler.EnqueueRequestsFromMapFunc(r.forecasterToModels)).
		Complete(r)
}

// modelDeleted re-renders the shared InferenceService a deleted Model was
// a member of.
func (r *ModelReconciler) modelDeleted(_ context.Context, e event.TypedDeleteEvent[client.Object], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	if m, ok := e.Object.(*ppav1.Model); ok {
		r.enqueueGroup(m, q)
	}
}

// modelUpdated re-renders the shared InferenceService a Model left (for
// another one or for dedicated mode).
func (r *ModelReconciler) modelUpdated(_ context.Context, e event.TypedUpdateEvent[client.Object], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	old, ok1 := e.ObjectOld.(*ppav1.Model)
	m, ok2 := e.ObjectNew.(*ppav1.Model)
	if !ok1 || !ok2 {
		return
	}
	oldGroup, _ := r.servingGroup(old)
	if newGroup, _ := r.servingGroup(m); newGroup != oldGroup {
		r.enqueueGroup(old, q)
	}
}

// enqueueGroup enqueues the shared InferenceService of m's serving group.
func (r *ModelReconciler) enqueueGroup(m *ppav1.Model, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	if g, ok := r.servingGroup(m); ok {
		q.Add(reconcile.Request{NamespacedName: types.NamespacedName{Namespace: m.Namespace, Name: groupRequestPrefix + g}})
	}
}

// workflowToModel maps a training Workflow to its Model by LabelModel, else
// by Argo's label naming the CronWorkflow that started it.
func workflowToModel(_ context.Context, o client.Object) []reconcile.Request {
	name := o.GetLabels()[LabelModel]
	if name == "" {
		name = modelOfCronWorkflow(o.GetLabels()[LabelArgoCronWorkflow])
	}
	if name == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: name}}}
}

// forecasterToModels maps a Forecaster to the Models that name its plugin.
func (r *ModelReconciler) forecasterToModels(ctx context.Context, o client.Object) []reconcile.Request {
	f, ok := o.(*ppav1.Forecaster)
	if !ok {
		return nil
	}
	var models ppav1.ModelList
	if err := r.Client.List(ctx, &models, client.MatchingFields{indexForecasterName: f.Spec.Name}); err != nil {
		log.FromContext(ctx).Error(err, "list models of forecaster", "forecaster", f.Name)
		return nil
	}
	reqs := make([]reconcile.Request, len(models.Items))
	for i, m := range models.Items {
		reqs[i] = reconcile.Request{NamespacedName: types.NamespacedName{Namespace: m.Namespace, Name: m.Name}}
	}
	return reqs
}
