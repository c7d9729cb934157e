package kube

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/graphjob/graphjob/contract"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"
)

// Labels and annotations on the objects graphjob makes.
const (
	LabelGraph    = "graphjob.dev/graph"
	LabelRun      = "graphjob.dev/run"
	LabelSchedule = "graphjob.dev/schedule"
	// LabelSlot holds a scheduled run's slot time (contract.Slot.Stamp).
	LabelSlot = "graphjob.dev/slot"
	// AnnotationDigest holds the graph's digest.
	AnnotationDigest = "graphjob.dev/graph-digest"
)

// Where the pod finds things.
const (
	ContainerName = "run"
	graphDir      = "/etc/graphjob/graph"
	// GraphKey is the key of a graph's ConfigMap that holds the file.
	GraphKey = "graph.yaml"
	// nonRoot is distroless's "nonroot" user and group.
	nonRoot = 65532
)

// Template describes the Job of one run, or (for a CronJob) of each run of
// a schedule. Job and CronJob build their objects from it.
type Template struct {
	// Name is the Job's name, which is also the run's ID: a DNS label of at
	// most 63 characters (52 for a CronJob, whose Jobs add 11).
	Name      string
	Namespace string
	// Graph says where the pod reads the graph file.
	Graph Graph
	// Image is graphjob's container image.
	Image string
	// Store is the checkpoint store's URL. It must be shared storage (s3://,
	// gs://, azblob://): a pod's own filesystem does not outlive it.
	Store string
	// StoreSecret names a Secret whose keys become the container's
	// environment: the store's credentials (AWS_ACCESS_KEY_ID, …). Optional.
	StoreSecret string
	// Input is the run's input, a JSON object. Optional.
	Input string
	// Schedule and Slot mark a scheduled run.
	Schedule string
	Slot     time.Time
	// BackoffLimit bounds the pods that fail with a transient exit; 6 if nil.
	// Drained pods (exit 75) and disrupted ones are not counted.
	BackoffLimit *int32
	// ActiveDeadline bounds the run's time; none if 0.
	ActiveDeadline time.Duration
	// TTLAfterFinished deletes the finished Job after this long; never if nil.
	TTLAfterFinished *time.Duration
	// DrainTimeout is what running tasks get after SIGTERM,
	// contract.DefaultDrainTimeout (25 s) if 0. The pod's grace period is
	// contract.DrainMargin (5 s) longer, for the last commit.
	DrainTimeout time.Duration
	// Resources of the container; DefaultCPU and DefaultMemory requested,
	// DefaultMemoryLimit the limit, if empty.
	Resources corev1.ResourceRequirements
	// ServiceAccount runs the pod; the namespace's default if empty. Its
	// token is not mounted: graphjob run does not call the API server.
	ServiceAccount string
	// Env is added to the container's environment.
	Env []corev1.EnvVar
	// EnvFrom is added to the container's envFrom, after StoreSecret.
	EnvFrom []corev1.EnvFromSource
	// Server is the API server's version; fields it lacks are left out. The
	// zero Version means the newest.
	Server Version
}

// Graph is where a pod reads its graph: an immutable ConfigMap (see
// ConfigMap) or a URL the pod reads through the store's drivers.
type Graph struct {
	Name   string // metadata.name
	Digest string // sha256:<hex>
	// ConfigMap names the ConfigMap holding it under graph.yaml; or
	ConfigMap string
	// URL is an s3://, gs://, azblob:// (or file://) URL of the file.
	URL string
}

// ConfigMapName is the name of the ConfigMap holding a graph: it carries the
// digest, so an edited graph is a new ConfigMap and a running Job never sees
// the edit. It is a DNS label: a graph name too long for one is shortened
// (see DefaultName).
func ConfigMapName(graph, digest string) string {
	sum := strings.TrimPrefix(digest, "sha256:")
	sum = sum[:min(len(sum), 12)]
	return "graph-" + shorten(graph, validation.DNS1123LabelMaxLength-len("graph-")-1-len(sum)) + "-" + sum
}

// ConfigMap holds a graph file for the Jobs that run it. It is immutable.
func ConfigMap(namespace, graph, digest string, file []byte) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{
			Name: ConfigMapName(graph, digest), Namespace: namespace,
			Labels:      map[string]string{LabelGraph: graph},
			Annotations: map[string]string{AnnotationDigest: digest},
		},
		Immutable: ptr.To(true),
		Data:      map[string]string{GraphKey: string(file)},
	}
}

// Job returns the Job of a run.
func Job(r Template) (*batchv1.Job, error) {
	if err := r.check(validation.DNS1123LabelMaxLength); err != nil {
		return nil, err
	}
	spec := r.jobSpec()
	labels := r.labels()
	labels[LabelRun] = r.Name
	spec.Template.Labels = labels
	return &batchv1.Job{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: metav1.ObjectMeta{Name: r.Name, Namespace: r.Namespace, Labels: labels, Annotations: r.annotations()},
		Spec:       spec,
	}, nil
}

// CronJob returns a CronJob that starts a Job like Job's on schedule, in
// timeZone (an IANA name; the controller's zone if empty). Each Job is a run
// named after the CronJob and the scheduled time. Runs of one CronJob do not
// overlap (Forbid) unless concurrency says otherwise.
func CronJob(r Template, schedule, timeZone string, concurrency batchv1.ConcurrencyPolicy) (*batchv1.CronJob, error) {
	if err := r.check(maxCronJobName); err != nil {
		return nil, err
	}
	if strings.TrimSpace(schedule) == "" {
		return nil, errors.New("a CronJob needs a schedule, such as --schedule '0 2 * * *'")
	}
	if timeZone != "" {
		if _, err := time.LoadLocation(timeZone); err != nil {
			return nil, fmt.Errorf("time zone %q: use an IANA name such as Europe/Berlin: %w", timeZone, err)
		}
	}
	if concurrency == "" {
		concurrency = batchv1.ForbidConcurrent
	}
	spec := r.jobSpec()
	labels := r.labels()
	spec.Template.Labels = labels
	cj := &batchv1.CronJob{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "CronJob"},
		ObjectMeta: metav1.ObjectMeta{Name: r.Name, Namespace: r.Namespace, Labels: labels, Annotations: r.annotations()},
		Spec: batchv1.CronJobSpec{
			Schedule:          schedule,
			ConcurrencyPolicy: concurrency,
			JobTemplate: batchv1.JobTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: r.annotations()},
				Spec:       spec,
			},
		},
	}
	if timeZone != "" {
		cj.Spec.TimeZone = &timeZone
	}
	return cj, nil
}

func (r *Template) check(maxName int) error {
	var errs []error
	if msgs := validation.IsDNS1123Label(r.Name); len(msgs) > 0 || len(r.Name) > maxName {
		errs = append(errs, fmt.Errorf("name %q: use at most %d lower-case letters, digits and '-', starting and ending with a letter or digit", r.Name, maxName))
	}
	if r.Image == "" {
		errs = append(errs, errors.New("no image: give graphjob's image, such as --image ghcr.io/graphjob/graphjob:v0.1.0"))
	}
	if r.Store == "" {
		errs = append(errs, errors.New("no store: a Job needs a shared checkpoint store, such as --store s3://bucket/graphjob"))
	} else if strings.HasPrefix(r.Store, "file://") || strings.HasPrefix(r.Store, "mem://") {
		errs = append(errs, fmt.Errorf("store %q is the pod's own: a replaced pod would start over; use s3://, gs:// or azblob://", r.Store))
	}
	switch {
	case (r.Graph.ConfigMap == "") == (r.Graph.URL == ""):
		errs = append(errs, errors.New("the graph: give a ConfigMap or a URL, one of them"))
	case r.Graph.Name == "" || r.Graph.Digest == "":
		errs = append(errs, errors.New("the graph: its name and digest are needed for the labels"))
	}
	if r.Server != (Version{}) && r.Server.Less(MinVersion) {
		errs = append(errs, fmt.Errorf("the server runs Kubernetes %s; graphjob's Jobs need %s or newer", r.Server, MinVersion))
	}
	return errors.Join(errs...)
}

func (r *Template) labels() map[string]string {
	l := map[string]string{LabelGraph: r.Graph.Name}
	if r.Schedule != "" {
		l[LabelSchedule] = r.Schedule
	}
	if !r.Slot.IsZero() {
		l[LabelSlot] = contract.Slot{Schedule: r.Schedule, Time: r.Slot}.Stamp()
	}
	return l
}

func (r *Template) annotations() map[string]string {
	return map[string]string{AnnotationDigest: r.Graph.Digest}
}

func (r *Template) jobSpec() batchv1.JobSpec {
	drain := r.DrainTimeout
	if drain <= 0 {
		drain = contract.DefaultDrainTimeout
	}
	spec := batchv1.JobSpec{
		BackoffLimit: ptr.To(int32(6)),
		PodFailurePolicy: &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{
			{Action: batchv1.PodFailurePolicyActionFailJob, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
				ContainerName: ptr.To(ContainerName), Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{contract.ExitInvalid, contract.ExitFailed}}},
			{Action: batchv1.PodFailurePolicyActionIgnore, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
				ContainerName: ptr.To(ContainerName), Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{contract.ExitDrained}}},
			{Action: batchv1.PodFailurePolicyActionIgnore, OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{
				{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}}},
		}},
		Template: corev1.PodTemplateSpec{Spec: r.podSpec(drain)},
	}
	if r.BackoffLimit != nil {
		spec.BackoffLimit = r.BackoffLimit
	}
	if r.Server.AtLeast(Version{1, 29}) {
		// One pod of a run at a time: a replacement starts once the pod it
		// replaces has stopped (beta and on by default from 1.29).
		spec.PodReplacementPolicy = ptr.To(batchv1.Failed)
	}
	if r.ActiveDeadline > 0 {
		spec.ActiveDeadlineSeconds = ptr.To(int64(r.ActiveDeadline.Seconds()))
	}
	if r.TTLAfterFinished != nil {
		spec.TTLSecondsAfterFinished = ptr.To(int32(r.TTLAfterFinished.Seconds()))
	}
	return spec
}

func (r *Template) podSpec(drain time.Duration) corev1.PodSpec {
	args := []string{"run", r.graphPath(), "--store", r.Store, "--drain-timeout", drain.String(), "--log-format", "json"}
	if r.Input != "" {
		args = append(args, "--input", r.Input)
	}
	env := []corev1.EnvVar{
		fieldEnv(contract.EnvJobName, "metadata.labels['batch.kubernetes.io/job-name']"),
		fieldEnv(contract.EnvNamespace, "metadata.namespace"),
		fieldEnv(contract.EnvPodName, "metadata.name"),
		fieldEnv(contract.EnvPodUID, "metadata.uid"),
		// The Go runtime keeps to the container's memory limit, and graphjob
		// bounds the values nodes write by it (see --max-object-size).
		{Name: "GOMEMLIMIT", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: ContainerName, Resource: "limits.memory"}}},
	}
	if !r.Slot.IsZero() {
		env = append(env, corev1.EnvVar{Name: contract.EnvSlotTime, Value: contract.Slot{Schedule: r.Schedule, Time: r.Slot}.SlotTimeValue()})
	}
	env = append(env, r.Env...)
	c := corev1.Container{
		Name:            ContainerName,
		Image:           r.Image,
		ImagePullPolicy: pullPolicy(r.Image),
		Args:            args,
		Env:             env,
		Resources:       r.resources(),
		SecurityContext: &corev1.SecurityContext{
			RunAsNonRoot:             ptr.To(true),
			AllowPrivilegeEscalation: ptr.To(false),
			ReadOnlyRootFilesystem:   ptr.To(true),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		VolumeMounts:             []corev1.VolumeMount{{Name: "tmp", MountPath: "/tmp"}},
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
	if r.StoreSecret != "" {
		c.EnvFrom = []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: r.StoreSecret}}}}
	}
	c.EnvFrom = append(c.EnvFrom, r.EnvFrom...)
	volumes := []corev1.Volume{{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	if r.Graph.ConfigMap != "" {
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "graph", MountPath: graphDir, ReadOnly: true})
		volumes = append(volumes, corev1.Volume{Name: "graph", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: r.Graph.ConfigMap}}}})
	}
	return corev1.PodSpec{
		RestartPolicy:                 corev1.RestartPolicyNever,
		TerminationGracePeriodSeconds: ptr.To(int64((drain + contract.DrainMargin).Seconds())),
		ServiceAccountName:            r.ServiceAccount,
		AutomountServiceAccountToken:  ptr.To(false),
		SecurityContext: &corev1.PodSecurityContext{
			RunAsNonRoot:   ptr.To(true),
			RunAsUser:      ptr.To(int64(nonRoot)),
			RunAsGroup:     ptr.To(int64(nonRoot)),
			FSGroup:        ptr.To(int64(nonRoot)),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		Containers: []corev1.Container{c},
		Volumes:    volumes,
	}
}

func (r *Template) graphPath() string {
	if r.Graph.URL != "" {
		return r.Graph.URL
	}
	return graphDir + "/" + GraphKey
}

func (r *Template) resources() corev1.ResourceRequirements {
	if len(r.Resources.Requests) > 0 || len(r.Resources.Limits) > 0 {
		return r.Resources
	}
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(DefaultCPU), corev1.ResourceMemory: resource.MustParse(DefaultMemory)},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(DefaultMemoryLimit)},
	}
}

// pullPolicy is the pull policy of a run's image: IfNotPresent for an image
// pinned by a tag or a digest, Always for :latest or no tag. A node keeps
// what it pulled, so a moving tag with IfNotPresent would run whichever
// version each node happened to pull first.
func pullPolicy(image string) corev1.PullPolicy {
	if strings.Contains(image, "@") {
		return corev1.PullIfNotPresent
	}
	_, tag, ok := strings.Cut(image[strings.LastIndex(image, "/")+1:], ":")
	if !ok || tag == "latest" {
		return corev1.PullAlways
	}
	return corev1.PullIfNotPresent
}

func fieldEnv(name, path string) corev1.EnvVar {
	return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}}
}

// Version is a Kubernetes minor release.
type Version struct{ Major, Minor int }

// MinVersion is the oldest Kubernetes graphjob's Jobs run on: pods carry
// the batch.kubernetes.io/job-name label, CronJobs take a time zone, and
// podFailurePolicy is on by default.
var MinVersion = Version{1, 27}

// ParseVersion reads a server's major and minor version ("1", "29+").
func ParseVersion(major, minor string) (Version, error) {
	ma, err1 := strconv.Atoi(strings.TrimSuffix(major, "+"))
	mi, err2 := strconv.Atoi(strings.TrimSuffix(minor, "+"))
	if err1 != nil || err2 != nil {
		return Version{}, fmt.Errorf("the server's version %q.%q is not a number", major, minor)
	}
	return Version{ma, mi}, nil
}

// ParseVersionText reads a version as a user writes it: 1.28, v1.28.3.
func ParseVersionText(s string) (Version, error) {
	major, minor, _ := strings.Cut(strings.TrimPrefix(s, "v"), ".")
	return ParseVersion(major, strings.SplitN(minor, ".", 2)[0])
}

// DefaultName is the name of a run's Job when the user gives none: the
// graph's name and, for a one-off run, the time (a CronJob's Jobs add it).
// A graph name too long for that (a graph's name may have 63 characters; a
// Job's, 63; a CronJob's, 52) is cut and ends with a hash of the whole name,
// so two graphs that differ past the cut get names of their own.
func DefaultName(graph string, now time.Time, cron bool) string {
	if cron {
		return shorten(graph, maxCronJobName)
	}
	stamp := now.UTC().Format("20060102-150405")
	return shorten(graph, validation.DNS1123LabelMaxLength-1-len(stamp)) + "-" + stamp
}

// maxCronJobName is the longest name of a CronJob: its Jobs add 11
// characters (-MINUTES since the epoch) and must stay DNS labels.
const maxCronJobName = 52

// shorten returns name if it has at most maxLen characters, else its first
// characters and "-" and 8 hex digits of its SHA-256: maxLen characters, a
// DNS label when name is one.
func shorten(name string, maxLen int) string {
	if len(name) <= maxLen {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	suffix := hex.EncodeToString(sum[:4])
	return strings.TrimRight(name[:maxLen-1-len(suffix)], "-") + "-" + suffix
}

func (v Version) String() string { return fmt.Sprintf("%d.%d", v.Major, v.Minor) }

// Less reports whether v is older than w.
func (v Version) Less(w Version) bool {
	return v.Major < w.Major || v.Major == w.Major && v.Minor < w.Minor
}

// AtLeast reports whether v is w or newer; the zero Version is the newest.
func (v Version) AtLeast(w Version) bool { return v == Version{} || !v.Less(w) }
