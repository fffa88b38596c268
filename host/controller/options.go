package controller

import (
	"errors"
	"fmt"
	"time"

	"github.com/ppa-autoscaler/ppa/plugins/builtin"
)

// Defaults of Options.
const (
	// DefaultTrainerImage runs the trainings.
	DefaultTrainerImage = "ghcr.io/ppa-autoscaler/ppa-trainer:latest"
	// DefaultTrainerCommand is the trainer's executable in that image.
	DefaultTrainerCommand = "ppa-trainer"
	// DefaultGRPCPort is the runtime's gRPC port (host/runtime's
	// DefaultGRPCPort), which the ClusterServingRuntime declares as its
	// second container port; KServe's raw deployment mode exposes it on
	// the predictor Service under the same number.
	DefaultGRPCPort = 8081
	// DefaultDeploymentMode is KServe's raw deployment mode: a Deployment
	// and a Service per predictor, no Knative.
	DefaultDeploymentMode = "RawDeployment"
	// DefaultTrainingServiceAccount is the ServiceAccount the controller
	// provides in each Model's namespace for the training pods (the
	// chart's training ServiceAccount name with release "ppa").
	DefaultTrainingServiceAccount = "ppa-workflow"
)

// DefaultBuiltinForecasters returns the plugins built into the trainer and
// the runtime, which a Model may name without a Forecaster: the names of
// plugins/builtin (each plugin's self-described name, e.g. seasonal-naive),
// the one source the trainer and runtime load them by. The controller, the
// trainer and the runtime are built from one tree, so their sets agree.
func DefaultBuiltinForecasters() []string { return builtin.Names() }

// Options configure the reconcilers. Start from NewOptions.
type Options struct {
	// TrainerImage and TrainerCommand run the trainings.
	TrainerImage   string
	TrainerCommand string
	// DefaultStoreURI is the store of Models without spec.store (empty:
	// such Models are not reconciled, with reason NoStore).
	DefaultStoreURI string
	// DefaultStoreCredentialsSecret is the credentials Secret name that
	// goes with DefaultStoreURI (looked up in each Model's namespace).
	DefaultStoreCredentialsSecret string
	// TrainingServiceAccount is the ServiceAccount of the training pods of
	// Models that name none; the controller creates it in their namespace
	// with a Role that lets Argo's executor report results. Empty: none
	// (the namespace's default ServiceAccount).
	TrainingServiceAccount string
	// StoreCredentialsNamespace holds the original of
	// DefaultStoreCredentialsSecret; the controller copies it into the
	// namespaces of Models that use the default store. Empty: no copies
	// (create the Secret in every Model namespace).
	StoreCredentialsNamespace string
	// Runtime, when set, is asked what each ready InferenceService's
	// runtime serves: status.servingVersion is then the version the
	// runtime reports, and Serving is False while it serves none. Nil: the
	// status comes from the training workflows alone.
	Runtime RuntimeQuerier
	// RuntimeStatusInterval is how often a Model whose runtime is asked is
	// reconciled again (a runtime switches versions on its own).
	RuntimeStatusInterval time.Duration
	// TrainingPod are the settings of every training Workflow (deadline,
	// retries, pull secrets, security contexts, placement).
	TrainingPod TrainingPod
	// BuiltinForecasters are the plugin names a Model may use without a
	// registered Forecaster.
	BuiltinForecasters []string
	// GRPCPort is the predictor's gRPC port, for Model.status.endpoint.
	GRPCPort int32
	// DeploymentMode is written to the InferenceService annotation
	// serving.kserve.io/deploymentMode; empty leaves KServe's default.
	DeploymentMode string
	// Now is the clock of condition transition times; default time.Now.
	Now func() time.Time
}

// NewOptions returns the defaults.
func NewOptions() Options {
	return Options{
		TrainerImage:           DefaultTrainerImage,
		TrainerCommand:         DefaultTrainerCommand,
		TrainingServiceAccount: DefaultTrainingServiceAccount,
		TrainingPod:            DefaultTrainingPod(),
		RuntimeStatusInterval:  time.Minute,
		BuiltinForecasters:     DefaultBuiltinForecasters(),
		GRPCPort:               DefaultGRPCPort,
		DeploymentMode:         DefaultDeploymentMode,
		Now:                    time.Now,
	}
}

// Validate checks the options.
func (o Options) Validate() error {
	var errs []error
	if o.TrainerImage == "" {
		errs = append(errs, errors.New("trainer image: empty"))
	}
	if o.TrainerCommand == "" {
		errs = append(errs, errors.New("trainer command: empty"))
	}
	if o.GRPCPort < 1 || o.GRPCPort > 65535 {
		errs = append(errs, fmt.Errorf("grpc port %d: want 1..65535", o.GRPCPort))
	}
	if err := o.TrainingPod.Validate(); err != nil {
		errs = append(errs, err)
	}
	if o.DefaultStoreCredentialsSecret != "" && o.DefaultStoreURI == "" {
		errs = append(errs, errors.New("default store credentials secret: set without a default store URI"))
	}
	return errors.Join(errs...)
}

func (o Options) now() time.Time {
	if o.Now == nil {
		return time.Now()
	}
	return o.Now()
}
